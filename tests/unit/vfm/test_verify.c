// SPDX-License-Identifier: MIT
/*
 * test_verify.c - unit tests for the VFM verifier (capture/vfm-verify.c).
 *
 * One program per rule that breaks it, checking the whole message (the
 * byte offset and the rule); programs that must pass, among them the
 * upstream-valid examples of spec §7.1 and the LD128/PUSH-pair form
 * upstream wrongly rejects; and the loop rules.  Bytecode is given as
 * bytes where the assembler would not produce it, else as assembly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vectors.h"

static int verify_bytes(const uint8_t *code, size_t len, bool loops,
			char *err)
{
	struct pcv_vfm_opts o;

	pcv_vfm_opts_init(&o);
	o.allow_loops = loops;
	err[0] = '\0';
	return pcv_vfm_verify(code, len, &o, err);
}

/* @src must be refused with exactly @msg (with and without loops). */
static void refused(const char *src, const char *msg)
{
	char err[PCV_ERRBUF_SIZE];
	size_t len;
	uint8_t *code = tv_assemble(src, &len);

	cr_expect_eq(verify_bytes(code, len, false, err), -EINVAL,
		     "'%s' passed", src);
	cr_expect_str_eq(err, msg, "'%s'", src);
	free(code);
}

static void refused_bytes(const uint8_t *code, size_t len, const char *msg)
{
	char err[PCV_ERRBUF_SIZE];

	cr_expect_eq(verify_bytes(code, len, false, err), -EINVAL);
	cr_expect_str_eq(err, msg);
	cr_expect_eq(verify_bytes(code, len, true, err), -EINVAL);
	cr_expect_str_eq(err, msg);
}

static void passes(const char *src, bool loops)
{
	char err[PCV_ERRBUF_SIZE];
	size_t len;
	uint8_t *code = tv_assemble(src, &len);

	cr_expect_eq(verify_bytes(code, len, loops, err), 0, "'%s': %s", src,
		     err);
	free(code);
}

/* ---- programs that pass -------------------------------------------------- */

Test(verify, upstream_examples_pass)
{
	/* spec §7.1, reassembled in the HEAD numbering */
	passes("PUSH 1 RET", false);                        /* accept_all */
	passes("PUSH 42 RET", false);                       /* simple_test */
	passes("PUSH 10 PUSH 5 ADD PUSH 2 MUL RET", false); /* arithmetic */
	passes("LD16 12 PUSH 0x0800 JEQ a PUSH 0 RET a: PUSH 1 RET", false);
	passes("LD16 12\nPUSH 0x0800\nJNE accept\n"
	       "LD8 23\nPUSH 17\nJNE accept\n"
	       "LD16 34\nPUSH 53\nJNE accept\n"
	       "LD16 16\nPUSH 512\nJGT drop\n"
	       "accept: PUSH 1\nRET\n"
	       "drop: PUSH 0\nRET\n",
	       false); /* dns_amplification_filter */
	/* upstream's bench TCP filter */
	passes("LD8 23 PUSH 6 JEQ a PUSH 0 RET a: PUSH 1 RET", false);
}

Test(verify, our_fixes_pass)
{
	/* upstream rejects these (spec §2.5, §3) */
	passes("LD128 22 PUSH 0x20010db800000000 PUSH 1 EQ128 RET", false);
	passes("LD128 22 PUSH128 ::1 EQ128 RET", false);
	passes("LD128 22 LD128 38 EQ128 RET", false);
	passes("LD8 9000 RET", false);      /* past upstream's 1500 */
	passes("LD16 65533 RET", false);    /* 65533 + 2 = 65535 */
	passes("LD8 65534 RET", false);
	passes("LD128 65519 RET", false);
	passes("PUSH 1 PUSH 1 EQ RET", false); /* upstream: SIGSEGV */
	passes("PUSH 1 PUSH 2 FLOW_STORE PUSH 1 FLOW_LOAD RET", false);
	passes("IPV6_EXT 3 IPV6_EXT 21 ADD RET", false);
	passes("FIELD 0 FIELD 6 ADD FLOW_HASH ADD RET", false);
	/* the VFLisp and-chain: DUP, compare, jump out with the value */
	passes("LD8 23 DUP PUSH 0 JEQ end POP PUSH 1 end: RET", false);
	/* values left under RET are fine */
	passes("PUSH 1 PUSH 2 PUSH 3 RET", false);
}

