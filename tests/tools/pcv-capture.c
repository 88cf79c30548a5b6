// SPDX-License-Identifier: MIT
/*
 * pcv-capture.c - test helper: capture through the pcv API and write what
 * was delivered to a nanosecond pcap file, for byte-for-byte comparison
 * with what a generator sent.
 *
 *   pcv-capture -i IFACE|-r FILE -w OUT.pcap [-c COUNT] [-t SECONDS]
 *               [-b BACKEND] [-s SNAPLEN] [--batch N] [--ready FILE]
 *               [--filter EXPR] [--vfl VFLISP] [--usec]
 *               [--fanout GROUP [--fanout-mode hash|lb]]
 *
 * --filter installs a tcpdump expression (in the kernel when live), --vfl
 * a VFM filter run in userspace on what passed it; --usec writes
 * microsecond timestamps, as tcpdump -w does from a microsecond file.
 *
 * Stops after COUNT packets, after SECONDS without reaching COUNT, at the
 * end of a file, or on SIGINT/SIGTERM.  --ready creates FILE once the
 * capture is active, so a script knows when to start sending.  At the end
 * it prints one line to stdout:
 *   received=N bytes=B kernel_seen=S kernel_dropped=D if_dropped=I
 */
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcv/pcv.h"
#include "pcv/vfm.h"

static struct pcv_handle *volatile g_h;

struct state {
	pcap_dumper_t *dumper;
	uint64_t n, max;
	struct pcv_handle *h;
	struct pcv_vfm *vm;
	bool usec;
};

static void on_signal(int sig)
{
	(void)sig;
	if (g_h)
		pcv_breakloop(g_h);
}

static void on_batch(const struct pcv_batch *b, void *user)
{
	struct state *s = user;

	for (uint32_t i = 0; i < b->count; i++) {
		const struct pcv_packet *p = &b->pkts[i];
		uint32_t frac = (uint32_t)(p->ts_ns % 1000000000u);
		struct pcap_pkthdr hdr = {
			.ts.tv_sec = (time_t)(p->ts_ns / 1000000000u),
			.ts.tv_usec = (suseconds_t)(s->usec ? frac / 1000 : frac),
			.caplen = p->caplen,
			.len = p->len,
		};

		if (s->vm && !pcv_vfm_match(s->vm, p->data, p->caplen,
					    p->ts_ns))
			continue;
		pcap_dump((u_char *)s->dumper, &hdr, p->data);
		if (s->max && ++s->n >= s->max) {
			pcv_breakloop(s->h);
			break;
		}
	}
}

static int load_vfl(struct state *s, const char *expr)
{
	char errbuf[PCV_ERRBUF_SIZE];
	uint8_t *code;
	size_t len;
	int rc = pcv_vfl_compile(expr, &code, &len, errbuf);

	if (rc == 0) {
		rc = pcv_vfm_load(&s->vm, code, len, NULL, errbuf);
		free(code);
	}
	if (rc < 0)
		fprintf(stderr, "pcv-capture: %s\n", errbuf);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'n' },
		{ "ready", required_argument, NULL, 'R' },
		{ "filter", required_argument, NULL, 'F' },
		{ "vfl", required_argument, NULL, 'L' },
		{ "usec", no_argument, NULL, 'U' },
		{ "fanout", required_argument, NULL, 'G' },
		{ "fanout-mode", required_argument, NULL, 'M' },
		{ NULL, 0, NULL, 0 },
	};
	const char *src = NULL, *out = NULL, *ready = NULL, *filter = NULL;
	const char *vfl = NULL;
	char errbuf[PCV_ERRBUF_SIZE], srcbuf[512];
	struct pcv_config cfg;
	struct state s = { 0 };
	struct pcv_stats st;
	unsigned timeout = 0;
	pcap_t *dead;
	int c, rc;

	pcv_config_init(&cfg);
	cfg.immediate = true;
	while ((c = getopt_long(argc, argv, "i:r:w:c:t:b:s:", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'i':
			src = optarg;
			break;
		case 'r':
			snprintf(srcbuf, sizeof(srcbuf), "pcapfile:%s", optarg);
			src = srcbuf;
			break;
		case 'w':
			out = optarg;
			break;
		case 'c':
			s.max = strtoull(optarg, NULL, 10);
			break;
		case 't':
			timeout = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			cfg.backend = optarg;
			break;
		case 's':
			cfg.snaplen = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			cfg.batch_size = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			ready = optarg;
			break;
		case 'F':
			filter = optarg;
			break;
		case 'L':
			vfl = optarg;
			break;
		case 'U':
			s.usec = true;
			break;
		case 'G':
			cfg.fanout_group = (uint16_t)strtoul(optarg, NULL, 10);
			break;
		case 'M':
			cfg.fanout_mode = strcmp(optarg, "lb") == 0
						  ? PCV_FANOUT_LB
						  : PCV_FANOUT_HASH;
			break;
		default:
			return 2;
		}
	}
	if (!src || !out) {
		fprintf(stderr, "usage: pcv-capture -i IFACE|-r FILE -w OUT [-c N] [-t S]\n");
		return 2;
	}
	cfg.filter = filter;
	if (pcv_open(&s.h, src, &cfg, errbuf) < 0) {
		fprintf(stderr, "pcv-capture: %s\n", errbuf);
		return 1;
	}
	if (vfl && load_vfl(&s, vfl) < 0)
		return 1;
	dead = pcap_open_dead_with_tstamp_precision(
		pcv_get_linktype(s.h), (int)pcv_get_snaplen(s.h),
		s.usec ? PCAP_TSTAMP_PRECISION_MICRO
		       : PCAP_TSTAMP_PRECISION_NANO);
	s.dumper = dead ? pcap_dump_open(dead, out) : NULL;
	if (!s.dumper) {
		fprintf(stderr, "pcv-capture: %s: %s\n", out,
			dead ? pcap_geterr(dead) : "pcap_open_dead failed");
		return 1;
	}
	g_h = s.h;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGALRM, on_signal);
	if (timeout)
		alarm(timeout);
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (f)
			fclose(f);
	}
	rc = pcv_capture_batch(s.h, on_batch, &s);
	pcap_dump_close(s.dumper);
	pcap_close(dead);
	if (rc < 0)
		fprintf(stderr, "pcv-capture: %s\n", pcv_get_error(s.h));
	if (pcv_get_stats(s.h, &st) == 0)
		printf("received=%" PRIu64 " bytes=%" PRIu64
		       " kernel_seen=%" PRIu64 " kernel_dropped=%" PRIu64
		       " if_dropped=%" PRIu64 "\n",
		       st.received, st.bytes, st.kernel_seen,
		       st.kernel_dropped, st.if_dropped);
	pcv_close(s.h);
	pcv_vfm_free(s.vm);
	return rc < 0 ? 1 : 0;
}
