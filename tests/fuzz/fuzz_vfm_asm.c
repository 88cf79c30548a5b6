// SPDX-License-Identifier: MIT
/*
 * fuzz_vfm_asm.c - libFuzzer target for the VFM assembler.
 *
 * The input is assembly text (cut at the first NUL).  Beyond not
 * crashing: a failure returns -EINVAL with "LINE:COL: " messages that fit
 * the error buffer and no output; a success gives at most 64 KiB that
 * disassemble and reassemble to the same bytes; whatever verifies (with
 * or without loops) also loads and runs on a short and a long frame with
 * a status a verified program may give.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcv/error.h"
#include "pcv/vfm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static void run_on(struct pcv_vfm *vm, const uint8_t *frame, uint32_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	uint64_t r;
	int st;

	if (!p)
		return;
	memcpy(p, frame, n);
	st = pcv_vfm_run(vm, p, n, 1, &r);
	check(st == PCV_VFM_OK || st == PCV_VFM_E_BOUNDS ||
	      st == PCV_VFM_E_DIVZERO || st == PCV_VFM_E_LIMIT);
	free(p);
}

static void try_run(const uint8_t *code, size_t len, bool loops)
{
	static const uint8_t frame[74] = {
		2, 0, 0, 0, 0, 0xb, 2, 0, 0, 0, 0, 0xa, 0x86, 0xdd,
		0x60, 0, 0, 0, 0, 20, 6, 64,
		0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0x01, 0xbb, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02,
	};
	char err[PCV_ERRBUF_SIZE];
	struct pcv_vfm_opts o;
	struct pcv_vfm *vm;
	int rc;

	pcv_vfm_opts_init(&o);
	o.allow_loops = loops;
	rc = pcv_vfm_verify(code, len, &o, err);
	check(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	if (rc)
		return;
	rc = pcv_vfm_load(&vm, code, len, &o, err);
	check(rc == 0 || rc == -ENOMEM);
	if (rc)
		return;
	run_on(vm, frame, sizeof(frame));
	run_on(vm, frame, 20);
	pcv_vfm_free(vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PCV_ERRBUF_SIZE];
	char *src, *text = NULL;
	uint8_t *code = NULL, *again = NULL;
	size_t len = 0, alen = 0;
	unsigned line, col;
	int rc;

	src = malloc(size + 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = '\0';

	memset(err, 0x55, sizeof(err));
	rc = pcv_vfm_asm(src, &code, &len, err);
	if (rc == -ENOMEM)
		goto out;
	if (rc) {
		check(rc == -EINVAL && code == NULL && len == 0);
		check(memchr(err, '\0', sizeof(err)) != NULL);
		check(sscanf(err, "%u:%u: ", &line, &col) == 2);
		check(line >= 1 && col >= 1);
		goto out;
	}
	check(code != NULL && len <= PCV_VFM_MAX_PROGRAM);

	rc = pcv_vfm_dis(code, len, PCV_VFM_HEAD, &text, err);
	check(rc == 0 || rc == -ENOMEM);
	if (rc == 0) {
		rc = pcv_vfm_asm(text, &again, &alen, err);
		check(rc == 0 || rc == -ENOMEM);
		check(rc || (alen == len &&
			     (len == 0 || memcmp(again, code, len) == 0)));
	}
	try_run(code, len, false);
	try_run(code, len, true);
out:
	free(again);
	free(text);
	free(code);
	free(src);
	return 0;
}