Test(verify, numbering_option)
{
	static const uint8_t legacy[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x16 };
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm_opts o;

	pcv_vfm_opts_init(&o);
	o.numbering = PCV_VFM_LEGACY;
	cr_expect_eq(pcv_vfm_verify(legacy, sizeof(legacy), &o, err), 0, "%s",
		     err);
	cr_expect_eq(pcv_vfm_verify(legacy, sizeof(legacy), NULL, err),
		     -EINVAL);
	cr_expect_str_eq(err, "offset 9: truncated JLT: needs 3 bytes, 1 left");
	/* the caller's bytes are not translated in place */
	cr_expect_eq(legacy[9], 0x16);
	o.numbering = 5;
	cr_expect_eq(pcv_vfm_verify(legacy, sizeof(legacy), &o, err), -EINVAL);
	/* no errbuf is fine */
	cr_expect_eq(pcv_vfm_verify(legacy, sizeof(legacy), NULL, NULL),
		     -EINVAL);
}

/* ---- sizes --------------------------------------------------------------- */

Test(verify, empty_and_too_long)
{
	static const uint8_t ret[] = { 0x17 };
	char err[PCV_ERRBUF_SIZE];
	uint8_t *big;
	size_t i;

	refused_bytes(ret, 0, "offset 0: empty program");
	cr_expect_eq(verify_bytes(NULL, 0, false, err), -EINVAL);
	cr_expect_str_eq(err, "offset 0: empty program");

	/* exactly 65,536 bytes: PUSH 1, 32,763 x (DUP, POP), RET */
	big = malloc(PCV_VFM_MAX_PROGRAM + 1);
	big[0] = PCV_VFM_PUSH;
	memset(big + 1, 0, 8);
	big[1] = 1;
	for (i = 9; i < PCV_VFM_MAX_PROGRAM - 1; i += 2) {
		big[i] = PCV_VFM_DUP;
		big[i + 1] = PCV_VFM_POP;
	}
	big[PCV_VFM_MAX_PROGRAM - 1] = PCV_VFM_RET;
	cr_expect_eq(verify_bytes(big, PCV_VFM_MAX_PROGRAM, false, err), 0,
		     "%s", err);
	big[PCV_VFM_MAX_PROGRAM] = PCV_VFM_RET;
	refused_bytes(big, PCV_VFM_MAX_PROGRAM + 1,
		      "offset 65536: program is 65537 bytes, more than 65536");
	free(big);
}

/* ---- decoding ------------------------------------------------------------ */

Test(verify, truncated_instruction)
{
	static const uint8_t ld16[] = { 0x01, 0x0c };
	static const uint8_t push[] = { 0x04, 1, 0, 0, 0, 0, 0x17 };
	static const uint8_t push128[] = { 0x29, 0, 0, 0 };
	static const uint8_t jeq[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0,
				       0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x13, 0 };
	static const uint8_t field[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x41 };

	refused_bytes(ld16, sizeof(ld16),
		      "offset 0: truncated LD16: needs 3 bytes, 2 left");
	refused_bytes(push, sizeof(push),
		      "offset 0: truncated PUSH: needs 9 bytes, 7 left");
	refused_bytes(push128, sizeof(push128),
		      "offset 0: truncated PUSH128: needs 17 bytes, 4 left");
	refused_bytes(jeq, sizeof(jeq),
		      "offset 18: truncated JEQ: needs 3 bytes, 2 left");
	refused_bytes(field, sizeof(field),
		      "offset 9: truncated FIELD: needs 2 bytes, 1 left");
}

