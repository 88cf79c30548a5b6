// SPDX-License-Identifier: MIT
/*
 * vfm-verify.c - the VFM bytecode verifier, the opcode table the whole VFM
 * shares (vfm.c, vfm-asm.c) and the legacy-numbering translation.
 *
 * A program that passes can run without any of the checks the verifier
 * does, so the interpreter keeps only the ones that depend on the packet
 * (bounds, division by zero, the instruction budget).  The rules are those
 * of spec §8 items 12-20, not upstream's:
 *
 *  1. Decode linearly from offset 0: every opcode valid, every operand
 *     complete, FIELD and IPV6_EXT selectors known, loads within the
 *     65,535 bytes a frame offset can address.  This fixes the instruction
 *     boundaries.
 *  2. Every jump lands on a boundary inside the program; a backward (or
 *     self) jump needs allow_loops.
 *  3. The exact stack depth before each instruction, from the real runtime
 *     effects (a 128-bit value is two slots): the same on every path into
 *     an instruction, never below what the instruction pops, never above
 *     PCV_VFM_STACK.  Without back edges one pass in address order sees
 *     every predecessor before its successor; with them a worklist visits
 *     each instruction once (a depth, once set, can only be confirmed or
 *     refuted, so that is the fixed point).
 *  4. Every instruction is reached (no dead code, no trailing bytes) and
 *     none falls off the end.
 *
 * The same forward pass measures the longest path, so the interpreter can
 * skip the instruction budget when no run can reach it.  Every message
 * says "offset N: " and the rule broken.
 *
 * Sections: 1. opcode table  2. legacy numbering  3. verifier
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vfm-int.h"

/* ==== 1. opcode table ==================================================== */

#define OP(code, nm, f, sz, po, pu, ld, fl)                                   \
	[code] = { .name = nm, .fmt = PCV__VFM_##f, .size = sz, .pop = po,    \
		   .push = pu, .ldsize = ld, .flow = fl }
#define LOAD(code, nm, n) OP(code, nm, OFF16, 3, 0, 1, n, 0)
#define ALU(code, nm) OP(code, nm, NONE, 1, 2, 1, 0, 0)
#define PROBE(code, nm) OP(code, nm, NONE, 1, 0, 1, 0, 0)
#define CJ(code, nm, po) OP(code, nm, REL16, 3, po, 0, 0, PCV__VFM_CJMP)

