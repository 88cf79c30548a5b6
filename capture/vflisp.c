// SPDX-License-Identifier: MIT
/*
 * vflisp.c - the VFLisp compiler (pcv_vfl_compile() in pcv/vfm.h): text to
 * HEAD-numbered VFM bytecode, in three passes over a small tree: parse,
 * type check, emit.  Then the result goes through pcv_vfm_verify().
 *
 * Compatibility (spec §5, §8 items 21-25).  Every construct that works in
 * upstream's HEAD vflispc compiles to the same bytes: integers, the §5.3
 * fields, the arithmetic folds, scalar comparisons
 * ([a] [b] Jcc +12; PUSH 0; JMP +9; PUSH 1), `and`, IPv6 field
 * comparisons ([a] [b] EQ128 ...) and the epilogue (POP before RET for a
 * bare IPv6 value).  What upstream gets wrong is fixed:
 *  - `if` and `not` keep upstream's templates but track the join depth
 *    correctly, so there is no trailing POP and nesting works;
 *  - `or` short-circuits on any non-zero value: DUP; PUSH 0; JNE ->end;
 *    POP (upstream: PUSH 1; JEQ), same size, two bytes differ per operand;
 *  - literals: hex 0x..., dotted IPv4 (the BE u32), full RFC 4291 IPv6
 *    text emitted as PUSH128 (upstream: two PUSHes its verifier rejects);
 *  - a forward jump longer than 32767 bytes is an error, not a wrap;
 *  - the stack depth is tracked exactly; more than PCV_VFM_STACK live
 *    values is an error, and so is nesting deeper than VFL_MAX_NEST
 *    (so the recursive passes stay shallow).
 * `and` and `or` still return the deciding operand's raw value, as
 * upstream's `and` does; comparisons, `not` and in-net give 0 or 1.
 * Extensions: `(in-net X a.b.c.d/len)` and `(in-net X6 2001:db8::/32)`
 * (a mask compare, equal to the range test lo <= X <= hi), 128-bit `& | ^`,
 * scalars widened to 128 bits next to an IPv6 operand, the dissector
 * fields through FIELD (l4-proto, l4-src-port, l4-dst-port, tcp-flags*,
 * vlan-id, ip-version*, is-fragment), flow-hash through FLOW_HASH, and
 * the stateful (flow-first N) and (flow-count), built on FLOW_HASH,
 * FLOW_LOAD and FLOW_STORE.
 *
 * A comparison with a negative literal, e.g. (> x -1), is compiled as
 * upstream does: unsigned, so that one is never true.  There is no
 * warning channel, and rejecting it would break upstream-valid programs.
 *
 * Errors go to errbuf as "COL: message" (column 1-based, in bytes), or
 * "LINE:COL: message" when the error is past the first line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"

#define VFL_MAX_NEST 200	/* nested lists */
#define VFL_MAX_SPAN 32767	/* forward jump displacement */
#define VFL_NAME_MAX 40		/* symbol text quoted in messages */

/* ---- tables -------------------------------------------------------------- */

enum vfl_type { TY_U64, TY_U128 };

struct vfl_field {
	const char *name;
	uint8_t op;
	uint8_t size;	/* instruction bytes: 1, 2 (imm8) or 3 (imm16) */
	uint16_t arg;
	uint8_t type;
};

static const struct vfl_field vfl_fields[] = {
	/* upstream HEAD encodings (spec §5.3) */
	{ "ethertype", PCV_VFM_LD16, 3, 12, TY_U64 },
	{ "proto", PCV_VFM_LD8, 3, 23, TY_U64 },
	{ "src-ip", PCV_VFM_LD32, 3, 26, TY_U64 },
	{ "src-ip4", PCV_VFM_LD32, 3, 26, TY_U64 },
	{ "dst-ip", PCV_VFM_LD32, 3, 30, TY_U64 },
	{ "dst-ip4", PCV_VFM_LD32, 3, 30, TY_U64 },
	{ "ip-len", PCV_VFM_LD16, 3, 16, TY_U64 },
	{ "tcp-flags", PCV_VFM_LD8, 3, 47, TY_U64 },
	{ "src-port", PCV_VFM_IPV6_EXT, 2, 3, TY_U64 },
	{ "dst-port", PCV_VFM_IPV6_EXT, 2, 4, TY_U64 },
	{ "ip-version", PCV_VFM_IP_VER, 1, 0, TY_U64 },
	{ "next-hdr", PCV_VFM_LD8, 3, 20, TY_U64 },
	{ "hop-limit", PCV_VFM_LD8, 3, 21, TY_U64 },
	{ "src-ip6", PCV_VFM_LD128, 3, 22, TY_U128 },
	{ "dst-ip6", PCV_VFM_LD128, 3, 38, TY_U128 },
	{ "has-ext-hdr", PCV_VFM_IPV6_EXT, 2, 15, TY_U64 },
	{ "ext-hdr-count", PCV_VFM_IPV6_EXT, 2, 16, TY_U64 },
	{ "ext-hdr-len", PCV_VFM_IPV6_EXT, 2, 17, TY_U64 },
	{ "final-proto", PCV_VFM_IPV6_EXT, 2, 18, TY_U64 },
	{ "frag-id", PCV_VFM_IPV6_EXT, 2, 19, TY_U64 },
	{ "frag-offset", PCV_VFM_IPV6_EXT, 2, 20, TY_U64 },
	{ "frag-flags", PCV_VFM_IPV6_EXT, 2, 21, TY_U64 },
	/* ours: the dissector's view (VLAN-, IHL- and version-aware) */
	{ "l4-proto", PCV_VFM_FIELD, 2, PCV_VFM_F_L4_PROTO, TY_U64 },
	{ "l4-src-port", PCV_VFM_FIELD, 2, PCV_VFM_F_L4_SPORT, TY_U64 },
	{ "l4-dst-port", PCV_VFM_FIELD, 2, PCV_VFM_F_L4_DPORT, TY_U64 },
	{ "tcp-flags*", PCV_VFM_FIELD, 2, PCV_VFM_F_TCP_FLAGS, TY_U64 },
	{ "vlan-id", PCV_VFM_FIELD, 2, PCV_VFM_F_VLAN, TY_U64 },
	{ "ip-version*", PCV_VFM_FIELD, 2, PCV_VFM_F_IP_VERSION, TY_U64 },
	{ "is-fragment", PCV_VFM_FIELD, 2, PCV_VFM_F_FRAGMENT, TY_U64 },
	{ "flow-hash", PCV_VFM_FLOW_HASH, 1, 0, TY_U64 },
};

