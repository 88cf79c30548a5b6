// SPDX-License-Identifier: MIT
/*
 * bench-vfm.c - the VFM interpreter next to libpcap's BPF interpreter.
 *
 * Loads a capture file into memory (argv[1], or mixed-small.pcap under
 * $PCV_CORPUS, default ../shared/corpus), then for each filter shape
 * times, best of several runs, nanoseconds per packet for a hand-written
 * VFM program (pcv_vfm_match) and for libpcap's compiled tcpdump
 * expression (pcap_offline_filter), in the same process on the same
 * packets.  The programs are written for what the expressions mean on
 * untagged Ethernet: IPv4 header length from IHL, no port on a later
 * fragment, a load past the capture is a non-match in both engines.
 * For those shapes the match counts must be equal, or the run fails.  The
 * last shape uses FIELD, which dissects (VLAN tags, IP length fields), so
 * its count is shown but not compared.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pcv/error.h"
#include "pcv/vfm.h"

#include "bench-corpus.h"

#define REPS 7

struct shape {
	const char *name;
	const char *bpf;  /* tcpdump expression */
	const char *vfm;  /* assembly */
	bool same;        /* the counts must agree */
};

static const struct shape shapes[] = {
	{ "ip", "ip",
	  "LD16 12 PUSH 0x0800 EQ RET",
	  true },
	{ "ip and tcp", "ip and tcp",
	  "LD16 12 PUSH 0x0800 JNE no\n"
	  "LD8 23 PUSH 6 EQ RET\n"
	  "no: PUSH 0 RET",
	  true },
	{ "tcp (v4, v6)", "tcp",
	  "LD16 12 PUSH 0x0800 JEQ v4\n"
	  "LD16 12 PUSH 0x86dd JNE no\n"
	  "LD8 20 PUSH 6 JEQ yes\n"
	  "LD8 20 PUSH 44 JNE no\n" /* one fragment header, as libpcap */
	  "LD8 54 PUSH 6 JEQ yes\n"
	  "no: PUSH 0 RET\n"
	  "v4: LD8 23 PUSH 6 EQ RET\n"
	  "yes: PUSH 1 RET",
	  true },
	{ "ip and tcp dst port 80", "ip and tcp dst port 80",
	  "LD16 12 PUSH 0x0800 JNE no\n"
	  "LD8 23 PUSH 6 JNE no\n"
	  "LD16 20 PUSH 0x1fff AND PUSH 0 JNE no\n"
	  "IPV6_EXT dst_port PUSH 80 EQ RET\n" /* 14 + IHL * 4 + 2 */
	  "no: PUSH 0 RET",
	  true },
	{ "ip src net 10.0.0.0/8", "ip src net 10.0.0.0/8",
	  "LD16 12 PUSH 0x0800 JNE no\n"
	  "LD32 26 PUSH 0xff000000 AND PUSH 0x0a000000 EQ RET\n"
	  "no: PUSH 0 RET",
	  true },
	{ "ip and udp port 53", "ip and udp port 53",
	  "LD16 12 PUSH 0x0800 JNE no\n"
	  "LD8 23 PUSH 17 JNE no\n"
	  "LD16 20 PUSH 0x1fff AND PUSH 0 JNE no\n"
	  "IPV6_EXT src_port PUSH 53 JEQ yes\n"
	  "IPV6_EXT dst_port PUSH 53 EQ RET\n"
	  "yes: PUSH 1 RET\n"
	  "no: PUSH 0 RET",
	  true },
	{ "FIELD tcp dport 80", "ip and tcp dst port 80",
	  "FIELD l4_proto PUSH 6 JNE no\n"
	  "FIELD l4_dport PUSH 80 EQ RET\n"
	  "no: PUSH 0 RET",
	  false },
};

#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t pkt_ts(const struct pcap_pkthdr *h)
{
	return (uint64_t)h->ts.tv_sec * 1000000000u +
	       (uint64_t)h->ts.tv_usec * 1000u;
}

