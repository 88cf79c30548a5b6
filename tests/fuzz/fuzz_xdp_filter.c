// SPDX-License-Identifier: MIT
/*
 * fuzz_xdp_filter.c - libFuzzer target for the classic BPF to XDP
 * translator (capture/xdp-filter.c).  Nothing is loaded into a kernel.
 *
 * Input: one byte of options (bit 0: translate with a map fd, as for a
 * real XSKMAP), then classic instructions of 8 bytes each: code (16 bits,
 * little-endian), jt, jf, k (32 bits, little-endian); a partial last one
 * is ignored.  Every input is translated; the promises checked (a broken
 * one aborts):
 *  - the result is a count or -EINVAL, -EOPNOTSUPP, -E2BIG, -ENOMEM, with
 *    a reason; never -EINVAL for a program libpcap's bpf_validate()
 *    accepts;
 *  - a translation is the same twice, ends in EXIT, jumps only forward
 *    and inside itself, and the verifier would find every instruction
 *    reachable;
 *  - run by a small eBPF interpreter here on a few frames (each in a
 *    buffer of exactly its length, with every access checked to lie in
 *    the frame or the 64-byte stack), it answers as bpf_filter() does -
 *    unless libpcap 1.10 is undefined there: a scratch word read before
 *    it is stored on some path, a shift by a constant >= 32.
 */
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef __linux__

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define bpf_insn pcap_bpf_insn /* the classic one */
#include <pcap/pcap.h>
#undef bpf_insn
#include <linux/bpf.h>
#include <linux/filter.h>

#include "xdp-filter.h"

#define MAX_INSNS 4096
#define FAKE_MAP_FD 7
#define NFRAMES 9
#define REDIRECTED 1000u /* what the interpreter's redirect returns */

static void check(int ok)
{
	if (!ok)
		abort();
}

/* ===== frames ============================================================ */

struct fr {
	uint8_t b[200];
	uint32_t n;
};

static struct fr frames[NFRAMES];
static int frames_ready;

static void put(struct fr *f, const void *p, size_t n)
{
	memcpy(f->b + f->n, p, n);
	f->n += (uint32_t)n;
}

static void put16(struct fr *f, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(f, b, 2);
}

static void eth(struct fr *f, unsigned type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 0xb,
					  2, 0, 0, 0, 0, 0xa };

	f->n = 0;
	put(f, macs, 12);
	put16(f, type);
}

static void ip4(struct fr *f, unsigned first, unsigned proto, unsigned len)
{
	static const uint8_t rest[14] = { 0x12, 0x34, 0, 0, 64, 0, 0, 0,
					  10, 1, 2, 3, 192, 168 };

	put16(f, first << 8);
	put16(f, len);
	put(f, rest, 14);
	f->b[f->n - 7] = (uint8_t)proto;
	put16(f, 0x0101);
}

static void l4(struct fr *f, unsigned sport, unsigned dport, unsigned len)
{
	put16(f, sport);
	put16(f, dport);
	for (unsigned i = 4; i < len; i++)
		put(f, &(uint8_t){ (uint8_t)(i * 29) }, 1);
	if (len > 13)
		f->b[f->n - len + 13] = 0x12;
}

static void build_frames(void)
{
	struct fr *f = frames;

	f[0].n = 0;
	eth(&f[1], 0x0800); /* a bare Ethernet header */
	eth(&f[2], 0x0800); /* IPv4 TCP */
	ip4(&f[2], 0x45, 6, 40);
	l4(&f[2], 1234, 80, 20);
	eth(&f[3], 0x0800); /* IPv4, IHL 0, UDP */
	ip4(&f[3], 0x40, 17, 28);
	l4(&f[3], 53, 53, 8);
	eth(&f[4], 0x86dd); /* IPv6-ish, cut short */
	put16(&f[4], 0x6000);
	l4(&f[4], 0, 0x0006, 30);
	eth(&f[5], 0x8100); /* VLAN IPv4 TCP, cut in the TCP header */
	put16(&f[5], 100);
	put16(&f[5], 0x0800);
	ip4(&f[5], 0x46, 6, 44);
	l4(&f[5], 80, 443, 10);
	eth(&f[6], 0x0806); /* ARP-sized */
	l4(&f[6], 1, 0x0800, 28);
	eth(&f[7], 0x0800); /* IPv4 UDP, 150 bytes of payload */
	ip4(&f[7], 0x45, 17, 178);
	l4(&f[7], 5353, 5353, 158);
	f[8].n = 7; /* a runt XDP never sees */
	memset(f[8].b, 0x45, 7);
	frames_ready = 1;
}

