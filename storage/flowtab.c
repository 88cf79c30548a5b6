// SPDX-License-Identifier: MIT
/*
 * flowtab.c - the flow table (pcv/index.h): packets aggregated into flow
 * records between two index flushes, in O(1) per packet with no
 * allocation after open.
 *
 * Records live in one dense array, in creation order, so a flush hands the
 * whole array to pcv_index_flows_put() as is.  Two open-addressing hash
 * tables of (record index + 1, hash tag) slots find them: one for exact
 * flows, sized for a load of at most 1/2 at max_flows and probed linearly
 * (nothing is ever deleted but by a reset, so no tombstones), one for the
 * coarse classes.  A slot's 32-bit tag is the hash's high half: most
 * mismatches are settled without touching the record.
 *
 * The coarse rule (docs/index-schema.md): every packet is counted in
 * exactly one record, and that record's block range covers the packet's
 * block.  A full table does not drop new flows, it folds them into their
 * class record (family, proto, vlan, ethertype: any address, any port);
 * past PCV_FLOWTAB_MAX_CLASSES classes, into the one "any" record.  A
 * class gets a record per run of consecutive blocks it has packets in
 * (each run counts against the class budget).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/index.h"
#include "storage-int.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd

struct ft_slot {
	uint32_t idx1; /* record index + 1; 0: empty */
	uint32_t tag;  /* high half of the hash */
};

struct pcv_flowtab {
	struct pcv_flow_rec *recs; /* max_flows + MAX_CLASSES + 1 of them */
	size_t nrecs;
	struct ft_slot *slots;     /* exact flows */
	uint32_t mask;
	size_t max_flows;
	struct ft_slot *cslots;    /* classes */
	uint32_t cmask;
	uint32_t any_idx1;         /* the PCV_FLOW_ANY record, + 1 */
	struct pcv_flowtab_stats st;
};

static uint32_t pow2_at_least(size_t n)
{
	uint32_t v = 16;

	while (v < n)
		v <<= 1;
	return v;
}

int pcv_flowtab_open(struct pcv_flowtab **tp, size_t max_flows)
{
	struct pcv_flowtab *t;
	uint32_t nslots, ncslots;

	*tp = NULL;
	if (max_flows == 0 || max_flows > PCV_FLOWTAB_MAX_FLOWS)
		return -EINVAL;
	nslots = pow2_at_least(max_flows * 2);
	ncslots = pow2_at_least(PCV_FLOWTAB_MAX_CLASSES * 2);

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->max_flows = max_flows;
	t->mask = nslots - 1;
	t->cmask = ncslots - 1;
	t->recs = calloc(max_flows + PCV_FLOWTAB_MAX_CLASSES + 1,
			 sizeof(*t->recs));
	t->slots = calloc(nslots, sizeof(*t->slots));
	t->cslots = calloc(ncslots, sizeof(*t->cslots));
	if (!t->recs || !t->slots || !t->cslots) {
		pcv_flowtab_close(t);
		return -ENOMEM;
	}
	*tp = t;
	return 0;
}

void pcv_flowtab_close(struct pcv_flowtab *t)
{
	if (!t)
		return;
	free(t->recs);
	free(t->slots);
	free(t->cslots);
	free(t);
}

void pcv_flowtab_reset(struct pcv_flowtab *t)
{
	memset(t->slots, 0, ((size_t)t->mask + 1) * sizeof(*t->slots));
	if (t->st.classes)
		memset(t->cslots, 0,
		       ((size_t)t->cmask + 1) * sizeof(*t->cslots));
	t->nrecs = 0;
	t->any_idx1 = 0;
	memset(&t->st, 0, sizeof(t->st));
}

static inline void rec_count(struct pcv_flow_rec *r, uint64_t ts,
			     uint32_t len, uint8_t flags, uint32_t blk)
{
	if (ts < r->first_ns)
		r->first_ns = ts;
	if (ts > r->last_ns)
		r->last_ns = ts;
	if (blk < r->first_block)
		r->first_block = blk;
	if (blk > r->last_block)
		r->last_block = blk;
	r->pkts++;
	r->bytes += len;
	r->tcp_flags |= flags;
}