static const struct pcv__vfm_opinfo vfm_ops[PCV_VFM_OP_MAX] = {
	LOAD(PCV_VFM_LD8, "LD8", 1),
	LOAD(PCV_VFM_LD16, "LD16", 2),
	LOAD(PCV_VFM_LD32, "LD32", 4),
	LOAD(PCV_VFM_LD64, "LD64", 8),
	OP(PCV_VFM_PUSH, "PUSH", IMM64, 9, 0, 1, 0, 0),
	OP(PCV_VFM_POP, "POP", NONE, 1, 1, 0, 0, 0),
	OP(PCV_VFM_DUP, "DUP", NONE, 1, 1, 2, 0, 0),
	OP(PCV_VFM_SWAP, "SWAP", NONE, 1, 2, 2, 0, 0),
	ALU(PCV_VFM_ADD, "ADD"),
	ALU(PCV_VFM_SUB, "SUB"),
	ALU(PCV_VFM_MUL, "MUL"),
	ALU(PCV_VFM_DIV, "DIV"),
	ALU(PCV_VFM_AND, "AND"),
	ALU(PCV_VFM_OR, "OR"),
	ALU(PCV_VFM_XOR, "XOR"),
	/* 0x0f AND32: invalid, as upstream */
	ALU(PCV_VFM_SHL, "SHL"),
	ALU(PCV_VFM_SHR, "SHR"),
	OP(PCV_VFM_JMP, "JMP", REL16, 3, 0, 0, 0, PCV__VFM_JMP),
	CJ(PCV_VFM_JEQ, "JEQ", 2),
	CJ(PCV_VFM_JNE, "JNE", 2),
	CJ(PCV_VFM_JGT, "JGT", 2),
	CJ(PCV_VFM_JLT, "JLT", 2),
	OP(PCV_VFM_RET, "RET", NONE, 1, 1, 0, 0, PCV__VFM_RET),
	PROBE(PCV_VFM_HASH5, "HASH5"),
	PROBE(PCV_VFM_CSUM, "CSUM"),
	PROBE(PCV_VFM_PARSE, "PARSE"),
	OP(PCV_VFM_FLOW_LOAD, "FLOW_LOAD", NONE, 1, 1, 1, 0, 0),
	OP(PCV_VFM_FLOW_STORE, "FLOW_STORE", NONE, 1, 2, 0, 0, 0),
	CJ(PCV_VFM_JGE, "JGE", 2),
	CJ(PCV_VFM_JLE, "JLE", 2),
	OP(PCV_VFM_NOT, "NOT", NONE, 1, 1, 1, 0, 0),
	OP(PCV_VFM_NEG, "NEG", NONE, 1, 1, 1, 0, 0),
	ALU(PCV_VFM_MOD, "MOD"),
	ALU(PCV_VFM_EQ, "EQ"),
	ALU(PCV_VFM_NE, "NE"),
	ALU(PCV_VFM_GT, "GT"),
	ALU(PCV_VFM_LT, "LT"),
	ALU(PCV_VFM_GE, "GE"),
	ALU(PCV_VFM_LE, "LE"),
	OP(PCV_VFM_LD128, "LD128", OFF16, 3, 0, 2, 16, 0),
	OP(PCV_VFM_PUSH128, "PUSH128", IMM128, 17, 0, 2, 0, 0),
	OP(PCV_VFM_EQ128, "EQ128", NONE, 1, 4, 1, 0, 0),
	OP(PCV_VFM_NE128, "NE128", NONE, 1, 4, 1, 0, 0),
	OP(PCV_VFM_GT128, "GT128", NONE, 1, 4, 1, 0, 0),
	OP(PCV_VFM_LT128, "LT128", NONE, 1, 4, 1, 0, 0),
	OP(PCV_VFM_GE128, "GE128", NONE, 1, 4, 1, 0, 0),
	OP(PCV_VFM_LE128, "LE128", NONE, 1, 4, 1, 0, 0),
	OP(PCV_VFM_AND128, "AND128", NONE, 1, 4, 2, 0, 0),
	OP(PCV_VFM_OR128, "OR128", NONE, 1, 4, 2, 0, 0),
	OP(PCV_VFM_XOR128, "XOR128", NONE, 1, 4, 2, 0, 0),
	CJ(PCV_VFM_JEQ128, "JEQ128", 4),
	CJ(PCV_VFM_JNE128, "JNE128", 4),
	CJ(PCV_VFM_JGT128, "JGT128", 4),
	CJ(PCV_VFM_JLT128, "JLT128", 4),
	CJ(PCV_VFM_JGE128, "JGE128", 4),
	CJ(PCV_VFM_JLE128, "JLE128", 4),
	PROBE(PCV_VFM_IP_VER, "IP_VER"),
	OP(PCV_VFM_IPV6_EXT, "IPV6_EXT", SEL8, 2, 0, 1, 0, 0),
	PROBE(PCV_VFM_HASH6, "HASH6"),
	/* 0x3c..0x40: upstream's unimplemented opcodes, invalid */
	OP(PCV_VFM_FIELD, "FIELD", SEL8, 2, 0, 1, 0, 0),
	PROBE(PCV_VFM_FLOW_HASH, "FLOW_HASH"),
};

const struct pcv__vfm_opinfo *pcv__vfm_op(unsigned op)
{
	if (op >= PCV_VFM_OP_MAX || !vfm_ops[op].name)
		return NULL;
	return &vfm_ops[op];
}

/* IPV6_EXT selectors are VFLisp field numbers (spec §2.6, §5.3). */
static const char *const ipv6_ext_names[] = {
	[3] = "src_port",       [4] = "dst_port",
	[15] = "has_ext_hdr",   [16] = "ext_hdr_count",
	[17] = "ext_hdr_len",   [18] = "final_proto",
	[19] = "frag_id",       [20] = "frag_offset",
	[21] = "frag_flags",
};

