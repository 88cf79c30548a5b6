/* SPDX-License-Identifier: MIT */
/*
 * pcv/dissect.h - the packet dissector: link, network and transport layers,
 * the flow key, layer offsets and TCP flags.
 *
 * One pass over the bytes, bounded by the captured length whatever the
 * headers claim.  Used by the viewer, the filters, the flow index and the
 * query engine, so it never allocates and keeps no state between calls.
 */
#ifndef PCV_DISSECT_H
#define PCV_DISSECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Link types we dissect: libpcap's DLT_ values, which are what
 * pcap_datalink() and pcv_get_linktype() report. */
#define PCV_DLT_NULL 0        /* BSD loopback, host-order AF_ word */
#define PCV_DLT_EN10MB 1      /* Ethernet */
#define PCV_DLT_RAW 12        /* raw IPv4/IPv6 (LINKTYPE_RAW 101 maps here) */
#define PCV_DLT_LOOP 108      /* OpenBSD loopback, network-order AF_ word */
#define PCV_DLT_LINUX_SLL 113 /* Linux cooked v1 */
#define PCV_DLT_IPV4 228
#define PCV_DLT_IPV6 229
#define PCV_DLT_LINUX_SLL2 276 /* Linux cooked v2 */

#define PCV_DISSECT_MAX_VLAN 2   /* tags kept; deeper stacks are walked */
#define PCV_DISSECT_MAX_MPLS 8   /* labels walked before giving up */
#define PCV_DISSECT_MAX_EXTHDR 8 /* IPv6 extension headers walked */

/* struct pcv_dissect.flags */
enum pcv_dissect_flag {
	PCV_DF_VLAN = 1u << 0,      /* at least one 802.1Q/802.1ad tag */
	PCV_DF_MPLS = 1u << 1,      /* an MPLS label stack */
	PCV_DF_FRAG = 1u << 2,      /* an IP fragment (first or not) */
	PCV_DF_FRAG_LATER = 1u << 3, /* a non-first fragment: no L4 header */
	PCV_DF_IP_OPTIONS = 1u << 4, /* IPv4 header longer than 20 bytes */
	PCV_DF_TRUNCATED = 1u << 5, /* a header ran past the captured length */
	PCV_DF_MALFORMED = 1u << 6, /* a header field is impossible */
	PCV_DF_L4 = 1u << 7,        /* the transport header was read whole */
};

/*
 * The flow key.  Addresses are in network byte order; an IPv4 address
 * occupies the first 4 bytes of its 16 and the rest are zero.  Ports are
 * in host byte order and zero for protocols without them.  For ICMP and
 * ICMPv6, sport holds the type and dport the code.  vlan is the outermost
 * VLAN ID (0 when untagged: see PCV_DF_VLAN).
 */
struct pcv_flow_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint16_t vlan;
	uint8_t family; /* 4, 6, or 0 when there is no IP layer */
	uint8_t proto;  /* IP protocol number (after IPv6 extension headers) */
};

/*
 * What the dissector found.  Offsets are from the start of the frame; an
 * offset of PCV_OFF_NONE means the layer is absent or was not reached.
 */
#define PCV_OFF_NONE 0xffff

struct pcv_dissect {
	struct pcv_flow_key key;
	uint16_t l3_off;      /* IPv4/IPv6 header (or the unknown L3 payload) */
	uint16_t l4_off;      /* TCP/UDP/SCTP/ICMP header */
	uint16_t payload_off; /* first byte after the L4 header */
	uint16_t ethertype;   /* innermost EtherType (0x0800, 0x86dd, ...) */
	uint16_t vlan_ids[PCV_DISSECT_MAX_VLAN]; /* outermost first */
	uint8_t nvlan;        /* tags seen (may exceed PCV_DISSECT_MAX_VLAN) */
	uint8_t nmpls;        /* MPLS labels seen */
	uint8_t tcp_flags;    /* TCP flags byte (FIN 0x01 ... CWR 0x80) */
	uint8_t ttl;          /* IPv4 TTL or IPv6 hop limit */
	uint16_t frag_off;    /* fragment offset in bytes */
	uint32_t frag_id;     /* IPv4 identification or IPv6 fragment id */
	uint32_t flags;       /* enum pcv_dissect_flag */
};

/*
 * pcv_dissect() - dissect one frame of link type @dlt (PCV_DLT_*).
 * @pkt:    frame bytes
 * @caplen: bytes captured; nothing at or past pkt[caplen] is read
 * @dlt:    link type of the frame
 * @d:      filled in whole, also on failure
 *
 * Return: 0 when an IP layer was found (d->key.family is 4 or 6),
 * 1 when the frame was understood but carries no IP (ARP, LLDP, ...),
 * PCV_ELINKTYPE for a link type we do not dissect.  Truncation and
 * malformation are flags, not errors: what was read before them stands.
 */
int pcv_dissect(const uint8_t *pkt, uint32_t caplen, int dlt,
		struct pcv_dissect *d);

/*
 * pcv_flow_key_hash() - a 64-bit hash of a key, equal for both directions
 * of one flow (addresses and ports are ordered before hashing).
 */
uint64_t pcv_flow_key_hash(const struct pcv_flow_key *k);

/*
 * pcv_flow_key_canon() - order a key so that both directions of a flow
 * give the same key: the (address, port) that compares lower becomes src.
 * Return: true when src and dst were swapped.
 */
bool pcv_flow_key_canon(struct pcv_flow_key *k);

/*
 * pcv_dlt_supported() - whether pcv_dissect() handles link type @dlt.
 */
bool pcv_dlt_supported(int dlt);

#endif /* PCV_DISSECT_H */
