// SPDX-License-Identifier: MIT
/*
 * xdp-filter.c - classic BPF, as libpcap compiles a tcpdump expression,
 * translated into an XDP program, so that the kernel drops what the filter
 * rejects before AF_XDP delivery (xdp-filter.h).
 *
 * The program must answer as libpcap's bpf_filter() (1.10) does on the
 * whole frame, the interpreter our userspace path uses:
 *  - A, X and the scratch words M[0..15] are 32-bit and start at 0;
 *  - a load past the end of the packet makes the filter return 0;
 *  - so does division or modulo by X == 0; a shift by X >= 32 gives 0
 *    (eBPF would use the count modulo 32);
 *  - RET 0 rejects, any other value accepts: the snapshot length is not
 *    ours to apply here.
 * Rejected packets get XDP_PASS: the filter only decides what we capture.
 *
 * Multi-buffer frames: loaded with BPF_F_XDP_HAS_FRAGS, the program may
 * see a frame longer than its first buffer.  ctx->data..data_end is then
 * only the linear part, bpf_xdp_get_buff_len() the whole length, which is
 * what LEN gives.  A load the linear part cannot satisfy goes to the
 * out-of-bounds block, which asks bpf_xdp_get_buff_len(): a frame no
 * longer than its linear part has no more bytes, so the load is past its
 * end and the frame is rejected, as bpf_filter() would; otherwise the
 * bytes may be in a fragment, the program cannot read them directly, and
 * it cannot decide.  It then accepts the frame and sets
 * PCV_XSK_META_UNFILTERED in the struct pcv_xsk_meta (bpf/xsk-meta.h)
 * that bpf/xsk.bpf.c wrote in the metadata area, for userspace to run
 * the filter on the whole frame.  Without that metadata (a driver
 * without metadata support, a program run alone) the frame is accepted
 * unmarked: capturing too much is the safe side, as userspace can filter
 * again but never recover a frame dropped here.
 *
 * Registers: R6 ctx, R7 A, R8 X, R9 data, R5 data_end.  Helper calls
 * (bpf_xdp_get_buff_len() for LEN and the out-of-bounds block, the final
 * redirect) clobber R1-R5: R1-R4 serve only as temporaries within one
 * instruction's translation, and R5 is loaded from ctx again after each
 * call.  bpf_xdp_get_buff_len() does not change packet data, so the
 * verifier keeps R9 and what it learnt of its bounds.  A and X use the
 * 32-bit ALU, which zero-extends, and JMP32 compares: a 64-bit JMP would
 * sign-extend a k >= 2^31.  M[] lives at the top of the stack; the words
 * the program reads are zeroed first, as the verifier refuses reads of
 * uninitialised stack.
 *
 * Packet loads use direct packet access, with the bounds check the
 * verifier understands: "end = ptr + size; if end > data_end goto oob".
 * An XDP frame's linear data is shorter than 64 KiB (the verifier's
 * MAX_PACKET_OFF), so a load reaching past 0xffff can never be in it: it
 * becomes a jump to the out-of-bounds block.  An indirect offset X + k is
 * compared with that limit first, which is also what lets the verifier
 * bound the pointer (find_good_pkt_pointers() ignores an unbounded one).
 * No packet pointer is subtracted from another, which the verifier
 * allows only a loader with CAP_PERFMON: LEN asks bpf_xdp_get_buff_len(),
 * and the out-of-bounds block compares data + len with data_end, as any
 * loader may.
 *
 * Layout: a prologue, each reachable classic instruction in order, then
 * the out-of-bounds block, which falls into the reject block, the
 * undecided block, which falls into the accept block, each only when
 * something goes there - the verifier refuses unreachable code, hence the
 * liveness pass.  The out-of-bounds and undecided blocks are there when
 * a reachable instruction reads the packet.  A jump to a RET #k goes
 * straight to the block the RET would go to.  A classic instruction
 * becomes 0 to 10 eBPF ones, their number depending only on the
 * instruction and on which one comes next, so a first pass measures,
 * giving each its eBPF position, and a second writes the same
 * instructions, now with jump offsets, into an array of the measured
 * size.
 *
 * Refused (-EOPNOTSUPP): Linux ancillary loads (SKF_AD_OFF and the
 * negative SKF_NET_OFF/SKF_LL_OFF offsets) - XDP has no skb; backward
 * jumps (libpcap's "protochain" loop); opcodes bpf_filter() would not run.
 * Jumps longer than eBPF's 16-bit offsets give -E2BIG.
 *
 * Linux only: the Makefile leaves this file out elsewhere.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/filter.h>

#include "xdp-filter.h"
#include "../bpf/xsk-meta.h" /* after linux/bpf.h: it wants __u32, __u64 */

