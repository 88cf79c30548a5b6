// SPDX-License-Identifier: MIT
/*
 * query.c - parsing pcv-query's language (pcv/query.h).
 *
 * The query is cut into tokens that remember their byte offsets: runs of
 * non-blank characters, with "(", ")", "&&" and "||" standing alone.  One
 * pass over the tokens takes the time terms out - each must be a whole
 * conjunct of the top-level "and" chain - and collects the other conjuncts,
 * whose text, joined again by " and ", is the filter libpcap compiles.
 * When the chain has no top-level "or" (pcap-filter's "and" and "or" bind
 * equally, left to right, so only then is every conjunct a condition every
 * match meets), each conjunct that is a plain host, net, port or protocol
 * primitive also becomes an index term.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcv/index.h"
#include "pcv/query.h"

#define NS 1000000000ull
#define MAX_TOKENS 4096

struct tok {
	size_t off, len;
};

struct parser {
	const char *text;
	struct tok *t;
	size_t n;
	uint64_t now;
	struct pcv_query *q;
	char *err;
	size_t errlen;
	size_t *pos;
};

static int fail(struct parser *p, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	if (p->pos)
		*p->pos = off;
	return -EINVAL;
}

static bool is(const struct parser *p, size_t i, const char *word)
{
	return i < p->n && p->t[i].len == strlen(word) &&
	       memcmp(p->text + p->t[i].off, word, p->t[i].len) == 0;
}

/* Token @i as a C string (in @buf, cut to its size). */
/* Token @i as a string; "" when it does not fit: no time, address or
 * number is that long, and a cut one could parse as something else. */
static const char *tok_str(const struct parser *p, size_t i, char *buf,
			   size_t len)
{
	size_t n = p->t[i].len;

	if (n >= len)
		n = 0;
	memcpy(buf, p->text + p->t[i].off, n);
	buf[n] = '\0';
	return buf;
}

static int tokenize(struct parser *p)
{
	const char *s = p->text;
	size_t i = 0, cap = 0;

	while (s[i]) {
		size_t start = i;

		if (isspace((unsigned char)s[i])) {
			i++;
			continue;
		}
		if (s[i] == '(' || s[i] == ')') {
			i++;
		} else if ((s[i] == '&' && s[i + 1] == '&') ||
			   (s[i] == '|' && s[i + 1] == '|')) {
			i += 2;
		} else {
			while (s[i] && !isspace((unsigned char)s[i]) &&
			       s[i] != '(' && s[i] != ')' &&
			       !(s[i] == '&' && s[i + 1] == '&') &&
			       !(s[i] == '|' && s[i + 1] == '|'))
				i++;
		}
		if (p->n == MAX_TOKENS)
			return fail(p, start, "query too long (over %d words)",
				    MAX_TOKENS);
		if (p->n == cap) {
			struct tok *nt;

			cap = cap ? cap * 2 : 32;
			nt = realloc(p->t, cap * sizeof(*nt));
			if (!nt)
				return -ENOMEM;
			p->t = nt;
		}
		p->t[p->n++] = (struct tok){ start, i - start };
	}
	return 0;
}

/* ===== time ============================================================== */

/* "90s", "10m", "1.5h", "7d": a number and a unit.  Return: 0 or -1. */
static int parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		char unit;
		uint64_t ns;
	} units[] = { { 's', NS }, { 'm', 60 * NS }, { 'h', 3600 * NS },
		      { 'd', 86400 * NS } };
	char *end;
	double v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || end[0] == '\0' || end[1] != '\0')
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (*end == units[i].unit) {
			if (v * (double)units[i].ns > 1.8e19)
				return -1;
			*ns = (uint64_t)(v * (double)units[i].ns);
			return 0;
		}
	}
	return -1;
}

