// SPDX-License-Identifier: MIT
/*
 * test_dissect.c - unit tests for the packet dissector (capture/dissect.c).
 *
 * Frames are built byte by byte with the small builders below, for every
 * link type and shim we handle.  Each frame is dissected from a malloc'd
 * buffer of exactly its length, so ASan catches any read past caplen, and
 * most are also replayed at every prefix length: a prefix that stops
 * inside a header must say PCV_DF_TRUNCATED and agree with the whole frame
 * on what it did find; a prefix that keeps every header must give exactly
 * the whole frame's answer.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/dissect.h"
#include "pcv/error.h"
#include "../common/frames.h"

/* ---- frame builders ------------------------------------------------------ */

static void set16(struct frame *f, uint32_t off, uint16_t v)
{
	f->b[off] = (uint8_t)(v >> 8);
	f->b[off + 1] = (uint8_t)v;
}

static const uint8_t mac_a[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x0b };
static const uint8_t ip4_a[4] = { 192, 0, 2, 1 };
static const uint8_t ip4_b[4] = { 198, 51, 100, 7 };
static const uint8_t ip6_a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t ip6_b[16] = { 0x20, 0x01, 0x0d, 0xb8, [14] = 0xab,
				   [15] = 2 };

static void eth(struct frame *f, uint16_t type)
{
	putn(f, mac_b, 6);
	putn(f, mac_a, 6);
	put16(f, type);
}

/* One tag after an EtherType field that said 0x8100/0x88a8/0x9100. */
static void vlan(struct frame *f, uint16_t vid, uint16_t type)
{
	put16(f, (uint16_t)(5u << 13 | vid)); /* PCP 5 */
	put16(f, type);
}

static void mpls(struct frame *f, uint32_t label, bool bos)
{
	put32(f, label << 12 | (bos ? 0x100u : 0) | 64);
}

/* An IPv4 header; ipv4_done() fills in the total length. */
static uint32_t ipv4_opt(struct frame *f, uint8_t proto, uint16_t frag,
			 unsigned int optlen)
{
	uint32_t off = f->n;

	put8(f, (uint8_t)(0x40 | (5 + optlen / 4)));
	put8(f, 0);
	put16(f, 0); /* total length, later */
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	putn(f, ip4_a, 4);
	putn(f, ip4_b, 4);
	for (unsigned int i = 0; i < optlen; i++)
		put8(f, i + 1 < optlen ? 1 : 0); /* NOPs, then EOL */
	return off;
}

static uint32_t ipv4(struct frame *f, uint8_t proto)
{
	return ipv4_opt(f, proto, 0, 0);
}

static void ipv4_done(struct frame *f, uint32_t off)
{
	set16(f, off + 2, (uint16_t)(f->n - off));
}

static uint32_t ipv6(struct frame *f, uint8_t nh)
{
	uint32_t off = f->n;

	put32(f, 0x60000000);
	put16(f, 0); /* payload length, later */
	put8(f, nh);
	put8(f, 63);
	putn(f, ip6_a, 16);
	putn(f, ip6_b, 16);
	return off;
}

static void ipv6_done(struct frame *f, uint32_t off)
{
	set16(f, off + 4, (uint16_t)(f->n - off - 40));
}

/* Hop-by-hop, routing or destination options: (len8 + 1) * 8 bytes. */
static void ext6(struct frame *f, uint8_t nh, uint8_t len8)
{
	put8(f, nh);
	put8(f, len8);
	zeros(f, (len8 + 1u) * 8 - 2);
}

static void frag6(struct frame *f, uint8_t nh, uint16_t off, bool more,
		  uint32_t id)
{
	put8(f, nh);
	put8(f, 0);
	put16(f, (uint16_t)(off | (more ? 1 : 0)));
	put32(f, id);
}

/* Authentication header: (len4 + 2) * 4 bytes. */
static void ah6(struct frame *f, uint8_t nh, uint8_t len4)
{
	put8(f, nh);
	put8(f, len4);
	zeros(f, (len4 + 2u) * 4 - 2);
}

static void tcp_opt(struct frame *f, uint16_t sport, uint16_t dport,
		    uint8_t flags, unsigned int doff, unsigned int paylen)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, 1000);
	put32(f, 2000);
	put8(f, (uint8_t)(doff << 4));
	put8(f, flags);
	put16(f, 65535);
	put16(f, 0);
	put16(f, 0);
	for (unsigned int i = 20; i < doff * 4; i++)
		put8(f, 1); /* NOP options */
	for (unsigned int i = 0; i < paylen; i++)
		put8(f, (uint8_t)('a' + i % 26));
}

static void tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags,
		unsigned int paylen)
{
	tcp_opt(f, sport, dport, flags, 5, paylen);
}

static void udp(struct frame *f, uint16_t sport, uint16_t dport,
		unsigned int paylen)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, (uint16_t)(8 + paylen));
	put16(f, 0);
	for (unsigned int i = 0; i < paylen; i++)
		put8(f, (uint8_t)i);
}

static void icmp(struct frame *f, uint8_t type, uint8_t code)
{
	put8(f, type);
	put8(f, code);
	put16(f, 0);
	put32(f, 0x00010001); /* id, sequence */
	zeros(f, 8);
}

/* Ethernet / IPv4 / TCP 1234 -> 443 with a payload. */
static void eth_ipv4_tcp(struct frame *f, uint8_t flags, unsigned int paylen)
{
	uint32_t ip;

	eth(f, 0x0800);
	ip = ipv4(f, 6);
	tcp(f, 1234, 443, flags, paylen);
	ipv4_done(f, ip);
}

/* ---- dissecting ---------------------------------------------------------- */

/* Dissect the first @len bytes of @f from a buffer of exactly @len bytes. */
static int run_len(const struct frame *f, uint32_t len, int dlt,
		   struct pcv_dissect *d)
{
	uint8_t *buf = malloc(len ? len : 1);
	int r;

	cr_assert_not_null(buf);
	memcpy(buf, f->b, len);
	memset(d, 0xa5, sizeof(*d)); /* it must fill in every field */
	r = pcv_dissect(len ? buf : NULL, len, dlt, d);
	free(buf);
	return r;
}

static int run(const struct frame *f, int dlt, struct pcv_dissect *d)
{
	return run_len(f, f->n, dlt, d);
}

