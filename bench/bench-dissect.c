// SPDX-License-Identifier: MIT
/*
 * bench-dissect.c - how fast pcv_dissect() is next to libpcap's filter VM.
 *
 * Loads a capture file into memory (argv[1], or mixed-small.pcap under
 * $PCV_CORPUS, default ../shared/corpus), then times, best of several
 * runs, nanoseconds per packet for: the dissector alone, the dissector
 * plus the flow hash, and pcap_offline_filter() with "ip or ip6" and with
 * "tcp port 443".  A filter answers one question per packet while the
 * dissector finds every layer, so the ratios say what a full dissection
 * costs in units of one simple and one typical BPF filter.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pcv/dissect.h"

#include "bench-corpus.h"

#define REPS 7

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum run_kind { RUN_DISSECT, RUN_DISSECT_HASH, RUN_BPF };

/* Best ns per packet over REPS runs; *matches gets one run's count. */
static double time_run(const struct corpus *p, enum run_kind kind,
		       const struct bpf_program *prog, size_t *matches)
{
	uint64_t best = UINT64_MAX;
	volatile uint64_t sink = 0;

	for (int rep = 0; rep < REPS; rep++) {
		uint64_t t0, t1, acc = 0;
		size_t m = 0;

		t0 = now_ns();
		for (size_t i = 0; i < p->n; i++) {
			struct pcv_dissect d;

			switch (kind) {
			case RUN_DISSECT:
				m += pcv_dissect(p->data[i], p->hdrs[i].caplen,
						 p->dlt, &d) == 0;
				acc += d.flags;
				break;
			case RUN_DISSECT_HASH:
				if (pcv_dissect(p->data[i], p->hdrs[i].caplen,
						p->dlt, &d) == 0) {
					m++;
					acc += pcv_flow_key_hash(&d.key);
				}
				break;
			case RUN_BPF:
				m += pcap_offline_filter(prog, &p->hdrs[i],
							 p->data[i]) != 0;
				break;
			}
		}
		t1 = now_ns();
		sink += acc;
		if (t1 - t0 < best)
			best = t1 - t0;
		*matches = m;
	}
	(void)sink;
	return p->n ? (double)best / (double)p->n : 0.0;
}

static int compile(const struct corpus *p, const char *expr,
		   struct bpf_program *prog)
{
	pcap_t *dead = pcap_open_dead(p->dlt, p->snaplen > 0 ? p->snaplen
							      : 262144);

	if (!dead) {
		fprintf(stderr, "bench-dissect: pcap_open_dead failed\n");
		return -1;
	}
	if (pcap_compile(dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "bench-dissect: %s: %s\n", expr,
			pcap_geterr(dead));
		pcap_close(dead);
		return -1;
	}
	pcap_close(dead);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const exprs[] = { "ip or ip6", "tcp port 443" };
	char defpath[4096];
	const char *path;
	struct corpus p;
	double ns_d, ns_h, ns_f[2];
	size_t m_d, m_h, m_f[2];

	if (argc > 2) {
		fprintf(stderr, "usage: %s [FILE.pcap]\n", argv[0]);
		return 1;
	}
	if (argc == 2)
		path = argv[1];
	else if (!(path = corpus_default(defpath, sizeof(defpath))))
		return 0;

	if (corpus_load(&p, "bench-dissect", path) < 0)
		return 1;
	if (!pcv_dlt_supported(p.dlt)) {
		fprintf(stderr, "bench-dissect: %s: link type %d not dissected\n",
			path, p.dlt);
		return 1;
	}

	ns_d = time_run(&p, RUN_DISSECT, NULL, &m_d);
	ns_h = time_run(&p, RUN_DISSECT_HASH, NULL, &m_h);
	for (int i = 0; i < 2; i++) {
		struct bpf_program prog;

		if (compile(&p, exprs[i], &prog) < 0)
			return 1;
		ns_f[i] = time_run(&p, RUN_BPF, &prog, &m_f[i]);
		pcap_freecode(&prog);
	}

	printf("bench-dissect: %zu packets (%zu bytes, link type %d) from %s, "
	       "best of %d\n",
	       p.n, p.arena_len, p.dlt, path, REPS);
	printf("  %-26s %8s %10s\n", "run", "ns/pkt", "matches");
	printf("  %-26s %8.1f %10zu  (IP found)\n", "pcv_dissect", ns_d, m_d);
	printf("  %-26s %8.1f %10zu\n", "pcv_dissect + flow hash", ns_h, m_h);
	for (int i = 0; i < 2; i++) {
		char name[64];

		snprintf(name, sizeof(name), "bpf '%s'", exprs[i]);
		printf("  %-26s %8.1f %10zu\n", name, ns_f[i], m_f[i]);
	}
	for (int i = 0; i < 2; i++)
		printf("  pcv_dissect / bpf '%s': %.2f\n", exprs[i],
		       ns_f[i] > 0 ? ns_d / ns_f[i] : 0.0);

	corpus_free(&p);
	return 0;
}
