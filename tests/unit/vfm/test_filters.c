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
#include "vectors.h"

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
	return tv_load(code, len, path);
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
		char got[TV_NFRAMES + 1];
		int i;

		for (i = 0; i < TV_NFRAMES; i++) {
			struct frame f;

			tv_build(i, &f);
			got[i] = tv_verdict(vm, &f, (uint64_t)i);
		}
		got[TV_NFRAMES] = 0;
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

	tv_build(idx, &f);
	for (i = 0; i < count; i++)
		n += tv_verdict(vm, &f, t0 + (uint64_t)i * 1000000) == 'A';
	return n;
}

Test(filters, first_n)
{
	struct pcv_vfm *vm = load_file("first-n.vfl");
	struct frame f, reply;
	int i, n = 0;

	/* both directions of one flow count together */
	tv_build(0, &f);
	reply = f;
	memcpy(reply.b + 26, f.b + 30, 4);
	memcpy(reply.b + 30, f.b + 26, 4);
	memcpy(reply.b + 34, f.b + 36, 2);
	memcpy(reply.b + 36, f.b + 34, 2);
	for (i = 0; i < 30; i++)
		n += tv_verdict(vm, i & 1 ? &reply : &f, (uint64_t)i) == 'A';
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