static void assert_same(const struct pcv_dissect *a,
			const struct pcv_dissect *b, uint32_t n)
{
	cr_assert_arr_eq(a->key.src, b->key.src, 16, "src at prefix %u", n);
	cr_assert_arr_eq(a->key.dst, b->key.dst, 16, "dst at prefix %u", n);
	cr_assert_eq(a->key.sport, b->key.sport, "sport at prefix %u", n);
	cr_assert_eq(a->key.dport, b->key.dport, "dport at prefix %u", n);
	cr_assert_eq(a->key.vlan, b->key.vlan, "vlan at prefix %u", n);
	cr_assert_eq(a->key.family, b->key.family, "family at prefix %u", n);
	cr_assert_eq(a->key.proto, b->key.proto, "proto at prefix %u", n);
	cr_assert_eq(a->l3_off, b->l3_off, "l3_off at prefix %u", n);
	cr_assert_eq(a->l4_off, b->l4_off, "l4_off at prefix %u", n);
	cr_assert_eq(a->payload_off, b->payload_off, "payload_off at %u", n);
	cr_assert_eq(a->ethertype, b->ethertype, "ethertype at prefix %u", n);
	cr_assert_arr_eq(a->vlan_ids, b->vlan_ids, sizeof(a->vlan_ids),
			 "vlan_ids at prefix %u", n);
	cr_assert_eq(a->nvlan, b->nvlan, "nvlan at prefix %u", n);
	cr_assert_eq(a->nmpls, b->nmpls, "nmpls at prefix %u", n);
	cr_assert_eq(a->tcp_flags, b->tcp_flags, "tcp_flags at prefix %u", n);
	cr_assert_eq(a->ttl, b->ttl, "ttl at prefix %u", n);
	cr_assert_eq(a->frag_off, b->frag_off, "frag_off at prefix %u", n);
	cr_assert_eq(a->frag_id, b->frag_id, "frag_id at prefix %u", n);
	cr_assert_eq(a->flags, b->flags, "flags %#x, want %#x at prefix %u",
		     a->flags, b->flags, n);
}

/* Invariants every answer keeps, whatever the bytes. */
static void assert_sane(int r, const struct pcv_dissect *d, uint32_t caplen)
{
	cr_assert(r == 0 || r == 1, "return %d", r);
	cr_assert_eq(r == 0, d->key.family != 0, "return %d family %u", r,
		     d->key.family);
	cr_assert(d->key.family == 0 || d->key.family == 4 ||
		  d->key.family == 6);
	cr_assert(d->l3_off == PCV_OFF_NONE || d->l3_off <= caplen);
	cr_assert(d->l4_off == PCV_OFF_NONE || d->l4_off <= caplen);
	if (d->flags & PCV_DF_L4)
		cr_assert(d->l4_off != PCV_OFF_NONE);
	if (d->payload_off != PCV_OFF_NONE) {
		cr_assert(d->flags & PCV_DF_L4);
		cr_assert_leq(d->payload_off, caplen);
		cr_assert_gt(d->payload_off, d->l4_off);
	}
	if (d->l4_off != PCV_OFF_NONE)
		cr_assert_gt(d->l4_off, d->l3_off);
	cr_assert_eq(d->nvlan != 0, !!(d->flags & PCV_DF_VLAN));
	cr_assert_eq(d->nmpls != 0, !!(d->flags & PCV_DF_MPLS));
	if (d->flags & PCV_DF_FRAG_LATER)
		cr_assert(d->flags & PCV_DF_FRAG);
}

static bool is_ext6(uint8_t nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60;
}

/*
 * Dissect @f whole, then every prefix 0..len.  Prefixes shorter than
 * @need (the end of the last header the whole frame reports) must be
 * TRUNCATED and never contradict the whole frame; longer ones must give
 * the same answer.  Return the whole frame's answer in @full.
 */
static int check_prefixes(const struct frame *f, int dlt, uint32_t need,
			  struct pcv_dissect *full)
{
	int rfull = run(f, dlt, full);

	assert_sane(rfull, full, f->n);
	cr_assert_leq(need, f->n);
	for (uint32_t n = 0; n <= f->n; n++) {
		struct pcv_dissect d;
		int r = run_len(f, n, dlt, &d);

		assert_sane(r, &d, n);
		if (n >= need) {
			cr_assert_eq(r, rfull, "return at prefix %u", n);
			assert_same(&d, full, n);
			continue;
		}
		cr_assert(d.flags & PCV_DF_TRUNCATED,
			  "prefix %u of %u (need %u) not truncated: %#x", n,
			  f->n, need, d.flags);
		cr_assert_eq(d.flags & ~full->flags & ~PCV_DF_TRUNCATED, 0,
			     "prefix %u: flags %#x not in %#x", n, d.flags,
			     full->flags);
		if (d.key.family) {
			cr_assert_eq(d.key.family, full->key.family);
			cr_assert_arr_eq(d.key.src, full->key.src, 16);
			cr_assert_arr_eq(d.key.dst, full->key.dst, 16);
			/* a cut IPv6 chain stops at an extension header */
			cr_assert(d.key.proto == full->key.proto ||
				  (d.key.family == 6 && is_ext6(d.key.proto)),
				  "prefix %u: proto %u", n, d.key.proto);
		}
		if (d.key.sport || d.key.dport) {
			cr_assert_eq(d.key.sport, full->key.sport);
			cr_assert_eq(d.key.dport, full->key.dport);
		}
		cr_assert_leq(d.nvlan, full->nvlan);
		cr_assert_leq(d.nmpls, full->nmpls);
		if (d.l3_off != PCV_OFF_NONE)
			cr_assert_eq(d.l3_off, full->l3_off);
		if (d.l4_off != PCV_OFF_NONE)
			cr_assert_eq(d.l4_off, full->l4_off);
	}
	return rfull;
}

static void assert_ipv4_key(const struct pcv_dissect *d, uint8_t proto)
{
	static const uint8_t zero[12];

	cr_assert_eq(d->key.family, 4);
	cr_assert_eq(d->key.proto, proto);
	cr_assert_arr_eq(d->key.src, ip4_a, 4);
	cr_assert_arr_eq(d->key.dst, ip4_b, 4);
	cr_assert_arr_eq(d->key.src + 4, zero, 12);
	cr_assert_arr_eq(d->key.dst + 4, zero, 12);
	cr_assert_eq(d->ttl, 64);
	cr_assert_eq(d->ethertype, 0x0800);
}

