// SPDX-License-Identifier: MIT
/*
 * test_filters.c - the shipped example filters (filters/, .vfl and .vfasm):
 * each one compiles (VFLisp) or assembles, loads, and accepts exactly the
 * frames its comment promises, among the nine vectors of spec §7 plus
 * VLAN, IPv6 extension header, fragment, SSH and HTTP request frames.
 * The stateful ones are also run over many packets of one flow.  Tests
 * run from the repository root, so paths are "filters/NAME".
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"

/* ---- frames -------------------------------------------------------------- */

struct frame {
	uint8_t b[700];
	uint32_t n;
};

static void put8(struct frame *f, unsigned v)
{
	cr_assert_lt(f->n, sizeof(f->b));
	f->b[f->n++] = (uint8_t)v;
}

static void put16(struct frame *f, unsigned v)
{
	put8(f, v >> 8);
	put8(f, v);
}

static void put32(struct frame *f, uint32_t v)
{
	put16(f, v >> 16);
	put16(f, v & 0xffff);
}

static void putn(struct frame *f, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n--)
		put8(f, *s++);
}

static void zeros(struct frame *f, size_t n)
{
	while (n--)
		put8(f, 0);
}

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t v6_1[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t v6_2[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t v6_53[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x53 };
static const uint8_t v6_lo[16] = { [15] = 1 };

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))
#define HOST_A IP(192, 168, 1, 100)
#define HOST_A2 IP(192, 168, 1, 101)
#define HOST_B IP(10, 0, 0, 1)
#define HOST_DNS IP(10, 0, 0, 53)
#define HOST_OUT IP(172, 16, 0, 1)

enum { FIN = 0x01, SYN = 0x02, PSH = 0x08, ACK = 0x10 };

static void eth(struct frame *f, unsigned type)
{
	putn(f, mac_b, 6);
	putn(f, mac_a, 6);
	put16(f, type);
}

static void ip4(struct frame *f, unsigned ihl, unsigned tot, unsigned frag,
		unsigned proto, uint32_t src, uint32_t dst)
{
	unsigned i;

	put8(f, 0x40 | ihl);
	put8(f, 0);
	put16(f, tot);
	put16(f, 0);
	put16(f, frag);
	put8(f, 64);
	put8(f, proto);
	put16(f, 0);
	put32(f, src);
	put32(f, dst);
	for (i = 20; i < ihl * 4; i++)
		put8(f, 1);
}

static void ip6(struct frame *f, unsigned plen, unsigned nh,
		const uint8_t *src, const uint8_t *dst)
{
	put32(f, 0x60000000);
	put16(f, plen);
	put8(f, nh);
	put8(f, 64);
	putn(f, src, 16);
	putn(f, dst, 16);
}

/* A TCP header of 20 bytes, or 32 with NOP, NOP, timestamps. */
static void tcp_opt(struct frame *f, unsigned sport, unsigned dport,
		    unsigned flags, bool ts)
{
	put16(f, sport);
	put16(f, dport);
	put32(f, 0x01020304);
	put32(f, flags & ACK ? 0x0a0b0c0d : 0);
	put8(f, (ts ? 8 : 5) << 4);
	put8(f, flags);
	put16(f, 0xffff);
	put16(f, 0);
	put16(f, 0);
	if (ts) {
		put16(f, 0x0101);
		put16(f, 0x080a);
		put32(f, 1);
		put32(f, 2);
	}
}

static void tcp(struct frame *f, unsigned sport, unsigned dport,
		unsigned flags)
{
	tcp_opt(f, sport, dport, flags, false);
}

static void udp(struct frame *f, unsigned sport, unsigned dport,
		unsigned len)
{
	put16(f, sport);
	put16(f, dport);
	put16(f, len);
	put16(f, 0);
}

#define NFRAMES 16