Test(verify, invalid_opcodes)
{
	static const unsigned bad[] = { 0x0f, 0x3c, 0x3d, 0x3e, 0x3f,
					0x40, 0x43, 0x80, 0xff };
	char want[PCV_ERRBUF_SIZE];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t code[11] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0 };

		code[9] = (uint8_t)bad[i];
		code[10] = 0x17;
		snprintf(want, sizeof(want),
			 "offset 9: invalid opcode 0x%02x%s",
			 bad[i],
			 bad[i] == 0x0f ? " (AND32 is not implemented)"
			 : bad[i] >= 0x3c && bad[i] <= 0x40
				 ? " (reserved upstream, not implemented)"
				 : "");
		refused_bytes(code, sizeof(code), want);
	}
}

Test(verify, selectors)
{
	refused("FIELD 7 RET", "offset 0: FIELD selector 7 is unknown");
	refused("PUSH 1 FIELD 255 RET",
		"offset 9: FIELD selector 255 is unknown");
	refused("IPV6_EXT 0 RET", "offset 0: IPV6_EXT selector 0 is unknown");
	refused("IPV6_EXT 5 RET", "offset 0: IPV6_EXT selector 5 is unknown");
	refused("IPV6_EXT 22 RET", "offset 0: IPV6_EXT selector 22 is unknown");
	for (int s = 0; s < PCV_VFM_F_MAX; s++) {
		char src[32];

		snprintf(src, sizeof(src), "FIELD %d RET", s);
		passes(src, false);
	}
	passes("IPV6_EXT 3 RET", false);
	passes("IPV6_EXT 4 RET", false);
	for (int s = 15; s <= 21; s++) {
		char src[32];

		snprintf(src, sizeof(src), "IPV6_EXT %d RET", s);
		passes(src, false);
	}
}

Test(verify, load_offsets)
{
	refused("LD8 65535 RET", "offset 0: LD8 offset 65535 + 1 bytes is past "
				 "byte 65535");
	refused("LD16 65534 RET", "offset 0: LD16 offset 65534 + 2 bytes is "
				  "past byte 65535");
	refused("PUSH 1 POP LD32 65532 RET",
		"offset 10: LD32 offset 65532 + 4 bytes is past byte 65535");
	refused("LD64 65528 RET", "offset 0: LD64 offset 65528 + 8 bytes is "
				  "past byte 65535");
	refused("LD128 65520 RET", "offset 0: LD128 offset 65520 + 16 bytes is "
				   "past byte 65535");
	passes("LD32 65531 RET", false);
	passes("LD64 65527 RET", false);
}

/* ---- jumps --------------------------------------------------------------- */

Test(verify, jump_targets)
{
	/* spec §1.4: upstream lets JEQ +1 land on a RET byte inside the
	 * next PUSH's immediate */
	static const uint8_t mid[] = {
		0x04, 7, 0, 0, 0, 0, 0, 0, 0,
		0x04, 1, 0, 0, 0, 0, 0, 0, 0,
		0x04, 1, 0, 0, 0, 0, 0, 0, 0,
		0x13, 0x01, 0x00,
		0x04, 0x17, 0, 0, 0, 0, 0, 0, 0,
		0x17,
	};
	static const uint8_t fwd_out[] = { 0x12, 100, 0, 0x04, 1, 0, 0, 0, 0,
					   0, 0, 0, 0x17 };
	static const uint8_t back_out[] = { 0x04, 1, 0, 0, 0, 0, 0, 0, 0,
					    0x12, 0xf0, 0xff, 0x17 };
	static const uint8_t to_end[] = { 0x12, 0x00, 0x00 };

	refused_bytes(mid, sizeof(mid),
		      "offset 27: JEQ target 31 is not an instruction "
		      "boundary");
	refused_bytes(fwd_out, sizeof(fwd_out),
		      "offset 0: JMP target 103 is outside the program "
		      "(0..12)");
	refused_bytes(back_out, sizeof(back_out),
		      "offset 9: JMP target -4 is outside the program (0..12)");
	refused_bytes(to_end, sizeof(to_end),
		      "offset 0: JMP target 3 is outside the program (0..2)");
}

