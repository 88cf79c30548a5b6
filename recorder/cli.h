/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the command-line programs share: number, size and duration
 * parsing with units, and the one way they report errors.
 */
#ifndef PCV_CLI_H
#define PCV_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit codes of every program. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* the job failed (capture error, bad input file) */
#define CLI_EXIT_USAGE 2 /* bad flags or arguments */

/* The program's name for messages; set by cli_init(). */
extern const char *cli_prog;

void cli_init(const char *argv0);

/* cli_error() - "PROG: message" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * cli_parse_u64() - a decimal count in [min, max], the whole string.
 * Return: 0, or -1 after printing "PROG: FLAG: ..." on stderr.
 */
int cli_parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out);

/*
 * cli_parse_size() - a size with an optional unit: B, K/KB/KiB, M/MB/MiB,
 * G/GB/GiB, T/TB/TiB (all powers of 1024; case ignored).
 */
int cli_parse_size(const char *flag, const char *s, uint64_t min,
		   uint64_t max, uint64_t *out);

/*
 * cli_parse_duration_ns() - a duration: a number with a unit ns, us, ms,
 * s, m, h or d (no unit: seconds); fractions allowed ("1.5s").
 */
int cli_parse_duration_ns(const char *flag, const char *s, uint64_t min_ns,
			  uint64_t max_ns, uint64_t *out);

/* cli_stderr_is_tty() - whether fd 2 is a terminal. */
bool cli_stderr_is_tty(void);

/* cli_utc() - @ns since the epoch as RFC 3339 UTC to the nanosecond,
 * "2026-11-24T03:15:00.123456789Z", in @buf; returns @buf. */
#define CLI_UTC_LEN 32
const char *cli_utc(char buf[CLI_UTC_LEN], uint64_t ns);

/* ===== one line per packet (cli-print.c) ============================== */

struct pcv_dissect;
struct pcv_packet;

/*
 * cli_print_packet() - "TIME IP SRC.PORT > DST.PORT: TCP [S.], length N"
 * and the like, from @d (pcv_dissect()'s result @rc) on @f; local time,
 * nanoseconds, with the date first when @date.
 */
void cli_print_packet(FILE *f, const struct pcv_packet *p,
		      const struct pcv_dissect *d, int rc, int linktype,
		      bool date);

/* ===== filters: the same flags in every program that captures ======== */

struct pcv_config;
struct pcv_packet;
struct pcv_vfm;

/*
 * What the user asked to keep: a tcpdump expression (the trailing
 * arguments; compiled for the handle's link type and run in the kernel
 * where the backend can), and/or a VFM filter (-f FILE with bytecode,
 * assembly or VFLisp, or -l VFLISP), run in userspace on what passed the
 * first.  A packet is kept when both accept it.
 */
struct cli_filter {
	char *expr;            /* joined trailing arguments, or NULL */
	const char *vfm_file;  /* -f */
	const char *vfl;       /* -l */
	bool vfm_legacy;       /* --vfm-legacy: -f bytecode in legacy numbering */
	struct pcv_vfm *vm;
};

/* cli_filter_expr() - join argv[optind..] into f->expr.  Return: 0, -1. */
int cli_filter_expr(struct cli_filter *f, int argc, char **argv, int first);

/*
 * cli_filter_prepare() - load the VFM filter and put the expression in
 * @cfg, for pcv_open() to compile and attach before the first packet.
 * Prints one message on failure.
 * Return: CLI_EXIT_OK, or the exit code to leave with (CLI_EXIT_USAGE for
 * a filter that does not compile, CLI_EXIT_FAIL for an unreadable file).
 */
int cli_filter_prepare(struct cli_filter *f, struct pcv_config *cfg);

/* cli_filter_match() - the userspace (VFM) part; true without one. */
bool cli_filter_match(struct cli_filter *f, const struct pcv_packet *p);

/* cli_filter_report() - VFM counters on stderr, when there is a VFM filter. */
void cli_filter_report(const struct cli_filter *f);

void cli_filter_free(struct cli_filter *f);

/*
 * cli_capture_opt() - the flags every capturing program shares, with the
 * same letters everywhere: -f FILE, -l VFLISP, -s SNAPLEN, -b BACKEND.
 * Return: 1 when @c was one of them, 0 when not, -1 after printing why
 * @arg is bad.
 */
int cli_capture_opt(int c, const char *arg, struct pcv_config *cfg,
		    struct cli_filter *f);

/*
 * cli_vfm_read() - a VFM filter file as bytecode: .vfl is VFLisp,
 * .vfm/.vfasm assembly, .bin bytecode; another name by its content (text
 * starting with '(' is VFLisp, other text assembly, the rest bytecode).
 * *code is malloc'd.
 * Return: 0; -ENOENT after printing why the file cannot be read; -EINVAL
 * with the compiler's or assembler's message in @errbuf.
 */
int cli_vfm_read(const char *path, uint8_t **code, size_t *len,
		 char *errbuf);

#endif /* PCV_CLI_H */
