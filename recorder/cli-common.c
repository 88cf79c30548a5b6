// SPDX-License-Identifier: MIT
/*
 * cli-common.c - flag value parsing and error reporting shared by the
 * command-line programs (see cli.h).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *cli_prog = "pcv";

void cli_init(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');

	cli_prog = slash ? slash + 1 : argv0;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cli_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool cli_stderr_is_tty(void)
{
	return isatty(STDERR_FILENO) == 1;
}

const char *cli_utc(char buf[CLI_UTC_LEN], uint64_t ns)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, CLI_UTC_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, CLI_UTC_LEN - n, ".%09uZ",
		 (unsigned)(ns % 1000000000u));
	return buf;
}

/* Parse a leading unsigned decimal; *end points past it. */
static int leading_u64(const char *s, uint64_t *v, const char **end)
{
	char *e;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	*v = strtoull(s, &e, 10);
	if (errno == ERANGE)
		return -1;
	*end = e;
	return 0;
}

int cli_parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	const char *end;
	uint64_t v;

	if (leading_u64(s, &v, &end) < 0 || *end != '\0') {
		cli_error("%s: '%s' is not a number", flag, s);
		return -1;
	}
	if (v < min || v > max) {
		cli_error("%s: %s is out of range %llu..%llu", flag, s,
			  (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*out = v;
	return 0;
}

struct unit {
	const char *name;
	double mult;
};

/* Parse "NUMBER[UNIT]" against a unit table; an empty unit means the
 * table's first entry. */
static int parse_with_unit(const char *flag, const char *s,
			   const struct unit *units, const char *what,
			   double *out)
{
	char *end;
	double v;

	if (!isdigit((unsigned char)s[0]) && s[0] != '.')
		goto bad;
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE || !isfinite(v) || v < 0)
		goto bad;
	for (const struct unit *u = units; u->name; u++) {
		if (strcasecmp(end, u->name) == 0) {
			*out = v * u->mult;
			return 0;
		}
	}
bad:
	cli_error("%s: '%s' is not a %s", flag, s, what);
	return -1;
}

static int check_range(const char *flag, const char *s, double v,
		       uint64_t min, uint64_t max, uint64_t *out)
{
	if (v < (double)min || v > (double)max) {
		cli_error("%s: %s is out of range", flag, s);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

int cli_parse_size(const char *flag, const char *s, uint64_t min,
		   uint64_t max, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1 },
		{ "b", 1 },
		{ "k", 1024.0 },
		{ "kb", 1024.0 },
		{ "kib", 1024.0 },
		{ "m", 1048576.0 },
		{ "mb", 1048576.0 },
		{ "mib", 1048576.0 },
		{ "g", 1073741824.0 },
		{ "gb", 1073741824.0 },
		{ "gib", 1073741824.0 },
		{ "t", 1099511627776.0 },
		{ "tb", 1099511627776.0 },
		{ "tib", 1099511627776.0 },
		{ NULL, 0 },
	};
	double v;

	if (parse_with_unit(flag, s, units, "size (e.g. 512, 64KiB, 1GiB)",
			    &v) < 0)
		return -1;
	return check_range(flag, s, v, min, max, out);
}

int cli_parse_duration_ns(const char *flag, const char *s, uint64_t min_ns,
			  uint64_t max_ns, uint64_t *out)
{
	static const struct unit units[] = {
		{ "", 1e9 },
		{ "s", 1e9 },
		{ "ns", 1 },
		{ "us", 1e3 },
		{ "ms", 1e6 },
		{ "m", 60e9 },
		{ "h", 3600e9 },
		{ "d", 86400e9 },
		{ NULL, 0 },
	};
	double v;

	if (parse_with_unit(flag, s, units,
			    "duration (e.g. 500ms, 10s, 5m, 2h, 7d)", &v) < 0)
		return -1;
	return check_range(flag, s, v, min_ns, max_ns, out);
}
