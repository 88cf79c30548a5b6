// SPDX-License-Identifier: MIT
/*
 * test_xdp_filter.c - unit tests of the classic BPF to XDP translator
 * (capture/xdp-filter.c).
 *
 * The promise is that the XDP program answers as libpcap's bpf_filter()
 * does, so the tests are differential: tcpdump expressions compiled by
 * libpcap (and random classic programs) run both through bpf_filter()
 * and, translated and loaded, through the kernel's BPF_PROG_TEST_RUN, on
 * frames built here byte by byte (every truncation of a few, odd headers,
 * random bytes) and on the shared corpus captures when present.  An
 * accepted frame must give XDP_TX (the test build's accept), a rejected
 * one XDP_PASS.  Programs are loaded with BPF_F_XDP_HAS_FRAGS and
 * without.  Besides: every shape of a final jump, loading with a real
 * XSKMAP, the tail call from a PROG_ARRAY that bpf/xsk.bpf.c makes, the
 * verifier's reason on a refusal, and the translation alone - what it
 * refuses, its limits, the blocks it adds.
 *
 * Multi-buffer frames: a frame longer than its linear part, with a
 * struct pcv_xsk_meta (bpf/xsk-meta.h) in its metadata area, as
 * bpf/xsk.bpf.c leaves it.  The program must answer as bpf_filter() on
 * the whole frame, or accept it with PCV_XSK_META_UNFILTERED set - and
 * only where bpf_filter() given the linear part alone (buflen) reads past
 * it: then, and only then, it returns 0 where the whole frame may say
 * otherwise.  So with lin = bpf_filter(wirelen = all, buflen = linear)
 * and whole = bpf_filter(all, all): lin means accepted unmarked (lin
 * implies whole); !lin && whole means marked; !lin && !whole, rejected
 * unmarked or marked.  Marked implies a frame longer than its linear
 * part; without the metadata, the same verdict.
 *
 * Kernel facts the tests live with (BPF_PROG_TEST_RUN for XDP,
 * bpf_prog_test_run_xdp() in net/bpf/test_run.c, 6.18):
 *  - data_in shorter than an Ethernet header (after any metadata) is
 *    refused;
 *  - the linear part is at most a page less XDP_PACKET_HEADROOM and the
 *    aligned skb_shared_info (3520 bytes with 4 KiB pages); the metadata
 *    comes out of the headroom; the rest of data_in goes to fragments of
 *    a page each (at most MAX_SKB_FRAGS), for any program, frags or not;
 *    bpf_xdp_get_buff_len() counts them;
 *  - ctx_in (struct xdp_md) must have data_meta 0; data is the length of
 *    the metadata, data_in starting with it (a multiple of 4, at most
 *    255; recent kernels also keep room for struct xdp_frame in the
 *    headroom); data_end (metadata included) at most data_size_in: since
 *    6.18 (and in stable backports) the linear part is then data_end
 *    bytes, still capped as above, where before data_end had to equal
 *    data_size_in (split_ok() finds out which);
 *  - data_out receives from data_meta on, the linear part then the
 *    fragments, and ENOSPC if data_size_out is shorter; ctx_out has data
 *    and data_end as the program left them, from data_meta.
 * The frames of the single-buffer tests stay within the linear limit.
 * Loading needs root; without it the kernel tests skip, the
 * translation-only ones still run.
 *
 * pcap.h and linux/bpf.h both define struct bpf_insn: pcap's is renamed
 * while pcap.h is read.
 */
#ifdef __linux__

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define bpf_insn pcap_bpf_insn /* the classic one */
#include <pcap/pcap.h>
#undef bpf_insn
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/filter.h>

#include "xdp-filter.h"
#include "../../../bpf/xsk-meta.h" /* after linux/bpf.h, for __u32 */
#include "../common/frames.h"
#include "../vfm/vectors.h"

#define SNAPLEN 262144
#define MAX_FRAMES 640
#define CORPUS_FIRST 2000  /* packets kept from the start of each file */
#define CORPUS_STRIDE 30   /* then one in this many, and rare ones */
#define CORPUS_MAX 8000    /* per file */
#define MAX_REPORTS 12
#define FRAGS BPF_F_XDP_HAS_FRAGS
#define META_LEN ((unsigned)sizeof(struct pcv_xsk_meta))
#define MAX_FRAGS 17    /* MAX_SKB_FRAGS, the kernel's default */
#define MAX_FRAME 70000 /* of a multi-buffer frame: 17 fragments hold it */
#define JUMBO 9000

TestSuite(xdp_filter, .timeout = 60);

/* ===== frames ============================================================= */

struct frameset {
	struct frame *f;
	unsigned n;
};

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t mac_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t mac_mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
static const uint8_t mac_high[6] = { 0x80, 0x00, 0x00, 0x01, 0x00, 0x01 };
static const uint8_t mac_edge[6] = { 0x80, 0x00, 0x00, 0x00, 0x77, 0x01 };
static const uint8_t v6_1[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t v6_2[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t v6_mc[16] = { 0xff, 0x02, [15] = 1 };

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static unsigned linear_max(void)
{
	long page = sysconf(_SC_PAGESIZE);

	/* XDP_PACKET_HEADROOM and skb_shared_info (320 bytes on 64-bit) */
	return page > 0 ? (unsigned)page - 256 - 320 : 3520;
}

static struct frame *next_frame(struct frameset *s)
{
	cr_assert_lt(s->n, MAX_FRAMES, "too many test frames");
	s->f[s->n].n = 0;
	return &s->f[s->n++];
}

static void eth(struct frame *f, const uint8_t *dst, uint16_t type)
{
	putn(f, dst, 6);
	putn(f, mac_a, 6);
	put16(f, type);
}

/* An IPv4 header of @ihl words whose options are NOPs. */
static void ip4(struct frame *f, unsigned ihl, uint16_t frag, uint8_t proto,
		uint32_t src, uint32_t dst, unsigned l4len)
{
	put8(f, (uint8_t)(0x40 | ihl));
	put8(f, 0);
	put16(f, (uint16_t)(ihl * 4 + l4len));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, src);
	put32(f, dst);
	for (unsigned i = 20; i < ihl * 4; i++)
		put8(f, 1);
}

/* A TCP header and @len bytes of payload counting up. */
static void tcp(struct frame *f, uint16_t sport, uint16_t dport,
		uint8_t flags, unsigned len)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, 1000);
	put32(f, 2000);
	put8(f, 0x50);
	put8(f, flags);
	put16(f, 65535);
	put32(f, 0);
	for (unsigned i = 0; i < len; i++)
		put8(f, (uint8_t)i);
}

static void udp(struct frame *f, uint16_t sport, uint16_t dport,
		uint32_t word, unsigned len)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, (uint16_t)(8 + len));
	put16(f, 0);
	if (len >= 4) {
		put32(f, word);
		zeros(f, len - 4);
	} else {
		zeros(f, len);
	}
}

static void v4_tcp(struct frame *f, const uint8_t *dmac, uint32_t src,
		   uint32_t dst, uint16_t sport, uint16_t dport,
		   uint8_t flags, unsigned len)
{
	eth(f, dmac, 0x0800);
	ip4(f, 5, 0x4000, 6, src, dst, 20 + len);
	tcp(f, sport, dport, flags, len);
}

static void v4_udp(struct frame *f, const uint8_t *dmac, uint32_t src,
		   uint32_t dst, uint16_t sport, uint16_t dport, uint32_t word)
{
	eth(f, dmac, 0x0800);
	ip4(f, 5, 0, 17, src, dst, 8 + 32);
	udp(f, sport, dport, word, 32);
}

/* Every length of @f from 0 up: runts and cut headers. */
static void truncations(struct frameset *s, const struct frame *f)
{
	for (unsigned len = 0; len < f->n; len++) {
		struct frame *t = next_frame(s);

		memcpy(t->b, f->b, len);
		t->n = len;
	}
}

static void ipv4_frames(struct frameset *s)
{
	const uint32_t h1 = IP(192, 168, 1, 1), h2 = IP(10, 1, 2, 3);
	struct frame *f;

	v4_tcp(next_frame(s), mac_b, h2, h1, 1234, 80, 0x02, 0);
	v4_tcp(next_frame(s), mac_b, h1, h2, 80, 1234, 0x12, 6);
	v4_tcp(next_frame(s), mac_b, IP(192, 168, 7, 7), h2, 80, 1234, 0x12,
	       0);
	v4_tcp(next_frame(s), mac_b, h1, h2, 443, 50000, 0x10, 600);
	v4_tcp(next_frame(s), mac_b, IP(172, 16, 0, 9), IP(10, 200, 0, 1),
	       1500, 2000, 0x18, 40);
	v4_tcp(next_frame(s), mac_b, h2, h1, 999, 2001, 0x01, 0);
	v4_tcp(next_frame(s), mac_b, h2, h1, 7000, 7000, 0x04, 3);
	v4_tcp(next_frame(s), mac_high, h2, h1, 79, 81, 0x03, 100);
	v4_tcp(next_frame(s), mac_edge, h2, h1, 80, 79, 0x02, 1460);
	v4_udp(next_frame(s), mac_b, IP(8, 8, 8, 8), h2, 53, 40000,
	       0x12345678);
	v4_udp(next_frame(s), mac_mcast, h2, IP(224, 0, 0, 251), 5353, 5353,
	       0x12345679);
	v4_udp(next_frame(s), mac_bcast, h2, IP(255, 255, 255, 255), 68, 67,
	       0);
	/* options: IHL 6 and 15 */
	f = next_frame(s);
	eth(f, mac_b, 0x0800);
	ip4(f, 6, 0, 6, h2, h1, 20);
	tcp(f, 22, 1022, 0x02, 0);
	f = next_frame(s);
	eth(f, mac_b, 0x0800);
	ip4(f, 15, 0, 17, h1, h2, 8 + 8);
	udp(f, 53, 53, 0x12345678, 8);
	/* fragments: first (MF), later (offset 185), later with MF */
	f = next_frame(s);
	eth(f, mac_b, 0x0800);
	ip4(f, 5, 0x2000, 17, h1, h2, 8 + 100);
	udp(f, 53, 1053, 0x12345678, 100);
	f = next_frame(s);
	eth(f, mac_b, 0x0800);
	ip4(f, 5, 185, 6, h1, h2, 60);
	zeros(f, 60);
	f = next_frame(s);
	eth(f, mac_b, 0x0800);
	ip4(f, 5, 0x2000 | 3, 6, h1, h2, 24);
	tcp(f, 80, 80, 0x02, 4);
	/* ICMP echo, then IP in IP, IPv6 in IP, GRE */
	f = next_frame(s);
	eth(f, mac_b, 0x0800);
	ip4(f, 5, 0, 1, h2, h1, 8);
	put32(f, 0x08000000);
	put32(f, 0x00010001);
	for (unsigned i = 0; i < 3; i++) {
		f = next_frame(s);
		eth(f, mac_b, 0x0800);
		ip4(f, 5, 0, (uint8_t[]){ 4, 41, 47 }[i], h2, h1, 24);
		zeros(f, 24);
	}
}