static void assert_ipv6_key(const struct pcv_dissect *d, uint8_t proto)
{
	cr_assert_eq(d->key.family, 6);
	cr_assert_eq(d->key.proto, proto);
	cr_assert_arr_eq(d->key.src, ip6_a, 16);
	cr_assert_arr_eq(d->key.dst, ip6_b, 16);
	cr_assert_eq(d->ttl, 63);
	cr_assert_eq(d->ethertype, 0x86dd);
}

#define BAD (PCV_DF_TRUNCATED | PCV_DF_MALFORMED)

/* ---- Ethernet, IPv4, transports ------------------------------------------ */

Test(dissect, ethernet_ipv4_tcp)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	eth_ipv4_tcp(&f, 0x12, 10); /* SYN|ACK */
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 54, &d), 0);
	assert_ipv4_key(&d, 6);
	cr_assert_eq(d.key.sport, 1234);
	cr_assert_eq(d.key.dport, 443);
	cr_assert_eq(d.key.vlan, 0);
	cr_assert_eq(d.l3_off, 14);
	cr_assert_eq(d.l4_off, 34);
	cr_assert_eq(d.payload_off, 54);
	cr_assert_eq(d.tcp_flags, 0x12);
	cr_assert_eq(d.frag_id, 0x1234);
	cr_assert_eq(d.frag_off, 0);
	cr_assert_eq(d.nvlan, 0);
	cr_assert_eq(d.nmpls, 0);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, tcp_flags_every_value)
{
	for (unsigned int fl = 0; fl < 256; fl++) {
		struct frame f = { 0 };
		struct pcv_dissect d;

		eth_ipv4_tcp(&f, (uint8_t)fl, 0);
		cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
		cr_assert_eq(d.tcp_flags, fl);
		cr_assert_eq(d.payload_off, 54);
		cr_assert_eq(d.flags, PCV_DF_L4);
	}
}

Test(dissect, tcp_options)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4(&f, 6);
	tcp_opt(&f, 80, 40000, 0x18, 15, 3);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 34 + 60, &d), 0);
	cr_assert_eq(d.payload_off, 34 + 60);
	cr_assert_eq(d.flags, PCV_DF_L4);

	/* options cut by the capture: the fixed header stands */
	cr_assert_eq(run_len(&f, 34 + 30, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4 | PCV_DF_TRUNCATED);
	cr_assert_eq(d.key.sport, 80);
	cr_assert_eq(d.tcp_flags, 0x18);
	cr_assert_eq(d.payload_off, PCV_OFF_NONE);
}

Test(dissect, tcp_data_offset_below_5)
{
	for (unsigned int doff = 0; doff < 5; doff++) {
		struct frame f = { 0 };
		struct pcv_dissect d;

		eth_ipv4_tcp(&f, 0x02, 4);
		f.b[34 + 12] = (uint8_t)(doff << 4);
		cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
		cr_assert_eq(d.flags, PCV_DF_MALFORMED, "doff %u", doff);
		cr_assert_eq(d.key.sport, 1234);
		cr_assert_eq(d.l4_off, 34);
		cr_assert_eq(d.payload_off, PCV_OFF_NONE);
	}
}

Test(dissect, ipv4_udp_with_ethernet_padding)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4(&f, 17);
	udp(&f, 53, 5353, 2);
	ipv4_done(&f, ip);
	zeros(&f, 60 - f.n); /* pad to the Ethernet minimum */
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 42, &d), 0);
	assert_ipv4_key(&d, 17);
	cr_assert_eq(d.key.sport, 53);
	cr_assert_eq(d.key.dport, 5353);
	cr_assert_eq(d.payload_off, 42);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, ipv4_total_length_bounds_l4)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	/* the IP length ends inside the TCP header, padding follows */
	eth_ipv4_tcp(&f, 0x10, 0);
	set16(&f, 14 + 2, 20 + 12);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.key.sport, 1234); /* what was inside stands */
	cr_assert_eq(d.l4_off, 34);

	/* shorter than the IP header itself */
	set16(&f, 14 + 2, 19);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.l4_off, PCV_OFF_NONE);

	/* 0, as TSO leaves it: the capture bounds the datagram */
	set16(&f, 14 + 2, 0);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4);
	cr_assert_eq(d.payload_off, 54);

	/* longer than the capture: a snaplen cut, the header is whole */
	set16(&f, 14 + 2, 1500);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, ipv4_options)
{
	for (unsigned int optlen = 4; optlen <= 40; optlen += 36) {
		struct frame f = { 0 };
		struct pcv_dissect d;
		uint32_t ip, l4 = 14 + 20 + optlen;

		eth(&f, 0x0800);
		ip = ipv4_opt(&f, 17, 0, optlen);
		udp(&f, 1000, 2000, 5);
		ipv4_done(&f, ip);
		cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, l4 + 8, &d), 0);
		assert_ipv4_key(&d, 17);
		cr_assert_eq(d.l4_off, l4);
		cr_assert_eq(d.payload_off, l4 + 8);
		cr_assert_eq(d.flags, PCV_DF_IP_OPTIONS | PCV_DF_L4);
	}
}

Test(dissect, ipv4_ihl_below_5)
{
	for (uint8_t ihl = 0; ihl < 5; ihl++) {
		struct frame f = { 0 };
		struct pcv_dissect d;

		eth_ipv4_tcp(&f, 0x02, 0);
		f.b[14] = (uint8_t)(0x40 | ihl);
		cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
		cr_assert_eq(d.flags, PCV_DF_MALFORMED, "ihl %u", ihl);
		assert_ipv4_key(&d, 6);
		cr_assert_eq(d.l4_off, PCV_OFF_NONE);
		cr_assert_eq(d.key.sport, 0);
	}
}

Test(dissect, ipv4_ihl_past_caplen)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	eth(&f, 0x0800);
	ipv4(&f, 6);
	f.b[14] = 0x4f; /* 60 bytes claimed, 20 captured */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_IP_OPTIONS | PCV_DF_TRUNCATED);
	cr_assert_eq(d.l4_off, PCV_OFF_NONE);
}

Test(dissect, ipv4_wrong_version)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	eth_ipv4_tcp(&f, 0x02, 0);
	f.b[14] = 0x65;
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.key.family, 0);
	cr_assert_eq(d.l3_off, 14);
	cr_assert_eq(d.ethertype, 0x0800);
}