/*
 * Frame @i (0-based).  1-9 are the vectors of spec §7:
 *  1 v4 TCP SYN 192.168.1.100:1234 -> 10.0.0.1:80, 54 bytes
 *  2 v4 TCP ACK 1234 -> 443         3 v4 UDP 1234 -> 10.0.0.53:53, 50
 *  4 v4 UDP 53 -> 1234, IP length 628, 642
 *  5 v4 ICMP echo, 66               6 v4 TCP SYN -> 80 with IHL 6, 58
 *  7 v6 TCP 2001:db8::1:443 -> ::1:80, 74
 *  8 ARP, 42                        9 runt: 20 bytes of frame 1
 * 10 VLAN 100 v4 TCP SYN -> 443    11 v6 Hop-by-Hop, UDP 5353 -> 53
 * 12 v4 UDP non-first fragment     13 v4 TCP SYN 192.168.1.100 -> :22
 * 14 v4 TCP SYN 172.16.0.1 -> :22  15 v4 "GET / HTTP/1.1\r\n" to :80
 * 16 v4 "POST /x HTTP/1.1" to :443 with TCP timestamps (header 32 bytes)
 */
static void build(int i, struct frame *f)
{
	memset(f, 0, sizeof(*f));
	switch (i + 1) {
	case 1:
	case 9:
		eth(f, 0x0800);
		ip4(f, 5, 40, 0, 6, HOST_A, HOST_B);
		tcp(f, 1234, 80, SYN);
		if (i + 1 == 9)
			f->n = 20;
		break;
	case 2:
		eth(f, 0x0800);
		ip4(f, 5, 40, 0, 6, HOST_A, HOST_B);
		tcp(f, 1234, 443, ACK);
		break;
	case 3:
		eth(f, 0x0800);
		ip4(f, 5, 36, 0, 17, HOST_A, HOST_DNS);
		udp(f, 1234, 53, 16);
		put32(f, 0x12340100);
		put32(f, 0x00010000);
		break;
	case 4:
		eth(f, 0x0800);
		ip4(f, 5, 628, 0, 17, HOST_DNS, HOST_A);
		udp(f, 53, 1234, 608);
		zeros(f, 600);
		break;
	case 5:
		eth(f, 0x0800);
		ip4(f, 5, 52, 0, 1, HOST_A, HOST_B);
		put32(f, 0x08000000);
		put32(f, 0x00010001);
		zeros(f, 24);
		break;
	case 6:
		eth(f, 0x0800);
		ip4(f, 6, 44, 0, 6, HOST_A2, HOST_B);
		tcp(f, 1235, 80, SYN);
		break;
	case 7:
		eth(f, 0x86dd);
		ip6(f, 20, 6, v6_1, v6_lo);
		tcp(f, 443, 80, PSH | ACK);
		break;
	case 8:
		eth(f, 0x0806);
		put16(f, 1);
		put16(f, 0x0800);
		put8(f, 6);
		put8(f, 4);
		put16(f, 1);
		putn(f, mac_a, 6);
		put32(f, HOST_A);
		zeros(f, 6);
		put32(f, HOST_B);
		break;
	case 10:
		putn(f, mac_b, 6);
		putn(f, mac_a, 6);
		put16(f, 0x8100);
		put16(f, 100);
		put16(f, 0x0800);
		ip4(f, 5, 40, 0, 6, HOST_A, HOST_B);
		tcp(f, 1234, 443, SYN);
		break;
	case 11:
		eth(f, 0x86dd);
		ip6(f, 24, 0, v6_2, v6_53);
		put8(f, 17);
		put8(f, 0);
		put16(f, 0x0104);
		put32(f, 0);
		udp(f, 5353, 53, 16);
		zeros(f, 8);
		break;
	case 12:
		eth(f, 0x0800);
		ip4(f, 5, 28, 185, 17, HOST_A, HOST_DNS);
		zeros(f, 8);
		break;
	case 13:
	case 14:
		eth(f, 0x0800);
		ip4(f, 5, 40, 0, 6, i + 1 == 13 ? HOST_A : HOST_OUT, HOST_B);
		tcp(f, 40000, 22, SYN);
		break;
	case 15:
		eth(f, 0x0800);
		ip4(f, 5, 56, 0, 6, HOST_A, HOST_B);
		tcp(f, 1234, 80, PSH | ACK);
		putn(f, "GET / HTTP/1.1\r\n", 16);
		break;
	case 16:
		eth(f, 0x0800);
		ip4(f, 5, 68, 0, 6, HOST_A, HOST_B);
		tcp_opt(f, 1236, 443, PSH | ACK, true);
		putn(f, "POST /x HTTP/1.1", 16);
		break;
	}
}