/* IPv4 headers that make X zero, or shift by 32 or more. */
static void odd_ipv4_frames(struct frameset *s)
{
	static const uint8_t first[] = { 0x40, 0x41, 0x45, 0x4f, 0x60, 0x65,
					 0x7f, 0x20, 0xff };
	static const uint8_t proto[] = { 6, 6, 17, 6, 7, 6, 0, 6, 255 };

	for (unsigned i = 0; i < sizeof(first); i++) {
		struct frame *f = next_frame(s);

		eth(f, mac_b, 0x0800);
		ip4(f, 5, 0, proto[i], IP(10, 0, 0, 1), IP(10, 0, 0, 2), 40);
		f->b[14] = first[i];
		f->b[15] = (uint8_t)(i * 37);
		tcp(f, (uint16_t)(i * 1000), 80, 0x02, 20);
	}
}

static void ipv6_frames(struct frameset *s)
{
	struct frame *f;

	f = next_frame(s);
	eth(f, mac_b, 0x86dd);
	tv_ip6(f, 6, 20, v6_1, v6_2);
	tcp(f, 50000, 80, 0x02, 0);
	f = next_frame(s);
	eth(f, mac_b, 0x86dd);
	tv_ip6(f, 17, 8 + 16, v6_2, v6_1);
	udp(f, 53, 33333, 0x12345678, 16);
	f = next_frame(s); /* neighbour solicitation */
	eth(f, mac_mcast, 0x86dd);
	tv_ip6(f, 58, 24, v6_1, v6_mc);
	put32(f, 0x87000000);
	zeros(f, 20);
	f = next_frame(s); /* hop-by-hop, fragment, UDP */
	eth(f, mac_b, 0x86dd);
	tv_ip6(f, 0, 8 + 8 + 8 + 8, v6_1, v6_2);
	put32(f, 0x2c000000);
	put32(f, 0x01040000);
	put32(f, 0x11000001);
	put32(f, 0xdeadbeef);
	udp(f, 5353, 53, 0x12345678, 8);
	f = next_frame(s); /* fragment header, later fragment */
	eth(f, mac_b, 0x86dd);
	tv_ip6(f, 44, 8 + 16, v6_2, v6_1);
	put32(f, 0x06000100);
	put32(f, 0xdeadbeef);
	zeros(f, 16);
	f = next_frame(s); /* routing header, TCP */
	eth(f, mac_b, 0x86dd);
	tv_ip6(f, 43, 8 + 20, v6_2, v6_1);
	put32(f, 0x06000000);
	put32(f, 0);
	tcp(f, 80, 443, 0x12, 0);
}

static void tagged_frames(struct frameset *s)
{
	static const uint16_t outer[] = { 0x8100, 0x8100, 0x8100, 0x88a8,
					  0x8100, 0x9100 };
	static const uint16_t tci[] = { 100, 200, 100, 300, 0x2064, 100 };
	static const uint16_t inner[] = { 0, 0, 0, 0x8100, 0x8100, 0 };
	static const uint16_t type[] = { 0x0800, 0x0800, 0x86dd, 0x0800,
					 0x0800, 0x0800 };
	struct frame *f;

	for (unsigned i = 0; i < sizeof(outer) / sizeof(outer[0]); i++) {
		f = next_frame(s);
		putn(f, mac_b, 6);
		putn(f, mac_a, 6);
		put16(f, outer[i]);
		put16(f, tci[i]);
		if (inner[i]) {
			put16(f, inner[i]);
			put16(f, 100);
		}
		put16(f, type[i]);
		if (type[i] == 0x0800) {
			ip4(f, 5, 0, 6, IP(10, 1, 2, 3), IP(192, 168, 1, 1),
			    20);
			tcp(f, 1234, 80, 0x02, 0);
		} else {
			tv_ip6(f, 6, 20, v6_1, v6_2);
			tcp(f, 1234, 80, 0x02, 0);
		}
	}
}

static void other_frames(struct frameset *s)
{
	struct frame *f;

	f = next_frame(s); /* MPLS, one label, IPv4 */
	eth(f, mac_b, 0x8847);
	put32(f, 16 << 12 | 1 << 8 | 64);
	ip4(f, 5, 0, 6, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 20);
	tcp(f, 1234, 80, 0x02, 0);
	f = next_frame(s); /* MPLS, two labels, IPv4 */
	eth(f, mac_b, 0x8847);
	put32(f, 16 << 12 | 64);
	put32(f, 17 << 12 | 1 << 8 | 64);
	ip4(f, 5, 0, 6, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 20);
	tcp(f, 1234, 80, 0x02, 0);
	f = next_frame(s); /* PPPoE session, IPv4 UDP */
	eth(f, mac_b, 0x8864);
	put16(f, 0x1100);
	put16(f, 0x0042);
	put16(f, 2 + 20 + 8 + 8);
	put16(f, 0x0021);
	ip4(f, 5, 0, 17, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 16);
	udp(f, 53, 53, 0x12345678, 8);
	f = next_frame(s); /* PPPoE session, IPv6 */
	eth(f, mac_b, 0x8864);
	put16(f, 0x1100);
	put16(f, 0x0042);
	put16(f, 2 + 40 + 20);
	put16(f, 0x0057);
	tv_ip6(f, 6, 20, v6_1, v6_2);
	tcp(f, 1, 80, 0x02, 0);
	f = next_frame(s); /* PPPoE discovery */
	eth(f, mac_bcast, 0x8863);
	put32(f, 0x11090000);
	zeros(f, 40);
	for (unsigned op = 1; op <= 2; op++) { /* ARP request, reply */
		f = next_frame(s);
		eth(f, op == 1 ? mac_bcast : mac_b, 0x0806);
		put32(f, 0x00010800);
		put16(f, 0x0604);
		put16(f, (uint16_t)op);
		putn(f, mac_a, 6);
		put32(f, IP(192, 168, 1, 1));
		zeros(f, 6);
		put32(f, IP(192, 168, 1, 2));
		zeros(f, 18);
	}
	f = next_frame(s); /* 802.3 with LLC */
	eth(f, mac_b, 46);
	put32(f, 0x424203);
	zeros(f, 42);
}

static uint32_t rng_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* Random bytes behind likely Ethernet types and IPv4 first bytes. */
static void random_frames(struct frameset *s, unsigned count, unsigned max)
{
	static const uint16_t types[] = { 0x0800, 0x0800, 0x86dd, 0x8100,
					  0x0806, 0x8847, 0x8864, 0x88a8 };
	uint32_t rng = 12345;

	for (unsigned i = 0; i < count; i++) {
		struct frame *f = next_frame(s);
		unsigned len = 14 + rng_next(&rng) % (i % 4 ? 120 : max - 14);
		uint16_t type = types[rng_next(&rng) % 8];

		eth(f, i % 3 ? mac_b : mac_mcast, type);
		while (f->n < len)
			put8(f, (uint8_t)rng_next(&rng));
		if (type == 0x0800 && len > 15 && i % 2)
			f->b[14] = (uint8_t)(0x40 | (rng_next(&rng) & 0xf));
	}
}

static void big_frames(struct frameset *s, unsigned max)
{
	v4_tcp(next_frame(s), mac_b, IP(10, 1, 2, 3), IP(192, 168, 1, 1),
	       80, 1234, 0x10, 1460);
	v4_tcp(next_frame(s), mac_b, IP(10, 1, 2, 3), IP(192, 168, 1, 1),
	       80, 1234, 0x10, 2900);
	v4_tcp(next_frame(s), mac_b, IP(10, 1, 2, 3), IP(192, 168, 1, 1),
	       80, 1234, 0x10, max - 54);
}

/* The frames truncated at every length: IPv4 TCP, IPv6 TCP, VLAN UDP. */
static void cut_frames(struct frameset *s)
{
	struct frameset base = { .f = calloc(3, sizeof(struct frame)) };
	struct frame *f;

	cr_assert_not_null(base.f);
	v4_tcp(next_frame(&base), mac_b, IP(10, 1, 2, 3), IP(192, 168, 1, 1),
	       1234, 80, 0x02, 6);
	f = next_frame(&base);
	eth(f, mac_b, 0x86dd);
	tv_ip6(f, 6, 20, v6_1, v6_2);
	tcp(f, 50000, 80, 0x12, 0);
	f = next_frame(&base);
	eth(f, mac_b, 0x8100);
	put16(f, 100);
	put16(f, 0x0800);
	ip4(f, 5, 0, 17, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 8 + 4);
	udp(f, 53, 53, 0x12345678, 4);
	for (unsigned i = 0; i < base.n; i++)
		truncations(s, &base.f[i]);
	free(base.f);
}