static const char *const field_names[PCV_VFM_F_MAX] = {
	[PCV_VFM_F_L4_PROTO] = "l4_proto",
	[PCV_VFM_F_L4_SPORT] = "l4_sport",
	[PCV_VFM_F_L4_DPORT] = "l4_dport",
	[PCV_VFM_F_TCP_FLAGS] = "tcp_flags",
	[PCV_VFM_F_VLAN] = "vlan",
	[PCV_VFM_F_IP_VERSION] = "ip_version",
	[PCV_VFM_F_FRAGMENT] = "fragment",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *pcv__vfm_sel_name(unsigned op, unsigned sel)
{
	if (op == PCV_VFM_IPV6_EXT)
		return sel < NELEM(ipv6_ext_names) ? ipv6_ext_names[sel] : NULL;
	if (op == PCV_VFM_FIELD)
		return sel < NELEM(field_names) ? field_names[sel] : NULL;
	return NULL;
}

__attribute__((format(printf, 3, 4)))
static int fail(char *errbuf, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!errbuf)
		return -EINVAL;
	n = snprintf(errbuf, PCV_ERRBUF_SIZE, "offset %zu: ", off);
	if (n < 0 || n >= PCV_ERRBUF_SIZE)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(errbuf + n, PCV_ERRBUF_SIZE - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Why an opcode byte is invalid, for the message. */
static const char *invalid_why(unsigned op)
{
	if (op == PCV_VFM_AND32)
		return " (AND32 is not implemented)";
	if (op >= 0x3c && op <= 0x40)
		return " (reserved upstream, not implemented)";
	return "";
}

/* ==== 2. legacy numbering ================================================ */

/*
 * Legacy bytecode (upstream before 2025-07-25) has no AND32: every opcode
 * from SHL up is one lower than in HEAD.  Only opcode bytes change, so the
 * stream is walked with the HEAD sizes of the translated opcodes.
 */
int pcv__vfm_from_legacy(uint8_t *code, size_t len, char *errbuf)
{
	size_t pc = 0;

	while (pc < len) {
		unsigned op = code[pc];
		const struct pcv__vfm_opinfo *oi;

		if (op >= PCV_VFM_AND32)
			op++;
		oi = pcv__vfm_op(op);
		if (!oi)
			return fail(errbuf, pc,
				    "invalid opcode 0x%02x (legacy numbering)",
				    code[pc]);
		if (len - pc < oi->size)
			return fail(errbuf, pc,
				    "truncated %s: needs %u bytes, %zu left",
				    oi->name, oi->size, len - pc);
		code[pc] = (uint8_t)op;
		pc += oi->size;
	}
	return 0;
}

/* ==== 3. verifier ======================================================== */

#define NOT_INSN (-2) /* st[]: inside an instruction's operand */
#define UNSEEN (-1)   /* st[]: instruction start, not reached yet */

struct vstate {
	const uint8_t *code;
	size_t len;
	int16_t *st;      /* depth before each instruction, or the above */
	uint16_t *cnt;    /* longest path to here, saturated (no loops) */
	uint32_t *work;   /* worklist (loops) */
	size_t nwork;
	bool loops;       /* back edges: worklist, budget always */
	uint32_t maxdepth;
	char *errbuf;
};

static inline unsigned le16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static long jump_target(const uint8_t *code, size_t pc)
{
	int16_t disp = (int16_t)le16(code + pc + 1);

	return (long)pc + 3 + disp;
}

/* Pass 1: boundaries and per-instruction rules.  Sets *ninsns, *flow. */
static int decode(struct vstate *v, uint32_t *ninsns, bool *flow)
{
	const uint8_t *code = v->code;
	size_t pc = 0;

	while (pc < v->len) {
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(code[pc]);
		unsigned x;

		if (!oi)
			return fail(v->errbuf, pc, "invalid opcode 0x%02x%s",
				    code[pc], invalid_why(code[pc]));
		if (v->len - pc < oi->size)
			return fail(v->errbuf, pc,
				    "truncated %s: needs %u bytes, %zu left",
				    oi->name, oi->size, v->len - pc);
		switch (oi->fmt) {
		case PCV__VFM_OFF16:
			x = le16(code + pc + 1);
			if (x + oi->ldsize > 65535)
				return fail(v->errbuf, pc,
					    "%s offset %u + %u bytes is past "
					    "byte 65535",
					    oi->name, x, oi->ldsize);
			break;
		case PCV__VFM_SEL8:
			x = code[pc + 1];
			if (!pcv__vfm_sel_name(code[pc], x))
				return fail(v->errbuf, pc,
					    "%s selector %u is unknown",
					    oi->name, x);
			break;
		default:
			break;
		}
		if (code[pc] == PCV_VFM_FLOW_LOAD ||
		    code[pc] == PCV_VFM_FLOW_STORE)
			*flow = true;
		v->st[pc] = UNSEEN;
		(*ninsns)++;
		pc += oi->size;
	}
	return 0;
}

/* Pass 2: jump targets. */
static int check_jumps(struct vstate *v, bool allow_loops)
{
	const uint8_t *code = v->code;
	size_t pc;

	for (pc = 0; pc < v->len; pc += pcv__vfm_op(code[pc])->size) {
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(code[pc]);
		long t;

		if (oi->fmt != PCV__VFM_REL16)
			continue;
		t = jump_target(code, pc);
		if (t < 0 || (size_t)t >= v->len)
			return fail(v->errbuf, pc,
				    "%s target %ld is outside the program "
				    "(0..%zu)",
				    oi->name, t, v->len - 1);
		if (v->st[t] != UNSEEN)
			return fail(v->errbuf, pc,
				    "%s target %ld is not an instruction "
				    "boundary",
				    oi->name, t);
		if ((size_t)t <= pc) {
			if (!allow_loops)
				return fail(v->errbuf, pc,
					    "%s target %ld jumps backward "
					    "(loops are not allowed)",
					    oi->name, t);
			v->loops = true;
		}
	}
	return 0;
}

/* The depth @d reaches instruction @to from @from. */
static int join(struct vstate *v, size_t from, size_t to, int d)
{
	if (to >= v->len)
		return fail(v->errbuf, from,
			    "%s falls off the end of the program (no RET)",
			    pcv__vfm_op(v->code[from])->name);
	if (v->st[to] == UNSEEN) {
		v->st[to] = (int16_t)d;
		if (v->loops)
			v->work[v->nwork++] = (uint32_t)to;
	} else if (v->st[to] != d) {
		return fail(v->errbuf, to,
			    "stack depth %d here, %d on another path", d,
			    v->st[to]);
	}
	if (!v->loops) {
		unsigned c = v->cnt[from] + 1u;

		if (c > PCV_VFM_INSN_LIMIT + 1)
			c = PCV_VFM_INSN_LIMIT + 1;
		if (c > v->cnt[to])
			v->cnt[to] = (uint16_t)c;
	}
	return 0;
}

/* Check one reached instruction and pass its depth on. */
static int step(struct vstate *v, size_t pc)
{
	const struct pcv__vfm_opinfo *oi = pcv__vfm_op(v->code[pc]);
	int d = v->st[pc];
	int nd;
	int rc = 0;

	if (d < oi->pop)
		return fail(v->errbuf, pc,
			    "%s needs %u value%s, stack has %d", oi->name,
			    oi->pop, oi->pop == 1 ? "" : "s", d);
	nd = d - oi->pop + oi->push;
	if (nd > PCV_VFM_STACK)
		return fail(v->errbuf, pc,
			    "%s makes the stack %d deep, more than %d",
			    oi->name, nd, PCV_VFM_STACK);
	if ((uint32_t)nd > v->maxdepth)
		v->maxdepth = (uint32_t)nd;
	if (oi->flow & PCV__VFM_RET)
		return 0;
	if (oi->flow & (PCV__VFM_JMP | PCV__VFM_CJMP))
		rc = join(v, pc, (size_t)jump_target(v->code, pc), nd);
	if (rc == 0 && !(oi->flow & PCV__VFM_JMP))
		rc = join(v, pc, pc + oi->size, nd);
	return rc;
}

/* An instruction nothing reaches: dead code, or the tail of the file. */
static int unreachable(struct vstate *v, size_t pc)
{
	size_t q;

	for (q = pc; q < v->len; q++)
		if (v->st[q] >= 0)
			return fail(v->errbuf, pc,
				    "unreachable %s (no path from offset 0 "
				    "gets here)",
				    pcv__vfm_op(v->code[pc])->name);
	return fail(v->errbuf, pc,
		    "trailing bytes: the last %zu bytes never run",
		    v->len - pc);
}

/* Pass 3: stack depths, reachability, longest path. */
static int flow_pass(struct vstate *v, bool *budget)
{
	size_t pc;
	int rc;

	v->st[0] = 0;
	if (!v->loops) {
		unsigned longest = 0;

		v->cnt[0] = 1;
		for (pc = 0; pc < v->len;
		     pc += pcv__vfm_op(v->code[pc])->size) {
			if (v->st[pc] == UNSEEN)
				return unreachable(v, pc);
			rc = step(v, pc);
			if (rc)
				return rc;
			if (v->cnt[pc] > longest)
				longest = v->cnt[pc];
		}
		*budget = longest > PCV_VFM_INSN_LIMIT;
		return 0;
	}

	v->work[v->nwork++] = 0;
	while (v->nwork) {
		rc = step(v, v->work[--v->nwork]);
		if (rc)
			return rc;
	}
	for (pc = 0; pc < v->len; pc += pcv__vfm_op(v->code[pc])->size)
		if (v->st[pc] == UNSEEN)
			return unreachable(v, pc);
	*budget = true;
	return 0;
}

int pcv__vfm_check(const uint8_t *code, size_t len, bool allow_loops,
		   struct pcv__vfm_proginfo *info, char *errbuf)
{
	struct vstate v = { .code = code, .len = len, .errbuf = errbuf };
	struct pcv__vfm_proginfo pi = { 0 };
	size_t i;
	int rc;

	if (len == 0 || !code)
		return fail(errbuf, 0, "empty program");
	if (len > PCV_VFM_MAX_PROGRAM)
		return fail(errbuf, PCV_VFM_MAX_PROGRAM,
			    "program is %zu bytes, more than %d", len,
			    PCV_VFM_MAX_PROGRAM);

	/* one block: depths, path lengths, then the worklist (its offset,
	 * 4 * len bytes, keeps it aligned) */
	v.st = malloc(len * (sizeof(*v.st) + sizeof(*v.cnt) + sizeof(*v.work)));
	if (!v.st) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "out of memory");
		return -ENOMEM;
	}
	v.work = (uint32_t *)(v.st + 2 * len);
	v.cnt = (uint16_t *)(v.st + len);
	for (i = 0; i < len; i++) {
		v.st[i] = NOT_INSN;
		v.cnt[i] = 0;
	}

	rc = decode(&v, &pi.ninsns, &pi.flow);
	if (rc == 0)
		rc = check_jumps(&v, allow_loops);
	if (rc == 0)
		rc = flow_pass(&v, &pi.budget);
	free(v.st);
	if (rc)
		return rc;
	pi.maxdepth = v.maxdepth;
	if (info)
		*info = pi;
	return 0;
}

int pcv_vfm_verify(const uint8_t *code, size_t len,
		   const struct pcv_vfm_opts *opts, char *errbuf)
{
	struct pcv_vfm_opts def;
	uint8_t *copy;
	int rc;

	if (!opts) {
		pcv_vfm_opts_init(&def);
		opts = &def;
	}
	if (opts->numbering == PCV_VFM_HEAD || len == 0 || !code ||
	    len > PCV_VFM_MAX_PROGRAM)
		return pcv__vfm_check(code, len, opts->allow_loops, NULL,
				      errbuf);
	if (opts->numbering != PCV_VFM_LEGACY) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE,
				 "unknown opcode numbering %d",
				 (int)opts->numbering);
		return -EINVAL;
	}
	copy = malloc(len);
	if (!copy) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "out of memory");
		return -ENOMEM;
	}
	memcpy(copy, code, len);
	rc = pcv__vfm_from_legacy(copy, len, errbuf);
	if (rc == 0)
		rc = pcv__vfm_check(copy, len, opts->allow_loops, NULL, errbuf);
	free(copy);
	return rc;
}
