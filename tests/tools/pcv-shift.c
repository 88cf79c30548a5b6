// SPDX-License-Identifier: MIT
/*
 * pcv-shift.c - copy a capture file with its timestamps moved, for the
 * benchmarks: bench/bench-query.sh replays the corpus many times, each
 * copy later than the one before, into a store of several GiB.
 *
 *   pcv-shift [-t OFFSET] [-g MAXGAP] [-x N] IN OUT
 *
 * Reads IN (pcap or pcapng, through libpcap at nanosecond precision) and
 * writes OUT as a nanosecond pcap file with IN's link type and snap
 * length.  Every timestamp is first compressed (-g: a gap between two
 * packets longer than MAXGAP, forwards or backwards, becomes MAXGAP) and
 * then moved by OFFSET.  With -x, the second byte of the IPv4 source and
 * destination addresses of Ethernet IPv4 frames (untagged, or under one or
 * two 802.1Q/802.1ad tags) is XORed with N, so that each copy has its own
 * hosts; the IPv4 header checksum and the TCP or UDP checksum are adjusted
 * incrementally (RFC 1624), so a right checksum stays right and a wrong
 * one stays wrong.  Every other frame, and any frame too short to hold
 * what would be changed, is copied as it is.
 *
 * Exit status: 0 done, 1 IN unreadable or damaged (what was read before
 * the damage is written) or OUT unwritable, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "pcv-shift"
#define EXIT_USAGE 2
#define NS_PER_SEC INT64_C(1000000000)
/* The largest instant a classic pcap record holds: 32-bit seconds. */
#define MAX_TS_NS (INT64_C(0xffffffff) * NS_PER_SEC + NS_PER_SEC - 1)

#define ETH_HLEN 14u
#define ETHERTYPE_IPV4 0x0800u
#define ETHERTYPE_VLAN 0x8100u
#define ETHERTYPE_QINQ 0x88a8u
#define IPV4_MIN_HLEN 20u

struct opts {
	int64_t offset_ns;   /* -t */
	int64_t max_gap_ns;  /* -g; 0: keep every gap */
	unsigned int xor;    /* -x; 0: leave addresses alone */
	const char *in, *out;
};

static void usage(FILE *f)
{
	fputs(
"usage: " PROG " [-t OFFSET] [-g MAXGAP] [-x N] IN OUT\n"
"\n"
"Copy the capture file IN (pcap or pcapng; '-' for standard input) to OUT\n"
"(a nanosecond pcap file; '-' for standard output) with IN's link type and\n"
"snap length, moving every timestamp.\n"
"\n"
"  -t, --offset OFFSET   add OFFSET to every timestamp (may be negative)\n"
"  -g, --max-gap MAXGAP  first cut every gap between two packets (forwards\n"
"                        or backwards) longer than MAXGAP to MAXGAP, so the\n"
"                        copy spans at most (packets - 1) x MAXGAP\n"
"  -x, --xor-ipv4 N      XOR the second byte of the IPv4 source and\n"
"                        destination of Ethernet IPv4 frames (also under\n"
"                        one or two VLAN tags) with N (0-255), adjusting the\n"
"                        IPv4, TCP and UDP checksums; other frames as is\n"
"  -h, --help            this text\n"
"\n"
"OFFSET and MAXGAP are integers in nanoseconds, or with a unit: ns, us,\n"
"ms, s, m, h, d.  A timestamp moved outside 1970..2106 (what a pcap\n"
"record holds) is clamped, and counted on standard error.\n"
"\n"
"Example: the corpus, its gaps cut to 10 ms, starting at 2026-01-01:\n"
"  " PROG " -g 10ms -t 1767225600s -x 7 mixed-small.pcap copy7.pcap\n",
	      f);
}

static void __attribute__((noreturn)) usage_error(const char *msg)
{
	fprintf(stderr, PROG ": %s\nTry '" PROG " --help'.\n", msg);
	exit(EXIT_USAGE);
}

