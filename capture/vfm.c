// SPDX-License-Identifier: MIT
/*
 * vfm.c - the VFM engine: load (verify, copy, translate the numbering,
 * pre-decode), the interpreter, the per-instance flow table, decisions
 * and statistics (pcv/vfm.h; the spec is ../shared/specs/vfm.md).
 *
 * Load turns the verified bytecode into an array of fixed-size decoded
 * instructions ("slots"): operands read once, little-endian byte by byte,
 * jump displacements turned into slot offsets.  The interpreter runs that
 * array with computed goto (GCC's labels as values; a plain switch
 * elsewhere), the top of the stack cached in a local.  It trusts the
 * verifier for everything static - opcodes, operand sizes, jump targets,
 * stack depths, a RET on every path - and checks only what depends on
 * the packet: load bounds (E_BOUNDS), division by zero (E_DIVZERO), and
 * the instruction budget (E_LIMIT), the last only for programs the
 * verifier says could exceed it.  Counting goes through a second dispatch
 * table whose stubs decrement the budget, so other programs do not pay
 * for it.  A few common instruction sequences become superinstructions
 * (section 3); the original instructions stay in the array behind them,
 * so a jump into the middle of a sequence still works.
 *
 * Semantics are upstream's interpreter's with the fixes of spec §8: EQ..LE
 * implemented, bounds-checked HASH5/HASH6 with one portable definition,
 * the IPv6 extension header walk bounds-checked with RFC lengths and real
 * transport ports from IPV6_EXT 3/4, and a flow table with in-place
 * update, key 0, idle expiry and LRU eviction.
 *
 * An instance is not thread-safe: pcv_vfm_run() writes the flow table and
 * pcv_vfm_match() the statistics.  Use one instance per thread.
 *
 * Sections: 1. packet helpers  2. flow table  3. load  4. interpreter
 *           5. decisions and stats
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/dissect.h"
#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vfm-int.h"

#ifdef __GNUC__
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#else
#define likely(x) (x)
#define unlikely(x) (x)
#endif

#define FLOW_WINDOW 8            /* slots probed from a key's home slot */
#define FLOW_DEFAULT (1u << 16)
#define FLOW_MAX (1u << 24)      /* 512 MiB of table: surely a mistake */
#define FLOW_TTL_DEFAULT (300ull * 1000000000ull)
#define V6_MAX_EXT 32            /* IPv6 extension headers walked */

/* The HEAD opcodes, for the interpreter's tables. */
#define HEAD_OPS(X)                                                           \
	X(LD8) X(LD16) X(LD32) X(LD64) X(PUSH) X(POP) X(DUP) X(SWAP)          \
	X(ADD) X(SUB) X(MUL) X(DIV) X(AND) X(OR) X(XOR) X(SHL) X(SHR)         \
	X(JMP) X(JEQ) X(JNE) X(JGT) X(JLT) X(RET) X(HASH5) X(CSUM)            \
	X(PARSE) X(FLOW_LOAD) X(FLOW_STORE) X(JGE) X(JLE) X(NOT) X(NEG)       \
	X(MOD) X(EQ) X(NE) X(GT) X(LT) X(GE) X(LE) X(LD128) X(PUSH128)        \
	X(EQ128) X(NE128) X(GT128) X(LT128) X(GE128) X(LE128) X(AND128)       \
	X(OR128) X(XOR128) X(JEQ128) X(JNE128) X(JGT128) X(JLT128)            \
	X(JGE128) X(JLE128) X(IP_VER) X(IPV6_EXT) X(HASH6) X(FIELD)           \
	X(FLOW_HASH)

/*
 * Superinstructions (section 3), numbered after the HEAD opcodes:
 *   LC<n>_<cc>  LDn a; PUSH k; J<cc> t   (n in bytes)
 *   CK_<cc>     PUSH k; J<cc> t
 *   LP<n>_<op>  LDn a; PUSH k; <op>      (AND, EQ, NE)
 *   LP_ANY      LDn a; PUSH k; any other 64-bit ALU op
 *   LPR<n>_<op> LDn a; PUSH k; <op>; RET  (AND, EQ, NE)
 *   RETK        PUSH k; RET
 *   PUSHJMP     PUSH k; JMP t
 * The CC and LP groups are in the order of enum cc and enum lp_op.
 */
#define CC_OPS(X, p) X(p##EQ) X(p##NE) X(p##GT) X(p##LT) X(p##GE) X(p##LE)
#define LP_OPS(X, p) X(p##AND) X(p##EQ) X(p##NE)
#define FUSED_OPS(X)                                                          \
	CC_OPS(X, LC1_) CC_OPS(X, LC2_) CC_OPS(X, LC4_) CC_OPS(X, LC8_)       \
	CC_OPS(X, CK_) LP_OPS(X, LP1_) LP_OPS(X, LP2_) LP_OPS(X, LP4_)        \
	LP_OPS(X, LP8_) X(LP_ANY) LP_OPS(X, LPR1_) LP_OPS(X, LPR2_)         \
	LP_OPS(X, LPR4_) LP_OPS(X, LPR8_) X(RETK) X(PUSHJMP)

enum vop {
#define V_HEAD(name) V_##name = PCV_VFM_##name,
	HEAD_OPS(V_HEAD)
#undef V_HEAD
	V_LAST_HEAD = PCV_VFM_OP_MAX - 1,
#define V_FUSED(name) V_##name,
	FUSED_OPS(V_FUSED)
#undef V_FUSED
	V_NOPS,
};