/* A new record at the end of the array, counting its first packet. */
static inline struct pcv_flow_rec *rec_new(struct pcv_flowtab *t,
					   uint64_t ts, uint32_t len,
					   uint8_t flags, uint32_t blk)
{
	struct pcv_flow_rec *r = &t->recs[t->nrecs++];

	memset(r, 0, sizeof(*r));
	r->first_ns = r->last_ns = ts;
	r->first_block = r->last_block = blk;
	r->pkts = 1;
	r->bytes = len;
	r->tcp_flags = flags;
	return r;
}

static inline bool key_eq(const struct pcv_flow_key *a,
			  const struct pcv_flow_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* 0 when counted, -ENOSPC when a new flow finds the table full. */
static inline int add_exact(struct pcv_flowtab *t,
			    const struct pcv_dissect *d, uint64_t ts,
			    uint32_t len, uint32_t blk)
{
	uint64_t h = pcv_flow_key_hash(&d->key);
	uint32_t tag = (uint32_t)(h >> 32);
	uint32_t i = (uint32_t)h & t->mask;
	struct pcv_flow_key k = d->key;
	struct pcv_flow_rec *r;
	struct ft_slot *s;

	pcv_flow_key_canon(&k);
	for (;; i = (i + 1) & t->mask) {
		s = &t->slots[i];
		if (!s->idx1)
			break;
		if (s->tag != tag)
			continue;
		r = &t->recs[s->idx1 - 1];
		if (key_eq(&r->key, &k)) {
			rec_count(r, ts, len, d->tcp_flags, blk);
			return 0;
		}
	}
	if (t->st.flows == t->max_flows)
		return -ENOSPC;

	r = rec_new(t, ts, len, d->tcp_flags, blk);
	r->key = k;
	r->ethertype = k.family == 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
	r->coarse = PCV_FLOW_EXACT;
	s->idx1 = (uint32_t)t->nrecs;
	s->tag = tag;
	t->st.flows++;
	return 0;
}

void pcv__flow_addrs(struct pcv_dissect *d, const uint8_t *pkt,
		     uint32_t caplen)
{
	uint32_t off = d->l3_off;

	if (d->key.family || !(d->flags & PCV_DF_MALFORMED) ||
	    off == PCV_OFF_NONE)
		return;
	if (d->ethertype == ETHERTYPE_IPV4 && caplen >= off + 20) {
		d->key.family = 4;
		memcpy(d->key.src, pkt + off + 12, 4);
		memcpy(d->key.dst, pkt + off + 16, 4);
	} else if (d->ethertype == ETHERTYPE_IPV6 && caplen >= off + 40) {
		d->key.family = 6;
		memcpy(d->key.src, pkt + off + 8, 16);
		memcpy(d->key.dst, pkt + off + 24, 16);
	}
}

/* The class of a packet: family 0 when the index does not trust its IP. */
static inline void class_of(const struct pcv_dissect *d, uint8_t *family,
			    uint8_t *proto)
{
	if ((d->key.family == 4 || d->key.family == 6) &&
	    !(d->flags & PCV_DF_MALFORMED)) {
		*family = d->key.family;
		*proto = d->key.proto;
	} else {
		*family = 0;
		*proto = 0;
	}
}

static inline uint64_t class_hash(uint8_t family, uint8_t proto,
				  uint16_t vlan, uint16_t ethertype)
{
	uint64_t h = (uint64_t)family << 48 | (uint64_t)proto << 40 |
		     (uint64_t)vlan << 16 | ethertype;

	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

static int add_coarse(struct pcv_flowtab *t, const struct pcv_dissect *d,
		      uint64_t ts, uint32_t len, uint32_t blk)
{
	uint16_t vlan = d->key.vlan, ethertype = d->ethertype;
	uint8_t family, proto, level = PCV_FLOW_CLASS;
	struct pcv_flow_rec *r = NULL;
	struct pcv_flow_key k = { 0 };
	struct ft_slot *s;
	uint64_t h;
	uint32_t i, tag;

	class_of(d, &family, &proto);
	if (family)
		ethertype = family == 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
	k.family = family;
	k.proto = proto;
	k.vlan = vlan;
	/* Malformed IP still has the address fields libpcap reads: keep
	 * them, so that host and net terms can judge the record. */
	if (!family && (d->key.family == 4 || d->key.family == 6) &&
	    (d->flags & PCV_DF_MALFORMED)) {
		level = PCV_FLOW_ADDR;
		k.family = d->key.family;
		memcpy(k.src, d->key.src, sizeof(k.src));
		memcpy(k.dst, d->key.dst, sizeof(k.dst));
		pcv_flow_key_canon(&k);
	}
	h = class_hash(k.family, proto, vlan, ethertype) ^
	    (level == PCV_FLOW_ADDR ? pcv_flow_key_hash(&k) : 0);
	tag = (uint32_t)(h >> 32);
	for (i = (uint32_t)h & t->cmask;; i = (i + 1) & t->cmask) {
		s = &t->cslots[i];
		if (!s->idx1)
			break;
		if (s->tag != tag)
			continue;
		r = &t->recs[s->idx1 - 1];
		if (r->coarse == level && key_eq(&r->key, &k) &&
		    r->ethertype == ethertype)
			break;
	}
	/* A class record covers one run of blocks: after a block without
	 * packets of its class a new one starts (while the budget lasts),
	 * so that its rows never send a query to blocks that hold none. */
	if (s->idx1 && (blk <= r->last_block + 1 ||
			t->st.classes >= PCV_FLOWTAB_MAX_CLASSES)) {
		rec_count(r, ts, len, d->tcp_flags, blk);
		return level;
	}

	if (t->st.classes < PCV_FLOWTAB_MAX_CLASSES) {
		/* a new class, or the next run of one: the slot finds the
		 * latest run, earlier ones stay in the array */
		r = rec_new(t, ts, len, d->tcp_flags, blk);
		r->key = k;
		r->ethertype = ethertype;
		r->coarse = level;
		s->idx1 = (uint32_t)t->nrecs;
		s->tag = tag;
		t->st.classes++;
		return level;
	}

	if (t->any_idx1) {
		rec_count(&t->recs[t->any_idx1 - 1], ts, len, d->tcp_flags,
			  blk);
	} else {
		r = rec_new(t, ts, len, d->tcp_flags, blk);
		r->coarse = PCV_FLOW_ANY;
		t->any_idx1 = (uint32_t)t->nrecs;
		t->st.any = true;
	}
	return PCV_FLOW_ANY;
}

int pcv_flowtab_add(struct pcv_flowtab *t, const struct pcv_dissect *d,
		    uint64_t ts_ns, uint32_t wire_len, uint32_t block_seq)
{
	int level;

	t->st.pkts++;
	if ((d->key.family == 4 || d->key.family == 6) &&
	    !(d->flags & PCV_DF_MALFORMED)) {
		if (add_exact(t, d, ts_ns, wire_len, block_seq) == 0) {
			t->st.pkts_exact++;
			return PCV_FLOW_EXACT;
		}
		t->st.pkts_overflow++;
	}
	level = add_coarse(t, d, ts_ns, wire_len, block_seq);
	t->st.pkts_coarse++;
	return level;
}

const struct pcv_flow_rec *pcv_flowtab_records(const struct pcv_flowtab *t,
					       size_t *n)
{
	*n = t->nrecs;
	return t->recs;
}

int pcv_flowtab_each(const struct pcv_flowtab *t, pcv_flowtab_cb cb,
		     void *user)
{
	size_t i;
	int rc;

	for (i = 0; i < t->nrecs; i++) {
		rc = cb(&t->recs[i], user);
		if (rc)
			return rc;
	}
	return 0;
}

void pcv_flowtab_stats(const struct pcv_flowtab *t,
		       struct pcv_flowtab_stats *st)
{
	*st = t->st;
}