Test(dissect, ipv4_first_fragment)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4_opt(&f, 17, 0x2000, 0); /* MF, offset 0 */
	udp(&f, 4444, 53, 100);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 42, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_FRAG | PCV_DF_L4);
	cr_assert_eq(d.frag_id, 0x1234);
	cr_assert_eq(d.frag_off, 0);
	cr_assert_eq(d.key.sport, 4444);
	cr_assert_eq(d.key.dport, 53);

	/* a first fragment may end inside the transport header */
	set16(&f, 14 + 2, 20 + 6);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_FRAG);
	cr_assert_eq(d.key.sport, 4444);
}

Test(dissect, ipv4_later_fragment)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4_opt(&f, 17, 185, 0); /* offset 1480, last */
	udp(&f, 4444, 53, 20);         /* just bytes: not a header */
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 34, &d), 0);
	assert_ipv4_key(&d, 17);
	cr_assert_eq(d.flags, PCV_DF_FRAG | PCV_DF_FRAG_LATER);
	cr_assert_eq(d.frag_off, 1480);
	cr_assert_eq(d.frag_id, 0x1234);
	cr_assert_eq(d.key.sport, 0);
	cr_assert_eq(d.key.dport, 0);
	cr_assert_eq(d.l4_off, PCV_OFF_NONE);
	cr_assert_eq(d.payload_off, PCV_OFF_NONE);

	/* a middle fragment: offset and MF */
	set16(&f, 14 + 6, 0x2000 | 1);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_FRAG | PCV_DF_FRAG_LATER);
	cr_assert_eq(d.frag_off, 8);

	/* DF alone is no fragment */
	set16(&f, 14 + 6, 0x4000);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, icmp)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4(&f, 1);
	icmp(&f, 3, 4); /* fragmentation needed */
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 42, &d), 0);
	assert_ipv4_key(&d, 1);
	cr_assert_eq(d.key.sport, 3);
	cr_assert_eq(d.key.dport, 4);
	cr_assert_eq(d.l4_off, 34);
	cr_assert_eq(d.payload_off, 42);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, sctp)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4(&f, 132);
	put16(&f, 2905);
	put16(&f, 3868);
	put32(&f, 0xdeadbeef); /* verification tag */
	put32(&f, 0);          /* checksum */
	put8(&f, 1);           /* an INIT chunk header */
	put8(&f, 0);
	put16(&f, 4);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 46, &d), 0);
	assert_ipv4_key(&d, 132);
	cr_assert_eq(d.key.sport, 2905);
	cr_assert_eq(d.key.dport, 3868);
	cr_assert_eq(d.payload_off, 46);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, udplite_and_bad_udp_length)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4(&f, 136);
	udp(&f, 7000, 7001, 12);
	set16(&f, 34 + 4, 8); /* checksum coverage: header only */
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 42, &d), 0);
	assert_ipv4_key(&d, 136);
	cr_assert_eq(d.key.sport, 7000);
	cr_assert_eq(d.key.dport, 7001);
	cr_assert_eq(d.flags, PCV_DF_L4);

	f.b[14 + 9] = 17;
	set16(&f, 34 + 4, 5); /* a UDP length below its own header */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4 | PCV_DF_MALFORMED);
}

Test(dissect, unknown_ip_protocol)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x0800);
	ip = ipv4(&f, 47); /* GRE: not ours to open */
	put32(&f, 0x00000800);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 34, &d), 0);
	assert_ipv4_key(&d, 47);
	cr_assert_eq(d.l4_off, 34);
	cr_assert_eq(d.payload_off, PCV_OFF_NONE);
	cr_assert_eq(d.flags, 0);
}

Test(dissect, arp)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	eth(&f, 0x0806);
	put16(&f, 1);
	put16(&f, 0x0800);
	put8(&f, 6);
	put8(&f, 4);
	put16(&f, 1);
	putn(&f, mac_a, 6);
	putn(&f, ip4_a, 4);
	zeros(&f, 6);
	putn(&f, ip4_b, 4);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 14, &d), 1);
	cr_assert_eq(d.ethertype, 0x0806);
	cr_assert_eq(d.l3_off, 14);
	cr_assert_eq(d.l4_off, PCV_OFF_NONE);
	cr_assert_eq(d.payload_off, PCV_OFF_NONE);
	cr_assert_eq(d.key.family, 0);
	cr_assert_eq(d.flags, 0);
}

/* ---- VLAN, MPLS, LLC/SNAP, PPPoE ------------------------------------------ */

Test(dissect, vlan_single)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x8100);
	vlan(&f, 100, 0x0800);
	ip = ipv4(&f, 6);
	tcp(&f, 1, 2, 0x01, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 58, &d), 0);
	assert_ipv4_key(&d, 6);
	cr_assert_eq(d.nvlan, 1);
	cr_assert_eq(d.vlan_ids[0], 100);
	cr_assert_eq(d.vlan_ids[1], 0);
	cr_assert_eq(d.key.vlan, 100);
	cr_assert_eq(d.l3_off, 18);
	cr_assert_eq(d.flags, PCV_DF_VLAN | PCV_DF_L4);
}

Test(dissect, vlan_double_and_triple)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x88a8);
	vlan(&f, 10, 0x8100);
	vlan(&f, 20, 0x86dd);
	ip = ipv6(&f, 17);
	udp(&f, 546, 547, 4);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 22 + 48, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.nvlan, 2);
	cr_assert_eq(d.vlan_ids[0], 10);
	cr_assert_eq(d.vlan_ids[1], 20);
	cr_assert_eq(d.key.vlan, 10);
	cr_assert_eq(d.l3_off, 22);

	f.n = 0;
	eth(&f, 0x9100);
	vlan(&f, 4094, 0x88a8);
	vlan(&f, 30, 0x8100);
	vlan(&f, 40, 0x0800);
	ip = ipv4(&f, 17);
	udp(&f, 68, 67, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 26 + 28, &d), 0);
	cr_assert_eq(d.nvlan, 3);
	cr_assert_eq(d.vlan_ids[0], 4094);
	cr_assert_eq(d.vlan_ids[1], 30);
	cr_assert_eq(d.key.vlan, 4094);
	cr_assert_eq(d.l3_off, 26);
	cr_assert_eq(d.key.sport, 68);
}

