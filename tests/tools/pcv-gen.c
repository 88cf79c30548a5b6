// SPDX-License-Identifier: MIT
/*
 * pcv-gen.c - a deterministic traffic generator for the integration tests,
 * the demo and the benchmarks.
 *
 * It builds COUNT Ethernet frames from a seed (IPv4/IPv6, TCP/UDP/ICMP,
 * optionally inside an 802.1Q tag) and either sends them out of an
 * interface through an AF_PACKET socket (-i), optionally keeping a pcap of
 * exactly what went out (-w), or only writes them into a pcap file (-o, no
 * privileges needed).  The same seed, mix and sizes give the same frames
 * whatever the output or the rate, so a test can regenerate what it expects
 * to capture.  Every frame's L4 payload starts with its 0-based index as a
 * 4-byte big-endian number, so frames can be told apart and counted.
 *
 * Frames go to 02:00:00:00:00:02 from 02:00:00:00:00:01, locally
 * administered addresses no real interface has, so the receiving stack
 * drops them as PACKET_OTHERHOST and never answers.
 *
 * Layout: options and usage; PRNG and mix; frame building; the pcap and
 * socket outputs; main.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROG "pcv-gen"

#define EXIT_USAGE 2
#define MAX_FRAME 65535u   /* IPv4 total length fits in 16 bits */
#define MIN_FRAME 14u      /* an Ethernet header */
#define SEQ_LEN 4u         /* the frame index at the start of the payload */
#define NFLOWS 64u         /* distinct address/port pairs per kind */
#define SEND_GIVE_UP_NS (5 * 1000000000LL) /* ENOBUFS for this long: fail */
/* -o timestamps: 2024-01-01T00:00:00Z, stepping 1 us (or 1/rate). */
#define OFFLINE_EPOCH 1704067200LL

struct opts {
	const char *ifname;    /* -i: send out of this interface */
	const char *sent_path; /* -w: pcap of what was sent */
	const char *out_path;  /* -o: only write this pcap */
	uint64_t count;
	uint64_t seed;
	double rate;           /* frames per second, 0: unpaced */
	unsigned int mix;      /* MIX_* bits */
	uint32_t min_size, max_size;
	uint32_t nflows;       /* per kind; 0: a new flow for every frame */
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " -i IFACE [-n COUNT] [-s SEED] [-w SENT.pcap] [--rate PPS]\n"
"               [--mix MIX] [--min-size N] [--max-size N] [--flows N]\n"
"       " PROG " -o OUT.pcap [-n COUNT] [-s SEED] [--rate PPS] [--mix MIX]\n"
"               [--min-size N] [--max-size N]\n"
"\n"
"Send COUNT deterministic Ethernet frames out of IFACE (AF_PACKET, needs\n"
"CAP_NET_RAW), or with -o only write them into a pcap file.\n"
"\n"
"  -i, --interface IFACE  send out of IFACE\n"
"  -o, --output FILE      write the frames to FILE instead of sending\n"
"                         (timestamps from 2024-01-01, 1/PPS or 1 us apart)\n"
"  -w, --write FILE       also write every sent frame, with its send time\n"
"  -n, --count COUNT      frames to send (default 1000)\n"
"  -s, --seed SEED        PRNG seed (default 1)\n"
"      --rate PPS         frames per second, 0: as fast as possible (default)\n"
"      --mix LIST         comma list of ipv4,ipv6,tcp,udp,icmp,vlan,all\n"
"                         (default all); vlan adds 802.1Q-tagged copies of\n"
"                         the selected kinds\n"
"      --min-size N       smallest frame, bytes without FCS (default 60)\n"
"      --max-size N       largest frame (default 1514)\n"
"      --flows N          distinct flows per kind (default 64); 0: every\n"
"                         frame a new 5-tuple, a flood of new flows\n"
"  -h, --help             this text\n"
"\n"
"Frame sizes are drawn from [min, max] and raised where a kind's headers\n"
"plus the 4-byte index need more.  Pcap files are nanosecond, DLT_EN10MB.\n");
}

