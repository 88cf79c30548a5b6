// SPDX-License-Identifier: MIT
/*
 * fuzz_vfm.c - libFuzzer target for the VFM verifier, loader, interpreter
 * and disassembler.
 *
 * The first input byte holds options: bit 0 the legacy numbering, bit 1
 * allow_loops, bit 2 the PV_COMPAT decision, bit 3 a 4-entry flow table
 * with a 1 us TTL (to exercise eviction and expiry).  The rest is
 * bytecode.  It is verified; an accepted program is loaded and run on a
 * few fixed frames of different kinds and lengths, from 0 bytes up, each
 * in a malloc'd buffer of exactly its length so ASan sees any read past
 * it.  The promises checked (a broken one aborts):
 *  - verify and load agree, and messages name an offset;
 *  - a verified program only ever stops with OK, BOUNDS, DIVZERO or
 *    LIMIT - never a stack, opcode or program error, never a crash;
 *  - any bytecode that decodes disassembles to text that assembles back
 *    to the same bytes (in HEAD numbering, for legacy input);
 *  - the program behind a never-taken backward jump (jumps are relative,
 *    so prepending code is safe), which makes the engine count the budget
 *    and run without superinstructions, gives the same answers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"
#include "vfm-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

struct fr {
	uint8_t b[700];
	uint32_t n;
};

#define NFRAMES 10
static struct fr frames[NFRAMES];
static int frames_ready;

static void put(struct fr *f, const void *p, size_t n)
{
	memcpy(f->b + f->n, p, n);
	f->n += (uint32_t)n;
}

static void put16(struct fr *f, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	put(f, b, 2);
}

static void zeros(struct fr *f, size_t n)
{
	memset(f->b + f->n, 0, n);
	f->n += (uint32_t)n;
}

static void eth(struct fr *f, unsigned type)
{
	static const uint8_t macs[12] = { 2, 0, 0, 0, 0, 0xb,
					  2, 0, 0, 0, 0, 0xa };

	f->n = 0;
	put(f, macs, 12);
	put16(f, type);
}

static void ip4(struct fr *f, unsigned ihl, unsigned proto, unsigned l4len,
		unsigned frag)
{
	static const uint8_t addrs[8] = { 192, 168, 1, 100, 10, 0, 0, 1 };
	uint8_t h[12] = { (uint8_t)(0x40 | ihl), 0 };

	put(f, h, 2);
	put16(f, ihl * 4 + l4len);
	put16(f, 0x1234);
	put16(f, frag);
	h[0] = 64;
	h[1] = (uint8_t)proto;
	put(f, h, 2);
	put16(f, 0);
	put(f, addrs, 8);
	zeros(f, (ihl - 5) * 4);
}

static void ip6(struct fr *f, unsigned nh, unsigned plen)
{
	static const uint8_t addrs[32] = { 0x20, 1, 0x0d, 0xb8, [15] = 1,
					   [31] = 1 };

	put16(f, 0x6000);
	put16(f, 0);
	put16(f, plen);
	put16(f, nh << 8 | 64);
	put(f, addrs, 32);
}

static void l4(struct fr *f, unsigned sport, unsigned dport, unsigned len)
{
	put16(f, sport);
	put16(f, dport);
	zeros(f, len - 4);
	if (len >= 14)
		f->b[f->n - len + 13] = 0x12;
}

static void build_frames(void)
{
	struct fr *f = frames;

	f[0].n = 0;
	f[1].n = 1;
	f[1].b[0] = 0x45;
	eth(&f[2], 0x0800); /* runt */
	put16(&f[2], 0x4500);
	zeros(&f[2], 4);
	eth(&f[3], 0x0800); /* IPv4 TCP, IHL 6 */
	ip4(&f[3], 6, 6, 20, 0x4000);
	l4(&f[3], 1234, 80, 20);
	eth(&f[4], 0x0800); /* IPv4 UDP 53, 600 bytes of payload */
	ip4(&f[4], 5, 17, 608, 0);
	l4(&f[4], 53, 1234, 608);
	eth(&f[5], 0x86dd); /* IPv6 TCP */
	ip6(&f[5], 6, 20);
	l4(&f[5], 443, 80, 20);
	eth(&f[6], 0x8100); /* VLAN IPv6 TCP */
	put16(&f[6], 100);
	put16(&f[6], 0x86dd);
	ip6(&f[6], 6, 20);
	l4(&f[6], 443, 80, 20);
	eth(&f[7], 0x86dd); /* IPv6 HBH + fragment + UDP */
	ip6(&f[7], 0, 28);
	put16(&f[7], 44 << 8);
	zeros(&f[7], 6);
	put16(&f[7], 17 << 8);
	put16(&f[7], 37 << 3 | 1);
	put16(&f[7], 0xdead);
	put16(&f[7], 0xbeef);
	l4(&f[7], 5353, 53, 12);
	eth(&f[8], 0x0806); /* ARP */
	zeros(&f[8], 28);
	eth(&f[9], 0x0800); /* IPv4 later fragment, cut in the header */
	ip4(&f[9], 5, 6, 20, 0x0010);
	l4(&f[9], 1, 2, 6);
	frames_ready = 1;
}

