// SPDX-License-Identifier: MIT
/*
 * fuzz_pcapfile.c - libFuzzer target for the pcapfile capture backend.
 *
 * The input is a capture file.  It is put in a memfd and opened through
 * the public API ("pcapfile:/proc/self/fd/N"), so the fuzzer drives
 * libpcap's pcap and pcapng readers together with our batching, copy
 * arena, damage reporting and userspace filter; every packet delivered is
 * then dissected with the file's link type.  Beyond not crashing, a
 * delivered packet must respect its own caplen and len and the snaplen.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pcv/dissect.h"
#include "pcv/pcv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SNAPLEN 2000

struct run {
	int linktype;
	uint64_t n;
};

static void on_batch(const struct pcv_batch *b, void *user)
{
	struct run *r = user;
	struct pcv_dissect d;

	if (b->count == 0)
		abort();
	for (uint32_t i = 0; i < b->count; i++) {
		const struct pcv_packet *p = &b->pkts[i];

		if (p->caplen > SNAPLEN)
			abort();
		pcv_dissect(p->data, p->caplen, r->linktype, &d);
	}
	r->n += b->count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcv_handle *h;
	struct pcv_config cfg;
	struct run r = { 0 };
	char src[64];
	int fd = memfd_create("fuzz", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	pcv_config_init(&cfg);
	cfg.snaplen = SNAPLEN;
	cfg.batch_size = 5;
	snprintf(src, sizeof(src), "pcapfile:/proc/self/fd/%d", fd);
	if (pcv_open(&h, src, &cfg, NULL) == 0) {
		r.linktype = pcv_get_linktype(h);
		pcv_capture_batch(h, on_batch, &r);
		pcv_close(h);
	}
	close(fd);
	return 0;
}
