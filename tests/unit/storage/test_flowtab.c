// SPDX-License-Identifier: MIT
/*
 * test_flowtab.c - unit tests of the flow table (storage/flowtab.c,
 * pcv/index.h): aggregation checked against an independent count kept
 * per generated flow (not per key), so both directions of a flow must
 * land in one record; TCP flags; block ranges; packets without a trusted
 * IP layer; and floods of new flows far beyond max_flows, where every
 * packet must still be counted once and some record that may match the
 * packet must cover its block (what keeps queries free of false
 * negatives).
 *
 * Packets are struct pcv_dissect values made here, as pcv_dissect()
 * would fill them, from a seeded generator, so runs repeat exactly.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/index.h"

#define IPP_ICMP 1
#define IPP_TCP 6
#define IPP_UDP 17

/* ===== generator ========================================================= */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static void seed(uint64_t s)
{
	rng_state = s ? s : 1;
	for (int i = 0; i < 8; i++)
		rnd();
}

/* One generated flow: its key in the direction it was made. */
struct gflow {
	struct pcv_flow_key key;
	/* the independent count */
	uint64_t pkts, bytes, first_ns, last_ns;
	uint32_t first_block, last_block;
	uint8_t flags;
	bool seen;
};

static void random_key(struct pcv_flow_key *k)
{
	uint64_t r = rnd();

	memset(k, 0, sizeof(*k));
	k->family = r & 1 ? 6 : 4;
	k->proto = r & 2 ? IPP_TCP : IPP_UDP;
	for (int i = 0; i < (k->family == 4 ? 4 : 16); i++) {
		k->src[i] = (uint8_t)rnd();
		k->dst[i] = (uint8_t)rnd();
	}
	k->sport = (uint16_t)rnd();
	k->dport = (uint16_t)rnd();
	k->vlan = r & 4 ? (uint16_t)(rnd() % 8) : 0;
}

static void reverse_key(struct pcv_flow_key *k)
{
	uint8_t a[16];
	uint16_t p;

	memcpy(a, k->src, 16);
	memcpy(k->src, k->dst, 16);
	memcpy(k->dst, a, 16);
	p = k->sport;
	k->sport = k->dport;
	k->dport = p;
}

static void ip_dissect(struct pcv_dissect *d, const struct pcv_flow_key *k,
		       uint8_t tcp_flags)
{
	memset(d, 0, sizeof(*d));
	d->key = *k;
	d->ethertype = k->family == 4 ? 0x0800 : 0x86dd;
	d->tcp_flags = k->proto == IPP_TCP ? tcp_flags : 0;
	d->flags = PCV_DF_L4;
	if (k->vlan)
		d->flags |= PCV_DF_VLAN;
}

static void gflow_count(struct gflow *g, uint64_t ts, uint32_t len,
			uint32_t blk, uint8_t flags)
{
	if (!g->seen || ts < g->first_ns)
		g->first_ns = ts;
	if (!g->seen || ts > g->last_ns)
		g->last_ns = ts;
	if (!g->seen || blk < g->first_block)
		g->first_block = blk;
	if (!g->seen || blk > g->last_block)
		g->last_block = blk;
	g->pkts++;
	g->bytes += len;
	g->flags |= flags;
	g->seen = true;
}

/* ===== what a query planner may conclude ================================= */

static bool key_same_flow(const struct pcv_flow_key *canon,
			  const struct pcv_flow_key *k)
{
	struct pcv_flow_key c = *k;

	pcv_flow_key_canon(&c);
	return memcmp(&c, canon, sizeof(c)) == 0;
}

/*
 * Whether record @r may hold the packet @d: the rule of
 * docs/index-schema.md, restated independently of flowtab.c.
 */
