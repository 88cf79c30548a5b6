// SPDX-License-Identifier: MIT
/*
 * bench-ring.c - what the SPSC ring (include/pcv/ring.h) costs per packet
 * handed from a capture thread to a writer thread, next to the simple
 * thing it replaces: a bounded queue under a pthread mutex with two
 * condition variables.
 *
 * The packets are real: $PCV_CORPUS/mixed-small.pcap (PCV_CORPUS defaults
 * to ../shared/corpus) is read into memory first, then a producer thread
 * passes pointers to them through the queue, in bursts of 1, 16 and 64,
 * to the main thread, which touches every packet (sums its first byte and
 * its length) and checks the total at the end.  Each queue runs the same
 * items with the same bursts; the best of a few runs is reported.
 *
 *   bench-ring [-n ITEMS] [-c CAPACITY] [-r REPEATS]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pcv/ring.h"

#include "bench-corpus.h"

#define PROG "bench-ring"
#define MAX_BURST 64

struct pkt {
	const uint8_t *data;
	uint32_t caplen;
	uint32_t len;
};

/* What the queues hand over: the corpus's packets that have bytes. */
struct pktlist {
	struct pkt *pkts;
	size_t npkts;
};

/* ---- the corpus ---------------------------------------------------------- */

static void *xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (!p) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EXIT_FAILURE);
	}
	return p;
}

/* @pl, pointing into @c; the corpus must outlive it. */
static void pktlist_init(struct pktlist *pl, const struct corpus *c)
{
	pl->pkts = xrealloc(NULL, c->n * sizeof(*pl->pkts));
	pl->npkts = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (c->hdrs[i].caplen == 0)
			continue; /* nothing to touch */
		pl->pkts[pl->npkts].data = c->data[i];
		pl->pkts[pl->npkts].caplen = c->hdrs[i].caplen;
		pl->pkts[pl->npkts].len = c->hdrs[i].len;
		pl->npkts++;
	}
	if (pl->npkts == 0) {
		fprintf(stderr, PROG ": no packets with data\n");
		exit(EXIT_FAILURE);
	}
}

/* What the consumer does to each packet: read it. */
static inline uint64_t touch(const struct pkt *p)
{
	return p->data[0] + (uint64_t)p->len;
}

/* ---- the baseline: mutex + condition variables --------------------------- */

struct mqueue {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	void **slots;
	uint32_t cap, head, count;
};

static void mq_init(struct mqueue *q, uint32_t cap)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->slots = calloc(cap, sizeof(*q->slots));
	if (!q->slots) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(EXIT_FAILURE);
	}
	q->cap = cap;
	q->head = q->count = 0;
}

static void mq_destroy(struct mqueue *q)
{
	free(q->slots);
	pthread_cond_destroy(&q->not_full);
	pthread_cond_destroy(&q->not_empty);
	pthread_mutex_destroy(&q->lock);
}

/* Block until there is room, then append as many of @n as fit. */
static uint32_t mq_push(struct mqueue *q, void *const *items, uint32_t n)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == q->cap)
		pthread_cond_wait(&q->not_full, &q->lock);
	if (n > q->cap - q->count)
		n = q->cap - q->count;
	for (uint32_t i = 0; i < n; i++)
		q->slots[(q->head + q->count + i) % q->cap] = items[i];
	q->count += n;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* Block until there is something, then take up to @n. */
static uint32_t mq_pop(struct mqueue *q, void **items, uint32_t n)
{
	pthread_mutex_lock(&q->lock);
	while (q->count == 0)
		pthread_cond_wait(&q->not_empty, &q->lock);
	if (n > q->count)
		n = q->count;
	for (uint32_t i = 0; i < n; i++)
		items[i] = q->slots[(q->head + i) % q->cap];
	q->head = (q->head + n) % q->cap;
	q->count -= n;
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return n;
}

/* ---- one run ------------------------------------------------------------- */

enum qkind { Q_RING, Q_MUTEX };

struct run {
	enum qkind kind;
	struct pcv_ring ring;
	struct mqueue mq;
	const struct pktlist *pl;
	uint64_t items;
	uint32_t burst;
	uint32_t cap;      /* entries, the same for both queues */
};

