/* SPDX-License-Identifier: MIT */
/*
 * bench-corpus.h - the capture file the benchmarks run on, read into
 * memory: argv[1] where a benchmark takes one, else mixed-small.pcap
 * under $PCV_CORPUS (default ../shared/corpus), skipped when absent.
 * Every packet is copied back to back into one arena, with its pcap
 * header and a pointer to its bytes, so that a timed loop touches
 * nothing but memory.  Header-only, static functions: every .c file in
 * bench/ is a program of its own (see the Makefile), so there is no place
 * for a shared object file.
 */
#ifndef PCV_BENCH_CORPUS_H
#define PCV_BENCH_CORPUS_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every packet of a capture file, in one arena. */
struct corpus {
	struct pcap_pkthdr *hdrs;  /* n headers, microsecond timestamps */
	uint8_t **data;            /* n pointers into arena */
	uint8_t *arena;
	size_t n, cap;             /* packets; headers allocated */
	size_t arena_len, arena_cap;
	int dlt;
	int snaplen;
};

/*
 * $PCV_CORPUS/mixed-small.pcap in @buf, or NULL, after printing why on
 * stdout, when it cannot be read: the benchmark is then skipped (exit 0).
 */
static inline const char *corpus_default(char *buf, size_t size)
{
	const char *dir = getenv("PCV_CORPUS");

	snprintf(buf, size, "%s/mixed-small.pcap",
		 dir && *dir ? dir : "../shared/corpus");
	if (access(buf, R_OK) != 0) {
		printf("skipped: corpus not found at %s\n", buf);
		return NULL;
	}
	return buf;
}

static inline void corpus_free(struct corpus *c)
{
	free(c->hdrs);
	free(c->data);
	free(c->arena);
	*c = (struct corpus){ 0 };
}

/*
 * Read every packet of @path into @c.  0, or -1 after a message on stderr
 * that starts with "@prog: ": the file cannot be opened, memory ran out
 * or it holds no packets.  A read error part way is only reported: the
 * packets before it are used.
 */
static inline int corpus_load(struct corpus *c, const char *prog,
			      const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;
	int rc;

	*c = (struct corpus){ 0 };
	pc = pcap_open_offline_with_tstamp_precision(
		path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
	if (!pc) {
		fprintf(stderr, "%s: %s\n", prog, errbuf);
		return -1;
	}
	c->dlt = pcap_datalink(pc);
	c->snaplen = pcap_snapshot(pc);
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 4096;
			struct pcap_pkthdr *nh =
				realloc(c->hdrs, cap * sizeof(*nh));

			if (!nh)
				goto oom;
			c->hdrs = nh;
			c->cap = cap;
		}
		if (c->arena_len + h->caplen > c->arena_cap) {
			size_t cap = c->arena_cap ? c->arena_cap * 2 : 1 << 20;
			uint8_t *na;

			while (cap < c->arena_len + h->caplen)
				cap *= 2;
			na = realloc(c->arena, cap);
			if (!na)
				goto oom;
			c->arena = na;
			c->arena_cap = cap;
		}
		memcpy(c->arena + c->arena_len, data, h->caplen);
		c->arena_len += h->caplen;
		c->hdrs[c->n++] = *h;
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "%s: %s: %s (using %zu packets)\n", prog, path,
			pcap_geterr(pc), c->n);
	pcap_close(pc);
	if (c->n == 0) {
		fprintf(stderr, "%s: %s: no packets\n", prog, path);
		corpus_free(c);
		return -1;
	}

	/* the arena has stopped moving: point at each packet */
	c->data = malloc(c->n * sizeof(*c->data));
	if (!c->data) {
		fprintf(stderr, "%s: out of memory\n", prog);
		corpus_free(c);
		return -1;
	}
	for (size_t i = 0, off = 0; i < c->n; i++) {
		c->data[i] = c->arena + off;
		off += c->hdrs[i].caplen;
	}
	return 0;

oom:
	fprintf(stderr, "%s: out of memory\n", prog);
	pcap_close(pc);
	corpus_free(c);
	return -1;
}

#endif /* PCV_BENCH_CORPUS_H */