static void run_all(struct pcv_vfm *vm, bool loops)
{
	for (int i = 0; i < NFRAMES; i++) {
		uint32_t n = frames[i].n;
		uint8_t *p = malloc(n ? n : 1);
		uint64_t r = 12345;
		int st;

		if (!p)
			return;
		memcpy(p, frames[i].b, n);
		st = pcv_vfm_run(vm, p, n, (uint64_t)i * 700, &r);
		check(st == PCV_VFM_OK || st == PCV_VFM_E_BOUNDS ||
		      st == PCV_VFM_E_DIVZERO || st == PCV_VFM_E_LIMIT);
		check(st == PCV_VFM_OK || r == 0);
		(void)loops;
		pcv_vfm_match(vm, p, n, (uint64_t)i * 700 + 5000);
		free(p);
	}
}

/* PUSH 0; PUSH 1; JEQ 0: never taken, but a back edge. */
static const uint8_t guard[21] = {
	0x04, 0, 0, 0, 0, 0, 0, 0, 0,
	0x04, 1, 0, 0, 0, 0, 0, 0, 0,
	0x13, 0xeb, 0xff,
};

static void differential(const uint8_t *head, size_t len,
			 const struct pcv_vfm_opts *opts)
{
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm_opts o = *opts;
	struct pcv_vfm *plain = NULL, *counted = NULL;
	uint8_t *g;
	int rc;

	if (len + sizeof(guard) > PCV_VFM_MAX_PROGRAM)
		return;
	g = malloc(len + sizeof(guard));
	if (!g)
		return;
	memcpy(g, guard, sizeof(guard));
	memcpy(g + sizeof(guard), head, len);
	o.numbering = PCV_VFM_HEAD;
	rc = pcv_vfm_load(&plain, head, len, &o, err);
	check(rc == 0 || rc == -ENOMEM);
	o.allow_loops = true;
	if (rc == 0) {
		rc = pcv_vfm_load(&counted, g, len + sizeof(guard), &o, err);
		check(rc == 0 || rc == -ENOMEM);
	}
	for (int i = 0; rc == 0 && i < NFRAMES; i++) {
		uint32_t n = frames[i].n;
		uint8_t *p = malloc(n ? n : 1);
		uint64_t r1 = 1, r2 = 2;
		int s1, s2;

		if (!p)
			break;
		memcpy(p, frames[i].b, n);
		s1 = pcv_vfm_run(plain, p, n, (uint64_t)i * 300, &r1);
		s2 = pcv_vfm_run(counted, p, n, (uint64_t)i * 300, &r2);
		free(p);
		/* 3 more instructions may cross the budget: stop there */
		if (s1 == PCV_VFM_E_LIMIT || s2 == PCV_VFM_E_LIMIT) {
			check(s2 == PCV_VFM_E_LIMIT);
			break;
		}
		check(s1 == s2 && r1 == r2);
	}
	pcv_vfm_free(plain);
	pcv_vfm_free(counted);
	free(g);
}

