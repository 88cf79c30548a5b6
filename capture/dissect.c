// SPDX-License-Identifier: MIT
/*
 * dissect.c - the packet dissector (pcv/dissect.h): link layer, the VLAN,
 * MPLS, PPPoE and LLC/SNAP shims, IPv4/IPv6 with extension headers and the
 * fixed transport headers, in one forward pass; plus the flow key hash.
 *
 * Every read is checked against a limit that never exceeds the captured
 * length: caplen for link and IP headers; for IPv6 extension headers and
 * the transport header the smaller of caplen and the end the IP length
 * field gives.  A header cut by the capture sets PCV_DF_TRUNCATED; one cut
 * by its own IP length, or a field that cannot be, sets PCV_DF_MALFORMED.
 *
 * Offsets are uint32_t while we work and uint16_t in struct pcv_dissect:
 * every walk is bounded, so the deepest header we can reach stays well
 * below PCV_OFF_NONE (see the _Static_assert below).
 *
 * Conventions for the fields the header leaves open:
 *  - l3_off is set once the link layer (and its shims) has been read whole,
 *    even if nothing follows it; l4_off once the IP header (and the IPv6
 *    extension chain) has been read whole and sound, for any protocol but
 *    "no next header" (59) and non-first fragments; payload_off only with
 *    PCV_DF_L4 and whole TCP options.  ICMP and ICMPv6 headers count as
 *    8 bytes (type, code, checksum, the 4-byte rest of header).
 *  - ethertype is the innermost EtherType seen, also for link types that
 *    have none (raw IP, BSD loopback: 0x0800/0x86dd) and after MPLS or
 *    PPPoE when they carry IP; 0 for 802.3/LLC frames without SNAP.
 *  - An IPv4 or IPv6 header shorter than its fixed part returns 1 with
 *    PCV_DF_TRUNCATED: there is no address to key a flow on.
 *  - A stack deeper than its walk (VLAN tags past 255, MPLS labels past
 *    PCV_DISSECT_MAX_MPLS, IPv6 extension headers past
 *    PCV_DISSECT_MAX_EXTHDR) stops there with PCV_DF_MALFORMED.
 */
#include <string.h>

#include "pcv/dissect.h"
#include "pcv/error.h"

#define ETH_HLEN 14
#define SLL_HLEN 16
#define SLL2_HLEN 20
#define VLAN_HLEN 4
#define MPLS_HLEN 4
#define PPPOE_HLEN 8 /* 6-byte PPPoE session header + 2-byte PPP protocol */
#define SNAP_HLEN 8  /* LLC (3) + OUI (3) + type (2) */
#define IPV4_HLEN 20
#define IPV6_HLEN 40
#define IPV6_EXT_MAXLEN 2048 /* (255 + 1) * 8 */
#define TCP_MAXLEN 60

#define ETHERTYPE_MIN 0x0600 /* below this it is an 802.3 length */
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_8021Q 0x8100
#define ETHERTYPE_8021AD 0x88a8
#define ETHERTYPE_QINQ 0x9100 /* pre-802.1ad vendor S-tag */
#define ETHERTYPE_MPLS 0x8847
#define ETHERTYPE_MPLS_MC 0x8848
#define ETHERTYPE_PPPOE 0x8864

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057

#define SLL_PROTO_8022 0x0004 /* Linux ETH_P_802_2: an LLC header follows */
#define ARPHRD_NETLINK 824     /* nlmon: the protocol is a netlink family */

#define LINKTYPE_RAW 101 /* the pcap file value of DLT_RAW */

/* nvlan is a uint8_t: it counts every tag, so the walk stops there. */
#define MAX_VLAN_WALK 255

enum {
	IPP_HOPOPTS = 0,
	IPP_ICMP = 1,
	IPP_TCP = 6,
	IPP_UDP = 17,
	IPP_ROUTING = 43,
	IPP_FRAGMENT = 44,
	IPP_AH = 51,
	IPP_ICMPV6 = 58,
	IPP_NONE = 59,
	IPP_DSTOPTS = 60,
	IPP_SCTP = 132,
	IPP_UDPLITE = 136,
};

/*
 * The deepest header end: the largest link header, every VLAN tag, one
 * LLC/SNAP header, PPPoE or MPLS, IPv6 with the longest extension chain,
 * TCP with full options.  It must fit in a uint16_t offset.
 */