/* A bad value: one line, exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(EXIT_FAILURE);
}

/* A malformed command line: one line plus a hint, exit 2. */
static void __attribute__((noreturn)) usage_error(const char *msg)
{
	fprintf(stderr, PROG ": %s (try --help)\n", msg);
	exit(EXIT_USAGE);
}

static uint64_t parse_u64(const char *flag, const char *s, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (*s == '\0' || *s == '-' || *s == '+' || *end != '\0' ||
	    errno != 0 || v > max)
		die("bad value for %s: '%s' (expected 0..%" PRIu64 ")", flag, s,
		    max);
	return v;
}

/* ---- mix ----------------------------------------------------------------- */

enum {
	MIX_IPV4 = 1u << 0,
	MIX_IPV6 = 1u << 1,
	MIX_TCP = 1u << 2,
	MIX_UDP = 1u << 3,
	MIX_ICMP = 1u << 4,
	MIX_VLAN = 1u << 5,
	MIX_L3 = MIX_IPV4 | MIX_IPV6,
	MIX_L4 = MIX_TCP | MIX_UDP | MIX_ICMP,
	MIX_ALL = MIX_L3 | MIX_L4 | MIX_VLAN,
};

static unsigned int parse_mix(const char *s)
{
	static const struct {
		const char *name;
		unsigned int bits;
	} words[] = {
		{ "ipv4", MIX_IPV4 }, { "ipv6", MIX_IPV6 }, { "tcp", MIX_TCP },
		{ "udp", MIX_UDP },   { "icmp", MIX_ICMP }, { "vlan", MIX_VLAN },
		{ "all", MIX_ALL },
	};
	unsigned int mix = 0;
	const char *p = s;

	for (;;) {
		size_t len = strcspn(p, ",");
		size_t i;

		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i].name) == len &&
			    strncmp(p, words[i].name, len) == 0)
				break;
		if (i == sizeof(words) / sizeof(words[0]))
			die("bad value for --mix: '%.*s' in '%s' (expected "
			    "ipv4,ipv6,tcp,udp,icmp,vlan,all)", (int)len, p, s);
		mix |= words[i].bits;
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	/* A dimension nobody named means all of it. */
	if (!(mix & MIX_L3))
		mix |= MIX_L3;
	if (!(mix & MIX_L4))
		mix |= MIX_L4;
	return mix;
}

enum l3 { L3_IPV4, L3_IPV6 };
enum l4 { L4_TCP, L4_UDP, L4_ICMP };

struct kind {
	enum l3 l3;
	enum l4 l4;
	bool vlan;
};

#define MAX_KINDS 12

/* Frame i is of kind kinds[i % n]: untagged kinds first, then tagged. */
static size_t build_kinds(unsigned int mix, struct kind *kinds)
{
	static const unsigned int l3_bit[] = { MIX_IPV4, MIX_IPV6 };
	static const unsigned int l4_bit[] = { MIX_TCP, MIX_UDP, MIX_ICMP };
	size_t n = 0;

	for (int tag = 0; tag <= !!(mix & MIX_VLAN); tag++)
		for (int l3 = L3_IPV4; l3 <= L3_IPV6; l3++)
			for (int l4 = L4_TCP; l4 <= L4_ICMP; l4++)
				if ((mix & l3_bit[l3]) && (mix & l4_bit[l4]))
					kinds[n++] = (struct kind){
						.l3 = l3, .l4 = l4, .vlan = tag,
					};
	return n;
}

static size_t l4_hdr_len(enum l4 l4)
{
	return l4 == L4_TCP ? 20 : 8; /* TCP without options; UDP; echo */
}

/* Bytes a frame of this kind needs: headers plus the index. */
static size_t kind_min_len(const struct kind *k)
{
	return ETH_HLEN + (k->vlan ? 4 : 0) + (k->l3 == L3_IPV4 ? 20 : 40) +
	       l4_hdr_len(k->l4) + SEQ_LEN;
}

/* ---- PRNG: splitmix64, small and good enough for traffic -------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return mix64(*state);
}

/* ---- frame building ------------------------------------------------------ */

static const uint8_t dst_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t src_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
/* Server ports, 8 each (flow_init picks with 3 bits). */
static const uint16_t tcp_ports[8] = { 80, 443, 22, 25, 8080, 3306, 5201,
				       6379 };
