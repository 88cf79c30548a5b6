// SPDX-License-Identifier: MIT
/*
 * vectors.c - the frames and program helpers the VFM unit tests share
 * (test_filters.c, test_vflisp.c, test_vm.c, test_verify.c): the nine
 * test vectors of spec §7 plus VLAN, IPv6 extension header, fragment,
 * SSH and HTTP request frames, built byte by byte; assembling, loading
 * and running a program on a frame.  Failures are Criterion assertions
 * that end the running test.  It holds no tests.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vectors.h"

/* ---- frames -------------------------------------------------------------- */

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 0x0a };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 0x0b };
static const uint8_t v6_1[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
static const uint8_t v6_2[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };
static const uint8_t v6_53[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x53 };
static const uint8_t v6_lo[16] = { [15] = 1 };

void tv_eth(struct frame *f, unsigned type)
{
	putn(f, mac_b, 6);
	putn(f, mac_a, 6);
	put16(f, type);
}

void tv_ip4(struct frame *f, unsigned ihl, unsigned tot, unsigned frag,
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
		put8(f, 1); /* NOP options */
}

void tv_ip6(struct frame *f, uint8_t nh, uint16_t plen, const uint8_t *src,
	    const uint8_t *dst)
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
	put32(f, 0x01020304); /* seq */
	put32(f, flags & TV_ACK ? 0x0a0b0c0d : 0);
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

void tv_tcp(struct frame *f, unsigned sport, unsigned dport, unsigned flags)
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

/*
 * Frame @i (0-based; 1-9 are the spec's vectors i + 1):
 *  1 v4 TCP SYN 192.168.1.100:1234 -> 10.0.0.1:80, 54 bytes
 *  2 v4 TCP ACK 1234 -> 443, 54
 *  3 v4 UDP 1234 -> 10.0.0.53:53, 50
 *  4 v4 UDP 10.0.0.53:53 -> 1234, IP total length 628, 642
 *  5 v4 ICMP echo, 66
 *  6 v4 TCP SYN 192.168.1.101:1235 -> 80 with IHL 6, 58
 *  7 v6 TCP PSH|ACK 2001:db8::1:443 -> ::1:80, 74
 *  8 ARP, 42
 *  9 runt: the first 20 bytes of frame 1
 * 10 VLAN 100, v4 TCP SYN 1234 -> 443, 58
 * 11 v6 Hop-by-Hop then UDP 2001:db8::2:5353 -> 2001:db8::53:53, 78
 * 12 v4 UDP non-first fragment (offset 1480), 42
 * 13 v4 TCP SYN 192.168.1.100 -> :22
 * 14 v4 TCP SYN 172.16.0.1 -> :22
 * 15 v4 "GET / HTTP/1.1\r\n" to :80
 * 16 v4 "POST /x HTTP/1.1" to :443 with TCP timestamps (header 32 bytes)
 */
void tv_build(int i, struct frame *f)
{
	memset(f, 0, sizeof(*f));
	switch (i + 1) {
	case 1:
	case 9:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 40, 0, 6, TV_HOST_A, TV_HOST_B);
		tv_tcp(f, 1234, 80, TV_SYN);
		if (i + 1 == 9)
			f->n = 20;
		break;
	case 2:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 40, 0, 6, TV_HOST_A, TV_HOST_B);
		tv_tcp(f, 1234, 443, TV_ACK);
		break;
	case 3:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 36, 0, 17, TV_HOST_A, TV_HOST_DNS);
		udp(f, 1234, 53, 16);
		put32(f, 0x12340100);
		put32(f, 0x00010000);
		break;
	case 4:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 628, 0, 17, TV_HOST_DNS, TV_HOST_A);
		udp(f, 53, 1234, 608);
		zeros(f, 600);
		break;
	case 5:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 52, 0, 1, TV_HOST_A, TV_HOST_B);
		put32(f, 0x08000000); /* echo request */
		put32(f, 0x00010001);
		zeros(f, 24);
		break;
	case 6:
		tv_eth(f, 0x0800);
		tv_ip4(f, 6, 44, 0, 6, TV_HOST_A2, TV_HOST_B);
		tv_tcp(f, 1235, 80, TV_SYN);
		break;
	case 7:
		tv_eth(f, 0x86dd);
		tv_ip6(f, 6, 20, v6_1, v6_lo);
		tv_tcp(f, 443, 80, TV_PSH | TV_ACK);
		break;
	case 8:
		tv_eth(f, 0x0806);
		put16(f, 1);
		put16(f, 0x0800);
		put8(f, 6);
		put8(f, 4);
		put16(f, 1);
		putn(f, mac_a, 6);
		put32(f, TV_HOST_A);
		zeros(f, 6);
		put32(f, TV_HOST_B);
		break;
	case 10:
		putn(f, mac_b, 6);
		putn(f, mac_a, 6);
		put16(f, 0x8100);
		put16(f, 100);
		put16(f, 0x0800);
		tv_ip4(f, 5, 40, 0, 6, TV_HOST_A, TV_HOST_B);
		tv_tcp(f, 1234, 443, TV_SYN);
		break;
	case 11:
		tv_eth(f, 0x86dd);
		tv_ip6(f, 0, 24, v6_2, v6_53);
		put8(f, 17); /* Hop-by-Hop: next UDP, 8 bytes, PadN */
		put8(f, 0);
		put16(f, 0x0104);
		put32(f, 0);
		udp(f, 5353, 53, 16);
		zeros(f, 8);
		break;
	case 12:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 28, 185, 17, TV_HOST_A, TV_HOST_DNS);
		zeros(f, 8);
		break;
	case 13:
	case 14:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 40, 0, 6, i + 1 == 13 ? TV_HOST_A : TV_HOST_OUT,
		       TV_HOST_B);
		tv_tcp(f, 40000, 22, TV_SYN);
		break;
	case 15:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 56, 0, 6, TV_HOST_A, TV_HOST_B);
		tv_tcp(f, 1234, 80, TV_PSH | TV_ACK);
		putn(f, "GET / HTTP/1.1\r\n", 16);
		break;
	case 16:
		tv_eth(f, 0x0800);
		tv_ip4(f, 5, 68, 0, 6, TV_HOST_A, TV_HOST_B);
		tcp_opt(f, 1236, 443, TV_PSH | TV_ACK, true);
		putn(f, "POST /x HTTP/1.1", 16);
		break;
	}
}