static void build_frames(struct frameset *s)
{
	unsigned max = linear_max();

	if (max > sizeof(s->f->b))
		max = sizeof(s->f->b);
	s->f = calloc(MAX_FRAMES, sizeof(*s->f));
	cr_assert_not_null(s->f);
	cut_frames(s);
	ipv4_frames(s);
	odd_ipv4_frames(s);
	ipv6_frames(s);
	tagged_frames(s);
	other_frames(s);
	big_frames(s, max);
	random_frames(s, 80, max);
}

/* ===== packets: the frames, or corpus captures ============================ */

struct pkt {
	const uint8_t *b;
	unsigned n;
};

struct pktset {
	const char *name;
	struct pkt *p;
	unsigned n, cap;
	unsigned short_runts; /* shorter than the kernel takes */
	bool owned;           /* p[].b are malloc'd copies */
};

static void pkt_add(struct pktset *s, const uint8_t *b, unsigned n, bool copy)
{
	if (n < 14) {
		s->short_runts++;
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->p = realloc(s->p, s->cap * sizeof(*s->p));
		cr_assert_not_null(s->p);
	}
	if (copy) {
		uint8_t *c = malloc(n);

		cr_assert_not_null(c);
		memcpy(c, b, n);
		b = c;
	}
	s->p[s->n++] = (struct pkt){ .b = b, .n = n };
}

static void pkt_free(struct pktset *s)
{
	for (unsigned i = 0; s->owned && i < s->n; i++)
		free((void *)s->p[i].b);
	free(s->p);
}

/* The test frames: @fs must outlive the set. */
static void frame_pkts(struct pktset *s, struct frameset *fs)
{
	*s = (struct pktset){ .name = "test frame" };
	build_frames(fs);
	for (unsigned i = 0; i < fs->n; i++)
		pkt_add(s, fs->f[i].b, fs->f[i].n, false);
	if (s->short_runts)
		cr_log_info("%u runts under 14 bytes left out: "
			    "BPF_PROG_TEST_RUN refuses them", s->short_runts);
}

static const char *corpus_dir(void)
{
	const char *dir = getenv("PCV_CORPUS");

	return dir && *dir ? dir : "../shared/corpus";
}

/* What the corpus has little of, kept beyond the sample. */
static const char *const rare_exprs[] = {
	"mpls", "pppoes", "vlan and vlan", "ip and ip[0] != 0x45",
	"ip6 and ip6[6] == 44",
};

#define NRARE (sizeof(rare_exprs) / sizeof(rare_exprs[0]))

static bool is_rare(const struct bpf_program *rare,
		    const struct pcap_pkthdr *h, const u_char *data)
{
	for (unsigned i = 0; i < NRARE; i++)
		if (pcap_offline_filter(&rare[i], h, data))
			return true;
	return false;
}

/* Packets of one capture: the first CORPUS_FIRST, then one in
 * CORPUS_STRIDE and the rare ones, of those the kernel can run. */
static void corpus_file(struct pktset *s, struct pktset *big,
			const char *path, const struct bpf_program *rare)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	unsigned max = linear_max(), seen = 0, nbig = 0, huge = 0, kept = 0;
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *p = pcap_open_offline(path, errbuf);

	if (!p) {
		cr_log_warn("%s: %s", path, errbuf);
		return;
	}
	if (pcap_datalink(p) != DLT_EN10MB) {
		cr_log_warn("%s: not Ethernet, left out", path);
		pcap_close(p);
		return;
	}
	while (kept < CORPUS_MAX && pcap_next_ex(p, &h, &data) == 1) {
		if (seen++ >= CORPUS_FIRST && seen % CORPUS_STRIDE &&
		    !is_rare(rare, h, data))
			continue;
		kept++;
		if (h->caplen <= max) {
			pkt_add(s, data, h->caplen, true);
		} else if (h->caplen <= MAX_FRAME) {
			pkt_add(big, data, h->caplen, true);
			nbig++;
		} else {
			huge++;
		}
	}
	cr_log_info("%s: %u of %u packets read kept, %u over %u bytes as "
		    "multi-buffer frames, %u over %u left out", path, kept,
		    seen, nbig, max, huge, MAX_FRAME);
	pcap_close(p);
}

/* ===== running both ======================================================= */

static void compile(const char *expr, struct bpf_program *bp)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, SNAPLEN);

	cr_assert_not_null(p);
	cr_assert_eq(pcap_compile(p, bp, expr, 1, PCAP_NETMASK_UNKNOWN), 0,
		     "'%s': %s", expr, pcap_geterr(p));
	pcap_close(p);
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("loading XDP programs needs root");
}

/* Load the translation with @flags (0 or FRAGS), or skip the test when
 * the kernel will not. */
static int load_flags(const struct pcap_bpf_insn *insns, unsigned n,
		      int map_fd, unsigned flags, const char *what)
{
	char why[256];
	int fd;

	need_root();
	fd = pcv__xdp_filter_load((const struct sock_filter *)insns, n,
				  map_fd, 0, flags, why, sizeof(why));
	if (fd == -EPERM)
		cr_skip_test("BPF_PROG_LOAD refused: EPERM (%s)", why);
	cr_assert_geq(fd, 0, "%s%s: %s (%s)", what, flags ? " (frags)" : "",
		      strerror(-fd), why);
	return fd;
}

static int load(const struct pcap_bpf_insn *insns, unsigned n, int map_fd,
		const char *what)
{
	return load_flags(insns, n, map_fd, 0, what);
}

static unsigned xdp_run(int fd, const struct pkt *p)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b,
		    .data_size_in = p->n, .repeat = 1);
	int rc = bpf_prog_test_run_opts(fd, &o);

	cr_assert_eq(rc, 0, "test run of %u bytes: %s", p->n, strerror(-rc));
	return o.retval;
}

struct tally {
	unsigned runs, accepted, mismatches;
	unsigned undecided; /* multi-buffer frames marked unfiltered */
};

/* Run @insns both ways on every packet of @s, reporting differences. */
static void compare(const char *what, const struct pcap_bpf_insn *insns,
		    int fd, const struct pktset *s, struct tally *t)
{
	for (unsigned i = 0; i < s->n; i++) {
		const struct pkt *p = &s->p[i];
		unsigned want, got;

		want = bpf_filter(insns, p->b, p->n, p->n) ? XDP_TX : XDP_PASS;
		got = xdp_run(fd, p);
		t->runs++;
		t->accepted += want == XDP_TX;
		if (got == want)
			continue;
		if (t->mismatches++ < MAX_REPORTS)
			cr_log_error("'%s' on %s %u (%u bytes): bpf_filter "
				     "%s, XDP returned %u", what, s->name, i,
				     p->n, want == XDP_TX ? "accepts" :
				     "rejects", got);
	}
}

/* ===== multi-buffer runs ================================================== */

/* What a run of a multi-buffer frame gave. */
struct mb_run {
	unsigned ret;    /* the XDP action */
	unsigned linear; /* the linear part the program saw */
	uint32_t flags;  /* the metadata's flags after the run */
	bool intact;     /* the frame and the rest of the metadata unchanged */
};

static const uint64_t meta_tai = 0x1122334455667788ull;

/*
 * Run @fd on @p with @linear bytes of it in the linear part, the rest in
 * fragments (the kernel's split when @linear >= p->n, else what 6.18
 * lets ctx_in ask for), and a struct pcv_xsk_meta with @magic in front
 * when @meta.  Return 0, or the negative errno of BPF_PROG_TEST_RUN.
 */
static int try_run_mb(int fd, const struct pkt *p, unsigned linear,
		      bool meta, uint32_t magic, struct mb_run *r)
{
	unsigned mlen = meta ? META_LEN : 0, size = mlen + p->n;
	struct pcv_xsk_meta m = { .tai_ns = meta_tai, .magic = magic };
	uint8_t *in = malloc(size), *out = calloc(1, size);
	struct xdp_md ctx_in = {
		.data = mlen,
		.data_end = mlen + (linear < p->n ? linear : p->n),
	};
	struct xdp_md ctx_out = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = size,
		    .data_out = out, .data_size_out = size, .ctx_in = &ctx_in,
		    .ctx_size_in = sizeof(ctx_in), .ctx_out = &ctx_out,
		    .ctx_size_out = sizeof(ctx_out), .repeat = 1);
	int rc;

	cr_assert(in && out);
	memcpy(in, &m, mlen);
	memcpy(in + mlen, p->b, p->n);
	rc = bpf_prog_test_run_opts(fd, &o);
	if (rc == 0) {
		memcpy(&m, out, mlen);
		*r = (struct mb_run){
			.ret = o.retval,
			.linear = ctx_out.data_end - ctx_out.data,
			.flags = m.flags,
			.intact = o.data_size_out == size &&
				  ctx_out.data == mlen &&
				  memcmp(out + mlen, p->b, p->n) == 0 &&
				  (!meta || (m.tai_ns == meta_tai &&
					     m.magic == magic)),
		};
	}
	free(in);
	free(out);
	return rc;
}

static struct mb_run run_mb(int fd, const struct pkt *p, unsigned linear,
			    bool meta, uint32_t magic)
{
	struct mb_run r = { 0 };
	int rc = try_run_mb(fd, p, linear, meta, magic, &r);

	cr_assert_eq(rc, 0, "test run of %u bytes (%u linear): %s", p->n,
		     linear, strerror(-rc));
	cr_assert(r.intact, "the run of %u bytes changed the frame or the "
		  "metadata", p->n);
	if (linear < p->n)
		cr_assert_eq(r.linear, linear, "asked for %u linear bytes of "
			     "%u, got %u", linear, p->n, r.linear);
	return r;
}