/* The ring never blocks: spin briefly, then let the other thread run. */
static void ring_wait(unsigned int *spins)
{
	if (++*spins % 128 == 0) {
		sched_yield();
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void pin_self(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *producer(void *arg)
{
	struct run *r = arg;
	void *burst[MAX_BURST];
	size_t next = 0;
	unsigned int spins = 0;

	pin_self(0);
	for (uint64_t sent = 0; sent < r->items;) {
		uint32_t n = r->burst, done = 0;

		if (n > r->items - sent)
			n = r->items - sent;
		for (uint32_t i = 0; i < n; i++) {
			burst[i] = (void *)&r->pl->pkts[next];
			if (++next == r->pl->npkts)
				next = 0;
		}
		while (done < n) {
			if (r->kind == Q_RING) {
				uint32_t k = pcv_ring_push_bulk(
					&r->ring, burst + done, n - done);

				if (k == 0)
					ring_wait(&spins);
				done += k;
			} else {
				done += mq_push(&r->mq, burst + done, n - done);
			}
		}
		sent += n;
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Move r->items packets from a producer thread to this one: ns per item. */
static double run_once(struct run *r, uint64_t expect_sum)
{
	void *got[MAX_BURST];
	uint64_t sum = 0, received = 0;
	unsigned int spins = 0;
	pthread_t thr;
	double t0, t1;

	if (r->kind == Q_RING) {
		if (pcv_ring_init(&r->ring, r->cap) != 0) {
			fprintf(stderr, PROG ": ring init failed\n");
			exit(EXIT_FAILURE);
		}
	}
	pin_self(1);
	t0 = now_s();
	if (pthread_create(&thr, NULL, producer, r) != 0) {
		fprintf(stderr, PROG ": pthread_create failed\n");
		exit(EXIT_FAILURE);
	}
	while (received < r->items) {
		uint32_t k;

		if (r->kind == Q_RING) {
			k = pcv_ring_pop_bulk(&r->ring, got, r->burst);
			if (k == 0) {
				ring_wait(&spins);
				continue;
			}
		} else {
			k = mq_pop(&r->mq, got, r->burst);
		}
		for (uint32_t i = 0; i < k; i++)
			sum += touch(got[i]);
		received += k;
	}
	t1 = now_s();
	pthread_join(thr, NULL);
	if (r->kind == Q_RING)
		pcv_ring_destroy(&r->ring);
	if (sum != expect_sum) {
		fprintf(stderr, PROG ": checksum mismatch (%" PRIu64 " != %"
			PRIu64 "): items lost or duplicated\n", sum, expect_sum);
		exit(EXIT_FAILURE);
	}
	return (t1 - t0) * 1e9 / r->items;
}

static double best_of(struct run *r, int repeats, uint64_t expect_sum)
{
	double best = 0;

	for (int i = 0; i < repeats; i++) {
		double ns = run_once(r, expect_sum);

		if (i == 0 || ns < best)
			best = ns;
	}
	return best;
}

static uint64_t parse_num(const char *flag, const char *s, uint64_t min,
			  uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*s == '\0' || *s == '-' || *end || errno || v < min || v > max) {
		fprintf(stderr, PROG ": bad value for %s: '%s' (expected %"
			PRIu64 "..%" PRIu64 ")\n", flag, s, min, max);
		exit(EXIT_FAILURE);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const uint32_t bursts[] = { 1, 16, MAX_BURST };
	uint64_t items = 4000000;
	uint32_t cap = 4096;
	int repeats = 3, opt;
	char path[4096];
	struct corpus c;
	struct pktlist pl;
	struct run r;

	while ((opt = getopt(argc, argv, "n:c:r:h")) != -1) {
		switch (opt) {
		case 'n':
			items = parse_num("-n", optarg, 1, UINT64_MAX / 2);
			break;
		case 'c':
			cap = parse_num("-c", optarg, 2, 1u << 24);
			if (cap & (cap - 1)) {
				fprintf(stderr, PROG ": -c must be a power "
					"of two\n");
				return EXIT_FAILURE;
			}
			break;
		case 'r':
			repeats = parse_num("-r", optarg, 1, 100);
			break;
		case 'h':
			printf("usage: " PROG " [-n ITEMS] [-c CAPACITY] "
			       "[-r REPEATS]\n");
			return EXIT_SUCCESS;
		default:
			return 2;
		}
	}
	if (!corpus_default(path, sizeof(path)))
		return EXIT_SUCCESS;
	if (corpus_load(&c, PROG, path) < 0)
		return EXIT_FAILURE;
	pktlist_init(&pl, &c);

	/*
	 * The checksum every run must reproduce, computed on one thread: its
	 * time is the floor, the cost of touching the packets with no queue.
	 */
	uint64_t expect = 0;
	double t0 = now_s();

	for (uint64_t i = 0; i < items; i++)
		expect += touch(&pl.pkts[i % pl.npkts]);
	double touch_ns = (now_s() - t0) * 1e9 / items;

	printf(PROG ": %zu packets (%.1f MB) from %s\n", pl.npkts,
	       c.arena_len / 1e6, path);
	printf(PROG ": %" PRIu64 " items per run, capacity %u, best of %d, "
	       "%ld CPUs\n", items, cap, repeats,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf(PROG ": touching the packets alone, one thread: %.2f ns/item\n\n",
	       touch_ns);
	printf("burst  spsc ring ns/item  mutex+cond ns/item  mutex/ring\n");
	memset(&r, 0, sizeof(r));
	r.pl = &pl;
	r.items = items;
	r.cap = cap;
	for (size_t i = 0; i < sizeof(bursts) / sizeof(bursts[0]); i++) {
		double ring_ns, mq_ns;

		r.burst = bursts[i];
		r.kind = Q_RING;
		ring_ns = best_of(&r, repeats, expect);
		r.kind = Q_MUTEX;
		mq_init(&r.mq, cap);
		mq_ns = best_of(&r, repeats, expect);
		mq_destroy(&r.mq);
		printf("%5u  %17.2f  %18.2f  %9.1fx\n", bursts[i], ring_ns,
		       mq_ns, mq_ns / ring_ns);
		fflush(stdout);
	}
	free(pl.pkts);
	corpus_free(&c);
	return EXIT_SUCCESS;
}
