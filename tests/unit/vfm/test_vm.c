// SPDX-License-Identifier: MIT
/*
 * test_vm.c - unit tests for the VFM interpreter and flow table
 * (capture/vfm.c): every opcode with exact values and edge cases, the
 * packet probes (IP_VER, IPV6_EXT, HASH5/6, FIELD, FLOW_HASH), the flow
 * table, the instruction budget, the decision rules and statistics, the
 * upstream example filters of spec §7.1 on the nine test packets of §7,
 * and the legacy numbering.
 *
 * Programs are written in assembly (pcv_vfm_asm) and every frame is run
 * from a malloc'd copy of exactly its length, so ASan sees over-reads.
 * Most expression tests run twice: as written, and behind a never-taken
 * backward jump, which makes the engine count the budget and turns its
 * superinstructions off, so both interpreter paths are checked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/dissect.h"
#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vfm-int.h"
#include "vectors.h"

/* ---- frames -------------------------------------------------------------- */

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t v4_a[4] = { 192, 168, 1, 100 };
static const uint8_t v4_b[4] = { 10, 0, 0, 1 };
static const uint8_t v6_a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t v6_lo[16] = { [15] = 1 };

static void eth(struct frame *f, uint16_t type)
{
	f->n = 0;
	putn(f, mac_b, 6);
	putn(f, mac_a, 6);
	put16(f, type);
}

/* IPv4 header; IHL words, no checksum. */
static void ip4(struct frame *f, unsigned ihl, uint8_t proto, uint16_t l4len,
		uint16_t frag, const uint8_t *src, const uint8_t *dst)
{
	put8(f, (uint8_t)(0x40 | ihl));
	put8(f, 0);
	put16(f, (uint16_t)(ihl * 4 + l4len));
	put16(f, 0x1234);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	putn(f, src, 4);
	putn(f, dst, 4);
	zeros(f, (ihl - 5) * 4);
}

static void tcp(struct frame *f, uint16_t sport, uint16_t dport, uint8_t flags)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, 1);
	put32(f, 0);
	put8(f, 0x50);
	put8(f, flags);
	put16(f, 65535);
	put32(f, 0);
}

static void udp(struct frame *f, uint16_t sport, uint16_t dport,
		uint16_t paylen)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, (uint16_t)(8 + paylen));
	put16(f, 0);
	zeros(f, paylen);
}

static void v4_tcp(struct frame *f, unsigned ihl, uint16_t sport,
		   uint16_t dport, uint8_t flags)
{
	eth(f, 0x0800);
	ip4(f, ihl, 6, 20, 0x4000, v4_a, v4_b);
	tcp(f, sport, dport, flags);
}

static void v4_udp(struct frame *f, uint16_t sport, uint16_t dport,
		   uint16_t paylen)
{
	eth(f, 0x0800);
	ip4(f, 5, 17, (uint16_t)(8 + paylen), 0, v4_a, v4_b);
	udp(f, sport, dport, paylen);
}

static void v6_tcp(struct frame *f, uint16_t sport, uint16_t dport)
{
	eth(f, 0x86dd);
	tv_ip6(f, 6, 20, v6_a, v6_lo);
	tcp(f, sport, dport, 0x02);
}

/* The nine test packets of spec §7. */
static void test_packet(struct frame *f, int i)
{
	switch (i) {
	case 1: /* v4 TCP SYN 1234 -> 80 */
		v4_tcp(f, 5, 1234, 80, 0x02);
		break;
	case 2: /* v4 TCP ACK 1234 -> 443 */
		v4_tcp(f, 5, 1234, 443, 0x10);
		break;
	case 3: /* v4 UDP 1234 -> 53 */
		v4_udp(f, 1234, 53, 8);
		break;
	case 4: /* v4 UDP 53 -> 1234, IP total length 628 */
		v4_udp(f, 53, 1234, 600);
		break;
	case 5: /* v4 ICMP echo */
		eth(f, 0x0800);
		ip4(f, 5, 1, 32, 0, v4_a, v4_b);
		put8(f, 8);
		zeros(f, 31);
		break;
	case 6: /* v4 TCP SYN -> 80 with IHL 6 */
		v4_tcp(f, 6, 1234, 80, 0x02);
		break;
	case 7: /* v6 TCP 443 -> 80, 2001:db8::1 -> ::1 */
		v6_tcp(f, 443, 80);
		break;
	case 8: /* ARP */
		eth(f, 0x0806);
		put16(f, 1);
		put16(f, 0x0800);
		put8(f, 6);
		put8(f, 4);
		put16(f, 1);
		putn(f, mac_a, 6);
		putn(f, v4_a, 4);
		zeros(f, 6);
		putn(f, v4_b, 4);
		break;
	default: /* runt: an Ethernet header and 6 bytes of IPv4 */
		eth(f, 0x0800);
		put8(f, 0x45);
		zeros(f, 5);
		break;
	}
}

static const uint32_t test_packet_len[10] = { 0,  54, 54, 50, 642,
					      66, 58, 74, 42, 20 };

/* IPv6, Hop-by-Hop, Fragment (offset 37, M, id 0xDEADBEEF), UDP. */
static void v6_ext_frag(struct frame *f)
{
	eth(f, 0x86dd);
	tv_ip6(f, 0, 8 + 8 + 8 + 4, v6_a, v6_lo);
	put8(f, 44); /* hop-by-hop: next = fragment */
	put8(f, 0);
	put8(f, 1); /* PadN 4 */
	put8(f, 4);
	zeros(f, 4);
	put8(f, 17); /* fragment: next = UDP */
	put8(f, 0);
	put16(f, 37 << 3 | 1);
	put32(f, 0xdeadbeef);
	udp(f, 5353, 53, 4);
}

/* IPv6, Hop-by-Hop, Destination Options (16 bytes), TCP 443 -> 8080. */
static void v6_ext_tcp(struct frame *f)
{
	eth(f, 0x86dd);
	tv_ip6(f, 0, 8 + 16 + 20, v6_a, v6_lo);
	put8(f, 60);
	put8(f, 0);
	zeros(f, 6);
	put8(f, 6);
	put8(f, 1);
	zeros(f, 14);
	tcp(f, 443, 8080, 0x18);
}

/* 802.1Q VLAN 100, IPv6 TCP 443 -> 80, SYN|ACK. */
static void vlan_v6_tcp(struct frame *f)
{
	eth(f, 0x8100);
	put16(f, 100);
	put16(f, 0x86dd);
	tv_ip6(f, 6, 20, v6_a, v6_lo);
	tcp(f, 443, 80, 0x12);
}

/* ---- running programs ---------------------------------------------------- */

static struct pcv_vfm *load_opts(const char *src,
				 const struct pcv_vfm_opts *o)
{
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_vfm *vm = NULL;
	size_t len;
	uint8_t *code = tv_assemble(src, &len);
	int rc = pcv_vfm_load(&vm, code, len, o, err);

	free(code);
	cr_assert_eq(rc, 0, "load '%s': %s", src, err);
	cr_assert_not_null(vm);
	return vm;
}

static struct pcv_vfm *load(const char *src)
{
	return load_opts(src, NULL);
}

/* The counted, unfused variant: a never-taken backward jump in front. */
static char *counted_src(const char *src)
{
	static const char guard[] =
		"vfm_guard_: PUSH 0 PUSH 1 JEQ vfm_guard_\n";
	char *s = malloc(sizeof(guard) + strlen(src));

	cr_assert_not_null(s);
	strcpy(s, guard);
	strcat(s, src);
	return s;
}

