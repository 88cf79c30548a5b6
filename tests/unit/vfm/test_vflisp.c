// SPDX-License-Identifier: MIT
/*
 * test_vflisp.c - unit tests for the VFLisp compiler (capture/vflisp.c).
 *
 * Three kinds of check.  Bytes: every construct upstream's HEAD vflispc
 * compiles correctly must give its exact bytes (spec §5.4, §7.3), and the
 * fixed constructs their documented new bytes.  Diagnostics: every error
 * path, with its column.  Behaviour: compiled programs run in the VM on a
 * dozen frames - the nine vectors of spec §7 plus VLAN, IPv6 extension
 * header and fragment frames - and, for the VFLisp expressions that have
 * a tcpdump twin, libpcap's own verdict on the same frames.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vectors.h"

/* ---- helpers: bytes ------------------------------------------------------ */

/* Hex text to bytes; anything but hex digits (spaces, '|') is ignored. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v;

		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
			continue;
		}
		cr_assert_lt(n, cap, "expected hex too long");
		out[n++] = (uint8_t)(hi << 4 | v);
		hi = -1;
	}
	cr_assert_eq(hi, -1, "odd number of hex digits in the expectation");
	return n;
}

static char *tohex(const uint8_t *b, size_t n)
{
	char *s = malloc(2 * n + 1);
	size_t i;

	cr_assert_not_null(s);
	for (i = 0; i < n; i++)
		sprintf(s + 2 * i, "%02x", b[i]);
	s[2 * n] = 0;
	return s;
}

static void compile_ok(const char *src, uint8_t **code, size_t *len)
{
	char err[PCV_ERRBUF_SIZE] = "";
	int r = pcv_vfl_compile(src, code, len, err);

	cr_assert_eq(r, 0, "%s: did not compile: %s", src, err);
	cr_assert_not_null(*code);
}

/* @src compiles to exactly @hex, and the result verifies. */
static void expect_bytes(const char *src, const char *hex)
{
	static uint8_t want[70000];
	size_t wn = unhex(hex, want, sizeof(want)), len;
	char verr[PCV_ERRBUF_SIZE] = "";
	struct pcv_vfm_opts o;
	uint8_t *code;
	char *got, *exp;

	compile_ok(src, &code, &len);
	got = tohex(code, len);
	exp = tohex(want, wn);
	cr_expect_str_eq(got, exp, "%s:\n got %s\nwant %s", src, got, exp);
	pcv_vfm_opts_init(&o);
	cr_expect_eq(pcv_vfm_verify(code, len, &o, verr), 0, "%s: %s", src,
		     verr);
	free(got);
	free(exp);
	free(code);
}

static size_t compiled_size(const char *src)
{
	uint8_t *code;
	size_t len;

	compile_ok(src, &code, &len);
	free(code);
	return len;
}

static void expect_error(const char *src, const char *msg)
{
	char err[PCV_ERRBUF_SIZE] = "";
	uint8_t *code = (uint8_t *)1;
	size_t len = 1;
	int r = pcv_vfl_compile(src, &code, &len, err);

	cr_expect_eq(r, -EINVAL, "%s: compiled, expected \"%s\"", src, msg);
	cr_expect_str_eq(err, msg, "%s: message \"%s\", expected \"%s\"", src,
			 err, msg);
	cr_expect_null(code, "%s: *out not NULL on error", src);
	cr_expect_eq(len, 0);
	if (r == 0)
		free(code);
}

/* Upstream's building blocks, HEAD numbering. */
#define PUSH0 "04 0000000000000000 "
#define PUSH1 "04 0100000000000000 "
#define RET "17"
/* the 0/1 tail of a scalar comparison after its operands */
#define CMP(jcc) jcc " 0c00 " PUSH0 "12 0900 " PUSH1
#define PROTO6 "00 1700 04 0600000000000000 " CMP("13")

/* ---- helpers: running ---------------------------------------------------- */

#define NFRAMES 12 /* the frames of tv_build() used here: 1-12 */

/* tv_verdict() on frame @i: 'A', 'D' or 'E'. */
static char verdict(struct pcv_vfm *vm, int i, uint64_t ts)
{
	struct frame f;

	tv_build(i, &f);
	return tv_verdict(vm, &f, ts);
}

static struct pcv_vfm *load(const char *src)
{
	uint8_t *code;
	size_t len;

	compile_ok(src, &code, &len);
	return tv_load(code, len, src);
}

/* Verdicts of @src on frames 1..12 must read @want. */
static void expect_run(const char *src, const char *want)
{
	struct pcv_vfm *vm = load(src);
	char got[NFRAMES + 1];
	int i;

	for (i = 0; i < NFRAMES; i++)
		got[i] = verdict(vm, i, 0);
	got[NFRAMES] = 0;
	cr_expect_str_eq(got, want, "%s: got %s, want %s", src, got, want);
	pcv_vfm_free(vm);
}

/* The value @src returns on frame 1. */
static uint64_t value(const char *src)
{
	struct pcv_vfm *vm = load(src);
	struct frame f;
	uint64_t res = 0;
	int st;

	tv_build(0, &f);
	st = pcv_vfm_run(vm, f.b, f.n, 0, &res);
	cr_assert_eq(st, PCV_VFM_OK, "%s: status %s", src,
		     pcv_vfm_status_name(st));
	pcv_vfm_free(vm);
	return res;
}

/* ---- upstream-identical bytes (spec §5.4, §7.3) ---------------------- */

Test(vflisp, integer)
{
	expect_bytes("1", PUSH1 RET);
	expect_bytes("42", "04 2a00000000000000" RET);
	expect_bytes("-1", "04 ffffffffffffffff" RET);
	expect_bytes("06", "04 0600000000000000" RET);
	expect_bytes("9223372036854775807", "04 ffffffffffffff7f" RET);
	expect_bytes("-9223372036854775808", "04 0000000000000080" RET);
	cr_expect_eq(compiled_size("1"), 10);
}