/* dis -> asm must give @head (the HEAD form of @code). */
static void round_trip(const uint8_t *code, size_t len,
		       enum pcv_vfm_numbering num, const uint8_t *head)
{
	char err[PCV_ERRBUF_SIZE];
	char *text = NULL;
	uint8_t *again = NULL;
	size_t alen = 0;
	int rc = pcv_vfm_dis(code, len, num, &text, err);

	if (rc == -ENOMEM)
		return;
	if (!head) {
		check(rc == -EINVAL && text == NULL);
		return;
	}
	check(rc == 0 && text != NULL);
	rc = pcv_vfm_asm(text, &again, &alen, err);
	check(rc == 0 || rc == -ENOMEM);
	if (rc == 0) {
		check(alen == len);
		check(len == 0 || memcmp(again, head, len) == 0);
	}
	free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = NULL;
	struct pcv_vfm_stats st;
	uint8_t *code, *head;
	size_t len;
	int rv, rl, rt;

	if (size == 0 || size - 1 > PCV_VFM_MAX_PROGRAM + 16)
		return 0;
	if (!frames_ready)
		build_frames();
	pcv_vfm_opts_init(&o);
	o.numbering = data[0] & 1 ? PCV_VFM_LEGACY : PCV_VFM_HEAD;
	o.allow_loops = data[0] & 2;
	o.decision = data[0] & 4 ? PCV_VFM_PV_COMPAT : PCV_VFM_NONZERO;
	if (data[0] & 8) {
		o.flow_entries = 4;
		o.flow_ttl_ns = 1000;
	}
	len = size - 1;
	code = malloc(len ? len : 1);
	head = malloc(len ? len : 1);
	if (!code || !head)
		goto out;
	memcpy(code, data + 1, len);

	/* the HEAD form, if the bytes decode */
	memcpy(head, code, len);
	rt = 0;
	if (o.numbering == PCV_VFM_LEGACY)
		rt = pcv__vfm_from_legacy(head, len, err);
	if (rt == 0) {
		size_t pc = 0;

		while (pc < len && pcv__vfm_op(head[pc]) &&
		       pcv__vfm_op(head[pc])->size <= len - pc)
			pc += pcv__vfm_op(head[pc])->size;
		if (pc != len)
			rt = -EINVAL;
	}
	round_trip(code, len, o.numbering, rt == 0 ? head : NULL);

	err[0] = '\0';
	rv = pcv_vfm_verify(code, len, &o, err);
	check(rv == 0 || rv == -EINVAL || rv == -ENOMEM);
	check(rv != -EINVAL || strncmp(err, "offset ", 7) == 0);
	check(rv != 0 || rt == 0);
	rl = pcv_vfm_load(&vm, code, len, &o, err);
	if (rl == -ENOMEM || rv == -ENOMEM)
		goto out;
	check(rl == rv);
	check((rl == 0) == (vm != NULL));
	if (rl)
		goto out;

	/* the caller's buffer is not the VM's */
	memset(code, 0xff, len);
	run_all(vm, o.allow_loops);
	run_all(vm, o.allow_loops);
	differential(head, len, &o);
	pcv_vfm_get_stats(vm, &st);
	check(st.packets == 2 * NFRAMES);
	check(st.accepted + st.rejected + st.errors == st.packets);
	check(st.flow_entries <= (o.flow_entries ? o.flow_entries : 65536));

	/* the reassembled HEAD bytes verify the same way in HEAD */
	if (o.numbering == PCV_VFM_LEGACY) {
		o.numbering = PCV_VFM_HEAD;
		rv = pcv_vfm_verify(head, len, &o, err);
		check(rv == 0 || rv == -ENOMEM);
	}
out:
	pcv_vfm_free(vm);
	free(code);
	free(head);
	return 0;
}