_Static_assert(SLL2_HLEN + MAX_VLAN_WALK * VLAN_HLEN + SNAP_HLEN +
			       PPPOE_HLEN + PCV_DISSECT_MAX_MPLS * MPLS_HLEN +
			       IPV6_HLEN +
			       PCV_DISSECT_MAX_EXTHDR * IPV6_EXT_MAXLEN +
			       TCP_MAXLEN <
		       PCV_OFF_NONE,
	       "dissector offsets must fit in uint16_t");
_Static_assert(sizeof(struct pcv_flow_key) == 40,
	       "struct pcv_flow_key has no padding");

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/*
 * The transport header at @off.  @lim is where the IP datagram (or the
 * capture) ends, @cut the flag for a header that does not fit before it.
 * Ports are kept as soon as their 4 bytes are there; PCV_DF_L4 needs the
 * whole fixed header.
 */
static void dissect_l4(const uint8_t *pkt, uint32_t off, uint32_t lim,
		       uint32_t cut, uint8_t proto, struct pcv_dissect *d)
{
	const uint8_t *p = pkt + off;
	uint32_t avail = lim - off;
	uint32_t hl;

	if (proto == IPP_NONE)
		return;
	d->l4_off = (uint16_t)off;

	switch (proto) {
	case IPP_TCP:
		hl = 20;
		break;
	case IPP_UDP:
	case IPP_UDPLITE:
		hl = 8;
		break;
	case IPP_SCTP:
		hl = 12;
		break;
	case IPP_ICMP:
	case IPP_ICMPV6:
		/* type, code, checksum and the 4-byte rest of header */
		if (avail >= 2) {
			d->key.sport = p[0];
			d->key.dport = p[1];
		}
		if (avail < 8) {
			d->flags |= cut;
			return;
		}
		d->flags |= PCV_DF_L4;
		d->payload_off = (uint16_t)(off + 8);
		return;
	default:
		return;
	}

	if (avail >= 4) {
		d->key.sport = rd16(p);
		d->key.dport = rd16(p + 2);
	}
	if (avail < hl) {
		d->flags |= cut;
		return;
	}

	if (proto == IPP_TCP) {
		d->tcp_flags = p[13];
		hl = (uint32_t)(p[12] >> 4) * 4;
		if (hl < 20) {
			d->flags |= PCV_DF_MALFORMED;
			return;
		}
		d->flags |= PCV_DF_L4;
		if (avail < hl) {
			d->flags |= cut; /* options cut: no payload offset */
			return;
		}
	} else if (proto != IPP_SCTP) {
		/* UDP length, or UDP-Lite checksum coverage: 0 or >= 8 */
		uint16_t len = rd16(p + 4);

		if (len != 0 && len < 8)
			d->flags |= PCV_DF_MALFORMED;
	}
	d->flags |= PCV_DF_L4;
	d->payload_off = (uint16_t)(off + hl);
}

/* What a transport header cut by the IP length (not the capture) means. */
static inline uint32_t ip_cut_flag(const struct pcv_dissect *d)
{
	/* A first fragment may legally end inside the transport header. */
	return d->flags & PCV_DF_FRAG ? 0 : PCV_DF_MALFORMED;
}

static int dissect_ipv4(const uint8_t *pkt, uint32_t caplen, uint32_t off,
			struct pcv_dissect *d)
{
	const uint8_t *p = pkt + off;
	uint32_t hl, tot, lim, cut;
	uint16_t fo;

	d->ethertype = ETHERTYPE_IPV4;
	d->l3_off = (uint16_t)off;
	if (caplen - off < IPV4_HLEN) {
		d->flags |= PCV_DF_TRUNCATED;
		return 1;
	}
	if (p[0] >> 4 != 4) {
		d->flags |= PCV_DF_MALFORMED;
		return 1;
	}

	hl = (uint32_t)(p[0] & 0x0f) * 4;
	tot = rd16(p + 2);
	fo = rd16(p + 6);
	d->ttl = p[8];
	d->frag_id = rd16(p + 4);
	d->key.family = 4;
	d->key.proto = p[9];
	memcpy(d->key.src, p + 12, 4);
	memcpy(d->key.dst, p + 16, 4);