/* Status of @src on @pkt, in both interpreter modes, which must agree. */
static int run_src(const char *src, const uint8_t *pkt, uint32_t len,
		   uint64_t *r)
{
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = load(src);
	char *csrc = counted_src(src);
	uint64_t r1 = 0, r2 = 0;
	int st1, st2;

	st1 = tv_run(vm, pkt, len, 0, &r1);
	pcv_vfm_free(vm);
	pcv_vfm_opts_init(&o);
	o.allow_loops = true;
	vm = load_opts(csrc, &o);
	st2 = tv_run(vm, pkt, len, 0, &r2);
	pcv_vfm_free(vm);
	free(csrc);
	cr_assert_eq(st1, st2, "'%s': status %d fast, %d counted", src, st1,
		     st2);
	cr_assert_eq(r1, r2, "'%s': %#llx fast, %#llx counted", src,
		     (unsigned long long)r1, (unsigned long long)r2);
	*r = r1;
	return st1;
}

/* The value of @src on @f, which must run cleanly. */
static uint64_t eval_on(const char *src, const struct frame *f)
{
	uint64_t r = 0;
	int st = run_src(src, f->b, f->n, &r);

	cr_assert_eq(st, PCV_VFM_OK, "'%s': %s", src,
		     pcv_vfm_status_name(st));
	return r;
}

static uint64_t eval(const char *src)
{
	struct frame f;

	test_packet(&f, 1);
	return eval_on(src, &f);
}

static int status_on(const char *src, const struct frame *f)
{
	uint64_t r;

	return run_src(src, f->b, f->n, &r);
}

struct vec {
	const char *src;
	uint64_t want;
};

static void check_vecs(const struct vec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t r = eval(v[i].src);

		cr_expect_eq(r, v[i].want, "'%s' gave %#llx, want %#llx",
			     v[i].src, (unsigned long long)r,
			     (unsigned long long)v[i].want);
	}
}

#define NV(a) (sizeof(a) / sizeof((a)[0]))

/* ---- options, names ------------------------------------------------------ */

Test(vm, opts_init)
{
	struct pcv_vfm_opts o;

	memset(&o, 0xa5, sizeof(o));
	pcv_vfm_opts_init(&o);
	cr_expect_eq(o.numbering, PCV_VFM_HEAD);
	cr_expect_eq(o.decision, PCV_VFM_NONZERO);
	cr_expect_not(o.allow_loops);
	cr_expect_eq(o.flow_entries, 65536);
	cr_expect_eq(o.flow_ttl_ns, 300ull * 1000000000ull);
}

Test(vm, status_names)
{
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_OK), "ok");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_BOUNDS), "bounds");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_LIMIT), "limit");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_OVERFLOW), "overflow");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_UNDERFLOW),
			 "underflow");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_OPCODE), "opcode");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_DIVZERO), "divzero");
	cr_expect_str_eq(pcv_vfm_status_name(PCV_VFM_E_PROGRAM), "program");
	cr_expect_str_eq(pcv_vfm_status_name(42), "unknown");
}

Test(vm, load_rejects)
{
	static const uint8_t ok[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x17 };
	static const uint8_t bad[] = { 0x05, 0x17 };
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = (struct pcv_vfm *)1;

	cr_expect_eq(pcv_vfm_load(&vm, bad, sizeof(bad), NULL, err), -EINVAL);
	cr_expect_null(vm);
	cr_expect_str_eq(err, "offset 0: POP needs 1 value, stack has 0");
	cr_expect_eq(pcv_vfm_load(&vm, NULL, 0, NULL, err), -EINVAL);
	cr_expect_eq(pcv_vfm_load(NULL, ok, sizeof(ok), NULL, err), -EINVAL);

	pcv_vfm_opts_init(&o);
	o.flow_entries = 1000;
	cr_expect_eq(pcv_vfm_load(&vm, ok, sizeof(ok), &o, err), -EINVAL);
	cr_expect(strstr(err, "power of two") != NULL, "%s", err);
	pcv_vfm_opts_init(&o);
	o.numbering = 7;
	cr_expect_eq(pcv_vfm_load(&vm, ok, sizeof(ok), &o, err), -EINVAL);
	pcv_vfm_opts_init(&o);
	o.decision = 9;
	cr_expect_eq(pcv_vfm_load(&vm, ok, sizeof(ok), &o, err), -EINVAL);

	/* the program is copied: the caller's buffer may go */
	{
		uint8_t *c = malloc(sizeof(ok));
		uint64_t r = 0;

		memcpy(c, ok, sizeof(ok));
		cr_assert_eq(pcv_vfm_load(&vm, c, sizeof(ok), NULL, err), 0);
		memset(c, 0xff, sizeof(ok));
		free(c);
		cr_expect_eq(pcv_vfm_run(vm, NULL, 0, 0, &r), PCV_VFM_OK);
		cr_expect_eq(r, 1);
		pcv_vfm_free(vm);
	}
	pcv_vfm_free(NULL);
}

/* ---- loads --------------------------------------------------------------- */

Test(vm, loads_big_endian)
{
	struct frame f;

	f.n = 0;
	for (int i = 0; i < 32; i++)
		put8(&f, (uint8_t)(0x10 + i));
	cr_expect_eq(eval_on("LD8 0 RET", &f), 0x10);
	cr_expect_eq(eval_on("LD8 31 RET", &f), 0x2f);
	cr_expect_eq(eval_on("LD16 1 RET", &f), 0x1112);
	cr_expect_eq(eval_on("LD32 3 RET", &f), 0x13141516);
	cr_expect_eq(eval_on("LD64 5 RET", &f), 0x15161718191a1b1cull);
	cr_expect_eq(eval_on("LD128 16 RET", &f), 0x28292a2b2c2d2e2full);
	cr_expect_eq(eval_on("LD128 16 POP RET", &f), 0x2021222324252627ull);
}

Test(vm, loads_bounds)
{
	struct frame f;
	static const char *const last[] = { "LD8 53 RET", "LD16 52 RET",
					    "LD32 50 RET", "LD64 46 RET",
					    "LD128 38 RET" };
	static const char *const past[] = { "LD8 54 RET", "LD16 53 RET",
					    "LD32 51 RET", "LD64 47 RET",
					    "LD128 39 RET", "LD8 65534 RET" };

	test_packet(&f, 1); /* 54 bytes */
	cr_assert_eq(f.n, 54);
	for (size_t i = 0; i < NV(last); i++)
		cr_expect_eq(status_on(last[i], &f), PCV_VFM_OK, "%s", last[i]);
	for (size_t i = 0; i < NV(past); i++)
		cr_expect_eq(status_on(past[i], &f), PCV_VFM_E_BOUNDS, "%s",
			     past[i]);

	/* fused forms: load, compare, jump; load, push, op */
	cr_expect_eq(status_on("LD8 54 PUSH 1 JEQ a PUSH 0 RET a: PUSH 1 RET",
			       &f),
		     PCV_VFM_E_BOUNDS);
	cr_expect_eq(eval_on("LD8 53 PUSH 9 JEQ a PUSH 7 RET a: PUSH 1 RET",
			     &f),
		     7);
	cr_expect_eq(status_on("LD16 53 PUSH 1 ADD RET", &f),
		     PCV_VFM_E_BOUNDS);
	cr_expect_eq(eval_on("LD16 12 PUSH 1 ADD RET", &f), 0x0801);

	/* empty and 1-byte frames */
	f.n = 0;
	cr_expect_eq(status_on("LD8 0 RET", &f), PCV_VFM_E_BOUNDS);
	cr_expect_eq(eval_on("PUSH 3 RET", &f), 3);
	f.n = 1;
	f.b[0] = 0xab;
	cr_expect_eq(eval_on("LD8 0 RET", &f), 0xab);
	cr_expect_eq(status_on("LD16 0 RET", &f), PCV_VFM_E_BOUNDS);
	{
		struct pcv_vfm *vm = load("LD8 0 RET");
		uint64_t r = 1;

		cr_expect_eq(pcv_vfm_run(vm, NULL, 100, 0, &r),
			     PCV_VFM_E_BOUNDS, "NULL packet has length 0");
		cr_expect_eq(r, 0);
		pcv_vfm_free(vm);
	}
}