static const uint16_t udp_ports[8] = { 53, 123, 161, 443, 514, 1900, 5353,
				       9999 };

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static const uint8_t tcp_flag_sets[] = {
	TCP_SYN, TCP_SYN | TCP_ACK, TCP_ACK, TCP_PSH | TCP_ACK,
	TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK,
};

/* Both ends of one flow, client first. */
struct flow {
	uint8_t cli4[4], srv4[4];
	uint8_t cli6[16], srv6[16];
	uint16_t cli_port, srv_port, icmp_id;
	uint32_t flowlabel;
};

struct gen {
	uint64_t seed;
	uint64_t state;
	struct kind kinds[MAX_KINDS];
	size_t nkinds;
	uint32_t min_size, max_size;
	uint32_t nflows;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* The flow's addresses and ports depend only on the seed and its number. */
static void flow_init(struct flow *f, uint64_t seed, uint32_t id, enum l4 l4)
{
	uint64_t h1 = mix64(seed ^ (0x9e3779b97f4a7c15ULL * (id + 1)));
	uint64_t h2 = mix64(h1 ^ 0x5851f42d4c957f2dULL);

	/* 10.201.0.0/16, host byte 1..254. */
	memcpy(f->cli4, (uint8_t[]){ 10, 201, h1 & 0xff,
				     1 + (h1 >> 8) % 254 }, 4);
	memcpy(f->srv4, (uint8_t[]){ 10, 201, (h1 >> 16) & 0xff,
				     1 + (h1 >> 24) % 254 }, 4);
	/* fd00:201::/64 with interface ids from the hash. */
	static const uint8_t pfx[8] = { 0xfd, 0, 0x02, 0x01, 0, 0, 0, 0 };
	memcpy(f->cli6, pfx, 8);
	memcpy(f->srv6, pfx, 8);
	for (int i = 0; i < 8; i++) {
		f->cli6[8 + i] = (h1 >> (8 * i)) & 0xff;
		f->srv6[8 + i] = (h2 >> (8 * i)) & 0xff;
	}
	f->cli_port = 32768 + (h2 >> 8) % 28232;
	f->srv_port = l4 == L4_TCP ? tcp_ports[(h2 >> 40) % 8]
				   : udp_ports[(h2 >> 40) % 8];
	f->icmp_id = (h2 >> 24) & 0xffff;
	f->flowlabel = (h2 >> 44) & 0xfffff;
}

/*
 * Internet checksum.  The IPv4 header checksum must be right (a receiving
 * stack and most tools check it); the TCP, UDP and ICMP checksums are
 * computed too, over the usual pseudo-header, though nothing we test with
 * depends on them (the frames are dropped as PACKET_OTHERHOST).
 */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static uint64_t pseudo_sum(const struct kind *k, const uint8_t *l3,
			   uint8_t proto, size_t l4_len)
{
	uint64_t sum;

	if (k->l3 == L3_IPV4)
		sum = csum_add(0, l3 + 12, 8); /* source and destination */
	else
		sum = csum_add(0, l3 + 8, 32);
	return sum + proto + l4_len;
}

static uint8_t l4_proto(const struct kind *k)
{
	if (k->l4 == L4_TCP)
		return IPPROTO_TCP;
	if (k->l4 == L4_UDP)
		return IPPROTO_UDP;
	return k->l3 == L3_IPV4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
}

static uint8_t *put_l3(const struct kind *k, const struct flow *f, bool rev,
		       uint8_t *p, uint8_t proto, size_t l3_len, uint32_t seq)
{
	if (k->l3 == L3_IPV4) {
		p[0] = 0x45;
		p[1] = 0;
		put16(p + 2, l3_len);
		put16(p + 4, seq & 0xffff);       /* IP id */
		put16(p + 6, 0x4000);             /* DF, no fragment */
		p[8] = 64;                        /* TTL */
		p[9] = proto;
		put16(p + 10, 0);
		memcpy(p + 12, rev ? f->srv4 : f->cli4, 4);
		memcpy(p + 16, rev ? f->cli4 : f->srv4, 4);
		put16(p + 10, csum_fold(csum_add(0, p, 20)));
		return p + 20;
	}
	put32(p, 0x60000000u | f->flowlabel);
	put16(p + 4, l3_len - 40);
	p[6] = proto;
	p[7] = 64;                                /* hop limit */
	memcpy(p + 8, rev ? f->srv6 : f->cli6, 16);
	memcpy(p + 24, rev ? f->cli6 : f->srv6, 16);
	return p + 40;
}

/*
 * Fill the L4 header at @l4, the payload being in place already, checksum
 * included.  @rev says the frame goes server to client; @flags and @r are
 * the TCP flags and 64 random bits for the TCP sequence numbers.
 */
static void put_l4(const struct kind *k, const struct flow *f, bool rev,
		   const uint8_t *l3, uint8_t *l4, size_t l4_len, uint32_t seq,
		   uint8_t flags, uint64_t r)
{
	uint8_t proto = l4_proto(k);

	switch (k->l4) {
	case L4_TCP:
		put16(l4, rev ? f->srv_port : f->cli_port);
		put16(l4 + 2, rev ? f->cli_port : f->srv_port);
		put32(l4 + 4, r & 0xffffffff);                   /* seq */
		put32(l4 + 8, flags & TCP_ACK ? r >> 32 : 0);   /* ack */
		l4[12] = 5 << 4;                                 /* 20 bytes */
		l4[13] = flags;
		put16(l4 + 14, flags & TCP_RST ? 0 : 64240);     /* window */
		put16(l4 + 16, 0);
		put16(l4 + 18, 0);                               /* urgent */
		break;
	case L4_UDP:
		put16(l4, rev ? f->srv_port : f->cli_port);
		put16(l4 + 2, rev ? f->cli_port : f->srv_port);
		put16(l4 + 4, l4_len);
		put16(l4 + 6, 0);
		break;
	case L4_ICMP:
	default:
		/* Request client to server, reply the other way. */
		if (k->l3 == L3_IPV4)
			l4[0] = rev ? 0 : 8;
		else
			l4[0] = rev ? 129 : 128;
		l4[1] = 0;
		put16(l4 + 2, 0);
		put16(l4 + 4, f->icmp_id);
		put16(l4 + 6, seq & 0xffff);
		break;
	}

	/* ICMPv4 has no pseudo-header; the others do. */
	uint64_t sum = proto == IPPROTO_ICMP ? 0 :
		       pseudo_sum(k, l3, proto, l4_len);
	uint16_t csum = csum_fold(csum_add(sum, l4, l4_len));
	size_t at = k->l4 == L4_TCP ? 16 : (k->l4 == L4_UDP ? 6 : 2);

	if (k->l4 == L4_UDP && csum == 0)
		csum = 0xffff; /* 0 means "no checksum" for UDP */
	put16(l4 + at, csum);
}

static void fill_random(uint64_t *state, uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t r = rnd(state);

		memcpy(p, &r, 8);
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t r = rnd(state);

		memcpy(p, &r, len);
	}
}