/* Whether this kernel lets ctx_in choose the linear part (6.18). */
static bool can_split(int fd, const struct pkt *p)
{
	struct mb_run r;
	int rc = try_run_mb(fd, p, 14, true, PCV_XSK_META_MAGIC, &r);

	if (rc == -EINVAL) {
		cr_log_warn("this kernel's test run cannot split %u bytes at "
			    "14: only the kernel's own splits are tried",
			    p->n);
		return false;
	}
	cr_assert_eq(rc, 0, "test run: %s", strerror(-rc));
	cr_assert_eq(r.linear, 14, "asked for 14 linear bytes, got %u",
		     r.linear);
	return true;
}

/* Run @insns, loaded as @fd, on @p cut at @linear, with and without the
 * metadata: the rule of the top comment. */
static void compare_mb(const char *what, const struct pcap_bpf_insn *insns,
		       int fd, const struct pkt *p, unsigned linear,
		       struct tally *t)
{
	struct mb_run m = run_mb(fd, p, linear, true, PCV_XSK_META_MAGIC);
	struct mb_run bare = run_mb(fd, p, linear, false, 0);
	bool lin = bpf_filter(insns, p->b, p->n, m.linear) != 0;
	bool whole = bpf_filter(insns, p->b, p->n, p->n) != 0;
	bool marked = m.flags == PCV_XSK_META_UNFILTERED, ok;

	if (marked)
		ok = m.ret == XDP_TX && !lin && m.linear < p->n;
	else
		ok = m.flags == 0 && lin == whole &&
		     m.ret == (whole ? XDP_TX : XDP_PASS);
	ok = ok && bare.ret == m.ret && bare.linear == m.linear;
	t->runs++;
	t->accepted += whole;
	t->undecided += marked;
	if (!ok && t->mismatches++ < MAX_REPORTS)
		cr_log_error("'%s' on %u bytes, %u linear: bpf_filter %s "
			     "(%s on the linear part); XDP returned %u, flags "
			     "%#x, %u without metadata", what, p->n, m.linear,
			     whole ? "accepts" : "rejects",
			     lin ? "accepts" : "rejects", m.ret, m.flags,
			     bare.ret);
}

#define MAX_CUTS 6

/* Whether the test run can put @p's bytes past @linear in fragments of
 * a page. */
static bool fits(const struct pkt *p, unsigned linear)
{
	return p->n - linear <= MAX_FRAGS * (linear_max() + 256 + 320);
}

/* Where the multi-buffer runs cut @p: the kernel's own split, and, when
 * @split, before and in the Ethernet header, after an IPv4 header, in
 * the middle, one short - those the linear part and the fragments can
 * hold. */
static unsigned cuts(const struct pkt *p, bool split, unsigned cut[MAX_CUTS])
{
	const unsigned want[MAX_CUTS - 1] = { 0, 13, 34, p->n / 2, p->n - 1 };
	unsigned n = 0, lim = p->n < linear_max() ? p->n : linear_max();

	cut[n++] = p->n;
	for (unsigned i = 0; split && i < MAX_CUTS - 1; i++)
		if (want[i] < lim && fits(p, want[i]) &&
		    (n == 1 || want[i] > cut[n - 1]))
			cut[n++] = want[i];
	return n;
}

/* compare_mb() on every @stride-th packet of @s, at each of its cuts. */
static void compare_mb_set(const char *what, const struct pcap_bpf_insn *insns,
			   int fd, const struct pktset *s, bool split,
			   unsigned stride, struct tally *t)
{
	unsigned cut[MAX_CUTS];

	for (unsigned i = 0; i < s->n; i += stride) {
		unsigned nc = cuts(&s->p[i], split, cut);

		for (unsigned c = 0; c < nc; c++)
			compare_mb(what, insns, fd, &s->p[i], cut[c], t);
	}
}

/* Load a hand-written XDP program with @flags. */
static int load_raw(const struct bpf_insn *code, size_t cnt, unsigned flags)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = flags);
	int fd;

	need_root();
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pcv_test_raw", "GPL", code, cnt,
			   &opts);
	if (fd == -EPERM)
		cr_skip_test("BPF_PROG_LOAD refused: EPERM");
	cr_assert_geq(fd, 0, "raw program: %s", strerror(-fd));
	return fd;
}

/* Whether this kernel's test run takes the linear part from ctx_in. */
static bool split_ok(void)
{
	static const struct bpf_insn pass[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static int ok = -1;
	uint8_t b[60] = { 0 };
	struct pkt p = { .b = b, .n = sizeof(b) };
	int fd;

	if (ok < 0) {
		fd = load_raw(pass, 2, FRAGS);
		ok = can_split(fd, &p);
		close(fd);
	}
	return ok;
}

/* A multi-buffer frame of @len bytes: the headers in @h, then bytes
 * counting up by 7. */
static void jumbo_add(struct pktset *s, const struct frame *h, unsigned len)
{
	uint8_t *b = malloc(len);

	cr_assert_not_null(b);
	cr_assert_leq(h->n, len);
	memcpy(b, h->b, h->n);
	for (unsigned i = h->n; i < len; i++)
		b[i] = (uint8_t)(i * 7 + 1);
	pkt_add(s, b, len, true);
	free(b);
}

static void v4_jumbo_hdr(struct frame *h, uint8_t proto, unsigned len)
{
	h->n = 0;
	eth(h, mac_b, 0x0800);
	ip4(h, 5, 0x4000, proto, IP(10, 1, 2, 3), IP(192, 168, 1, 1),
	    len - 34);
	if (proto == 6) {
		tcp(h, 1234, 80, 0x18, 0);
	} else {
		put16(h, 5353);
		put16(h, 53);
		put16(h, (uint16_t)(len - 34));
		put16(h, 0);
	}
}

/* Where the UDP jumbo frame has 0x55: udp[8500]. */
#define UDP_MARK_AT (14 + 20 + 8500)

/* Frames longer than the linear part: p[0] IPv4 UDP of JUMBO bytes with
 * udp[8500] = 0x55, p[1] IPv4 TCP port 80 of JUMBO bytes, p[2] of
 * MAX_FRAME bytes (beyond 0xffff), then IPv6, VLAN, a bare 4000. */
static void jumbo_pkts(struct pktset *s)
{
	struct frame h;

	*s = (struct pktset){ .name = "multi-buffer frame", .owned = true };
	v4_jumbo_hdr(&h, 17, JUMBO);
	jumbo_add(s, &h, JUMBO);
	((uint8_t *)s->p[0].b)[UDP_MARK_AT] = 0x55;
	v4_jumbo_hdr(&h, 6, JUMBO);
	jumbo_add(s, &h, JUMBO);
	v4_jumbo_hdr(&h, 6, MAX_FRAME);
	jumbo_add(s, &h, MAX_FRAME);
	h.n = 0;
	eth(&h, mac_b, 0x86dd);
	tv_ip6(&h, 6, 7000 - 54, v6_1, v6_2);
	tcp(&h, 80, 443, 0x12, 0);
	jumbo_add(s, &h, 7000);
	h.n = 0;
	eth(&h, mac_b, 0x8100);
	put16(&h, 100);
	put16(&h, 0x0800);
	ip4(&h, 5, 0, 17, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 8 + 5000);
	udp(&h, 53, 53, 0x12345678, 8);
	jumbo_add(s, &h, 18 + 20 + 8 + 5000);
	v4_jumbo_hdr(&h, 6, 4000);
	jumbo_add(s, &h, 4000);
}

/* Copies of @from's packets, then the jumbo frames. */
static void mb_pkts(struct pktset *s, const struct pktset *from)
{
	jumbo_pkts(s);
	for (unsigned i = 0; i < from->n; i++)
		pkt_add(s, from->p[i].b, from->p[i].n, true);
}

static const char *const exprs[] = {
	"ip", "not ip", "ip6", "arp", "tcp", "udp", "icmp", "icmp6",
	"host 192.168.1.1", "src host 10.1.2.3", "dst net 10.0.0.0/8",
	"net 192.168.0.0/16 and not host 192.168.1.1",
	"ip6 host 2001:db8::1", "port 80", "tcp port 443", "udp port 53",
	"src port 1234 or dst port 22", "portrange 1000-2000",
	"tcp dst portrange 79-81", "ip6 and tcp port 80",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
	"tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 0x12 == 0x12 and len >= 60",
	"ip[2:2] > 500", "len > 100", "greater 200", "less 80",
	"vlan 100 and host 192.168.1.1", "vlan and ip6", "vlan and vlan 100",
	"vlan", "mpls", "mpls and tcp", "pppoes", "pppoes and udp port 53",
	"ether broadcast", "ether multicast", "ip multicast",
	"ether host 02:00:00:00:00:0b", "ether[0:4] > 0x80000000",
	"ip[0] & 0xf * 4 > 20", "(ip[0] & 0xf) * 4 > 20",
	"ip[2:2] / (ip[1] & 0xf) > 10", "ip[2:2] / (ip[9] - 6) > 10",
	"ip[2:2] % (ip[9] - 6) == 0",
	"ip[1] << (ip[0] & 0x3f) != 0", "ip[2:2] >> (ip[8] & 0x3f) != 0",
	"tcp[0:2] - tcp[2:2] > 0", "ip proto 47", "ip proto 4 or ip proto 41",
	"ip[6] & 0x20 != 0", "ip[6:2] & 0x1fff != 0", "udp[8:4] = 0x12345678",
	"ip6 and ip6[6] == 44", "ether[12:2] ^ 0x0800 == 0",
	"-ip[8] & 0xff > 100", "len * 3 - 1 > 200", "ip[2:2] + 14 == len",
	"ip[9] * 0x01000000 > 0x05000000", "ether[len - 4:4] != 0",
	"ip[12:4] & 0xffffff00 == 0xc0a80100",
};

#define NEXPRS (sizeof(exprs) / sizeof(exprs[0]))

/* Every expression on every packet of @s, loaded without and with
 * BPF_F_XDP_HAS_FRAGS; each must both accept and reject some when
 * @coverage.  The frags one also on @mb (if not NULL) as multi-buffer
 * frames, cut as cuts() says with @split. */
static void run_exprs(const struct pktset *s, bool coverage,
		      const struct pktset *mb, bool split)
{
	struct tally all = { 0 }, mball = { 0 };

	for (unsigned e = 0; e < NEXPRS; e++) {
		struct tally t = { 0 };
		struct bpf_program bp;
		int fd;

		compile(exprs[e], &bp);
		fd = load(bp.bf_insns, bp.bf_len, -1, exprs[e]);
		compare(exprs[e], bp.bf_insns, fd, s, &t);
		close(fd);
		fd = load_flags(bp.bf_insns, bp.bf_len, -1, FRAGS, exprs[e]);
		compare(exprs[e], bp.bf_insns, fd, s, &t);
		if (mb)
			compare_mb_set(exprs[e], bp.bf_insns, fd, mb, split, 1,
				       &mball);
		close(fd);
		pcap_freecode(&bp);
		cr_expect(!coverage || (t.accepted && t.accepted < t.runs),
			  "'%s' accepts %u of %u %ss: add frames", exprs[e],
			  t.accepted, t.runs, s->name);
		all.runs += t.runs;
		all.accepted += t.accepted;
		all.mismatches += t.mismatches;
	}
	cr_log_info("%zu expressions on %u %ss: %u runs, %u accepted, %u "
		    "mismatches", NEXPRS, s->n, s->name, all.runs,
		    all.accepted, all.mismatches);
	cr_assert_eq(all.mismatches, 0, "%u results differ from bpf_filter()",
		     all.mismatches);
	if (!mb)
		return;
	cr_log_info("%zu expressions on %u %ss%s: %u runs, %u accepted by "
		    "bpf_filter(), %u undecided, %u mismatches", NEXPRS, mb->n,
		    mb->name, split ? " cut at several places" : "",
		    mball.runs, mball.accepted, mball.undecided,
		    mball.mismatches);
	cr_assert_eq(mball.mismatches, 0, "%u multi-buffer results break the "
		     "rule", mball.mismatches);
	cr_assert(mb->n == 0 || (mball.undecided && mball.accepted &&
				 mball.accepted < mball.runs),
		  "the multi-buffer runs prove little: add frames");
}

Test(xdp_filter, expressions_on_test_frames)
{
	struct frameset fs = { 0 };
	struct pktset s;

	struct pktset mb;

	need_root();
	frame_pkts(&s, &fs);
	mb_pkts(&mb, &s);
	run_exprs(&s, true, &mb, split_ok());
	pkt_free(&mb);
	pkt_free(&s);
	free(fs.f);
}

Test(xdp_filter, expressions_on_corpus)
{
	static const char *const files[] = {
		"mixed-small.pcap", "malformed/malformed-en10mb.pcap",
	};
	struct pktset s = { .name = "corpus packet", .owned = true };
	struct pktset big = { .name = "big corpus packet", .owned = true };
	struct bpf_program rare[NRARE];
	char path[1024];

	need_root();
	if (access(corpus_dir(), R_OK) != 0) {
		cr_log_info("corpus %s absent (set PCV_CORPUS)", corpus_dir());
		cr_skip_test("corpus %s absent (set PCV_CORPUS)", corpus_dir());
	}
	for (unsigned i = 0; i < NRARE; i++)
		compile(rare_exprs[i], &rare[i]);
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", corpus_dir(), files[i]);
		corpus_file(&s, &big, path, rare);
	}
	for (unsigned i = 0; i < NRARE; i++)
		pcap_freecode(&rare[i]);
	if (s.n == 0)
		cr_skip_test("no Ethernet captures in %s", corpus_dir());
	run_exprs(&s, false, big.n ? &big : NULL, false);
	pkt_free(&big);
	pkt_free(&s);
}