#define PROG_NAME "pcv_filter"
#define PROG_LICENSE "Dual MIT/GPL"
#define LOG_SIZE (64 * 1024) /* the kernel keeps the end of a long log */

#define R_CTX BPF_REG_6
#define R_A BPF_REG_7
#define R_X BPF_REG_8
#define R_DATA BPF_REG_9
#define R_END BPF_REG_5
#define R_PTR BPF_REG_1 /* where a load reads */
#define R_LIM BPF_REG_2 /* the end of what it reads */
#define R_TMP BPF_REG_3

#define PKT_MAX 0xffffu            /* MAX_PACKET_OFF; XDP frames are shorter */
#define MAX_CLASSIC (1u << 20)     /* keeps every count far from overflow */
#define MAX_EBPF 1000000u          /* BPF_COMPLEXITY_LIMIT_INSNS */
#define MEM_OFF(k) ((int16_t)(4 * (int)(k) - 4 * BPF_MEMWORDS))

struct node {
	unsigned pos;  /* its first eBPF instruction */
	unsigned next; /* the next live classic instruction, or n */
	bool live;     /* reachable from the first instruction */
};

/*
 * Jump targets are classic indices, or n + one of these for a block
 * (node[n + REJECT] ...).
 */
enum block {
	REJECT,    /* XDP_PASS */
	ACCEPT,    /* the redirect, or XDP_TX */
	OOB,       /* a load past the linear part: reject, or UNDECIDED */
	UNDECIDED, /* mark the frame's metadata, then ACCEPT */
	NBLOCKS
};

struct xlate {
	const struct sock_filter *prog;
	unsigned n;
	int map_fd;
	struct node *node;     /* n + NBLOCKS */
	struct bpf_insn *insn; /* NULL while measuring */
	unsigned len, cap;     /* emitted so far; the size of insn */
	unsigned cur;          /* the classic instruction being translated */
	uint16_t mem_read;     /* scratch words the program reads */
	bool use_reject, use_accept;
	bool use_oob;          /* with UNDECIDED; known before emitting */
	int err;               /* the first error; its reason is in why */
	char *why;
	size_t whylen;
};

/* ===== errors ============================================================ */

