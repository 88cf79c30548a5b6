/* SPDX-License-Identifier: MIT */
/*
 * vectors.h - what the VFM unit tests share (tests/unit/vfm/vectors.c):
 * the test frames, the nine vectors of spec §7 and seven more, with the
 * builders they are made of, and the helpers that assemble, load and run
 * a program on a frame from an exactly sized copy, so ASan sees any
 * over-read.
 */
#ifndef PCV_TEST_VECTORS_H
#define PCV_TEST_VECTORS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/frames.h"

struct pcv_vfm;

#define TV_IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define TV_HOST_A TV_IP(192, 168, 1, 100)
#define TV_HOST_A2 TV_IP(192, 168, 1, 101)
#define TV_HOST_B TV_IP(10, 0, 0, 1)
#define TV_HOST_DNS TV_IP(10, 0, 0, 53)
#define TV_HOST_OUT TV_IP(172, 16, 0, 1)

/* TCP flags */
enum { TV_FIN = 0x01, TV_SYN = 0x02, TV_PSH = 0x08, TV_ACK = 0x10 };

/* Ethernet header, 02::0a -> 02::0b. */
void tv_eth(struct frame *f, unsigned type);
/* IPv4 header of @ihl words (NOP options past 5), no checksum. */
void tv_ip4(struct frame *f, unsigned ihl, unsigned tot, unsigned frag,
	    unsigned proto, uint32_t src, uint32_t dst);
/* IPv6 header, hop limit 64: next header @nh, payload length @plen. */
void tv_ip6(struct frame *f, uint8_t nh, uint16_t plen, const uint8_t *src,
	    const uint8_t *dst);
/* 20-byte TCP header; the ack number is set when @flags has TV_ACK. */
void tv_tcp(struct frame *f, unsigned sport, unsigned dport,
	    unsigned flags);

#define TV_NFRAMES 16

/* Frame @i (0-based); 0..8 are the vectors of spec §7 (see vectors.c). */
void tv_build(int i, struct frame *f);

/* @src (VFM assembly) as bytecode; it must assemble. */
uint8_t *tv_assemble(const char *src, size_t *len);
/* @code loaded with the default options, then freed; it must load.
 * @what names the program in the failure message. */
struct pcv_vfm *tv_load(uint8_t *code, size_t len, const char *what);
/* pcv_vfm_run() on an exactly sized copy of @pkt. */
int tv_run(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t len,
	   uint64_t ts, uint64_t *r);
/* 'A' accepted (ran, non-zero), 'D' dropped (ran, zero), 'E' error. */
char tv_verdict(struct pcv_vfm *vm, const struct frame *f, uint64_t ts);

#endif /* PCV_TEST_VECTORS_H */