/* ===== random classic programs ============================================ */

static struct pcap_bpf_insn insn(uint16_t code, uint32_t k, uint8_t jt,
				 uint8_t jf)
{
	return (struct pcap_bpf_insn){ .code = code, .jt = jt, .jf = jf,
				       .k = k };
}

/* An offset near one of the translator's edges, or a small one. */
static uint32_t rand_offset(uint32_t *rng)
{
	static const uint32_t edges[] = { 0, 0x7ff0, 0xfff0, 0x10000,
					  0x7fffffff, 0xffdffff0 }; /* < SKF_LL_OFF */
	uint32_t r = rng_next(rng);

	if (r % 8)
		return r / 8 % 80;
	return edges[r / 8 % 6] + r / 64 % 16;
}

static const uint16_t alu_ops[] = { BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV,
				    BPF_MOD, BPF_AND, BPF_OR,  BPF_XOR,
				    BPF_LSH, BPF_RSH };
static const uint16_t jmp_ops[] = { BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET };
static const uint16_t sizes[] = { BPF_W, BPF_H, BPF_B };

static uint32_t rand_k(uint32_t *rng)
{
	uint32_t r = rng_next(rng);

	return r % 3 ? r % 70 : r * 2654435761u;
}

static struct pcap_bpf_insn rand_alu(uint32_t *rng)
{
	uint16_t op = alu_ops[rng_next(rng) % 10];
	uint32_t k = rand_k(rng);

	if (rng_next(rng) % 2)
		return insn(BPF_ALU | op | BPF_X, 0, 0, 0);
	if (op == BPF_LSH || op == BPF_RSH)
		k %= 32; /* libpcap 1.10's bpf_filter() shifts as C does */
	if ((op == BPF_DIV || op == BPF_MOD) && k == 0)
		k = 3;
	return insn(BPF_ALU | op | BPF_K, k, 0, 0);
}

/* One instruction with @room instructions after it to jump into; it
 * reads the packet only if @pkt (without, nothing may reject early). */
static struct pcap_bpf_insn rand_insn(uint32_t *rng, unsigned room, bool pkt)
{
	unsigned span = room < 255 ? room + 1 : 256;
	uint16_t ld = rng_next(rng) % 2 ? BPF_LD : BPF_LDX;
	uint16_t size = sizes[rng_next(rng) % 3];
	unsigned kind = rng_next(rng) % 14;

	if (!pkt && kind <= 3)
		kind = 5;
	switch (kind) {
	case 0:
	case 1:
		return insn(BPF_LD | size | BPF_ABS, rand_offset(rng), 0, 0);
	case 2:
		return insn(BPF_LD | size | BPF_IND, rand_offset(rng), 0, 0);
	case 3:
		return insn(BPF_LDX | BPF_MSH | BPF_B, rand_offset(rng), 0, 0);
	case 4:
		return insn(ld | BPF_IMM, rand_k(rng), 0, 0);
	case 5:
		return insn(ld | BPF_W | BPF_LEN, 0, 0, 0);
	case 6:
		return insn(ld | BPF_MEM, rng_next(rng) % 4, 0, 0);
	case 7:
		return insn(rng_next(rng) % 2 ? BPF_ST : BPF_STX,
			    rng_next(rng) % 4, 0, 0);
	case 8:
	case 9:
		return rand_alu(rng);
	case 10:
		return insn(rng_next(rng) % 2 ? BPF_MISC | BPF_TAX :
			    BPF_MISC | BPF_TXA, 0, 0, 0);
	case 11:
		return insn(BPF_JMP | jmp_ops[rng_next(rng) % 4] |
			    (rng_next(rng) % 2 ? BPF_X : BPF_K), rand_k(rng),
			    (uint8_t)(rng_next(rng) % span),
			    (uint8_t)(rng_next(rng) % span));
	case 12:
		return insn(BPF_JMP | BPF_JA, rng_next(rng) % (room + 1), 0, 0);
	}
	if (rng_next(rng) % 3 == 0)
		return insn(BPF_ALU | BPF_NEG, 0, 0, 0);
	return insn(rng_next(rng) % 2 ? BPF_RET | BPF_A : BPF_RET | BPF_K,
		    rng_next(rng) % 2 ? 0 : 96, 0, 0);
}

/* A program of 8 to 47 instructions ending in RET A, or in two RET #k as
 * libpcap's end.  M[0..3] are stored first: libpcap 1.10's bpf_filter()
 * leaves M[] uninitialised. */
static unsigned rand_prog(uint32_t *rng, struct pcap_bpf_insn *p)
{
	unsigned n = 0, len = 8 + rng_next(rng) % 40;
	unsigned tail = rng_next(rng) % 3;
	bool pkt = rng_next(rng) % 4;

	p[n++] = insn(BPF_LD | BPF_IMM, rng_next(rng), 0, 0);
	for (unsigned k = 0; k < 4; k++)
		p[n++] = insn(BPF_ST, k, 0, 0);
	while (n < len - (tail ? 2 : 1)) {
		p[n] = rand_insn(rng, len - 2 - n, pkt);
		n++;
	}
	if (tail) {
		p[n++] = insn(BPF_RET | BPF_K, tail == 1 ? 96 : 0, 0, 0);
		p[n++] = insn(BPF_RET | BPF_K, tail == 1 ? 0 : 96, 0, 0);
	} else {
		p[n++] = insn(BPF_RET | BPF_A, 0, 0, 0);
	}
	return n;
}

/* Odd ones loaded with BPF_F_XDP_HAS_FRAGS, and run on multi-buffer
 * frames too. */