Test(vflisp, proto_eq_6)
{
	expect_bytes("(= proto 6)", "00 1700 | 04 0600000000000000 | 13 0c00 |"
		     " 04 0000000000000000 | 12 0900 | 04 0100000000000000 | 17");
	cr_expect_eq(compiled_size("(= proto 6)"), 37);
}

Test(vflisp, every_field)
{
	static const struct {
		const char *name, *hex;
	} f[] = {
		{ "ethertype", "01 0c00" },   { "proto", "00 1700" },
		{ "src-ip", "02 1a00" },      { "src-ip4", "02 1a00" },
		{ "dst-ip", "02 1e00" },      { "dst-ip4", "02 1e00" },
		{ "ip-len", "01 1000" },      { "tcp-flags", "00 2f00" },
		{ "src-port", "3a 03" },      { "dst-port", "3a 04" },
		{ "ip-version", "39" },       { "next-hdr", "00 1400" },
		{ "hop-limit", "00 1500" },   { "has-ext-hdr", "3a 0f" },
		{ "ext-hdr-count", "3a 10" }, { "ext-hdr-len", "3a 11" },
		{ "final-proto", "3a 12" },   { "frag-id", "3a 13" },
		{ "frag-offset", "3a 14" },   { "frag-flags", "3a 15" },
		/* ours */
		{ "l4-proto", "41 00" },      { "l4-src-port", "41 01" },
		{ "l4-dst-port", "41 02" },   { "tcp-flags*", "41 03" },
		{ "vlan-id", "41 04" },       { "ip-version*", "41 05" },
		{ "is-fragment", "41 06" },   { "flow-hash", "42" },
	};
	char src[64], hex[128];
	size_t i;

	for (i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		/* bare field: the value itself */
		snprintf(hex, sizeof(hex), "%s 17", f[i].hex);
		expect_bytes(f[i].name, hex);
		/* compared */
		snprintf(src, sizeof(src), "(= %s 6)", f[i].name);
		snprintf(hex, sizeof(hex), "%s 04 0600000000000000 %s 17",
			 f[i].hex, CMP("13"));
		expect_bytes(src, hex);
	}
	/* IPv6 fields: LD128, and POP of the low half when bare */
	expect_bytes("src-ip6", "28 1600 05 17");
	expect_bytes("dst-ip6", "28 2600 05 17");
}

Test(vflisp, arithmetic_folds)
{
	expect_bytes("(+ 1 2 3)", "04 0100000000000000 | 04 0200000000000000 |"
		     " 08 | 04 0300000000000000 | 08 | 17");
	cr_expect_eq(compiled_size("(+ 1 2 3)"), 30);
	expect_bytes("(* 2 3)",
		     "04 0200000000000000 04 0300000000000000 0a 17");
	expect_bytes("(& tcp-flags 2)", "00 2f00 04 0200000000000000 0c 17");
	expect_bytes("(| 1 2 4)", PUSH1 "04 0200000000000000 0d "
		     "04 0400000000000000 0d 17");
	expect_bytes("(^ 1 1)", PUSH1 PUSH1 "0e 17");
	expect_bytes("(- 5 3)",
		     "04 0500000000000000 04 0300000000000000 09 17");
	expect_bytes("(/ 6 3)",
		     "04 0600000000000000 04 0300000000000000 0b 17");
	expect_bytes("(% dst-port 10)", "3a 04 04 0a00000000000000 21 17");
	expect_bytes("(<< 1 4)", PUSH1 "04 0400000000000000 10 17");
	expect_bytes("(>> 16 4)",
		     "04 1000000000000000 04 0400000000000000 11 17");
	/* upstream lexes "5-3" as 5 and -3 */
	expect_bytes("(+ 5-3)",
		     "04 0500000000000000 04 fdffffffffffffff 08 17");
}

Test(vflisp, comparisons)
{
	static const struct {
		const char *op, *jcc;
	} c[] = {
		{ "=", "13" }, { "!=", "14" }, { ">", "15" },
		{ ">=", "1d" }, { "<", "16" }, { "<=", "1e" },
	};
	char src[32], hex[160];
	size_t i;

	for (i = 0; i < 6; i++) {
		snprintf(src, sizeof(src), "(%s 1 0)", c[i].op);
		snprintf(hex, sizeof(hex), PUSH1 PUSH0 "%s 0c00 " PUSH0
			 "12 0900 " PUSH1 "17", c[i].jcc);
		expect_bytes(src, hex);
	}
	expect_bytes("(= ip-version 6)", "39 | 04 0600000000000000 | 13 0c00 |"
		     " 04 0000000000000000 | 12 0900 | 04 0100000000000000 | 17");
	cr_expect_eq(compiled_size("(= ip-version 6)"), 35);
	/* a negative literal is compared unsigned, as upstream, no error */
	expect_bytes("(> proto -1)", "00 1700 04 ffffffffffffffff " CMP("15")
		     "17");
}

Test(vflisp, ipv6_field_comparisons)
{
	expect_bytes("(= src-ip6 dst-ip6)", "28 1600 | 28 2600 | 2a | 17");
	cr_expect_eq(compiled_size("(= src-ip6 dst-ip6)"), 8);
	expect_bytes("(!= src-ip6 dst-ip6)", "28 1600 28 2600 2b 17");
	expect_bytes("(> src-ip6 dst-ip6)", "28 1600 28 2600 2c 17");
	expect_bytes("(< src-ip6 dst-ip6)", "28 1600 28 2600 2d 17");
	expect_bytes("(>= src-ip6 dst-ip6)", "28 1600 28 2600 2e 17");
	expect_bytes("(<= src-ip6 dst-ip6)", "28 1600 28 2600 2f 17");
}

Test(vflisp, and_template)
{
	expect_bytes("(and (= proto 6) (= dst-port 80))",
		     PROTO6 "06 | 04 0000000000000000 | 13 2400 | 05 |"
		     "3a 04 | 04 5000000000000000 |" CMP("13") "17");
	cr_expect_eq(compiled_size("(and (= proto 6) (= dst-port 80))"), 86);
	/* three operands: every JEQ goes to the common end */
	expect_bytes("(and 1 2 3)", PUSH1 "06 " PUSH0 "13 2100 05 "
		     "04 0200000000000000 06 " PUSH0 "13 0a00 05 "
		     "04 0300000000000000 17");
}