enum vfl_opkind {
	OK_FOLD,	/* + * & | ^, left fold, >= 2 operands */
	OK_BIN,		/* - / % << >>, exactly 2 */
	OK_CMP,		/* = != > >= < <= */
	OK_AND,
	OK_OR,
	OK_NOT,
	OK_IF,
	OK_INNET,
	OK_FLOW_FIRST,
	OK_FLOW_COUNT,
};

struct vfl_op {
	const char *name;
	uint8_t kind;
	uint8_t op;	/* 64-bit opcode (a Jcc for comparisons) */
	uint8_t op128;	/* 128-bit opcode, 0: none */
	int8_t min, max; /* operand count; max -1: no limit */
};

static const struct vfl_op vfl_ops[] = {
	{ "+", OK_FOLD, PCV_VFM_ADD, 0, 2, -1 },
	{ "*", OK_FOLD, PCV_VFM_MUL, 0, 2, -1 },
	{ "&", OK_FOLD, PCV_VFM_AND, PCV_VFM_AND128, 2, -1 },
	{ "|", OK_FOLD, PCV_VFM_OR, PCV_VFM_OR128, 2, -1 },
	{ "^", OK_FOLD, PCV_VFM_XOR, PCV_VFM_XOR128, 2, -1 },
	{ "-", OK_BIN, PCV_VFM_SUB, 0, 2, 2 },
	{ "/", OK_BIN, PCV_VFM_DIV, 0, 2, 2 },
	{ "%", OK_BIN, PCV_VFM_MOD, 0, 2, 2 },
	{ "<<", OK_BIN, PCV_VFM_SHL, 0, 2, 2 },
	{ ">>", OK_BIN, PCV_VFM_SHR, 0, 2, 2 },
	{ "=", OK_CMP, PCV_VFM_JEQ, PCV_VFM_EQ128, 2, 2 },
	{ "!=", OK_CMP, PCV_VFM_JNE, PCV_VFM_NE128, 2, 2 },
	{ ">", OK_CMP, PCV_VFM_JGT, PCV_VFM_GT128, 2, 2 },
	{ ">=", OK_CMP, PCV_VFM_JGE, PCV_VFM_GE128, 2, 2 },
	{ "<", OK_CMP, PCV_VFM_JLT, PCV_VFM_LT128, 2, 2 },
	{ "<=", OK_CMP, PCV_VFM_JLE, PCV_VFM_LE128, 2, 2 },
	{ "and", OK_AND, PCV_VFM_JEQ, 0, 2, -1 },
	{ "or", OK_OR, PCV_VFM_JNE, 0, 2, -1 },
	{ "not", OK_NOT, 0, 0, 1, 1 },
	{ "if", OK_IF, 0, 0, 3, 3 },
	{ "in-net", OK_INNET, 0, 0, 2, 2 },
	{ "flow-first", OK_FLOW_FIRST, 0, 0, 1, 1 },
	{ "flow-count", OK_FLOW_COUNT, 0, 0, 0, 0 },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Keys of the second and later stateful operators of a program are
 * xored with a multiple of this, so each keeps its own counters. */
#define VFL_SALT 0x9e3779b97f4a7c15ull

/* ---- compiler state ------------------------------------------------------ */

enum vfl_tokkind { T_EOF, T_LPAREN, T_RPAREN, T_INT, T_IP6, T_CIDR4,
		   T_CIDR6, T_SYM };

struct vfl_tok {
	uint8_t kind;
	bool ip4;	/* T_INT written as a dotted IPv4 address */
	uint8_t plen;	/* prefix length of T_CIDR4/T_CIDR6 */
	int line, col;
	const char *text;
	size_t len;
	uint64_t val;
	uint8_t v6[16];
};

enum vfl_nodekind { N_INT, N_IP6, N_CIDR4, N_CIDR6, N_FIELD, N_CALL };

struct vfl_node {
	uint8_t kind;
	uint8_t type;
	uint8_t plen;
	bool ip4;
	int line, col;
	int child, next;	/* node indices, -1: none */
	int nargs;
	const char *name;	/* N_CALL: operator text */
	size_t namelen;
	const struct vfl_field *field;
	const struct vfl_op *op;
	uint64_t val;
	uint8_t v6[16];
};

/* A forward jump waiting for its target. */
struct vfl_jump {
	int pos;	/* address of the jump's opcode */
	int depth;	/* stack depth at the target */
	int node;	/* for the error column */
};

struct vfl {
	const char *src;
	size_t pos;
	int line;
	size_t line_start;
	struct vfl_tok tok;

	struct vfl_node *nodes;
	int nnodes, cap_nodes;

	uint8_t *code;
	size_t len, cap;
	int depth, maxdepth;
	bool dead;		/* after JMP, until a label */
	int deep_node;		/* first node that went past the stack */
	int nstate;		/* stateful operators emitted so far */
	struct vfl_jump *pending;
	int npending, cap_pending;

	bool failed;
	char *errbuf;
};

#define N(c, i) (&(c)->nodes[i])

__attribute__((format(printf, 4, 5)))
static int vfl_err(struct vfl *c, int line, int col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (c->failed)
		return -EINVAL;
	c->failed = true;
	if (!c->errbuf)
		return -EINVAL;
	if (line > 1)
		n = snprintf(c->errbuf, PCV_ERRBUF_SIZE, "%d:%d: ", line, col);
	else
		n = snprintf(c->errbuf, PCV_ERRBUF_SIZE, "%d: ", col);
	if (n < 0 || n >= PCV_ERRBUF_SIZE)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->errbuf + n, PCV_ERRBUF_SIZE - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define node_err(c, ni, ...) \
	vfl_err((c), N(c, ni)->line, N(c, ni)->col, __VA_ARGS__)

/* ---- characters ---------------------------------------------------------- */

static bool is_space(int ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' ||
	       ch == '\f' || ch == '\r';
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int hex_val(int ch)
{
	if (is_digit(ch))
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* upstream's symbol punctuation */
static bool is_sympunct(int ch)
{
	return ch && strchr("-_=!><+*/%&|^", ch);
}

/* characters of a literal: numbers, addresses, prefixes */
static bool is_litchar(int ch)
{
	return is_alpha(ch) || is_digit(ch) || ch == '.' || ch == ':' ||
	       ch == '/';
}

/* ---- literals ------------------------------------------------------------ */

/* Dotted quad, decimal parts 0..255 without leading zeros. */
static bool parse_ip4(const char *s, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		unsigned x = 0;
		size_t start;

		if (part && (i >= n || s[i++] != '.'))
			return false;
		start = i;
		while (i < n && is_digit(s[i]) && i - start < 3)
			x = x * 10 + (unsigned)(s[i++] - '0');
		if (i == start || x > 255 || (s[start] == '0' && i - start > 1))
			return false;
		v = v << 8 | x;
	}
	if (i != n)
		return false;
	*out = v;
	return true;
}

/* RFC 4291 §2.2 text: x:x:x:x:x:x:x:x, one "::", an IPv4 tail. */
static bool parse_ip6(const char *s, size_t n, uint8_t out[16])
{
	uint16_t g[8];
	int ng = 0, gap = -1, i;
	size_t p = 0;

	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		p = 2;
	} else if (n == 0 || s[0] == ':') {
		return false;
	}
	while (p < n) {
		size_t q = p;
		unsigned v = 0;

		while (q < n && hex_val(s[q]) >= 0 && q - p < 5)
			v = v << 4 | (unsigned)hex_val(s[q++]);
		if (q < n && s[q] == '.') {
			uint32_t a;

			if (ng > 6 || !parse_ip4(s + p, n - p, &a))
				return false;
			g[ng++] = (uint16_t)(a >> 16);
			g[ng++] = (uint16_t)a;
			p = n;
			break;
		}
		if (q == p || q - p > 4 || ng == 8)
			return false;
		g[ng++] = (uint16_t)v;
		p = q;
		if (p == n)
			break;
		if (s[p++] != ':' || p == n)
			return false;
		if (s[p] == ':') {
			if (gap >= 0)
				return false;
			gap = ng;
			p++;
		}
	}
	if (gap < 0 ? ng != 8 : ng > 7)
		return false;
	memset(out, 0, 16);
	for (i = 0; i < ng; i++) {
		int slot = (gap >= 0 && i >= gap) ? i + 8 - ng : i;

		out[2 * slot] = (uint8_t)(g[i] >> 8);
		out[2 * slot + 1] = (uint8_t)g[i];
	}
	return true;
}

static bool parse_plen(const char *s, size_t n, unsigned max, uint8_t *out)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 3)
		return false;
	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint8_t)v;
	return true;
}