/* ---- stack and arithmetic ------------------------------------------------ */

Test(vm, stack_ops)
{
	static const struct vec v[] = {
		{ "PUSH 1 PUSH 2 POP RET", 1 },
		{ "PUSH 5 DUP MUL RET", 25 },
		{ "PUSH 7 PUSH 2 SWAP SUB RET", 0xfffffffffffffffbull },
		{ "PUSH 2 PUSH 7 SWAP POP RET", 7 },
		{ "PUSH 0x1122334455667788 RET", 0x1122334455667788ull },
		{ "PUSH -1 RET", UINT64_MAX },
		/* values below the top are ignored */
		{ "PUSH 9 PUSH 8 RET", 8 },
	};

	check_vecs(v, NV(v));
}

Test(vm, arithmetic)
{
	static const struct vec v[] = {
		{ "PUSH 10 PUSH 5 ADD PUSH 2 MUL RET", 30 },
		{ "PUSH -1 PUSH 1 ADD RET", 0 },
		{ "PUSH 0 PUSH 1 SUB RET", UINT64_MAX },
		{ "PUSH 0x8000000000000000 PUSH 2 MUL RET", 0 },
		{ "PUSH 0xffffffff PUSH 0xffffffff MUL RET",
		  0xfffffffe00000001ull },
		{ "PUSH 7 PUSH 2 DIV RET", 3 },
		{ "PUSH -1 PUSH 2 DIV RET", 0x7fffffffffffffffull },
		{ "PUSH 7 PUSH 2 MOD RET", 1 },
		{ "PUSH -1 PUSH 10 MOD RET", 5 },
		{ "PUSH 0xf0f0 PUSH 0xff00 AND RET", 0xf000 },
		{ "PUSH 0xf0f0 PUSH 0x0f00 OR RET", 0xfff0 },
		{ "PUSH 0xf0f0 PUSH 0xff00 XOR RET", 0x0ff0 },
		{ "PUSH 1 PUSH 65 SHL RET", 2 },
		{ "PUSH 1 PUSH 63 SHL RET", 0x8000000000000000ull },
		{ "PUSH 3 PUSH 64 SHL RET", 3 },
		{ "PUSH 0x8000000000000000 PUSH 63 SHR RET", 1 },
		{ "PUSH 0x80 PUSH 68 SHR RET", 8 },
		{ "PUSH 0 NOT RET", UINT64_MAX },
		{ "PUSH 0xff00 NOT RET", 0xffffffffffff00ffull },
		{ "PUSH 1 NEG RET", UINT64_MAX },
		{ "PUSH 0 NEG RET", 0 },
		{ "PUSH 0x8000000000000000 NEG RET", 0x8000000000000000ull },
		{ "CSUM RET", 1 },
		{ "PARSE RET", 1 },
		/* fused load-push-op */
		{ "LD8 23 PUSH 4 SHL RET", 0x60 },
		{ "LD16 12 PUSH 0x0800 EQ RET", 1 },
	};

	check_vecs(v, NV(v));
}

Test(vm, division_by_zero)
{
	struct frame f;

	test_packet(&f, 1);
	cr_expect_eq(status_on("PUSH 7 PUSH 0 DIV RET", &f), PCV_VFM_E_DIVZERO);
	cr_expect_eq(status_on("PUSH 7 PUSH 0 MOD RET", &f), PCV_VFM_E_DIVZERO);
	cr_expect_eq(status_on("PUSH 0 PUSH 0 DIV RET", &f), PCV_VFM_E_DIVZERO);
	/* the divisor from the packet */
	cr_expect_eq(status_on("PUSH 9 LD8 15 DIV RET", &f), PCV_VFM_E_DIVZERO);
}

Test(vm, comparisons_unsigned)
{
	static const struct vec v[] = {
		{ "PUSH 1 PUSH 1 EQ RET", 1 },  { "PUSH 1 PUSH 2 EQ RET", 0 },
		{ "PUSH 1 PUSH 2 NE RET", 1 },  { "PUSH 2 PUSH 2 NE RET", 0 },
		{ "PUSH -1 PUSH 0 GT RET", 1 }, { "PUSH 0 PUSH -1 GT RET", 0 },
		{ "PUSH 3 PUSH 3 GT RET", 0 },  { "PUSH 0 PUSH -1 LT RET", 1 },
		{ "PUSH -1 PUSH 0 LT RET", 0 }, { "PUSH 3 PUSH 3 GE RET", 1 },
		{ "PUSH 2 PUSH 3 GE RET", 0 },  { "PUSH -1 PUSH 1 GE RET", 1 },
		{ "PUSH 3 PUSH 3 LE RET", 1 },  { "PUSH 4 PUSH 3 LE RET", 0 },
		{ "PUSH 1 PUSH -1 LE RET", 1 },
	};

	check_vecs(v, NV(v));
}

/* taken ? 1 : 2 for "a b Jcc" */
#define JTEST(a, b, j) "PUSH " a " PUSH " b " " j " t PUSH 2 RET t: PUSH 1 RET"

