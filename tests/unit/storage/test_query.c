// SPDX-License-Identifier: MIT
/*
 * test_query.c - the query language (pcv/query.h): time terms and their
 * window, the filter handed to libpcap, the index terms, errors with their
 * positions, and which flow records a query may match.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "pcv/index.h"
#include "pcv/query.h"

#define NS UINT64_C(1000000000)
/* 2026-11-24T03:15:00Z */
#define NOW (UINT64_C(1795490100) * NS)

static struct pcv_query parse_ok(const char *text)
{
	struct pcv_query q;
	char err[256];
	size_t pos = 0;
	int rc = pcv_query_parse(&q, text, NOW, err, sizeof(err), &pos);

	cr_assert_eq(rc, 0, "'%s': %s (at %zu)", text, err, pos);
	return q;
}

/* A wrong query: -EINVAL, a message, and the fault at byte @at. */
static void parse_bad(const char *text, size_t at)
{
	struct pcv_query q;
	char err[256];
	size_t pos = 12345;
	int rc = pcv_query_parse(&q, text, NOW, err, sizeof(err), &pos);

	cr_assert_eq(rc, -EINVAL, "'%s' was accepted", text);
	cr_assert_gt(strlen(err), 10, "'%s': message '%s'", text, err);
	cr_assert_eq(pos, at, "'%s': fault at %zu, want %zu (%s)", text, pos,
		     at, err);
}

Test(query, a_plain_expression_goes_to_libpcap_whole)
{
	struct pcv_query q = parse_ok("tcp[tcpflags] & tcp-syn != 0");

	cr_assert_str_eq(q.filter, "tcp[tcpflags] & tcp-syn != 0");
	cr_assert_eq(q.since_ns, 0);
	cr_assert_eq(q.until_ns, UINT64_MAX);
	cr_assert_eq(q.nterms, 0);
	pcv_query_free(&q);

	q = parse_ok("");
	cr_assert_str_eq(q.filter, "");
	pcv_query_free(&q);
}

Test(query, time_terms_make_a_half_open_window)
{
	struct pcv_query q = parse_ok("port 443 and since 10m");

	cr_assert_str_eq(q.filter, "port 443");
	cr_assert_eq(q.since_ns, NOW - 600 * NS);
	cr_assert_eq(q.until_ns, UINT64_MAX);
	pcv_query_free(&q);

	q = parse_ok("last 2h and udp");
	cr_assert_eq(q.since_ns, NOW - 7200 * NS);
	cr_assert_str_eq(q.filter, "udp");
	pcv_query_free(&q);

	q = parse_ok("between 2026-11-24T03:00:00Z and 2026-11-24T03:10:00.5Z");
	cr_assert_eq(q.since_ns, NOW - 900 * NS);
	cr_assert_eq(q.until_ns, NOW - 300 * NS + NS / 2);
	cr_assert_str_eq(q.filter, "");
	pcv_query_free(&q);

	/* Stenographer's before/after, and several terms: the narrowest */
	q = parse_ok("host 10.0.0.1 and after 3h ago and before 1h ago and "
		     "after 1795476000");
	cr_assert_eq(q.since_ns, NOW - 3 * 3600 * NS);
	cr_assert_eq(q.until_ns, NOW - 3600 * NS);
	cr_assert_str_eq(q.filter, "host 10.0.0.1");
	pcv_query_free(&q);
}

/* The README's form: a time term written next to the expression. */
Test(query, a_time_term_next_to_the_expression)
{
	struct pcv_query q = parse_ok("port 443 since 10m");

	cr_assert_str_eq(q.filter, "port 443");
	cr_assert_eq(q.since_ns, NOW - 600 * NS);
	cr_assert_eq(q.nterms, 1);
	pcv_query_free(&q);
	q = parse_ok("since 10m port 443 until 5m ago udp");
	cr_assert_str_eq(q.filter, "port 443 and udp");
	cr_assert_eq(q.until_ns, NOW - 300 * NS);
	pcv_query_free(&q);
}

/* Numbers as libpcap reads them: a leading 0 is octal, 0x hex. */
Test(query, numbers_in_terms_are_c_numbers)
{
	struct pcv_query q = parse_ok("port 0120 and net 10.0.0.0/010 and "
				      "port 0x1bb");

	cr_assert_eq(q.nterms, 3);
	cr_assert_eq(q.terms[0].port, 80);
	cr_assert_eq(q.terms[1].prefix, 8);
	cr_assert_eq(q.terms[2].port, 443);
	pcv_query_free(&q);
}