/* parse_dur: "-12", "10ms", "1767225600s" to nanoseconds; -1 if bad. */
static int parse_dur(const char *s, bool allow_neg, int64_t *ns)
{
	static const struct { const char *unit; int64_t mul; } units[] = {
		{ "", 1 }, { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
		{ "s", NS_PER_SEC }, { "m", 60 * NS_PER_SEC },
		{ "h", 3600 * NS_PER_SEC }, { "d", 86400 * NS_PER_SEC },
	};
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || errno || (!allow_neg && v < 0))
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (__builtin_mul_overflow((int64_t)v, units[i].mul, ns))
			return -1;
		return 0;
	}
	return -1;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "offset", required_argument, NULL, 't' },
		{ "max-gap", required_argument, NULL, 'g' },
		{ "xor-ipv4", required_argument, NULL, 'x' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, ":t:g:x:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (parse_dur(optarg, true, &o->offset_ns) < 0)
				usage_error("-t: not a time offset");
			break;
		case 'g':
			if (parse_dur(optarg, false, &o->max_gap_ns) < 0 ||
			    o->max_gap_ns == 0)
				usage_error("-g: not a positive duration");
			break;
		case 'x':
			errno = 0;
			v = strtol(optarg, &end, 0);
			if (end == optarg || *end || errno || v < 0 || v > 255)
				usage_error("-x: not a number from 0 to 255");
			o->xor = (unsigned int)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			usage_error("an option is missing its argument");
		default:
			usage_error("unknown option");
		}
	}
	if (argc - optind != 2)
		usage_error("give IN and OUT");
	o->in = argv[optind];
	o->out = argv[optind + 1];
}

/* ===== address rewriting ================================================= */