static uint64_t mask4(unsigned plen)
{
	/* all bits above the host part, so values >= 2^32 never match */
	return ~((1ull << (32 - plen)) - 1);
}

static void mask6(unsigned plen, uint8_t m[16])
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		unsigned bits = plen > 8 * i ? plen - 8 * i : 0;

		m[i] = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);
	}
}

static int lex_literal(struct vfl *c, struct vfl_tok *t)
{
	const char *s = t->text, *body = s;
	size_t n = t->len, bn;
	const char *slash;
	bool neg = s[0] == '-';
	int w = (int)(n > VFL_NAME_MAX ? VFL_NAME_MAX : n);

	if (neg)
		body++;
	bn = n - neg;
	slash = memchr(body, '/', bn);
	if (memchr(body, ':', bn) || memchr(body, '.', bn)) {
		size_t an = slash ? (size_t)(slash - body) : bn;
		bool v6 = memchr(body, ':', bn) != NULL;

		if (v6) {
			if (neg || !parse_ip6(body, an, t->v6))
				return vfl_err(c, t->line, t->col,
					       "invalid IPv6 address '%.*s'",
					       w, s);
		} else {
			uint32_t a;

			if (neg || !parse_ip4(body, an, &a))
				return vfl_err(c, t->line, t->col,
					       "invalid IPv4 address '%.*s'",
					       w, s);
			t->val = a;
		}
		if (!slash) {
			t->kind = v6 ? T_IP6 : T_INT;
			t->ip4 = !v6;
			return 0;
		}
		if (!parse_plen(slash + 1, bn - an - 1, v6 ? 128 : 32,
				&t->plen))
			return vfl_err(c, t->line, t->col,
				       "invalid prefix length in '%.*s'", w, s);
		if (v6) {
			uint8_t m[16];
			int i;

			mask6(t->plen, m);
			for (i = 0; i < 16; i++)
				if (t->v6[i] & ~m[i])
					break;
			if (i < 16)
				return vfl_err(c, t->line, t->col,
					       "host bits set in '%.*s'", w, s);
			t->kind = T_CIDR6;
		} else {
			if (t->val & ~mask4(t->plen))
				return vfl_err(c, t->line, t->col,
					       "host bits set in '%.*s'", w, s);
			t->kind = T_CIDR4;
		}
		return 0;
	}

	t->kind = T_INT;
	if (bn > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X')) {
		uint64_t v = 0;
		size_t i;

		for (i = 2; i < bn; i++) {
			int h = hex_val(body[i]);

			if (h < 0)
				return vfl_err(c, t->line, t->col,
					       "invalid number '%.*s'", w, s);
			if (v >> 60)
				return vfl_err(c, t->line, t->col,
					       "integer out of range '%.*s'",
					       w, s);
			v = v << 4 | (uint64_t)h;
		}
		if (neg && v > (1ull << 63))
			return vfl_err(c, t->line, t->col,
				       "integer out of range '%.*s'", w, s);
		t->val = neg ? 0 - v : v;
		return 0;
	}
	{
		uint64_t v = 0;
		size_t i;

		if (bn == 0)
			return vfl_err(c, t->line, t->col,
				       "invalid number '%.*s'", w, s);
		for (i = 0; i < bn; i++) {
			if (!is_digit(body[i]))
				return vfl_err(c, t->line, t->col,
					       "invalid number '%.*s'", w, s);
			/* signed 64-bit, as upstream: -2^63 .. 2^63-1 */
			if (v > ((1ull << 63) - (uint64_t)(body[i] - '0')) / 10)
				return vfl_err(c, t->line, t->col,
					       "integer out of range '%.*s'",
					       w, s);
			v = v * 10 + (uint64_t)(body[i] - '0');
		}
		if (!neg && v > INT64_MAX)
			return vfl_err(c, t->line, t->col,
				       "integer out of range '%.*s'", w, s);
		t->val = neg ? 0 - v : v;
	}
	return 0;
}

