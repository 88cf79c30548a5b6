// SPDX-License-Identifier: MIT
/*
 * vfm-asm.c - the VFM assembler and disassembler (pcv/vfm.h).
 *
 * The assembler reads upstream vfm-asm's language (spec §4) and gives the
 * same bytes for every source upstream accepts: a token stream where
 * newlines mean nothing, `;` comments, `name:` labels, upper-case
 * mnemonics, numbers in decimal or 0x hex parsed as unsigned 64-bit (-1
 * wraps, overflow saturates), jumps to labels (resolved at the end) or to
 * raw 16-bit displacement fields.  It also knows our mnemonics: EQ..LE,
 * LD128, PUSH128 (an IPv6 address in RFC 4291 text, or 0x and up to 32
 * hex digits), the 128-bit compares, logic and jumps, IP_VER, IPV6_EXT n,
 * HASH6, FIELD n and FLOW_HASH; selectors also by name (`FIELD l4_dport`,
 * `IPV6_EXT dst_port`).  Errors are "LINE:COL: message"; assembly goes on
 * after one to find the rest, then fails.
 *
 * The disassembler prints one instruction per line with its offset in a
 * comment and jump targets as L_<offset> labels, so that its output
 * assembles back to the same bytes.
 *
 * Sections: 1. output and errors  2. lexer  3. assembler  4. disassembler
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vfm-int.h"

/* ==== 1. output and errors =============================================== */

#define MAX_ERRORS 64

struct asm_err {
	unsigned line, col;
	char msg[160];
};

struct label {
	const char *name;
	size_t nlen;
	size_t addr;
	unsigned line, col;
};

struct ref {
	const char *name;
	size_t nlen;
	size_t at; /* the jump's opcode */
	unsigned line, col;
};

struct as {
	const char *src;
	size_t pos;
	unsigned line;
	size_t line_start;

	uint8_t *out;
	size_t len, cap;
	bool full; /* the 64 KiB limit was hit */

	struct label *labels;
	size_t nlabels, caplabels;
	struct ref *refs;
	size_t nrefs, caprefs;

	struct asm_err errs[MAX_ERRORS];
	unsigned nerr;
	bool oom;
};