Test(dissect, vlan_deep_stacks)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x8100);
	for (int i = 0; i < 20; i++)
		vlan(&f, (uint16_t)(i + 1), i == 19 ? 0x0800 : 0x8100);
	ip = ipv4(&f, 17);
	udp(&f, 1, 2, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.nvlan, 20);
	cr_assert_eq(d.vlan_ids[0], 1);
	cr_assert_eq(d.vlan_ids[1], 2);
	cr_assert_eq(d.l3_off, 14 + 80);
	cr_assert_eq(d.flags, PCV_DF_VLAN | PCV_DF_L4);

	/* more tags than nvlan can count: the walk gives up */
	f.n = 0;
	eth(&f, 0x8100);
	for (int i = 0; i < 300; i++)
		vlan(&f, 7, 0x8100);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.nvlan, 255);
	cr_assert(d.flags & PCV_DF_MALFORMED);
}

Test(dissect, mpls_one_label)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x8847);
	mpls(&f, 16, true);
	ip = ipv4(&f, 6);
	tcp(&f, 179, 33000, 0x18, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 58, &d), 0);
	assert_ipv4_key(&d, 6);
	cr_assert_eq(d.nmpls, 1);
	cr_assert_eq(d.l3_off, 18);
	cr_assert_eq(d.key.sport, 179);
	cr_assert_eq(d.flags, PCV_DF_MPLS | PCV_DF_L4);
}

Test(dissect, mpls_three_labels_ipv6)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x8848);
	mpls(&f, 100, false);
	mpls(&f, 200, false);
	mpls(&f, 300, true);
	ip = ipv6(&f, 6);
	tcp(&f, 22, 50000, 0x10, 8);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 26 + 60, &d), 0);
	assert_ipv6_key(&d, 6);
	cr_assert_eq(d.nmpls, 3);
	cr_assert_eq(d.l3_off, 26);
	cr_assert_eq(d.l4_off, 66);
	cr_assert_eq(d.payload_off, 86);
	cr_assert_eq(d.flags, PCV_DF_MPLS | PCV_DF_L4);
}

Test(dissect, mpls_odd_stacks)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	/* a pseudowire control word: neither IPv4 nor IPv6 */
	eth(&f, 0x8847);
	mpls(&f, 16, true);
	put32(&f, 0);
	zeros(&f, 14);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 19, &d), 1);
	cr_assert_eq(d.l3_off, 18);
	cr_assert_eq(d.ethertype, 0x8847);
	cr_assert_eq(d.flags, PCV_DF_MPLS);

	/* no bottom of stack within the walk */
	f.n = 0;
	eth(&f, 0x8847);
	for (int i = 0; i < PCV_DISSECT_MAX_MPLS + 1; i++)
		mpls(&f, 16, false);
	zeros(&f, 20);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.nmpls, PCV_DISSECT_MAX_MPLS);
	cr_assert_eq(d.flags, PCV_DF_MPLS | PCV_DF_MALFORMED);
}

Test(dissect, llc_snap)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0); /* length, later */
	put8(&f, 0xaa);
	put8(&f, 0xaa);
	put8(&f, 0x03);
	put8(&f, 0);
	put16(&f, 0);
	put16(&f, 0x0800);
	ip = ipv4(&f, 17);
	udp(&f, 161, 162, 3);
	ipv4_done(&f, ip);
	set16(&f, 12, (uint16_t)(f.n - 14));
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 22 + 28, &d), 0);
	assert_ipv4_key(&d, 17);
	cr_assert_eq(d.l3_off, 22);
	cr_assert_eq(d.key.sport, 161);
	cr_assert_eq(d.flags, PCV_DF_L4);

	/* a SNAP OUI that is not an EtherType space (Cisco CDP) */
	f.b[19] = 0x0c;
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.ethertype, 0);
	cr_assert_eq(d.l3_off, 22);
}

Test(dissect, llc_stp)
{
	struct frame f = { 0 };
	struct pcv_dissect d;

	putn(&f, "\x01\x80\xc2\x00\x00\x00", 6);
	putn(&f, mac_a, 6);
	put16(&f, 38);
	put8(&f, 0x42);
	put8(&f, 0x42);
	put8(&f, 0x03);
	zeros(&f, 35);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 17, &d), 1);
	cr_assert_eq(d.ethertype, 0);
	cr_assert_eq(d.l3_off, 17);
	cr_assert_eq(d.flags, 0);
}

Test(dissect, pppoe)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x8864);
	put8(&f, 0x11);
	put8(&f, 0);
	put16(&f, 0x0042);
	put16(&f, 0); /* length */
	put16(&f, 0x0021);
	ip = ipv4(&f, 6);
	tcp(&f, 5000, 80, 0x02, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 22 + 40, &d), 0);
	assert_ipv4_key(&d, 6);
	cr_assert_eq(d.l3_off, 22);
	cr_assert_eq(d.key.dport, 80);
	cr_assert_eq(d.flags, PCV_DF_L4);

	f.n = 20;
	put16(&f, 0x0057);
	ip = ipv6(&f, 58);
	icmp(&f, 128, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 22 + 48, &d), 0);
	assert_ipv6_key(&d, 58);
	cr_assert_eq(d.key.sport, 128);

	set16(&f, 20, 0xc021); /* LCP */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.ethertype, 0x8864);
	cr_assert_eq(d.l3_off, 22);
	cr_assert_eq(d.flags, 0);

	f.b[14] = 0x21; /* version 2 */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
}

/* ---- IPv6 ---------------------------------------------------------------- */

Test(dissect, ipv6_udp)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 17);
	udp(&f, 443, 55555, 30);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 62, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.key.sport, 443);
	cr_assert_eq(d.key.dport, 55555);
	cr_assert_eq(d.l3_off, 14);
	cr_assert_eq(d.l4_off, 54);
	cr_assert_eq(d.payload_off, 62);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, ipv6_extension_chain)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip, l4 = 14 + 40 + 8 + 24 + 16;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 0);
	ext6(&f, 43, 0); /* hop-by-hop, 8 */
	ext6(&f, 60, 2); /* routing, 24 */
	ext6(&f, 6, 1);  /* destination options, 16 */
	tcp(&f, 8080, 1025, 0x11, 5);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, l4 + 20, &d), 0);
	assert_ipv6_key(&d, 6);
	cr_assert_eq(d.l4_off, l4);
	cr_assert_eq(d.payload_off, l4 + 20);
	cr_assert_eq(d.tcp_flags, 0x11);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