Test(xdp_filter, random_programs)
{
	struct frameset fs = { 0 };
	struct pcap_bpf_insn prog[48];
	struct tally t = { 0 }, mbt = { 0 };
	struct pktset s, mb;
	uint32_t rng = 2024;
	char what[32];
	bool split;

	need_root();
	frame_pkts(&s, &fs);
	mb_pkts(&mb, &s);
	split = split_ok();
	for (unsigned i = 0; i < 250; i++) {
		unsigned n = rand_prog(&rng, prog);
		int fd;

		cr_assert(bpf_validate(prog, (int)n), "program %u invalid", i);
		snprintf(what, sizeof(what), "random program %u", i);
		fd = load_flags(prog, n, -1, i % 2 ? FRAGS : 0, what);
		compare(what, prog, fd, &s, &t);
		if (i % 2)
			compare_mb_set(what, prog, fd, &mb, split, 3, &mbt);
		close(fd);
	}
	cr_log_info("250 random programs: %u runs, %u accepted", t.runs,
		    t.accepted);
	cr_log_info("125 on multi-buffer frames: %u runs, %u accepted by "
		    "bpf_filter(), %u undecided", mbt.runs, mbt.accepted,
		    mbt.undecided);
	cr_assert_eq(t.mismatches, 0, "%u results differ from bpf_filter()",
		     t.mismatches);
	cr_assert_eq(mbt.mismatches, 0, "%u multi-buffer results break the "
		     "rule", mbt.mismatches);
	cr_assert(mbt.undecided && mbt.accepted, "the multi-buffer runs "
		  "prove little");
	pkt_free(&mb);
	pkt_free(&s);
	free(fs.f);
}

/* Every shape of a last jump into two RET #k, with no load that could use
 * the reject block first: A = len against k or X. */
Test(xdp_filter, jump_shapes)
{
	static const uint16_t ops[] = { BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET };
	struct frameset fs = { 0 };
	struct pcap_bpf_insn p[5];
	struct tally t = { 0 };
	struct pktset s;
	char what[64];

	need_root();
	frame_pkts(&s, &fs);
	for (unsigned i = 0; i < 4 * 2 * 2 * 4; i++) {
		uint16_t op = ops[i % 4], src = i / 4 % 2 ? BPF_X : BPF_K;
		bool accept_first = i / 8 % 2;
		uint8_t jt = i / 16 % 2, jf = i / 32 % 2;
		int fd;

		p[0] = insn(BPF_LDX | BPF_IMM, 60, 0, 0);
		p[1] = insn(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0);
		p[2] = insn(BPF_JMP | op | src, 60, jt, jf);
		p[3] = insn(BPF_RET | BPF_K, accept_first ? 96 : 0, 0, 0);
		p[4] = insn(BPF_RET | BPF_K, accept_first ? 0 : 96, 0, 0);
		snprintf(what, sizeof(what), "jump shape %u", i);
		fd = load(p, 5, -1, what);
		compare(what, p, fd, &s, &t);
		close(fd);
		fd = load_flags(p, 5, -1, FRAGS, what);
		compare(what, p, fd, &s, &t);
		close(fd);
	}
	cr_assert_eq(t.mismatches, 0, "%u results differ from bpf_filter()",
		     t.mismatches);
	pkt_free(&s);
	free(fs.f);
}

/* ===== the translation alone ============================================== */

static int build(const struct pcap_bpf_insn *p, unsigned n, int map_fd,
		 struct bpf_insn **out, char *why)
{
	return pcv__xdp_filter_build((const struct sock_filter *)p, n, map_fd,
				     out, why, 128);
}

/* Every jump lands inside the program, which ends with an exit. */
static void check_shape(const struct bpf_insn *e, int cnt)
{
	cr_assert_gt(cnt, 0);
	cr_assert_eq(e[cnt - 1].code, BPF_JMP | BPF_EXIT);
	for (int i = 0; i < cnt; i++) {
		uint8_t cls = BPF_CLASS(e[i].code), op = BPF_OP(e[i].code);

		if ((cls != BPF_JMP && cls != BPF_JMP32) || op == BPF_CALL ||
		    op == BPF_EXIT)
			continue;
		cr_assert(i + 1 + e[i].off >= 0 && i + 1 + e[i].off < cnt,
			  "insn %d jumps to %d of %d", i, i + 1 + e[i].off,
			  cnt);
	}
}

Test(xdp_filter, build_accept_all)
{
	struct pcap_bpf_insn p[] = { insn(BPF_RET | BPF_K, 65535, 0, 0),
				     insn(BPF_RET | BPF_K, 0, 0, 0) };
	struct bpf_insn *e;
	char why[128];
	int cnt;

	cnt = build(p, 2, -1, &e, why);
	check_shape(e, cnt);
	/* the dead "ret #0" leaves no reject block */
	for (int i = 0; i < cnt; i++)
		cr_assert(!(e[i].code == (BPF_ALU | BPF_MOV | BPF_K) &&
			    e[i].dst_reg == BPF_REG_0 && e[i].imm == XDP_PASS));
	cr_assert_eq(e[cnt - 2].imm, XDP_TX);
	free(e);

	cnt = build(p, 1, 42, &e, why);
	check_shape(e, cnt);
	cr_assert_eq(e[cnt - 2].code, BPF_JMP | BPF_CALL);
	cr_assert_eq(e[cnt - 2].imm, BPF_FUNC_redirect_map);
	cr_assert_eq(e[cnt - 6].code, BPF_LD | BPF_DW | BPF_IMM);
	cr_assert_eq(e[cnt - 6].src_reg, BPF_PSEUDO_MAP_FD);
	cr_assert_eq(e[cnt - 6].imm, 42);
	free(e);
}

