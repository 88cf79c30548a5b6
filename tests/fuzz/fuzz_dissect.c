// SPDX-License-Identifier: MIT
/*
 * fuzz_dissect.c - libFuzzer target for pcv_dissect().
 *
 * The first input byte picks a link type (all we support and one we do
 * not), the rest is the frame.  It is copied into a buffer of exactly its
 * length so the sanitizers see any read past caplen.  Beyond not crashing,
 * the answer must keep the contract of pcv/dissect.h, and the flow hash
 * must not depend on the direction; a broken promise aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/dissect.h"
#include "pcv/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int fuzz_dlts[] = {
	PCV_DLT_EN10MB, PCV_DLT_LINUX_SLL, PCV_DLT_LINUX_SLL2, PCV_DLT_RAW,
	PCV_DLT_IPV4,   PCV_DLT_IPV6,      PCV_DLT_NULL,       PCV_DLT_LOOP,
	101, /* LINKTYPE_RAW */
	147, /* DLT_USER0: not ours */
};

#define NDLTS (sizeof(fuzz_dlts) / sizeof(fuzz_dlts[0]))

static void check(int ok)
{
	if (!ok)
		abort();
}

static void check_answer(int r, int dlt, const struct pcv_dissect *d,
			 uint32_t caplen)
{
	if (!pcv_dlt_supported(dlt)) {
		check(r == PCV_ELINKTYPE);
		check(d->flags == 0 && d->l3_off == PCV_OFF_NONE);
		return;
	}
	check(r == 0 || r == 1);
	check((r == 0) == (d->key.family != 0));
	check(d->key.family == 0 || d->key.family == 4 || d->key.family == 6);
	check(d->l3_off == PCV_OFF_NONE || d->l3_off <= caplen);
	check(d->l4_off == PCV_OFF_NONE ||
	      (d->l4_off <= caplen && d->l4_off > d->l3_off));
	check(!(d->flags & PCV_DF_L4) || d->l4_off != PCV_OFF_NONE);
	check(d->payload_off == PCV_OFF_NONE ||
	      ((d->flags & PCV_DF_L4) && d->payload_off <= caplen &&
	       d->payload_off > d->l4_off));
	check((d->nvlan != 0) == !!(d->flags & PCV_DF_VLAN));
	check((d->nmpls != 0) == !!(d->flags & PCV_DF_MPLS));
	check(d->nmpls <= PCV_DISSECT_MAX_MPLS);
	check(!(d->flags & PCV_DF_FRAG_LATER) || (d->flags & PCV_DF_FRAG));
	check(!(d->flags & PCV_DF_FRAG_LATER) || d->l4_off == PCV_OFF_NONE);
	check(d->key.vlan == (d->nvlan ? d->vlan_ids[0] : 0));
}

static void check_hash(const struct pcv_flow_key *k)
{
	struct pcv_flow_key r = *k, c = *k;
	bool icmp = k->proto == 1 || k->proto == 58;

	memcpy(r.src, k->dst, sizeof(r.src));
	memcpy(r.dst, k->src, sizeof(r.dst));
	if (!icmp) {
		r.sport = k->dport;
		r.dport = k->sport;
	}
	check(pcv_flow_key_hash(k) == pcv_flow_key_hash(&r));
	pcv_flow_key_canon(&c);
	pcv_flow_key_canon(&r);
	check(memcmp(&c, &r, sizeof(c)) == 0);
	check(!pcv_flow_key_canon(&c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcv_dissect d;
	uint8_t *frame;
	uint32_t len;
	int dlt, r;

	if (size == 0 || size - 1 > UINT32_MAX)
		return 0;
	dlt = fuzz_dlts[data[0] % NDLTS];
	len = (uint32_t)(size - 1);
	frame = malloc(len ? len : 1);
	if (!frame)
		return 0;
	memcpy(frame, data + 1, len);

	r = pcv_dissect(frame, len, dlt, &d);
	check_answer(r, dlt, &d, len);
	if (r == 0)
		check_hash(&d.key);

	free(frame);
	return 0;
}
