// SPDX-License-Identifier: MIT
/*
 * ring.c - set-up and tear-down of the SPSC pointer ring; the hot path is
 * inline in include/pcv/ring.h.
 */
#include <errno.h>
#include <stdlib.h>

#include "pcv/ring.h"

int pcv_ring_init(struct pcv_ring *r, uint32_t capacity)
{
	if (capacity < 2 || capacity > (1u << 31) ||
	    (capacity & (capacity - 1)) != 0)
		return -EINVAL;
	r->slots = calloc(capacity, sizeof(*r->slots));
	if (!r->slots)
		return -ENOMEM;
	r->mask = capacity - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->prod_tail_cache = 0;
	r->cons_head_cache = 0;
	return 0;
}

void pcv_ring_destroy(struct pcv_ring *r)
{
	if (!r)
		return;
	free(r->slots);
	r->slots = NULL;
	r->mask = 0;
}
