/* SPDX-License-Identifier: MIT */
/*
 * pcv/ring.h - a lock-free single-producer/single-consumer ring of pointers,
 * the hand-off between a capture thread and the writer.
 *
 * The capacity is a power of two.  The producer and the consumer each keep
 * a private cached copy of the other side's index so that the shared cache
 * lines are touched once per burst, not once per entry (the same scheme as
 * AF_XDP's xsk rings).  Ordering: the producer publishes entries with a
 * release store of `head`; the consumer reads `head` with acquire, and gives
 * slots back with a release store of `tail`.
 *
 * Exactly one thread may call the producer functions and exactly one the
 * consumer functions; the two may be the same thread.
 */
#ifndef PCV_RING_H
#define PCV_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PCV_CACHELINE 64

struct pcv_ring {
	/* Producer side. */
	_Alignas(PCV_CACHELINE) _Atomic uint32_t head;
	uint32_t prod_tail_cache; /* producer's copy of tail */
	/* Consumer side. */
	_Alignas(PCV_CACHELINE) _Atomic uint32_t tail;
	uint32_t cons_head_cache; /* consumer's copy of head */
	/* Read-only after init. */
	_Alignas(PCV_CACHELINE) uint32_t mask;
	void **slots;
};

/*
 * pcv_ring_init() - set up a ring of @capacity entries (a power of two,
 * 2 to 2^31).  Return: 0, -EINVAL for a bad capacity, -ENOMEM.
 */
int pcv_ring_init(struct pcv_ring *r, uint32_t capacity);

/* pcv_ring_destroy() - free the slots; the entries are the caller's. */
void pcv_ring_destroy(struct pcv_ring *r);

static inline uint32_t pcv_ring_capacity(const struct pcv_ring *r)
{
	return r->mask + 1;
}

/*
 * pcv_ring_push_bulk() - producer: append up to @n entries.
 * Return: how many were appended (0 when the ring is full).
 */
static inline uint32_t pcv_ring_push_bulk(struct pcv_ring *r,
					  void *const *items, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t free_slots = pcv_ring_capacity(r) - (head - r->prod_tail_cache);

	if (free_slots < n) {
		r->prod_tail_cache =
			atomic_load_explicit(&r->tail, memory_order_acquire);
		free_slots = pcv_ring_capacity(r) - (head - r->prod_tail_cache);
		if (n > free_slots)
			n = free_slots;
	}
	for (uint32_t i = 0; i < n; i++)
		r->slots[(head + i) & r->mask] = items[i];
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/*
 * pcv_ring_pop_bulk() - consumer: take up to @n entries, oldest first.
 * Return: how many were taken (0 when the ring is empty).
 */
static inline uint32_t pcv_ring_pop_bulk(struct pcv_ring *r, void **items,
					 uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t avail = r->cons_head_cache - tail;

	if (avail < n) {
		r->cons_head_cache =
			atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->cons_head_cache - tail;
		if (n > avail)
			n = avail;
	}
	for (uint32_t i = 0; i < n; i++)
		items[i] = r->slots[(tail + i) & r->mask];
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

static inline int pcv_ring_push(struct pcv_ring *r, void *item)
{
	return pcv_ring_push_bulk(r, &item, 1) == 1 ? 0 : -1;
}

static inline void *pcv_ring_pop(struct pcv_ring *r)
{
	void *item;

	return pcv_ring_pop_bulk(r, &item, 1) == 1 ? item : NULL;
}

/* pcv_ring_count() - entries in the ring; exact only from either side. */
static inline uint32_t pcv_ring_count(struct pcv_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) -
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

#endif /* PCV_RING_H */
