// SPDX-License-Identifier: MIT
/*
 * fuzz_xdp_filter.c - libFuzzer target for the classic BPF to XDP
 * translator (capture/xdp-filter.c).  Nothing is loaded into a kernel.
 *
 * Input: one byte of options (bit 0: translate with a map fd, as for a
 * real XSKMAP; bit 1: in the runs without our metadata, a metadata area
 * with another magic rather than none; bits 2-7: c, where multi-buffer
 * runs cut the frame), then classic instructions of 8 bytes each: code
 * (16 bits, little-endian), jt, jf, k (32 bits, little-endian); a partial
 * last one is ignored.  Every input is translated; the promises checked
 * (a broken one aborts):
 *  - the result is a count or -EINVAL, -EOPNOTSUPP, -E2BIG, -ENOMEM, with
 *    a reason; never -EINVAL for a program libpcap's bpf_validate()
 *    accepts;
 *  - a translation is the same twice, ends in EXIT, jumps only forward
 *    and inside itself, and the verifier would find every instruction
 *    reachable;
 *  - run by a small eBPF interpreter here on a few frames (each in a
 *    buffer of exactly its length behind a struct pcv_xsk_meta, with
 *    every access checked to lie in the linear part, the metadata when
 *    there is one - the only packet bytes it may write - or the 64-byte
 *    stack; a helper call clobbers R1-R5), it answers as bpf_filter()
 *    does - unless libpcap 1.10 is undefined there: a scratch word read
 *    before it is stored on some path, a shift by a constant >= 32.
 *    Each frame runs whole in its linear part, where the answer must be
 *    bpf_filter()'s and unmarked, then as a multi-buffer frame whose
 *    linear part is its first total * (63 - c) / 63 bytes (at most
 *    0xffff), where bpf_xdp_get_buff_len() gives the total: marked
 *    undecided (PCV_XSK_META_UNFILTERED, accepted) only if the frame is
 *    longer than its linear part and bpf_filter() given the linear part
 *    alone (buflen) returns 0, else bpf_filter()'s answer on the whole
 *    frame, which must then be the answer on the linear part too.
 *    Without our metadata (none, or another magic), the same verdict and
 *    nothing written.  One frame is longer than 0xffff.
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
#include "../../bpf/xsk-meta.h" /* after linux/bpf.h, for __u32 */

#define MAX_INSNS 4096
#define FAKE_MAP_FD 7
#define NFRAMES 10       /* the last is BIG_LEN bytes */
#define BIG_LEN 70000
#define LINEAR_MAX 0xffffu /* an XDP linear part is shorter */
#define META_LEN sizeof(struct pcv_xsk_meta)
#define REDIRECTED 1000u /* what the interpreter's redirect returns */
#define CLOBBERED 0xbad0000000000000ull /* R1-R5 after a helper call */
#define META_TAI 0x0102030405060708ull

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

static struct fr frames[NFRAMES - 1];
static uint8_t big[BIG_LEN]; /* frame NFRAMES - 1 */
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
	memcpy(big, f[7].b, f[7].n); /* IPv4 UDP, then bytes counting up */
	for (uint32_t i = f[7].n; i < BIG_LEN; i++)
		big[i] = (uint8_t)(i * 7 + 1);
	frames_ready = 1;
}

static const uint8_t *frame_bytes(int i, uint32_t *len)
{
	if (i == NFRAMES - 1) {
		*len = BIG_LEN;
		return big;
	}
	*len = frames[i].n;
	return frames[i].b;
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
	const uint8_t *data, *end; /* the linear part */
	uint8_t *meta;             /* ctx->data_meta */
	bool has_meta;             /* meta..data is a metadata area */
	uint32_t total;            /* bpf_xdp_get_buff_len() */
};

/* The host address of @size bytes at @addr: in the linear part (not
 * when @write), the metadata area or the stack. */
static void *mem(struct vm *vm, uint64_t addr, unsigned size, bool write)
{
	uintptr_t a = (uintptr_t)addr;
	uintptr_t d = (uintptr_t)vm->data, de = (uintptr_t)vm->end;
	uintptr_t m = (uintptr_t)vm->meta;
	uintptr_t s = (uintptr_t)vm->stack;

	if (!write && a >= d && a <= de && size <= de - a)
		return (void *)a;
	if (vm->has_meta && a >= m && a <= d && size <= d - a)
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

	if (a == (uintptr_t)&vm->ctx + offsetof(struct xdp_md, data_meta))
		return (uintptr_t)vm->meta;
	if (a == (uintptr_t)&vm->ctx + offsetof(struct xdp_md, data))
		return (uintptr_t)vm->data;
	if (a == (uintptr_t)&vm->ctx + offsetof(struct xdp_md, data_end))
		return (uintptr_t)vm->end;
	if (a == (uintptr_t)&vm->ctx +
		     offsetof(struct xdp_md, rx_queue_index))
		return 0;
	if (size == 4)
		memcpy(&w, mem(vm, a, 4, false), 4);
	else if (size == 2)
		memcpy(&h, mem(vm, a, 2, false), 2);
	else
		memcpy(&b, mem(vm, a, 1, false), 1);
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
		memcpy(mem(vm, *dst + (uint64_t)(int64_t)e->off, 4, true),
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
		if (e->imm == BPF_FUNC_xdp_get_buff_len) {
			check(vm->r[1] == (uintptr_t)&vm->ctx);
			vm->r[0] = vm->total;
		} else {
			check(e->imm == BPF_FUNC_redirect_map);
			vm->r[0] = REDIRECTED;
		}
		for (int r = 1; r <= 5; r++)
			vm->r[r] = CLOBBERED | (unsigned)r;
		return pc + 1;
	}
	if (op == BPF_JA)
		return pc + 1 + e->off;
	return pc + 1 + (cond(op, *dst, src) ? e->off : 0);
}