	if (fo & 0x3fff) { /* MF or a non-zero offset */
		d->flags |= PCV_DF_FRAG;
		d->frag_off = (uint16_t)((fo & 0x1fff) << 3);
		if (fo & 0x1fff)
			d->flags |= PCV_DF_FRAG_LATER;
	}
	if (hl < IPV4_HLEN) {
		d->flags |= PCV_DF_MALFORMED;
		return 0;
	}
	if (hl > IPV4_HLEN)
		d->flags |= PCV_DF_IP_OPTIONS;
	if (caplen - off < hl) {
		d->flags |= PCV_DF_TRUNCATED;
		return 0;
	}
	/* A total length of 0 is what TSO leaves in outgoing captures. */
	if (tot != 0 && tot < hl) {
		d->flags |= PCV_DF_MALFORMED;
		return 0;
	}
	if (d->flags & PCV_DF_FRAG_LATER)
		return 0;

	lim = caplen;
	cut = PCV_DF_TRUNCATED;
	if (tot != 0 && tot <= caplen - off) {
		lim = off + tot; /* trailing Ethernet padding is not ours */
		cut = ip_cut_flag(d);
	}
	dissect_l4(pkt, off + hl, lim, cut, d->key.proto, d);
	return 0;
}

static inline bool ipv6_is_ext(uint8_t nh)
{
	/* Mobility (135), ESP (50) and no-next-header (59) end the walk. */
	return nh == IPP_HOPOPTS || nh == IPP_ROUTING ||
	       nh == IPP_FRAGMENT || nh == IPP_DSTOPTS || nh == IPP_AH;
}

static int dissect_ipv6(const uint8_t *pkt, uint32_t caplen, uint32_t off,
			struct pcv_dissect *d)
{
	const uint8_t *p = pkt + off;
	uint32_t plen, lim, q, hl;
	bool ip_short = false;
	uint8_t nh;
	int n;

	d->ethertype = ETHERTYPE_IPV6;
	d->l3_off = (uint16_t)off;
	if (caplen - off < IPV6_HLEN) {
		d->flags |= PCV_DF_TRUNCATED;
		return 1;
	}
	if (p[0] >> 4 != 6) {
		d->flags |= PCV_DF_MALFORMED;
		return 1;
	}

	plen = rd16(p + 4);
	nh = p[6];
	d->ttl = p[7];
	d->key.family = 6;
	memcpy(d->key.src, p + 8, 16);
	memcpy(d->key.dst, p + 24, 16);

	/* A payload length of 0: a jumbogram or TSO; the capture bounds it. */
	lim = caplen;
	if (plen != 0 && plen <= caplen - off - IPV6_HLEN) {
		lim = off + IPV6_HLEN + plen;
		ip_short = true;
	}

	q = off + IPV6_HLEN;
	for (n = 0; ipv6_is_ext(nh); n++) {
		const uint8_t *e = pkt + q;

		if (n == PCV_DISSECT_MAX_EXTHDR) {
			/* RFC 8200 §4.1 order allows fewer: not a real chain */
			d->flags |= PCV_DF_MALFORMED;
			goto out;
		}
		if (lim - q < 2)
			goto cut;
		if (nh == IPP_FRAGMENT)
			hl = 8;
		else if (nh == IPP_AH)
			hl = ((uint32_t)e[1] + 2) * 4;
		else
			hl = ((uint32_t)e[1] + 1) * 8;
		if (lim - q < hl)
			goto cut;

		if (nh == IPP_FRAGMENT) {
			uint16_t fo = rd16(e + 2);

			d->frag_id = rd32(e + 4);
			d->frag_off = fo & 0xfff8;
			if (fo & 0xfff9) /* an offset or M */
				d->flags |= PCV_DF_FRAG;
			if (fo & 0xfff8) {
				d->flags |= PCV_DF_FRAG_LATER;
				nh = e[0];
				goto out;
			}
		}
		nh = e[0];
		q += hl;
	}

	d->key.proto = nh;
	dissect_l4(pkt, q, lim,
		   ip_short ? ip_cut_flag(d) : (uint32_t)PCV_DF_TRUNCATED, nh,
		   d);
	return 0;

cut:
	/* The unfragmentable part is whole in every fragment: no excuse. */
	d->flags |= ip_short ? PCV_DF_MALFORMED : PCV_DF_TRUNCATED;
out:
	d->key.proto = nh;
	return 0;
}

/* After the MPLS label stack: no type field, so guess from the nibble. */
static int dissect_mpls(const uint8_t *pkt, uint32_t caplen, uint32_t off,
			struct pcv_dissect *d)
{
	int n;

