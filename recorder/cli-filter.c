// SPDX-License-Identifier: MIT
/*
 * cli-filter.c - the filter flags every capturing program shares: a
 * trailing tcpdump expression (kernel side where possible), -f FILE (VFM
 * bytecode, assembly or VFLisp) and -l VFLISP (userspace).  See cli.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pcv/pcv.h"
#include "pcv/vfm.h"

#define VFM_FILE_MAX (1u << 20) /* larger is not a filter */

int cli_filter_expr(struct cli_filter *f, int argc, char **argv, int first)
{
	size_t len = 0;
	char *p;

	if (first >= argc)
		return 0;
	for (int i = first; i < argc; i++)
		len += strlen(argv[i]) + 1;
	f->expr = p = malloc(len);
	if (!p) {
		cli_error("out of memory");
		return -1;
	}
	for (int i = first; i < argc; i++)
		p += sprintf(p, "%s%s", i > first ? " " : "", argv[i]);
	return 0;
}

/* Read a whole file of at most VFM_FILE_MAX bytes, NUL-terminated. */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (!fp) {
		cli_error("%s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(VFM_FILE_MAX + 1);
	if (buf)
		n = fread(buf, 1, VFM_FILE_MAX + 1, fp);
	if (!buf || ferror(fp)) {
		cli_error("%s: %s", path, buf ? strerror(errno) : "out of memory");
	} else if (n > VFM_FILE_MAX) {
		cli_error("%s: larger than %u bytes: not a filter", path,
			  VFM_FILE_MAX);
	} else {
		fclose(fp);
		buf[n] = '\0';
		*len = n;
		return buf;
	}
	fclose(fp);
	free(buf);
	return NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Whether @buf looks like text: no NUL and no control bytes but spacing. */
static bool is_text(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 0x20 && c != '\n' && c != '\r' && c != '\t')
			return false;
	}
	return true;
}

/* The first character that is not space or part of a ';' comment. */
static char first_code_char(const char *s)
{
	while (*s) {
		if (*s == ';') {
			while (*s && *s != '\n')
				s++;
		} else if (*s == ' ' || *s == '\t' || *s == '\n' ||
			   *s == '\r') {
			s++;
		} else {
			return *s;
		}
	}
	return '\0';
}

int cli_vfm_read(const char *path, uint8_t **code, size_t *len,
		 char *errbuf)
{
	size_t n;
	char *buf = slurp(path, &n);
	int rc;

	if (!buf)
		return -ENOENT;
	if (ends_with(path, ".bin") || !is_text(buf, n)) {
		*code = (uint8_t *)buf;
		*len = n;
		return 0;
	}
	if (ends_with(path, ".vfl") ||
	    (!ends_with(path, ".vfm") && !ends_with(path, ".vfasm") &&
	     first_code_char(buf) == '('))
		rc = pcv_vfl_compile(buf, code, len, errbuf);
	else
		rc = pcv_vfm_asm(buf, code, len, errbuf);
	free(buf);
	return rc;
}

static int vfm_load(struct cli_filter *f)
{
	struct pcv_vfm_opts opts;
	char errbuf[PCV_ERRBUF_SIZE] = "";
	const char *what = f->vfl ? "-l" : f->vfm_file;
	uint8_t *code = NULL;
	size_t len = 0;
	int rc;

	if (f->vfl && f->vfm_file) {
		cli_error("give -f FILE or -l VFLISP, not both");
		return CLI_EXIT_USAGE;
	}
	rc = f->vfl ? pcv_vfl_compile(f->vfl, &code, &len, errbuf)
		    : cli_vfm_read(f->vfm_file, &code, &len, errbuf);
	if (rc == -ENOENT)
		return CLI_EXIT_FAIL;
	if (rc < 0) {
		cli_error("%s: %s", what, errbuf);
		return CLI_EXIT_USAGE;
	}
	pcv_vfm_opts_init(&opts);
	if (f->vfm_legacy)
		opts.numbering = PCV_VFM_LEGACY;
	rc = pcv_vfm_load(&f->vm, code, len, &opts, errbuf);
	free(code);
	if (rc < 0) {
		cli_error("%s: %s", what, errbuf);
		return CLI_EXIT_USAGE;
	}
	return CLI_EXIT_OK;
}

int cli_filter_prepare(struct cli_filter *f, struct pcv_config *cfg)
{
	cfg->filter = f->expr;
	return f->vfl || f->vfm_file ? vfm_load(f) : CLI_EXIT_OK;
}

bool cli_filter_match(struct cli_filter *f, const struct pcv_packet *p)
{
	return !f->vm || pcv_vfm_match(f->vm, p->data, p->caplen, p->ts_ns);
}

void cli_filter_report(const struct cli_filter *f)
{
	struct pcv_vfm_stats st;

	if (!f->vm)
		return;
	pcv_vfm_get_stats(f->vm, &st);
	fprintf(stderr,
		"VFM filter: %" PRIu64 " packets, %" PRIu64 " accepted, %" PRIu64
		" rejected, %" PRIu64 " errors",
		st.packets, st.accepted, st.rejected, st.errors);
	for (int i = 1; i < 8; i++) {
		if (st.errors_by_kind[i])
			fprintf(stderr, " (%s %" PRIu64 ")",
				pcv_vfm_status_name(-i), st.errors_by_kind[i]);
	}
	fputc('\n', stderr);
}

int cli_capture_opt(int c, const char *arg, struct pcv_config *cfg,
		    struct cli_filter *f)
{
	uint64_t v;

	switch (c) {
	case 'f':
		f->vfm_file = arg;
		return 1;
	case 'l':
		f->vfl = arg;
		return 1;
	case 's':
		if (cli_parse_u64("--snaplen", arg, 1, PCV_DEFAULT_SNAPLEN,
				  &v) < 0)
			return -1;
		cfg->snaplen = (uint32_t)v;
		return 1;
	case 'b':
		cfg->backend = arg;
		return 1;
	default:
		return 0;
	}
}

void cli_filter_free(struct cli_filter *f)
{
	free(f->expr);
	f->expr = NULL;
	pcv_vfm_free(f->vm);
	f->vm = NULL;
}