/* ---- programs ------------------------------------------------------------ */

uint8_t *tv_assemble(const char *src, size_t *len)
{
	char err[PCV_ERRBUF_SIZE] = "";
	uint8_t *code = NULL;
	int rc = pcv_vfm_asm(src, &code, len, err);

	cr_assert_eq(rc, 0, "asm '%s': %s", src, err);
	return code;
}

struct pcv_vfm *tv_load(uint8_t *code, size_t len, const char *what)
{
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = NULL;

	pcv_vfm_opts_init(&o);
	cr_assert_eq(pcv_vfm_load(&vm, code, len, &o, err), 0,
		     "%s: load: %s", what, err);
	free(code);
	return vm;
}

int tv_run(struct pcv_vfm *vm, const uint8_t *pkt, uint32_t len,
	   uint64_t ts, uint64_t *r)
{
	uint8_t *copy = malloc(len ? len : 1);
	int st;

	cr_assert_not_null(copy);
	if (len)
		memcpy(copy, pkt, len);
	st = pcv_vfm_run(vm, copy, len, ts, r);
	free(copy);
	return st;
}

char tv_verdict(struct pcv_vfm *vm, const struct frame *f, uint64_t ts)
{
	uint64_t res = 0;
	int st = tv_run(vm, f->b, f->n, ts, &res);

	if (st != PCV_VFM_OK)
		return 'E';
	return res ? 'A' : 'D';
}