/*
 * Build frame number @seq into @buf (MAX_FRAME bytes) and return its
 * length.  The draws from the PRNG happen in a fixed order, so the frames
 * depend only on the seed, the mix and the sizes.
 */
static size_t build_frame(struct gen *g, uint32_t seq, uint8_t *buf)
{
	const struct kind *k = &g->kinds[seq % g->nkinds];
	uint32_t span = g->max_size - g->min_size + 1;
	size_t len = g->min_size + rnd(&g->state) % span;
	uint32_t flow_id = rnd(&g->state) % (g->nflows ? g->nflows : 1);
	uint64_t r = rnd(&g->state);
	uint64_t r_tcp = rnd(&g->state);
	uint8_t flags = tcp_flag_sets[(r >> 32) % sizeof(tcp_flag_sets)];
	struct flow f;
	bool rev = r & 1;
	uint8_t *p = buf;

	if (len < kind_min_len(k))
		len = kind_min_len(k);
	if (!g->nflows)
		flow_id = seq; /* a flood: every frame a new 5-tuple */
	flow_init(&f, g->seed, flow_id, k->l4);
	/* TCP SYN goes client to server, SYN-ACK back; the rest either way. */
	if (k->l4 == L4_TCP && (flags & TCP_SYN))
		rev = flags & TCP_ACK;

	memcpy(p, dst_mac, 6);
	memcpy(p + 6, src_mac, 6);
	p += 12;
	if (k->vlan) {
		/* Priority 0..7, VLAN id 10..4000, DEI clear. */
		uint16_t tci = ((r >> 1) & 7) << 13 | (10 + (r >> 8) % 3991);

		put16(p, ETH_P_8021Q);
		put16(p + 2, tci);
		p += 4;
	}
	put16(p, k->l3 == L3_IPV4 ? ETH_P_IP : ETH_P_IPV6);
	p += 2;

	uint8_t *l3 = p;
	size_t l3_len = len - (size_t)(l3 - buf);
	size_t l4_len = l3_len - (k->l3 == L3_IPV4 ? 20 : 40);
	uint8_t proto = l4_proto(k);
	uint8_t *payload;
	uint8_t *l4 = put_l3(k, &f, rev, l3, proto, l3_len, seq);

	payload = l4 + l4_hdr_len(k->l4);
	put32(payload, seq);
	fill_random(&g->state, payload + SEQ_LEN,
		    len - (size_t)(payload - buf) - SEQ_LEN);
	put_l4(k, &f, rev, l3, l4, l4_len, seq, flags, r_tcp);
	return len;
}

