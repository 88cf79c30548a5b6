// SPDX-License-Identifier: MIT
/*
 * test_asm.c - unit tests for the VFM assembler and disassembler
 * (capture/vfm-asm.c).
 *
 * Byte-exact encodings of every mnemonic and of upstream's number and
 * label rules (spec §4); error messages with their LINE:COL; and
 * disassembly that reassembles to the same bytes, on hand-picked
 * programs, on random decodable byte streams and on random verified
 * programs from a small structured generator.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vfm-int.h"

/* Bytes from "04 01 00 ..." (spaces and '|' ignored). */
static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (*s) {
		unsigned v;

		if (*s == ' ' || *s == '|') {
			s++;
			continue;
		}
		cr_assert(sscanf(s, "%2x", &v) == 1, "bad hex '%s'", s);
		cr_assert_lt(n, max);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void expect_bytes(const char *src, const char *hex)
{
	char err[PCV_ERRBUF_SIZE] = "";
	uint8_t want[256], *code = NULL;
	size_t wlen = unhex(hex, want, sizeof(want)), len = 0;
	int rc = pcv_vfm_asm(src, &code, &len, err);

	cr_assert_eq(rc, 0, "asm '%s': %s", src, err);
	cr_expect_eq(len, wlen, "'%s': %zu bytes, want %zu", src, len, wlen);
	if (len == wlen)
		cr_expect_arr_eq(code, want, len, "'%s': wrong bytes", src);
	free(code);
}

/* @src must fail; errbuf must start with @msg. */
static void expect_error(const char *src, const char *msg)
{
	char err[PCV_ERRBUF_SIZE] = "";
	uint8_t *code = (uint8_t *)1;
	size_t len = 99;
	int rc = pcv_vfm_asm(src, &code, &len, err);

	cr_expect_eq(rc, -EINVAL, "'%s' assembled", src);
	cr_expect_null(code);
	cr_expect_eq(len, 0);
	cr_expect(strncmp(err, msg, strlen(msg)) == 0,
		  "'%s': got \"%s\", want \"%s...\"", src, err, msg);
}

#define Z7 "00 00 00 00 00 00 00"

/* ---- encodings ----------------------------------------------------------- */

Test(asm, every_mnemonic)
{
	static const char *const t[][2] = {
		{ "LD8 23", "00 17 00" },
		{ "LD16 12", "01 0c 00" },
		{ "LD32 26", "02 1a 00" },
		{ "LD64 0xFFFF", "03 ff ff" },
		{ "PUSH 1", "04 01" Z7 },
		{ "POP", "05" },        { "DUP", "06" },
		{ "SWAP", "07" },       { "ADD", "08" },
		{ "SUB", "09" },        { "MUL", "0a" },
		{ "DIV", "0b" },        { "AND", "0c" },
		{ "OR", "0d" },         { "XOR", "0e" },
		{ "SHL", "10" },        { "SHR", "11" },
		{ "JMP 0", "12 00 00" },
		{ "JEQ 0xFFFD", "13 fd ff" },
		{ "JNE 12", "14 0c 00" },
		{ "JGT 0x8000", "15 00 80" },
		{ "JLT 65535", "16 ff ff" },
		{ "RET", "17" },        { "HASH5", "18" },
		{ "CSUM", "19" },       { "PARSE", "1a" },
		{ "FLOW_LOAD", "1b" },  { "FLOW_STORE", "1c" },
		{ "JGE 5", "1d 05 00" },
		{ "JLE 5", "1e 05 00" },
		{ "NOT", "1f" },        { "NEG", "20" },
		{ "MOD", "21" },        { "EQ", "22" },
		{ "NE", "23" },         { "GT", "24" },
		{ "LT", "25" },         { "GE", "26" },
		{ "LE", "27" },
		{ "LD128 22", "28 16 00" },
		{ "PUSH128 2001:db8::1",
		  "29 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01" },
		{ "PUSH128 0x000102030405060708090a0b0c0d0e0f",
		  "29 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f" },
		{ "PUSH128 0x1", "29 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
				 "00 01" },
		{ "PUSH128 ::", "29 00 00 00 00 00 00 00 00 00 00 00 00 00 00 "
				"00 00" },
		{ "PUSH128 ::ffff:192.168.1.1",
		  "29 00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 01 01" },
		{ "EQ128", "2a" },      { "NE128", "2b" },
		{ "GT128", "2c" },      { "LT128", "2d" },
		{ "GE128", "2e" },      { "LE128", "2f" },
		{ "AND128", "30" },     { "OR128", "31" },
		{ "XOR128", "32" },
		{ "JEQ128 0", "33 00 00" },
		{ "JNE128 1", "34 01 00" },
		{ "JGT128 2", "35 02 00" },
		{ "JLT128 3", "36 03 00" },
		{ "JGE128 4", "37 04 00" },
		{ "JLE128 5", "38 05 00" },
		{ "IP_VER", "39" },
		{ "IPV6_EXT 4", "3a 04" },
		{ "IPV6_EXT dst_port", "3a 04" },
		{ "IPV6_EXT src_port", "3a 03" },
		{ "IPV6_EXT frag_flags", "3a 15" },
		{ "IPV6_EXT 255", "3a ff" },
		{ "HASH6", "3b" },
		{ "FIELD 2", "41 02" },
		{ "FIELD l4_proto", "41 00" },
		{ "FIELD l4_dport", "41 02" },
		{ "FIELD tcp_flags", "41 03" },
		{ "FIELD vlan", "41 04" },
		{ "FIELD ip_version", "41 05" },
		{ "FIELD fragment", "41 06" },
		{ "FLOW_HASH", "42" },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		expect_bytes(t[i][0], t[i][1]);
}

Test(asm, numbers)
{
	expect_bytes("PUSH 0x0800", "04 00 08 00 00 00 00 00 00");
	expect_bytes("PUSH 0X10", "04 10" Z7);
	expect_bytes("PUSH 010", "04 0a" Z7); /* decimal, no octal */
	expect_bytes("PUSH -1", "04 ff ff ff ff ff ff ff ff");
	expect_bytes("PUSH -2", "04 fe ff ff ff ff ff ff ff");
	expect_bytes("PUSH 18446744073709551615", "04 ff ff ff ff ff ff ff ff");
	/* overflow saturates, as strtoull */
	expect_bytes("PUSH 18446744073709551616", "04 ff ff ff ff ff ff ff ff");
	expect_bytes("PUSH 0x1ffffffffffffffff", "04 ff ff ff ff ff ff ff ff");
	expect_bytes("PUSH 0xDeadBeef", "04 ef be ad de 00 00 00 00");
	expect_bytes("LD8 0", "00 00 00");
	expect_bytes("LD16 65535", "01 ff ff");
}

Test(asm, upstream_vflisp_shape)
{
	/* spec §5.4: `(= proto 6)`, 37 bytes */
	expect_bytes("LD8 23\nPUSH 6\nJEQ t\nPUSH 0\nJMP e\nt: PUSH 1\ne: RET",
		     "00 1700 | 04 06" Z7 " | 13 0c00 | 04 00" Z7
		     " | 12 0900 | 04 01" Z7 " | 17");
	/* `(+ 1 2 3)`, 30 bytes */
	expect_bytes("PUSH 1 PUSH 2 ADD PUSH 3 ADD RET",
		     "04 01" Z7 " 04 02" Z7 " 08 04 03" Z7 " 08 17");
	/* `(= src-ip6 dst-ip6)` */
	expect_bytes("LD128 22 LD128 38 EQ128 RET", "28 1600 28 2600 2a 17");
}

Test(asm, labels)
{
	/* backward: disp = 0 - (9 + 3) */
	expect_bytes("top: PUSH 1 JMP top", "04 01" Z7 " 12 f4 ff");
	/* forward, the label alone on its line, two labels at one place */
	expect_bytes("JMP b\nPOP\na:\nb: c: RET", "12 01 00 05 17");
	expect_bytes("x_1: JMP x_1", "12 fd ff");
	/* a label at the end of the code */
	expect_bytes("JMP end end:", "12 00 00");
	/* labels named like mnemonics */
	expect_bytes("RET: JMP RET", "12 fd ff");
	/* the jump's own operand may be a label defined later */
	expect_bytes("JEQ128 l PUSH 1 l: RET", "33 09 00 04 01" Z7 " 17");
	/* exactly +32767 reaches */
	{
		char *s = malloc(4000 * 8 + 64), *p = s;
		uint8_t *code;
		size_t len;
		char err[PCV_ERRBUF_SIZE];

		/* 3640 PUSHes = 32760 bytes, then 7 POPs: 32767 */
		p += sprintf(p, "JMP far\n");
		for (int i = 0; i < 3640; i++)
			p += sprintf(p, "PUSH 1\n");
		for (int i = 0; i < 7; i++)
			p += sprintf(p, "POP\n");
		strcpy(p, "far: RET\n");
		cr_assert_eq(pcv_vfm_asm(s, &code, &len, err), 0, "%s", err);
		cr_expect_eq(code[1], 0xff);
		cr_expect_eq(code[2], 0x7f);
		free(code);
		free(s);
	}
}

Test(asm, layout)
{
	/* newlines mean nothing; comments; CRLF; tabs */
	expect_bytes("PUSH 1 ; one\r\n\tRET ; done\r\n", "04 01" Z7 " 17");
	expect_bytes("PUSH\n1\nRET", "04 01" Z7 " 17");
	expect_bytes("PUSH 1 RET", "04 01" Z7 " 17");
	expect_bytes("start: PUSH 1 PUSH 2 ADD RET",
		     "04 01" Z7 " 04 02" Z7 " 08 17");
	expect_bytes("PUSH128\t::1 ; comment\nRET",
		     "29 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 17");

	/* an empty file assembles to nothing, successfully */
	{
		uint8_t *code = NULL;
		size_t len = 7;
		char err[PCV_ERRBUF_SIZE];

		cr_expect_eq(pcv_vfm_asm("", &code, &len, err), 0);
		cr_expect_eq(len, 0);
		cr_expect_not_null(code);
		free(code);
		cr_expect_eq(pcv_vfm_asm("; nothing\n\n", &code, &len, err), 0);
		cr_expect_eq(len, 0);
		free(code);
		cr_expect_eq(pcv_vfm_asm(NULL, &code, &len, err), -EINVAL);
	}
}

/* ---- errors -------------------------------------------------------------- */

Test(asm, errors)
{
	expect_error("push 1", "1:1: unknown instruction 'push' (mnemonics "
			       "are upper case: PUSH)");
	expect_error("PUSH 1\nFOO\nRET", "2:1: unknown instruction 'FOO'");
	expect_error("PUSH 1\n# comment\nRET", "2:1: unexpected character '#'");
	expect_error("PUSH 1 // no\nRET", "1:8: unexpected character '/'");
	expect_error("PUSH 1, 2", "1:7: unexpected character ','");
	expect_error("PUSH 1\nRET 1", "2:5: RET takes no operand");
	expect_error("RET 0", "1:5: RET takes no operand");
	expect_error("a: PUSH 1\n  a: RET",
		     "2:3: duplicate label 'a' (first at 1:1)");
	expect_error("LD8 65536 RET",
		     "1:5: LD8 offset 65536 is too large (at most 65535)");
	expect_error("PUSH 1 LD128 0x10000 RET",
		     "1:14: LD128 offset 0x10000 is too large (at most 65535)");
	expect_error("JMP -3", "1:5: JMP displacement -3 is too large (at "
			       "most 0xffff)");
	expect_error("JMP 0x10000", "1:5: JMP displacement 0x10000 is too "
				    "large");
	expect_error("JMP nowhere", "1:5: undefined label 'nowhere'");
	expect_error("PUSH 12ab", "1:6: invalid number '12ab'");
	expect_error("PUSH 0x", "1:6: invalid number '0x'");
	expect_error("PUSH 1-2", "1:6: invalid number '1-2'");
	expect_error("PUSH -", "1:6: invalid number '-'");
	expect_error("PUSH", "1:5: PUSH needs a number, not the end of the "
			     "file");
	expect_error("LD8 x RET", "1:5: LD8 needs a number, not a name");
	expect_error("JMP\nl: RET", "2:1: JMP needs a label or a number, not a "
				    "label definition");
	expect_error("PUSH128 1.2.3.4 RET",
		     "1:9: PUSH128 needs an IPv6 address");
	expect_error("PUSH128 0x000102030405060708090a0b0c0d0e0f00",
		     "1:9: PUSH128 needs an IPv6 address");
	expect_error("PUSH128", "1:8: PUSH128 needs an IPv6 address");
	expect_error("FIELD bogus", "1:7: FIELD needs a selector (0..255 or a "
				    "name), not 'bogus'");
	expect_error("FIELD 256", "1:7: FIELD needs a selector");
	expect_error("IPV6_EXT l4_dport", "1:10: IPV6_EXT needs a selector");
	expect_error("AND32", "1:1: unknown instruction 'AND32'");
	expect_error("JMP 0\nPUSH 1 foo : RET",
		     "2:8: unknown instruction 'foo'");
}

Test(asm, jump_out_of_range)
{
	char *s = malloc(4000 * 8 + 64), *p = s;

	/* 3 + 36,000 bytes away */
	p += sprintf(p, "JMP far\n");
	for (int i = 0; i < 4000; i++)
		p += sprintf(p, "PUSH 1\n");
	strcpy(p, "far: RET\n");
	expect_error(s, "1:5: jump to 'far' is 36000 bytes away, out of range "
			"(-32768..32767)");
	/* and backward */
	p = s;
	p += sprintf(p, "top: ");
	for (int i = 0; i < 4000; i++)
		p += sprintf(p, "PUSH 1\n");
	strcpy(p, "JMP top\n");
	expect_error(s, "4001:5: jump to 'top' is -36003 bytes away, out of "
			"range");
	free(s);
}

Test(asm, errors_collected)
{
	char err[PCV_ERRBUF_SIZE];
	uint8_t *code;
	size_t len;
	char *s;

	cr_expect_eq(pcv_vfm_asm("push 1\nPOP\nfoo\nRET 2\n", &code, &len,
				 err),
		     -EINVAL);
	cr_expect_str_eq(err,
			 "1:1: unknown instruction 'push' (mnemonics are upper "
			 "case: PUSH)\n"
			 "1:6: unexpected number '1'\n"
			 "3:1: unknown instruction 'foo'\n"
			 "4:5: RET takes no operand");

	/* an undefined label found at the end sorts by its position */
	cr_expect_eq(pcv_vfm_asm("JMP x\n#\n", &code, &len, err), -EINVAL);
	cr_expect_str_eq(err, "1:5: undefined label 'x'\n"
			      "2:1: unexpected character '#'");

	/* many errors: whole lines, then a count, in the buffer */
	s = malloc(200 * 3 + 1);
	for (int i = 0; i < 200; i++)
		memcpy(s + i * 3, "#\n\n", 3);
	s[600] = '\0';
	cr_expect_eq(pcv_vfm_asm(s, &code, &len, err), -EINVAL);
	cr_expect_lt(strlen(err), PCV_ERRBUF_SIZE);
	cr_expect(strncmp(err, "1:1: unexpected character '#'\n3:1: ", 35) ==
			  0,
		  "%s", err);
	cr_expect(strstr(err, "more errors)") != NULL, "%s", err);
	free(s);
}

Test(asm, output_limit)
{
	char *s = malloc(7300 * 7 + 1), *p = s;
	char err[PCV_ERRBUF_SIZE];
	uint8_t *code;
	size_t len;

	/* 7281 PUSHes + 7 POPs = 65,536 bytes: fits */
	for (int i = 0; i < 7281; i++)
		p += sprintf(p, "PUSH 1\n");
	for (int i = 0; i < 7; i++)
		p += sprintf(p, "POP\n");
	cr_expect_eq(pcv_vfm_asm(s, &code, &len, err), 0, "%s", err);
	cr_expect_eq(len, 65536);
	free(code);
	strcpy(p, "RET\n");
	expect_error(s, "7289:1: program longer than 65536 bytes");
	free(s);
}

/* ---- disassembler -------------------------------------------------------- */

static void round_trip(const uint8_t *code, size_t len,
		       enum pcv_vfm_numbering num, const uint8_t *head)
{
	char err[PCV_ERRBUF_SIZE] = "";
	char *text = NULL;
	uint8_t *again = NULL;
	size_t alen = 0;

	cr_assert_eq(pcv_vfm_dis(code, len, num, &text, err), 0, "dis: %s",
		     err);
	cr_assert_eq(pcv_vfm_asm(text, &again, &alen, err), 0,
		     "reassembling:\n%s\n%s", text, err);
	cr_expect_eq(alen, len, "%s", text);
	if (alen == len)
		cr_expect_arr_eq(again, head ? head : code, len,
				 "bytes differ after:\n%s", text);
	free(again);
	free(text);
}

static void round_trip_src(const char *src)
{
	char err[PCV_ERRBUF_SIZE];
	uint8_t *code;
	size_t len;

	cr_assert_eq(pcv_vfm_asm(src, &code, &len, err), 0, "%s", err);
	round_trip(code, len, PCV_VFM_HEAD, NULL);
	free(code);
}

Test(asm, dis_format)
{
	char err[PCV_ERRBUF_SIZE];
	uint8_t *code;
	size_t len;
	char *text;

	cr_assert_eq(pcv_vfm_asm("LD16 12 PUSH 0x0800 JEQ a PUSH 0 RET "
				 "a: FIELD l4_dport PUSH -1 RET",
				 &code, &len, err),
		     0);
	cr_assert_eq(pcv_vfm_dis(code, len, PCV_VFM_HEAD, &text, err), 0);
	cr_expect_str_eq(text, "; 37 bytes\n"
			       "\tLD16 12\t; 0\n"
			       "\tPUSH 2048\t; 3\n"
			       "\tJEQ L_25\t; 12\n"
			       "\tPUSH 0\t; 15\n"
			       "\tRET\t; 24\n"
			       "L_25:\n"
			       "\tFIELD l4_dport\t; 25\n"
			       "\tPUSH 0xffffffffffffffff\t; 27\n"
			       "\tRET\t; 36\n");
	free(text);
	free(code);
}

Test(asm, dis_round_trips)
{
	static const char *const progs[] = {
		"PUSH 1 RET",
		("LD16 12\nPUSH 0x0800\nJNE accept\nLD8 23\nPUSH 17\n"
		 "JNE accept\nLD16 34\nPUSH 53\nJNE accept\nLD16 16\n"
		 "PUSH 512\nJGT drop\naccept: PUSH 1\nRET\n"
		 "drop: PUSH 0\nRET\n"),
		"PUSH 0 top: PUSH 1 ADD DUP PUSH 10 JLT top RET",
		"LD128 22 PUSH128 2001:db8::1 EQ128 RET",
		("LD128 22 PUSH128 ::ffff:10.0.0.1 JLE128 x PUSH 1 RET "
		 "x: PUSH128 0xff00000000000000000000000000ff01 LD128 38 "
		 "XOR128 POP RET"),
		("IPV6_EXT 3 IPV6_EXT 4 IPV6_EXT 15 IPV6_EXT 99 FIELD 6 "
		 "FIELD 200 FLOW_HASH HASH5 HASH6 IP_VER CSUM PARSE RET"),
		"JMP 0xfff0 JEQ 0x7fff JNE 1 RET",
		"PUSH 5 PUSH 6 FLOW_STORE PUSH 5 FLOW_LOAD NOT NEG RET",
	};

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		round_trip_src(progs[i]);

	/* a jump into an immediate (upstream accepts it) keeps its raw
	 * displacement */
	{
		static const uint8_t mid[] = {
			0x04, 7, 0, 0, 0, 0, 0, 0, 0,
			0x04, 1, 0, 0, 0, 0, 0, 0, 0,
			0x04, 1, 0, 0, 0, 0, 0, 0, 0,
			0x13, 0x01, 0x00,
			0x04, 0x17, 0, 0, 0, 0, 0, 0, 0,
			0x17,
		};

		round_trip(mid, sizeof(mid), PCV_VFM_HEAD, NULL);
	}
	/* empty code */
	round_trip((const uint8_t *)"", 0, PCV_VFM_HEAD, NULL);
}

Test(asm, dis_legacy)
{
	static const uint8_t legacy[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x16 };
	static const uint8_t head[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x17 };
	/* legacy JEQ 0x12 jumping over a PUSH whose operand holds 0x16 */
	static const uint8_t legacy2[] = {
		0x04, 1, 0, 0, 0, 0, 0, 0, 0,
		0x04, 1, 0, 0, 0, 0, 0, 0, 0,
		0x12, 0x0a, 0x00,
		0x04, 0x16, 0, 0, 0, 0, 0, 0, 0,
		0x16,
		0x04, 0x0f, 0, 0, 0, 0, 0, 0, 0,
		0x16,
	};
	uint8_t head2[sizeof(legacy2)];
	char err[PCV_ERRBUF_SIZE];
	char *text;

	round_trip(legacy, sizeof(legacy), PCV_VFM_LEGACY, head);
	memcpy(head2, legacy2, sizeof(head2));
	head2[18] = 0x13;
	head2[30] = 0x17;
	head2[40] = 0x17;
	round_trip(legacy2, sizeof(legacy2), PCV_VFM_LEGACY, head2);

	cr_assert_eq(pcv_vfm_dis(legacy2, sizeof(legacy2), PCV_VFM_LEGACY,
				 &text, err),
		     0);
	cr_expect(strstr(text, "\tJEQ L_31\t; 18\n") != NULL, "%s", text);
	cr_expect(strstr(text, "\tPUSH 22\t; 21\n") != NULL, "%s", text);
	free(text);
}

Test(asm, dis_errors)
{
	static const uint8_t and32[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x0f };
	static const uint8_t trunc[] = { 0x04, 1, 0, 0 };
	char err[PCV_ERRBUF_SIZE];
	char *text = (char *)1;

	cr_expect_eq(pcv_vfm_dis(and32, sizeof(and32), PCV_VFM_HEAD, &text,
				 err),
		     -EINVAL);
	cr_expect_null(text);
	cr_expect_str_eq(err, "offset 9: invalid opcode 0x0f");
	cr_expect_eq(pcv_vfm_dis(trunc, sizeof(trunc), PCV_VFM_HEAD, &text,
				 err),
		     -EINVAL);
	cr_expect_str_eq(err, "offset 0: truncated instruction, opcode 0x04");
	cr_expect_eq(pcv_vfm_dis(and32, sizeof(and32), 9, &text, err),
		     -EINVAL);
	/* legacy 0x0f is SHL */
	cr_expect_eq(pcv_vfm_dis(and32, sizeof(and32), PCV_VFM_LEGACY, &text,
				 err),
		     0);
	cr_expect(strstr(text, "SHL") != NULL);
	free(text);
}

/* ---- random programs ----------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static unsigned rnd_n(unsigned n)
{
	return (unsigned)(rnd() % n);
}

/* Random valid opcodes with random operands: decodable, not verified. */
static size_t random_stream(uint8_t *buf, size_t max)
{
	size_t len = 0;

	while (len < max) {
		unsigned op = rnd_n(PCV_VFM_OP_MAX);
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(op);

		if (!oi)
			continue;
		if (len + oi->size > max)
			break;
		buf[len] = (uint8_t)op;
		for (unsigned i = 1; i < oi->size; i++)
			buf[len + i] = (uint8_t)rnd();
		/* sometimes a jump that lands on code */
		if (oi->fmt == PCV__VFM_REL16 && len && rnd_n(2)) {
			long d = -(long)rnd_n((unsigned)len) - 3;

			buf[len + 1] = (uint8_t)d;
			buf[len + 2] = (uint8_t)((unsigned long)d >> 8);
		}
		len += oi->size;
	}
	return len;
}

Test(asm, random_streams_round_trip)
{
	uint8_t buf[600];

	for (int i = 0; i < 3000; i++) {
		size_t len = random_stream(buf, 1 + rnd_n(sizeof(buf)));

		round_trip(buf, len, PCV_VFM_HEAD, NULL);
	}
}

struct gen {
	char *s;
	size_t len, cap;
	unsigned labels;
};

__attribute__((format(printf, 2, 3)))
static void gen_put(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(g->s + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		cr_assert_geq(n, 0);
		if ((size_t)n < g->cap - g->len)
			break;
		g->cap *= 2;
		g->s = realloc(g->s, g->cap);
		cr_assert_not_null(g->s);
	}
	g->len += (size_t)n;
}

static const char *const alu_ops[] = { "ADD", "SUB", "MUL", "AND", "OR",
				       "XOR", "SHL", "SHR", "EQ",  "NE",
				       "GT",  "LT",  "GE",  "LE" };
static const char *const jcc_ops[] = { "JEQ", "JNE", "JGT",
				       "JLT", "JGE", "JLE" };
static const char *const cmp128_ops[] = { "EQ128", "NE128", "GT128",
					  "LT128", "GE128", "LE128" };
static const char *const probe_ops[] = { "HASH5",  "HASH6", "CSUM",
					 "PARSE",  "IP_VER", "FLOW_HASH" };

#define PICK(a) (a)[rnd_n(sizeof(a) / sizeof((a)[0]))]

/* Code that leaves the stack as it found it (@depth values on it). */
static void gen_block(struct gen *g, unsigned depth, int level)
{
	int n = 1 + (int)rnd_n(4);

	while (n--) {
		unsigned l1, l2;

		switch (rnd_n(level > 3 ? 8 : 11)) {
		case 0:
			gen_put(g, "PUSH %llu POP\n",
				(unsigned long long)rnd());
			break;
		case 1:
			gen_put(g, "LD%u %u POP\n", 8u << rnd_n(4), rnd_n(100));
			break;
		case 2:
			gen_put(g, "PUSH %u PUSH %u %s POP\n", rnd_n(1000),
				rnd_n(70), PICK(alu_ops));
			break;
		case 3:
			gen_put(g, "%s %s POP\n", PICK(probe_ops),
				rnd_n(2) ? "NOT" : "NEG");
			break;
		case 4:
			gen_put(g, "PUSH128 ::%x LD128 %u %s POP\n",
				rnd_n(0xffff), rnd_n(64), PICK(cmp128_ops));
			break;
		case 5:
			gen_put(g, "FIELD %u IPV6_EXT %u ADD POP\n",
				rnd_n(PCV_VFM_F_MAX), 15 + rnd_n(7));
			break;
		case 6:
			if (depth)
				gen_put(g, "DUP DUP SWAP POP POP\n");
			else
				gen_put(g, "PUSH 1 DUP SWAP POP POP\n");
			break;
		case 7:
			gen_put(g, "PUSH %u PUSH %u FLOW_STORE PUSH 1 "
				   "FLOW_LOAD POP\n",
				rnd_n(9), rnd_n(9));
			break;
		case 8: /* if */
			l1 = g->labels++;
			gen_put(g, "LD8 %u PUSH %u %s L%u\n", rnd_n(60),
				rnd_n(3), PICK(jcc_ops), l1);
			gen_block(g, depth, level + 1);
			gen_put(g, "L%u:\n", l1);
			break;
		case 9: /* if-else */
			l1 = g->labels++;
			l2 = g->labels++;
			gen_put(g, "PUSH128 ::%u LD128 %u J%s L%u\n", rnd_n(3),
				rnd_n(40), PICK(cmp128_ops), l1);
			gen_block(g, depth, level + 1);
			gen_put(g, "JMP L%u\nL%u:\n", l2, l1);
			gen_block(g, depth, level + 1);
			gen_put(g, "L%u:\n", l2);
			break;
		default: /* an early return */
			l1 = g->labels++;
			gen_put(g, "PUSH %u PUSH %u JNE L%u PUSH %u RET L%u:\n",
				rnd_n(2), rnd_n(2), l1, rnd_n(3), l1);
			gen_block(g, depth, level + 1);
			break;
		}
	}
}

Test(asm, random_verified_programs_round_trip)
{
	struct gen g = { .cap = 4096 };
	char err[PCV_ERRBUF_SIZE];

	g.s = malloc(g.cap);
	for (int i = 0; i < 500; i++) {
		uint8_t *code;
		size_t len;

		g.len = 0;
		g.labels = 0;
		g.s[0] = '\0';
		gen_block(&g, 0, 0);
		gen_put(&g, "PUSH %u RET\n", rnd_n(3));
		cr_assert_eq(pcv_vfm_asm(g.s, &code, &len, err), 0, "%s\n%s",
			     g.s, err);
		cr_assert_eq(pcv_vfm_verify(code, len, NULL, err), 0,
			     "generated program refused: %s\n%s", err, g.s);
		round_trip(code, len, PCV_VFM_HEAD, NULL);
		free(code);
	}
	free(g.s);
}