__attribute__((format(printf, 4, 5)))
static void error_at(struct as *a, unsigned line, unsigned col,
		     const char *fmt, ...)
{
	va_list ap;

	if (a->nerr < MAX_ERRORS) {
		struct asm_err *e = &a->errs[a->nerr];

		e->line = line;
		e->col = col;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	a->nerr++;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc = *cap ? *cap : 16;
	void *np;

	if (need <= *cap)
		return true;
	while (nc < need)
		nc *= 2;
	np = realloc(*p, nc * elem);
	if (!np)
		return false;
	*p = np;
	*cap = nc;
	return true;
}

static void emit(struct as *a, const uint8_t *b, size_t n)
{
	if (a->full || a->oom)
		return;
	if (a->len + n > PCV_VFM_MAX_PROGRAM) {
		a->full = true;
		return;
	}
	if (!grow((void **)&a->out, &a->cap, a->len + n, 1)) {
		a->oom = true;
		return;
	}
	memcpy(a->out + a->len, b, n);
	a->len += n;
}

static void emit_le(struct as *a, uint64_t v, unsigned n)
{
	uint8_t b[8];
	unsigned i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	emit(a, b, n);
}

static int cmp_err(const void *x, const void *y)
{
	const struct asm_err *p = x, *q = y;

	if (p->line != q->line)
		return p->line < q->line ? -1 : 1;
	if (p->col != q->col)
		return p->col < q->col ? -1 : 1;
	return 0;
}

/* As many whole "LINE:COL: message" lines as fit, then a count. */
static void report(struct as *a, char *errbuf)
{
	unsigned kept = a->nerr < MAX_ERRORS ? a->nerr : MAX_ERRORS, i;
	size_t used = 0;

	if (!errbuf)
		return;
	errbuf[0] = '\0';
	qsort(a->errs, kept, sizeof(a->errs[0]), cmp_err);
	for (i = 0; i < kept; i++) {
		char line[200];
		int n = snprintf(line, sizeof(line), "%s%u:%u: %s",
				 i ? "\n" : "", a->errs[i].line,
				 a->errs[i].col, a->errs[i].msg);

		/* keep room for the count of the rest */
		if (i && used + (size_t)n + 24 >= PCV_ERRBUF_SIZE)
			break;
		snprintf(errbuf + used, PCV_ERRBUF_SIZE - used, "%s", line);
		used = strlen(errbuf);
	}
	if (i < a->nerr)
		snprintf(errbuf + used, PCV_ERRBUF_SIZE - used,
			 "\n(%u more errors)", a->nerr - i);
}

/* ==== 2. lexer =========================================================== */

enum tok_kind { T_EOF, T_NL, T_NUM, T_IDENT, T_LABEL, T_BAD };

struct tok {
	enum tok_kind kind;
	const char *s;
	size_t n; /* length, without a label's ':' */
	unsigned line, col;
};

static inline bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int hexval(int c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static inline bool is_numchar(int c)
{
	return hexval(c) >= 0 || c == 'x' || c == 'X' || c == '-';
}

/* Skip blanks and comments, not newlines. */
static void skip_blank(struct as *a)
{
	for (;;) {
		char c = a->src[a->pos];

		if (c == ' ' || c == '\t' || c == '\r') {
			a->pos++;
		} else if (c == ';') {
			while (a->src[a->pos] && a->src[a->pos] != '\n')
				a->pos++;
		} else {
			return;
		}
	}
}

static void next_tok(struct as *a, struct tok *t)
{
	const char *s = a->src;
	char c;

	skip_blank(a);
	t->s = s + a->pos;
	t->n = 0;
	t->line = a->line;
	t->col = (unsigned)(a->pos - a->line_start + 1);
	c = s[a->pos];
	if (c == '\0') {
		t->kind = T_EOF;
		return;
	}
	if (c == '\n') {
		t->kind = T_NL;
		a->pos++;
		a->line++;
		a->line_start = a->pos;
		t->n = 1;
		return;
	}
	if (is_digit(c) || c == '-') {
		while (is_numchar(s[a->pos]))
			a->pos++;
		t->kind = T_NUM;
	} else if (is_alpha(c)) {
		while (is_alpha(s[a->pos]) || is_digit(s[a->pos]))
			a->pos++;
		t->kind = T_IDENT;
		if (s[a->pos] == ':') {
			t->kind = T_LABEL;
			t->n = (size_t)(s + a->pos - t->s);
			a->pos++;
			return;
		}
	} else {
		a->pos++;
		t->kind = T_BAD;
	}
	t->n = (size_t)(s + a->pos - t->s);
}

/* The next token that is not a newline (operands may follow one). */
static void next_operand(struct as *a, struct tok *t)
{
	do
		next_tok(a, t);
	while (t->kind == T_NL);
}

/*
 * Upstream's number rule: "0x"/"0X" then hex, else decimal with an
 * optional leading '-' (negated modulo 2^64); too large saturates to
 * 2^64-1, as strtoull does.  Return: false for stray characters.
 */
static bool parse_num(const char *s, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	bool neg = false, sat = false;
	size_t i = 0;
	unsigned base = 10;

	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		int d = hexval(s[i]);

		if (d < 0 || (unsigned)d >= base)
			return false;
		if (x > (UINT64_MAX - (unsigned)d) / base)
			sat = true;
		else
			x = x * base + (unsigned)d;
	}
	if (sat)
		*v = UINT64_MAX;
	else
		*v = neg ? 0 - x : x;
	return true;
}

/* ==== 3. assembler ======================================================= */

static int find_op(const char *s, size_t n)
{
	unsigned op;

	for (op = 0; op < PCV_VFM_OP_MAX; op++) {
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(op);

		if (oi && strlen(oi->name) == n && memcmp(oi->name, s, n) == 0)
			return (int)op;
	}
	return -1;
}

static int find_op_nocase(const char *s, size_t n)
{
	unsigned op;

	for (op = 0; op < PCV_VFM_OP_MAX; op++) {
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(op);

		if (oi && strlen(oi->name) == n &&
		    strncasecmp(oi->name, s, n) == 0)
			return (int)op;
	}
	return -1;
}

static struct label *find_label(struct as *a, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < a->nlabels; i++)
		if (a->labels[i].nlen == n &&
		    memcmp(a->labels[i].name, s, n) == 0)
			return &a->labels[i];
	return NULL;
}

