// SPDX-License-Identifier: MIT
/*
 * fuzz_query.c - libFuzzer target for pcv_query_parse().
 *
 * The input is query text (cut at the first NUL and at QUERY_MAX bytes),
 * parsed with a fixed clock.  Whatever it is, the parser must either fail
 * with a message and a fault offset inside the text and leave nothing
 * allocated, or give a filter string, a window that is not empty, and
 * index terms whose fields are in range - the same way twice, with a
 * smaller error buffer and no offset pointer the second time.  The terms
 * are then tried on a few fixed flow records: exact IPv4 TCP and IPv6
 * UDP flows, a port 0 flow, class records with and without an IP layer,
 * and an ANY record.  A broken promise aborts.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/index.h"
#include "pcv/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* over MAX_TOKENS (4096) two-byte words, so "query too long" is reached */
#define QUERY_MAX 16384
/* 2026-11-24T03:15:00Z: relative times land well inside the epoch */
#define NOW_NS (1795490100ull * 1000000000ull)
#define SMALL_ERR 8

static void check(int ok)
{
	if (!ok)
		abort();
}

static const struct pcv_flow_rec recs[] = {
	{ .key = { .src = { 192, 168, 1, 100 }, .dst = { 10, 0, 0, 1 },
		   .sport = 1234, .dport = 80, .family = 4, .proto = 6 },
	  .ethertype = 0x0800 },
	{ .key = { .src = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
		   .dst = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 },
		   .sport = 5353, .dport = 53, .family = 6, .proto = 17 },
	  .ethertype = 0x86dd },
	/* a port the dissector could not read */
	{ .key = { .src = { 8, 8, 8, 8 }, .dst = { 10, 1, 2, 3 },
		   .family = 4, .proto = 17 },
	  .ethertype = 0x0800 },
	{ .key = { .family = 4, .proto = 1 }, .ethertype = 0x0800,
	  .coarse = PCV_FLOW_CLASS },
	{ .ethertype = 0x0806, .coarse = PCV_FLOW_CLASS }, /* ARP */
	{ .ethertype = 0x88cc, .coarse = PCV_FLOW_CLASS }, /* LLDP */
	{ .coarse = PCV_FLOW_ANY },
};

static bool zero(const uint8_t *b, size_t n)
{
	while (n--) {
		if (*b++)
			return false;
	}
	return true;
}

static void check_term(const struct pcv_query_term *t)
{
	check(t->kind == PCV_QT_VLAN || t->vlan == 0);
	switch (t->kind) {
	case PCV_QT_HOST:
		check(t->family == 4 || t->family == 6);
		check(t->prefix == 0 && t->proto == 0 && t->port == 0);
		check(t->family == 6 || zero(t->addr + 4, 12));
		break;
	case PCV_QT_NET:
		check(t->family == 4 || t->family == 6);
		check(t->prefix <= (t->family == 4 ? 32 : 128));
		check(t->proto == 0 && t->port == 0);
		check(t->family == 6 || zero(t->addr + 4, 12));
		break;
	case PCV_QT_PORT:
		check(t->family == 0 && t->prefix == 0 && t->proto == 0);
		check(zero(t->addr, sizeof(t->addr)));
		break;
	case PCV_QT_PROTO:
		/* only protocols the flow key always agrees on */
		check(t->proto == 1 || t->proto == 6 || t->proto == 17 ||
		      t->proto == 58 || t->proto == 132);
		check(t->family == 0 && t->prefix == 0 && t->port == 0);
		check(zero(t->addr, sizeof(t->addr)));
		break;
	case PCV_QT_VLAN:
		/* a VID: 0 is what untagged rows say, never a term */
		check(t->vlan >= 1 && t->vlan <= 4095);
		check(t->family == 0 && t->prefix == 0 && t->proto == 0 &&
		      t->port == 0);
		check(zero(t->addr, sizeof(t->addr)));
		break;
	default:
		check(0);
	}
}