/* ---- lexer --------------------------------------------------------------- */

static int next(struct vfl *c)
{
	struct vfl_tok *t = &c->tok;
	const char *s = c->src;
	size_t p = c->pos;
	int ch;

	for (;;) {
		if (s[p] == '\n') {
			c->line++;
			c->line_start = ++p;
		} else if (is_space(s[p])) {
			p++;
		} else if (s[p] == ';') {
			while (s[p] && s[p] != '\n')
				p++;
		} else {
			break;
		}
	}
	memset(t, 0, sizeof(*t));
	t->line = c->line;
	t->col = (int)(p - c->line_start + 1);
	t->text = s + p;
	ch = (unsigned char)s[p];

	if (ch == 0) {
		t->kind = T_EOF;
	} else if (ch == '(' || ch == ')') {
		t->kind = ch == '(' ? T_LPAREN : T_RPAREN;
		p++;
	} else if (is_digit(ch) || ch == ':' ||
		   (ch == '-' && is_digit(s[p + 1]))) {
		size_t q = p + (ch == '-');

		while (is_litchar(s[q]))
			q++;
		t->len = q - p;
		p = q;
		if (lex_literal(c, t))
			return -EINVAL;
	} else if (is_alpha(ch) || is_sympunct(ch)) {
		size_t q = p;

		/* fe80::1 starts like a symbol; symbols have no ':' */
		while (is_litchar(s[q]))
			q++;
		if (is_alpha(ch) && memchr(s + p, ':', q - p)) {
			t->len = q - p;
			p = q;
			if (lex_literal(c, t))
				return -EINVAL;
		} else {
			q = p;
			while (is_alpha(s[q]) || is_digit(s[q]) ||
			       is_sympunct(s[q]))
				q++;
			t->kind = T_SYM;
			t->len = q - p;
			p = q;
		}
	} else if (ch >= 0x21 && ch < 0x7f) {
		return vfl_err(c, t->line, t->col,
			       "unexpected character '%c'", ch);
	} else {
		return vfl_err(c, t->line, t->col,
			       "unexpected byte 0x%02x", ch);
	}
	c->pos = p;
	return 0;
}

/* ---- parser -------------------------------------------------------------- */

static const struct vfl_field *find_field(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vfl_fields); i++)
		if (strlen(vfl_fields[i].name) == n &&
		    !memcmp(vfl_fields[i].name, s, n))
			return &vfl_fields[i];
	return NULL;
}

static const struct vfl_op *find_op(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vfl_ops); i++)
		if (strlen(vfl_ops[i].name) == n &&
		    !memcmp(vfl_ops[i].name, s, n))
			return &vfl_ops[i];
	return NULL;
}

static int new_node(struct vfl *c, int kind, const struct vfl_tok *t)
{
	struct vfl_node *nd;

	/* every node emits at least one byte: stop before parsing megabytes
	 * of text that could never compile */
	if (c->nnodes >= PCV_VFM_MAX_PROGRAM) {
		vfl_err(c, t->line, t->col, "more than %d terms, the program "
			"would be longer than %d bytes", PCV_VFM_MAX_PROGRAM,
			PCV_VFM_MAX_PROGRAM);
		return -1;
	}
	if (c->nnodes == c->cap_nodes) {
		int cap = c->cap_nodes ? 2 * c->cap_nodes : 64;
		struct vfl_node *nn;

		nn = realloc(c->nodes, (size_t)cap * sizeof(*nn));

		if (!nn) {
			vfl_err(c, t->line, t->col, "out of memory");
			return -1;
		}
		c->nodes = nn;
		c->cap_nodes = cap;
	}
	nd = &c->nodes[c->nnodes];
	memset(nd, 0, sizeof(*nd));
	nd->kind = (uint8_t)kind;
	nd->line = t->line;
	nd->col = t->col;
	nd->child = nd->next = -1;
	return c->nnodes++;
}

/* Parse one expression starting at the current token.
 * Return: its node index, or -1 after an error. */