Test(verify, backward_jumps)
{
	static const char loop[] = "PUSH 0\n"
				   "top: PUSH 1 ADD DUP PUSH 10 JLT top\n"
				   "RET\n";
	char err[PCV_ERRBUF_SIZE];
	size_t len;
	uint8_t *code;

	refused(loop, "offset 29: JLT target 9 jumps backward (loops are not "
		      "allowed)");
	passes(loop, true);
	/* a jump to itself is a backward jump */
	refused("PUSH 1 self: JMP self",
		"offset 9: JMP target 9 jumps backward (loops are not "
		"allowed)");
	passes("PUSH 1 self: JMP self", true);
	/* a jump to the next instruction is forward */
	passes("PUSH 1 JMP n n: RET", false);

	/* allow_loops: depths still exact */
	code = tv_assemble("top: PUSH 1 PUSH 0 PUSH 0 JEQ top RET", &len);
	cr_expect_eq(verify_bytes(code, len, true, err), -EINVAL);
	cr_expect_str_eq(err, "offset 0: stack depth 1 here, 0 on another "
			      "path");
	free(code);
	code = tv_assemble("top: PUSH 1 PUSH 1 JEQ top", &len);
	cr_expect_eq(verify_bytes(code, len, true, err), -EINVAL);
	cr_expect_str_eq(err, "offset 18: JEQ falls off the end of the "
			      "program (no RET)");
	free(code);
	code = tv_assemble("top: POP PUSH 1 JMP top", &len);
	cr_expect_eq(verify_bytes(code, len, true, err), -EINVAL);
	cr_expect_str_eq(err, "offset 0: POP needs 1 value, stack has 0");
	free(code);
	/* reached only through a back edge */
	passes("JMP fwd\n"
	       "back: PUSH 1 RET\n"
	       "fwd: PUSH 0 PUSH 0 JEQ back PUSH 2 RET\n",
	       true);
	/* unreachable code with loops allowed */
	code = tv_assemble("top: PUSH 1 PUSH 1 JEQ top PUSH 1 RET JMP top",
			   &len);
	cr_expect_eq(verify_bytes(code, len, true, err), -EINVAL);
	cr_expect_str_eq(err, "offset 31: trailing bytes: the last 3 bytes "
			      "never run");
	free(code);
}

/* ---- stack depth --------------------------------------------------------- */

Test(verify, underflow_each_arity)
{
	refused("RET", "offset 0: RET needs 1 value, stack has 0");
	refused("POP PUSH 1 RET", "offset 0: POP needs 1 value, stack has 0");
	refused("DUP RET", "offset 0: DUP needs 1 value, stack has 0");
	refused("NOT RET", "offset 0: NOT needs 1 value, stack has 0");
	refused("NEG RET", "offset 0: NEG needs 1 value, stack has 0");
	refused("FLOW_LOAD RET", "offset 0: FLOW_LOAD needs 1 value, stack "
				 "has 0");
	refused("PUSH 1 SWAP RET",
		"offset 9: SWAP needs 2 values, stack has 1");
	refused("PUSH 1 ADD RET", "offset 9: ADD needs 2 values, stack has 1");
	refused("PUSH 1 EQ RET", "offset 9: EQ needs 2 values, stack has 1");
	refused("PUSH 1 MOD RET", "offset 9: MOD needs 2 values, stack has 1");
	refused("PUSH 1 FLOW_STORE PUSH 1 RET",
		"offset 9: FLOW_STORE needs 2 values, stack has 1");
	refused("PUSH 1 JEQ t t: PUSH 1 RET",
		"offset 9: JEQ needs 2 values, stack has 1");
	refused("LD128 22 PUSH 1 EQ128 RET",
		"offset 12: EQ128 needs 4 values, stack has 3");
	refused("LD128 22 PUSH 1 XOR128 RET",
		"offset 12: XOR128 needs 4 values, stack has 3");
	refused("PUSH128 ::1 PUSH 1 JGT128 t t: PUSH 1 RET",
		"offset 26: JGT128 needs 4 values, stack has 3");
	/* FLOW_STORE takes 2, FLOW_LOAD gives back 1: the real effects */
	refused("PUSH 1 PUSH 2 FLOW_STORE RET",
		"offset 19: RET needs 1 value, stack has 0");
	refused("PUSH 1 PUSH 1 JEQ t t: RET",
		"offset 21: RET needs 1 value, stack has 0");
	refused("LD128 22 LD128 38 EQ128 POP RET",
		"offset 8: RET needs 1 value, stack has 0");
}