Test(vm, jumps)
{
	static const struct vec v[] = {
		{ "PUSH 1 PUSH 2 JEQ u JMP t u: PUSH 2 RET t: PUSH 1 RET", 1 },
		{ "PUSH 5 JMP t t: RET", 5 },
		{ JTEST("1", "1", "JEQ"), 1 },  { JTEST("1", "2", "JEQ"), 2 },
		{ JTEST("1", "2", "JNE"), 1 },  { JTEST("2", "2", "JNE"), 2 },
		{ JTEST("-1", "0", "JGT"), 1 }, { JTEST("0", "-1", "JGT"), 2 },
		{ JTEST("0", "-1", "JLT"), 1 }, { JTEST("-1", "0", "JLT"), 2 },
		{ JTEST("5", "5", "JGE"), 1 },  { JTEST("4", "5", "JGE"), 2 },
		{ JTEST("5", "5", "JLE"), 1 },  { JTEST("6", "5", "JLE"), 2 },
		/* fused: load, push, compare-and-jump */
		{ "LD16 12 PUSH 0x0800 JEQ t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ "LD8 23 PUSH 17 JEQ t PUSH 2 RET t: PUSH 1 RET", 2 },
		{ "LD32 26 PUSH 0xc0a80164 JNE t PUSH 2 RET t: PUSH 1 RET", 2 },
		{ "LD8 23 PUSH 5 JGT t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ "LD8 23 PUSH 6 JLT t PUSH 2 RET t: PUSH 1 RET", 2 },
		{ "LD8 23 PUSH 6 JGE t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ "LD8 23 PUSH 5 JLE t PUSH 2 RET t: PUSH 1 RET", 2 },
		/* the stack under the operands survives a jump */
		{ "PUSH 9 PUSH 1 PUSH 1 JEQ t POP PUSH 3 t: RET", 9 },
		/* a jump into the middle of a fused sequence */
		{ "PUSH 7 PUSH 1 PUSH 1 JEQ m POP LD8 23 m: PUSH 6 JEQ t "
		  "PUSH 2 RET t: PUSH 1 RET",
		  2 },
		{ "PUSH 6 PUSH 1 PUSH 1 JEQ m POP LD8 23 m: PUSH 6 JEQ t "
		  "PUSH 2 RET t: PUSH 1 RET",
		  1 },
	};

	check_vecs(v, NV(v));
}

/* ---- 128-bit ------------------------------------------------------------- */

#define A128 "PUSH128 2001:db8::1 "
#define B128 "PUSH128 2001:db8::2 "
#define C128 "PUSH128 ::ffff:1.2.3.4 "

Test(vm, ops128)
{
	struct frame f;
	static const struct vec v[] = {
		{ "PUSH128 0x000102030405060708090a0b0c0d0e0f RET",
		  0x08090a0b0c0d0e0full },
		{ "PUSH128 0x000102030405060708090a0b0c0d0e0f POP RET",
		  0x0001020304050607ull },
		{ A128 A128 "EQ128 RET", 1 },  { A128 B128 "EQ128 RET", 0 },
		{ A128 B128 "NE128 RET", 1 },  { A128 A128 "NE128 RET", 0 },
		{ B128 A128 "GT128 RET", 1 },  { A128 B128 "GT128 RET", 0 },
		{ A128 C128 "GT128 RET", 1 },  /* high halves decide */
		{ A128 B128 "LT128 RET", 1 },  { C128 A128 "LT128 RET", 1 },
		{ A128 A128 "GE128 RET", 1 },  { A128 B128 "GE128 RET", 0 },
		{ A128 A128 "LE128 RET", 1 },  { B128 A128 "LE128 RET", 0 },
		{ "PUSH128 ffff::ffff PUSH128 ::1 GT128 RET", 1 },
		{ "PUSH128 ffff:: PUSH128 ::ffff:ffff:ffff:ffff LT128 RET", 0 },
		{ A128 "PUSH128 ::ff AND128 RET", 1 },
		{ A128 "PUSH128 ::ff AND128 POP RET", 0 },
		{ A128 "PUSH128 ffff::ff AND128 POP RET",
		  0x2001000000000000ull },
		{ A128 "PUSH128 ::2 OR128 RET", 3 },
		{ A128 "PUSH128 1::2 OR128 POP RET", 0x20010db800000000ull },
		{ A128 B128 "XOR128 RET", 3 },
		{ A128 B128 "XOR128 POP RET", 0 },
		{ "PUSH 7 " A128 A128 "JEQ128 t PUSH 2 RET t: RET", 7 },
		{ A128 B128 "JEQ128 t PUSH 2 RET t: PUSH 1 RET", 2 },
		{ A128 B128 "JNE128 t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ B128 A128 "JGT128 t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ A128 B128 "JLT128 t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ B128 A128 "JLT128 t PUSH 2 RET t: PUSH 1 RET", 2 },
		{ A128 A128 "JGE128 t PUSH 2 RET t: PUSH 1 RET", 1 },
		{ B128 A128 "JLE128 t PUSH 2 RET t: PUSH 1 RET", 2 },
	};

	check_vecs(v, NV(v));

	/* LD128 against a PUSH128 and the PUSH-pair form VFLisp emits */
	test_packet(&f, 7);
	cr_expect_eq(eval_on("LD128 22 PUSH128 2001:db8::1 EQ128 RET", &f), 1);
	cr_expect_eq(eval_on("LD128 38 PUSH128 ::1 EQ128 RET", &f), 1);
	cr_expect_eq(eval_on("LD128 22 PUSH 0x20010db800000000 PUSH 1 EQ128 "
			     "RET",
			     &f),
		     1);
	cr_expect_eq(eval_on("LD128 22 LD128 38 EQ128 RET", &f), 0);
	cr_expect_eq(eval_on("LD128 22 LD128 38 GT128 RET", &f), 1);
}

/* ---- packet probes ------------------------------------------------------- */

Test(vm, ip_ver)
{
	struct frame f;

	test_packet(&f, 1);
	cr_expect_eq(eval_on("IP_VER RET", &f), 4);
	test_packet(&f, 7);
	cr_expect_eq(eval_on("IP_VER RET", &f), 6);
	test_packet(&f, 8); /* ARP: the high nibble of byte 14, no check */
	cr_expect_eq(eval_on("IP_VER RET", &f), 0);
	f.b[14] = 0x5a;
	cr_expect_eq(eval_on("IP_VER RET", &f), 5);
	f.n = 15;
	cr_expect_eq(eval_on("IP_VER RET", &f), 5);
	f.n = 14;
	cr_expect_eq(eval_on("IP_VER RET", &f), 0);
}

Test(vm, ipv6_ext_measured_packet)
{
	struct frame f;
	static const struct vec v[] = {
		{ "IPV6_EXT 15 RET", 1 },  { "IPV6_EXT 16 RET", 2 },
		{ "IPV6_EXT 17 RET", 16 }, { "IPV6_EXT 18 RET", 17 },
		{ "IPV6_EXT 19 RET", 0xdeadbeef },
		{ "IPV6_EXT 20 RET", 37 }, { "IPV6_EXT 21 RET", 1 },
		/* a non-first fragment has no ports */
		{ "IPV6_EXT 3 RET", 0 },   { "IPV6_EXT 4 RET", 0 },
	};

	v6_ext_frag(&f);
	for (size_t i = 0; i < NV(v); i++)
		cr_expect_eq(eval_on(v[i].src, &f), v[i].want, "%s", v[i].src);
	/* the same names through FIELD */
	cr_expect_eq(eval_on("FIELD l4_proto RET", &f), 17);
	cr_expect_eq(eval_on("FIELD fragment RET", &f), 1);
	cr_expect_eq(eval_on("FIELD l4_dport RET", &f), 0);

	/* the fragment header cut short is not counted (and not read) */
	f.n = 54 + 8 + 6;
	cr_expect_eq(eval_on("IPV6_EXT 16 RET", &f), 1);
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 44);
	cr_expect_eq(eval_on("IPV6_EXT 19 RET", &f), 0);
	cr_expect_eq(eval_on("IPV6_EXT 20 RET", &f), 0);
	/* 53 bytes: no IPv6 header, every selector 0 */
	f.n = 53;
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 0);
	cr_expect_eq(eval_on("IPV6_EXT 15 RET", &f), 0);
}

Test(vm, ipv6_ext_walk)
{
	struct frame f;

	/* no extension headers */
	test_packet(&f, 7);
	cr_expect_eq(eval_on("IPV6_EXT 15 RET", &f), 0);
	cr_expect_eq(eval_on("IPV6_EXT 16 RET", &f), 0);
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 6);
	/* IPv4: the walk fails, all 0 */
	test_packet(&f, 1);
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 0);

	/* Hop-by-Hop (8) + Destination Options (16) + TCP */
	v6_ext_tcp(&f);
	cr_expect_eq(eval_on("IPV6_EXT 16 RET", &f), 2);
	cr_expect_eq(eval_on("IPV6_EXT 17 RET", &f), 24);
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 6);

	/* Mobility uses the RFC 6275 length, (len + 1) * 8 */
	eth(&f, 0x86dd);
	tv_ip6(&f, 135, 16 + 8, v6_a, v6_lo);
	put8(&f, 17);
	put8(&f, 1); /* 16 bytes, not upstream's 9 */
	zeros(&f, 14);
	udp(&f, 1000, 2000, 0);
	cr_expect_eq(eval_on("IPV6_EXT 17 RET", &f), 16);
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 17);
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 2000);

	/* AH: (len + 2) * 4 */
	eth(&f, 0x86dd);
	tv_ip6(&f, 51, 12 + 8, v6_a, v6_lo);
	put8(&f, 17);
	put8(&f, 1);
	zeros(&f, 10);
	udp(&f, 1000, 2000, 0);
	cr_expect_eq(eval_on("IPV6_EXT 17 RET", &f), 12);
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 1000);

	/* the walk is capped: 40 Hop-by-Hop headers in a row */
	eth(&f, 0x86dd);
	tv_ip6(&f, 0, 40 * 8, v6_a, v6_lo);
	for (int i = 0; i < 40; i++) {
		put8(&f, i < 39 ? 0 : 17);
		zeros(&f, 7);
	}
	cr_expect_eq(eval_on("IPV6_EXT 16 RET", &f), 32);
	cr_expect_eq(eval_on("IPV6_EXT 18 RET", &f), 0);
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 0);
}