static int parse_expr(struct vfl *c, int nest)
{
	struct vfl_tok t = c->tok;
	int ni, last = -1;

	switch (t.kind) {
	case T_EOF:
		vfl_err(c, t.line, t.col, nest ? "unexpected end of input"
						: "empty program");
		return -1;
	case T_RPAREN:
		vfl_err(c, t.line, t.col, "unexpected ')'");
		return -1;
	case T_INT:
	case T_IP6:
	case T_CIDR4:
	case T_CIDR6:
		ni = new_node(c, t.kind == T_INT ? N_INT :
				 t.kind == T_IP6 ? N_IP6 :
				 t.kind == T_CIDR4 ? N_CIDR4 : N_CIDR6, &t);
		if (ni < 0)
			return -1;
		N(c, ni)->val = t.val;
		N(c, ni)->ip4 = t.ip4;
		N(c, ni)->plen = t.plen;
		memcpy(N(c, ni)->v6, t.v6, 16);
		return next(c) ? -1 : ni;
	case T_SYM: {
		const struct vfl_field *f = find_field(t.text, t.len);
		int w = (int)(t.len > VFL_NAME_MAX ? VFL_NAME_MAX : t.len);

		if (!f) {
			vfl_err(c, t.line, t.col,
				"bare symbol '%.*s' not allowed", w, t.text);
			return -1;
		}
		ni = new_node(c, N_FIELD, &t);
		if (ni < 0)
			return -1;
		N(c, ni)->field = f;
		return next(c) ? -1 : ni;
	}
	}

	/* a list */
	if (nest >= VFL_MAX_NEST) {
		vfl_err(c, t.line, t.col, "nesting deeper than %d levels",
			VFL_MAX_NEST);
		return -1;
	}
	if (next(c))
		return -1;
	if (c->tok.kind == T_RPAREN) {
		vfl_err(c, t.line, t.col, "empty function call");
		return -1;
	}
	if (c->tok.kind == T_EOF) {
		vfl_err(c, t.line, t.col, "unclosed '('");
		return -1;
	}
	if (c->tok.kind != T_SYM) {
		vfl_err(c, c->tok.line, c->tok.col,
			"function name must be a symbol");
		return -1;
	}
	ni = new_node(c, N_CALL, &c->tok);
	if (ni < 0)
		return -1;
	N(c, ni)->name = c->tok.text;
	N(c, ni)->namelen = c->tok.len;
	if (next(c))
		return -1;
	while (c->tok.kind != T_RPAREN) {
		int ai;

		if (c->tok.kind == T_EOF) {
			vfl_err(c, t.line, t.col, "unclosed '('");
			return -1;
		}
		ai = parse_expr(c, nest + 1);
		if (ai < 0)
			return -1;
		if (last < 0)
			N(c, ni)->child = ai;
		else
			N(c, last)->next = ai;
		last = ai;
		N(c, ni)->nargs++;
	}
	return next(c) ? -1 : ni;
}

/* ---- type check ---------------------------------------------------------- */

static int check(struct vfl *c, int ni);

static int check_scalar(struct vfl *c, int ai)
{
	if (check(c, ai))
		return -EINVAL;
	if (N(c, ai)->type != TY_U64)
		return node_err(c, ai, "IPv6 value not allowed here");
	return 0;
}

static int check_innet(struct vfl *c, int ni)
{
	int x = N(c, ni)->child, p = N(c, x)->next;
	struct vfl_node *pn = N(c, p);

	if (check(c, x))
		return -EINVAL;
	if (pn->kind == N_INT && pn->ip4) {
		pn->kind = N_CIDR4;
		pn->plen = 32;
	} else if (pn->kind == N_IP6) {
		pn->kind = N_CIDR6;
		pn->plen = 128;
	}
	if (pn->kind != N_CIDR4 && pn->kind != N_CIDR6)
		return node_err(c, p, "in-net needs an address prefix such as "
				"10.0.0.0/8 or 2001:db8::/32");
	if (pn->kind == N_CIDR4 && N(c, x)->type != TY_U64)
		return node_err(c, x, "an IPv4 prefix needs a 32-bit value, "
				"not an IPv6 one");
	if (pn->kind == N_CIDR6 && N(c, x)->type != TY_U128)
		return node_err(c, x, "an IPv6 prefix needs an IPv6 value "
				"(src-ip6, dst-ip6)");
	N(c, ni)->type = TY_U64;
	return 0;
}

static int check_call(struct vfl *c, int ni)
{
	struct vfl_node *nd = N(c, ni);
	const struct vfl_op *op = find_op(nd->name, nd->namelen);
	int w = (int)(nd->namelen > VFL_NAME_MAX ? VFL_NAME_MAX : nd->namelen);
	int ai, n = nd->nargs;
	bool wide = false;

	if (!op) {
		if (find_field(nd->name, nd->namelen))
			return node_err(c, ni, "function name must be a "
					"symbol: '%.*s' is a field", w,
					nd->name);
		return node_err(c, ni, "unknown function '%.*s'", w, nd->name);
	}
	nd->op = op;
	if (op->max >= 0 && op->min == op->max && n != op->min)
		return node_err(c, ni,
				"'%s' takes exactly %d argument%s, got %d",
				op->name, op->min, op->min == 1 ? "" : "s", n);
	if (n < op->min)
		return node_err(c, ni,
				"'%s' needs at least %d arguments, got %d",
				op->name, op->min, n);

	switch (op->kind) {
	case OK_FOLD:
	case OK_CMP:
	case OK_IF:
		for (ai = nd->child; ai >= 0; ai = N(c, ai)->next) {
			if (op->kind == OK_IF && ai == N(c, ni)->child) {
				if (check_scalar(c, ai))
					return -EINVAL;
				continue;
			}
			if (check(c, ai))
				return -EINVAL;
			if (N(c, ai)->type == TY_U128) {
				if (op->kind == OK_FOLD && !op->op128)
					return node_err(c, ai, "'%s' does not "
							"take IPv6 values",
							op->name);
				wide = true;
			}
		}
		nd = N(c, ni);
		nd->type = (op->kind != OK_CMP && wide) ? TY_U128 : TY_U64;
		nd->val = wide;	/* compare or fold at 128 bits */
		return 0;
	case OK_BIN:
	case OK_AND:
	case OK_OR:
	case OK_NOT:
		for (ai = nd->child; ai >= 0; ai = N(c, ai)->next)
			if (check_scalar(c, ai))
				return -EINVAL;
		N(c, ni)->type = TY_U64;
		return 0;
	case OK_INNET:
		return check_innet(c, ni);
	case OK_FLOW_FIRST:
		if (N(c, nd->child)->kind != N_INT)
			return node_err(c, nd->child,
					"flow-first needs an integer literal");
		nd->type = TY_U64;
		return 0;
	case OK_FLOW_COUNT:
		nd->type = TY_U64;
		return 0;
	}
	return node_err(c, ni, "internal error: operator kind");
}