Test(query, times_in_every_form)
{
	struct pcv_query q;

	q = parse_ok("since 1795490100.25");
	cr_assert_eq(q.since_ns, NOW + NS / 4);
	pcv_query_free(&q);
	q = parse_ok("since 2026-11-24T05:15:00+02:00");
	cr_assert_eq(q.since_ns, NOW);
	pcv_query_free(&q);
	q = parse_ok("since 2026-11-24t03:15:00.123456789z");
	cr_assert_eq(q.since_ns, NOW + 123456789);
	pcv_query_free(&q);
	q = parse_ok("until 1d ago");
	cr_assert_eq(q.until_ns, NOW - 86400 * NS);
	pcv_query_free(&q);
	q = parse_ok("since 30s");
	cr_assert_eq(q.since_ns, NOW - 30 * NS);
	pcv_query_free(&q);
	/* a leap second is the Unix second after 23:59:59 */
	q = parse_ok("since 2016-12-31T23:59:60Z");
	cr_assert_eq(q.since_ns, UINT64_C(1483228800) * NS);
	pcv_query_free(&q);
}

Test(query, bad_queries_say_where)
{
	parse_bad("since", 5);
	parse_bad("since yesterday", 6);
	parse_bad("tcp or udp since 10m", 11);
	parse_bad("until 2554-07-21T23:34:35Z", 6);
	parse_bad("until 1700000000.00000000000000000000000000000000000000000000000000000xyz",
		  6);
	parse_bad("tcp or since 10m", 7);
	parse_bad("not since 10m", 4);
	parse_bad("(since 10m)", 1);
	parse_bad("until 10m", 6);
	parse_bad("between 200 and 100", 0);
	parse_bad("before 2026-02-31T00:00:00Z", 7);
	parse_bad("after 2026-13-01T00:00:00Z", 6);
	parse_bad("tcp and", 4);
	parse_bad("and tcp", 0);
	parse_bad("(tcp", 4);
	parse_bad("tcp)", 3);
	parse_bad("last 5", 5);
	parse_bad("since 2h ago and until 3h ago", 0);
}

Test(query, index_terms_from_the_top_level_and_chain)
{
	struct pcv_query q = parse_ok("src host 10.0.0.1 and tcp dst port 443 "
				      "and net 192.168.0.0/16 and icmp6");

	cr_assert_eq(q.nterms, 5);
	cr_assert_eq(q.terms[0].kind, PCV_QT_HOST);
	cr_assert_eq(q.terms[0].family, 4);
	cr_assert_eq(q.terms[0].addr[3], 1);
	cr_assert_eq(q.terms[1].kind, PCV_QT_PORT);
	cr_assert_eq(q.terms[1].port, 443);
	cr_assert_eq(q.terms[2].kind, PCV_QT_PROTO);
	cr_assert_eq(q.terms[2].proto, 6);
	cr_assert_eq(q.terms[3].kind, PCV_QT_NET);
	cr_assert_eq(q.terms[3].prefix, 16);
	cr_assert_eq(q.terms[4].kind, PCV_QT_PROTO);
	cr_assert_eq(q.terms[4].proto, 58);
	pcv_query_free(&q);

	q = parse_ok("host 2001:db8::1 && ip proto 17");
	cr_assert_eq(q.nterms, 2);
	cr_assert_eq(q.terms[0].family, 6);
	cr_assert_eq(q.terms[1].proto, 17);
	pcv_query_free(&q);
}

Test(query, no_terms_where_they_could_lose_packets)
{
	static const char *const none[] = {
		"host 10.0.0.1 or port 53",     /* a top-level or */
		"not host 10.0.0.1",
		"(host 10.0.0.1 or host 10.0.0.2)",
		"portrange 1-1024",
		"ip proto 47",                  /* not a protocol we key */
		"ether host 00:11:22:33:44:55",
		"geneve and host 30.0.0.1",     /* an inner packet */
		"geneve and icmp",
	};

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		struct pcv_query q = parse_ok(none[i]);

		cr_assert_eq(q.nterms, 0, "'%s': %zu terms", none[i],
			     q.nterms);
		pcv_query_free(&q);
	}
	/* terms before 'geneve' read the outer packet: they stay */
	struct pcv_query q = parse_ok("host 20.0.0.1 and geneve and "
				      "host 30.0.0.1");

	cr_assert_eq(q.nterms, 1);
	cr_assert_eq(q.terms[0].addr[0], 20);
	pcv_query_free(&q);
}

