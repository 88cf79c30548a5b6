/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what the command-line programs share: number, size and duration
 * parsing with units, and the one way they report errors.
 */
#ifndef PCV_CLI_H
#define PCV_CLI_H

#include <stdbool.h>
#include <stdint.h>

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

/* cli_isatty() - whether fd 2 (or 1) is a terminal. */
bool cli_stderr_is_tty(void);

#endif /* PCV_CLI_H */