static int check(struct vfl *c, int ni)
{
	struct vfl_node *nd = N(c, ni);

	switch (nd->kind) {
	case N_INT:
		nd->type = TY_U64;
		return 0;
	case N_IP6:
		nd->type = TY_U128;
		return 0;
	case N_CIDR4:
	case N_CIDR6:
		return node_err(c, ni, "an address prefix is only allowed "
				"as the second argument of in-net");
	case N_FIELD:
		nd->type = nd->field->type;
		return 0;
	default:
		return check_call(c, ni);
	}
}

/* ---- emitter ------------------------------------------------------------- */

static uint8_t *room(struct vfl *c, int ni, size_t n)
{
	if (c->failed)
		return NULL;
	if (c->len + n > PCV_VFM_MAX_PROGRAM) {
		node_err(c, ni, "program longer than %d bytes",
			 PCV_VFM_MAX_PROGRAM);
		return NULL;
	}
	if (c->len + n > c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		uint8_t *nc;

		while (cap < c->len + n)
			cap *= 2;
		nc = realloc(c->code, cap);
		if (!nc) {
			node_err(c, ni, "out of memory");
			return NULL;
		}
		c->code = nc;
		c->cap = cap;
	}
	c->len += n;
	return c->code + c->len - n;
}

static void adjust(struct vfl *c, int ni, int delta)
{
	c->depth += delta;
	if (c->depth > c->maxdepth)
		c->maxdepth = c->depth;
	if (c->depth > PCV_VFM_STACK && c->deep_node < 0)
		c->deep_node = ni;
}

/* Stack effect of the instructions we emit with op(), in 64-bit slots. */
static int effect(uint8_t op)
{
	switch (op) {
	case PCV_VFM_DUP:
	case PCV_VFM_IP_VER:
	case PCV_VFM_FLOW_HASH:
		return 1;
	case PCV_VFM_POP:
	case PCV_VFM_ADD:
	case PCV_VFM_SUB:
	case PCV_VFM_MUL:
	case PCV_VFM_DIV:
	case PCV_VFM_MOD:
	case PCV_VFM_AND:
	case PCV_VFM_OR:
	case PCV_VFM_XOR:
	case PCV_VFM_SHL:
	case PCV_VFM_SHR:
	case PCV_VFM_RET:
		return -1;
	case PCV_VFM_AND128:
	case PCV_VFM_OR128:
	case PCV_VFM_XOR128:
	case PCV_VFM_FLOW_STORE:
		return -2;
	case PCV_VFM_EQ128:
	case PCV_VFM_NE128:
	case PCV_VFM_GT128:
	case PCV_VFM_LT128:
	case PCV_VFM_GE128:
	case PCV_VFM_LE128:
		return -3;
	default:	/* FLOW_LOAD */
		return 0;
	}
}

static void op(struct vfl *c, int ni, uint8_t o)
{
	uint8_t *p = room(c, ni, 1);

	if (p)
		p[0] = o;
	adjust(c, ni, effect(o));
}

static void push(struct vfl *c, int ni, uint64_t v)
{
	uint8_t *p = room(c, ni, 9);
	int i;

	if (p) {
		p[0] = PCV_VFM_PUSH;
		for (i = 0; i < 8; i++)
			p[1 + i] = (uint8_t)(v >> (8 * i));
	}
	adjust(c, ni, 1);
}

static void push128(struct vfl *c, int ni, const uint8_t v[16])
{
	uint8_t *p = room(c, ni, 17);

	if (p) {
		p[0] = PCV_VFM_PUSH128;
		memcpy(p + 1, v, 16);
	}
	adjust(c, ni, 2);
}

static void field(struct vfl *c, int ni, const struct vfl_field *f)
{
	uint8_t *p = room(c, ni, f->size);

	if (p) {
		p[0] = f->op;
		if (f->size > 1)
			p[1] = (uint8_t)f->arg;
		if (f->size > 2)
			p[2] = (uint8_t)(f->arg >> 8);
	}
	adjust(c, ni, f->type == TY_U128 ? 2 : 1);
}

/* Emit a forward jump; the target is set by label(). */
static struct vfl_jump jump(struct vfl *c, int ni, uint8_t o)
{
	struct vfl_jump j = { (int)c->len, 0, ni };
	uint8_t *p = room(c, ni, 3);

	if (p)
		p[0] = o;
	if (o != PCV_VFM_JMP)
		adjust(c, ni, -2);
	j.depth = c->depth;
	if (o == PCV_VFM_JMP)
		c->dead = true;
	return j;
}