Test(vflisp, spec_7_3_sizes)
{
	/* tcp_filter, tcp_syn_filter, port_range, ip_filter, arithmetic_demo */
	cr_expect_eq(compiled_size("(= proto 6)"), 37);
	cr_expect_eq(compiled_size("(and (= proto 6) (= (& tcp-flags 2) 2))"),
		     97);
	cr_expect_eq(compiled_size(
			     "(and (>= dst-port 1000) (<= dst-port 2000))"),
		     85);
	cr_expect_eq(compiled_size("(or (and (>= src-ip 3232235776) "
				   "(<= src-ip 3232236031)) "
				   "(and (>= src-ip 167772160) "
				   "(<= src-ip 184549375)))"), 187);
	cr_expect_eq(compiled_size("(= (% dst-port 10) 0)"), 46);
	/* web_filter: our `or` keeps the size (135), see or_fixed */
	cr_expect_eq(compiled_size("(and (= proto 6) (or (= dst-port 80) "
				   "(= dst-port 443)))"), 135);
}

Test(vflisp, tcp_syn_filter_bytes)
{
	expect_bytes("(and (= proto 6) (= (& tcp-flags 2) 2))",
		     PROTO6 "06 " PUSH0 "13 2f00 05 "
		     "00 2f00 04 0200000000000000 0c 04 0200000000000000 "
		     CMP("13") "17");
}

/* ---- fixed constructs ---------------------------------------------------- */

Test(vflisp, not_fixed)
{
	/* upstream's template without the trailing POP: 43 bytes */
	expect_bytes("(not 0)", PUSH0 PUSH0 CMP("13") "17");
	cr_expect_eq(compiled_size("(not 0)"), 43);
	expect_bytes("(not (not 1))", PUSH1 PUSH0 CMP("13") PUSH0 CMP("13")
		     "17");
}

Test(vflisp, if_fixed)
{
	expect_bytes("(if 1 2 3)", PUSH1 PUSH0 "13 0c00 04 0200000000000000 "
		     "12 0900 04 0300000000000000 17");
	cr_expect_eq(compiled_size("(if 1 2 3)"), 43);
	/* the §7.2 http_tcp.vfl: 96 bytes (upstream 97, with its POP) */
	expect_bytes("(if (= proto 6) (= dst-port 80) 0)",
		     PROTO6 PUSH0 "13 2600 3a 04 04 5000000000000000 "
		     CMP("13") "12 0900 " PUSH0 "17");
	cr_expect_eq(compiled_size("(if (= proto 6) (= (& tcp-flags 2) 2) 0)"),
		     107);
	/* nested forms that upstream cannot compile */
	compiled_size("(if (if 1 0 1) (not (not 2)) (if 0 1 (not 3)))");
	compiled_size("(+ (if 1 2 3) (if 0 4 5))");
	compiled_size("(and 1 (not 0))");
	compiled_size("(= (if 1 5 6) 5)");
}

Test(vflisp, or_fixed)
{
	/* DUP; PUSH 0; JNE ->end; POP: upstream had PUSH 1; JEQ */
	expect_bytes("(or 1 0)", PUSH1 "06 " PUSH0 "14 0a00 05 " PUSH0 "17");
	cr_expect_eq(compiled_size("(or 1 0)"), 33);
	expect_bytes("(or 0 0 7)", PUSH0 "06 " PUSH0 "14 2100 05 " PUSH0
		     "06 " PUSH0 "14 0a00 05 04 0700000000000000 17");
	/* web_filter: same 135 bytes as upstream, two bytes differ per `or`
	 * operand after the first */
	expect_bytes("(and (= proto 6) (or (= dst-port 80) (= dst-port 443)))",
		     PROTO6 "06 " PUSH0 "13 5500 05 "
		     "3a 04 04 5000000000000000 " CMP("13")
		     "06 " PUSH0 "14 2400 05 "
		     "3a 04 04 bb01000000000000 " CMP("13") "17");
}

Test(vflisp, ipv6_literals_use_push128)
{
	expect_bytes("(= dst-ip6 ::1)",
		     "28 2600 29 00000000000000000000000000000001"
		     " 2a 17");
	expect_bytes("(= src-ip6 ::)",
		     "28 1600 29 00000000000000000000000000000000"
		     " 2a 17");
	expect_bytes("(= src-ip6 2001:db8::1)",
		     "28 1600 29 20010db8000000000000000000000001 2a 17");
	expect_bytes("::1", "29 00000000000000000000000000000001 05 17");
	/* a scalar next to an IPv6 operand is zero-extended */
	expect_bytes("(= src-ip6 5)",
		     "28 1600 29 00000000000000000000000000000005 2a 17");
	expect_bytes("(= src-ip6 proto)", "28 1600 " PUSH0 "00 1700 2a 17");
	expect_bytes("(& src-ip6 ffff::)",
		     "28 1600 29 ffff0000000000000000000000000000 30 05 17");
	expect_bytes("(| src-ip6 dst-ip6)", "28 1600 28 2600 31 05 17");
	expect_bytes("(^ src-ip6 dst-ip6)", "28 1600 28 2600 32 05 17");
	expect_bytes("(if 1 src-ip6 ::1)",
		     PUSH1 PUSH0 "13 0600 28 1600 12 1100 "
		     "29 00000000000000000000000000000001 05 17");
}

/* ---- literals ------------------------------------------------------------ */