/* Unix seconds, with an optional fraction: "1700000000.25". */
static int parse_unix(const char *s, uint64_t *ns)
{
	uint64_t sec = 0, frac = 0, scale = NS;
	const char *c = s;

	if (!isdigit((unsigned char)*c))
		return -1;
	for (; isdigit((unsigned char)*c); c++) {
		if (sec > (UINT64_MAX / NS - 9) / 10)
			return -1;
		sec = sec * 10 + (uint64_t)(*c - '0');
	}
	if (*c == '.') {
		for (c++; isdigit((unsigned char)*c); c++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*c - '0') * scale;
			}
		}
	}
	if (*c)
		return -1;
	*ns = sec * NS + frac;
	return 0;
}

static int digits(const char **c, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*c)++) {
		if (!isdigit((unsigned char)**c))
			return -1;
		v = v * 10 + (**c - '0');
	}
	*out = v;
	return 0;
}

/* RFC 3339: 2026-11-24T03:15:00Z, with fraction and numeric offsets. */
static int parse_rfc3339(const char *s, uint64_t *ns)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	const char *c = s;
	uint64_t frac = 0, scale = NS;
	int64_t t;

	if (digits(&c, 4, &y) || *c++ != '-' || digits(&c, 2, &mo) ||
	    *c++ != '-' || digits(&c, 2, &d) || (*c != 'T' && *c != 't'))
		return -1;
	c++;
	if (digits(&c, 2, &h) || *c++ != ':' || digits(&c, 2, &mi) ||
	    *c++ != ':' || digits(&c, 2, &sec))
		return -1;
	if (*c == '.') {
		for (c++; isdigit((unsigned char)*c); c++) {
			if (scale > 1) {
				scale /= 10;
				frac += (uint64_t)(*c - '0') * scale;
			}
		}
	}
	if (*c == 'Z' || *c == 'z') {
		c++;
	} else if (*c == '+' || *c == '-') {
		sign = *c++ == '+' ? 1 : -1;
		if (digits(&c, 2, &oh) || *c++ != ':' || digits(&c, 2, &om))
			return -1;
	} else {
		return -1;
	}
	if (*c || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec == 60 ? 59 : sec; /* a leap second: Unix time has */
	t = (int64_t)timegm(&tm);         /* none, it is the next second */
	if (tm.tm_mday != d) /* timegm() made February 31 into March */
		return -1;
	t += sec == 60;
	t -= sign * (oh * 3600 + om * 60);
	if (t < 0 || (uint64_t)t >= UINT64_MAX / NS) /* past 2554 */
		return -1;
	*ns = (uint64_t)t * NS + frac;
	return 0;
}

/*
 * A time at token *@i: RFC 3339, Unix seconds, "DURATION ago", or (with
 * @bare_ago, after "since") a bare duration meaning the same.
 */
static int parse_time(struct parser *p, size_t *i, bool bare_ago,
		      uint64_t *ns)
{
	char buf[64];
	const char *s;
	uint64_t d;

	if (*i >= p->n)
		return fail(p, strlen(p->text),
			    "a time is missing at the end (RFC 3339, Unix seconds, or like '10m ago')");
	s = tok_str(p, *i, buf, sizeof(buf));
	if (!*s)
		return fail(p, p->t[*i].off, "a time of %zu bytes: too long",
			    p->t[*i].len);
	if (parse_duration(s, &d) == 0) {
		if (is(p, *i + 1, "ago"))
			(*i)++;
		else if (!bare_ago)
			return fail(p, p->t[*i].off,
				    "'%s' is a duration: say '%s ago', or give a time (RFC 3339 or Unix seconds)",
				    s, s);
		(*i)++;
		*ns = d > p->now ? 0 : p->now - d;
		return 0;
	}
	if (parse_unix(s, ns) == 0 || parse_rfc3339(s, ns) == 0) {
		(*i)++;
		return 0;
	}
	return fail(p, p->t[*i].off,
		    "'%s' is not a time: use RFC 3339 (2026-11-24T03:15:00Z), Unix seconds, or like '10m ago'",
		    s);
}