/* Point @j at the current address. */
static void label(struct vfl *c, struct vfl_jump j)
{
	size_t disp;

	if (c->failed)
		return;
	if (c->dead) {
		c->depth = j.depth;
		c->dead = false;
	} else if (c->depth != j.depth) {
		node_err(c, j.node, "internal error: stack depth %d and %d "
			 "meet", c->depth, j.depth);
		return;
	}
	disp = c->len - (size_t)j.pos - 3;
	if (disp > VFL_MAX_SPAN) {
		node_err(c, j.node, "jump over %zu bytes, more than %d",
			 disp, VFL_MAX_SPAN);
		return;
	}
	c->code[j.pos + 1] = (uint8_t)disp;
	c->code[j.pos + 2] = (uint8_t)(disp >> 8);
}

static int pend(struct vfl *c, struct vfl_jump j)
{
	if (c->npending == c->cap_pending) {
		int cap = c->cap_pending ? 2 * c->cap_pending : 16;
		struct vfl_jump *nj = realloc(c->pending,
					      (size_t)cap * sizeof(*nj));

		if (!nj)
			return node_err(c, j.node, "out of memory");
		c->pending = nj;
		c->cap_pending = cap;
	}
	c->pending[c->npending++] = j;
	return 0;
}

static void gen(struct vfl *c, int ni);

/* Emit @ni as a value of type @type: a scalar next to an IPv6 operand is
 * zero-extended to 128 bits. */
static void gen_as(struct vfl *c, int ni, int type)
{
	if (type == TY_U128 && N(c, ni)->type == TY_U64) {
		if (N(c, ni)->kind == N_INT) {
			uint8_t v[16] = { 0 };
			uint64_t x = N(c, ni)->val;
			int i;

			for (i = 0; i < 8; i++)
				v[15 - i] = (uint8_t)(x >> (8 * i));
			push128(c, ni, v);
			return;
		}
		push(c, ni, 0);
	}
	gen(c, ni);
}

/* [a] [b] Jcc +12; PUSH 0; JMP +9; PUSH 1: upstream's 0/1 template. */
static void bool_tail(struct vfl *c, int ni, uint8_t jcc)
{
	struct vfl_jump yes, done;

	yes = jump(c, ni, jcc);
	push(c, ni, 0);
	done = jump(c, ni, PCV_VFM_JMP);
	label(c, yes);
	push(c, ni, 1);
	label(c, done);
}

static void gen_andor(struct vfl *c, int ni)
{
	const struct vfl_node *nd = N(c, ni);
	int mark = c->npending, ai = nd->child, i;
	uint8_t jcc = nd->op->op;

	gen(c, ai);
	for (ai = N(c, ai)->next; ai >= 0; ai = N(c, ai)->next) {
		op(c, ni, PCV_VFM_DUP);
		push(c, ni, 0);
		if (pend(c, jump(c, ni, jcc)))
			return;
		op(c, ni, PCV_VFM_POP);
		gen(c, ai);
	}
	for (i = mark; i < c->npending; i++)
		label(c, c->pending[i]);
	c->npending = mark;
}

static void gen_innet(struct vfl *c, int ni)
{
	int x = N(c, ni)->child, p = N(c, x)->next;
	const struct vfl_node *pn = N(c, p);

	gen(c, x);
	if (pn->kind == N_CIDR4) {
		uint64_t net = pn->val;

		if (pn->plen < 32) {
			push(c, ni, mask4(pn->plen));
			op(c, ni, PCV_VFM_AND);
		}
		push(c, ni, net);
		bool_tail(c, ni, PCV_VFM_JEQ);
	} else {
		uint8_t m[16], net[16];

		memcpy(net, pn->v6, 16);
		if (pn->plen < 128) {
			mask6(pn->plen, m);
			push128(c, ni, m);
			op(c, ni, PCV_VFM_AND128);
		}
		push128(c, ni, net);
		op(c, ni, PCV_VFM_EQ128);
	}
}

/* FLOW_HASH, and 0 straight to @zero when there is no IP layer; else the
 * key (salted past the first stateful operator) on the stack. */
static struct vfl_jump flow_key(struct vfl *c, int ni, uint64_t salt)
{
	struct vfl_jump zero;

	op(c, ni, PCV_VFM_FLOW_HASH);
	op(c, ni, PCV_VFM_DUP);
	push(c, ni, 0);
	zero = jump(c, ni, PCV_VFM_JEQ);
	if (salt) {
		push(c, ni, salt);
		op(c, ni, PCV_VFM_XOR);
	}
	return zero;
}

/*
 * (flow-first N): 1 for the first N packets of a flow, then 0.
 *
 *	key (see flow_key; no IP -> zero)
 *	DUP; FLOW_LOAD; DUP; PUSH N; JGE over	; key count
 *	PUSH 1; ADD; FLOW_STORE; PUSH 1; JMP end
 * over: POP; POP; PUSH 0; JMP end
 * zero: POP; PUSH 1
 * end:
 */
static void gen_flow_first(struct vfl *c, int ni, uint64_t n, uint64_t salt)
{
	struct vfl_jump zero, over, end1, end2;

	zero = flow_key(c, ni, salt);
	op(c, ni, PCV_VFM_DUP);
	op(c, ni, PCV_VFM_FLOW_LOAD);
	op(c, ni, PCV_VFM_DUP);
	push(c, ni, n);
	over = jump(c, ni, PCV_VFM_JGE);
	push(c, ni, 1);
	op(c, ni, PCV_VFM_ADD);
	op(c, ni, PCV_VFM_FLOW_STORE);
	push(c, ni, 1);
	end1 = jump(c, ni, PCV_VFM_JMP);
	label(c, over);
	op(c, ni, PCV_VFM_POP);
	op(c, ni, PCV_VFM_POP);
	push(c, ni, 0);
	end2 = jump(c, ni, PCV_VFM_JMP);
	label(c, zero);
	op(c, ni, PCV_VFM_POP);
	push(c, ni, 1);
	label(c, end1);
	label(c, end2);
}