static void define_label(struct as *a, const struct tok *t)
{
	struct label *l = find_label(a, t->s, t->n);

	if (l) {
		error_at(a, t->line, t->col,
			 "duplicate label '%.*s' (first at %u:%u)", (int)t->n,
			 t->s, l->line, l->col);
		return;
	}
	if (!grow((void **)&a->labels, &a->caplabels, a->nlabels + 1,
		  sizeof(*a->labels))) {
		a->oom = true;
		return;
	}
	a->labels[a->nlabels++] = (struct label){ .name = t->s, .nlen = t->n,
						  .addr = a->len,
						  .line = t->line,
						  .col = t->col };
}

static void add_ref(struct as *a, const struct tok *t, size_t at)
{
	if (!grow((void **)&a->refs, &a->caprefs, a->nrefs + 1,
		  sizeof(*a->refs))) {
		a->oom = true;
		return;
	}
	a->refs[a->nrefs++] = (struct ref){ .name = t->s, .nlen = t->n,
					    .at = at, .line = t->line,
					    .col = t->col };
}

/* A selector by number (0..255) or by name. */
static bool selector(unsigned op, const struct tok *t, unsigned *sel)
{
	uint64_t v;
	unsigned i;

	if (t->kind == T_NUM) {
		if (!parse_num(t->s, t->n, &v) || v > 255)
			return false;
		*sel = (unsigned)v;
		return true;
	}
	if (t->kind != T_IDENT)
		return false;
	for (i = 0; i < 256; i++) {
		const char *nm = pcv__vfm_sel_name(op, i);

		if (nm && strlen(nm) == t->n && memcmp(nm, t->s, t->n) == 0) {
			*sel = i;
			return true;
		}
	}
	return false;
}

/* PUSH128's operand: the raw text up to a blank, ';' or the line's end. */
static bool imm128(struct as *a, struct tok *t, uint8_t v[16])
{
	const char *s;
	char buf[64];
	size_t n = 0, i;

	do {
		skip_blank(a);
		if (a->src[a->pos] != '\n')
			break;
		a->pos++;
		a->line++;
		a->line_start = a->pos;
	} while (1);
	s = a->src + a->pos;
	t->s = s;
	t->line = a->line;
	t->col = (unsigned)(a->pos - a->line_start + 1);
	while (s[n] && s[n] != ' ' && s[n] != '\t' && s[n] != '\r' &&
	       s[n] != '\n' && s[n] != ';')
		n++;
	a->pos += n;
	t->n = n;
	t->kind = n ? T_IDENT : T_EOF;
	if (n == 0 || n >= sizeof(buf))
		return false;
	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (n - 2 > 32)
			return false;
		memset(v, 0, 16);
		for (i = 2; i < n; i++) {
			int d = hexval(s[i]);
			size_t nib = 32 - (n - i); /* nibble index, 0 = top */

			if (d < 0)
				return false;
			v[nib / 2] |= (uint8_t)(nib & 1 ? d : d << 4);
		}
		return true;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	return inet_pton(AF_INET6, buf, v) == 1;
}

static const char *tok_what(const struct tok *t)
{
	switch (t->kind) {
	case T_EOF:
		return "the end of the file";
	case T_NUM:
		return "a number";
	case T_LABEL:
		return "a label definition";
	case T_IDENT:
		return "a name";
	default:
		return "a stray character";
	}
}