enum cc { CC_EQ, CC_NE, CC_GT, CC_LT, CC_GE, CC_LE };
enum lp_op { LP_AND, LP_EQ, LP_NE };

/*
 * One decoded instruction.  Jump targets are slot offsets from the jump
 * itself.  PUSH128 takes two slots, the second holding the low half in k.
 * Fused ops keep their parts in the slots after them.
 */
struct vinsn {
	uint8_t op;  /* enum vop */
	uint8_t ldn; /* LP_ANY: load size in bytes */
	uint8_t alu; /* LP_ANY: the ALU opcode */
	uint8_t pad;
	uint32_t a;  /* load offset, selector, or (int32_t) jump offset;
		      * LC*: load offset | (int16_t) jump offset << 16 */
	uint64_t k;  /* immediate */
};

struct flow_ent {
	uint64_t key;
	uint64_t val;
	uint64_t seen; /* ts_ns of the last packet that touched it */
	uint64_t used; /* 0: free slot */
};

struct pcv_vfm {
	struct vinsn *insns;
	uint32_t nslots;
	bool budget; /* count instructions at run time */
	enum pcv_vfm_decision decision;

	struct flow_ent *flows; /* NULL unless the program uses FLOW_* */
	uint32_t fmask;
	uint32_t fwindow;
	uint64_t ttl;
	uint64_t nflows;

	struct pcv_vfm_stats st;
};

void pcv_vfm_opts_init(struct pcv_vfm_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->numbering = PCV_VFM_HEAD;
	o->decision = PCV_VFM_NONZERO;
	o->allow_loops = false;
	o->flow_entries = FLOW_DEFAULT;
	o->flow_ttl_ns = FLOW_TTL_DEFAULT;
}

/* ==== 1. packet helpers ================================================== */

static inline uint64_t be16(const uint8_t *p)
{
	return (uint64_t)p[0] << 8 | p[1];
}