/* ===== the classic program =============================================== */

static unsigned decode(const uint8_t *p, size_t size, struct sock_filter *prog)
{
	unsigned n = 0;

	for (; size >= 8 && n < MAX_INSNS; size -= 8, p += 8, n++) {
		prog[n].code = (uint16_t)(p[0] | p[1] << 8);
		prog[n].jt = p[2];
		prog[n].jf = p[3];
		prog[n].k = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			    (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
	}
	return n;
}

/* Whether bpf_filter() of libpcap 1.10 is defined on every path: M[k]
 * stored before it is read (a forward data flow: jumps go forward in a
 * program the translator took), no constant shift of 32 or more. */
static bool well_defined(const struct sock_filter *p, unsigned n)
{
	uint16_t *in = calloc(n, sizeof(*in));
	bool *seen = calloc(n, sizeof(*seen));
	bool ok = in && seen;

	if (ok)
		seen[0] = true;
	for (unsigned i = 0; ok && i < n; i++) {
		uint16_t c = p[i].code, out = in[i];
		unsigned succ[2], ns = 0;

		if (!seen[i])
			continue;
		if ((c == (BPF_LD | BPF_MEM) || c == (BPF_LDX | BPF_MEM)) &&
		    !(out & 1u << p[i].k))
			ok = false;
		if ((c == (BPF_ALU | BPF_LSH | BPF_K) ||
		     c == (BPF_ALU | BPF_RSH | BPF_K)) && p[i].k >= 32)
			ok = false;
		if (c == BPF_ST || c == BPF_STX)
			out |= (uint16_t)(1u << p[i].k);
		if (BPF_CLASS(c) == BPF_RET)
			continue;
		if (c == (BPF_JMP | BPF_JA)) {
			succ[ns++] = i + 1 + p[i].k;
		} else if (BPF_CLASS(c) == BPF_JMP) {
			succ[ns++] = i + 1 + p[i].jt;
			succ[ns++] = i + 1 + p[i].jf;
		} else {
			succ[ns++] = i + 1;
		}
		for (unsigned s = 0; s < ns; s++) {
			if (succ[s] >= n)
				continue; /* falls off: rejects */
			in[succ[s]] = seen[succ[s]] ? in[succ[s]] & out : out;
			seen[succ[s]] = true;
		}
	}
	free(in);
	free(seen);
	return ok;
}

/* ===== the eBPF program's shape ========================================== */

static bool is_jump(const struct bpf_insn *e)
{
	uint8_t cls = BPF_CLASS(e->code), op = BPF_OP(e->code);

	return (cls == BPF_JMP || cls == BPF_JMP32) && op != BPF_CALL &&
	       op != BPF_EXIT;
}

static bool is_imm64(const struct bpf_insn *e)
{
	return e->code == (BPF_LD | BPF_DW | BPF_IMM);
}

/* What the verifier's CFG check wants, and what the interpreter assumes. */
static void check_shape(const struct bpf_insn *e, int cnt, int map_fd)
{
	bool *reach = calloc((size_t)cnt, sizeof(*reach));
	int maps = 0;

	if (!reach)
		return;
	check(e[cnt - 1].code == (BPF_JMP | BPF_EXIT));
	reach[0] = true;
	for (int i = 0; i < cnt; i++) {
		int next = i + (is_imm64(&e[i]) ? 2 : 1);

		check(e[i].dst_reg <= BPF_REG_10 && e[i].src_reg <= BPF_REG_10);
		if (is_imm64(&e[i])) {
			check(map_fd >= 0 && e[i].imm == map_fd && next < cnt);
			check(e[i].src_reg == BPF_PSEUDO_MAP_FD);
			maps++;
		}
		if (!reach[i])
			continue;
		if (e[i].code == (BPF_JMP | BPF_EXIT))
			continue;
		if (is_jump(&e[i])) {
			check(e[i].off >= 0 && i + 1 + e[i].off < cnt);
			check(i + 1 + e[i].off == 0 ||
			      !is_imm64(&e[i + e[i].off]));
			reach[i + 1 + e[i].off] = true;
			if (BPF_OP(e[i].code) == BPF_JA)
				continue;
		}
		check(next < cnt);
		reach[next] = true;
	}
	for (int i = 0; i < cnt; i++)
		check(reach[i] || (i > 0 && is_imm64(&e[i - 1])));
	check(maps <= 1);
	free(reach);
}

/* ===== a small eBPF interpreter ========================================== */

struct vm {
	uint64_t r[11];
	uint8_t stack[64];
	struct xdp_md ctx; /* only its address is used */
	const uint8_t *data, *end;
};

/* The host address of @size bytes at @addr: in the frame or the stack. */
static void *mem(struct vm *vm, uint64_t addr, unsigned size)
{
	uintptr_t a = (uintptr_t)addr;
	uintptr_t d = (uintptr_t)vm->data, de = (uintptr_t)vm->end;
	uintptr_t s = (uintptr_t)vm->stack;

	if (a >= d && a <= de && size <= de - a)
		return (void *)a;
	check(a >= s && a <= s + sizeof(vm->stack) &&
	      size <= s + sizeof(vm->stack) - a && (a - s) % size == 0);
	return (void *)a;
}

static uint64_t load(struct vm *vm, const struct bpf_insn *e)
{
	uint64_t a = vm->r[e->src_reg] + (uint64_t)(int64_t)e->off;
	unsigned size = BPF_SIZE(e->code) == BPF_W   ? 4
			: BPF_SIZE(e->code) == BPF_H ? 2
						     : 1;
	uint32_t w = 0;
	uint16_t h = 0;
	uint8_t b = 0;

	if (a == (uintptr_t)&vm->ctx + offsetof(struct xdp_md, data))
		return (uintptr_t)vm->data;
	if (a == (uintptr_t)&vm->ctx + offsetof(struct xdp_md, data_end))
		return (uintptr_t)vm->end;
	if (a == (uintptr_t)&vm->ctx +
		     offsetof(struct xdp_md, rx_queue_index))
		return 0;
	if (size == 4)
		memcpy(&w, mem(vm, a, 4), 4);
	else if (size == 2)
		memcpy(&h, mem(vm, a, 2), 2);
	else
		memcpy(&b, mem(vm, a, 1), 1);
	return size == 4 ? w : size == 2 ? h : b;
}

static uint32_t alu32(uint8_t op, uint32_t a, uint32_t b)
{
	switch (op) {
	case BPF_ADD:
		return a + b;
	case BPF_SUB:
		return a - b;
	case BPF_MUL:
		return a * b;
	case BPF_DIV:
		return b ? a / b : 0;
	case BPF_MOD:
		return b ? a % b : a;
	case BPF_OR:
		return a | b;
	case BPF_AND:
		return a & b;
	case BPF_XOR:
		return a ^ b;
	case BPF_LSH:
		return a << (b & 31);
	case BPF_RSH:
		return a >> (b & 31);
	case BPF_NEG:
		return 0u - a;
	case BPF_MOV:
		return b;
	}
	check(0);
	return 0;
}

static uint64_t alu64(uint8_t op, uint64_t a, uint64_t b)
{
	switch (op) {
	case BPF_ADD:
		return a + b;
	case BPF_SUB:
		return a - b;
	case BPF_MOV:
		return b;
	}
	check(0); /* the translator uses no other */
	return 0;
}

static uint32_t to_be(uint32_t v, int32_t bits)
{
	check(bits == 16 || bits == 32);
	return bits == 16 ? htobe16((uint16_t)v) : htobe32(v);
}

static bool cond(uint8_t op, uint64_t a, uint64_t b)
{
	switch (op) {
	case BPF_JEQ:
		return a == b;
	case BPF_JNE:
		return a != b;
	case BPF_JGT:
		return a > b;
	case BPF_JGE:
		return a >= b;
	case BPF_JLT:
		return a < b;
	case BPF_JLE:
		return a <= b;
	case BPF_JSET:
		return (a & b) != 0;
	}
	check(0);
	return false;
}

/* One instruction; returns the next pc, or -1 after EXIT. */
static int step(struct vm *vm, const struct bpf_insn *e, int pc)
{
	uint64_t *dst = &vm->r[e->dst_reg];
	uint64_t src = BPF_SRC(e->code) == BPF_X ? vm->r[e->src_reg]
						 : (uint64_t)(int64_t)e->imm;
	uint8_t op = BPF_OP(e->code);

	switch (BPF_CLASS(e->code)) {
	case BPF_ALU:
		if (op == BPF_END)
			*dst = to_be((uint32_t)*dst, e->imm);
		else
			*dst = alu32(op, (uint32_t)*dst, (uint32_t)src);
		return pc + 1;
	case BPF_ALU64:
		*dst = alu64(op, *dst, src);
		return pc + 1;
	case BPF_LDX:
		*dst = load(vm, e);
		return pc + 1;
	case BPF_ST:
	case BPF_STX:
		check(BPF_SIZE(e->code) == BPF_W);
		memcpy(mem(vm, *dst + (uint64_t)(int64_t)e->off, 4),
		       &(uint32_t){ BPF_CLASS(e->code) == BPF_ST
					    ? (uint32_t)e->imm
					    : (uint32_t)vm->r[e->src_reg] },
		       4);
		return pc + 1;
	case BPF_LD:
		*dst = (uint64_t)(uint32_t)e->imm; /* the map */
		return pc + 2;
	case BPF_JMP32:
		return pc + 1 + (cond(op, (uint32_t)*dst, (uint32_t)src) ?
				 e->off : 0);
	}
	if (op == BPF_EXIT)
		return -1;
	if (op == BPF_CALL) {
		check(e->imm == BPF_FUNC_redirect_map);
		vm->r[0] = REDIRECTED;
		return pc + 1;
	}
	if (op == BPF_JA)
		return pc + 1 + e->off;
	return pc + 1 + (cond(op, *dst, src) ? e->off : 0);
}

static unsigned run(const struct bpf_insn *e, int cnt, const uint8_t *data,
		    uint32_t len)
{
	struct vm vm = { .data = data, .end = data + len };
	int pc = 0, steps = 0;

	vm.r[1] = (uintptr_t)&vm.ctx;
	vm.r[10] = (uintptr_t)(vm.stack + sizeof(vm.stack));
	while (pc >= 0) {
		check(pc < cnt && steps++ <= cnt);
		pc = step(&vm, &e[pc], pc);
	}
	return (unsigned)vm.r[0];
}

/* ===== the target ======================================================== */

/* Run the translation on every frame; when @compare, it must answer as
 * bpf_filter() does. */
static void run_frames(const struct sock_filter *prog,
		       const struct bpf_insn *e, int cnt, int map_fd,
		       bool compare)
{
	unsigned accept = map_fd >= 0 ? REDIRECTED : XDP_TX;

	for (int i = 0; i < NFRAMES; i++) {
		uint32_t len = frames[i].n;
		uint8_t *p = malloc(len ? len : 1);
		unsigned got;

		if (!p)
			return;
		memcpy(p, frames[i].b, len);
		got = run(e, cnt, p, len);
		check(got == accept || got == XDP_PASS);
		if (compare)
			check((got == accept) ==
			      (bpf_filter((const struct pcap_bpf_insn *)prog,
					  p, len, len) != 0));
		free(p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_filter *prog;
	struct bpf_insn *e = NULL, *again = NULL;
	char why[128];
	unsigned n;
	int map_fd, cnt, cnt2;
	bool valid;

	if (size == 0)
		return 0;
	if (!frames_ready)
		build_frames();
	map_fd = data[0] & 1 ? FAKE_MAP_FD : -1;
	prog = malloc((size - 1) / 8 * sizeof(*prog) + sizeof(*prog));
	if (!prog)
		return 0;
	n = decode(data + 1, size - 1, prog);
	valid = n && bpf_validate((const struct pcap_bpf_insn *)prog, (int)n);

	why[0] = 'x';
	cnt = pcv__xdp_filter_build(prog, n, map_fd, &e, why, sizeof(why));
	if (cnt < 0) {
		check(e == NULL && why[0] != '\0' && why[0] != 'x');
		check(cnt == -EINVAL || cnt == -EOPNOTSUPP || cnt == -E2BIG ||
		      cnt == -ENOMEM);
		check(!valid || cnt != -EINVAL);
		goto out;
	}
	check(cnt > 0 && e != NULL);
	check_shape(e, cnt, map_fd);
	cnt2 = pcv__xdp_filter_build(prog, n, map_fd, &again, NULL, 0);
	check(cnt2 == cnt || cnt2 == -ENOMEM);
	check(cnt2 < 0 || memcmp(e, again, (size_t)cnt * sizeof(*e)) == 0);
	run_frames(prog, e, cnt, map_fd, valid && well_defined(prog, n));
out:
	free(again);
	free(e);
	free(prog);
	return 0;
}

#else /* !__linux__ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}

#endif /* __linux__ */