/* ---- outputs ------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return ts_ns(&ts);
}

static void sleep_until(int64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = deadline_ns / 1000000000,
		.tv_nsec = deadline_ns % 1000000000,
	};

	while (!stop_requested &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
		       EINTR)
		;
}

static pcap_dumper_t *dump_open(const char *path, pcap_t **pd)
{
	pcap_dumper_t *d;

	*pd = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, MAX_FRAME,
						   PCAP_TSTAMP_PRECISION_NANO);
	if (!*pd)
		die("%s: cannot set up a pcap writer", path);
	d = pcap_dump_open(*pd, path);
	if (!d)
		die("%s", pcap_geterr(*pd)); /* names the file */
	return d;
}

static void dump_frame(pcap_dumper_t *d, const uint8_t *buf, size_t len,
		       int64_t ns)
{
	struct pcap_pkthdr h = {
		.ts.tv_sec = ns / 1000000000,
		.ts.tv_usec = ns % 1000000000, /* nanoseconds in a nano file */
		.caplen = len,
		.len = len,
	};

	pcap_dump((u_char *)d, &h, buf);
}

static void dump_close(pcap_dumper_t *d, pcap_t *pd, const char *path)
{
	if (pcap_dump_flush(d) != 0)
		die("%s: write failed: %s", path, strerror(errno));
	pcap_dump_close(d);
	pcap_close(pd);
}

struct sender {
	int fd;
	const char *ifname;
	struct sockaddr_ll sll;
	uint64_t retries; /* sends repeated after ENOBUFS or EAGAIN */
};

static void sender_open(struct sender *s, const char *ifname)
{
	unsigned int ifindex = 0;

	if (strlen(ifname) < IFNAMSIZ)
		ifindex = if_nametoindex(ifname);
	if (ifindex == 0)
		die("unknown interface '%s'", ifname);
	/* Protocol 0: this socket sends only, it never receives. */
	s->fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (s->fd < 0) {
		if (errno == EPERM || errno == EACCES)
			die("socket(AF_PACKET): %s (sending raw frames needs "
			    "CAP_NET_RAW; run as root)", strerror(errno));
		die("socket(AF_PACKET): %s", strerror(errno));
	}
	s->ifname = ifname;
	s->retries = 0;
	s->sll = (struct sockaddr_ll){
		.sll_family = AF_PACKET,
		.sll_ifindex = (int)ifindex,
		.sll_halen = ETH_ALEN,
	};
	memcpy(s->sll.sll_addr, dst_mac, ETH_ALEN);
}