Test(vm, ipv6_ext_ports)
{
	struct frame f;

	test_packet(&f, 1);
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 1234);
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 80);
	test_packet(&f, 6); /* IHL 6 */
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 80);
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 1234);
	test_packet(&f, 3); /* UDP */
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 53);
	test_packet(&f, 5); /* ICMP: no ports */
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 0);
	test_packet(&f, 7); /* IPv6 */
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 443);
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 80);
	v6_ext_tcp(&f); /* after extension headers */
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 443);
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 8080);
	f.n = 54 + 24 + 3; /* ports cut */
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 0);

	/* IPv4 truncated, and a later fragment */
	test_packet(&f, 1);
	f.n = 37;
	cr_expect_eq(eval_on("IPV6_EXT 3 RET", &f), 0);
	f.n = 38;
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 80);
	test_packet(&f, 1);
	f.b[20] = 0x00;
	f.b[21] = 0x10; /* offset 16 * 8 */
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 0);
	f.b[21] = 0x00;
	f.b[20] = 0x20; /* MF only: the first fragment has ports */
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 80);
}

static void frame_hash5(struct frame *f, uint32_t len)
{
	v4_tcp(f, 5, 1234, 80, 0x02);
	f->n = len;
}

Test(vm, hash5)
{
	struct frame f;

	/* spec §2.6: 192.168.1.100 -> 10.0.0.1, 1234 -> 80, proto 6 */
	frame_hash5(&f, 54);
	cr_expect_eq(eval_on("HASH5 RET", &f), 0x2ece8f265bc80c9full);
	frame_hash5(&f, 38);
	cr_expect_eq(eval_on("HASH5 RET", &f), 0x2ece8f265bc80c9full);
	frame_hash5(&f, 37);
	cr_expect_eq(eval_on("HASH5 RET", &f), 0, "needs bytes up to 37");
	frame_hash5(&f, 0);
	cr_expect_eq(eval_on("HASH5 RET", &f), 0);
}

Test(vm, hash6)
{
	struct frame f;

	/* spec §2.6: 2001:db8::1 -> ::1, 443 -> 80, next header 6 */
	v6_tcp(&f, 443, 80);
	cr_expect_eq(eval_on("HASH6 RET", &f), 0x2a404791d40f5adeull);
	f.n = 58;
	cr_expect_eq(eval_on("HASH6 RET", &f), 0x2a404791d40f5adeull);
	f.n = 57;
	cr_expect_eq(eval_on("HASH6 RET", &f), 0, "needs bytes up to 57");
}

Test(vm, field_vlan_ipv6_tcp)
{
	struct frame f;
	static const struct vec v[] = {
		{ "FIELD l4_proto RET", 6 },   { "FIELD l4_sport RET", 443 },
		{ "FIELD l4_dport RET", 80 },  { "FIELD tcp_flags RET", 0x12 },
		{ "FIELD vlan RET", 100 },     { "FIELD ip_version RET", 6 },
		{ "FIELD fragment RET", 0 },   { "FIELD 2 RET", 80 },
	};

	vlan_v6_tcp(&f);
	for (size_t i = 0; i < NV(v); i++)
		cr_expect_eq(eval_on(v[i].src, &f), v[i].want, "%s", v[i].src);
	/* the fixed-offset opcodes do not look through the tag */
	cr_expect_eq(eval_on("IP_VER RET", &f), 0);
	cr_expect_eq(eval_on("IPV6_EXT 4 RET", &f), 0);
	/* several FIELDs in one program share one dissection */
	cr_expect_eq(eval_on("FIELD l4_sport FIELD l4_dport ADD FIELD vlan "
			     "ADD RET",
			     &f),
		     623);
}

Test(vm, field_ipv4_and_others)
{
	struct frame f;

	test_packet(&f, 6); /* IHL 6 */
	cr_expect_eq(eval_on("FIELD l4_dport RET", &f), 80);
	cr_expect_eq(eval_on("FIELD tcp_flags RET", &f), 2);
	cr_expect_eq(eval_on("FIELD ip_version RET", &f), 4);
	cr_expect_eq(eval_on("FIELD vlan RET", &f), 0);
	test_packet(&f, 3);
	cr_expect_eq(eval_on("FIELD l4_proto RET", &f), 17);
	cr_expect_eq(eval_on("FIELD l4_dport RET", &f), 53);
	cr_expect_eq(eval_on("FIELD tcp_flags RET", &f), 0);
	test_packet(&f, 5); /* ICMP: no ports, whatever the key holds */
	cr_expect_eq(eval_on("FIELD l4_proto RET", &f), 1);
	cr_expect_eq(eval_on("FIELD l4_sport RET", &f), 0);
	cr_expect_eq(eval_on("FIELD l4_dport RET", &f), 0);
	test_packet(&f, 8); /* ARP: everything 0 */
	for (int s = 0; s < PCV_VFM_F_MAX; s++) {
		char src[32];

		snprintf(src, sizeof(src), "FIELD %d RET", s);
		cr_expect_eq(eval_on(src, &f), 0, "%s", src);
	}
	test_packet(&f, 9); /* runt */
	cr_expect_eq(eval_on("FIELD ip_version RET", &f), 0);

	/* a non-first IPv4 fragment: ports 0, fragment 1 */
	eth(&f, 0x0800);
	ip4(&f, 5, 6, 20, 0x0010, v4_a, v4_b);
	tcp(&f, 1234, 80, 2);
	cr_expect_eq(eval_on("FIELD fragment RET", &f), 1);
	cr_expect_eq(eval_on("FIELD l4_dport RET", &f), 0);
	cr_expect_eq(eval_on("FIELD l4_proto RET", &f), 6);
	/* the first fragment keeps its ports */
	eth(&f, 0x0800);
	ip4(&f, 5, 6, 20, 0x2000, v4_a, v4_b);
	tcp(&f, 1234, 80, 2);
	cr_expect_eq(eval_on("FIELD fragment RET", &f), 1);
	cr_expect_eq(eval_on("FIELD l4_dport RET", &f), 80);
}