/* Whether token @i can end an expression: not an operator or '('. */
static bool ends_expr(const struct parser *p, size_t i)
{
	static const char *const ops[] = { "and", "&&", "or", "||", "not",
					   "!", "(" };

	for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
		if (is(p, i, ops[k]))
			return false;
	}
	return true;
}

static bool is_time_word(const struct parser *p, size_t i)
{
	return is(p, i, "since") || is(p, i, "last") || is(p, i, "until") ||
	       is(p, i, "between") || is(p, i, "before") ||
	       is(p, i, "after");
}

/* The time term at token *@i; *@i ends past it. */
static int time_term(struct parser *p, size_t *i)
{
	struct pcv_query *q = p->q;
	size_t kw = *i;
	uint64_t a, b;
	int rc;

	(*i)++;
	if (is(p, kw, "since") || is(p, kw, "after")) {
		rc = parse_time(p, i, is(p, kw, "since"), &a);
		if (rc == 0 && a > q->since_ns)
			q->since_ns = a;
	} else if (is(p, kw, "last")) {
		char buf[64];
		uint64_t d;

		if (*i >= p->n ||
		    parse_duration(tok_str(p, *i, buf, sizeof(buf)), &d) < 0)
			return fail(p, *i < p->n ? p->t[*i].off : strlen(p->text),
				    "'last' takes a duration, like 'last 2h'");
		(*i)++;
		a = d > p->now ? 0 : p->now - d;
		if (a > q->since_ns)
			q->since_ns = a;
		rc = 0;
	} else if (is(p, kw, "until") || is(p, kw, "before")) {
		rc = parse_time(p, i, false, &a);
		if (rc == 0 && a < q->until_ns)
			q->until_ns = a;
	} else { /* between */
		rc = parse_time(p, i, false, &a);
		if (rc == 0 && !is(p, *i, "and") && !is(p, *i, "&&"))
			return fail(p, *i < p->n ? p->t[*i].off : strlen(p->text),
				    "'between T1 and T2': 'and' expected");
		if (rc == 0) {
			(*i)++;
			rc = parse_time(p, i, false, &b);
		}
		if (rc == 0 && b < a)
			return fail(p, p->t[kw].off,
				    "'between': the second time is before the first");
		if (rc == 0) {
			if (a > q->since_ns)
				q->since_ns = a;
			if (b < q->until_ns)
				q->until_ns = b;
		}
	}
	return rc;
}

/* ===== index terms ======================================================= */

static int add_term(struct pcv_query *q, const struct pcv_query_term *t)
{
	struct pcv_query_term *nt;

	nt = realloc(q->terms, (q->nterms + 1) * sizeof(*nt));
	if (!nt)
		return -ENOMEM;
	q->terms = nt;
	q->terms[q->nterms++] = *t;
	return 0;
}

/* A number as libpcap reads it, that is as C does: 0x hex, a leading 0
 * octal ("port 0120" is port 80), else decimal. */
static bool parse_num(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	*v = strtoul(s, &end, 0);
	return !errno && !*end && *v <= max;
}

static bool parse_addr(const char *s, struct pcv_query_term *t)
{
	if (inet_pton(AF_INET, s, t->addr) == 1) {
		t->family = 4;
		return true;
	}
	if (inet_pton(AF_INET6, s, t->addr) == 1) {
		t->family = 6;
		return true;
	}
	return false;
}

static bool parse_cidr(const char *s, struct pcv_query_term *t)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	unsigned long len;

	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	if (!parse_addr(buf, t) ||
	    !parse_num(slash + 1, t->family == 4 ? 32 : 128, &len))
		return false;
	t->prefix = (uint8_t)len;
	return true;
}

/* Protocols whose number the index's flow key always agrees on with
 * libpcap (never an IPv6 extension header). */