	for (n = 0;; n++) {
		uint32_t lse;

		if (n == PCV_DISSECT_MAX_MPLS) {
			d->flags |= PCV_DF_MALFORMED;
			return 1;
		}
		if (caplen - off < MPLS_HLEN) {
			d->flags |= PCV_DF_TRUNCATED;
			return 1;
		}
		lse = rd32(pkt + off);
		off += MPLS_HLEN;
		d->nmpls++;
		d->flags |= PCV_DF_MPLS;
		if (lse & 0x100) /* bottom of stack */
			break;
	}

	if (off == caplen) {
		d->l3_off = (uint16_t)off;
		d->flags |= PCV_DF_TRUNCATED;
		return 1;
	}
	switch (pkt[off] >> 4) {
	case 4:
		return dissect_ipv4(pkt, caplen, off, d);
	case 6:
		return dissect_ipv6(pkt, caplen, off, d);
	default:
		d->l3_off = (uint16_t)off;
		return 1;
	}
}

static int dissect_pppoe(const uint8_t *pkt, uint32_t caplen, uint32_t off,
			 struct pcv_dissect *d)
{
	const uint8_t *p = pkt + off;

	if (caplen - off < PPPOE_HLEN) {
		d->flags |= PCV_DF_TRUNCATED;
		return 1;
	}
	if (p[0] != 0x11 || p[1] != 0) { /* version 1, type 1, code 0 */
		d->flags |= PCV_DF_MALFORMED;
		return 1;
	}
	off += PPPOE_HLEN;
	switch (rd16(p + 6)) {
	case PPP_IPV4:
		return dissect_ipv4(pkt, caplen, off, d);
	case PPP_IPV6:
		return dissect_ipv6(pkt, caplen, off, d);
	default:
		d->l3_off = (uint16_t)off;
		return 1;
	}
}

/*
 * An 802.2 LLC header at *@offp.  Return: true with *@typep and *@offp
 * updated when it is SNAP carrying an EtherType, false when the frame ends
 * here (flags and l3_off already set).
 */