Test(xdp_filter, build_refuses)
{
	static const struct {
		struct pcap_bpf_insn p[2];
		int err;
		const char *why;
	} cases[] = {
		{ { BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			     SKF_AD_OFF + SKF_AD_PROTOCOL),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EOPNOTSUPP, "ancillary" },
		{ { BPF_STMT(BPF_LD | BPF_B | BPF_IND, SKF_NET_OFF),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EOPNOTSUPP, "ancillary" },
		{ { BPF_STMT(BPF_LDX | BPF_MSH | BPF_B, SKF_LL_OFF),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EOPNOTSUPP, "ancillary" },
		{ { BPF_STMT(BPF_LDX | BPF_W | BPF_ABS, 12),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EOPNOTSUPP, "0x21" },
		{ { BPF_STMT(BPF_RET | BPF_X, 0) }, -EOPNOTSUPP, "0x0e" },
		{ { BPF_STMT(BPF_JMP | BPF_JA, 0xffffffff),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EOPNOTSUPP, "backward" },
		{ { BPF_JUMP(BPF_JMP | BPF_JEQ, 0, 0, 1),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EINVAL, "out of" },
		{ { BPF_STMT(BPF_LD | BPF_MEM, 16),
		    BPF_STMT(BPF_RET | BPF_A, 0) }, -EINVAL, "scratch" },
	};
	struct bpf_insn *e = (void *)1;
	char why[128];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned n = cases[i].p[1].code ? 2 : 1;
		int rc = build(cases[i].p, n, -1, &e, why);

		cr_expect_eq(rc, cases[i].err, "case %u: %d (%s)", i, rc, why);
		cr_expect_null(e, "case %u", i);
		cr_expect(strstr(why, cases[i].why), "case %u: '%s'", i, why);
	}
	cr_assert_eq(build(cases[0].p, 0, -1, &e, why), -EINVAL);
	cr_assert_eq(pcv__xdp_filter_build(NULL, 1, -1, &e, NULL, 0), -EINVAL);
}

Test(xdp_filter, build_refuses_protochain)
{
	struct bpf_program bp;
	struct bpf_insn *e;
	char why[128];

	compile("ip6 protochain 6", &bp);
	cr_assert_eq(build(bp.bf_insns, bp.bf_len, -1, &e, why), -EOPNOTSUPP);
	cr_assert(strstr(why, "backward"), "%s", why);
	pcap_freecode(&bp);
}

/* A load whose jump to the reject block spans more than 32767. */
Test(xdp_filter, build_too_long)
{
	unsigned n = 40002;
	struct pcap_bpf_insn *p = calloc(n, sizeof(*p));
	struct bpf_insn *e;
	char why[128];

	cr_assert_not_null(p);
	p[0] = insn(BPF_LD | BPF_H | BPF_ABS, 12, 0, 0);
	for (unsigned i = 1; i < n - 1; i++)
		p[i] = insn(BPF_MISC | BPF_TAX, 0, 0, 0);
	p[n - 1] = insn(BPF_RET | BPF_A, 0, 0, 0);
	cr_assert_eq(build(p, n, -1, &e, why), -E2BIG);
	cr_assert(strstr(why, "too long for XDP jumps"), "%s", why);
	/* shorter, it fits */
	p[30000] = p[n - 1];
	cr_assert_gt(build(p, 30001, -1, &e, why), 0, "%s", why);
	free(e);
	free(p);
}

/* Every expression translates to a well-formed program. */
Test(xdp_filter, build_expressions)
{
	for (unsigned i = 0; i < NEXPRS; i++) {
		struct bpf_program bp;
		struct bpf_insn *e;
		char why[128];
		int cnt;

		compile(exprs[i], &bp);
		cnt = build(bp.bf_insns, bp.bf_len, 7, &e, why);
		cr_assert_gt(cnt, 0, "'%s': %s", exprs[i], why);
		check_shape(e, cnt);
		free(e);
		pcap_freecode(&bp);
	}
}

/* How often @e calls @helper, loads ctx->data_meta, subtracts registers
 * in 64 bits. */
static unsigned count(const struct bpf_insn *e, int cnt, int what)
{
	unsigned k = 0;

	for (int i = 0; i < cnt; i++) {
		if (what >= 0)
			k += e[i].code == (BPF_JMP | BPF_CALL) &&
			     e[i].imm == what;
		else if (what == -1)
			k += e[i].code == (BPF_LDX | BPF_MEM | BPF_W) &&
			     e[i].src_reg == BPF_REG_6 && /* ctx */
			     e[i].off == offsetof(struct xdp_md, data_meta);
		else
			k += e[i].code == (BPF_ALU64 | BPF_SUB | BPF_X);
	}
	return k;
}

/* The out-of-bounds and undecided blocks come once, and only where a
 * load can go there; LEN calls bpf_xdp_get_buff_len() and subtracts no
 * pointers; no other helper but the redirect. */
Test(xdp_filter, build_blocks)
{
	static const struct {
		const char *expr;
		unsigned len_calls, oob;
	} cases[] = {
		{ "len > 100", 1, 0 },
		{ "greater 200 and less 900", 1, 0 }, /* one LEN */
		{ "tcp port 80", 0, 1 },
		{ "tcp port 80 and len > 100", 1, 1 },
		{ "ether[len - 4:4] != 0", 1, 1 },
		{ "ether[70000] = 1", 0, 1 },
	};
	struct pcap_bpf_insn accept[] = { insn(BPF_RET | BPF_K, 1, 0, 0) };
	struct bpf_insn *e;
	char why[128];
	int cnt;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bpf_program bp;
		unsigned calls;

		compile(cases[i].expr, &bp);
		cnt = build(bp.bf_insns, bp.bf_len, 7, &e, why);
		check_shape(e, cnt);
		calls = count(e, cnt, BPF_FUNC_xdp_get_buff_len);
		cr_expect_eq(calls, cases[i].len_calls + cases[i].oob,
			     "'%s': %u calls", cases[i].expr, calls);
		cr_expect_eq(count(e, cnt, -1), cases[i].oob, "'%s'",
			     cases[i].expr);
		cr_expect_eq(count(e, cnt, -2), 0, "'%s'", cases[i].expr);
		cr_expect_eq(count(e, cnt, BPF_FUNC_redirect_map), 1);
		free(e);
		pcap_freecode(&bp);
	}
	cnt = build(accept, 1, -1, &e, why);
	check_shape(e, cnt);
	cr_expect_eq(count(e, cnt, BPF_FUNC_xdp_get_buff_len), 0);
	cr_expect_eq(count(e, cnt, -1), 0);
	free(e);
	for (unsigned i = 0; i < NEXPRS; i++) {
		struct bpf_program bp;
		unsigned calls;

		compile(exprs[i], &bp);
		cnt = build(bp.bf_insns, bp.bf_len, -1, &e, why);
		calls = count(e, cnt, BPF_FUNC_xdp_get_buff_len);
		cr_expect_eq(count(e, cnt, -2), 0, "'%s'", exprs[i]);
		cr_expect_leq(count(e, cnt, -1), 1, "'%s'", exprs[i]);
		for (int j = 0; j < cnt; j++)
			cr_expect(e[j].code != (BPF_JMP | BPF_CALL) ||
				  e[j].imm == BPF_FUNC_xdp_get_buff_len,
				  "'%s' calls %d", exprs[i], e[j].imm);
		cr_expect_geq(calls, count(e, cnt, -1), "'%s'", exprs[i]);
		free(e);
		pcap_freecode(&bp);
	}
}

/* ===== with the kernel ===================================================== */

/* The real thing: a redirect through an XSKMAP, for every expression. */
Test(xdp_filter, loads_with_xskmap)
{
	struct frameset fs = { 0 };
	struct pktset s;
	int map;

	need_root();
	map = bpf_map_create(BPF_MAP_TYPE_XSKMAP, "pcv_test_xsks", 4, 4, 64,
			     NULL);
	if (map == -EPERM)
		cr_skip_test("BPF_MAP_CREATE refused: EPERM");
	cr_assert_geq(map, 0, "XSKMAP: %s", strerror(-map));
	frame_pkts(&s, &fs);
	for (unsigned e = 0; e < NEXPRS; e++) {
		struct bpf_program bp;
		int fd;

		compile(exprs[e], &bp);
		fd = load_flags(bp.bf_insns, bp.bf_len, map, e % 2 ? FRAGS : 0,
				exprs[e]);
		/* no socket in the map: accepted packets pass too */
		for (unsigned i = 0; e == 0 && i < s.n; i++)
			cr_assert_eq(xdp_run(fd, &s.p[i]), XDP_PASS,
				     "frame %u", i);
		close(fd);
		pcap_freecode(&bp);
	}
	close(map);
	pkt_free(&s);
	free(fs.f);
}

/* A caller loaded with @attach_type and @flags that, as bpf/xsk.bpf.c
 * does, puts a struct pcv_xsk_meta in front of the frame (flags 0, the
 * magic) and tail-calls slot 0 of @array; it passes the packet if the
 * slot is empty. */
static int load_caller(int array, unsigned attach_type, unsigned flags)
{
	const struct bpf_insn code[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_6,
		  .src_reg = BPF_REG_1 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_2,
		  .imm = -(int32_t)META_LEN },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_xdp_adjust_meta },
		{ .code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_0,
		  .off = 8 },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
		  .src_reg = BPF_REG_6,
		  .off = offsetof(struct xdp_md, data_meta) },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_3,
		  .src_reg = BPF_REG_6, .off = offsetof(struct xdp_md, data) },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_4,
		  .src_reg = BPF_REG_2 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_4,
		  .imm = (int32_t)META_LEN },
		{ .code = BPF_JMP | BPF_JGT | BPF_X, .dst_reg = BPF_REG_4,
		  .src_reg = BPF_REG_3, .off = 3 },
		{ .code = BPF_ST | BPF_MEM | BPF_DW, .dst_reg = BPF_REG_2,
		  .off = offsetof(struct pcv_xsk_meta, tai_ns), .imm = 12345 },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
		  .off = offsetof(struct pcv_xsk_meta, flags) },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
		  .off = offsetof(struct pcv_xsk_meta, magic),
		  .imm = (int32_t)PCV_XSK_META_MAGIC },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_1,
		  .src_reg = BPF_REG_6 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_2,
		  .src_reg = BPF_PSEUDO_MAP_FD, .imm = array },
		{ .code = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_3 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_tail_call },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = XDP_PASS },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = attach_type, .prog_flags = flags);
	int fd = bpf_prog_load(BPF_PROG_TYPE_XDP, "pcv_test_call", "GPL",
			       code, sizeof(code) / sizeof(code[0]), &opts);

	cr_assert_geq(fd, 0, "caller: %s", strerror(-fd));
	return fd;
}

/* Run @fd, a caller, on @p; *@flags = the metadata's flags after. */
static unsigned chain_run(int fd, const struct pkt *p, uint32_t *flags)
{
	unsigned size = META_LEN + p->n;
	uint8_t *out = calloc(1, size);
	struct pcv_xsk_meta m;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->b,
		    .data_size_in = p->n, .data_out = out,
		    .data_size_out = size, .repeat = 1);
	int rc;

	cr_assert_not_null(out);
	rc = bpf_prog_test_run_opts(fd, &o);
	cr_assert_eq(rc, 0, "test run of %u bytes: %s", p->n, strerror(-rc));
	cr_assert_eq(o.data_size_out, size, "no metadata in front?");
	memcpy(&m, out, sizeof(m));
	cr_assert_eq(m.magic, PCV_XSK_META_MAGIC);
	cr_assert_eq(memcmp(out + META_LEN, p->b, p->n), 0);
	*flags = m.flags;
	free(out);
	return o.retval;
}

/* As bpf/xsk.bpf.c runs it: tail-called from a PROG_ARRAY, which takes a
 * program of its owner's expected_attach_type and BPF_F_XDP_HAS_FRAGS
 * only; with frags, a multi-buffer frame it cannot decide comes out
 * marked in the metadata its caller wrote. */
Test(xdp_filter, tail_call_target)
{
	const unsigned types[2] = { 0, BPF_XDP }, flags[2] = { 0, FRAGS };
	struct bpf_program bp;
	struct frame f = { .n = 0 };
	struct pktset jumbo;
	struct pkt p;
	const uint32_t slot = 0;
	uint32_t mark;
	char why[256];

	need_root();
	compile("tcp port 80 or udp[8500:1] = 0x55", &bp);
	v4_tcp(&f, mac_b, IP(10, 1, 2, 3), IP(192, 168, 1, 1), 1234, 80,
	       0x02, 0);
	p = (struct pkt){ .b = f.b, .n = f.n };
	jumbo_pkts(&jumbo);
	for (unsigned t = 0; t < 16; t++) {
		unsigned owner = types[t / 8], mine = types[t / 4 % 2];
		unsigned oflags = flags[t / 2 % 2], mflags = flags[t % 2];
		int array = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "pcv_test_pa",
					   4, 4, 1, NULL);
		int caller, fd, rc;

		cr_assert_geq(array, 0, "PROG_ARRAY: %s", strerror(-array));
		caller = load_caller(array, owner, oflags);
		fd = pcv__xdp_filter_load(
			(const struct sock_filter *)bp.bf_insns, bp.bf_len, -1,
			mine, mflags, why, sizeof(why));
		if (fd == -EPERM)
			cr_skip_test("BPF_PROG_LOAD refused: EPERM (%s)", why);
		cr_assert_geq(fd, 0, "%s (%s)", strerror(-fd), why);
		rc = bpf_map_update_elem(array, &slot, &fd, BPF_ANY);
		if (owner != mine || oflags != mflags) {
			cr_assert_eq(rc, -EINVAL, "attach type %u flags %#x in "
				     "%u %#x: %d", mine, mflags, owner, oflags,
				     rc);
		} else {
			cr_assert_eq(rc, 0, "%s", strerror(-rc));
			cr_assert_eq(chain_run(caller, &p, &mark), XDP_TX);
			cr_assert_eq(mark, 0);
			p.n = 30; /* cut in the IP header */
			cr_assert_eq(chain_run(caller, &p, &mark), XDP_PASS);
			cr_assert_eq(mark, 0);
			p.n = f.n;
		}
		if (rc == 0 && mflags) { /* UDP, then TCP port 80 */
			cr_assert_eq(chain_run(caller, &jumbo.p[0], &mark),
				     XDP_TX);
			cr_assert_eq(mark, PCV_XSK_META_UNFILTERED);
			cr_assert_eq(chain_run(caller, &jumbo.p[1], &mark),
				     XDP_TX);
			cr_assert_eq(mark, 0);
		}
		close(fd);
		close(caller);
		close(array);
	}
	pkt_free(&jumbo);
	pcap_freecode(&bp);
}