/* One instruction after its mnemonic.  *pushback gets an operand token
 * that turned out not to be one. */
static void instruction(struct as *a, unsigned op, struct tok *pushback,
			bool *have_pushback)
{
	const struct pcv__vfm_opinfo *oi = pcv__vfm_op(op);
	size_t at = a->len;
	uint8_t opb = (uint8_t)op, v16[16];
	struct tok t;
	uint64_t v;
	unsigned sel;

	emit(a, &opb, 1);
	if (oi->fmt == PCV__VFM_NONE)
		return;
	if (oi->fmt == PCV__VFM_IMM128) {
		if (!imm128(a, &t, v16)) {
			error_at(a, t.line, t.col,
				 "PUSH128 needs an IPv6 address or 0x and up "
				 "to 32 hex digits, not '%.*s'",
				 (int)(t.n > 60 ? 60 : t.n), t.s);
			memset(v16, 0, sizeof(v16));
		}
		emit(a, v16, 16);
		return;
	}

	next_operand(a, &t);
	switch (oi->fmt) {
	case PCV__VFM_OFF16:
	case PCV__VFM_IMM64:
		if (t.kind != T_NUM) {
			error_at(a, t.line, t.col, "%s needs a number, not %s",
				 oi->name, tok_what(&t));
			goto pushback;
		}
		if (!parse_num(t.s, t.n, &v)) {
			error_at(a, t.line, t.col, "invalid number '%.*s'",
				 (int)t.n, t.s);
			v = 0;
		} else if (oi->fmt == PCV__VFM_OFF16 && v > 0xffff) {
			error_at(a, t.line, t.col,
				 "%s offset %.*s is too large (at most 65535)",
				 oi->name, (int)t.n, t.s);
			v = 0;
		}
		emit_le(a, v, oi->fmt == PCV__VFM_OFF16 ? 2 : 8);
		return;
	case PCV__VFM_REL16:
		if (t.kind == T_IDENT) {
			add_ref(a, &t, at);
			emit_le(a, 0, 2);
			return;
		}
		if (t.kind != T_NUM) {
			error_at(a, t.line, t.col,
				 "%s needs a label or a number, not %s",
				 oi->name, tok_what(&t));
			goto pushback;
		}
		if (!parse_num(t.s, t.n, &v)) {
			error_at(a, t.line, t.col, "invalid number '%.*s'",
				 (int)t.n, t.s);
			v = 0;
		} else if (v > 0xffff) {
			error_at(a, t.line, t.col,
				 "%s displacement %.*s is too large (at most "
				 "0xffff)",
				 oi->name, (int)t.n, t.s);
			v = 0;
		}
		emit_le(a, v, 2);
		return;
	case PCV__VFM_SEL8:
		if (!selector(op, &t, &sel)) {
			error_at(a, t.line, t.col,
				 "%s needs a selector (0..255 or a name), not "
				 "'%.*s'",
				 oi->name, (int)(t.n > 60 ? 60 : t.n), t.s);
			if (t.kind != T_NUM && t.kind != T_IDENT)
				goto pushback;
			sel = 0;
		}
		emit_le(a, sel, 1);
		return;
	default:
		return;
	}

pushback:
	emit_le(a, 0, oi->size - 1u);
	*pushback = t;
	*have_pushback = true;
}

static void resolve(struct as *a)
{
	size_t i;

	for (i = 0; i < a->nrefs; i++) {
		const struct ref *r = &a->refs[i];
		const struct label *l = find_label(a, r->name, r->nlen);
		long disp;

		if (!l) {
			error_at(a, r->line, r->col, "undefined label '%.*s'",
				 (int)r->nlen, r->name);
			continue;
		}
		disp = (long)l->addr - (long)(r->at + 3);
		if (disp < -32768 || disp > 32767) {
			error_at(a, r->line, r->col,
				 "jump to '%.*s' is %ld bytes away, out of "
				 "range (-32768..32767)",
				 (int)r->nlen, r->name, disp);
			continue;
		}
		if (r->at + 3 <= a->len) {
			a->out[r->at + 1] = (uint8_t)disp;
			a->out[r->at + 2] = (uint8_t)((unsigned long)disp >> 8);
		}
	}
}

