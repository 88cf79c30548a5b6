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
 *
 * A regular file in classic pcap is read directly by our own record walker
 * rather than by libpcap; a pipe always goes through libpcap.  So the same
 * input is read a second time through a pipe, and the two must agree:
 * the same packets (bytes, lengths, timestamps) and the same ending (clean
 * end, or damage after the same number of packets, in the same words).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pcv/dissect.h"
#include "pcv/pcv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SNAPLEN 2000

struct run {
	int linktype;
	uint64_t n;
	struct pcv_packet *pkts; /* copies, data included */
	size_t cap;
	int rc;
	char err[PCV_ERRBUF_SIZE];
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
		if (r->n + i >= r->cap) {
			r->cap = r->cap ? 2 * r->cap : 64;
			r->pkts = realloc(r->pkts, r->cap * sizeof(*r->pkts));
			if (!r->pkts)
				abort();
		}
		r->pkts[r->n + i] = *p;
		r->pkts[r->n + i].data = malloc(p->caplen + 1);
		if (!r->pkts[r->n + i].data)
			abort();
		memcpy((void *)r->pkts[r->n + i].data, p->data, p->caplen);
	}
	r->n += b->count;
}

/* Read @src to the end into @r; false if it does not open. */
static bool read_source(const char *src, struct run *r)
{
	struct pcv_handle *h;
	struct pcv_config cfg;
	const char *e;

	pcv_config_init(&cfg);
	cfg.snaplen = SNAPLEN;
	cfg.batch_size = 5;
	if (pcv_open(&h, src, &cfg, NULL) != 0)
		return false;
	r->linktype = pcv_get_linktype(h);
	r->rc = pcv_capture_batch(h, on_batch, r);
	/* the place reads differently on a pipe: compare from ", after" */
	e = strstr(pcv_get_error(h), ", after ");
	snprintf(r->err, sizeof(r->err), "%s", e ? e : "");
	pcv_close(h);
	return true;
}

static void run_free(struct run *r)
{
	for (uint64_t i = 0; i < r->n; i++)
		free((void *)r->pkts[i].data);
	free(r->pkts);
}

/*
 * A µs file goes through a pipe at ns precision, where libpcap scales the
 * sub-second field by 1000 in 32 bits: damaged fields (over 4294967 µs)
 * come out wrapped, so there the two may differ by multiples of 2^32 ns.
 */
static bool same_ts(uint64_t file, uint64_t pipe, bool usec_file)
{
	return file == pipe ||
	       (usec_file && file > pipe && (file - pipe) % (1ull << 32) == 0);
}

static void compare(const struct run *file, const struct run *pipe,
		    bool usec_file)
{
	if (file->n != pipe->n || (file->rc < 0) != (pipe->rc < 0) ||
	    strcmp(file->err, pipe->err) != 0)
		abort();
	for (uint64_t i = 0; i < file->n; i++) {
		const struct pcv_packet *a = &file->pkts[i], *b = &pipe->pkts[i];

		if (a->caplen != b->caplen || a->len != b->len ||
		    memcmp(a->data, b->data, a->caplen) != 0 ||
		    !same_ts(a->ts_ns, b->ts_ns, usec_file))
			abort();
	}
}

/* The input through a pipe (libpcap's reader), if the pipe can hold it. */
static bool read_via_pipe(const uint8_t *data, size_t size, struct run *r)
{
	char src[64];
	int pfd[2];
	bool ok = false;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return false;
	if (fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20) >= (int)size + 1 &&
	    write(pfd[1], data, size) == (ssize_t)size) {
		close(pfd[1]);
		pfd[1] = -1;
		snprintf(src, sizeof(src), "pcapfile:/proc/self/fd/%d", pfd[0]);
		ok = read_source(src, r);
	}
	if (pfd[1] >= 0)
		close(pfd[1]);
	close(pfd[0]);
	return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run file = { 0 }, via_pipe = { 0 };
	char src[64];
	int fd = memfd_create("fuzz", MFD_CLOEXEC);
	bool usec_file;

	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(src, sizeof(src), "pcapfile:/proc/self/fd/%d", fd);
	if (read_source(src, &file) && read_via_pipe(data, size, &via_pipe)) {
		usec_file = size >= 4 &&
			    (memcmp(data, "\xd4\xc3\xb2\xa1", 4) == 0 ||
			     memcmp(data, "\xa1\xb2\xc3\xd4", 4) == 0);
		compare(&file, &via_pipe, usec_file);
	}
	run_free(&file);
	run_free(&via_pipe);
	close(fd);
	return 0;
}