Test(vm, flow_hash)
{
	struct frame f, g;
	struct pcv_dissect d;
	uint64_t h1, h2;

	v4_tcp(&f, 5, 1234, 80, 0x02);
	eth(&g, 0x0800);
	ip4(&g, 5, 6, 20, 0x4000, v4_b, v4_a);
	tcp(&g, 80, 1234, 0x12);
	h1 = eval_on("FLOW_HASH RET", &f);
	h2 = eval_on("FLOW_HASH RET", &g);
	cr_expect_neq(h1, 0);
	cr_expect_eq(h1, h2, "both directions of a flow hash alike");
	cr_assert_eq(pcv_dissect(f.b, f.n, PCV_DLT_EN10MB, &d), 0);
	cr_expect_eq(h1, pcv_flow_key_hash(&d.key));

	v4_tcp(&g, 5, 1235, 80, 0x02);
	cr_expect_neq(eval_on("FLOW_HASH RET", &g), h1);

	vlan_v6_tcp(&f);
	cr_expect_neq(eval_on("FLOW_HASH RET", &f), 0);
	test_packet(&f, 8);
	cr_expect_eq(eval_on("FLOW_HASH RET", &f), 0, "no IP layer");
	f.n = 0;
	cr_expect_eq(eval_on("FLOW_HASH RET", &f), 0);
}

/* ---- flow table ---------------------------------------------------------- */

/*
 * A driver program: byte 0 says store (1) or load (else), the key is the
 * BE64 at 1 and the value the BE64 at 9.
 */
static const char flow_driver[] =
	"LD8 0 PUSH 1 JEQ store\n"
	"LD64 1 FLOW_LOAD RET\n"
	"store: LD64 1 LD64 9 FLOW_STORE PUSH 1 RET\n";

static uint64_t flow_op(struct pcv_vfm *vm, int store, uint64_t key,
			uint64_t val, uint64_t ts)
{
	uint8_t p[17];
	uint64_t r = 0;

	p[0] = (uint8_t)store;
	for (int i = 0; i < 8; i++) {
		p[1 + i] = (uint8_t)(key >> (56 - 8 * i));
		p[9 + i] = (uint8_t)(val >> (56 - 8 * i));
	}
	cr_assert_eq(tv_run(vm, p, sizeof(p), ts, &r), PCV_VFM_OK);
	return r;
}

#define STORE(vm, k, v, ts) flow_op(vm, 1, k, v, ts)
#define LOADF(vm, k, ts) flow_op(vm, 0, k, 0, ts)

static struct pcv_vfm *flow_vm(uint32_t entries, uint64_t ttl)
{
	struct pcv_vfm_opts o;

	pcv_vfm_opts_init(&o);
	o.flow_entries = entries;
	o.flow_ttl_ns = ttl;
	return load_opts(flow_driver, &o);
}

Test(vm, flow_store_load)
{
	struct pcv_vfm_stats st;

	cr_expect_eq(eval("PUSH 5 PUSH 42 FLOW_STORE PUSH 5 FLOW_LOAD RET"),
		     42);
	cr_expect_eq(eval("PUSH 5 PUSH 42 FLOW_STORE PUSH 6 FLOW_LOAD RET"), 0);
	cr_expect_eq(eval("PUSH 9 FLOW_LOAD RET"), 0);
	/* key 0 is an ordinary key */
	cr_expect_eq(eval("PUSH 0 PUSH 7 FLOW_STORE PUSH 0 FLOW_LOAD RET"), 7);
	/* FLOW_STORE pops exactly two; FLOW_LOAD replaces the key */
	cr_expect_eq(eval("PUSH 3 PUSH 1 PUSH 2 FLOW_STORE RET"), 3);

	/* state persists across packets of one instance */
	struct pcv_vfm *vm = flow_vm(0, 0);

	cr_expect_eq(LOADF(vm, 77, 1), 0);
	cr_expect_eq(STORE(vm, 77, 1000, 2), 1);
	cr_expect_eq(LOADF(vm, 77, 3), 1000);
	cr_expect_eq(STORE(vm, 77, 1001, 4), 1);
	cr_expect_eq(LOADF(vm, 77, 5), 1001);
	cr_expect_eq(STORE(vm, 0, 5, 6), 1);
	cr_expect_eq(LOADF(vm, 0, 7), 5);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_entries, 2);
	cr_expect_eq(st.flow_evictions, 0);
	cr_expect_eq(st.flow_expired, 0);
	pcv_vfm_free(vm);

	/* another instance has its own table */
	vm = flow_vm(0, 0);
	cr_expect_eq(LOADF(vm, 77, 1), 0);
	pcv_vfm_free(vm);
}

Test(vm, flow_update_in_probe_slot)
{
	struct pcv_vfm_stats st;
	struct pcv_vfm *vm = flow_vm(8, 0);

	/* spec §2.8: keys 8, 16, 24 in a table of 8, then store(16, 20) */
	STORE(vm, 8, 1, 1);
	STORE(vm, 16, 2, 2);
	STORE(vm, 24, 3, 3);
	STORE(vm, 16, 20, 4);
	cr_expect_eq(LOADF(vm, 16, 5), 20, "upstream gives 2 here");
	cr_expect_eq(LOADF(vm, 8, 6), 1);
	cr_expect_eq(LOADF(vm, 24, 7), 3);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_entries, 3, "no second copy of key 16");

	/* every key of a full table is updated in place, wherever it is */
	for (uint64_t k = 100; k < 105; k++)
		STORE(vm, k, k, 10 + k);
	for (uint64_t k = 100; k < 105; k++)
		STORE(vm, k, k * 2, 200 + k);
	for (uint64_t k = 100; k < 105; k++)
		cr_expect_eq(LOADF(vm, k, 400), k * 2);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_entries, 8);
	cr_expect_eq(st.flow_evictions, 0);
	pcv_vfm_free(vm);
}

Test(vm, flow_eviction_lru)
{
	struct pcv_vfm_stats st;
	struct pcv_vfm *vm = flow_vm(8, 0);

	/* 8 slots, a window of 8: the table is one window */
	for (uint64_t k = 1; k <= 8; k++)
		STORE(vm, k, k + 100, k);
	LOADF(vm, 1, 20); /* key 1 is fresh again; key 2 is the oldest */
	STORE(vm, 9, 109, 21);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_evictions, 1);
	cr_expect_eq(st.flow_entries, 8);
	cr_expect_eq(LOADF(vm, 2, 22), 0, "least recently seen evicted");
	cr_expect_eq(LOADF(vm, 1, 23), 101);
	cr_expect_eq(LOADF(vm, 9, 24), 109);
	for (uint64_t k = 3; k <= 8; k++)
		cr_expect_eq(LOADF(vm, k, 25), k + 100);
	pcv_vfm_free(vm);

	/* a 1-entry table */
	vm = flow_vm(1, 0);
	STORE(vm, 1, 11, 1);
	STORE(vm, 2, 22, 2);
	cr_expect_eq(LOADF(vm, 1, 3), 0);
	cr_expect_eq(LOADF(vm, 2, 4), 22);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_evictions, 1);
	pcv_vfm_free(vm);
}