static bool rec_may_match(const struct pcv_flow_rec *r,
			  const struct pcv_dissect *d)
{
	bool ip = (d->key.family == 4 || d->key.family == 6) &&
		  !(d->flags & PCV_DF_MALFORMED);

	switch (r->coarse) {
	case PCV_FLOW_EXACT:
		return ip && key_same_flow(&r->key, &d->key);
	case PCV_FLOW_CLASS:
		if (r->key.vlan != d->key.vlan)
			return false;
		if (r->key.family == 0)
			return !ip && r->ethertype == d->ethertype;
		return ip && r->key.family == d->key.family &&
		       r->key.proto == d->key.proto;
	case PCV_FLOW_ANY:
		return true;
	}
	return false;
}

/* Some record that may match @d covers block @blk and time @ts. */
static bool covered(const struct pcv_flow_rec *recs, size_t n,
		    const struct pcv_dissect *d, uint32_t blk, uint64_t ts)
{
	for (size_t i = 0; i < n; i++) {
		const struct pcv_flow_rec *r = &recs[i];

		if (rec_may_match(r, d) && r->first_block <= blk &&
		    blk <= r->last_block && r->first_ns <= ts &&
		    ts <= r->last_ns)
			return true;
	}
	return false;
}

static uint64_t sum_pkts(const struct pcv_flow_rec *recs, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += recs[i].pkts;
	return s;
}

TestSuite(flowtab, .timeout = 60);

/* ===== tests ============================================================= */

Test(flowtab, open_rejects_bad_sizes_and_close_takes_null)
{
	struct pcv_flowtab *t = (void *)1;

	cr_assert_eq(pcv_flowtab_open(&t, 0), -EINVAL);
	cr_assert_null(t);
	cr_assert_eq(pcv_flowtab_open(&t, PCV_FLOWTAB_MAX_FLOWS + 1ull),
		     -EINVAL);
	cr_assert_null(t);
	pcv_flowtab_close(NULL);
	cr_assert_eq(pcv_flowtab_open(&t, 1), 0);
	pcv_flowtab_close(t);
}

Test(flowtab, aggregation_matches_an_independent_count)
{
	enum { NFLOWS = 700, NPKTS = 60000 };
	static struct gflow g[NFLOWS];
	const struct pcv_flow_rec *recs;
	struct pcv_flowtab_stats st;
	struct pcv_flowtab *t;
	struct pcv_dissect d;
	size_t n, used = 0;

	seed(42);
	for (int i = 0; i < NFLOWS; i++)
		random_key(&g[i].key);
	cr_assert_eq(pcv_flowtab_open(&t, 1000), 0);

	for (int i = 0; i < NPKTS; i++) {
		struct gflow *f = &g[rnd() % NFLOWS];
		struct pcv_flow_key k = f->key;
		uint64_t ts = 1000000000ull + rnd() % 5000000000ull;
		uint32_t len = 60 + (uint32_t)(rnd() % 1400);
		uint32_t blk = (uint32_t)(i / 997);
		uint8_t flags = (uint8_t)(1u << (rnd() % 8));

		if (rnd() & 1)
			reverse_key(&k); /* the other direction */
		ip_dissect(&d, &k, flags);
		cr_assert_eq(pcv_flowtab_add(t, &d, ts, len, blk),
			     PCV_FLOW_EXACT);
		gflow_count(f, ts, len, blk, d.tcp_flags);
	}

	recs = pcv_flowtab_records(t, &n);
	for (int i = 0; i < NFLOWS; i++)
		used += g[i].seen;
	cr_assert_eq(n, used, "%zu records for %zu flows", n, used);
	pcv_flowtab_stats(t, &st);
	cr_assert_eq(st.flows, used);
	cr_assert_eq(st.pkts, NPKTS);
	cr_assert_eq(st.pkts_exact, NPKTS);
	cr_assert_eq(st.classes, 0);
	cr_assert_not(st.any);

	for (int i = 0; i < NFLOWS; i++) {
		const struct gflow *f = &g[i];
		const struct pcv_flow_rec *r = NULL;
		struct pcv_flow_key c = f->key;

		if (!f->seen)
			continue;
		pcv_flow_key_canon(&c);
		for (size_t j = 0; j < n; j++)
			if (!memcmp(&recs[j].key, &c, sizeof(c))) {
				cr_assert_null(r, "flow %d in two records", i);
				r = &recs[j];
			}
		cr_assert_not_null(r, "flow %d has no record", i);
		cr_assert_eq(r->coarse, PCV_FLOW_EXACT);
		cr_assert_eq(r->pkts, f->pkts, "flow %d", i);
		cr_assert_eq(r->bytes, f->bytes);
		cr_assert_eq(r->first_ns, f->first_ns);
		cr_assert_eq(r->last_ns, f->last_ns);
		cr_assert_eq(r->first_block, f->first_block);
		cr_assert_eq(r->last_block, f->last_block);
		cr_assert_eq(r->tcp_flags, f->flags);
		cr_assert_eq(r->ethertype,
			     f->key.family == 4 ? 0x0800 : 0x86dd);
	}
	pcv_flowtab_close(t);
}