/*
 * Send one frame, stamping *@sent_ns (CLOCK_REALTIME) just before the
 * successful attempt.  ENOBUFS means the kernel dropped the frame before it
 * left (NET_XMIT_DROP, e.g. the veth peer's backlog was full) and EAGAIN
 * that it was never queued, so trying again can neither lose the frame nor
 * send it twice.  Return 0, or -1 when interrupted by a signal.
 */
static int send_frame(struct sender *s, const uint8_t *buf, size_t len,
		      int64_t *sent_ns)
{
	int64_t first_fail = 0;

	/* The ethertype, for skb->protocol; the frame carries the rest. */
	s->sll.sll_protocol = htons((uint16_t)(buf[12] << 8 | buf[13]));
	for (;;) {
		ssize_t n;

		*sent_ns = now_ns(CLOCK_REALTIME);
		n = sendto(s->fd, buf, len, 0, (struct sockaddr *)&s->sll,
			   sizeof(s->sll));
		if (n == (ssize_t)len)
			return 0;
		if (n >= 0)
			die("sendto(%s): short send, %zd of %zu bytes",
			    s->ifname, n, len);
		if (errno == EINTR) {
			if (stop_requested)
				return -1;
			continue;
		}
		if (errno != ENOBUFS && errno != EAGAIN) {
			if (errno == EMSGSIZE)
				die("sendto(%s): %zu-byte frame: %s (lower "
				    "--max-size to the MTU + 14)", s->ifname,
				    len, strerror(errno));
			die("sendto(%s): %s", s->ifname, strerror(errno));
		}
		s->retries++;
		if (!first_fail)
			first_fail = now_ns(CLOCK_MONOTONIC);
		else if (now_ns(CLOCK_MONOTONIC) - first_fail > SEND_GIVE_UP_NS)
			die("sendto(%s): %s for 5 s, giving up", s->ifname,
			    strerror(errno));
		if (stop_requested)
			return -1;
		nanosleep(&(struct timespec){ .tv_nsec = 50000 }, NULL);
	}
}

/* ---- main ---------------------------------------------------------------- */