Test(vflisp, hex_literals)
{
	expect_bytes("0x0800", "04 0008000000000000 17");
	expect_bytes("0XfF", "04 ff00000000000000 17");
	expect_bytes("0xffffffffffffffff", "04 ffffffffffffffff 17");
	expect_bytes("0x00000000000000000001", "04 0100000000000000 17");
	expect_bytes("-0x10", "04 f0ffffffffffffff 17");
	expect_bytes("(= ethertype 0x86dd)", "01 0c00 04 dd86000000000000 "
		     CMP("13") "17");
	expect_error("0x", "1: invalid number '0x'");
	expect_error("0xg1", "1: invalid number '0xg1'");
	expect_error("0x10000000000000000",
		     "1: integer out of range '0x10000000000000000'");
	expect_error("-0x8000000000000001",
		     "1: integer out of range '-0x8000000000000001'");
}

Test(vflisp, decimal_limits)
{
	expect_error("9223372036854775808",
		     "1: integer out of range '9223372036854775808'");
	expect_error("-9223372036854775809",
		     "1: integer out of range '-9223372036854775809'");
	expect_error("99999999999999999999999",
		     "1: integer out of range '99999999999999999999999'");
	expect_error("12ab", "1: invalid number '12ab'");
}

Test(vflisp, ipv4_literals)
{
	/* 192.168.1.100 = 3232235876 */
	expect_bytes("192.168.1.100", "04 6401a8c000000000 17");
	expect_bytes("(= src-ip 192.168.1.100)", "02 1a00 04 6401a8c000000000 "
		     CMP("13") "17");
	expect_bytes("0.0.0.0", PUSH0 "17");
	expect_bytes("255.255.255.255", "04 ffffffff00000000 17");
	expect_error("256.1.1.1", "1: invalid IPv4 address '256.1.1.1'");
	expect_error("1.2.3", "1: invalid IPv4 address '1.2.3'");
	expect_error("1.2.3.4.5", "1: invalid IPv4 address '1.2.3.4.5'");
	expect_error("1..3.4", "1: invalid IPv4 address '1..3.4'");
	expect_error("01.2.3.4", "1: invalid IPv4 address '01.2.3.4'");
	expect_error("1.2.3.4a", "1: invalid IPv4 address '1.2.3.4a'");
	expect_error("-1.2.3.4", "1: invalid IPv4 address '-1.2.3.4'");
	expect_error("(= src-ip 1.2.3.)", "11: invalid IPv4 address '1.2.3.'");
}

Test(vflisp, ipv6_literal_forms)
{
	static const struct {
		const char *text, *hex;
	} ok[] = {
		{ "::", "00000000000000000000000000000000" },
		{ "::1", "00000000000000000000000000000001" },
		{ "2001:db8::1", "20010db8000000000000000000000001" },
		{ "2001:DB8::", "20010db8000000000000000000000000" },
		{ "::ffff:1.2.3.4", "00000000000000000000ffff01020304" },
		{ "::1.2.3.4", "00000000000000000000000001020304" },
		{ "1:2:3:4:5:6:7:8", "00010002000300040005000600070008" },
		{ "1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304" },
		{ "1::8", "00010000000000000000000000000008" },
		{ "1:2:3:4:5:6:7::", "00010002000300040005000600070000" },
		{ "::2:3:4:5:6:7:8", "00000002000300040005000600070008" },
		{ "fe80::1", "fe800000000000000000000000000001" },
		{ "ff02::1:ff00:1", "ff0200000000000000000001ff000001" },
		{ "0:0:0:0:0:0:0:1", "00000000000000000000000000000001" },
		{ "2001:0db8:0000:0000:0000:ff00:0042:8329",
		  "20010db8000000000000ff0000428329" },
	};
	static const char *const bad[] = {
		":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "::g",
		":1", "1:", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:1.2.3.4",
		"::1.2.3", "::256.1.1.1", "1.2.3.4::", "::1:",
		"::ffff:01.2.3.4",
		"1:2:3:4:5:6:7:8::", "::1.2.3.4:5",
	};
	char src[96], hex[96], msg[128];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(src, sizeof(src), "(= dst-ip6 %s)", ok[i].text);
		snprintf(hex, sizeof(hex), "28 2600 29 %s 2a 17", ok[i].hex);
		expect_bytes(src, hex);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(src, sizeof(src), "(= dst-ip6 %s)", bad[i]);
		snprintf(msg, sizeof(msg), "12: invalid IPv6 address '%s'",
			 bad[i]);
		expect_error(src, msg);
	}
}

Test(vflisp, in_net)
{
	/* X & mask == net: the range test net <= X <= net|~mask */
	expect_bytes("(in-net src-ip 10.0.0.0/8)",
		     "02 1a00 04 000000ffffffffff 0c 04 0000000a00000000 "
		     CMP("13") "17");
	expect_bytes("(in-net src-ip 192.168.1.0/24)",
		     "02 1a00 04 00ffffffffffffff 0c 04 0001a8c000000000 "
		     CMP("13") "17");
	/* /32 and a bare address: plain equality */
	expect_bytes("(in-net dst-ip 10.0.0.1/32)",
		     "02 1e00 04 0100000a00000000 " CMP("13") "17");
	expect_bytes("(in-net dst-ip 10.0.0.1)",
		     "02 1e00 04 0100000a00000000 " CMP("13") "17");
	expect_bytes("(in-net src-ip 0.0.0.0/0)",
		     "02 1a00 04 00000000ffffffff 0c " PUSH0 CMP("13") "17");
	expect_bytes("(in-net src-ip6 2001:db8::/32)",
		     "28 1600 29 ffffffff000000000000000000000000 30 "
		     "29 20010db8000000000000000000000000 2a 17");
	expect_bytes("(in-net src-ip6 fe80::/10)",
		     "28 1600 29 ffc00000000000000000000000000000 30 "
		     "29 fe800000000000000000000000000000 2a 17");
	expect_bytes("(in-net dst-ip6 ::1)",
		     "28 2600 29 00000000000000000000000000000001 2a 17");
	expect_error("(in-net src-ip 10.1.0.0/8)",
		     "16: host bits set in '10.1.0.0/8'");
	expect_error("(in-net src-ip6 2001:db8::1/64)",
		     "17: host bits set in '2001:db8::1/64'");
	expect_error("(in-net src-ip 10.0.0.0/33)",
		     "16: invalid prefix length in '10.0.0.0/33'");
	expect_error("(in-net src-ip 10.0.0.0/)",
		     "16: invalid prefix length in '10.0.0.0/'");
	expect_error("(in-net src-ip6 ::/129)",
		     "17: invalid prefix length in '::/129'");
	expect_error("(in-net src-ip 10/8)", "16: invalid number '10/8'");
	expect_error("(in-net src-ip6 10.0.0.0/8)",
		     "9: an IPv4 prefix needs a 32-bit value, not an IPv6 one");
	expect_error("(in-net src-ip 2001:db8::/32)",
		     "9: an IPv6 prefix needs an IPv6 value (src-ip6, dst-ip6)");
	expect_error("(in-net src-ip 167772160)",
		     "16: in-net needs an address prefix such as 10.0.0.0/8 "
		     "or 2001:db8::/32");
	expect_error("(in-net src-ip)", "2: 'in-net' takes exactly 2 arguments, "
		     "got 1");
	expect_error("10.0.0.0/8", "1: an address prefix is only allowed as "
		     "the second argument of in-net");
	expect_error("(= src-ip 10.0.0.0/8)", "11: an address prefix is only "
		     "allowed as the second argument of in-net");
}