/* 'vlan N' is the outermost tag only before any other shim keyword. */
Test(query, a_vlan_term_while_it_is_the_outermost_tag)
{
	struct pcv_query q = parse_ok("vlan 100 and host 10.0.0.1");

	cr_assert_eq(q.nterms, 2);
	cr_assert_eq(q.terms[0].kind, PCV_QT_VLAN);
	cr_assert_eq(q.terms[0].vlan, 100);
	pcv_query_free(&q);
	static const char *const none[] = {
		"vlan 0", "vlan", "vlan 4096", "vlan and vlan 100",
		"mpls and vlan 100", "(vlan 10 or tcp) and vlan 100",
		"pppoes and vlan 100",
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		q = parse_ok(none[i]);
		for (size_t k = 0; k < q.nterms; k++)
			cr_assert_neq(q.terms[k].kind, PCV_QT_VLAN, "'%s'",
				      none[i]);
		pcv_query_free(&q);
	}
}

static struct pcv_flow_rec flow4(uint8_t a, uint8_t b, uint16_t pa,
				 uint16_t pb, uint8_t proto)
{
	struct pcv_flow_rec r;

	memset(&r, 0, sizeof(r));
	r.key.family = 4;
	r.key.proto = proto;
	r.key.src[0] = r.key.dst[0] = 10;
	r.key.src[3] = a;
	r.key.dst[3] = b;
	r.key.sport = pa;
	r.key.dport = pb;
	r.ethertype = 0x0800;
	return r;
}

Test(query, flow_records_that_may_match)
{
	struct pcv_query q = parse_ok("host 10.0.0.1 and port 443");
	struct pcv_flow_rec r = flow4(1, 2, 50000, 443, 6);

	cr_assert(pcv_query_flow_may_match(&q, &r));
	r = flow4(3, 2, 50000, 443, 6);
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r = flow4(1, 2, 50000, 80, 6);
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r = flow4(1, 2, 0, 80, 17); /* a port it could not read */
	cr_assert(pcv_query_flow_may_match(&q, &r));
	r = flow4(1, 2, 0, 0, 1);   /* ICMP has no ports */
	cr_assert_not(pcv_query_flow_may_match(&q, &r));

	/* coarse rows: what their level keeps */
	r = flow4(0, 0, 0, 0, 6);
	r.coarse = PCV_FLOW_CLASS;
	cr_assert(pcv_query_flow_may_match(&q, &r));
	r.key.family = 6;
	cr_assert_not(pcv_query_flow_may_match(&q, &r), "IPv6, an IPv4 host");
	memset(&r, 0, sizeof(r));
	r.coarse = PCV_FLOW_CLASS;
	r.ethertype = 0x0806; /* ARP: libpcap's host matches its addresses */
	cr_assert_not(pcv_query_flow_may_match(&q, &r), "ARP has no port");
	pcv_query_free(&q);
	q = parse_ok("host 10.0.0.1");
	cr_assert(pcv_query_flow_may_match(&q, &r), "ARP, host only");
	r.ethertype = 0x88cc; /* LLDP: no address libpcap could see */
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r.ethertype = 0x86dd; /* IPv6 not trusted: no IPv4 address in it */
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r.ethertype = 0x0800; /* IPv4 not trusted: maybe */
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	q = parse_ok("host 2001:db8::1");
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r.ethertype = 0x86dd;
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	q = parse_ok("host 10.0.0.1");
	r.ethertype = 0x88cc;
	r.coarse = PCV_FLOW_ANY;
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);

	/* malformed IP by its address fields: they decide host and net,
	 * protocol and ports stay unknown */
	r = flow4(1, 2, 0, 0, 0);
	r.coarse = PCV_FLOW_ADDR;
	q = parse_ok("host 10.0.0.1 and tcp port 443");
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	q = parse_ok("net 10.0.0.0/30 and udp");
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	q = parse_ok("host 10.0.0.3");
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	q = parse_ok("host 2001:db8::1");
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	/* VLAN: decided on every level but "any" */
	r.key.vlan = 100;
	q = parse_ok("vlan 100");
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	q = parse_ok("vlan 200");
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r.coarse = PCV_FLOW_CLASS;
	r.key.family = 0;
	cr_assert_not(pcv_query_flow_may_match(&q, &r));
	r.coarse = PCV_FLOW_ANY;
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
	r = flow4(1, 2, 0, 0, 0);
	r.coarse = 7; /* a level from a newer build: anything */
	q = parse_ok("host 10.0.0.3");
	cr_assert(pcv_query_flow_may_match(&q, &r));
	pcv_query_free(&q);
}
