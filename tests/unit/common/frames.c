// SPDX-License-Identifier: MIT
/*
 * frames.c - the byte-level frame builder shared by the unit tests
 * (dissect, VFM): appends bytes, 16- and 32-bit values in network byte
 * order, copies and runs of zeros to a struct frame, failing the running
 * test (a Criterion assertion) if a frame outgrows its buffer.  It holds
 * no tests.
 */
#include <criterion/criterion.h>

#include "frames.h"

void put8(struct frame *f, uint8_t v)
{
	cr_assert_lt(f->n, sizeof(f->b), "test frame too long");
	f->b[f->n++] = v;
}

void put16(struct frame *f, uint16_t v)
{
	put8(f, (uint8_t)(v >> 8));
	put8(f, (uint8_t)v);
}

void put32(struct frame *f, uint32_t v)
{
	put16(f, (uint16_t)(v >> 16));
	put16(f, (uint16_t)v);
}

void putn(struct frame *f, const void *p, size_t len)
{
	const uint8_t *s = p;

	while (len--)
		put8(f, *s++);
}

void zeros(struct frame *f, size_t len)
{
	while (len--)
		put8(f, 0);
}