/* ---- loading ------------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(fp, "%s: cannot open (run from the repository root)",
			   path);
	cr_assert_eq(fseek(fp, 0, SEEK_END), 0);
	n = ftell(fp);
	cr_assert_geq(n, 0);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = 0;
	fclose(fp);
	return buf;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static struct pcv_vfm *load_file(const char *name)
{
	char path[256], err[PCV_ERRBUF_SIZE] = "";
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = NULL;
	uint8_t *code = NULL;
	size_t len = 0;
	char *src;
	int r;

	snprintf(path, sizeof(path), "filters/%s", name);
	src = slurp(path);
	cr_assert(src[0] == ';', "%s: no comment line saying what it matches",
		  path);
	if (ends_with(name, ".vfl"))
		r = pcv_vfl_compile(src, &code, &len, err);
	else
		r = pcv_vfm_asm(src, &code, &len, err);
	free(src);
	cr_assert_eq(r, 0, "%s: %s", path, err);
	pcv_vfm_opts_init(&o);
	cr_assert_eq(pcv_vfm_load(&vm, code, len, &o, err), 0, "%s: load: %s",
		     path, err);
	free(code);
	return vm;
}

/* 'A' accepted, 'D' dropped, 'E' error (also a drop). */
static char verdict(struct pcv_vfm *vm, const struct frame *f, uint64_t ts)
{
	uint8_t *copy = malloc(f->n ? f->n : 1);
	uint64_t res = 0;
	int st;

	cr_assert_not_null(copy);
	memcpy(copy, f->b, f->n);
	st = pcv_vfm_run(vm, copy, f->n, ts, &res);
	free(copy);
	if (st != PCV_VFM_OK)
		return 'E';
	return res ? 'A' : 'D';
}

/* ---- every shipped filter on every frame --------------------------------- */

static const struct {
	const char *file;
	const char *want; /* frames 1..16 */
} cases[] = {
	{ "accept_all.vfl", "AAAAAAAAAAAAAAAA" },
	{ "accept_all.vfasm", "AAAAAAAAAAAAAAAA" },
	{ "reject_all.vfl", "DDDDDDDDDDDDDDDD" },
	{ "reject_all.vfasm", "DDDDDDDDDDDDDDDD" },
	{ "arithmetic_example.vfl", "AAAAAAAAAAAAAAAA" },
	{ "arithmetic_example.vfasm", "AAAAAAAAAAAAAAAA" },
	{ "ipv4_only.vfl", "AAAAAADDDADAAAAA" },
	{ "ipv4_only.vfasm", "AAAAAADDDADAAAAA" },
	{ "tcp_filter.vfl", "AADDDAADDADDAAAA" },
	{ "tcp_filter.vfasm", "AADDDAADDADDAAAA" },
	{ "http_tcp.vfl", "ADDDDAADDDDDDDAD" },
	{ "http_tcp.vfasm", "ADDDDAADDDDDDDAD" },
	{ "tcp_syn.vfl", "ADDDDADDDADDAADD" },
	{ "tcp_syn.vfasm", "ADDDDADDDADDAADD" },
	{ "web_traffic.vfl", "AADDDAADDADDDDAA" },
	{ "web_traffic.vfasm", "AADDDAADDADDDDAA" },
	{ "dns_amplification.vfl", "AAADAAAAAAAAAAAA" },
	{ "dns_amplification.vfasm", "AAADAAAAAAAAAAAA" },
	{ "port_range.vfl", "DDDADDDDDDDDDDDD" },
	{ "ip_filter.vfl", "AAAAAADDDDDAADAA" },
	{ "complex_filter.vfl", "DADDDDDDDADDADDA" },
	{ "arithmetic_demo.vfl", "ADDDDAADDDDDDDAD" },
	{ "ipv6_net.vfl", "DDDDDDADDDADDDDD" },
	/* stateful: one packet per flow here, see below */
	{ "first-n.vfl", "AAAAAAAAAAAAAAAA" },
	{ "syn_limit.vfl", "AAAAAAAAAAAAAAAA" },
	{ "syn_limit.vfasm", "AAAAAAAAAAAAAAAA" },
	{ "ddos_detect.vfasm", "AAAAAAAAAAAAAAAA" },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

Test(filters, verdicts)
{
	size_t c;

	for (c = 0; c < NCASES; c++) {
		struct pcv_vfm *vm = load_file(cases[c].file);
		char got[NFRAMES + 1];
		int i;

		for (i = 0; i < NFRAMES; i++) {
			struct frame f;

			build(i, &f);
			got[i] = verdict(vm, &f, (uint64_t)i);
		}
		got[NFRAMES] = 0;
		cr_expect_str_eq(got, cases[c].want, "%s: got %s, want %s",
				 cases[c].file, got, cases[c].want);
		pcv_vfm_free(vm);
	}
}

/* Every .vfl and .vfasm in filters/ is in the table above. */
Test(filters, all_listed)
{
	DIR *d = opendir("filters");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "filters/: run from the repository root");
	while ((e = readdir(d))) {
		size_t c;

		if (!ends_with(e->d_name, ".vfl") &&
		    !ends_with(e->d_name, ".vfasm"))
			continue;
		for (c = 0; c < NCASES; c++)
			if (!strcmp(cases[c].file, e->d_name))
				break;
		cr_expect_lt(c, NCASES, "filters/%s has no test", e->d_name);
		n++;
	}
	closedir(d);
	cr_expect_eq((size_t)n, NCASES);
}