Test(dissect, ipv6_ah_and_terminals)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 51);
	ah6(&f, 17, 4); /* 24 bytes */
	udp(&f, 500, 500, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 54 + 24 + 8, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.l4_off, 54 + 24);

	/* ESP, mobility and "no next header" end the walk */
	static const uint8_t ends[] = { 50, 135, 59 };

	for (unsigned int i = 0; i < sizeof(ends); i++) {
		f.n = 0;
		eth(&f, 0x86dd);
		ip = ipv6(&f, 60);
		ext6(&f, ends[i], 0);
		zeros(&f, 16);
		ipv6_done(&f, ip);
		cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 62, &d), 0);
		assert_ipv6_key(&d, ends[i]);
		cr_assert_eq(d.l4_off, ends[i] == 59 ? PCV_OFF_NONE : 62);
		cr_assert_eq(d.payload_off, PCV_OFF_NONE);
		cr_assert_eq(d.flags, 0);
	}
}

Test(dissect, ipv6_fragments)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 44);
	frag6(&f, 17, 0, true, 0xcafef00d);
	udp(&f, 9999, 53, 40);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 70, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.flags, PCV_DF_FRAG | PCV_DF_L4);
	cr_assert_eq(d.frag_id, 0xcafef00d);
	cr_assert_eq(d.frag_off, 0);
	cr_assert_eq(d.key.sport, 9999);
	cr_assert_eq(d.l4_off, 62);

	set16(&f, 54 + 2, 1232); /* offset 1232, last */
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 62, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.flags, PCV_DF_FRAG | PCV_DF_FRAG_LATER);
	cr_assert_eq(d.frag_off, 1232);
	cr_assert_eq(d.frag_id, 0xcafef00d);
	cr_assert_eq(d.key.sport, 0);
	cr_assert_eq(d.l4_off, PCV_OFF_NONE);

	set16(&f, 54 + 2, 0); /* an atomic fragment: a whole datagram */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4);
	cr_assert_eq(d.frag_id, 0xcafef00d);
}

Test(dissect, ipv6_chain_bound)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	/* exactly the bound: walked */
	eth(&f, 0x86dd);
	ip = ipv6(&f, 60);
	for (int i = 0; i < PCV_DISSECT_MAX_EXTHDR; i++)
		ext6(&f, i == PCV_DISSECT_MAX_EXTHDR - 1 ? 17 : 60, 0);
	udp(&f, 1, 2, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.key.proto, 17);
	cr_assert_eq(d.flags, PCV_DF_L4);

	/* one more: given up as malformed, no transport */
	f.n = 0;
	eth(&f, 0x86dd);
	ip = ipv6(&f, 60);
	for (int i = 0; i < PCV_DISSECT_MAX_EXTHDR + 1; i++)
		ext6(&f, i == PCV_DISSECT_MAX_EXTHDR ? 17 : 60, 0);
	udp(&f, 1, 2, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.key.family, 6);
	cr_assert_eq(d.key.proto, 60);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.l4_off, PCV_OFF_NONE);
}

Test(dissect, ipv6_payload_length_bounds)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 0);
	ext6(&f, 6, 0);
	tcp(&f, 1, 2, 0x04, 0);
	ipv6_done(&f, ip);

	set16(&f, 14 + 4, 4); /* ends inside the hop-by-hop header */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.key.proto, 0);

	set16(&f, 14 + 4, 8 + 10); /* ends inside TCP */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.key.proto, 6);

	set16(&f, 14 + 4, 0); /* jumbogram or TSO: the capture bounds it */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 0);
	cr_assert_eq(d.flags, PCV_DF_L4);

	f.b[14] = 0x45; /* not version 6 */
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d), 1);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
}

Test(dissect, icmpv6)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 58);
	icmp(&f, 135, 0); /* neighbour solicitation */
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_EN10MB, 62, &d), 0);
	assert_ipv6_key(&d, 58);
	cr_assert_eq(d.key.sport, 135);
	cr_assert_eq(d.key.dport, 0);
	cr_assert_eq(d.payload_off, 62);
	cr_assert_eq(d.flags, PCV_DF_L4);
}

/* ---- other link types ---------------------------------------------------- */

Test(dissect, linux_sll)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	put16(&f, 0);     /* to us */
	put16(&f, 1);     /* ARPHRD_ETHER */
	put16(&f, 6);
	putn(&f, mac_a, 6);
	zeros(&f, 2);
	put16(&f, 0x0800);
	ip = ipv4(&f, 6);
	tcp(&f, 2222, 22, 0x10, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_LINUX_SLL, 56, &d), 0);
	assert_ipv4_key(&d, 6);
	cr_assert_eq(d.l3_off, 16);
	cr_assert_eq(d.key.dport, 22);

	/* ETH_P_802_2: an LLC/SNAP header first */
	f.n = 14;
	put16(&f, 4);
	putn(&f, "\xaa\xaa\x03\x00\x00\x00\x86\xdd", 8);
	ip = ipv6(&f, 17);
	udp(&f, 5, 6, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_LINUX_SLL, 72, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.l3_off, 24);

	/* nlmon: a netlink family, never an EtherType */
	set16(&f, 2, 824);
	set16(&f, 14, 0x0800);
	cr_assert_eq(run(&f, PCV_DLT_LINUX_SLL, &d), 1);
	cr_assert_eq(d.l3_off, 16);
	cr_assert_eq(d.flags, 0);
}

Test(dissect, linux_sll2)
{
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	put16(&f, 0x86dd);
	put16(&f, 0);
	put32(&f, 3);     /* ifindex */
	put16(&f, 1);     /* ARPHRD_ETHER */
	put8(&f, 4);      /* outgoing */
	put8(&f, 6);
	putn(&f, mac_b, 6);
	zeros(&f, 2);
	ip = ipv6(&f, 6);
	tcp(&f, 40000, 443, 0x02, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_LINUX_SLL2, 80, &d), 0);
	assert_ipv6_key(&d, 6);
	cr_assert_eq(d.l3_off, 20);
	cr_assert_eq(d.l4_off, 60);
	cr_assert_eq(d.key.dport, 443);

	set16(&f, 0, 0x8100); /* a tag the kernel did not strip */
	f.n = 20;
	vlan(&f, 55, 0x0806);
	zeros(&f, 28);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_LINUX_SLL2, 24, &d), 1);
	cr_assert_eq(d.key.vlan, 55);
	cr_assert_eq(d.ethertype, 0x0806);
}