/* One pass of @vm, or of @prog when @vm is NULL: ns, *matches. */
static uint64_t pass(const struct corpus *p, struct pcv_vfm *vm,
		     const struct bpf_program *prog, size_t *matches)
{
	uint64_t t0 = now_ns();
	size_t m = 0;

	if (vm)
		for (size_t i = 0; i < p->n; i++)
			m += pcv_vfm_match(vm, p->data[i], p->hdrs[i].caplen,
					   pkt_ts(&p->hdrs[i]));
	else
		for (size_t i = 0; i < p->n; i++)
			m += pcap_offline_filter(prog, &p->hdrs[i],
						 p->data[i]) != 0;
	*matches = m;
	return now_ns() - t0;
}

/*
 * Best ns per packet of each engine over REPS passes, after an untimed
 * one, the engines taking turns so that both see the same machine.
 */
static void time_both(const struct corpus *p, struct pcv_vfm *vm,
		      const struct bpf_program *prog, double *nv, double *nb,
		      size_t *mv, size_t *mb)
{
	uint64_t bv = UINT64_MAX, bb = UINT64_MAX, t;

	for (int rep = -1; rep < REPS; rep++) {
		t = pass(p, vm, NULL, mv);
		if (rep >= 0 && t < bv)
			bv = t;
		t = pass(p, NULL, prog, mb);
		if (rep >= 0 && t < bb)
			bb = t;
	}
	*nv = (double)bv / (double)p->n;
	*nb = (double)bb / (double)p->n;
}

static int compile_bpf(const char *expr, struct bpf_program *prog)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 262144);

	if (!dead) {
		fprintf(stderr, "bench-vfm: pcap_open_dead failed\n");
		return -1;
	}
	if (pcap_compile(dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0) {
		fprintf(stderr, "bench-vfm: %s: %s\n", expr, pcap_geterr(dead));
		pcap_close(dead);
		return -1;
	}
	pcap_close(dead);
	return 0;
}

static struct pcv_vfm *load_vfm(const char *src)
{
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm *vm = NULL;
	uint8_t *code;
	size_t len;

	if (pcv_vfm_asm(src, &code, &len, err) < 0) {
		fprintf(stderr, "bench-vfm: asm: %s\n", err);
		return NULL;
	}
	if (pcv_vfm_load(&vm, code, len, NULL, err) < 0)
		fprintf(stderr, "bench-vfm: load: %s\n", err);
	free(code);
	return vm;
}

int main(int argc, char **argv)
{
	char defpath[4096];
	const char *path;
	struct corpus p;
	int rc = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [FILE.pcap]\n", argv[0]);
		return 1;
	}
	if (argc == 2)
		path = argv[1];
	else if (!(path = corpus_default(defpath, sizeof(defpath))))
		return 0;
	if (corpus_load(&p, "bench-vfm", path) < 0)
		return 1;
	if (p.dlt != DLT_EN10MB) {
		fprintf(stderr, "bench-vfm: %s: link type %d, not Ethernet\n",
			path, p.dlt);
		return 1;
	}

	printf("bench-vfm: %zu packets (%zu bytes) from %s, best of %d each, "
	       "taking turns\n",
	       p.n, p.arena_len, path, REPS);
	printf("  %-24s %8s %8s %9s %9s %9s\n", "shape", "VFM ns", "BPF ns",
	       "VFM/BPF", "VFM hits", "BPF hits");
	for (size_t i = 0; i < NSHAPES; i++) {
		const struct shape *s = &shapes[i];
		struct bpf_program prog;
		struct pcv_vfm *vm = load_vfm(s->vfm);
		size_t mv = 0, mb = 0;
		double nv, nb;

		if (!vm || compile_bpf(s->bpf, &prog) < 0) {
			pcv_vfm_free(vm);
			rc = 1;
			continue;
		}
		time_both(&p, vm, &prog, &nv, &nb, &mv, &mb);
		printf("  %-24s %8.2f %8.2f %9.2f %9zu %9zu%s\n", s->name, nv,
		       nb, nb > 0 ? nv / nb : 0.0, mv, mb,
		       mv == mb ? ""
		       : s->same ? "  MISMATCH"
				 : "  (dissector: VLAN, IPv6)");
		if (s->same && mv != mb)
			rc = 1;
		pcap_freecode(&prog);
		pcv_vfm_free(vm);
	}

	corpus_free(&p);
	return rc;
}