static inline uint64_t be32(const uint8_t *p)
{
	return (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 |
	       (uint64_t)p[2] << 8 | p[3];
}

static inline uint64_t be64(const uint8_t *p)
{
	return be32(p) << 32 | be32(p + 4);
}

static inline uint64_t le16(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8;
}

static inline uint64_t le32(const uint8_t *p)
{
	return le16(p) | le16(p + 2) << 16;
}

static inline uint64_t le64(const uint8_t *p)
{
	return le32(p) | le32(p + 4) << 32;
}

#define FNV_BASIS 14695981039346656037ull
#define FNV_PRIME 1099511628211ull

static inline uint64_t fnv_word(uint64_t h, uint64_t w)
{
	return (h ^ w) * FNV_PRIME;
}

/*
 * HASH5: FNV-1a style over the IPv4 words upstream reads "in host order"
 * on x86-64, i.e. little-endian, whatever our host is: src, dst, sport,
 * dport, proto.  0 unless every byte it reads (up to 37) is there.
 */
static uint64_t hash5(const uint8_t *pkt, uint32_t caplen)
{
	uint64_t h = FNV_BASIS;

	if (caplen < 38)
		return 0;
	h = fnv_word(h, le32(pkt + 26));
	h = fnv_word(h, le32(pkt + 30));
	h = fnv_word(h, le16(pkt + 34));
	h = fnv_word(h, le16(pkt + 36));
	return fnv_word(h, pkt[23]);
}

/*
 * HASH6: the AVX2/NEON build's formula: XOR the addresses at 22 and 38,
 * take the result as two LE words, then sport, dport (LE16 at 54, 56) and
 * the next header at 20.  0 unless bytes up to 57 are there.
 */
static uint64_t hash6(const uint8_t *pkt, uint32_t caplen)
{
	uint8_t x[16];
	uint64_t h = FNV_BASIS;
	int i;

	if (caplen < 58)
		return 0;
	for (i = 0; i < 16; i++)
		x[i] = pkt[22 + i] ^ pkt[38 + i];
	h = fnv_word(h, le64(x));
	h = fnv_word(h, le64(x + 8));
	h = fnv_word(h, le16(pkt + 54));
	h = fnv_word(h, le16(pkt + 56));
	return fnv_word(h, pkt[20]);
}

/* What the IPv6 extension header walk found. */
struct v6ext {
	uint32_t count, len;
	uint32_t final; /* next header after the last consumed one */
	uint32_t l4off; /* where that next header starts */
	uint32_t frag_id, frag_off, frag_flags;
};

static inline bool v6_is_ext(unsigned nh)
{
	return nh == 0 || nh == 43 || nh == 44 || nh == 51 || nh == 60 ||
	       nh == 135;
}

/*
 * Walk the extension headers of an untagged Ethernet IPv6 frame (spec
 * §2.6 with §8 item 7: a header is consumed only if all of it is there,
 * Mobility is (len + 1) * 8 bytes, at most V6_MAX_EXT headers).
 * Return: false when the frame is not IPv6 or shorter than its header.
 */
static bool v6_walk(const uint8_t *pkt, uint32_t caplen, struct v6ext *x)
{
	uint32_t off = 54, hl, n;
	unsigned nh;

	memset(x, 0, sizeof(*x));
	if (caplen < 54 || pkt[14] >> 4 != 6)
		return false;
	nh = pkt[20];
	for (n = 0; n < V6_MAX_EXT && v6_is_ext(nh); n++) {
		const uint8_t *h = pkt + off;

		if (caplen - off < 2)
			break;
		switch (nh) {
		case 44:
			hl = 8;
			break;
		case 51:
			hl = ((uint32_t)h[1] + 2) * 4;
			break;
		default: /* 0, 43, 60, 135 */
			hl = ((uint32_t)h[1] + 1) * 8;
			break;
		}
		if (hl > caplen - off)
			break;
		if (nh == 44) {
			uint32_t fo = (uint32_t)be16(h + 2);

			x->frag_off = fo >> 3 & 0x1fff;
			x->frag_flags = fo & 7;
			x->frag_id = (uint32_t)be32(h + 4);
		}
		x->count++;
		x->len += hl;
		nh = h[0];
		off += hl;
	}
	x->final = nh;
	x->l4off = off;
	return true;
}

static inline bool has_ports(unsigned proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

/* IPV6_EXT 3/4 (spec §8 item 8): real transport ports, IPv4 or IPv6. */
static uint64_t l4_port(const uint8_t *pkt, uint32_t caplen, unsigned sel)
{
	uint32_t l4;
	unsigned ihl;

	if (caplen >= 34 && pkt[14] >> 4 == 4) {
		ihl = pkt[14] & 0x0f;
		if (ihl < 5 || (be16(pkt + 20) & 0x1fff) || !has_ports(pkt[23]))
			return 0;
		l4 = 14 + ihl * 4;
	} else {
		struct v6ext x;

		if (!v6_walk(pkt, caplen, &x) || !has_ports(x.final) ||
		    x.frag_off)
			return 0;
		l4 = x.l4off;
	}
	if (caplen < l4 + 4)
		return 0;
	return be16(pkt + l4 + (sel == 4 ? 2 : 0));
}

static uint64_t ipv6_ext(const uint8_t *pkt, uint32_t caplen, unsigned sel)
{
	struct v6ext x;

	if (sel == 3 || sel == 4)
		return l4_port(pkt, caplen, sel);
	if (!v6_walk(pkt, caplen, &x))
		return 0;
	switch (sel) {
	case 15:
		return x.count != 0;
	case 16:
		return x.count;
	case 17:
		return x.len;
	case 18:
		return x.final;
	case 19:
		return x.frag_id;
	case 20:
		return x.frag_off;
	case 21:
		return x.frag_flags;
	default:
		return 0;
	}
}

/* FIELD and FLOW_HASH dissect the frame once per run, on first use. */
struct lazy {
	struct pcv_dissect d;
	int rc; /* pcv_dissect()'s answer; 2: not dissected yet */
};

static const struct pcv_dissect *dissect(struct lazy *lz, const uint8_t *pkt,
					 uint32_t caplen)
{
	if (lz->rc == 2)
		lz->rc = pcv_dissect(pkt, caplen, PCV_DLT_EN10MB, &lz->d);
	return &lz->d;
}

static uint64_t field(struct lazy *lz, const uint8_t *pkt, uint32_t caplen,
		      unsigned sel)
{
	const struct pcv_dissect *d = dissect(lz, pkt, caplen);
	bool ip = lz->rc == 0;

	switch (sel) {
	case PCV_VFM_F_L4_PROTO:
		return ip ? d->key.proto : 0;
	case PCV_VFM_F_L4_SPORT:
		return ip && has_ports(d->key.proto) ? d->key.sport : 0;
	case PCV_VFM_F_L4_DPORT:
		return ip && has_ports(d->key.proto) ? d->key.dport : 0;
	case PCV_VFM_F_TCP_FLAGS:
		return ip && d->key.proto == 6 ? d->tcp_flags : 0;
	case PCV_VFM_F_VLAN:
		return d->nvlan ? d->vlan_ids[0] : 0;
	case PCV_VFM_F_IP_VERSION:
		return ip ? d->key.family : 0;
	case PCV_VFM_F_FRAGMENT:
		return ip && (d->flags & PCV_DF_FRAG) ? 1 : 0;
	default:
		return 0;
	}
}

static uint64_t flow_hash(struct lazy *lz, const uint8_t *pkt,
			  uint32_t caplen)
{
	const struct pcv_dissect *d = dissect(lz, pkt, caplen);

	return lz->rc == 0 ? pcv_flow_key_hash(&d->key) : 0;
}

/* ==== 2. flow table ====================================================== */

/*
 * Open addressing over a power-of-two array.  A key's home slot comes
 * from a mix of all its bits (keys are often addresses or counters, not
 * hashes); it may live in any of the FLOW_WINDOW slots from there.  An
 * entry idle for longer than the TTL (by packet time) counts as free and
 * is cleared when a probe passes it.  A store updates the key where it
 * is, else takes the first free slot, else evicts the least recently seen
 * entry of the window.
 */
static inline uint64_t key_mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static inline bool flow_stale(struct pcv_vfm *vm, struct flow_ent *e,
			      uint64_t ts)
{
	if (ts > e->seen && ts - e->seen > vm->ttl) {
		e->used = 0;
		vm->nflows--;
		vm->st.flow_expired++;
		return true;
	}
	return false;
}

static uint64_t flow_load(struct pcv_vfm *vm, uint64_t key, uint64_t ts)
{
	uint32_t home = (uint32_t)key_mix(key), i;

	for (i = 0; i < vm->fwindow; i++) {
		struct flow_ent *e = &vm->flows[(home + i) & vm->fmask];

		if (!e->used || flow_stale(vm, e, ts))
			continue;
		if (e->key == key) {
			e->seen = ts;
			return e->val;
		}
	}
	return 0;
}

static void flow_store(struct pcv_vfm *vm, uint64_t key, uint64_t val,
		       uint64_t ts)
{
	uint32_t home = (uint32_t)key_mix(key), i;
	struct flow_ent *free_e = NULL, *lru = NULL, *e;

	for (i = 0; i < vm->fwindow; i++) {
		e = &vm->flows[(home + i) & vm->fmask];
		if (!e->used || flow_stale(vm, e, ts)) {
			if (!free_e)
				free_e = e;
			continue;
		}
		if (e->key == key) {
			e->val = val;
			e->seen = ts;
			return;
		}
		if (!lru || e->seen < lru->seen)
			lru = e;
	}
	if (free_e) {
		e = free_e;
		e->used = 1;
		vm->nflows++;
	} else {
		e = lru;
		vm->st.flow_evictions++;
	}
	e->key = key;
	e->val = val;
	e->seen = ts;
}

/* ==== 3. load ============================================================ */

static int load_err(char *errbuf, int rc, const char *msg)
{
	if (errbuf)
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%s", msg);
	return rc;
}

static int load_index(unsigned op)
{
	return op <= PCV_VFM_LD64 ? (int)op : -1; /* 1, 2, 4, 8 bytes */
}

static int jcc_kind(unsigned op)
{
	switch (op) {
	case PCV_VFM_JEQ:
		return CC_EQ;
	case PCV_VFM_JNE:
		return CC_NE;
	case PCV_VFM_JGT:
		return CC_GT;
	case PCV_VFM_JLT:
		return CC_LT;
	case PCV_VFM_JGE:
		return CC_GE;
	case PCV_VFM_JLE:
		return CC_LE;
	default:
		return -1;
	}
}

static bool fusable_alu(unsigned op)
{
	switch (op) {
	case PCV_VFM_ADD: case PCV_VFM_SUB: case PCV_VFM_MUL:
	case PCV_VFM_AND: case PCV_VFM_OR: case PCV_VFM_XOR:
	case PCV_VFM_SHL: case PCV_VFM_SHR:
	case PCV_VFM_EQ: case PCV_VFM_NE: case PCV_VFM_GT:
	case PCV_VFM_LT: case PCV_VFM_GE: case PCV_VFM_LE:
		return true;
	default:
		return false;
	}
}

static int lp_kind(unsigned op)
{
	switch (op) {
	case PCV_VFM_AND:
		return LP_AND;
	case PCV_VFM_EQ:
		return LP_EQ;
	case PCV_VFM_NE:
		return LP_NE;
	default:
		return -1;
	}
}

/*
 * Superinstructions: rewrite the first slot of a common sequence.  The
 * slots after it keep their own instructions, so jumping into the middle
 * is harmless.  Not used when the budget is counted, which must see every
 * instruction.
 */
static void fuse(struct vinsn *in, uint32_t n)
{
	uint32_t i;

	for (i = 0; i + 1 < n; i++) {
		struct vinsn *a = &in[i], *b = &in[i + 1], *c = &in[i + 2];
		int li = load_index(a->op), cc;

		if (li >= 0 && i + 2 < n && b->op == PCV_VFM_PUSH) {
			int32_t rel = (int32_t)c->a + 2;

			cc = jcc_kind(c->op);
			if (cc >= 0 && rel >= INT16_MIN && rel <= INT16_MAX) {
				a->op = (uint8_t)(V_LC1_EQ + li * 6 + cc);
				a->a |= (uint32_t)(uint16_t)rel << 16;
				a->k = b->k;
				continue;
			}
			cc = lp_kind(c->op);
			if (cc >= 0 && i + 3 < n &&
			    in[i + 3].op == PCV_VFM_RET) {
				a->op = (uint8_t)(V_LPR1_AND + li * 3 + cc);
				a->k = b->k;
				continue;
			}
			if (cc >= 0 || fusable_alu(c->op)) {
				a->ldn = (uint8_t)(1u << li);
				a->alu = c->op;
				a->op = (uint8_t)(cc < 0 ? V_LP_ANY
						 : V_LP1_AND + li * 3 + cc);
				a->k = b->k;
				continue;
			}
		}
		if (a->op != PCV_VFM_PUSH)
			continue;
		cc = jcc_kind(b->op);
		if (cc >= 0) {
			a->op = (uint8_t)(V_CK_EQ + cc);
			a->a = b->a + 1;
		} else if (b->op == PCV_VFM_RET) {
			a->op = V_RETK;
		} else if (b->op == PCV_VFM_JMP) {
			a->op = V_PUSHJMP;
			a->a = b->a + 1;
		}
	}
}

/* Decode verified HEAD bytecode into vm->insns. */
static int predecode(struct pcv_vfm *vm, const uint8_t *code, size_t len,
		     uint32_t ninsns)
{
	uint32_t *slot_of = malloc(len * sizeof(*slot_of));
	struct vinsn *in;
	uint32_t n = 0;
	size_t pc;

	/* PUSH128 takes 2 slots; ninsns * 2 is a safe bound */
	in = calloc((size_t)ninsns * 2 + 1, sizeof(*in));
	if (!slot_of || !in) {
		free(slot_of);
		free(in);
		return -ENOMEM;
	}
	for (pc = 0; pc < len; pc += pcv__vfm_op(code[pc])->size) {
		slot_of[pc] = n;
		n += code[pc] == PCV_VFM_PUSH128 ? 2 : 1;
	}
	n = 0;
	for (pc = 0; pc < len; pc += pcv__vfm_op(code[pc])->size) {
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(code[pc]);
		uint32_t self = n;
		struct vinsn *v = &in[n++];
		size_t t;

		v->op = code[pc];
		switch (oi->fmt) {
		case PCV__VFM_OFF16:
			v->a = (uint32_t)le16(code + pc + 1);
			break;
		case PCV__VFM_SEL8:
			v->a = code[pc + 1];
			break;
		case PCV__VFM_IMM64:
			v->k = le64(code + pc + 1);
			break;
		case PCV__VFM_IMM128:
			v->k = be64(code + pc + 1);
			in[n].op = PCV_VFM_AND32; /* data, never dispatched */
			in[n++].k = be64(code + pc + 9);
			break;
		case PCV__VFM_REL16:
			t = pc + 3 +
			    (size_t)(int64_t)(int16_t)le16(code + pc + 1);
			v->a = (uint32_t)((int32_t)slot_of[t] - (int32_t)self);
			break;
		default:
			break;
		}
	}
	free(slot_of);
	if (!vm->budget)
		fuse(in, n);
	vm->insns = in;
	vm->nslots = n;
	return 0;
}

int pcv_vfm_load(struct pcv_vfm **vmp, const uint8_t *code, size_t len,
		 const struct pcv_vfm_opts *opts, char *errbuf)
{
	struct pcv_vfm_opts def;
	struct pcv__vfm_proginfo pi;
	struct pcv_vfm *vm = NULL;
	uint8_t *copy = NULL;
	uint32_t nflows;
	int rc;

	if (!vmp)
		return load_err(errbuf, -EINVAL, "no place for the instance");
	*vmp = NULL;
	if (!opts) {
		pcv_vfm_opts_init(&def);
		opts = &def;
	}
	if (opts->numbering != PCV_VFM_HEAD &&
	    opts->numbering != PCV_VFM_LEGACY)
		return load_err(errbuf, -EINVAL, "unknown opcode numbering");
	if (opts->decision != PCV_VFM_NONZERO &&
	    opts->decision != PCV_VFM_PV_COMPAT)
		return load_err(errbuf, -EINVAL, "unknown decision rule");
	nflows = opts->flow_entries ? opts->flow_entries : FLOW_DEFAULT;
	if (nflows & (nflows - 1) || nflows > FLOW_MAX)
		return load_err(errbuf, -EINVAL,
				"flow_entries must be a power of two, at most "
				"16777216");
	if (!code || len == 0 || len > PCV_VFM_MAX_PROGRAM)
		return pcv__vfm_check(code, len, opts->allow_loops, NULL,
				      errbuf);

	copy = malloc(len);
	if (!copy)
		return load_err(errbuf, -ENOMEM, "out of memory");
	memcpy(copy, code, len);
	rc = 0;
	if (opts->numbering == PCV_VFM_LEGACY)
		rc = pcv__vfm_from_legacy(copy, len, errbuf);
	if (rc == 0)
		rc = pcv__vfm_check(copy, len, opts->allow_loops, &pi, errbuf);
	if (rc)
		goto out;

	rc = -ENOMEM;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		goto out;
	vm->decision = opts->decision;
	vm->budget = pi.budget;
	vm->ttl = opts->flow_ttl_ns ? opts->flow_ttl_ns : FLOW_TTL_DEFAULT;
	if (pi.flow) {
		vm->flows = calloc(nflows, sizeof(*vm->flows));
		if (!vm->flows)
			goto out;
		vm->fmask = nflows - 1;
		vm->fwindow = nflows < FLOW_WINDOW ? nflows : FLOW_WINDOW;
	}
	if (predecode(vm, copy, len, pi.ninsns) < 0)
		goto out;
	*vmp = vm;
	vm = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM)
		load_err(errbuf, rc, "out of memory");
	pcv_vfm_free(vm);
	free(copy);
	return rc;
}

void pcv_vfm_free(struct pcv_vfm *vm)
{
	if (!vm)
		return;
	free(vm->insns);
	free(vm->flows);
	free(vm);
}

/* ==== 4. interpreter ===================================================== */

/*
 * The handler bodies are written once with these macros: OPCASE(name)
 * starts a handler, NEXT(n) moves n slots on and dispatches, JREL(d)
 * continues d slots away.  With GCC each handler ends in its own indirect
 * jump through the table (counting or not); elsewhere a switch in a loop.
 *
 * Stack: tos holds the top value; sp points at the one below it.  stk[0]
 * is never used and stk[1] takes the meaningless tos of an empty stack on
 * the first push, so depth d lives in stk[2..d] and tos.  The verifier
 * caps d at PCV_VFM_STACK, so sp never passes stk + PCV_VFM_STACK.
 */
#define PUSHV(v)                                                              \
	do {                                                                  \
		uint64_t v_ = (v);                                            \
		*++sp = tos;                                                  \
		tos = v_;                                                     \
	} while (0)

/* a ⋄ b on 128-bit values given as (high, low) halves, unsigned. */
static inline bool cmp128(int cc, uint64_t ah, uint64_t al, uint64_t bh,
			  uint64_t bl)
{
	switch (cc) {
	case CC_EQ:
		return ah == bh && al == bl;
	case CC_NE:
		return ah != bh || al != bl;
	case CC_GT:
		return ah > bh || (ah == bh && al > bl);
	case CC_LT:
		return ah < bh || (ah == bh && al < bl);
	case CC_GE:
		return ah > bh || (ah == bh && al >= bl);
	default:
		return ah < bh || (ah == bh && al <= bl);
	}
}

static uint64_t alu(unsigned op, uint64_t a, uint64_t b)
{
	switch (op) {
	case PCV_VFM_ADD:
		return a + b;
	case PCV_VFM_SUB:
		return a - b;
	case PCV_VFM_MUL:
		return a * b;
	case PCV_VFM_AND:
		return a & b;
	case PCV_VFM_OR:
		return a | b;
	case PCV_VFM_XOR:
		return a ^ b;
	case PCV_VFM_SHL:
		return a << (b & 63);
	case PCV_VFM_SHR:
		return a >> (b & 63);
	case PCV_VFM_EQ:
		return a == b;
	case PCV_VFM_NE:
		return a != b;
	case PCV_VFM_GT:
		return a > b;
	case PCV_VFM_LT:
		return a < b;
	case PCV_VFM_GE:
		return a >= b;
	default:
		return a <= b;
	}
}

/* @n (1, 2, 4 or 8) packet bytes at @p, big-endian. */
#define LDV1(p) ((uint64_t)(p)[0])
#define LDV2(p) be16(p)
#define LDV4(p) be32(p)
#define LDV8(p) be64(p)

static inline uint64_t ldn(const uint8_t *p, unsigned n)
{
	switch (n) {
	case 1:
		return LDV1(p);
	case 2:
		return LDV2(p);
	case 4:
		return LDV4(p);
	default:
		return LDV8(p);
	}
}

/* PCV_VFM_SWITCH forces the portable dispatch, to test it with GCC. */
#if defined(__GNUC__) && !defined(PCV_VFM_SWITCH)
#define VM_THREADED 1
#define OPCASE(name) op_##name:
#define DISPATCH() goto *tbl[ip->op]
#else
#define VM_THREADED 0
#define OPCASE(name) case V_##name:
#define DISPATCH() goto dispatch
#endif
#define NEXT(n)                                                               \
	do {                                                                  \
		ip += (n);                                                    \
		DISPATCH();                                                   \
	} while (0)
#define JREL(d)                                                               \
	do {                                                                  \
		ip += (d);                                                    \
		DISPATCH();                                                   \
	} while (0)

/*
 * What only the rare handlers need, in the frame at a fixed offset from
 * the stack pointer, so that it takes no register from the hot ones
 * (ip, sp, tos, pkt, caplen, the table).
 */
struct run_ctx {
	struct pcv_vfm *vm;
	uint64_t ts;
	uint64_t *result;
	long budget;
	struct lazy lz;
};

static int vm_exec(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t caplen,
		   uint64_t ts, uint64_t *result)
{
	const struct vinsn *ip = vm->insns;
	uint64_t stk[PCV_VFM_STACK + 1];
	uint64_t *sp = stk;
	uint64_t tos = 0, a, b, c;
	struct run_ctx cx;

	cx.vm = vm;
	cx.ts = ts;
	cx.result = result;
	cx.budget = PCV_VFM_INSN_LIMIT;
	cx.lz.rc = 2;
#if VM_THREADED
#define TBL_ENTRY(name) [V_##name] = &&op_##name,
#define CTBL_ENTRY(name) [V_##name] = &&cnt_##name,
	static const void *const plain[V_NOPS] = {
		HEAD_OPS(TBL_ENTRY) FUSED_OPS(TBL_ENTRY)
	};
	/* fused ops are never used with the budget counted */
	static const void *const counted[V_NOPS] = { HEAD_OPS(CTBL_ENTRY) };
	const void *const *tbl = vm->budget ? counted : plain;

	DISPATCH();
#else
	const bool count = vm->budget;

dispatch:
	if (count && --cx.budget < 0)
		goto e_limit;
	switch (ip->op) {
#endif

	/* ---- loads and constants ---- */
	OPCASE(LD8)
		if (unlikely(caplen < ip->a + 1))
			goto e_bounds;
		PUSHV(LDV1(pkt + ip->a));
		NEXT(1);
	OPCASE(LD16)
		if (unlikely(caplen < ip->a + 2))
			goto e_bounds;
		PUSHV(LDV2(pkt + ip->a));
		NEXT(1);
	OPCASE(LD32)
		if (unlikely(caplen < ip->a + 4))
			goto e_bounds;
		PUSHV(LDV4(pkt + ip->a));
		NEXT(1);
	OPCASE(LD64)
		if (unlikely(caplen < ip->a + 8))
			goto e_bounds;
		PUSHV(LDV8(pkt + ip->a));
		NEXT(1);
	OPCASE(LD128)
		if (unlikely(caplen < ip->a + 16))
			goto e_bounds;
		PUSHV(be64(pkt + ip->a));
		PUSHV(be64(pkt + ip->a + 8));
		NEXT(1);
	OPCASE(PUSH)
		PUSHV(ip->k);
		NEXT(1);
	OPCASE(PUSH128)
		PUSHV(ip->k);
		PUSHV(ip[1].k);
		NEXT(2);

	/* ---- stack ---- */
	OPCASE(POP)
		tos = *sp--;
		NEXT(1);
	OPCASE(DUP)
		*++sp = tos;
		NEXT(1);
	OPCASE(SWAP)
		a = *sp;
		*sp = tos;
		tos = a;
		NEXT(1);

	/* ---- arithmetic: a is below b; pop both, push the result ---- */
#define BINOP(name, expr)                                                     \
	OPCASE(name)                                                          \
		a = *sp--;                                                    \
		b = tos;                                                      \
		tos = (expr);                                                 \
		NEXT(1);
	BINOP(ADD, a + b)
	BINOP(SUB, a - b)
	BINOP(MUL, a * b)
	BINOP(AND, a & b)
	BINOP(OR, a | b)
	BINOP(XOR, a ^ b)
	BINOP(SHL, a << (b & 63))
	BINOP(SHR, a >> (b & 63))
	BINOP(EQ, a == b)
	BINOP(NE, a != b)
	BINOP(GT, a > b)
	BINOP(LT, a < b)
	BINOP(GE, a >= b)
	BINOP(LE, a <= b)
	OPCASE(DIV)
		if (unlikely(tos == 0))
			goto e_divzero;
		tos = *sp-- / tos;
		NEXT(1);
	OPCASE(MOD)
		if (unlikely(tos == 0))
			goto e_divzero;
		tos = *sp-- % tos;
		NEXT(1);
	OPCASE(NOT)
		tos = ~tos;
		NEXT(1);
	OPCASE(NEG)
		tos = 0 - tos;
		NEXT(1);

	/* ---- control ---- */
	OPCASE(JMP)
		JREL((int32_t)ip->a);
#define JCC(name, op)                                                         \
	OPCASE(name)                                                          \
		b = tos;                                                      \
		a = *sp--;                                                    \
		tos = *sp--;                                                  \
		if (a op b)                                                   \
			JREL((int32_t)ip->a);                                 \
		NEXT(1);
	JCC(JEQ, ==)
	JCC(JNE, !=)
	JCC(JGT, >)
	JCC(JLT, <)
	JCC(JGE, >=)
	JCC(JLE, <=)
	OPCASE(RET)
		*cx.result = tos;
		return PCV_VFM_OK;

	/* ---- 128-bit: a = (sp[-2], sp[-1]), b = (sp[0], tos) ---- */
#define CMP128(name, cc)                                                      \
	OPCASE(name)                                                          \
		c = cmp128(cc, sp[-2], sp[-1], sp[0], tos);                   \
		sp -= 3;                                                      \
		tos = c;                                                      \
		NEXT(1);
	CMP128(EQ128, CC_EQ)
	CMP128(NE128, CC_NE)
	CMP128(GT128, CC_GT)
	CMP128(LT128, CC_LT)
	CMP128(GE128, CC_GE)
	CMP128(LE128, CC_LE)
#define BIT128(name, op)                                                      \
	OPCASE(name)                                                          \
		a = sp[-2] op sp[0];                                          \
		b = sp[-1] op tos;                                            \
		sp -= 2;                                                      \
		*sp = a;                                                      \
		tos = b;                                                      \
		NEXT(1);
	BIT128(AND128, &)
	BIT128(OR128, |)
	BIT128(XOR128, ^)
#define JCC128(name, cc)                                                      \
	OPCASE(name)                                                          \
		c = cmp128(cc, sp[-2], sp[-1], sp[0], tos);                   \
		tos = sp[-3];                                                 \
		sp -= 4;                                                      \
		if (c)                                                        \
			JREL((int32_t)ip->a);                                 \
		NEXT(1);
	JCC128(JEQ128, CC_EQ)
	JCC128(JNE128, CC_NE)
	JCC128(JGT128, CC_GT)
	JCC128(JLT128, CC_LT)
	JCC128(JGE128, CC_GE)
	JCC128(JLE128, CC_LE)

	/* ---- packet probes ---- */
	OPCASE(HASH5)
		PUSHV(hash5(pkt, caplen));
		NEXT(1);
	OPCASE(HASH6)
		PUSHV(hash6(pkt, caplen));
		NEXT(1);
	OPCASE(CSUM)
	OPCASE(PARSE)
		PUSHV(1); /* upstream's stubs */
		NEXT(1);
	OPCASE(IP_VER)
		PUSHV(caplen >= 15 ? pkt[14] >> 4 : 0);
		NEXT(1);
	OPCASE(IPV6_EXT)
		PUSHV(ipv6_ext(pkt, caplen, ip->a));
		NEXT(1);
	OPCASE(FIELD)
		PUSHV(field(&cx.lz, pkt, caplen, ip->a));
		NEXT(1);
	OPCASE(FLOW_HASH)
		PUSHV(flow_hash(&cx.lz, pkt, caplen));
		NEXT(1);

	/* ---- flow table ---- */
	OPCASE(FLOW_LOAD)
		tos = flow_load(cx.vm, tos, cx.ts);
		NEXT(1);
	OPCASE(FLOW_STORE)
		b = tos;
		a = *sp--;
		tos = *sp--;
		flow_store(cx.vm, a, b, cx.ts);
		NEXT(1);

	/* ---- superinstructions (never with the budget counted) ---- */
#define H_LC(n, cc, op)                                                       \
	OPCASE(LC##n##_##cc)                                                  \
		a = ip->a & 0xffff;                                           \
		if (unlikely(caplen < a + n))                                 \
			goto e_bounds;                                        \
		if (LDV##n(pkt + a) op ip->k)                                 \
			JREL((int16_t)(ip->a >> 16));                         \
		NEXT(3);
#define H_LC_ALL(n)                                                           \
	H_LC(n, EQ, ==) H_LC(n, NE, !=) H_LC(n, GT, >)                        \
	H_LC(n, LT, <) H_LC(n, GE, >=) H_LC(n, LE, <=)
	H_LC_ALL(1)
	H_LC_ALL(2)
	H_LC_ALL(4)
	H_LC_ALL(8)
#define H_CK(cc, op)                                                          \
	OPCASE(CK_##cc)                                                       \
		a = tos;                                                      \
		tos = *sp--;                                                  \
		if (a op ip->k)                                               \
			JREL((int32_t)ip->a);                                 \
		NEXT(2);
	H_CK(EQ, ==)
	H_CK(NE, !=)
	H_CK(GT, >)
	H_CK(LT, <)
	H_CK(GE, >=)
	H_CK(LE, <=)
#define H_LP(n, name, expr)                                                   \
	OPCASE(LP##n##_##name)                                                \
		if (unlikely(caplen < ip->a + n))                             \
			goto e_bounds;                                        \
		a = LDV##n(pkt + ip->a);                                      \
		b = ip->k;                                                    \
		PUSHV(expr);                                                  \
		NEXT(3);
#define H_LP_ALL(n)                                                           \
	H_LP(n, AND, a & b) H_LP(n, EQ, a == b) H_LP(n, NE, a != b)
	H_LP_ALL(1)
	H_LP_ALL(2)
	H_LP_ALL(4)
	H_LP_ALL(8)
#define H_LPR(n, name, expr)                                                  \
	OPCASE(LPR##n##_##name)                                               \
		if (unlikely(caplen < ip->a + n))                             \
			goto e_bounds;                                        \
		a = LDV##n(pkt + ip->a);                                      \
		b = ip->k;                                                    \
		*cx.result = (expr);                                          \
		return PCV_VFM_OK;
#define H_LPR_ALL(n)                                                          \
	H_LPR(n, AND, a & b) H_LPR(n, EQ, a == b) H_LPR(n, NE, a != b)
	H_LPR_ALL(1)
	H_LPR_ALL(2)
	H_LPR_ALL(4)
	H_LPR_ALL(8)
	OPCASE(LP_ANY)
		if (unlikely(caplen < ip->a + ip->ldn))
			goto e_bounds;
		PUSHV(alu(ip->alu, ldn(pkt + ip->a, ip->ldn), ip->k));
		NEXT(3);
	OPCASE(RETK)
		*cx.result = ip->k;
		return PCV_VFM_OK;
	OPCASE(PUSHJMP)
		PUSHV(ip->k);
		JREL((int32_t)ip->a);

#if VM_THREADED
	/* counting stubs: one per HEAD opcode */
#define CNT_STUB(name)                                                        \
	cnt_##name:                                                           \
		if (unlikely(--cx.budget < 0))                                \
			goto e_limit;                                         \
		goto op_##name;
	HEAD_OPS(CNT_STUB)
#else
	default:
		*cx.result = 0;
		return PCV_VFM_E_OPCODE;
	}
#endif

e_limit:
	*cx.result = 0;
	return PCV_VFM_E_LIMIT;
e_bounds:
	*cx.result = 0;
	return PCV_VFM_E_BOUNDS;
e_divzero:
	*cx.result = 0;
	return PCV_VFM_E_DIVZERO;
}

int pcv_vfm_run(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t caplen,
		uint64_t ts_ns, uint64_t *result)
{
	uint64_t r;

	if (!result)
		result = &r;
	if (!vm) {
		*result = 0;
		return PCV_VFM_E_PROGRAM;
	}
	if (!pkt)
		caplen = 0;
	return vm_exec(vm, pkt, caplen, ts_ns, result);
}

/* ==== 5. decisions and stats ============================================= */

bool pcv_vfm_match(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t caplen,
		   uint64_t ts_ns)
{
	uint64_t r;
	int st = vm_exec(vm, pkt, pkt ? caplen : 0, ts_ns, &r);
	bool ok;

	vm->st.packets++;
	if (unlikely(st != PCV_VFM_OK)) {
		vm->st.errors++;
		vm->st.errors_by_kind[-st & 7]++;
		return false;
	}
	if (vm->decision == PCV_VFM_NONZERO)
		ok = r != 0;
	else
		ok = (int32_t)(uint32_t)r > 0;
	/* no branch on the verdict, it depends on the packet; rejected is
	 * what is left (pcv_vfm_get_stats) */
	vm->st.accepted += ok;
	return ok;
}

void pcv_vfm_get_stats(const struct pcv_vfm *vm, struct pcv_vfm_stats *st)
{
	*st = vm->st;
	st->rejected = st->packets - st->accepted - st->errors;
	st->flow_entries = vm->nflows;
}

const char *pcv_vfm_status_name(int status)
{
	switch (status) {
	case PCV_VFM_OK:
		return "ok";
	case PCV_VFM_E_BOUNDS:
		return "bounds";
	case PCV_VFM_E_LIMIT:
		return "limit";
	case PCV_VFM_E_OVERFLOW:
		return "overflow";
	case PCV_VFM_E_UNDERFLOW:
		return "underflow";
	case PCV_VFM_E_OPCODE:
		return "opcode";
	case PCV_VFM_E_DIVZERO:
		return "divzero";
	case PCV_VFM_E_PROGRAM:
		return "program";
	default:
		return "unknown";
	}
}