Test(verify, depth_mismatch_at_join)
{
	refused("LD8 0 PUSH 1 JEQ l PUSH 5 l: PUSH 1 RET",
		"offset 24: stack depth 1 here, 0 on another path");
	/* the DUP-and-jump-out imbalance of upstream's tcp_filter */
	refused("LD8 23 DUP PUSH 6 JNE out POP PUSH 1 JMP end "
		"out: PUSH 0 end: RET",
		"offset 38: stack depth 2 here, 1 on another path");
	/* values left under RET on one path are fine */
	passes("LD8 23 DUP PUSH 6 JNE out POP PUSH 1 RET "
	       "out: PUSH 0 JMP end end: RET",
	       false);
}

Test(verify, depth_limit)
{
	char *s = malloc(256 * 8 + 16), *p = s;
	int i;

	for (i = 0; i < 255; i++)
		p += sprintf(p, "PUSH 1 ");
	strcpy(p, "RET");
	passes(s, false);
	strcpy(p, "PUSH 1 RET");
	refused(s, "offset 2295: PUSH makes the stack 256 deep, more than 255");
	strcpy(p - 7, "LD128 0 RET"); /* 254 + 2 */
	refused(s, "offset 2286: LD128 makes the stack 256 deep, more than "
		   "255");
	strcpy(p - 7, "DUP RET");
	passes(s, false);
	memcpy(p - 7, "PUSH 1 ", 7);
	strcpy(p, "DUP RET");
	refused(s, "offset 2295: DUP makes the stack 256 deep, more than 255");
	free(s);
}

/* ---- reachability -------------------------------------------------------- */

Test(verify, unreachable_and_trailing)
{
	refused("PUSH 1 JMP l PUSH 2 l: RET",
		"offset 12: unreachable PUSH (no path from offset 0 gets "
		"here)");
	refused("PUSH 1 RET POP", "offset 10: trailing bytes: the last 1 bytes "
				  "never run");
	refused("PUSH 1 RET PUSH 2 RET",
		"offset 10: trailing bytes: the last 10 bytes never run");
	refused("PUSH 1 PUSH 1 PUSH 1 JEQ a RET a: PUSH 2 RET RET",
		"offset 41: trailing bytes: the last 1 bytes never run");
	/* trailing bytes that do not decode are a truncated instruction */
	refused_bytes((const uint8_t[]){ 0x04, 1, 0, 0, 0, 0, 0, 0, 0, 0x17,
					 0x00 },
		      11, "offset 10: truncated LD8: needs 3 bytes, 1 left");
}

Test(verify, falling_off_the_end)
{
	refused("PUSH 1", "offset 0: PUSH falls off the end of the program "
			  "(no RET)");
	refused("PUSH 1 PUSH 2 ADD",
		"offset 18: ADD falls off the end of the program (no RET)");
	refused("PUSH 1 PUSH 1 JEQ a PUSH 1 RET a: PUSH 2",
		"offset 31: PUSH falls off the end of the program (no RET)");
}

/* Every run of a verified program stops: the loop-free one by RET, the
 * looping one by the budget. */
Test(verify, verified_programs_terminate)
{
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm;
	char err[PCV_ERRBUF_SIZE];
	uint8_t pkt[64] = { 0 };
	uint64_t r;
	size_t len;
	uint8_t *code =
		tv_assemble("top: PUSH 1 PUSH 1 JEQ top PUSH 1 RET", &len);

	pcv_vfm_opts_init(&o);
	o.allow_loops = true;
	cr_assert_eq(pcv_vfm_load(&vm, code, len, &o, err), 0, "%s", err);
	cr_expect_eq(pcv_vfm_run(vm, pkt, sizeof(pkt), 0, &r),
		     PCV_VFM_E_LIMIT);
	pcv_vfm_free(vm);
	free(code);
}
