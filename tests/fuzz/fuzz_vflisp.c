// SPDX-License-Identifier: MIT
/*
 * fuzz_vflisp.c - libFuzzer target for the VFLisp compiler.
 *
 * The input is program text.  Whatever it is, pcv_vfl_compile() must
 * either fail with an "N: message" (or "L:N: message") diagnostic and no
 * output, or produce bytecode that passes pcv_vfm_verify(), compiles the
 * same way twice, loads, and runs on a few fixed frames - IPv4 TCP, a
 * VLAN-tagged one, IPv6 UDP behind a Hop-by-Hop header, ARP and a runt -
 * without crashing and with a known status.  A broken promise aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t f_tcp4[] = {
	2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x08, 0x00,
	0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0,
	192, 168, 1, 100, 10, 0, 0, 1,
	0x04, 0xd2, 0, 80, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x02,
	0xff, 0xff, 0, 0, 0, 0,
};

static const uint8_t f_vlan[] = {
	2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x81, 0x00, 0, 100,
	0x08, 0x00, 0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0,
	192, 168, 1, 100, 10, 0, 0, 1,
	0x04, 0xd2, 0x01, 0xbb, 1, 2, 3, 4, 0, 0, 0, 0, 0x50, 0x02,
	0xff, 0xff, 0, 0, 0, 0,
};

static const uint8_t f_udp6[] = {
	2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x86, 0xdd,
	0x60, 0, 0, 0, 0, 16, 0, 64,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	17, 0, 1, 4, 0, 0, 0, 0,
	0x14, 0xe9, 0, 53, 0, 8, 0, 0,
};

static const uint8_t f_arp[] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 0xa, 0x08, 0x06,
	0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0xa, 192, 168, 1, 100,
	0, 0, 0, 0, 0, 0, 10, 0, 0, 1,
};

static const struct {
	const uint8_t *b;
	uint32_t n;
} frames[] = {
	{ f_tcp4, sizeof(f_tcp4) },
	{ f_vlan, sizeof(f_vlan) },
	{ f_udp6, sizeof(f_udp6) },
	{ f_arp, sizeof(f_arp) },
	{ f_tcp4, 20 }, /* runt */
	{ f_tcp4, 0 },
};

static void check(int ok)
{
	if (!ok)
		abort();
}

/* "COL: msg" or "LINE:COL: msg", both numbers >= 1 */
static void check_message(const char *e)
{
	int parts = 0;

	for (;;) {
		check(*e >= '1' && *e <= '9');
		while (*e >= '0' && *e <= '9')
			e++;
		parts++;
		if (*e == ':' && e[1] == ' ')
			break;
		check(*e == ':' && parts == 1);
		e++;
	}
	check(e[2] != 0);
}

static void run(const uint8_t *code, size_t len)
{
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm = NULL;
	size_t i, rep;

	pcv_vfm_opts_init(&o);
	o.flow_entries = 16;
	check(pcv_vfm_verify(code, len, &o, err) == 0);
	check(pcv_vfm_load(&vm, code, len, &o, err) == 0);
	/* twice, so stateful programs see a flow again */
	for (rep = 0; rep < 2; rep++) {
		for (i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
			uint8_t *f = malloc(frames[i].n ? frames[i].n : 1);
			uint64_t r;
			int st;

			check(f != NULL);
			memcpy(f, frames[i].b, frames[i].n);
			st = pcv_vfm_run(vm, f, frames[i].n, rep * 1000 + i,
					 &r);
			/* verified code never overflows, underflows, runs
			 * off the end or meets a bad opcode */
			check(st == PCV_VFM_OK || st == PCV_VFM_E_BOUNDS ||
			      st == PCV_VFM_E_DIVZERO);
			free(f);
		}
	}
	pcv_vfm_free(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PCV_ERRBUF_SIZE];
	uint8_t *code, *again;
	size_t len, len2;
	char *src;
	int r;

	src = malloc(size + 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = 0; /* text stops at the first NUL, like a C string */

	memset(err, 0x55, sizeof(err));
	r = pcv_vfl_compile(src, &code, &len, err);
	if (r) {
		check(r == -EINVAL);
		check(code == NULL && len == 0);
		check(memchr(err, 0, sizeof(err)) != NULL);
		check_message(err);
	} else {
		check(code != NULL && len >= 2 && len <= PCV_VFM_MAX_PROGRAM);
		check(code[len - 1] == PCV_VFM_RET);
		check(pcv_vfl_compile(src, &again, &len2, NULL) == 0);
		check(len2 == len && !memcmp(code, again, len));
		free(again);
		run(code, len);
		free(code);
	}
	free(src);
	return 0;
}