static bool proto_of(const struct parser *p, size_t i, uint8_t *proto)
{
	static const struct {
		const char *name;
		uint8_t proto;
	} names[] = { { "tcp", 6 }, { "udp", 17 }, { "sctp", 132 },
		      { "icmp", 1 }, { "icmp6", 58 } };

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (is(p, i, names[k].name)) {
			*proto = names[k].proto;
			return true;
		}
	}
	return false;
}

/*
 * Index terms from conjunct [s, e), when it is one of: [ip|ip6] [src|dst]
 * host ADDR; [src|dst] net ADDR/LEN; [tcp|udp|sctp] [src|dst] port N;
 * tcp, udp, sctp, icmp, icmp6; ip|ip6 proto N (of those protocols);
 * vlan N (N > 0) when @first_shim: no shim keyword came before.
 * Anything else gives no term: it cannot narrow the search.
 */
static int conjunct_terms(struct parser *p, size_t s, size_t e,
			  bool first_shim)
{
	struct pcv_query_term t = { 0 };
	unsigned long v;
	char buf[64];
	uint8_t proto = 0;
	bool has_proto;
	int rc;

	/* "vlan N" tests the outermost tag only while no vlan, mpls, pppoes
	 * or geneve came before it; VID 0 is also what untagged rows say */
	if (first_shim && e - s == 2 && is(p, s, "vlan") &&
	    parse_num(tok_str(p, s + 1, buf, sizeof(buf)), 4095, &v) && v) {
		t.kind = PCV_QT_VLAN;
		t.vlan = (uint16_t)v;
		return add_term(p->q, &t);
	}

	if (e - s == 1 && proto_of(p, s, &t.proto)) {
		t.kind = PCV_QT_PROTO;
		return add_term(p->q, &t);
	}
	if (e - s == 3 && (is(p, s, "ip") || is(p, s, "ip6")) &&
	    is(p, s + 1, "proto") &&
	    parse_num(tok_str(p, s + 2, buf, sizeof(buf)), 255, &v) &&
	    (v == 1 || v == 6 || v == 17 || v == 58 || v == 132)) {
		t.kind = PCV_QT_PROTO;
		t.proto = (uint8_t)v;
		return add_term(p->q, &t);
	}
	if (is(p, s, "ip") || is(p, s, "ip6"))
		s++;
	has_proto = s < e && proto_of(p, s, &proto) &&
		    proto != 1 && proto != 58;
	if (has_proto)
		s++;
	if (is(p, s, "src") || is(p, s, "dst"))
		s++;
	if (e - s != 2)
		return 0;
	tok_str(p, s + 1, buf, sizeof(buf));
	if (!has_proto && is(p, s, "host") && parse_addr(buf, &t)) {
		t.kind = PCV_QT_HOST;
		return add_term(p->q, &t);
	}
	if (!has_proto && is(p, s, "net") && parse_cidr(buf, &t)) {
		t.kind = PCV_QT_NET;
		return add_term(p->q, &t);
	}
	if (is(p, s, "port") && parse_num(buf, 65535, &v)) {
		t.kind = PCV_QT_PORT;
		t.port = (uint16_t)v;
		rc = add_term(p->q, &t);
		if (rc == 0 && has_proto)
			rc = add_term(p->q, &(struct pcv_query_term){
						    .kind = PCV_QT_PROTO,
						    .proto = proto });
		return rc;
	}
	return 0;
}

/* ===== the query ========================================================= */

struct span {
	size_t s, e; /* tokens */
};