Test(dissect, raw_ip)
{
	static const int dlts[] = { PCV_DLT_RAW, 101, PCV_DLT_IPV4 };
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	ip = ipv4(&f, 17);
	udp(&f, 123, 123, 48);
	ipv4_done(&f, ip);
	for (unsigned int i = 0; i < 3; i++) {
		cr_assert_eq(check_prefixes(&f, dlts[i], 28, &d), 0);
		assert_ipv4_key(&d, 17);
		cr_assert_eq(d.l3_off, 0);
		cr_assert_eq(d.l4_off, 20);
		cr_assert_eq(d.key.sport, 123);
	}

	f.n = 0;
	ip = ipv6(&f, 17);
	udp(&f, 123, 123, 48);
	ipv6_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_RAW, 48, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_IPV6, 48, &d), 0);
	assert_ipv6_key(&d, 17);
	cr_assert_eq(d.l4_off, 40);

	/* the wrong version for the link type */
	cr_assert_eq(run(&f, PCV_DLT_IPV4, &d), 1);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);

	f.b[0] = 0x50; /* neither */
	cr_assert_eq(run(&f, PCV_DLT_RAW, &d), 1);
	cr_assert_eq(d.flags, PCV_DF_MALFORMED);
	cr_assert_eq(d.l3_off, 0);
}

static void af_word(struct frame *f, uint32_t af, bool big)
{
	if (big) {
		put32(f, af);
	} else {
		put8(f, (uint8_t)af);
		put8(f, (uint8_t)(af >> 8));
		put8(f, (uint8_t)(af >> 16));
		put8(f, (uint8_t)(af >> 24));
	}
}

Test(dissect, bsd_null_and_loop)
{
	static const uint32_t af6[] = { 10, 24, 28, 30 };
	struct frame f = { 0 };
	struct pcv_dissect d;
	uint32_t ip;

	for (int big = 0; big < 2; big++) {
		f.n = 0;
		af_word(&f, 2, big);
		ip = ipv4(&f, 1);
		icmp(&f, 8, 0);
		ipv4_done(&f, ip);
		cr_assert_eq(check_prefixes(&f, PCV_DLT_NULL, 32, &d), 0);
		assert_ipv4_key(&d, 1);
		cr_assert_eq(d.l3_off, 4);
		cr_assert_eq(d.key.sport, 8);

		for (unsigned int i = 0; i < 4; i++) {
			f.n = 0;
			af_word(&f, af6[i], big);
			ip = ipv6(&f, 58);
			icmp(&f, 129, 0);
			ipv6_done(&f, ip);
			cr_assert_eq(check_prefixes(&f, PCV_DLT_NULL, 52, &d), 0);
			assert_ipv6_key(&d, 58);
			cr_assert_eq(d.key.sport, 129);
			/* DLT_LOOP: network order only */
			cr_assert_eq(run(&f, PCV_DLT_LOOP, &d), big ? 0 : 1);
		}
	}

	f.n = 0;
	af_word(&f, 2, true);
	ip = ipv4(&f, 6);
	tcp(&f, 1, 2, 0, 0);
	ipv4_done(&f, ip);
	cr_assert_eq(check_prefixes(&f, PCV_DLT_LOOP, 44, &d), 0);
	assert_ipv4_key(&d, 6);

	set16(&f, 2, 7); /* AF_7: not IP */
	cr_assert_eq(run(&f, PCV_DLT_NULL, &d), 1);
	cr_assert_eq(d.l3_off, 4);
	cr_assert_eq(d.flags, 0);
}

Test(dissect, unsupported_link_type)
{
	static const int bad[] = { -1, 2, 14, 105, 127, 147, 100000 };
	struct frame f = { 0 };
	struct pcv_dissect d;

	eth_ipv4_tcp(&f, 0x02, 0);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(run(&f, bad[i], &d), PCV_ELINKTYPE);
		cr_assert_not(pcv_dlt_supported(bad[i]));
		cr_assert_eq(d.l3_off, PCV_OFF_NONE);
		cr_assert_eq(d.l4_off, PCV_OFF_NONE);
		cr_assert_eq(d.payload_off, PCV_OFF_NONE);
		cr_assert_eq(d.flags, 0);
		cr_assert_eq(d.key.family, 0);
		cr_assert_eq(d.nvlan, 0);
	}
	cr_assert(pcv_dlt_supported(PCV_DLT_NULL));
	cr_assert(pcv_dlt_supported(PCV_DLT_EN10MB));
	cr_assert(pcv_dlt_supported(PCV_DLT_RAW));
	cr_assert(pcv_dlt_supported(PCV_DLT_LOOP));
	cr_assert(pcv_dlt_supported(PCV_DLT_LINUX_SLL));
	cr_assert(pcv_dlt_supported(PCV_DLT_LINUX_SLL2));
	cr_assert(pcv_dlt_supported(PCV_DLT_IPV4));
	cr_assert(pcv_dlt_supported(PCV_DLT_IPV6));
}

Test(dissect, short_link_headers)
{
	static const struct {
		int dlt;
		uint32_t hlen;
	} links[] = {
		{ PCV_DLT_EN10MB, 14 }, { PCV_DLT_LINUX_SLL, 16 },
		{ PCV_DLT_LINUX_SLL2, 20 }, { PCV_DLT_NULL, 4 },
		{ PCV_DLT_LOOP, 4 }, { PCV_DLT_RAW, 1 },
		{ PCV_DLT_IPV4, 20 }, { PCV_DLT_IPV6, 40 },
	};
	struct frame f = { 0 };

	zeros(&f, 64);
	for (unsigned int i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		for (uint32_t n = 0; n < links[i].hlen; n++) {
			struct pcv_dissect d;

			cr_assert_eq(run_len(&f, n, links[i].dlt, &d), 1);
			cr_assert_eq(d.flags, PCV_DF_TRUNCATED, "dlt %d len %u",
				     links[i].dlt, n);
			cr_assert_eq(d.key.family, 0);
		}
	}
}