Test(vm, flow_expiry)
{
	struct pcv_vfm_stats st;
	struct pcv_vfm *vm = flow_vm(64, 1000);

	STORE(vm, 5, 50, 0);
	cr_expect_eq(LOADF(vm, 5, 1000), 50, "last_seen + ttl == ts: alive");
	/* that hit refreshed last_seen to 1000 */
	cr_expect_eq(LOADF(vm, 5, 2000), 50);
	cr_expect_eq(LOADF(vm, 5, 3001), 0, "idle 1001 ns: gone");
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_expired, 1);
	cr_expect_eq(st.flow_entries, 0);

	/* a store refreshes; an expired slot is reused, not evicted */
	STORE(vm, 6, 60, 5000);
	STORE(vm, 6, 61, 5900);
	cr_expect_eq(LOADF(vm, 6, 6800), 61);
	STORE(vm, 7, 70, 100000);
	cr_expect_eq(LOADF(vm, 6, 100000), 0);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.flow_evictions, 0);
	cr_expect_eq(st.flow_expired, 2);
	cr_expect_eq(st.flow_entries, 1);
	/* time going backwards does not expire anything */
	cr_expect_eq(LOADF(vm, 7, 5), 70);
	pcv_vfm_free(vm);

	/* the default TTL is 300 s */
	vm = flow_vm(0, 0);
	STORE(vm, 1, 2, 0);
	cr_expect_eq(LOADF(vm, 1, 300000000000ull), 2);
	cr_expect_eq(LOADF(vm, 1, 600000000001ull), 0);
	pcv_vfm_free(vm);
}

Test(vm, flow_many_keys)
{
	struct pcv_vfm_stats st;
	struct pcv_vfm *vm = flow_vm(1024, 0);
	unsigned found = 0;

	/* 512 keys in 1024 slots: a few may be evicted, none wrong */
	for (uint64_t k = 0; k < 512; k++)
		STORE(vm, k * 1024, k + 1, k);
	for (uint64_t k = 0; k < 512; k++) {
		uint64_t v = LOADF(vm, k * 1024, 1000);

		cr_expect(v == 0 || v == k + 1);
		found += v == k + 1;
	}
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(found + st.flow_evictions, 512);
	cr_expect_geq(found, 500);
	pcv_vfm_free(vm);
}

/* ---- the instruction budget ---------------------------------------------- */

/* @head, then n copies of @body, then @tail. */
static char *repeat_src(const char *head, const char *body, unsigned n,
			const char *tail)
{
	size_t hl = strlen(head), bl = strlen(body), tl = strlen(tail);
	char *s = malloc(hl + bl * n + tl + 1), *p = s;

	cr_assert_not_null(s);
	memcpy(p, head, hl);
	p += hl;
	for (unsigned i = 0; i < n; i++, p += bl)
		memcpy(p, body, bl);
	memcpy(p, tail, tl + 1);
	return s;
}

/* Run as written (no counting guard in front: it would add to the count). */
static int run_plain(const char *src, const struct frame *f, uint64_t *r)
{
	struct pcv_vfm *vm = load(src);
	int st = tv_run(vm, f->b, f->n, 0, r);

	pcv_vfm_free(vm);
	return st;
}

Test(vm, budget_straight_line)
{
	struct frame f;
	char *s;
	uint64_t r;

	test_packet(&f, 1);
	/* spec §2.2: 4,999 x (PUSH, POP) + PUSH + RET is 10,000: fine */
	s = repeat_src("", "PUSH 1 POP\n", 4999, "PUSH 1 RET\n");
	cr_expect_eq(run_plain(s, &f, &r), PCV_VFM_OK);
	cr_expect_eq(r, 1);
	free(s);
	s = repeat_src("", "PUSH 1 POP\n", 5000, "PUSH 1 RET\n");
	cr_expect_eq(run_plain(s, &f, &r), PCV_VFM_E_LIMIT);
	free(s);

	/* 1 + 9,998 + 1 = 10,000 instructions, then one more */
	s = repeat_src("PUSH 1\n", "DUP POP\n", 4999, "RET\n");
	cr_expect_eq(run_plain(s, &f, &r), PCV_VFM_OK);
	cr_expect_eq(r, 1);
	free(s);
	s = repeat_src("PUSH 1 DUP\n", "DUP POP\n", 4999, "RET\n");
	cr_expect_eq(run_plain(s, &f, &r), PCV_VFM_E_LIMIT);
	free(s);
}

Test(vm, budget_exact_error_order)
{
	struct frame f;
	uint64_t r;
	char *s;

	/* the 10,000th instruction fails its bounds check: BOUNDS, not
	 * LIMIT, although the program is longer than the budget */
	test_packet(&f, 1);
	s = repeat_src("PUSH 1\n", "DUP POP\n", 4999, "LD8 54 RET\n");
	cr_expect_eq(run_plain(s, &f, &r), PCV_VFM_E_BOUNDS);
	free(s);
	s = repeat_src("PUSH 1\n", "DUP POP\n", 4999, "LD8 53 RET\n");
	cr_expect_eq(run_plain(s, &f, &r), PCV_VFM_E_LIMIT);
	free(s);
}

Test(vm, budget_loops)
{
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm;
	struct frame f;
	uint64_t r = 0;
	char err[PCV_ERRBUF_SIZE];
	size_t len;
	uint8_t *code;
	static const char loop10[] =
		"PUSH 0\n"
		"top: PUSH 1 ADD DUP PUSH 10 JLT top\n"
		"RET\n";
	static const char loop100k[] =
		"PUSH 0\n"
		"top: PUSH 1 ADD DUP PUSH 100000 JLT top\n"
		"RET\n";

	test_packet(&f, 1);
	pcv_vfm_opts_init(&o);
	o.allow_loops = true;
	vm = load_opts(loop10, &o);
	cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
	cr_expect_eq(r, 10);
	pcv_vfm_free(vm);
	vm = load_opts(loop100k, &o);
	cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_E_LIMIT);
	cr_expect_eq(r, 0);
	pcv_vfm_free(vm);

	/* without allow_loops the loop does not load */
	code = tv_assemble(loop10, &len);
	cr_expect_eq(pcv_vfm_load(&vm, code, len, NULL, err), -EINVAL);
	cr_expect_str_eq(err, "offset 29: JLT target 9 jumps backward "
			      "(loops are not allowed)");
	free(code);

	/* an endless loop ends on the budget */
	vm = load_opts("top: JMP top", &o);
	cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_E_LIMIT);
	pcv_vfm_free(vm);
}

/* ---- decisions and statistics -------------------------------------------- */

static struct pcv_vfm *ret_vm(uint64_t v, enum pcv_vfm_decision d)
{
	char src[64];
	struct pcv_vfm_opts o;

	pcv_vfm_opts_init(&o);
	o.decision = d;
	snprintf(src, sizeof(src), "PUSH 0x%llx RET", (unsigned long long)v);
	return load_opts(src, &o);
}

static bool decide(uint64_t v, enum pcv_vfm_decision d)
{
	struct pcv_vfm *vm = ret_vm(v, d);
	struct frame f;
	bool m;

	test_packet(&f, 1);
	m = pcv_vfm_match(vm, f.b, f.n, 0);
	pcv_vfm_free(vm);
	return m;
}

Test(vm, decision_rules)
{
	/* the two rules differ on these (spec §2.1, §8 item 2) */
	cr_expect(decide(0xc0a80164, PCV_VFM_NONZERO));
	cr_expect_not(decide(0xc0a80164, PCV_VFM_PV_COMPAT));
	cr_expect(decide(1ull << 32, PCV_VFM_NONZERO));
	cr_expect_not(decide(1ull << 32, PCV_VFM_PV_COMPAT));
	cr_expect(decide(0x1ffffffffull, PCV_VFM_NONZERO));
	cr_expect_not(decide(0x1ffffffffull, PCV_VFM_PV_COMPAT));
	/* and agree on these */
	cr_expect(decide(1, PCV_VFM_NONZERO));
	cr_expect(decide(1, PCV_VFM_PV_COMPAT));
	cr_expect(decide(42, PCV_VFM_PV_COMPAT));
	cr_expect(decide(0x100000001ull, PCV_VFM_PV_COMPAT));
	cr_expect_not(decide(0, PCV_VFM_NONZERO));
	cr_expect_not(decide(0, PCV_VFM_PV_COMPAT));
}