int pcv_vfm_asm(const char *src, uint8_t **out, size_t *outlen, char *errbuf)
{
	struct as *a;
	struct tok t, pb;
	bool have_pb = false;
	const char *noarg = NULL; /* the last operand-less mnemonic ... */
	unsigned noarg_line = 0;  /* ... and its line */
	int rc = 0;

	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!src || !out || !outlen) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "invalid arguments");
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "out of memory");
		return -ENOMEM;
	}
	a->src = src;
	a->line = 1;

	for (;;) {
		int op;

		if (have_pb) {
			t = pb;
			have_pb = false;
		} else {
			next_tok(a, &t);
		}
		if (t.kind == T_EOF)
			break;
		switch (t.kind) {
		case T_NL:
			continue;
		case T_LABEL:
			define_label(a, &t);
			continue;
		case T_NUM:
			if (noarg && noarg_line == t.line)
				error_at(a, t.line, t.col,
					 "%s takes no operand", noarg);
			else
				error_at(a, t.line, t.col,
					 "unexpected number '%.*s'", (int)t.n,
					 t.s);
			continue;
		case T_BAD:
			error_at(a, t.line, t.col, "unexpected character '%c'",
				 *t.s);
			continue;
		default:
			break;
		}
		op = find_op(t.s, t.n);
		if (op < 0) {
			int alt = find_op_nocase(t.s, t.n);

			if (alt >= 0)
				error_at(a, t.line, t.col,
					 "unknown instruction '%.*s' "
					 "(mnemonics are upper case: %s)",
					 (int)t.n, t.s, pcv__vfm_op(alt)->name);
			else
				error_at(a, t.line, t.col,
					 "unknown instruction '%.*s'",
					 (int)(t.n > 60 ? 60 : t.n), t.s);
			noarg = NULL;
			continue;
		}
		if (!a->full &&
		    a->len + pcv__vfm_op(op)->size > PCV_VFM_MAX_PROGRAM) {
			error_at(a, t.line, t.col,
				 "program longer than %d bytes",
				 PCV_VFM_MAX_PROGRAM);
			a->full = true;
		}
		instruction(a, (unsigned)op, &pb, &have_pb);
		noarg = pcv__vfm_op(op)->fmt == PCV__VFM_NONE
				? pcv__vfm_op(op)->name : NULL;
		noarg_line = t.line;
	}
	if (!a->oom)
		resolve(a);

	if (a->oom) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "out of memory");
		rc = -ENOMEM;
	} else if (a->nerr) {
		report(a, errbuf);
		rc = -EINVAL;
	} else {
		/* an empty source gives 0 bytes, as upstream */
		*out = a->out ? a->out : malloc(1);
		if (!*out) {
			rc = -ENOMEM;
		} else {
			*outlen = a->len;
			a->out = NULL;
		}
	}
	free(a->out);
	free(a->labels);
	free(a->refs);
	free(a);
	return rc;
}

/* ==== 4. disassembler ==================================================== */

