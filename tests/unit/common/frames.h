/* SPDX-License-Identifier: MIT */
/*
 * frames.h - the byte-level frame builder the unit tests share: a frame
 * buffer and the big-endian appenders every test file builds its packets
 * with (tests/unit/common/frames.c).  What goes into a frame, and so its
 * exact bytes, stays with each test file (or tests/unit/vfm/vectors.c).
 */
#ifndef PCV_TEST_FRAMES_H
#define PCV_TEST_FRAMES_H

#include <stddef.h>
#include <stdint.h>

/* A frame under construction: @n bytes of @b used so far. */
struct frame {
	uint8_t b[4096];
	uint32_t n;
};

/* Append, in network byte order; a frame that outgrows @b fails the test. */
void put8(struct frame *f, uint8_t v);
void put16(struct frame *f, uint16_t v);
void put32(struct frame *f, uint32_t v);
void putn(struct frame *f, const void *p, size_t len);
void zeros(struct frame *f, size_t len);

#endif /* PCV_TEST_FRAMES_H */