static unsigned int get16(const uint8_t *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

static void put16(uint8_t *p, unsigned int v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * csum_adjust: the ones' complement checksum at p after one 16-bit word
 * it covers went from old to new (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
 */
static void csum_adjust(uint8_t *p, unsigned int old, unsigned int new)
{
	uint32_t sum = (~get16(p) & 0xffffu) + (~old & 0xffffu) + new;

	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	put16(p, ~sum & 0xffffu);
}

/*
 * xor_ipv4: rewrite one Ethernet frame of caplen bytes in place; see the
 * top of the file.  Touches nothing unless the bytes to change and the
 * checksums to adjust are all captured.
 */
static void xor_ipv4(uint8_t *f, uint32_t caplen, unsigned int x)
{
	uint32_t off = 12, l4;
	unsigned int et, proto, w[2], nw[2], csum_at = 0;

	if (caplen < ETH_HLEN)
		return;
	et = get16(f + off);
	for (int tags = 0; tags < 2 && (et == ETHERTYPE_VLAN ||
					et == ETHERTYPE_QINQ); tags++) {
		off += 4;
		if (caplen < off + 2)
			return;
		et = get16(f + off);
	}
	off += 2; /* the IPv4 header */
	if (et != ETHERTYPE_IPV4 || caplen < off + IPV4_MIN_HLEN ||
	    f[off] >> 4 != 4 || (f[off] & 0x0f) * 4u < IPV4_MIN_HLEN)
		return;
	l4 = off + (f[off] & 0x0f) * 4u;
	proto = f[off + 9];
	/* The L4 checksum, over a pseudo-header with both addresses, is in
	 * the first fragment only: a later one has no L4 header. */
	if ((get16(f + off + 6) & 0x1fffu) == 0) {
		if (proto == 6 && caplen >= l4 + 18)
			csum_at = l4 + 16;
		else if (proto == 17 && caplen >= l4 + 8 && get16(f + l4 + 6))
			csum_at = l4 + 6;
	}
	for (int i = 0; i < 2; i++) {
		uint8_t *a = f + off + 12 + 4 * i;

		w[i] = get16(a);
		a[1] ^= (uint8_t)x;
		nw[i] = get16(a);
		csum_adjust(f + off + 10, w[i], nw[i]);
		if (csum_at)
			csum_adjust(f + csum_at, w[i], nw[i]);
	}
	/* UDP: a computed 0 goes out as 0xffff (0 means "no checksum"). */
	if (csum_at && proto == 17 && get16(f + csum_at) == 0)
		put16(f + csum_at, 0xffff);
}

/* ===== copy ============================================================== */

/* shift: the new instant of a record at ts_ns, the one before at prev. */
static int64_t shift(const struct opts *o, int64_t ts_ns, int64_t *prev_in,
		     int64_t *prev_out, bool first)
{
	int64_t t = ts_ns;

	if (o->max_gap_ns && !first) {
		int64_t gap = ts_ns - *prev_in;

		if (gap > o->max_gap_ns)
			gap = o->max_gap_ns;
		else if (gap < -o->max_gap_ns)
			gap = -o->max_gap_ns;
		t = *prev_out + gap;
	}
	*prev_in = ts_ns;
	*prev_out = t;
	/* |t| <= 2^32 s + packets x MAXGAP, far from overflow; the offset
	 * may not be. */
	if (__builtin_add_overflow(t, o->offset_ns, &t))
		t = o->offset_ns > 0 ? INT64_MAX : INT64_MIN;
	return t;
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h, oh;
	const u_char *data;
	uint8_t *buf = NULL;
	uint64_t n = 0, clamped = 0;
	int64_t prev_in = 0, prev_out = 0;
	pcap_dumper_t *d;
	struct opts o;
	bool eth;
	pcap_t *p;
	int rc = 0, r;

	parse_opts(argc, argv, &o);
	p = pcap_open_offline_with_tstamp_precision(o.in,
			PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!p) {
		fprintf(stderr, PROG ": %s\n", errbuf);
		return 1;
	}
	d = pcap_dump_open(p, o.out);
	if (!d) {
		fprintf(stderr, PROG ": %s\n", pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	eth = pcap_datalink(p) == DLT_EN10MB;
	if (o.xor && eth && !(buf = malloc((size_t)pcap_snapshot(p) + 1))) {
		fprintf(stderr, PROG ": out of memory\n");
		rc = 1;
		goto out;
	}
	while ((r = pcap_next_ex(p, &h, &data)) == 1) {
		/* A record holds unsigned 32-bit seconds; libpcap may
		 * sign-extend them, and a damaged fraction may be >= 1 s. */
		int64_t ts = (int64_t)(uint32_t)h->ts.tv_sec * NS_PER_SEC +
			     (uint32_t)h->ts.tv_usec;

		ts = shift(&o, ts, &prev_in, &prev_out, n == 0);
		if (ts < 0 || ts > MAX_TS_NS) {
			ts = ts < 0 ? 0 : MAX_TS_NS;
			clamped++;
		}
		oh = *h;
		oh.ts.tv_sec = (time_t)(ts / NS_PER_SEC);
		oh.ts.tv_usec = (suseconds_t)(ts % NS_PER_SEC);
		/* libpcap never hands out more than the snap length. */
		if (buf && h->caplen <= (uint32_t)pcap_snapshot(p)) {
			memcpy(buf, data, h->caplen);
			xor_ipv4(buf, h->caplen, o.xor);
			data = buf;
		}
		pcap_dump((u_char *)d, &oh, data);
		n++;
	}
	if (r == -1) {
		fprintf(stderr, PROG ": %s: after %" PRIu64 " records: %s\n",
			o.in, n, pcap_geterr(p));
		rc = 1;
	}
out:
	if (pcap_dump_flush(d) < 0 || ferror(pcap_dump_file(d))) {
		fprintf(stderr, PROG ": %s: write error: %s\n", o.out,
			strerror(errno));
		rc = 1;
	}
	pcap_dump_close(d);
	pcap_close(p);
	free(buf);
	if (clamped)
		fprintf(stderr, PROG ": %" PRIu64 " timestamps clamped to "
			"1970..2106\n", clamped);
	return rc;
}