static void parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_RATE = 256, OPT_MIX, OPT_MIN, OPT_MAX, OPT_FLOWS };
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "write", required_argument, NULL, 'w' },
		{ "output", required_argument, NULL, 'o' },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "mix", required_argument, NULL, OPT_MIX },
		{ "min-size", required_argument, NULL, OPT_MIN },
		{ "max-size", required_argument, NULL, OPT_MAX },
		{ "flows", required_argument, NULL, OPT_FLOWS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	char *end;

	*o = (struct opts){
		.count = 1000, .seed = 1, .mix = MIX_ALL,
		.min_size = 60, .max_size = 1514, .nflows = NFLOWS,
	};
	while ((c = getopt_long(argc, argv, ":i:n:s:w:o:h", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 'n':
			o->count = parse_u64("-n", optarg, UINT32_MAX);
			break;
		case 's':
			o->seed = parse_u64("-s", optarg, UINT64_MAX);
			break;
		case 'w':
			o->sent_path = optarg;
			break;
		case 'o':
			o->out_path = optarg;
			break;
		case OPT_RATE:
			errno = 0;
			o->rate = strtod(optarg, &end);
			/* The negated test also rejects NaN. */
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    !(o->rate >= 0 && o->rate <= 1e9))
				die("bad value for --rate: '%s' (expected 0..1e9 "
				    "frames per second)", optarg);
			break;
		case OPT_MIX:
			o->mix = parse_mix(optarg);
			break;
		case OPT_MIN:
			o->min_size = parse_u64("--min-size", optarg, MAX_FRAME);
			break;
		case OPT_MAX:
			o->max_size = parse_u64("--max-size", optarg, MAX_FRAME);
			break;
		case OPT_FLOWS:
			o->nflows = (uint32_t)parse_u64("--flows", optarg,
							UINT32_MAX);
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case ':':
			fprintf(stderr, PROG ": option '%s' needs a value "
				"(try --help)\n", argv[optind - 1]);
			exit(EXIT_USAGE);
		default:
			fprintf(stderr, PROG ": unknown option '%s' "
				"(try --help)\n", argv[optind - 1]);
			exit(EXIT_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s' (try --help)\n",
			argv[optind]);
		exit(EXIT_USAGE);
	}
	if (!o->ifname == !o->out_path)
		usage_error("give exactly one of -i IFACE and -o FILE");
	if (o->out_path && o->sent_path)
		usage_error("-w goes with -i; -o already writes the frames");
	if (o->min_size < MIN_FRAME)
		die("bad value for --min-size: %" PRIu32 " (at least %u)",
		    o->min_size, MIN_FRAME);
	if (o->min_size > o->max_size)
		die("--min-size %" PRIu32 " is larger than --max-size %" PRIu32,
		    o->min_size, o->max_size);
}

static void gen_init(struct gen *g, const struct opts *o)
{
	*g = (struct gen){
		.seed = o->seed, .state = o->seed,
		.min_size = o->min_size, .max_size = o->max_size,
		.nflows = o->nflows,
	};
	g->nkinds = build_kinds(o->mix, g->kinds);
	for (size_t i = 0; i < g->nkinds; i++)
		if (kind_min_len(&g->kinds[i]) > o->max_size)
			die("--max-size %" PRIu32 " is too small for this mix: "
			    "its frames need up to %zu bytes", o->max_size,
			    kind_min_len(&g->kinds[i]));
}

static void summary(const char *verb, uint64_t n, uint64_t bytes,
		    int64_t start_ns)
{
	double secs = (now_ns(CLOCK_MONOTONIC) - start_ns) / 1e9;

	fprintf(stderr, PROG ": %s %" PRIu64 " frames, %" PRIu64 " bytes in "
		"%.3f s\n", verb, n, bytes, secs);
}

/* -o: no socket, deterministic timestamps, a byte-identical file per seed. */
static int run_offline(const struct opts *o, struct gen *g)
{
	static uint8_t buf[MAX_FRAME];
	int64_t step = o->rate > 0 ? (int64_t)(1e9 / o->rate + 0.5) : 1000;
	int64_t start = now_ns(CLOCK_MONOTONIC);
	uint64_t bytes = 0;
	pcap_t *pd;
	pcap_dumper_t *d = dump_open(o->out_path, &pd);

	for (uint64_t i = 0; i < o->count; i++) {
		size_t len = build_frame(g, (uint32_t)i, buf);

		dump_frame(d, buf, len,
			   OFFLINE_EPOCH * 1000000000 + (int64_t)i * step);
		bytes += len;
	}
	dump_close(d, pd, o->out_path);
	summary("wrote", o->count, bytes, start);
	return EXIT_SUCCESS;
}

static int run_send(const struct opts *o, struct gen *g)
{
	static uint8_t buf[MAX_FRAME];
	struct sender s;
	pcap_t *pd = NULL;
	pcap_dumper_t *d = NULL;
	uint64_t n = 0, bytes = 0;
	int64_t start;

	sender_open(&s, o->ifname);
	if (o->sent_path)
		d = dump_open(o->sent_path, &pd);

	start = now_ns(CLOCK_MONOTONIC);
	for (; n < o->count && !stop_requested; n++) {
		size_t len = build_frame(g, (uint32_t)n, buf);
		int64_t sent_ns;

		if (o->rate > 0)
			sleep_until(start + (int64_t)(n * 1e9 / o->rate));
		if (stop_requested || send_frame(&s, buf, len, &sent_ns) < 0)
			break;
		if (d)
			dump_frame(d, buf, len, sent_ns);
		bytes += len;
	}
	if (d)
		dump_close(d, pd, o->sent_path);
	close(s.fd);
	summary("sent", n, bytes, start);
	if (s.retries)
		fprintf(stderr, PROG ": %" PRIu64 " sends were retried after "
			"ENOBUFS/EAGAIN\n", s.retries);
	if (n < o->count) {
		fprintf(stderr, PROG ": interrupted after %" PRIu64 " of %"
			PRIu64 " frames\n", n, o->count);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct opts o;
	struct gen g;

	parse_args(argc, argv, &o);
	gen_init(&g, &o);
	/* No SA_RESTART: a signal breaks a blocked sendto() or sleep. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	return o.out_path ? run_offline(&o, &g) : run_send(&o, &g);
}