struct sbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 ||
	    !grow((void **)&b->s, &b->cap, b->len + (size_t)n + 1, 1)) {
		b->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static inline unsigned rd_le16(const uint8_t *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint64_t rd_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int dis_err(char *errbuf, size_t off, const char *what, unsigned op)
{
	if (errbuf)
		snprintf(errbuf, PCV_ERRBUF_SIZE, "offset %zu: %s 0x%02x", off,
			 what, op);
	return -EINVAL;
}

static void dis_insn(struct sbuf *b, const uint8_t *code, size_t len,
		     size_t pc, const uint8_t *is_label)
{
	const struct pcv__vfm_opinfo *oi = pcv__vfm_op(code[pc]);
	const uint8_t *p = code + pc + 1;
	char addr[INET6_ADDRSTRLEN];
	const char *nm;
	uint64_t v;
	long t;

	sb_printf(b, "\t%s", oi->name);
	switch (oi->fmt) {
	case PCV__VFM_OFF16:
		sb_printf(b, " %u", rd_le16(p));
		break;
	case PCV__VFM_IMM64:
		v = rd_le64(p);
		if (v <= 0xffff)
			sb_printf(b, " %u", (unsigned)v);
		else
			sb_printf(b, " 0x%llx", (unsigned long long)v);
		break;
	case PCV__VFM_IMM128:
		if (inet_ntop(AF_INET6, p, addr, sizeof(addr))) {
			sb_printf(b, " %s", addr);
		} else {
			sb_printf(b, " 0x");
			for (int i = 0; i < 16; i++)
				sb_printf(b, "%02x", p[i]);
		}
		break;
	case PCV__VFM_REL16:
		t = (long)pc + 3 + (int16_t)rd_le16(p);
		if (t >= 0 && (size_t)t < len && is_label[t])
			sb_printf(b, " L_%ld", t);
		else
			sb_printf(b, " 0x%04x", rd_le16(p));
		break;
	case PCV__VFM_SEL8:
		nm = pcv__vfm_sel_name(code[pc], p[0]);
		if (nm)
			sb_printf(b, " %s", nm);
		else
			sb_printf(b, " %u", p[0]);
		break;
	default:
		break;
	}
	sb_printf(b, "\t; %zu\n", pc);
}

int pcv_vfm_dis(const uint8_t *code, size_t len, enum pcv_vfm_numbering num,
		char **text, char *errbuf)
{
	uint8_t *copy = NULL, *is_label = NULL;
	struct sbuf b = { 0 };
	size_t pc;
	int rc = -ENOMEM;

	if (text)
		*text = NULL;
	if (!text || (!code && len) ||
	    (num != PCV_VFM_HEAD && num != PCV_VFM_LEGACY)) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "invalid arguments");
		return -EINVAL;
	}
	copy = malloc(len ? len : 1);
	is_label = calloc(len ? len : 1, 1);
	if (!copy || !is_label)
		goto out;
	if (len)
		memcpy(copy, code, len);
	if (num == PCV_VFM_LEGACY) {
		rc = pcv__vfm_from_legacy(copy, len, errbuf);
		if (rc)
			goto out;
	}

	/* decode, mark boundaries (2) and then jump targets on them (1) */
	for (pc = 0; pc < len;) {
		const struct pcv__vfm_opinfo *oi = pcv__vfm_op(copy[pc]);

		if (!oi) {
			rc = dis_err(errbuf, pc, "invalid opcode", copy[pc]);
			goto out;
		}
		if (len - pc < oi->size) {
			rc = dis_err(errbuf, pc,
				     "truncated instruction, opcode", copy[pc]);
			goto out;
		}
		is_label[pc] = 2;
		pc += oi->size;
	}
	for (pc = 0; pc < len; pc += pcv__vfm_op(copy[pc])->size) {
		long t;

		if (pcv__vfm_op(copy[pc])->fmt != PCV__VFM_REL16)
			continue;
		t = (long)pc + 3 + (int16_t)rd_le16(copy + pc + 1);
		if (t >= 0 && (size_t)t < len && is_label[t])
			is_label[t] = 1;
	}
	for (pc = 0; pc < len; pc++)
		is_label[pc] = is_label[pc] == 1;

	sb_printf(&b, "; %zu bytes\n", len);
	for (pc = 0; pc < len; pc += pcv__vfm_op(copy[pc])->size) {
		if (is_label[pc])
			sb_printf(&b, "L_%zu:\n", pc);
		dis_insn(&b, copy, len, pc, is_label);
	}
	if (b.oom)
		goto out;
	*text = b.s;
	b.s = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM && errbuf)
		snprintf(errbuf, PCV_ERRBUF_SIZE, "out of memory");
	free(b.s);
	free(copy);
	free(is_label);
	return rc;
}