static bool has_time_word(const char *s)
{
	static const char *const words[] = { "since", "last", "until",
					     "between", "before", "after" };

	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strstr(s, words[i]))
			return true;
	}
	return false;
}

static void check_ok(const struct pcv_query *q, const char *text,
		     const char *err)
{
	size_t flen;

	check(err[0] == '\0');
	check(q->filter != NULL);
	flen = strlen(q->filter);
	/* conjuncts are cut at token edges */
	check(flen == 0 || (!isspace((unsigned char)q->filter[0]) &&
			    !isspace((unsigned char)q->filter[flen - 1])));
	check((q->nterms == 0) == (q->terms == NULL));
	check(flen > 0 || q->nterms == 0);
	for (size_t i = 0; i < q->nterms; i++)
		check_term(&q->terms[i]);
	/* an empty window is refused, an open end is UINT64_MAX */
	check(q->until_ns == UINT64_MAX || q->since_ns < q->until_ns);
	if (!has_time_word(text))
		check(q->since_ns == 0 && q->until_ns == UINT64_MAX);
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		bool m = pcv_query_flow_may_match(q, &recs[i]);

		check(m || (q->nterms && recs[i].coarse != PCV_FLOW_ANY));
	}
}

/* @pos: the fault offset, or SIZE_MAX when none was asked for */
static void check_fail(int r, const struct pcv_query *q, const char *text,
		       const char *err, size_t errlen, size_t pos)
{
	check(r == -EINVAL || r == -ENOMEM);
	check(q->filter == NULL && q->terms == NULL && q->nterms == 0);
	check(memchr(err, 0, errlen) != NULL && err[0] != '\0');
	if (r == -EINVAL && pos != SIZE_MAX) {
		/* the caret goes under a word, or just past the end */
		check(pos <= strlen(text));
		check(pos == strlen(text) ||
		      !isspace((unsigned char)text[pos]));
	}
}

static bool same(const struct pcv_query *a, const struct pcv_query *b)
{
	if (strcmp(a->filter, b->filter) || a->since_ns != b->since_ns ||
	    a->until_ns != b->until_ns || a->nterms != b->nterms)
		return false;
	for (size_t i = 0; i < a->nterms; i++) {
		const struct pcv_query_term *x = &a->terms[i], *y = &b->terms[i];

		if (x->kind != y->kind || x->family != y->family ||
		    x->prefix != y->prefix || x->proto != y->proto ||
		    x->port != y->port || x->vlan != y->vlan ||
		    memcmp(x->addr, y->addr, 16))
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], small[SMALL_ERR];
	struct pcv_query q, q2;
	size_t pos = SIZE_MAX;
	char *text;
	int r, r2;

	if (size > QUERY_MAX)
		size = QUERY_MAX;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0'; /* a query stops at the first NUL, like argv */

	memset(err, 0x55, sizeof(err));
	r = pcv_query_parse(&q, text, NOW_NS, err, sizeof(err), &pos);
	if (r == 0) {
		check(pos == SIZE_MAX); /* an offset only with an error */
		check_ok(&q, text, err);
	} else {
		/* -ENOMEM names no offset */
		check(pos != SIZE_MAX || r == -ENOMEM);
		check_fail(r, &q, text, err, sizeof(err), pos);
	}

	memset(small, 0x55, sizeof(small));
	r2 = pcv_query_parse(&q2, text, NOW_NS, small, sizeof(small), NULL);
	if (r != -ENOMEM && r2 != -ENOMEM) {
		check(r2 == r);
		if (r == 0)
			check(same(&q, &q2));
		else
			check_fail(r2, &q2, text, small, sizeof(small),
				   SIZE_MAX);
	}
	if (r == 0)
		pcv_query_free(&q);
	if (r2 == 0)
		pcv_query_free(&q2);
	pcv_query_free(&q2); /* twice, and after a failure: must be harmless */
	free(text);
	return 0;
}