static void say(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct xlate *x, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Record @err and its reason, unless an earlier error is already there. */
static int fail(struct xlate *x, int err, const char *fmt, ...)
{
	va_list ap;

	if (x->err)
		return x->err;
	x->err = err;
	if (x->why && x->whylen) {
		va_start(ap, fmt);
		vsnprintf(x->why, x->whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ===== the checks: what bpf_filter() runs, and what XDP can ============== */

static bool known_opcode(uint16_t code)
{
	switch (code) {
	case BPF_RET | BPF_K:
	case BPF_RET | BPF_A:
	case BPF_LD | BPF_W | BPF_ABS:
	case BPF_LD | BPF_H | BPF_ABS:
	case BPF_LD | BPF_B | BPF_ABS:
	case BPF_LD | BPF_W | BPF_LEN:
	case BPF_LDX | BPF_W | BPF_LEN:
	case BPF_LD | BPF_W | BPF_IND:
	case BPF_LD | BPF_H | BPF_IND:
	case BPF_LD | BPF_B | BPF_IND:
	case BPF_LDX | BPF_MSH | BPF_B:
	case BPF_LD | BPF_IMM:
	case BPF_LDX | BPF_IMM:
	case BPF_LD | BPF_MEM:
	case BPF_LDX | BPF_MEM:
	case BPF_ST:
	case BPF_STX:
	case BPF_ALU | BPF_NEG:
	case BPF_MISC | BPF_TAX:
	case BPF_MISC | BPF_TXA:
	case BPF_JMP | BPF_JA:
		return true;
	}
	switch (code & ~BPF_X) {
	case BPF_JMP | BPF_JEQ:
	case BPF_JMP | BPF_JGT:
	case BPF_JMP | BPF_JGE:
	case BPF_JMP | BPF_JSET:
	case BPF_ALU | BPF_ADD:
	case BPF_ALU | BPF_SUB:
	case BPF_ALU | BPF_MUL:
	case BPF_ALU | BPF_DIV:
	case BPF_ALU | BPF_MOD:
	case BPF_ALU | BPF_AND:
	case BPF_ALU | BPF_OR:
	case BPF_ALU | BPF_XOR:
	case BPF_ALU | BPF_LSH:
	case BPF_ALU | BPF_RSH:
		return true;
	}
	return false;
}

static bool reads_packet(uint16_t code)
{
	uint16_t mode = BPF_MODE(code);

	return (BPF_CLASS(code) == BPF_LD || BPF_CLASS(code) == BPF_LDX) &&
	       (mode == BPF_ABS || mode == BPF_IND || mode == BPF_MSH);
}

/* The eBPF size bits for a load of @size bytes. */
static uint8_t size_bits(unsigned size)
{
	return size == 4 ? BPF_W : size == 2 ? BPF_H : BPF_B;
}

static unsigned load_size(uint16_t code)
{
	switch (BPF_SIZE(code)) {
	case BPF_W:
		return 4;
	case BPF_H:
		return 2;
	}
	return 1;
}

/* Whether a packet load reads beyond 0xffff whatever X is: never in the
 * linear part, so always out of bounds there. */
static bool beyond_linear(const struct sock_filter *f)
{
	return reads_packet(f->code) && f->k > PKT_MAX - load_size(f->code);
}

/* Whether the instruction is a division by a constant 0, which rejects
 * every packet (bpf_validate() refuses it). */
static bool divides_by_0(const struct sock_filter *f)
{
	return BPF_CLASS(f->code) == BPF_ALU && BPF_SRC(f->code) == BPF_K &&
	       (BPF_OP(f->code) == BPF_DIV || BPF_OP(f->code) == BPF_MOD) &&
	       f->k == 0;
}

/* Whether the instruction never goes on to the next one. */
static bool stops(const struct sock_filter *f)
{
	return BPF_CLASS(f->code) == BPF_RET || beyond_linear(f) ||
	       divides_by_0(f);
}

static int check_jump(struct xlate *x, unsigned i, const struct sock_filter *f)
{
	uint64_t last = x->n - 1;

	if (BPF_OP(f->code) == BPF_JA) {
		if ((int32_t)f->k < 0)
			return fail(x, -EOPNOTSUPP,
				    "insn %u: backward jump (protochain?)", i);
		if (i + 1 + (uint64_t)f->k > last)
			return fail(x, -EINVAL, "insn %u: jumps out of the "
				    "program", i);
		return 0;
	}
	if (i + 1 + (uint64_t)f->jt > last || i + 1 + (uint64_t)f->jf > last)
		return fail(x, -EINVAL, "insn %u: jumps out of the program", i);
	return 0;
}

static int check_insn(struct xlate *x, unsigned i)
{
	const struct sock_filter *f = &x->prog[i];
	bool mem = false;

	if (!known_opcode(f->code))
		return fail(x, -EOPNOTSUPP, "insn %u: unsupported opcode 0x%02x",
			    i, f->code);
	if (reads_packet(f->code) && f->k >= (uint32_t)SKF_LL_OFF)
		return fail(x, -EOPNOTSUPP, "insn %u: uses Linux ancillary "
			    "loads", i);
	switch (BPF_CLASS(f->code)) {
	case BPF_JMP:
		return check_jump(x, i, f);
	case BPF_ST:
	case BPF_STX:
		mem = true;
		break;
	case BPF_LD:
	case BPF_LDX:
		mem = BPF_MODE(f->code) == BPF_MEM;
		if (mem && f->k < BPF_MEMWORDS)
			x->mem_read |= (uint16_t)(1u << f->k);
		break;
	}
	if (mem && f->k >= BPF_MEMWORDS)
		return fail(x, -EINVAL, "insn %u: no scratch word %u", i, f->k);
	return 0;
}

/* Where a jump to classic instruction @t goes: straight to the accept or
 * reject block when @t is a RET #k, saving a hop. */
static unsigned thread(const struct xlate *x, unsigned t)
{
	if (x->prog[t].code == (BPF_RET | BPF_K))
		return x->n + (x->prog[t].k ? ACCEPT : REJECT);
	return t;
}

static void reach(struct xlate *x, unsigned t)
{
	x->node[thread(x, t)].live = true;
}

/* The block that follows the last classic instruction. */
static unsigned first_block(const struct xlate *x)
{
	return x->n + (x->use_oob ? OOB : REJECT);
}

/* Mark what the first instruction reaches (all jumps go forward), and
 * link each instruction to the next live one, the last to the first
 * block.  Every packet load may go to the out-of-bounds block, which
 * goes on to the reject or the undecided block, that to accept. */
static void mark_live(struct xlate *x)
{
	unsigned i, next;

	x->node[0].live = true;
	for (i = 0; i < x->n; i++) {
		const struct sock_filter *f = &x->prog[i];

		if (!x->node[i].live)
			continue;
		if (reads_packet(f->code))
			x->use_oob = true;
		if (stops(f))
			continue;
		if (BPF_CLASS(f->code) != BPF_JMP) {
			if (i + 1 == x->n)
				x->use_reject = true; /* falls off the end */
			else
				x->node[i + 1].live = true;
		} else if (BPF_OP(f->code) == BPF_JA) {
			reach(x, i + 1 + f->k);
		} else {
			reach(x, i + 1 + f->jt);
			reach(x, i + 1 + f->jf);
		}
	}
	if (x->use_oob)
		x->use_reject = x->use_accept = true;
	for (i = x->n, next = first_block(x); i-- > 0;) {
		x->node[i].next = next;
		if (x->node[i].live)
			next = i;
	}
}

/* ===== the emitter ======================================================= */

static void emit(struct xlate *x, uint8_t code, uint8_t dst, uint8_t src,
		 int16_t off, int32_t imm)
{
	if (x->insn && x->len < x->cap)
		x->insn[x->len] = (struct bpf_insn){
			.code = code, .dst_reg = dst, .src_reg = src,
			.off = off, .imm = imm,
		};
	x->len++;
}

static void mov32_imm(struct xlate *x, uint8_t dst, int32_t imm)
{
	emit(x, BPF_ALU | BPF_MOV | BPF_K, dst, 0, 0, imm);
}

static void mov32_reg(struct xlate *x, uint8_t dst, uint8_t src)
{
	emit(x, BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}

static void mov64_reg(struct xlate *x, uint8_t dst, uint8_t src)
{
	emit(x, BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}

static void add64_imm(struct xlate *x, uint8_t dst, uint32_t imm)
{
	emit(x, BPF_ALU64 | BPF_ADD | BPF_K, dst, 0, 0, (int32_t)imm);
}

static void ldx(struct xlate *x, uint8_t size, uint8_t dst, uint8_t src,
		int16_t off)
{
	emit(x, BPF_LDX | BPF_MEM | size, dst, src, off, 0);
}

static void exit_insn(struct xlate *x)
{
	emit(x, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

static void mark_use(struct xlate *x, unsigned target)
{
	if (target == x->n + REJECT)
		x->use_reject = true;
	else if (target == x->n + ACCEPT)
		x->use_accept = true;
	else if (target >= x->n && !x->use_oob) /* mark_live() missed it */
		fail(x, -EFAULT, "internal error: insn %u goes to block %u",
		     x->cur, target - x->n);
}

/* A conditional (or JA) jump to @target, a classic index or a block. */
static void emit_jump(struct xlate *x, uint8_t code, uint8_t dst, uint8_t src,
		      int32_t imm, unsigned target)
{
	long off = 0;

	mark_use(x, target);
	if (x->insn) {
		off = (long)x->node[target].pos - (long)x->len - 1;
		if (off > INT16_MAX || off < INT16_MIN)
			fail(x, -E2BIG, "too long for XDP jumps (insn %u "
			     "jumps %ld)", x->cur, off);
	}
	emit(x, code, dst, src, (int16_t)off, imm);
}

/* Go to @target, which may simply be what follows.  Only as the last
 * instruction of a translation: "follows" means the next live one. */
static void emit_goto(struct xlate *x, unsigned target)
{
	if (x->node[x->cur].next == target) {
		mark_use(x, target);
		return;
	}
	emit_jump(x, BPF_JMP | BPF_JA, 0, 0, 0, target);
}

/* ===== the translation of one instruction ================================ */

/* R_PTR points at @size bytes of packet: go to the out-of-bounds block
 * unless they are all in the linear part, else load them into @dst. */
static void checked_load(struct xlate *x, uint8_t dst, unsigned size)
{
	mov64_reg(x, R_LIM, R_PTR);
	add64_imm(x, R_LIM, size);
	emit_jump(x, BPF_JMP | BPF_JGT | BPF_X, R_LIM, R_END, 0, x->n + OOB);
	ldx(x, size_bits(size), dst, R_PTR, 0);
}

/* Network to host byte order; a no-op (but zero-extension) on big-endian
 * hosts. */
static void to_host(struct xlate *x, uint8_t dst, unsigned size)
{
	if (size > 1)
		emit(x, BPF_ALU | BPF_END | BPF_TO_BE, dst, 0, 0,
		     (int32_t)size * 8);
}

/* @dst = the @size bytes at offset @k; k <= PKT_MAX - size. */
static void load_abs(struct xlate *x, uint8_t dst, unsigned size, uint32_t k)
{
	if (k + size <= INT16_MAX) {
		/* the verifier also knows data + k + size for later loads */
		mov64_reg(x, R_LIM, R_DATA);
		add64_imm(x, R_LIM, k + size);
		emit_jump(x, BPF_JMP | BPF_JGT | BPF_X, R_LIM, R_END, 0,
			  x->n + OOB);
		ldx(x, size_bits(size), dst, R_DATA, (int16_t)k);
	} else {
		mov64_reg(x, R_PTR, R_DATA);
		add64_imm(x, R_PTR, k);
		checked_load(x, dst, size);
	}
	to_host(x, dst, size);
}

/* A = the @size bytes at offset X + k; k <= PKT_MAX - size.  The sum is
 * taken in 64 bits: no wrap-around, as in bpf_filter(). */
static void load_ind(struct xlate *x, unsigned size, uint32_t k)
{
	mov32_reg(x, R_PTR, R_X);
	if (k)
		add64_imm(x, R_PTR, k);
	emit_jump(x, BPF_JMP | BPF_JGT | BPF_K, R_PTR, 0,
		  (int32_t)(PKT_MAX - size), x->n + OOB);
	emit(x, BPF_ALU64 | BPF_ADD | BPF_X, R_PTR, R_DATA, 0, 0);
	checked_load(x, R_A, size);
	to_host(x, R_A, size);
}

/* R0 = bpf_xdp_get_buff_len(ctx), the whole frame's length; data_end
 * again in R_END, which the call clobbered. */
static void frame_len(struct xlate *x)
{
	mov64_reg(x, BPF_REG_1, R_CTX);
	emit(x, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_xdp_get_buff_len);
	ldx(x, BPF_W, R_END, R_CTX, offsetof(struct xdp_md, data_end));
}

static void xlate_load(struct xlate *x, const struct sock_filter *f)
{
	uint8_t dst = BPF_CLASS(f->code) == BPF_LD ? R_A : R_X;

	if (beyond_linear(f)) {
		emit_goto(x, x->n + OOB);
		return;
	}
	switch (BPF_MODE(f->code)) {
	case BPF_IMM:
		mov32_imm(x, dst, (int32_t)f->k);
		break;
	case BPF_MEM:
		ldx(x, BPF_W, dst, BPF_REG_10, MEM_OFF(f->k));
		break;
	case BPF_LEN: /* the whole frame, fragments too */
		frame_len(x);
		mov32_reg(x, dst, BPF_REG_0);
		break;
	case BPF_ABS:
		load_abs(x, dst, load_size(f->code), f->k);
		break;
	case BPF_IND:
		load_ind(x, load_size(f->code), f->k);
		break;
	case BPF_MSH: /* X = (P[k] & 0xf) << 2 */
		load_abs(x, R_X, 1, f->k);
		emit(x, BPF_ALU | BPF_AND | BPF_K, R_X, 0, 0, 0xf);
		emit(x, BPF_ALU | BPF_LSH | BPF_K, R_X, 0, 0, 2);
		break;
	}
}

static void xlate_alu(struct xlate *x, const struct sock_filter *f)
{
	uint8_t op = BPF_OP(f->code);
	bool shift = op == BPF_LSH || op == BPF_RSH;

	if (op == BPF_NEG) {
		emit(x, BPF_ALU | BPF_NEG, R_A, 0, 0, 0);
	} else if (BPF_SRC(f->code) == BPF_K) {
		if (divides_by_0(f))
			emit_goto(x, x->n + REJECT);
		else if (shift && f->k >= 32) /* the verifier refuses it */
			mov32_imm(x, R_A, 0);
		else
			emit(x, BPF_ALU | op | BPF_K, R_A, 0, 0, (int32_t)f->k);
	} else {
		if (op == BPF_DIV || op == BPF_MOD)
			emit_jump(x, BPF_JMP32 | BPF_JEQ | BPF_K, R_X, 0, 0,
				  x->n + REJECT);
		emit(x, BPF_ALU | op | BPF_X, R_A, R_X, 0, 0);
		if (shift) { /* eBPF shifts by X % 32 */
			emit(x, BPF_JMP32 | BPF_JLT | BPF_K, R_X, 0, 1, 32);
			mov32_imm(x, R_A, 0);
		}
	}
}

static uint8_t inverse(uint8_t op)
{
	switch (op) {
	case BPF_JEQ:
		return BPF_JNE;
	case BPF_JGT:
		return BPF_JLE;
	case BPF_JGE:
		return BPF_JLT;
	}
	return 0; /* JSET has none */
}

static void jump_if(struct xlate *x, uint8_t op, const struct sock_filter *f,
		    unsigned target)
{
	if (BPF_SRC(f->code) == BPF_X)
		emit_jump(x, BPF_JMP32 | op | BPF_X, R_A, R_X, 0, target);
	else
		emit_jump(x, BPF_JMP32 | op | BPF_K, R_A, 0, (int32_t)f->k,
			  target);
}

static void xlate_jump(struct xlate *x, const struct sock_filter *f)
{
	unsigned i = x->cur, jt, jf;
	uint8_t op = BPF_OP(f->code);

	if (op == BPF_JA) { /* jt and jf mean nothing here */
		emit_goto(x, thread(x, i + 1 + f->k));
		return;
	}
	jt = thread(x, i + 1 + f->jt);
	jf = thread(x, i + 1 + f->jf);
	if (jt == jf) {
		emit_goto(x, jt);
	} else if (x->node[i].next == jt && inverse(op)) {
		mark_use(x, jt); /* falls through into it */
		jump_if(x, inverse(op), f, jf);
	} else {
		jump_if(x, op, f, jt);
		emit_goto(x, jf);
	}
}

static void xlate_ret(struct xlate *x, const struct sock_filter *f)
{
	if (BPF_RVAL(f->code) == BPF_K) {
		emit_goto(x, x->n + (f->k ? ACCEPT : REJECT));
		return;
	}
	emit_jump(x, BPF_JMP32 | BPF_JNE | BPF_K, R_A, 0, 0, x->n + ACCEPT);
	emit_goto(x, x->n + REJECT);
}

static void xlate_insn(struct xlate *x, const struct sock_filter *f)
{
	switch (BPF_CLASS(f->code)) {
	case BPF_LD:
	case BPF_LDX:
		xlate_load(x, f);
		break;
	case BPF_ST:
		emit(x, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, R_A,
		     MEM_OFF(f->k), 0);
		break;
	case BPF_STX:
		emit(x, BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, R_X,
		     MEM_OFF(f->k), 0);
		break;
	case BPF_ALU:
		xlate_alu(x, f);
		break;
	case BPF_JMP:
		xlate_jump(x, f);
		break;
	case BPF_RET:
		xlate_ret(x, f);
		break;
	case BPF_MISC:
		if (BPF_MISCOP(f->code) == BPF_TAX)
			mov32_reg(x, R_X, R_A);
		else
			mov32_reg(x, R_A, R_X);
		break;
	}
}

/* ===== the whole program ================================================= */

static void prologue(struct xlate *x)
{
	unsigned k;

	mov64_reg(x, R_CTX, BPF_REG_1);
	ldx(x, BPF_W, R_DATA, R_CTX, offsetof(struct xdp_md, data));
	ldx(x, BPF_W, R_END, R_CTX, offsetof(struct xdp_md, data_end));
	mov32_imm(x, R_A, 0);
	mov32_imm(x, R_X, 0);
	for (k = 0; k < BPF_MEMWORDS; k++)
		if (x->mem_read & (1u << k))
			emit(x, BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0,
			     MEM_OFF(k), 0);
}

/* A load failed its bounds check: if the frame is no longer than its
 * linear part, the load was past the frame's end and the frame is
 * rejected - this falls into the reject block; else it is undecided.
 * "data + len > data_end" compares pointers, which the verifier allows
 * once len is known to be at most 0xffff (MAX_PACKET_OFF); a longer frame
 * is longer than any linear part. */
static void oob_block(struct xlate *x)
{
	frame_len(x);
	emit_jump(x, BPF_JMP | BPF_JGT | BPF_K, BPF_REG_0, 0, PKT_MAX,
		  x->n + UNDECIDED);
	mov64_reg(x, R_LIM, R_DATA);
	emit(x, BPF_ALU64 | BPF_ADD | BPF_X, R_LIM, BPF_REG_0, 0, 0);
	emit_jump(x, BPF_JMP | BPF_JGT | BPF_X, R_LIM, R_END, 0,
		  x->n + UNDECIDED);
}

/* Accept the frame undecided: set PCV_XSK_META_UNFILTERED in the struct
 * pcv_xsk_meta in front of it when there is one (the magic says so);
 * without, accept all the same.  Falls into the accept block. */
static void undecided_block(struct xlate *x)
{
	ldx(x, BPF_W, R_PTR, R_CTX, offsetof(struct xdp_md, data_meta));
	ldx(x, BPF_W, R_LIM, R_CTX, offsetof(struct xdp_md, data));
	mov64_reg(x, R_TMP, R_PTR);
	add64_imm(x, R_TMP, sizeof(struct pcv_xsk_meta));
	emit_jump(x, BPF_JMP | BPF_JGT | BPF_X, R_TMP, R_LIM, 0,
		  x->n + ACCEPT);
	ldx(x, BPF_W, R_TMP, R_PTR, offsetof(struct pcv_xsk_meta, magic));
	emit_jump(x, BPF_JMP32 | BPF_JNE | BPF_K, R_TMP, 0,
		  (int32_t)PCV_XSK_META_MAGIC, x->n + ACCEPT);
	ldx(x, BPF_W, R_TMP, R_PTR, offsetof(struct pcv_xsk_meta, flags));
	emit(x, BPF_ALU | BPF_OR | BPF_K, R_TMP, 0, 0,
	     (int32_t)PCV_XSK_META_UNFILTERED);
	emit(x, BPF_STX | BPF_MEM | BPF_W, R_PTR, R_TMP,
	     offsetof(struct pcv_xsk_meta, flags), 0);
}

static void accept_block(struct xlate *x)
{
	if (x->map_fd < 0) {
		mov32_imm(x, BPF_REG_0, XDP_TX);
		exit_insn(x);
		return;
	}
	/* bpf_redirect_map(map, ctx->rx_queue_index, XDP_PASS) */
	emit(x, BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0,
	     x->map_fd);
	emit(x, 0, 0, 0, 0, 0); /* the upper half of the 64-bit immediate */
	ldx(x, BPF_W, BPF_REG_2, R_CTX,
	    offsetof(struct xdp_md, rx_queue_index));
	emit(x, BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS);
	emit(x, BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map);
	exit_insn(x);
}

/* One pass: measuring when x->insn is NULL, else writing. */
static void xlate_all(struct xlate *x)
{
	unsigned i;

	x->len = 0;
	prologue(x);
	for (i = 0; i < x->n && !x->err; i++) {
		if (!x->node[i].live)
			continue;
		if (x->insn && x->node[i].pos != x->len)
			fail(x, -EFAULT, "internal error at insn %u", i);
		x->node[i].pos = x->len;
		x->cur = i;
		xlate_insn(x, &x->prog[i]);
		/* falling off the end rejects: the reject block may not
		 * be what follows */
		if (i + 1 == x->n && BPF_CLASS(x->prog[i].code) != BPF_JMP &&
		    !stops(&x->prog[i]))
			emit_goto(x, x->n + REJECT);
	}
	x->node[x->n + OOB].pos = x->len;
	if (x->use_oob)
		oob_block(x);
	x->node[x->n + REJECT].pos = x->len;
	if (x->use_reject) {
		mov32_imm(x, BPF_REG_0, XDP_PASS);
		exit_insn(x);
	}
	x->node[x->n + UNDECIDED].pos = x->len;
	if (x->use_oob)
		undecided_block(x);
	x->node[x->n + ACCEPT].pos = x->len;
	if (x->use_accept)
		accept_block(x);
}

static int translate(struct xlate *x)
{
	unsigned i;

	for (i = 0; i < x->n; i++)
		if (check_insn(x, i) < 0)
			return x->err;
	mark_live(x);
	xlate_all(x);
	if (x->len > MAX_EBPF)
		return fail(x, -E2BIG, "too long for XDP (%u instructions)",
			    x->len);
	x->cap = x->len;
	x->insn = calloc(x->cap, sizeof(*x->insn));
	if (!x->insn)
		return fail(x, -ENOMEM, "out of memory");
	xlate_all(x);
	if (x->len != x->cap)
		fail(x, -EFAULT, "internal error: %u instructions, not %u",
		     x->len, x->cap);
	return x->err ? x->err : (int)x->len;
}

int pcv__xdp_filter_build(const struct sock_filter *prog, unsigned n,
			  int xsk_map_fd, struct bpf_insn **out, char *why,
			  size_t whylen)
{
	struct xlate x = {
		.prog = prog, .n = n, .map_fd = xsk_map_fd,
		.why = why, .whylen = whylen,
	};
	int rc;

	if (why && whylen)
		why[0] = '\0';
	if (!out)
		return fail(&x, -EINVAL, "nowhere to put the program");
	*out = NULL;
	if (!prog || n == 0)
		return fail(&x, -EINVAL, "empty program");
	if (n > MAX_CLASSIC)
		return fail(&x, -E2BIG, "too long for XDP (%u instructions)",
			    n);
	x.node = calloc(n + NBLOCKS, sizeof(*x.node));
	if (!x.node)
		return fail(&x, -ENOMEM, "out of memory");
	rc = translate(&x);
	free(x.node);
	if (rc < 0)
		free(x.insn);
	else
		*out = x.insn;
	return rc;
}

/* ===== loading =========================================================== */

/* The last line of a verifier log that says something. */
static void last_line(char *log, char *why, size_t whylen)
{
	char *line, *end = log + strlen(log);

	while (end > log) {
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			*--end = '\0';
		line = end;
		while (line > log && line[-1] != '\n')
			line--;
		if (line < end && strncmp(line, "processed ", 10) != 0 &&
		    strncmp(line, "verification time", 17) != 0 &&
		    strncmp(line, "stack depth", 11) != 0) {
			say(why, whylen, "verifier: %s", line);
			return;
		}
		end = line;
	}
}

/* The kernel refused the program with @err: load it again with a log,
 * for a reason.  The first error stands: a truncated log gives ENOSPC. */
static int explain(const struct bpf_insn *insn, size_t cnt,
		   const struct bpf_prog_load_opts *first, int err, char *why,
		   size_t whylen)
{
	struct bpf_prog_load_opts opts = *first;
	char *log = calloc(1, LOG_SIZE);
	int fd;

	say(why, whylen, "bpf_prog_load: %s", strerror(-err));
	if (!log)
		return err;
	opts.log_buf = log;
	opts.log_size = LOG_SIZE;
	opts.log_level = 1;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, PROG_NAME, PROG_LICENSE, insn,
			   cnt, &opts);
	if (fd >= 0) { /* it was transient */
		say(why, whylen, "%s", "");
		free(log);
		return fd;
	}
	log[LOG_SIZE - 1] = '\0';
	last_line(log, why, whylen);
	free(log);
	return err;
}

int pcv__xdp_filter_load(const struct sock_filter *prog, unsigned n,
			 int xsk_map_fd, unsigned attach_type,
			 unsigned prog_flags, char *why, size_t whylen)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts,
		    .expected_attach_type = (enum bpf_attach_type)attach_type,
		    .prog_flags = prog_flags);
	struct bpf_insn *insn;
	int cnt, fd;

	cnt = pcv__xdp_filter_build(prog, n, xsk_map_fd, &insn, why, whylen);
	if (cnt < 0)
		return cnt;
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, PROG_NAME, PROG_LICENSE, insn,
			   (size_t)cnt, &opts);
	if (fd < 0)
		fd = explain(insn, (size_t)cnt, &opts, fd, why, whylen);
	free(insn);
	return fd;
}