Test(vm, stats)
{
	struct pcv_vfm_stats st;
	struct pcv_vfm *vm;
	struct frame f;
	uint8_t one = 0;

	/* accept TCP, reject other IPv4, error on short frames and ARP */
	vm = load("LD16 12 PUSH 0x0806 JEQ div\n"
		  "LD8 23 PUSH 6 EQ RET\n"
		  "div: PUSH 1 PUSH 0 DIV RET");
	for (int i = 1; i <= 9; i++) {
		test_packet(&f, i);
		pcv_vfm_match(vm, f.b, f.n, 0);
	}
	pcv_vfm_match(vm, &one, 1, 0);
	pcv_vfm_get_stats(vm, &st);
	cr_expect_eq(st.packets, 10);
	cr_expect_eq(st.accepted, 3); /* 1, 2, 6 (7 is IPv6: byte 23) */
	cr_expect_eq(st.rejected, 4); /* 3, 4, 5, 7 */
	cr_expect_eq(st.errors, 3);   /* 8 divzero, 9 and 1-byte bounds */
	cr_expect_eq(st.errors_by_kind[-PCV_VFM_E_BOUNDS], 2);
	cr_expect_eq(st.errors_by_kind[-PCV_VFM_E_DIVZERO], 1);
	cr_expect_eq(st.errors_by_kind[-PCV_VFM_E_LIMIT], 0);
	cr_expect_eq(st.flow_entries, 0);
	pcv_vfm_free(vm);
}

/* ---- upstream example filters (spec §7.1) ------------------------------ */

static const char accept_all_src[] = "PUSH 1\nRET\n";
static const char simple_test_src[] = "PUSH 42\nRET\n";
static const char arithmetic_src[] =
	"; (10 + 5) * 2\n"
	"PUSH 10\nPUSH 5\nADD\nPUSH 2\nMUL\nRET\n";
static const char simple_filter_src[] =
	"; accept IPv4\n"
	"LD16 12\n"
	"PUSH 0x0800\n"
	"JEQ accept\n"
	"PUSH 0\n"
	"RET\n"
	"accept:\n"
	"PUSH 1\n"
	"RET\n";
static const char dns_amp_src[] =
	"; drop IPv4 UDP from port 53 longer than 512 bytes\n"
	"LD16 12\nPUSH 0x0800\nJNE accept\n"
	"LD8 23\nPUSH 17\nJNE accept\n"
	"LD16 34\nPUSH 53\nJNE accept\n"
	"LD16 16\nPUSH 512\nJGT drop\n"
	"accept: PUSH 1\nRET\n"
	"drop: PUSH 0\nRET\n";

/* 'A' accept (1), 'D' drop (0), 'E' bounds error, else the value 'V'. */
static void check_example(const char *src, size_t size, const char *want,
			  uint64_t value)
{
	struct pcv_vfm *vm;
	size_t len;
	uint8_t *code = tv_assemble(src, &len);

	cr_expect_eq(len, size, "size %zu, want %zu", len, size);
	free(code);
	vm = load(src);
	for (int i = 1; i <= 9; i++) {
		struct frame f;
		uint64_t r = 0;
		int st;
		char got;

		test_packet(&f, i);
		cr_assert_eq(f.n, test_packet_len[i], "packet %d length", i);
		st = tv_run(vm, f.b, f.n, 0, &r);
		if (st == PCV_VFM_E_BOUNDS)
			got = 'E';
		else if (st != PCV_VFM_OK)
			got = '?';
		else if (r == 1)
			got = 'A';
		else if (r == 0)
			got = 'D';
		else
			got = r == value ? 'V' : '?';
		cr_expect_eq(got, want[i - 1], "packet %d: got %c, want %c", i,
			     got, want[i - 1]);
	}
	pcv_vfm_free(vm);
}

Test(vm, upstream_examples)
{
	check_example(accept_all_src, 10, "AAAAAAAAA", 1);
	check_example(simple_test_src, 10, "VVVVVVVVV", 42);
	check_example(arithmetic_src, 30, "VVVVVVVVV", 30);
	check_example(simple_filter_src, 35, "AAAAAADDA", 1);
	check_example(dns_amp_src, 80, "AAADAAAAE", 1);
}

/* ---- legacy numbering ---------------------------------------------------- */

Test(vm, legacy_numbering)
{
	/* accept_all as shipped: PUSH 1; RET with RET = 0x16 */
	static const uint8_t accept_all[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0,
					      0x16 };
	/* operands >= 0x0f stay: PUSH 0x16; RET */
	static const uint8_t push16[] = { 0x04, 0x16, 0x17, 0x1f, 0, 0, 0, 0,
					  0, 0x16 };
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm;
	struct frame f;
	uint64_t r = 0;

	pcv_vfm_opts_init(&o);
	o.numbering = PCV_VFM_LEGACY;
	cr_assert_eq(pcv_vfm_load(&vm, accept_all, sizeof(accept_all), &o,
				  err),
		     0, "%s", err);
	test_packet(&f, 1);
	cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
	cr_expect_eq(r, 1);
	pcv_vfm_free(vm);

	cr_expect_eq(pcv_vfm_load(&vm, accept_all, sizeof(accept_all), NULL,
				  err),
		     -EINVAL, "HEAD reads 0x16 as a truncated JLT");
	cr_expect_str_eq(err, "offset 9: truncated JLT: needs 3 bytes, 1 left");

	cr_assert_eq(pcv_vfm_load(&vm, push16, sizeof(push16), &o, err), 0,
		     "%s", err);
	cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
	cr_expect_eq(r, 0x1f1716ull);
	pcv_vfm_free(vm);

	/* simple_filter in the legacy numbering behaves as in HEAD */
	{
		size_t len;
		uint8_t *code = tv_assemble(simple_filter_src, &len);
		static const char want[] = "AAAAAADDA";

		for (size_t pc = 0; pc < len;) {
			uint8_t op = code[pc];

			pc += pcv__vfm_op(op)->size;
			if (op > PCV_VFM_AND32)
				code[pc - pcv__vfm_op(op)->size] = op - 1;
		}
		cr_assert_eq(code[12], 0x12, "legacy JEQ");
		cr_assert_eq(pcv_vfm_load(&vm, code, len, &o, err), 0, "%s",
			     err);
		for (int i = 1; i <= 9; i++) {
			test_packet(&f, i);
			cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
			cr_expect_eq(r, want[i - 1] == 'A', "packet %d", i);
		}
		pcv_vfm_free(vm);
		free(code);
	}

	/* legacy 0x0f is SHL; legacy bytes past the table are invalid */
	{
		static const uint8_t shl[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0,
					       0x04, 65, 0, 0, 0, 0, 0, 0, 0,
					       0x0f, 0x16 };
		static const uint8_t bad[] = { 0x42, 0x16 };

		cr_assert_eq(pcv_vfm_load(&vm, shl, sizeof(shl), &o, err), 0,
			     "%s", err);
		cr_expect_eq(tv_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
		cr_expect_eq(r, 2);
		pcv_vfm_free(vm);
		cr_expect_eq(pcv_vfm_load(&vm, bad, sizeof(bad), &o, err),
			     -EINVAL);
		cr_expect_str_eq(err, "offset 0: invalid opcode 0x42 (legacy "
				      "numbering)");
	}
}