Test(vflisp, comments_and_whitespace)
{
	expect_bytes("; a comment\n(= proto ; inside\n 6)\t\r\n; end",
		     PROTO6 "17");
	expect_bytes("\v\f 1 ", PUSH1 "17");
}

/* ---- stateful operators -------------------------------------------------- */

Test(vflisp, flow_first_template)
{
	expect_bytes("(flow-first 3)",
		     "42 06 " PUSH0 "13 3400 "		/* no IP: zero */
		     "06 1b 06 04 0300000000000000 1d 1700 " /* count >= N */
		     "04 0100000000000000 08 1c " PUSH1 "12 1800 "
		     "05 05 " PUSH0 "12 0a00 "		/* over: 0 */
		     "05 " PUSH1			/* zero: 1 */
		     "17");
	expect_bytes("(flow-count)",
		     "42 06 " PUSH0 "13 0f00 06 1b " PUSH1 "08 1c 42 1b 17");
	/* the second stateful operator salts its key */
	expect_bytes("(+ (flow-count) (flow-count))",
		     "42 06 " PUSH0 "13 0f00 06 1b " PUSH1 "08 1c 42 1b "
		     "42 06 " PUSH0 "13 2300 04 157c4a7fb979379e 0e "
		     "06 1b " PUSH1 "08 1c 42 04 157c4a7fb979379e 0e 1b 08 17");
	expect_error("(flow-first proto)",
		     "13: flow-first needs an integer literal");
	expect_error("(flow-first)", "2: 'flow-first' takes exactly 1 argument, "
		     "got 0");
	expect_error("(flow-count 1)", "2: 'flow-count' takes exactly 0 "
		     "arguments, got 1");
}

/* ---- diagnostics --------------------------------------------------------- */

