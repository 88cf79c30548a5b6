// SPDX-License-Identifier: MIT
/*
 * test_ring.c - unit tests for the SPSC pointer ring (include/pcv/ring.h,
 * capture/ring.c): capacity checks, full and empty rings, FIFO order,
 * partial bulk operations across the end of the slot array and across the
 * 32-bit index wrap, the count, and two-thread stress runs that check every
 * value arrives exactly once and in order.
 *
 * Values are small integers cast to pointers, starting at 1, because
 * pcv_ring_pop() returns NULL for "empty".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "pcv/ring.h"

#define V(x) ((void *)(uintptr_t)(x))
#define U(p) ((uintptr_t)(p))

/*
 * The stress runs take about 0.2 s + 0.6 s here, under ASan+UBSan too (the
 * ring code is a few loads and stores); TSan and valgrind are far slower,
 * so they, and anyone who sets PCV_SLOW, get runs 10x shorter.
 */
#ifdef __SANITIZE_THREAD__
#define RING_SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_SLOW_BUILD 1
#endif
#endif
#ifndef RING_SLOW_BUILD
#define RING_SLOW_BUILD 0
#endif

static uint64_t scale(uint64_t n)
{
	return RING_SLOW_BUILD || getenv("PCV_SLOW") ? n / 10 : n;
}

/* xorshift64: burst sizes for the stress tests. */
static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void ring_setup(struct pcv_ring *r, uint32_t capacity)
{
	cr_assert_eq(pcv_ring_init(r, capacity), 0, "init(%u)", capacity);
}

Test(ring, init_rejects_bad_capacities)
{
	static const uint32_t bad[] = {
		0, 1, 3, 5, 6, 7, 12, 100, 1000, 65535, 65537,
		(1u << 31) + 1, (1u << 31) + (1u << 30), UINT32_MAX,
	};
	static const uint32_t good[] = { 2, 4, 8, 1024, 65536 };
	struct pcv_ring r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(pcv_ring_init(&r, bad[i]), -EINVAL,
			     "capacity %u accepted", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert_eq(pcv_ring_init(&r, good[i]), 0, "capacity %u",
			     good[i]);
		cr_expect_eq(pcv_ring_capacity(&r), good[i]);
		cr_expect_eq(pcv_ring_count(&r), 0);
		cr_expect_null(pcv_ring_pop(&r));
		pcv_ring_destroy(&r);
	}
	/* Destroy takes NULL and is safe to repeat. */
	pcv_ring_destroy(NULL);
	pcv_ring_destroy(&r);
}

Test(ring, push_until_full)
{
	struct pcv_ring r;
	void *more[4] = { V(100), V(101), V(102), V(103) };

	ring_setup(&r, 16);
	for (uintptr_t i = 1; i <= 16; i++)
		cr_assert_eq(pcv_ring_push(&r, V(i)), 0, "push %zu", (size_t)i);
	cr_expect_eq(pcv_ring_count(&r), 16);
	cr_expect_eq(pcv_ring_push(&r, V(17)), -1, "push into a full ring");
	cr_expect_eq(pcv_ring_push_bulk(&r, more, 1), 0);
	cr_expect_eq(pcv_ring_push_bulk(&r, more, 4), 0);
	cr_expect_eq(pcv_ring_count(&r), 16, "a refused push changed count");

	/* One slot given back: exactly one push fits again. */
	cr_expect_eq(U(pcv_ring_pop(&r)), 1);
	cr_expect_eq(pcv_ring_push_bulk(&r, more, 4), 1);
	cr_expect_eq(pcv_ring_push(&r, V(17)), -1);
	for (uintptr_t i = 2; i <= 16; i++)
		cr_expect_eq(U(pcv_ring_pop(&r)), i);
	cr_expect_eq(U(pcv_ring_pop(&r)), 100, "the refused entries leaked in");
	cr_expect_null(pcv_ring_pop(&r));
	pcv_ring_destroy(&r);
}

Test(ring, pop_empty)
{
	struct pcv_ring r;
	void *out[4];

	ring_setup(&r, 4);
	cr_expect_null(pcv_ring_pop(&r));
	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 4), 0);
	cr_expect_eq(pcv_ring_push(&r, V(7)), 0);
	cr_expect_eq(U(pcv_ring_pop(&r)), 7);
	cr_expect_null(pcv_ring_pop(&r));
	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 4), 0);
	cr_expect_eq(pcv_ring_count(&r), 0);
	pcv_ring_destroy(&r);
}