Test(flowtab, tcp_flags_are_ored_and_blocks_span_min_to_max)
{
	static const uint8_t flags[] = { 0x02, 0x12, 0x10, 0x18, 0x11 };
	static const uint32_t blocks[] = { 5, 3, 9, 4, 7 };
	const struct pcv_flow_rec *recs;
	struct pcv_flow_key k;
	struct pcv_flowtab *t;
	struct pcv_dissect d;
	size_t n;

	seed(7);
	random_key(&k);
	k.proto = IPP_TCP;
	cr_assert_eq(pcv_flowtab_open(&t, 4), 0);
	for (int i = 0; i < 5; i++) {
		struct pcv_flow_key kk = k;

		if (i & 1)
			reverse_key(&kk);
		ip_dissect(&d, &kk, flags[i]);
		pcv_flowtab_add(t, &d, 100 - (uint64_t)i * 10, 100, blocks[i]);
	}
	recs = pcv_flowtab_records(t, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(recs[0].tcp_flags, 0x1b);
	cr_assert_eq(recs[0].first_block, 3);
	cr_assert_eq(recs[0].last_block, 9);
	cr_assert_eq(recs[0].first_ns, 60);
	cr_assert_eq(recs[0].last_ns, 100);
	cr_assert_eq(recs[0].pkts, 5);
	cr_assert_eq(recs[0].bytes, 500);
	cr_assert(key_same_flow(&recs[0].key, &k));
	pcv_flowtab_close(t);
}

Test(flowtab, icmp_keeps_type_and_code)
{
	const struct pcv_flow_rec *recs;
	struct pcv_flow_key k = { .family = 4, .proto = IPP_ICMP,
				  .src = { 10, 0, 0, 9 },
				  .dst = { 10, 0, 0, 1 },
				  .sport = 8, .dport = 0 };
	struct pcv_flowtab *t;
	struct pcv_dissect d;
	size_t n;

	cr_assert_eq(pcv_flowtab_open(&t, 4), 0);
	ip_dissect(&d, &k, 0);
	pcv_flowtab_add(t, &d, 1, 98, 0);
	pcv_flowtab_add(t, &d, 2, 98, 0);
	recs = pcv_flowtab_records(t, &n);
	cr_assert_eq(n, 1);
	/* canonical order puts 10.0.0.1 first; type and code stay */
	cr_assert_eq(recs[0].key.src[3], 1);
	cr_assert_eq(recs[0].key.sport, 8);
	cr_assert_eq(recs[0].key.dport, 0);
	cr_assert_eq(recs[0].pkts, 2);
	pcv_flowtab_close(t);
}

Test(flowtab, packets_without_trusted_ip_go_to_class_records)
{
	const struct pcv_flow_rec *recs;
	struct pcv_flowtab_stats st;
	struct pcv_flow_key k;
	struct pcv_flowtab *t;
	struct pcv_dissect arp, lldp, bad, ip;
	size_t n;

	cr_assert_eq(pcv_flowtab_open(&t, 16), 0);
	memset(&arp, 0, sizeof(arp));
	arp.ethertype = 0x0806;
	arp.key.vlan = 10;
	memset(&lldp, 0, sizeof(lldp));
	lldp.ethertype = 0x88cc;
	seed(3);
	random_key(&k);
	k.vlan = 0;
	ip_dissect(&bad, &k, 0);
	bad.flags |= PCV_DF_MALFORMED; /* e.g. IHL < 5 */
	ip_dissect(&ip, &k, 0);

	cr_assert_eq(pcv_flowtab_add(t, &arp, 10, 60, 0), PCV_FLOW_CLASS);
	cr_assert_eq(pcv_flowtab_add(t, &lldp, 11, 60, 1), PCV_FLOW_CLASS);
	cr_assert_eq(pcv_flowtab_add(t, &arp, 12, 60, 1), PCV_FLOW_CLASS);
	cr_assert_eq(pcv_flowtab_add(t, &bad, 13, 70, 2), PCV_FLOW_ADDR);
	cr_assert_eq(pcv_flowtab_add(t, &ip, 14, 80, 3), PCV_FLOW_EXACT);

	recs = pcv_flowtab_records(t, &n);
	cr_assert_eq(n, 4);
	cr_assert_eq(recs[0].coarse, PCV_FLOW_CLASS);
	cr_assert_eq(recs[0].key.family, 0);
	cr_assert_eq(recs[0].ethertype, 0x0806);
	cr_assert_eq(recs[0].key.vlan, 10);
	cr_assert_eq(recs[0].pkts, 2);
	cr_assert_eq(recs[0].first_block, 0);
	cr_assert_eq(recs[0].last_block, 1);
	cr_assert_eq(recs[1].ethertype, 0x88cc);
	/* malformed IP: not trusted but for the address fields */
	cr_assert_eq(recs[2].coarse, PCV_FLOW_ADDR);
	cr_assert_eq(recs[2].key.family, k.family);
	cr_assert_eq(recs[2].key.proto, 0);
	cr_assert_eq(recs[2].key.sport, 0);
	cr_assert_eq(recs[2].ethertype, k.family == 4 ? 0x0800 : 0x86dd);
	cr_assert(memcmp(recs[2].key.src, k.src, 16) == 0 ||
		  memcmp(recs[2].key.dst, k.src, 16) == 0);
	cr_assert_eq(recs[3].coarse, PCV_FLOW_EXACT);
	pcv_flowtab_stats(t, &st);
	cr_assert_eq(st.pkts, 5);
	cr_assert_eq(st.pkts_coarse, 4);
	cr_assert_eq(st.pkts_overflow, 0);
	cr_assert_eq(st.classes, 3);
	pcv_flowtab_close(t);
}

/*
 * A flood: every packet a new random 5-tuple, far more flows than the
 * table holds.  Every packet counted once; every packet's block covered
 * by a record that may match it.
 */
Test(flowtab, flood_of_new_flows_counts_every_packet_and_covers_blocks)
{
	enum { MAX = 64, NPKTS = 50000 };
	static struct pcv_dissect pk[NPKTS];
	static uint32_t blk[NPKTS];
	static uint64_t ts[NPKTS];
	const struct pcv_flow_rec *recs;
	struct pcv_flowtab_stats st;
	struct pcv_flowtab *t;
	struct pcv_flow_key k;
	uint64_t coarse = 0;
	size_t n;

	seed(99);
	cr_assert_eq(pcv_flowtab_open(&t, MAX), 0);
	for (int i = 0; i < NPKTS; i++) {
		random_key(&k);
		ip_dissect(&pk[i], &k, 0x02);
		/* a quiet stretch in the middle: blocks 20..29 see only
		 * the first flow again */
		blk[i] = (uint32_t)(i / 1000);
		if (blk[i] >= 20 && blk[i] < 30)
			pk[i] = pk[0];
		ts[i] = 5000 + (uint64_t)i;
		if (pcv_flowtab_add(t, &pk[i], ts[i], 64, blk[i]) !=
		    PCV_FLOW_EXACT)
			coarse++;
	}

	recs = pcv_flowtab_records(t, &n);
	pcv_flowtab_stats(t, &st);
	cr_assert_eq(st.flows, MAX);
	cr_assert_eq(st.pkts, NPKTS);
	cr_assert_eq(st.pkts_coarse, coarse);
	cr_assert_eq(st.pkts_overflow, coarse);
	cr_assert_eq(st.pkts_exact + st.pkts_coarse, NPKTS);
	cr_assert_eq(sum_pkts(recs, n), NPKTS, "every packet counted once");
	cr_assert_gt(coarse, NPKTS - MAX - 10000 - 1);
	/* family x proto x vlan: 2 x 2 x 8 classes at most, each in two
	 * runs of blocks (before and after the quiet stretch) */
	cr_assert_leq(st.classes, 64);
	cr_assert_not(st.any);
	for (int i = 0; i < NPKTS; i++)
		cr_assert(covered(recs, n, &pk[i], blk[i], ts[i]),
			  "packet %d (block %u) not covered", i, blk[i]);
	pcv_flowtab_close(t);
}

/* A class gets a record per run of blocks, so that its rows never cover
 * blocks without its packets; past the budget a run just grows. */
Test(flowtab, class_records_follow_runs_of_blocks)
{
	static const uint32_t blocks[] = { 0, 1, 1, 5, 6, 9 };
	const struct pcv_flow_rec *recs;
	struct pcv_flowtab_stats st;
	struct pcv_flowtab *t;
	struct pcv_dissect arp;
	size_t n;

	cr_assert_eq(pcv_flowtab_open(&t, 16), 0);
	memset(&arp, 0, sizeof(arp));
	arp.ethertype = 0x0806;
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
		cr_assert_eq(pcv_flowtab_add(t, &arp, 10 + i, 60, blocks[i]),
			     PCV_FLOW_CLASS);
	recs = pcv_flowtab_records(t, &n);
	cr_assert_eq(n, 3);
	cr_assert_eq(recs[0].first_block, 0);
	cr_assert_eq(recs[0].last_block, 1);
	cr_assert_eq(recs[0].pkts, 3);
	cr_assert_eq(recs[1].first_block, 5);
	cr_assert_eq(recs[1].last_block, 6);
	cr_assert_eq(recs[2].first_block, 9);
	cr_assert_eq(recs[2].last_block, 9);
	cr_assert_eq(sum_pkts(recs, n), 6);
	pcv_flowtab_stats(t, &st);
	cr_assert_eq(st.classes, 3);

	/* a full budget: the latest run of the class covers the gap */
	pcv_flowtab_reset(t);
	for (uint32_t b = 0; b < 2 * PCV_FLOWTAB_MAX_CLASSES; b += 2)
		pcv_flowtab_add(t, &arp, b, 60, b);
	recs = pcv_flowtab_records(t, &n);
	cr_assert_eq(n, PCV_FLOWTAB_MAX_CLASSES);
	cr_assert_eq(sum_pkts(recs, n), PCV_FLOWTAB_MAX_CLASSES);
	cr_assert_eq(recs[n - 1].first_block, 2 * PCV_FLOWTAB_MAX_CLASSES - 2);
	pcv_flowtab_add(t, &arp, 99, 60, 5000);
	recs = pcv_flowtab_records(t, &n);
	cr_assert_eq(n, PCV_FLOWTAB_MAX_CLASSES);
	cr_assert_eq(recs[n - 1].last_block, 5000);
	pcv_flowtab_close(t);
}

/* More classes than the table keeps: the rest goes to the "any" record. */
Test(flowtab, class_overflow_falls_back_to_the_any_record)
{
	enum { NPKTS = 40000 };
	static struct pcv_dissect pk[NPKTS];
	const struct pcv_flow_rec *recs;
	struct pcv_flowtab_stats st;
	struct pcv_flowtab *t;
	size_t n, nany = 0;

	seed(1234);
	cr_assert_eq(pcv_flowtab_open(&t, 8), 0);
	for (int i = 0; i < NPKTS; i++) {
		struct pcv_flow_key k;

		if (i % 3 == 0) { /* non-IP, random EtherType and VLAN */
			memset(&pk[i], 0, sizeof(pk[i]));
			pk[i].ethertype = (uint16_t)(0x0600 + rnd() % 4000);
			pk[i].key.vlan = (uint16_t)(rnd() % 4096);
		} else {
			random_key(&k);
			k.proto = (uint8_t)rnd();
			k.vlan = (uint16_t)(rnd() % 4096);
			ip_dissect(&pk[i], &k, 0);
		}
		pcv_flowtab_add(t, &pk[i], (uint64_t)i, 100,
				(uint32_t)(i / 500));
	}
	recs = pcv_flowtab_records(t, &n);
	pcv_flowtab_stats(t, &st);
	cr_assert(st.any);
	cr_assert_eq(st.classes, PCV_FLOWTAB_MAX_CLASSES);
	cr_assert_eq(st.flows, 8);
	cr_assert_eq(n, 8 + PCV_FLOWTAB_MAX_CLASSES + 1);
	cr_assert_eq(sum_pkts(recs, n), NPKTS);
	for (size_t i = 0; i < n; i++)
		nany += recs[i].coarse == PCV_FLOW_ANY;
	cr_assert_eq(nany, 1);
	for (int i = 0; i < NPKTS; i++)
		cr_assert(covered(recs, n, &pk[i], (uint32_t)(i / 500),
				  (uint64_t)i),
			  "packet %d not covered", i);
	pcv_flowtab_close(t);
}

static int stop_at_first(const struct pcv_flow_rec *r, void *user)
{
	(void)r;
	return ++*(int *)user == 1 ? 7 : 0;
}

Test(flowtab, reset_forgets_everything_and_the_table_fills_again)
{
	const struct pcv_flow_rec *recs;
	struct pcv_flowtab_stats st;
	struct pcv_flowtab *t;
	struct pcv_flow_key k;
	struct pcv_dissect d;
	int calls = 0;
	size_t n;

	seed(5);
	cr_assert_eq(pcv_flowtab_open(&t, 4), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++) {
			random_key(&k);
			ip_dissect(&d, &k, 0);
			pcv_flowtab_add(t, &d, (uint64_t)i, 10, (uint32_t)round);
		}
		pcv_flowtab_stats(t, &st);
		cr_assert_eq(st.flows, 4);
		cr_assert_eq(st.pkts_overflow, 6);
		recs = pcv_flowtab_records(t, &n);
		cr_assert_eq(sum_pkts(recs, n), 10);
		pcv_flowtab_reset(t);
		pcv_flowtab_stats(t, &st);
		cr_assert_eq(st.pkts, 0);
		cr_assert_eq(st.flows, 0);
		cr_assert_eq(st.classes, 0);
		pcv_flowtab_records(t, &n);
		cr_assert_eq(n, 0);
	}
	/* each stops early on a non-zero return */
	ip_dissect(&d, &k, 0);
	pcv_flowtab_add(t, &d, 1, 1, 0);
	random_key(&k);
	ip_dissect(&d, &k, 0);
	pcv_flowtab_add(t, &d, 1, 1, 0);
	cr_assert_eq(pcv_flowtab_each(t, stop_at_first, &calls), 7);
	cr_assert_eq(calls, 1);
	pcv_flowtab_close(t);
}