Test(vflisp, structural_errors)
{
	expect_error("", "1: empty program");
	expect_error("  ; only a comment\n", "2:1: empty program");
	expect_error("()", "1: empty function call");
	expect_error("(foo 1)", "2: unknown function 'foo'");
	expect_error("(not (foo 2))", "7: unknown function 'foo'");
	expect_error("1 2", "3: unexpected trailing tokens");
	expect_error("(= 1 1) x", "9: unexpected trailing tokens");
	expect_error("x", "1: bare symbol 'x' not allowed");
	expect_error("(= proto tcp)", "10: bare symbol 'tcp' not allowed");
	expect_error("(= proto 6", "1: unclosed '('");
	expect_error("(and (= proto 6) (= 1", "18: unclosed '('");
	expect_error(")", "1: unexpected ')'");
	expect_error("(= proto 6))", "12: unexpected ')'");
	expect_error("(6 1)", "2: function name must be a symbol");
	expect_error("((+ 1 2))", "2: function name must be a symbol");
	expect_error("(proto 1)", "2: function name must be a symbol: "
		     "'proto' is a field");
	expect_error("(", "1: unclosed '('");
	expect_error("(+ 1 \"x\")", "6: unexpected character '\"'");
	expect_error("(+ 1 #x)", "6: unexpected character '#'");
	expect_error("(+ 1,2)", "5: unexpected character ','");
	expect_error("1\n  \x01", "2:3: unexpected byte 0x01");
	expect_error("(= 1\n  (bar 2))", "2:4: unknown function 'bar'");
	/* upstream: true and false do not exist */
	expect_error("true", "1: bare symbol 'true' not allowed");
	/* long names are cut in messages */
	expect_error("(aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)",
		     "2: unknown function "
		     "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
}

Test(vflisp, arity_errors)
{
	expect_error("(- 1 2 3)", "2: '-' takes exactly 2 arguments, got 3");
	expect_error("(- 1)", "2: '-' takes exactly 2 arguments, got 1");
	expect_error("(/ 1)", "2: '/' takes exactly 2 arguments, got 1");
	expect_error("(+ 1)", "2: '+' needs at least 2 arguments, got 1");
	expect_error("(and 1)", "2: 'and' needs at least 2 arguments, got 1");
	expect_error("(or)", "2: 'or' needs at least 2 arguments, got 0");
	expect_error("(= 1 2 3)", "2: '=' takes exactly 2 arguments, got 3");
	expect_error("(not 1 2)", "2: 'not' takes exactly 1 argument, got 2");
	expect_error("(if 1 2)", "2: 'if' takes exactly 3 arguments, got 2");
}

Test(vflisp, type_errors)
{
	expect_error("(+ src-ip6 1)", "4: '+' does not take IPv6 values");
	expect_error("(- src-ip6 1)", "4: IPv6 value not allowed here");
	expect_error("(and src-ip6 1)", "6: IPv6 value not allowed here");
	expect_error("(or 1 ::1)", "7: IPv6 value not allowed here");
	expect_error("(not dst-ip6)", "6: IPv6 value not allowed here");
	expect_error("(if src-ip6 1 2)", "5: IPv6 value not allowed here");
}

static char *repeat(const char *head, const char *mid, const char *tail,
		    int n)
{
	size_t hl = strlen(head), tl = strlen(tail), ml = strlen(mid);
	char *s = malloc(n * (hl + tl) + ml + 1), *p = s;
	int i;

	cr_assert_not_null(s);
	for (i = 0; i < n; i++, p += hl)
		memcpy(p, head, hl);
	memcpy(p, mid, ml);
	p += ml;
	for (i = 0; i < n; i++, p += tl)
		memcpy(p, tail, tl);
	*p = 0;
	return s;
}

Test(vflisp, nesting_limit)
{
	char *s = repeat("(not ", "1", ")", 200);
	uint8_t *code;
	size_t len;

	compile_ok(s, &code, &len);
	free(code);
	free(s);
	s = repeat("(not ", "1", ")", 201);
	expect_error(s, "1001: nesting deeper than 200 levels");
	free(s);
	/* far deeper input fails the same way, without deep recursion */
	s = repeat("(+ ", "1", ")", 100000);
	expect_error(s, "601: nesting deeper than 200 levels");
	free(s);
}

Test(vflisp, stack_limit)
{
	/* each (& src-ip6 ...) level keeps 2 slots live: 2n + 2 in all */
	char *s = repeat("(& src-ip6 ", "src-ip6", ")", 126);
	uint8_t *code;
	size_t len;

	compile_ok(s, &code, &len); /* 254 slots */
	free(code);
	free(s);
	s = repeat("(& src-ip6 ", "src-ip6", ")", 127);
	expect_error(s, "1398: expression needs 256 stack slots, more than 255");
	free(s);
	/* 150 nested levels of + need 151 slots */
	s = repeat("(+ 1 ", "1", ")", 150);
	compile_ok(s, &code, &len);
	free(code);
	free(s);
}

/* (if 1 (+ 1 1 ... 1) 0) with @n ones: the JEQ jumps over 10n + 2. */
static char *big_if(int n)
{
	char *s = malloc(32 + 2 * (size_t)n), *p = s;
	int i;

	cr_assert_not_null(s);
	p += sprintf(p, "(if 1 (+");
	for (i = 0; i < n; i++)
		p += sprintf(p, " 1");
	sprintf(p, ") 0)");
	return s;
}

Test(vflisp, jump_span_limit)
{
	char *s = big_if(3276); /* 32762 bytes: fits */
	uint8_t *code;
	size_t len;

	compile_ok(s, &code, &len);
	cr_expect_eq(code[19], 0xfa); /* JEQ +32762 */
	cr_expect_eq(code[20], 0x7f);
	free(code);
	free(s);
	s = big_if(3277);
	expect_error(s, "2: jump over 32772 bytes, more than 32767");
	free(s);
}

Test(vflisp, program_size_limit)
{
	char *s = malloc(20000), *p = s;
	int i;

	p += sprintf(p, "(+");
	for (i = 0; i < 6600; i++)
		p += sprintf(p, " 1");
	sprintf(p, ")");
	expect_error(s, "13110: program longer than 65536 bytes");
	free(s);
	/* too many terms to ever fit: stopped while parsing */
	s = malloc(200000);
	p = s + sprintf(s, "(+");
	for (i = 0; i < 70000; i++)
		p += sprintf(p, " 1");
	sprintf(p, ")");
	expect_error(s, "131074: more than 65536 terms, the program would be "
		     "longer than 65536 bytes");
	free(s);
}

Test(vflisp, bad_arguments)
{
	char err[PCV_ERRBUF_SIZE];
	uint8_t *code;
	size_t len;

	cr_expect_eq(pcv_vfl_compile(NULL, &code, &len, err), -EINVAL);
	cr_expect_str_eq(err, "1: invalid argument");
	cr_expect_eq(pcv_vfl_compile("1", NULL, &len, err), -EINVAL);
	cr_expect_eq(pcv_vfl_compile("1", &code, NULL, NULL), -EINVAL);
	/* errbuf may be NULL */
	cr_expect_eq(pcv_vfl_compile("(", &code, &len, NULL), -EINVAL);
	cr_expect_eq(pcv_vfl_compile("1", &code, &len, NULL), 0);
	free(code);
}

/* ---- behaviour in the VM ------------------------------------------------- */

Test(vflisp, run_upstream_vectors)
{
	/* spec §7.3 where upstream works; real ports where it did not */
	expect_run("1", "AAAAAAAAAAAA");
	expect_run("0", "DDDDDDDDDDDD");
	expect_run("(= proto 6)", "AADDDADDEDDD");
	expect_run("(and (= proto 6) (= (& tcp-flags 2) 2))", "ADDDDDDDEDDD");
	expect_run("(= ethertype 2048)", "AAAAAADDADDA");
	/* web_filter: upstream D x8 E-1, ports broken */
	expect_run("(and (= proto 6) (or (= dst-port 80) (= dst-port 443)))",
		   "AADDDADDEDDD");
	/* port_range: upstream D x9 */
	expect_run("(and (>= dst-port 1000) (<= dst-port 2000))",
		   "DDDADDDDDDDD");
	/* arithmetic_demo: upstream A A A A A A D A A */
	expect_run("(= (% dst-port 10) 0)", "ADDDAAAAAADA");
	expect_run("(or (and (>= src-ip 3232235776) (<= src-ip 3232236031)) "
		   "(and (>= src-ip 167772160) (<= src-ip 184549375)))",
		   "AAAAAADDEDDA");
}

Test(vflisp, run_fixed_if_not_or)
{
	/* http_tcp.vfl: upstream E-4 on every packet */
	expect_run("(if (= proto 6) (= dst-port 80) 0)", "ADDDDADDEDDD");
	/* LD8 47 assumes IHL 5: frame 6 (IHL 6) is missed */
	expect_run("(if (= proto 6) (= (& tcp-flags 2) 2) 0)", "ADDDDDDDEDDD");
	expect_run("(not (not 1))", "AAAAAAAAAAAA");
	expect_run("(not 1)", "DDDDDDDDDDDD");
	expect_run("(not (= proto 6))", "DDAAADAAEAAA");
	expect_run("(or 2 0)", "AAAAAAAAAAAA");
	expect_run("(or 0 0)", "DDDDDDDDDDDD");
	expect_run("(or (& tcp-flags 2) 0)", "ADDDDDDEEDDE");
	cr_expect_eq(value("(or 0 0 9)"), 9);
	cr_expect_eq(value("(or 0 7 9)"), 7);
	cr_expect_eq(value("(and 3 4)"), 4);
	cr_expect_eq(value("(and 3 0 4)"), 0);
	cr_expect_eq(value("(if 0 5 6)"), 6);
	cr_expect_eq(value("(if 2 5 6)"), 5);
	cr_expect_eq(value("(= (if 1 5 6) 5)"), 1);
	cr_expect_eq(value("(+ (if 1 2 3) (if 0 4 5))"), 7);
	cr_expect_eq(value("(and 1 (not 0))"), 1);
	cr_expect_eq(value("(not (not 7))"), 1);
	cr_expect_eq(value("(if (= proto 6) (if (= dst-port 80) 11 12) 13)"),
		     11);
	cr_expect_eq(value("(+ 1 2 3)"), 6);
	cr_expect_eq(value("(- 1 2)"), UINT64_MAX);
	cr_expect_eq(value("(>> (<< 1 65) 1)"), 1);
	cr_expect_eq(value("ethertype"), 0x0800);
	cr_expect_eq(value("src-ip"), 3232235876u);
	cr_expect_eq(value("(= src-ip 192.168.1.100)"), 1);
	cr_expect_eq(value("0x0800"), 2048);
}

Test(vflisp, run_literals)
{
	expect_run("(or (in-net src-ip 192.168.1.0/24) "
		   "(in-net src-ip 10.0.0.0/8))",
		   "AAAAAADDEDDA");
	expect_run("(or (and (>= src-ip 192.168.1.0) "
		   "(<= src-ip 192.168.1.255)) "
		   "(and (>= src-ip 10.0.0.0) (<= src-ip 10.255.255.255)))",
		   "AAAAAADDEDDA");
	expect_run("(in-net src-ip 192.168.1.101/32)", "DDDDDADDEDDD");
	expect_run("(in-net dst-ip 10.0.0.0/26)", "AAADAADDEDDA");
	expect_run("(= dst-ip6 ::1)", "DDEDDDAEEDDE");
	expect_run("(= src-ip6 2001:db8::1)", "DDDDDDADEDDD");
	expect_run("(in-net src-ip6 2001:db8::/32)", "DDDDDDADEDAD");
	expect_run("(in-net dst-ip6 2001:db8::/32)", "DDEDDDDEEDAE");
	expect_run("(= (& src-ip6 ffff:ffff::) 2001:db8::)", "DDDDDDADEDAD");
	cr_expect_eq(value("(> src-ip6 0)"), 1);
}

Test(vflisp, run_dissector_fields)
{
	expect_run("(= l4-proto 6)", "AADDDAADDADD");
	expect_run("(= l4-proto 17)", "DDAADDDDDDAA");
	expect_run("(and (= l4-proto 6) (or (= l4-dst-port 80) "
		   "(= l4-dst-port 443)))", "AADDDAADDADD");
	expect_run("(= l4-src-port 53)", "DDDADDDDDDDD");
	expect_run("(= l4-dst-port 53)", "DDADDDDDDDAD");
	expect_run("(!= (& tcp-flags* 2) 0)", "ADDDDADDDADD");
	expect_run("(= vlan-id 100)", "DDDDDDDDDADD");
	expect_run("(= is-fragment 1)", "DDDDDDDDDDDA");
	expect_run("(= ip-version* 6)", "DDDDDDADDDAD");
	expect_run("(= ip-version* 4)", "AAAAAADDDADA");
	expect_run("(!= flow-hash 0)", "AAAAAAADDAAA");
	expect_run("(= final-proto 17)", "DDDDDDDDDDAD");
	expect_run("has-ext-hdr", "DDDDDDDDDDAD");
	cr_expect_eq(value("l4-dst-port"), 80);
	cr_expect_eq(value("tcp-flags*"), TV_SYN);
}

/* Frames of two flows for the stateful tests: flow 1 is frame 1 and its
 * reply, flow 2 is frame 2. */
static void flow_frame(struct frame *f, int flow, bool reply)
{
	memset(f, 0, sizeof(*f));
	tv_eth(f, 0x0800);
	if (reply)
		tv_ip4(f, 5, 40, 0, 6, TV_HOST_B, TV_HOST_A);
	else
		tv_ip4(f, 5, 40, 0, 6, TV_HOST_A, TV_HOST_B);
	if (flow == 1)
		tv_tcp(f, reply ? 80 : 1234, reply ? 1234 : 80, TV_ACK);
	else
		tv_tcp(f, 1234, 443, TV_ACK);
}

static bool match(struct pcv_vfm *vm, const struct frame *f, uint64_t ts)
{
	uint64_t r = 0;
	int st = pcv_vfm_run(vm, f->b, f->n, ts, &r);

	cr_assert_eq(st, PCV_VFM_OK, "status %s", pcv_vfm_status_name(st));
	return r != 0;
}

Test(vflisp, run_flow_first)
{
	struct pcv_vfm *vm = load("(flow-first 3)");
	struct frame f, arp;
	int i, n = 0;

	/* 10 packets of flow 1, both directions, and 2 of flow 2 */
	for (i = 0; i < 12; i++) {
		if (i < 10)
			flow_frame(&f, 1, i & 1);
		else
			flow_frame(&f, 2, false);
		n += match(vm, &f, 1000 + i);
		if (i == 2 || i == 9)
			cr_expect_eq(n, 3, "after packet %d: %d accepted", i,
				     n);
	}
	cr_expect_eq(n, 5);
	/* no IP layer: always accepted */
	tv_build(7, &arp);
	for (i = 0; i < 5; i++)
		cr_expect(match(vm, &arp, 2000 + i));
	pcv_vfm_free(vm);
}

Test(vflisp, run_flow_first_expiry)
{
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = NULL;
	struct frame f;
	uint8_t *code;
	size_t len;
	uint64_t sec = 1000000000ull;

	compile_ok("(flow-first 2)", &code, &len);
	pcv_vfm_opts_init(&o);
	o.flow_ttl_ns = 10 * sec;
	cr_assert_eq(pcv_vfm_load(&vm, code, len, &o, err), 0, "%s", err);
	free(code);
	flow_frame(&f, 1, false);
	cr_expect(match(vm, &f, 1 * sec));
	cr_expect(match(vm, &f, 2 * sec));
	cr_expect(!match(vm, &f, 3 * sec));
	/* still active: a load refreshes the entry */
	cr_expect(!match(vm, &f, 12 * sec));
	/* idle for longer than the TTL: a new flow */
	cr_expect(match(vm, &f, 30 * sec));
	cr_expect(match(vm, &f, 31 * sec));
	cr_expect(!match(vm, &f, 32 * sec));
	pcv_vfm_free(vm);
}

Test(vflisp, run_flow_count)
{
	struct pcv_vfm *vm = load("(flow-count)");
	struct pcv_vfm *vm2 = load("(+ (* 1000 (flow-count)) (flow-count))");
	struct frame f, arp;
	uint64_t r;
	int i;

	for (i = 1; i <= 4; i++) {
		flow_frame(&f, 1, i & 1);
		cr_assert_eq(pcv_vfm_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
		cr_expect_eq(r, (uint64_t)i);
		/* two counters, one per operator */
		cr_assert_eq(pcv_vfm_run(vm2, f.b, f.n, 0, &r), PCV_VFM_OK);
		cr_expect_eq(r, 1001u * i);
	}
	tv_build(7, &arp);
	cr_assert_eq(pcv_vfm_run(vm, arp.b, arp.n, 0, &r), PCV_VFM_OK);
	cr_expect_eq(r, 0);
	/* separate instances keep separate tables */
	pcv_vfm_free(vm);
	vm = load("(flow-count)");
	cr_assert_eq(pcv_vfm_run(vm, f.b, f.n, 0, &r), PCV_VFM_OK);
	cr_expect_eq(r, 1);
	pcv_vfm_free(vm);
	pcv_vfm_free(vm2);
}

/* ---- VFLisp and tcpdump side by side ------------------------------------- */

/*
 * Pairs whose verdicts agree on every frame here.  Where the languages
 * differ elsewhere the comment says how; the report has the full list.
 */
static const struct {
	const char *vfl, *bpf;
} twins[] = {
	/* libpcap's "tcp" needs "vlan and" for tagged frames and does not
	 * follow IPv6 extension headers; l4-proto does both */
	{ "(= l4-proto 6)", "tcp or (vlan and tcp)" },
	{ "(= l4-dst-port 443)", "dst port 443 or (vlan and dst port 443)" },
	{ "(= l4-src-port 53)", "src port 53" },
	{ "(or (= l4-src-port 80) (= l4-dst-port 80))", "port 80" },
	{ "(= ethertype 0x0806)", "arp" },
	{ "(= ethertype 0x0800)", "ip" },
	{ "(= ethertype 0x86dd)", "ip6" },
	{ "(and (= ethertype 0x0800) (in-net src-ip 192.168.1.0/24))",
	  "ip src net 192.168.1.0/24" },
	{ "(and (= ethertype 0x0800) (= proto 1))", "icmp" },
	{ "(and (= ethertype 0x0800) (= l4-proto 6) (!= (& tcp-flags* 2) 0))",
	  "tcp[tcpflags] & tcp-syn != 0" },
	{ "(= vlan-id 100)", "vlan 100" },
	{ "(and (= ethertype 0x0800) (= l4-proto 17) (= l4-dst-port 53))",
	  "ip and udp dst port 53" },
	{ "(and (= ethertype 0x86dd) (= dst-ip6 ::1))", "ip6 dst host ::1" },
	{ "(and (= ethertype 0x0800) (> ip-len 512))", "ip[2:2] > 512" },
	{ "(and (= ethertype 0x86dd) (in-net src-ip6 2001:db8::/32))",
	  "ip6 src net 2001:db8::/32" },
};

Test(vflisp, tcpdump_twins)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
	size_t t;

	cr_assert_not_null(p);
	for (t = 0; t < sizeof(twins) / sizeof(twins[0]); t++) {
		struct bpf_program prog;
		struct pcv_vfm *vm = load(twins[t].vfl);
		char got[NFRAMES + 1], want[NFRAMES + 1];
		int i, accepted = 0;

		cr_assert_eq(pcap_compile(p, &prog, twins[t].bpf, 1,
					  PCAP_NETMASK_UNKNOWN), 0, "%s: %s",
			     twins[t].bpf, pcap_geterr(p));
		for (i = 0; i < NFRAMES; i++) {
			struct pcap_pkthdr h = { 0 };
			struct frame f;
			char v = verdict(vm, i, 0);

			tv_build(i, &f);
			h.caplen = h.len = f.n;
			want[i] = pcap_offline_filter(&prog, &h, f.b) ? 'A'
								       : 'D';
			got[i] = v == 'A' ? 'A' : 'D';
			accepted += want[i] == 'A';
		}
		got[NFRAMES] = want[NFRAMES] = 0;
		cr_expect_str_eq(got, want, "%s (%s) vs %s (%s)",
				 twins[t].vfl, got, twins[t].bpf, want);
		cr_expect_gt(accepted, 0, "%s: a twin that matches nothing",
			     twins[t].bpf);
		pcap_freecode(&prog);
		pcv_vfm_free(vm);
	}
	pcap_close(p);
}
