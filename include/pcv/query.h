/* SPDX-License-Identifier: MIT */
/*
 * pcv/query.h - the query language of pcv-query (docs/query-language.md).
 *
 * A query is a pcap-filter(7) expression - which Stenographer's query
 * syntax is, but for its time terms - with time terms joined to it by
 * "and": "since 10m", "last 2h", "until T", "between T1 and T2",
 * Stenographer's "before T" and "after T".  T is RFC 3339, Unix seconds,
 * or "N{s,m,h,d} ago".  The window is half-open: [since, until).
 *
 * Parsing splits the query into the time window, the expression libpcap
 * will match exactly (pcv_query.filter), and the terms a flow index can
 * use to skip blocks (pcv_query.terms): only conjuncts of the top-level
 * "and" chain that name a host, a network, a port or a protocol, so that
 * a flow failing one of them holds no packet the filter accepts.
 */
#ifndef PCV_QUERY_H
#define PCV_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pcv_flow_rec;

enum pcv_query_term_kind {
	PCV_QT_HOST,  /* an address: addr, family */
	PCV_QT_NET,   /* addr/prefix, family */
	PCV_QT_PORT,  /* port (TCP, UDP or SCTP) */
	PCV_QT_PROTO, /* IP protocol number */
	PCV_QT_VLAN,  /* the outermost VLAN ID, 1..4095 */
};

struct pcv_query_term {
	enum pcv_query_term_kind kind;
	uint8_t family;  /* 4 or 6 (HOST, NET) */
	uint8_t prefix;  /* NET */
	uint8_t proto;   /* PROTO */
	uint16_t port;   /* PORT */
	uint16_t vlan;   /* VLAN */
	uint8_t addr[16];
};

struct pcv_query {
	char *filter;        /* for libpcap; "" keeps every packet */
	uint64_t since_ns;   /* 0: from the start */
	uint64_t until_ns;   /* UINT64_MAX: no end */
	struct pcv_query_term *terms;
	size_t nterms;
};

/*
 * pcv_query_parse() - parse @text; relative times count back from @now_ns.
 * On error, @err (@errlen bytes) says what and *@pos (if not NULL) is the
 * byte offset in @text of the fault.
 * Return: 0, -EINVAL (the query is wrong), -ENOMEM.
 */
int pcv_query_parse(struct pcv_query *q, const char *text, uint64_t now_ns,
		    char *err, size_t errlen, size_t *pos);

void pcv_query_free(struct pcv_query *q);

/*
 * pcv_query_flow_may_match() - whether packets counted in flow record @r
 * may match the query's terms.  False only when a term excludes every
 * packet the record stands for, as far as the record's coarse level lets
 * it say (a PCV_FLOW_ANY record always may).
 */
bool pcv_query_flow_may_match(const struct pcv_query *q,
			      const struct pcv_flow_rec *r);

#endif
