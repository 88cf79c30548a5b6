// SPDX-License-Identifier: MIT
/*
 * cli-print.c - one tcpdump-like line per packet, from the dissector:
 * the live viewer's -v and pcv-query --format text.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "pcv/dissect.h"
#include "pcv/pcv.h"

/* Local time, as tcpdump prints it (with -tttt for the date). */
static void fmt_time(uint64_t ts_ns, bool date, char *buf, size_t len)
{
	time_t sec = (time_t)(ts_ns / 1000000000u);
	struct tm tm;
	int n = 0;

	localtime_r(&sec, &tm);
	if (date)
		n = snprintf(buf, len, "%04d-%02d-%02d ", tm.tm_year + 1900,
			     tm.tm_mon + 1, tm.tm_mday);
	snprintf(buf + n, len - (size_t)n, "%02d:%02d:%02d.%09u", tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (unsigned)(ts_ns % 1000000000u));
}

static const char *proto_name(uint8_t proto, char *buf, size_t len)
{
	switch (proto) {
	case 6:
		return "TCP";
	case 17:
		return "UDP";
	case 132:
		return "SCTP";
	case 1:
		return "ICMP";
	case 58:
		return "ICMP6";
	case 136:
		return "UDPLite";
	default:
		snprintf(buf, len, "proto %u", proto);
		return buf;
	}
}

static void fmt_tcp_flags(uint8_t f, char *buf)
{
	static const char names[] = "FSRP.UEW"; /* tcpdump's letters */
	size_t n = 0;

	for (int i = 0; i < 8; i++) {
		if (f & (1u << i))
			buf[n++] = names[i];
	}
	if (n == 0)
		buf[n++] = 'n'; /* "none", as tcpdump prints it */
	buf[n] = '\0';
}

void cli_print_packet(FILE *f, const struct pcv_packet *p,
		      const struct pcv_dissect *d, int rc, int linktype,
		      bool date)
{
	const struct pcv_flow_key *k = &d->key;
	char ts[48], src[INET6_ADDRSTRLEN], dst[INET6_ADDRSTRLEN], pb[16];
	char flags[10];
	int af = k->family == 6 ? AF_INET6 : AF_INET;
	bool ports = (d->flags & PCV_DF_L4) &&
		     (k->proto == 6 || k->proto == 17 || k->proto == 132 ||
		      k->proto == 136);

	fmt_time(p->ts_ns, date, ts, sizeof(ts));
	fprintf(f, "%s ", ts);
	for (unsigned i = 0; i < d->nvlan && i < PCV_DISSECT_MAX_VLAN; i++)
		fprintf(f, "vlan %u, ", d->vlan_ids[i]);
	if (d->flags & PCV_DF_MPLS)
		fprintf(f, "mpls (%u labels), ", d->nmpls);
	if (rc != 0) {
		if (rc == PCV_ELINKTYPE)
			fprintf(f, "link type %d", linktype);
		else
			fprintf(f, "ethertype 0x%04x", d->ethertype);
	} else {
		inet_ntop(af, k->src, src, sizeof(src));
		inet_ntop(af, k->dst, dst, sizeof(dst));
		fprintf(f, "%s ", k->family == 6 ? "IP6" : "IP");
		if (ports)
			fprintf(f, "%s.%u > %s.%u: %s", src, k->sport, dst,
			       k->dport, proto_name(k->proto, pb, sizeof(pb)));
		else
			fprintf(f, "%s > %s: %s", src, dst,
			       proto_name(k->proto, pb, sizeof(pb)));
		if (k->proto == 6 && (d->flags & PCV_DF_L4)) {
			fmt_tcp_flags(d->tcp_flags, flags);
			fprintf(f, " [%s]", flags);
		} else if ((k->proto == 1 || k->proto == 58) &&
			   (d->flags & PCV_DF_L4)) {
			fprintf(f, " type %u code %u", k->sport, k->dport);
		}
		if (d->flags & PCV_DF_FRAG)
			fprintf(f, " frag id %" PRIu32 " off %u", d->frag_id,
			       d->frag_off);
	}
	fprintf(f, ", length %u", p->len);
	if (p->caplen < p->len)
		fprintf(f, " (captured %u)", p->caplen);
	if (d->flags & PCV_DF_TRUNCATED)
		fprintf(f, " [truncated]");
	if (d->flags & PCV_DF_MALFORMED)
		fprintf(f, " [malformed]");
	fputc('\n', f);
}