/* ---- the stateful policies over many packets ----------------------------- */

/* Run @count copies of frame @idx (0-based) at 1 ms steps from @t0; return
 * how many were accepted. */
static int accepted(struct pcv_vfm *vm, int idx, int count, uint64_t t0)
{
	struct frame f;
	int i, n = 0;

	build(idx, &f);
	for (i = 0; i < count; i++)
		n += verdict(vm, &f, t0 + (uint64_t)i * 1000000) == 'A';
	return n;
}

Test(filters, first_n)
{
	struct pcv_vfm *vm = load_file("first-n.vfl");
	struct frame f, reply;
	int i, n = 0;

	/* both directions of one flow count together */
	build(0, &f);
	reply = f;
	memcpy(reply.b + 26, f.b + 30, 4);
	memcpy(reply.b + 30, f.b + 26, 4);
	memcpy(reply.b + 34, f.b + 36, 2);
	memcpy(reply.b + 36, f.b + 34, 2);
	for (i = 0; i < 30; i++)
		n += verdict(vm, i & 1 ? &reply : &f, (uint64_t)i) == 'A';
	cr_expect_eq(n, 20);
	/* another flow has its own 20 */
	cr_expect_eq(accepted(vm, 1, 25, 100), 20);
	/* no IP layer: always */
	cr_expect_eq(accepted(vm, 7, 25, 100), 25);
	/* the default TTL is 300 s: after 301 s idle the flow starts over */
	cr_expect_eq(accepted(vm, 0, 25, 301000000000ull), 20);
	pcv_vfm_free(vm);
}

static void check_syn_limit(const char *file)
{
	struct pcv_vfm *vm = load_file(file);

	cr_expect_eq(accepted(vm, 0, 120, 0), 100, "%s", file); /* SYNs */
	cr_expect_eq(accepted(vm, 1, 120, 0), 120, "%s", file); /* ACKs */
	cr_expect_eq(accepted(vm, 5, 110, 0), 100, "%s", file); /* IHL 6 */
	cr_expect_eq(accepted(vm, 9, 101, 0), 100, "%s", file); /* VLAN */
	cr_expect_eq(accepted(vm, 2, 150, 0), 150, "%s", file); /* UDP */
	pcv_vfm_free(vm);
}

Test(filters, syn_limit)
{
	check_syn_limit("syn_limit.vfl");
	check_syn_limit("syn_limit.vfasm");
}

Test(filters, ddos_detect)
{
	struct pcv_vfm *vm = load_file("ddos_detect.vfasm");

	cr_expect_eq(accepted(vm, 14, 60, 0), 50);  /* GET, 20-byte TCP */
	cr_expect_eq(accepted(vm, 15, 60, 0), 50);  /* POST, timestamps */
	cr_expect_eq(accepted(vm, 0, 100, 0), 100); /* SYN, no payload */
	cr_expect_eq(accepted(vm, 1, 100, 0), 100); /* ACK to 443 */
	pcv_vfm_free(vm);
}