/* Run the program on a frame of @total bytes at @data, @linear of them in
 * its linear part; @meta is ctx->data_meta, a metadata area up to data
 * when @has_meta. */
static unsigned run(const struct bpf_insn *e, int cnt, uint8_t *meta,
		    bool has_meta, const uint8_t *data, uint32_t linear,
		    uint32_t total)
{
	struct vm vm = {
		.data = data, .end = data + linear, .meta = meta,
		.has_meta = has_meta, .total = total,
	};
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

struct verdict {
	unsigned got;   /* the accept action or XDP_PASS */
	bool marked;    /* PCV_XSK_META_UNFILTERED set */
};

/* One run of @e on the @total bytes at @buf + META_LEN, @linear of them
 * linear.  @how: 0 with our metadata, 1 with none (data_meta = data),
 * 2 none (data_meta = data + 1, as a driver without support leaves it),
 * 3 a metadata area with another magic.  Only our metadata's flags may
 * change. */
static struct verdict run_one(const struct bpf_insn *e, int cnt,
			      unsigned accept, uint8_t *buf, uint32_t linear,
			      uint32_t total, int how)
{
	const struct pcv_xsk_meta want = {
		.tai_ns = META_TAI,
		.magic = how == 3 ? PCV_XSK_META_MAGIC ^ 1 : PCV_XSK_META_MAGIC,
	};
	uint8_t *data = buf + META_LEN;
	struct pcv_xsk_meta m = want;
	struct verdict v;
	bool has_meta = how == 0 || how == 3;

	memcpy(buf, &m, sizeof(m));
	v.got = run(e, cnt, has_meta ? buf : data + (how == 2), has_meta, data,
		    linear, total);
	check(v.got == accept || v.got == XDP_PASS);
	memcpy(&m, buf, sizeof(m));
	check(m.tai_ns == want.tai_ns && m.magic == want.magic);
	v.marked = m.flags == PCV_XSK_META_UNFILTERED;
	check(m.flags == 0 || (v.marked && how == 0));
	/* undecided is an accept, and only where the frame is longer */
	check(!v.marked || (v.got == accept && linear < total));
	return v;
}

/* Run the translation on every frame, whole and cut at @cut (0..63);
 * when @compare, it must answer as bpf_filter() does (the top comment).
 * @all_ret1 is @prog with every RET made RET #1: bpf_filter() returns 0
 * on it only for a load past the end (or a division by 0), which tells a
 * read past the linear part from a rejection. */
static void run_frames(const struct sock_filter *prog,
		       const struct sock_filter *all_ret1,
		       const struct bpf_insn *e, int cnt, int map_fd,
		       unsigned cut, bool other_magic, bool compare)
{
	const struct pcap_bpf_insn *cprog = (const struct pcap_bpf_insn *)prog;
	const struct pcap_bpf_insn *cret1 =
		(const struct pcap_bpf_insn *)all_ret1;
	unsigned accept = map_fd >= 0 ? REDIRECTED : XDP_TX;

	for (int i = 0; i < NFRAMES; i++) {
		uint32_t len;
		const uint8_t *f = frame_bytes(i, &len);
		uint8_t *buf = malloc(META_LEN + len);
		uint8_t *p = buf + META_LEN;

		if (!buf)
			return;
		memcpy(p, f, len);
		for (int pass = 0; pass < 2; pass++) {
			uint32_t linear = pass ? (uint32_t)((uint64_t)len *
							    (63 - cut) / 63)
					       : len;
			struct verdict v, bare;
			bool lin, whole;

			if (linear > LINEAR_MAX)
				linear = LINEAR_MAX;
			v = run_one(e, cnt, accept, buf, linear, len, 0);
			bare = run_one(e, cnt, accept, buf, linear, len,
				       other_magic ? 3 : 1 + (i & 1));
			check(bare.got == v.got);
			check(memcmp(p, f, len) == 0);
			if (!compare)
				continue;
			lin = bpf_filter(cprog, p, len, linear) != 0;
			whole = bpf_filter(cprog, p, len, len) != 0;
			if (v.marked)
				check(!lin &&
				      bpf_filter(cret1, p, len, linear) == 0);
			else
				check(lin == whole &&
				      (v.got == accept) == whole);
		}
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sock_filter *prog, *ret1;
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
	ret1 = malloc(n * sizeof(*ret1));
	if (!ret1)
		goto out;
	for (unsigned i = 0; i < n; i++)
		ret1[i] = BPF_CLASS(prog[i].code) == BPF_RET ?
			  (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 1) :
			  prog[i];
	run_frames(prog, ret1, e, cnt, map_fd, data[0] >> 2, data[0] & 2,
		   valid && well_defined(prog, n));
	free(ret1);
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