/* Mutated frames of every kind, each from an exactly sized buffer. */
Test(dissect, random_mutations_stay_in_bounds)
{
	static const int dlts[] = { PCV_DLT_EN10MB, PCV_DLT_LINUX_SLL,
				    PCV_DLT_LINUX_SLL2, PCV_DLT_NULL,
				    PCV_DLT_RAW };
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	struct frame base = { 0 };
	uint32_t ip;

	eth(&base, 0x8100);
	vlan(&base, 9, 0x86dd);
	ip = ipv6(&base, 0);
	ext6(&base, 44, 0);
	frag6(&base, 6, 0, true, 1);
	tcp_opt(&base, 1, 2, 0x02, 8, 16);
	ipv6_done(&base, ip);

	for (int i = 0; i < 20000; i++) {
		struct frame f = base;
		struct pcv_dissect d;
		int r, nflip;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		nflip = 1 + (int)(x % 4);
		for (int k = 0; k < nflip; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			f.b[(x >> 8) % 80] = (uint8_t)(x >> 32);
		}
		f.n = (uint32_t)((x >> 40) % (base.n + 1));
		r = run(&f, dlts[(x >> 20) % 5], &d);
		assert_sane(r, &d, f.n);
	}
}

/* ---- flow key ------------------------------------------------------------ */

static struct pcv_flow_key key4(uint32_t a, uint32_t b, uint16_t sp,
				uint16_t dp, uint8_t proto)
{
	struct pcv_flow_key k = { .sport = sp, .dport = dp, .family = 4,
				  .proto = proto };

	k.src[0] = (uint8_t)(a >> 24);
	k.src[1] = (uint8_t)(a >> 16);
	k.src[2] = (uint8_t)(a >> 8);
	k.src[3] = (uint8_t)a;
	k.dst[0] = (uint8_t)(b >> 24);
	k.dst[1] = (uint8_t)(b >> 16);
	k.dst[2] = (uint8_t)(b >> 8);
	k.dst[3] = (uint8_t)b;
	return k;
}

static struct pcv_flow_key reversed(const struct pcv_flow_key *k)
{
	struct pcv_flow_key r = *k;

	memcpy(r.src, k->dst, 16);
	memcpy(r.dst, k->src, 16);
	r.sport = k->dport;
	r.dport = k->sport;
	return r;
}

Test(dissect, flow_key_canon)
{
	struct pcv_flow_key k = key4(0x0a000002, 0x0a000001, 80, 5000, 6);
	struct pcv_flow_key r = reversed(&k), c;

	cr_assert(pcv_flow_key_canon(&k));
	cr_assert_not(pcv_flow_key_canon(&r));
	cr_assert_arr_eq(&k, &r, sizeof(k));
	cr_assert_eq(k.src[3], 1);
	cr_assert_eq(k.sport, 5000);
	cr_assert_eq(k.dport, 80);
	c = k;
	cr_assert_not(pcv_flow_key_canon(&c)); /* idempotent */
	cr_assert_arr_eq(&c, &k, sizeof(k));

	/* same address both ends: the ports decide */
	k = key4(0x7f000001, 0x7f000001, 9000, 1000, 17);
	cr_assert(pcv_flow_key_canon(&k));
	cr_assert_eq(k.sport, 1000);
	cr_assert_eq(k.dport, 9000);
	cr_assert_not(pcv_flow_key_canon(&k));

	/* ICMP: addresses swap, type and code stay put */
	k = key4(0x0a000002, 0x0a000001, 0, 0, 1);
	k.sport = 8;
	cr_assert(pcv_flow_key_canon(&k));
	cr_assert_eq(k.src[3], 1);
	cr_assert_eq(k.sport, 8);
	cr_assert_eq(k.dport, 0);
}

Test(dissect, flow_key_hash_symmetric)
{
	struct pcv_flow_key a = key4(0xc0000201, 0xc6336407, 1234, 443, 6);
	struct pcv_flow_key b = reversed(&a);

	cr_assert_eq(pcv_flow_key_hash(&a), pcv_flow_key_hash(&b));
	b.sport++;
	cr_assert_neq(pcv_flow_key_hash(&a), pcv_flow_key_hash(&b));
	b = a;
	b.vlan = 1;
	cr_assert_neq(pcv_flow_key_hash(&a), pcv_flow_key_hash(&b));
	b = a;
	b.proto = 17;
	cr_assert_neq(pcv_flow_key_hash(&a), pcv_flow_key_hash(&b));

	/* from real frames: a reply hashes like its request */
	struct frame f = { 0 };
	struct pcv_dissect d1, d2;
	uint32_t ip;

	eth(&f, 0x86dd);
	ip = ipv6(&f, 17);
	udp(&f, 53, 40000, 0);
	ipv6_done(&f, ip);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d1), 0);
	memcpy(f.b + 22, ip6_b, 16);
	memcpy(f.b + 38, ip6_a, 16);
	set16(&f, 54, 40000);
	set16(&f, 56, 53);
	cr_assert_eq(run(&f, PCV_DLT_EN10MB, &d2), 0);
	cr_assert_eq(pcv_flow_key_hash(&d1.key), pcv_flow_key_hash(&d2.key));
	cr_assert_neq(memcmp(&d1.key, &d2.key, sizeof(d1.key)), 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(dissect, flow_key_hash_spreads)
{
	enum { N = 65536 };
	uint64_t *h = malloc(N * sizeof(*h));
	static uint8_t seen[N];
	unsigned int distinct = 0;

	cr_assert_not_null(h);
	/* one port apart, and low 16 bits into 65536 buckets */
	for (unsigned int i = 0; i < N; i++) {
		struct pcv_flow_key k = key4(0x0a000001, 0x0a000002,
					     (uint16_t)i, 443, 6);

		h[i] = pcv_flow_key_hash(&k);
		if (!seen[h[i] & (N - 1)]++)
			distinct++;
	}
	qsort(h, N, sizeof(*h), cmp_u64);
	for (unsigned int i = 1; i < N; i++)
		cr_assert_neq(h[i], h[i - 1], "hash collision");
	/* random placement fills 1 - 1/e = 63% of the buckets */
	cr_assert_gt(distinct, N * 60 / 100, "%u buckets", distinct);
	cr_assert_lt(distinct, N * 67 / 100, "%u buckets", distinct);
	free(h);
}