/* ===== multi-buffer frames ================================================ */

/* What the test runs rely on: a frags program sees only the linear part
 * of a long frame, as the top comment says; bpf_xdp_get_buff_len() the
 * whole. */
Test(xdp_filter, multibuf_linear_part)
{
	static const struct bpf_insn linear[] = { /* data_end - data */
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_2,
		  .src_reg = BPF_REG_1, .off = offsetof(struct xdp_md, data) },
		{ .code = BPF_LDX | BPF_MEM | BPF_W, .dst_reg = BPF_REG_0,
		  .src_reg = BPF_REG_1,
		  .off = offsetof(struct xdp_md, data_end) },
		{ .code = BPF_ALU64 | BPF_SUB | BPF_X, .dst_reg = BPF_REG_0,
		  .src_reg = BPF_REG_2 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	static const struct bpf_insn whole[] = { /* the buffer's length */
		{ .code = BPF_JMP | BPF_CALL,
		  .imm = BPF_FUNC_xdp_get_buff_len },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct pktset s;
	struct mb_run r;
	int lfd, wfd;

	need_root();
	jumbo_pkts(&s);
	lfd = load_raw(linear, 4, FRAGS);
	wfd = load_raw(whole, 2, FRAGS);
	for (unsigned i = 0; i < s.n; i++) {
		for (unsigned meta = 0; meta < 2; meta++) {
			r = run_mb(lfd, &s.p[i], s.p[i].n, meta,
				   PCV_XSK_META_MAGIC);
			cr_log_info("%u bytes%s: %u linear", s.p[i].n,
				    meta ? " after metadata" : "", r.ret);
			cr_assert_lt(r.ret, s.p[i].n);
			cr_assert_eq(r.ret, linear_max(), "not the limit the "
				     "tests assume");
			cr_assert_eq(r.ret, r.linear);
			r = run_mb(wfd, &s.p[i], s.p[i].n, meta,
				   PCV_XSK_META_MAGIC);
			cr_assert_eq(r.ret, s.p[i].n);
		}
		if (split_ok() && fits(&s.p[i], 100)) {
			r = run_mb(lfd, &s.p[i], 100, true, PCV_XSK_META_MAGIC);
			cr_assert_eq(r.ret, 100);
			r = run_mb(wfd, &s.p[i], 100, true, PCV_XSK_META_MAGIC);
			cr_assert_eq(r.ret, s.p[i].n);
		}
	}
	close(lfd);
	close(wfd);
	pkt_free(&s);
}

/* The cases by name; compare_mb() checks each against bpf_filter() too. */
Test(xdp_filter, multibuf_cases)
{
	enum { UDP9000, TCP9000, BIG, SHORT };
	static const struct {
		const char *expr;
		unsigned frame, ret;
		bool marked;
	} cases[] = {
		{ "udp", UDP9000, XDP_TX, false },
		{ "len > 8000", UDP9000, XDP_TX, false },
		{ "greater 8500", UDP9000, XDP_TX, false },
		{ "less 100", UDP9000, XDP_PASS, false },
		{ "udp[8500:1] = 0x55", UDP9000, XDP_TX, true },
		{ "udp[8500:1] = 0x54", UDP9000, XDP_TX, true },
		{ "udp[8500:1] = 0x55", TCP9000, XDP_PASS, false },
		{ "tcp", UDP9000, XDP_PASS, false },
		{ "tcp port 80", TCP9000, XDP_TX, false },
		{ "udp[8500:1] = 0x55", SHORT, XDP_PASS, false },
		{ "ether[len - 1] = 0", UDP9000, XDP_TX, true },
		{ "ether[len - 1] = 0", SHORT, XDP_TX, false },
		{ "ether[66000] = 0", UDP9000, XDP_TX, true },
		{ "ether[66000] = 0", BIG, XDP_TX, true },
		{ "ether[66000] = 0", SHORT, XDP_PASS, false },
		{ "len > 65535", BIG, XDP_TX, false },
		{ "tcp[0:2] = 1234 and len > 65535", BIG, XDP_TX, false },
	};
	struct pktset s;
	struct frame f = { .n = 0 };
	struct pkt pkts[4];
	struct tally t = { 0 };

	need_root();
	jumbo_pkts(&s);
	v4_udp(&f, mac_b, IP(8, 8, 8, 8), IP(10, 1, 2, 3), 53, 40000, 0);
	pkts[UDP9000] = s.p[0];
	pkts[TCP9000] = s.p[1];
	pkts[BIG] = s.p[2];
	pkts[SHORT] = (struct pkt){ .b = f.b, .n = f.n };
	cr_assert_eq(pkts[UDP9000].b[UDP_MARK_AT], 0x55);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pkt *p = &pkts[cases[i].frame];
		struct bpf_program bp;
		struct mb_run r;
		int fd;

		compile(cases[i].expr, &bp);
		fd = load_flags(bp.bf_insns, bp.bf_len, -1, FRAGS,
				cases[i].expr);
		r = run_mb(fd, p, p->n, true, PCV_XSK_META_MAGIC);
		cr_expect(r.ret == cases[i].ret && r.flags == (cases[i].marked ?
			  PCV_XSK_META_UNFILTERED : 0), "case %u '%s' on %u "
			  "bytes: %u, flags %#x", i, cases[i].expr, p->n,
			  r.ret, r.flags);
		/* no metadata, or not ours: the same verdict, no mark */
		r = run_mb(fd, p, p->n, false, 0);
		cr_expect_eq(r.ret, cases[i].ret, "case %u, no metadata", i);
		r = run_mb(fd, p, p->n, true, PCV_XSK_META_MAGIC + 1);
		cr_expect(r.ret == cases[i].ret && r.flags == 0, "case %u, "
			  "another magic: %u, flags %#x", i, r.ret, r.flags);
		compare_mb(cases[i].expr, bp.bf_insns, fd, p, p->n, &t);
		close(fd);
		pcap_freecode(&bp);
	}
	cr_assert_eq(t.mismatches, 0);
	pkt_free(&s);
}

/* Programs the translator takes and bpf_validate() would not, on frames
 * with and without fragments: falling off the end rejects, also when the
 * out-of-bounds block is what follows the last instruction. */
Test(xdp_filter, multibuf_falls_off)
{
	const struct pcap_bpf_insn progs[][2] = {
		{ insn(BPF_LD | BPF_H | BPF_ABS, 12, 0, 0),
		  insn(BPF_MISC | BPF_TAX, 0, 0, 0) },
		{ insn(BPF_LD | BPF_B | BPF_ABS, UDP_MARK_AT, 0, 0),
		  insn(BPF_ALU | BPF_ADD | BPF_K, 1, 0, 0) },
		{ insn(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0),
		  insn(BPF_LD | BPF_B | BPF_ABS, 20, 0, 0) },
		{ insn(BPF_LD | BPF_W | BPF_LEN, 0, 0, 0),
		  insn(BPF_LD | BPF_B | BPF_ABS, 70000, 0, 0) },
	};
	/* on the short frame, then the UDP jumbo frame */
	static const unsigned want[][2] = {
		{ XDP_PASS, XDP_PASS }, { XDP_PASS, XDP_TX },
		{ XDP_PASS, XDP_PASS }, { XDP_PASS, XDP_TX },
	};
	struct frame f = { .n = 0 };
	struct pktset s;

	need_root();
	jumbo_pkts(&s);
	v4_udp(&f, mac_b, IP(8, 8, 8, 8), IP(10, 1, 2, 3), 53, 40000, 0);
	for (unsigned i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const struct pkt short_pkt = { .b = f.b, .n = f.n };
		int fd = load_flags(progs[i], 2, -1, FRAGS, "falls off");
		struct mb_run r;

		r = run_mb(fd, &short_pkt, short_pkt.n, true,
			   PCV_XSK_META_MAGIC);
		cr_expect(r.ret == want[i][0] && r.flags == 0,
			  "program %u, short: %u, flags %#x", i, r.ret,
			  r.flags);
		r = run_mb(fd, &s.p[0], s.p[0].n, true, PCV_XSK_META_MAGIC);
		cr_expect(r.ret == want[i][1] && r.flags == (want[i][1] ==
			  XDP_TX ? PCV_XSK_META_UNFILTERED : 0u),
			  "program %u, jumbo: %u, flags %#x", i, r.ret,
			  r.flags);
		close(fd);
	}
	pkt_free(&s);
}

/* A refusal comes with the verifier's reason. */
Test(xdp_filter, verifier_reason)
{
	struct pcap_bpf_insn p[] = { insn(BPF_RET | BPF_K, 1, 0, 0) };
	char why[256];
	int fd, notmap;

	need_root();
	notmap = dup(0);
	cr_assert_geq(notmap, 0);
	fd = pcv__xdp_filter_load((const struct sock_filter *)p, 1, notmap, 0,
				  0, why, sizeof(why));
	if (fd == -EPERM)
		cr_skip_test("BPF_PROG_LOAD refused: EPERM");
	cr_assert_lt(fd, 0, "loaded with fd %d as a map", notmap);
	cr_log_info("with a non-map fd: %s (%s)", strerror(-fd), why);
	cr_assert(strncmp(why, "verifier: ", 10) == 0, "%s", why);
	close(notmap);
}

#endif /* __linux__ */