/* Push k, pop k, with k cycling 1..capacity: many laps round the array. */
Test(ring, fifo_order)
{
	struct pcv_ring r;
	uintptr_t in = 1, out = 1;

	ring_setup(&r, 8);
	for (int round = 0; round < 1000; round++) {
		uint32_t k = 1 + round % 8;

		for (uint32_t i = 0; i < k; i++)
			cr_assert_eq(pcv_ring_push(&r, V(in++)), 0);
		cr_assert_eq(pcv_ring_count(&r), k);
		for (uint32_t i = 0; i < k; i++)
			cr_assert_eq(U(pcv_ring_pop(&r)), out++,
				     "round %d entry %u", round, i);
	}
	cr_expect_null(pcv_ring_pop(&r));
	pcv_ring_destroy(&r);
}

/*
 * Bulk operations that run past the end of the slot array come out whole
 * and in order, and a bulk operation that does not fit takes what fits.
 */
Test(ring, bulk_partial_at_wrap)
{
	struct pcv_ring r;
	void *in[8], *out[16];

	ring_setup(&r, 8);
	for (uintptr_t i = 0; i < 8; i++)
		in[i] = V(1000 + i);
	/* Move both indices to 6: the next entries use slots 6, 7, 0, 1... */
	cr_assert_eq(pcv_ring_push_bulk(&r, in, 6), 6);
	cr_assert_eq(pcv_ring_pop_bulk(&r, out, 6), 6);

	for (uintptr_t i = 0; i < 8; i++)
		in[i] = V(1 + i);
	cr_expect_eq(pcv_ring_push_bulk(&r, in, 5), 5);     /* slots 6..2 */
	cr_expect_eq(pcv_ring_count(&r), 5);
	cr_expect_eq(pcv_ring_push_bulk(&r, in + 5, 8), 3,  /* partial */
		     "push of 8 into 3 free slots");
	cr_expect_eq(pcv_ring_count(&r), 8);
	cr_expect_eq(pcv_ring_push_bulk(&r, in, 1), 0);

	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 3), 3);
	for (uintptr_t i = 0; i < 3; i++)
		cr_expect_eq(U(out[i]), 1 + i);
	cr_expect_eq(pcv_ring_count(&r), 5);
	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 16), 5, "partial pop");
	for (uintptr_t i = 0; i < 5; i++)
		cr_expect_eq(U(out[i]), 4 + i, "entry %zu", (size_t)i);
	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 16), 0);
	cr_expect_eq(pcv_ring_count(&r), 0);
	pcv_ring_destroy(&r);
}

Test(ring, count)
{
	struct pcv_ring r;
	void *items[32], *out[32];

	ring_setup(&r, 32);
	for (uintptr_t i = 0; i < 32; i++)
		items[i] = V(i + 1);
	cr_expect_eq(pcv_ring_count(&r), 0);
	pcv_ring_push_bulk(&r, items, 10);
	cr_expect_eq(pcv_ring_count(&r), 10);
	pcv_ring_pop_bulk(&r, out, 4);
	cr_expect_eq(pcv_ring_count(&r), 6);
	pcv_ring_push_bulk(&r, items, 32);
	cr_expect_eq(pcv_ring_count(&r), 32);
	pcv_ring_pop_bulk(&r, out, 32);
	cr_expect_eq(pcv_ring_count(&r), 0);
	pcv_ring_destroy(&r);
}

/*
 * The free-running 32-bit indices overflow after 4 G entries; the
 * arithmetic must not care.  This test reaches into the struct (public, in
 * the header) to start both indices just below UINT32_MAX.
 */
Test(ring, index_overflow)
{
	struct pcv_ring r;
	const uint32_t start = UINT32_MAX - 5;
	void *in[8], *out[8];

	ring_setup(&r, 8);
	atomic_store(&r.head, start);
	atomic_store(&r.tail, start);
	r.prod_tail_cache = start;
	r.cons_head_cache = start;
	for (uintptr_t i = 0; i < 8; i++)
		in[i] = V(1 + i);
	cr_expect_eq(pcv_ring_push_bulk(&r, in, 8), 8);
	cr_expect_eq(pcv_ring_count(&r), 8);
	cr_expect_eq(pcv_ring_push(&r, V(99)), -1, "full across the wrap");
	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 5), 5);
	for (uintptr_t i = 0; i < 5; i++)
		cr_expect_eq(U(out[i]), 1 + i);
	cr_expect_eq(pcv_ring_push_bulk(&r, in, 8), 5);
	cr_expect_eq(pcv_ring_count(&r), 8);
	cr_expect_eq(pcv_ring_pop_bulk(&r, out, 8), 8);
	for (uintptr_t i = 0; i < 3; i++)
		cr_expect_eq(U(out[i]), 6 + i);
	for (uintptr_t i = 3; i < 8; i++)
		cr_expect_eq(U(out[i]), i - 2);
	cr_expect_lt(atomic_load(&r.head), start, "head did not wrap");
	cr_expect_null(pcv_ring_pop(&r));
	pcv_ring_destroy(&r);
}