/*
 * (flow-count): this packet's number in its flow, 1 for the first; 0
 * without an IP layer.
 *
 *	key (no IP -> end, with the 0 hash as the result)
 *	DUP; FLOW_LOAD; PUSH 1; ADD; FLOW_STORE
 *	key again; FLOW_LOAD
 * end:
 */
static void gen_flow_count(struct vfl *c, int ni, uint64_t salt)
{
	struct vfl_jump zero;

	zero = flow_key(c, ni, salt);
	op(c, ni, PCV_VFM_DUP);
	op(c, ni, PCV_VFM_FLOW_LOAD);
	push(c, ni, 1);
	op(c, ni, PCV_VFM_ADD);
	op(c, ni, PCV_VFM_FLOW_STORE);
	op(c, ni, PCV_VFM_FLOW_HASH);
	if (salt) {
		push(c, ni, salt);
		op(c, ni, PCV_VFM_XOR);
	}
	op(c, ni, PCV_VFM_FLOW_LOAD);
	label(c, zero);
}

static void gen_call(struct vfl *c, int ni)
{
	const struct vfl_node *nd = N(c, ni);
	const struct vfl_op *o = nd->op;
	int a = nd->child, b = a >= 0 ? N(c, a)->next : -1;
	int type = nd->val ? TY_U128 : TY_U64;
	struct vfl_jump els, end;
	uint64_t salt;

	switch (o->kind) {
	case OK_FOLD:
		gen_as(c, a, type);
		for (; b >= 0; b = N(c, b)->next) {
			gen_as(c, b, type);
			op(c, ni, type == TY_U128 ? o->op128 : o->op);
		}
		break;
	case OK_BIN:
		gen(c, a);
		gen(c, b);
		op(c, ni, o->op);
		break;
	case OK_CMP:
		gen_as(c, a, type);
		gen_as(c, b, type);
		if (type == TY_U128)
			op(c, ni, o->op128);
		else
			bool_tail(c, ni, o->op);
		break;
	case OK_AND:
	case OK_OR:
		gen_andor(c, ni);
		break;
	case OK_NOT:
		gen(c, a);
		push(c, ni, 0);
		bool_tail(c, ni, PCV_VFM_JEQ);
		break;
	case OK_IF:
		type = nd->type;
		gen(c, a);
		push(c, ni, 0);
		els = jump(c, ni, PCV_VFM_JEQ);
		gen_as(c, b, type);
		end = jump(c, ni, PCV_VFM_JMP);
		label(c, els);
		gen_as(c, N(c, b)->next, type);
		label(c, end);
		break;
	case OK_INNET:
		gen_innet(c, ni);
		break;
	case OK_FLOW_FIRST:
	case OK_FLOW_COUNT:
		salt = (uint64_t)c->nstate++ * VFL_SALT;
		if (o->kind == OK_FLOW_FIRST)
			gen_flow_first(c, ni, N(c, a)->val, salt);
		else
			gen_flow_count(c, ni, salt);
		break;
	}
}

static void gen(struct vfl *c, int ni)
{
	const struct vfl_node *nd = N(c, ni);

	if (c->failed)
		return;
	switch (nd->kind) {
	case N_INT:
		push(c, ni, nd->val);
		break;
	case N_IP6:
		push128(c, ni, nd->v6);
		break;
	case N_FIELD:
		field(c, ni, nd->field);
		break;
	case N_CALL:
		gen_call(c, ni);
		break;
	default:
		node_err(c, ni, "internal error: node kind");
		break;
	}
}

/* ---- entry point --------------------------------------------------------- */

static int compile(struct vfl *c)
{
	struct pcv_vfm_opts opts;
	char vbuf[PCV_ERRBUF_SIZE];
	int root;

	if (next(c))
		return -EINVAL;
	root = parse_expr(c, 0);
	if (root < 0)
		return -EINVAL;
	if (c->tok.kind != T_EOF)
		return vfl_err(c, c->tok.line, c->tok.col,
			       c->tok.kind == T_RPAREN ? "unexpected ')'"
			       : "unexpected trailing tokens");
	if (check(c, root))
		return -EINVAL;

	gen(c, root);
	if (N(c, root)->type == TY_U128)	/* bare IPv6 value: keep high */
		op(c, root, PCV_VFM_POP);
	op(c, root, PCV_VFM_RET);
	if (c->failed)
		return -EINVAL;
	if (c->deep_node >= 0)
		return node_err(c, c->deep_node, "expression needs %d stack "
				"slots, more than %d", c->maxdepth,
				PCV_VFM_STACK);
	if (c->depth != 0 || c->dead)
		return node_err(c, root, "internal error: stack depth %d at "
				"the end", c->depth);

	pcv_vfm_opts_init(&opts);
	vbuf[0] = 0;
	if (pcv_vfm_verify(c->code, c->len, &opts, vbuf))
		return vfl_err(c, 1, 1, "internal error: bytecode does not "
			       "verify: %s", vbuf);
	return 0;
}

int pcv_vfl_compile(const char *src, uint8_t **out, size_t *outlen,
		    char *errbuf)
{
	struct vfl c;
	int r;

	if (errbuf)
		errbuf[0] = 0;
	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	memset(&c, 0, sizeof(c));
	c.errbuf = errbuf;
	if (!src || !out || !outlen)
		return vfl_err(&c, 1, 1, "invalid argument");
	c.src = src;
	c.line = 1;
	c.deep_node = -1;

	r = compile(&c);
	free(c.nodes);
	free(c.pending);
	if (r) {
		free(c.code);
		return r;
	}
	*out = c.code;
	*outlen = c.len;
	return 0;
}