static int append(char **buf, size_t *len, const char *s, size_t n)
{
	char *nb = realloc(*buf, *len + n + 1);

	if (!nb)
		return -ENOMEM;
	memcpy(nb + *len, s, n);
	*len += n;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

int pcv_query_parse(struct pcv_query *q, const char *text, uint64_t now_ns,
		    char *err, size_t errlen, size_t *pos)
{
	struct parser p = { .text = text, .now = now_ns, .q = q, .err = err,
			    .errlen = errlen, .pos = pos };
	struct span *conj = NULL;
	size_t nconj = 0, i = 0, start = 0, first_time = SIZE_MAX, flen = 0;
	int depth = 0, rc;
	bool has_or = false, rebased = false, shimmed = false;

	memset(q, 0, sizeof(*q));
	q->until_ns = UINT64_MAX;
	if (errlen)
		err[0] = '\0';
	rc = tokenize(&p);
	if (rc == 0)
		conj = calloc(p.n / 2 + 1, sizeof(*conj));
	if (rc == 0 && !conj)
		rc = -ENOMEM;
	while (rc == 0 && i < p.n) {
		if (is_time_word(&p, i)) {
			/* joined by 'and', or written next to the rest
			 * ("port 443 since 10m"): the same */
			if (depth > 0 || (i != start && !ends_expr(&p, i - 1))) {
				rc = fail(&p, p.t[i].off,
					  "a time term stands on its own, joined to the rest by 'and' (not inside parentheses or after 'not')");
				break;
			}
			if (i != start)
				conj[nconj++] = (struct span){ start, i };
			if (first_time == SIZE_MAX)
				first_time = i;
			rc = time_term(&p, &i);
			if (rc)
				break;
			if (i < p.n && !is(&p, i, "and") && !is(&p, i, "&&")) {
				start = i;
				continue;
			}
			if (i == p.n) {
				start = i;
				continue;
			}
			if (i + 1 == p.n) {
				rc = fail(&p, p.t[i].off,
					  "something must follow '%s'",
					  is(&p, i, "and") ? "and" : "&&");
				break;
			}
			start = ++i;
			continue;
		}
		if (is(&p, i, "(")) {
			depth++;
		} else if (is(&p, i, ")")) {
			if (--depth < 0) {
				rc = fail(&p, p.t[i].off, "')' without '('");
				break;
			}
		} else if (depth == 0 && (is(&p, i, "and") || is(&p, i, "&&"))) {
			if (i == start || i + 1 == p.n) {
				rc = fail(&p, p.t[i].off,
					  "an expression must stand on both sides of '%s'",
					  is(&p, i, "and") ? "and" : "&&");
				break;
			}
			conj[nconj++] = (struct span){ start, i };
			start = i + 1;
		} else if (depth == 0 && (is(&p, i, "or") || is(&p, i, "||"))) {
			has_or = true;
		}
		i++;
	}
	if (rc == 0 && depth > 0)
		rc = fail(&p, strlen(text), "'(' without ')'");
	if (rc == 0 && start < p.n)
		conj[nconj++] = (struct span){ start, p.n };
	if (rc == 0 && has_or && first_time != SIZE_MAX)
		rc = fail(&p, p.t[first_time].off,
			  "time terms join the rest with 'and' only: put the 'or' in parentheses");
	if (rc == 0 && q->since_ns >= q->until_ns && q->until_ns != UINT64_MAX)
		rc = fail(&p, first_time != SIZE_MAX ? p.t[first_time].off : 0,
			  "the time window is empty: it ends before it starts");
	rc = rc ? rc : append(&q->filter, &flen, "", 0);
	for (size_t k = 0; rc == 0 && k < nconj; k++) {
		size_t a = p.t[conj[k].s].off;
		size_t b = p.t[conj[k].e - 1].off + p.t[conj[k].e - 1].len;

		if (k)
			rc = append(&q->filter, &flen, " and ", 5);
		if (rc == 0)
			rc = append(&q->filter, &flen, text + a, b - a);
		if (rc == 0 && !has_or && !rebased)
			rc = conjunct_terms(&p, conj[k].s, conj[k].e, !shimmed);
		/* After 'geneve', libpcap reads the rest of the expression in
		 * the encapsulated packet, which flow keys (the outer
		 * addresses and ports) do not describe: no terms after it.
		 * vlan, mpls and pppoes move offsets too, but the dissector
		 * follows them, so keys describe the inner packet alike. */
		for (size_t t = conj[k].s; t < conj[k].e; t++) {
			rebased = rebased || is(&p, t, "geneve");
			shimmed = shimmed || rebased || is(&p, t, "vlan") ||
				  is(&p, t, "mpls") || is(&p, t, "pppoes");
		}
	}
	if (rc == -ENOMEM && errlen)
		snprintf(err, errlen, "out of memory");
	free(conj);
	free(p.t);
	if (rc)
		pcv_query_free(q);
	return rc;
}

void pcv_query_free(struct pcv_query *q)
{
	free(q->filter);
	free(q->terms);
	q->filter = NULL;
	q->terms = NULL;
	q->nterms = 0;
}

/* ===== flows ============================================================= */

static bool in_net(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return false;
	return !rest || ((a[full] ^ net[full]) & (0xff00u >> rest)) == 0;
}

/*
 * Whether packets of record @r may match term @t.  docs/index-schema.md,
 * "The coarse-mode rule", says what a coarse record promises: a class
 * record keeps family, protocol and EtherType; with no IP layer (family
 * 0) only the EtherType tells whether libpcap could still see addresses
 * (IPv4, IPv6 - a header our dissector found malformed - ARP, RARP).
 */
static bool term_may_match(const struct pcv_query_term *t,
			   const struct pcv_flow_rec *r)
{
	const struct pcv_flow_key *k = &r->key;
	size_t alen = t->family == 4 ? 4 : 16;
	bool exact = r->coarse == PCV_FLOW_EXACT;
	bool ip = r->ethertype == 0x0800 || r->ethertype == 0x86dd;

	if (t->kind == PCV_QT_VLAN)
		return k->vlan == t->vlan; /* every level keeps it */
	if (r->coarse == PCV_FLOW_ADDR) {
		/* malformed IP: the address fields decide host and net */
		if (t->kind == PCV_QT_HOST)
			return k->family == t->family &&
			       (memcmp(k->src, t->addr, alen) == 0 ||
				memcmp(k->dst, t->addr, alen) == 0);
		if (t->kind == PCV_QT_NET)
			return k->family == t->family &&
			       (in_net(k->src, t->addr, t->prefix) ||
				in_net(k->dst, t->addr, t->prefix));
		return true; /* protocol and ports: unknown */
	}

	if (k->family == 0) {
		/* an IPv4 address is looked for in IPv4, ARP and RARP
		 * frames only, an IPv6 one in IPv6 frames */
		if (t->kind == PCV_QT_HOST || t->kind == PCV_QT_NET)
			return t->family == 6 ? r->ethertype == 0x86dd
					      : r->ethertype == 0x0800 ||
						r->ethertype == 0x0806 ||
						r->ethertype == 0x8035;
		return ip;
	}
	switch (t->kind) {
	case PCV_QT_HOST:
		return k->family == t->family &&
		       (!exact || memcmp(k->src, t->addr, alen) == 0 ||
			memcmp(k->dst, t->addr, alen) == 0);
	case PCV_QT_NET:
		return k->family == t->family &&
		       (!exact || in_net(k->src, t->addr, t->prefix) ||
			in_net(k->dst, t->addr, t->prefix));
	case PCV_QT_PORT:
		/* a port of 0 may be one the dissector could not read
		 * (a short IP total length) where libpcap still does */
		return (k->proto == 6 || k->proto == 17 || k->proto == 132) &&
		       (!exact || k->sport == t->port || k->dport == t->port ||
			k->sport == 0 || k->dport == 0);
	case PCV_QT_PROTO:
		return k->proto == t->proto;
	case PCV_QT_VLAN:
		return k->vlan == t->vlan;
	}
	return true;
}

bool pcv_query_flow_may_match(const struct pcv_query *q,
			      const struct pcv_flow_rec *r)
{
	if (r->coarse == PCV_FLOW_ANY || r->coarse > PCV_FLOW_ADDR)
		return true; /* a level this build does not know: anything */
	for (size_t i = 0; i < q->nterms; i++) {
		if (!term_may_match(&q->terms[i], r))
			return false;
	}
	return true;
}