/* ---- two-thread stress ------------------------------------------------ */

struct stress {
	struct pcv_ring ring;
	uint64_t total;      /* values 1..total */
	uint32_t max_burst;
	uint64_t seed;
	atomic_bool stop;    /* the consumer gave up: producer, leave */
	uint64_t full_waits; /* producer found the ring full */
};

static void wait_a_little(unsigned int *spins)
{
	if (++*spins % 64 == 0) {
		sched_yield();
		return;
	}
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void *producer(void *arg)
{
	struct stress *st = arg;
	uint64_t rng = st->seed;
	uint64_t next = 1;
	void **burst = malloc(st->max_burst * sizeof(*burst));

	if (!burst) {
		atomic_store(&st->stop, true);
		return NULL;
	}
	while (next <= st->total) {
		uint32_t n = 1 + xorshift(&rng) % st->max_burst;
		uint32_t done = 0;
		unsigned int spins = 0;

		if (n > st->total - next + 1)
			n = st->total - next + 1;
		for (uint32_t i = 0; i < n; i++)
			burst[i] = V(next + i);
		while (done < n) {
			uint32_t k = pcv_ring_push_bulk(&st->ring, burst + done,
							n - done);

			if (k == 0) {
				if (atomic_load_explicit(&st->stop,
							 memory_order_relaxed))
					goto out;
				st->full_waits++;
				wait_a_little(&spins);
			}
			done += k;
		}
		next += n;
	}
out:
	free(burst);
	return NULL;
}

/*
 * Run a producer thread against a consumer on this thread, both in bursts
 * of random sizes 1..max_burst, and check each value once, in order.
 */
static void stress(uint32_t capacity, uint64_t total, uint32_t max_burst)
{
	struct stress st = {
		.total = total, .max_burst = max_burst, .seed = 0x1234567,
	};
	void **out = malloc(max_burst * sizeof(*out));
	uint64_t rng = 0x89abcdef, expect = 1, empty_waits = 0;
	uintptr_t bad_value = 0;
	unsigned int spins = 0;
	pthread_t thr;
	struct timespec t0, t1;

	cr_assert_not_null(out);
	ring_setup(&st.ring, capacity);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(pthread_create(&thr, NULL, producer, &st), 0);
	while (expect <= total && !atomic_load(&st.stop)) {
		uint32_t n = 1 + xorshift(&rng) % max_burst;
		uint32_t k = pcv_ring_pop_bulk(&st.ring, out, n);

		if (k == 0) {
			empty_waits++;
			wait_a_little(&spins);
			continue;
		}
		for (uint32_t i = 0; i < k; i++, expect++) {
			if (U(out[i]) != expect) {
				bad_value = U(out[i]);
				atomic_store(&st.stop, true);
				break;
			}
		}
	}
	pthread_join(thr, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_info("ring/stress cap %u: %llu values in %.3f s, %llu full and "
		    "%llu empty waits", capacity, (unsigned long long)total,
		    (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
		    (unsigned long long)st.full_waits,
		    (unsigned long long)empty_waits);
	cr_assert_eq(bad_value, 0, "expected %llu, got %llu",
		     (unsigned long long)expect,
		     (unsigned long long)bad_value);
	cr_assert_eq(expect, total + 1, "producer stopped early");
	cr_expect_eq(pcv_ring_count(&st.ring), 0, "values left over");
	cr_expect_null(pcv_ring_pop(&st.ring), "a value after the last");
	pcv_ring_destroy(&st.ring);
	free(out);
}

Test(ring, stress_two_threads, .timeout = 30)
{
	stress(1024, scale(20000000), 64);
}

/* A tiny ring, bursts larger than it: full and empty all the time. */
Test(ring, stress_tiny_ring, .timeout = 30)
{
	stress(4, scale(2000000), 7);
}