static bool dissect_llc(const uint8_t *pkt, uint32_t caplen, uint32_t *offp,
			uint16_t *typep, struct pcv_dissect *d)
{
	uint32_t off = *offp;
	const uint8_t *p = pkt + off;
	uint32_t hl;

	if (caplen - off < 3) {
		d->flags |= PCV_DF_TRUNCATED;
		return false;
	}
	if (p[0] == 0xaa && p[1] == 0xaa && p[2] == 0x03) {
		uint32_t oui;

		if (caplen - off < SNAP_HLEN) {
			d->flags |= PCV_DF_TRUNCATED;
			return false;
		}
		oui = (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
		/* RFC 1042 (OUI 0) and 802.1H bridge tunnel carry EtherTypes */
		if (oui == 0 || oui == 0xf8) {
			*typep = rd16(p + 6);
			*offp = off + SNAP_HLEN;
			return true;
		}
		d->l3_off = (uint16_t)(off + SNAP_HLEN);
		return false;
	}
	/* U-format control fields are one byte, I- and S-format two. */
	hl = (p[2] & 3) == 3 ? 3 : 4;
	if (caplen - off < hl) {
		d->flags |= PCV_DF_TRUNCATED;
		return false;
	}
	d->l3_off = (uint16_t)(off + hl);
	return false;
}

/*
 * Everything after an EtherType (or an 802.3 length) at @off: VLAN tags,
 * LLC/SNAP, MPLS, PPPoE, then IP.  Each step moves forward and the loop
 * is bounded: at most MAX_VLAN_WALK tags and one LLC header.
 */
static int dissect_ethertype(const uint8_t *pkt, uint32_t caplen,
			     uint32_t off, uint16_t type,
			     struct pcv_dissect *d)
{
	bool llc_done = false;

	for (;;) {
		switch (type) {
		case ETHERTYPE_IPV4:
			return dissect_ipv4(pkt, caplen, off, d);
		case ETHERTYPE_IPV6:
			return dissect_ipv6(pkt, caplen, off, d);
		case ETHERTYPE_8021Q:
		case ETHERTYPE_8021AD:
		case ETHERTYPE_QINQ: {
			uint16_t vid;

			d->ethertype = type;
			if (caplen - off < VLAN_HLEN) {
				d->flags |= PCV_DF_TRUNCATED;
				return 1;
			}
			if (d->nvlan == MAX_VLAN_WALK) {
				d->flags |= PCV_DF_MALFORMED;
				return 1;
			}
			vid = rd16(pkt + off) & 0x0fff;
			if (d->nvlan < PCV_DISSECT_MAX_VLAN)
				d->vlan_ids[d->nvlan] = vid;
			if (d->nvlan == 0)
				d->key.vlan = vid;
			d->nvlan++;
			d->flags |= PCV_DF_VLAN;
			type = rd16(pkt + off + 2);
			off += VLAN_HLEN;
			break;
		}
		case ETHERTYPE_MPLS:
		case ETHERTYPE_MPLS_MC:
			d->ethertype = type;
			return dissect_mpls(pkt, caplen, off, d);
		case ETHERTYPE_PPPOE:
			d->ethertype = type;
			return dissect_pppoe(pkt, caplen, off, d);
		default:
			if (type < ETHERTYPE_MIN && !llc_done) {
				d->ethertype = 0;
				if (!dissect_llc(pkt, caplen, &off, &type, d))
					return 1;
				llc_done = true;
				break;
			}
			/* ARP, LLDP, ... or a length inside SNAP */
			d->ethertype = type < ETHERTYPE_MIN ? 0 : type;
			d->l3_off = (uint16_t)off;
			return 1;
		}
	}
}

/* Linux cooked capture, v1 and v2: the same fields in another order. */
static int dissect_cooked(const uint8_t *pkt, uint32_t caplen, uint32_t hlen,
			  uint16_t hatype, uint16_t proto,
			  struct pcv_dissect *d)
{
	if (hatype == ARPHRD_NETLINK) {
		d->l3_off = (uint16_t)hlen;
		return 1;
	}
	if (proto == SLL_PROTO_8022)
		return dissect_ethertype(pkt, caplen, hlen, 0, d);
	if (proto < ETHERTYPE_MIN) { /* Novell 802.3, CAN, ...: no IP */
		d->l3_off = (uint16_t)hlen;
		return 1;
	}
	return dissect_ethertype(pkt, caplen, hlen, proto, d);
}

/* BSD loopback: a 4-byte address family, host or network order. */
static int dissect_af(const uint8_t *pkt, uint32_t caplen, bool host_order,
		      struct pcv_dissect *d)
{
	uint32_t af;

	if (caplen < 4) {
		d->flags |= PCV_DF_TRUNCATED;
		return 1;
	}
	af = rd32(pkt);
	/* Written by a host of either order: families are small numbers. */
	if (host_order && (af & 0xffff0000))
		af = __builtin_bswap32(af);

	switch (af) {
	case 2: /* AF_INET everywhere */
		return dissect_ipv4(pkt, caplen, 4, d);
	case 10: /* AF_INET6: Linux */
	case 24: /* OpenBSD, NetBSD */
	case 28: /* FreeBSD, DragonFly */
	case 30: /* macOS */
		return dissect_ipv6(pkt, caplen, 4, d);
	default:
		d->l3_off = 4;
		return 1;
	}
}

static int dissect_raw(const uint8_t *pkt, uint32_t caplen,
		       struct pcv_dissect *d)
{
	if (caplen == 0) {
		d->l3_off = 0;
		d->flags |= PCV_DF_TRUNCATED;
		return 1;
	}
	switch (pkt[0] >> 4) {
	case 4:
		return dissect_ipv4(pkt, caplen, 0, d);
	case 6:
		return dissect_ipv6(pkt, caplen, 0, d);
	default:
		d->l3_off = 0;
		d->flags |= PCV_DF_MALFORMED;
		return 1;
	}
}

int pcv_dissect(const uint8_t *pkt, uint32_t caplen, int dlt,
		struct pcv_dissect *d)
{
	memset(d, 0, sizeof(*d));
	d->l3_off = PCV_OFF_NONE;
	d->l4_off = PCV_OFF_NONE;
	d->payload_off = PCV_OFF_NONE;

	switch (dlt) {
	case PCV_DLT_EN10MB:
		if (caplen < ETH_HLEN)
			break;
		return dissect_ethertype(pkt, caplen, ETH_HLEN,
					 rd16(pkt + 12), d);
	case PCV_DLT_LINUX_SLL:
		if (caplen < SLL_HLEN)
			break;
		return dissect_cooked(pkt, caplen, SLL_HLEN, rd16(pkt + 2),
				      rd16(pkt + 14), d);
	case PCV_DLT_LINUX_SLL2:
		if (caplen < SLL2_HLEN)
			break;
		return dissect_cooked(pkt, caplen, SLL2_HLEN, rd16(pkt + 8),
				      rd16(pkt), d);
	case PCV_DLT_RAW:
	case LINKTYPE_RAW:
		return dissect_raw(pkt, caplen, d);
	case PCV_DLT_IPV4:
		return dissect_ipv4(pkt, caplen, 0, d);
	case PCV_DLT_IPV6:
		return dissect_ipv6(pkt, caplen, 0, d);
	case PCV_DLT_NULL:
		return dissect_af(pkt, caplen, true, d);
	case PCV_DLT_LOOP:
		return dissect_af(pkt, caplen, false, d);
	default:
		return PCV_ELINKTYPE;
	}
	d->flags |= PCV_DF_TRUNCATED; /* a link header cut short */
	return 1;
}

bool pcv_dlt_supported(int dlt)
{
	switch (dlt) {
	case PCV_DLT_NULL:
	case PCV_DLT_EN10MB:
	case PCV_DLT_RAW:
	case LINKTYPE_RAW:
	case PCV_DLT_LOOP:
	case PCV_DLT_LINUX_SLL:
	case PCV_DLT_IPV4:
	case PCV_DLT_IPV6:
	case PCV_DLT_LINUX_SLL2:
		return true;
	default:
		return false;
	}
}

/* ---- flow key ---------------------------------------------------------- */

static inline uint64_t be64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* ICMP "ports" are the type and code: they belong to no endpoint. */
static inline bool key_is_icmp(const struct pcv_flow_key *k)
{
	return k->proto == IPP_ICMP || k->proto == IPP_ICMPV6;
}

/*
 * Whether @k is in reverse order: dst's (address, port) below src's.
 * Two big-endian 64-bit compares order the addresses as memcmp() would.
 */
static inline bool key_reversed(const struct pcv_flow_key *k, bool icmp)
{
	uint64_t s = be64(k->src), d = be64(k->dst);

	if (s != d)
		return s > d;
	s = be64(k->src + 8);
	d = be64(k->dst + 8);
	if (s != d)
		return s > d;
	return !icmp && k->sport > k->dport;
}

bool pcv_flow_key_canon(struct pcv_flow_key *k)
{
	bool icmp = key_is_icmp(k);
	uint8_t a[16];

	if (!key_reversed(k, icmp))
		return false;
	memcpy(a, k->src, sizeof(a));
	memcpy(k->src, k->dst, sizeof(a));
	memcpy(k->dst, a, sizeof(a));
	if (!icmp) {
		uint16_t t = k->sport;

		k->sport = k->dport;
		k->dport = t;
	}
	return true;
}

/* Odd constants with no structure: fractional parts of sqrt 2, 3 and 5. */
#define HASH_K0 0x6a09e667f3bcc909ULL
#define HASH_K1 0xbb67ae8584caa73bULL
#define HASH_K2 0x3c6ef372fe94f82bULL

static inline uint64_t hash_word(uint64_t h, uint64_t w)
{
	h = (h ^ w) * HASH_K1;
	return h ^ (h >> 29);
}

/*
 * The canonical key's words through a multiply-xorshift chain.  Words are
 * read big-endian, so a hash kept on disk means the same on every host.
 */
uint64_t pcv_flow_key_hash(const struct pcv_flow_key *k)
{
	bool icmp = key_is_icmp(k);
	bool rev = key_reversed(k, icmp);
	const uint8_t *lo = rev ? k->dst : k->src;
	const uint8_t *hi = rev ? k->src : k->dst;
	uint64_t sport = rev && !icmp ? k->dport : k->sport;
	uint64_t dport = rev && !icmp ? k->sport : k->dport;
	uint64_t h = HASH_K0;

	h = hash_word(h, be64(lo));
	h = hash_word(h, be64(lo + 8));
	h = hash_word(h, be64(hi));
	h = hash_word(h, be64(hi + 8));
	h = hash_word(h, sport | dport << 16 | (uint64_t)k->vlan << 32 |
				 (uint64_t)k->family << 48 |
				 (uint64_t)k->proto << 56);
	/* finish: spread the last word's high bits over all 64 */
	h *= HASH_K2;
	h ^= h >> 32;
	h *= HASH_K1;
	h ^= h >> 29;
	return h;
}
