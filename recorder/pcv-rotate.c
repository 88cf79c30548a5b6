// SPDX-License-Identifier: MIT
/*
 * pcv-rotate.c - retention for a store, from cron: ask the recorder to
 * seal its open segments (SIGHUP), then delete the oldest segments until
 * the age, size and free-space rules hold (pcv_store_rotate()).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "cli.h"
#include "pcv/store.h"

static const char usage_text[] =
	"Usage: pcv-rotate DIR [--max-age DUR] [--max-size SIZE]\n"
	"                  [--min-free PCT%|SIZE] [--dry-run] [--no-seal]\n"
	"\n"
	"Apply retention to the store DIR written by pcv-record, for cron:\n"
	"first ask the recorder writing DIR (if one runs) to seal its open\n"
	"segments (SIGHUP), then delete the oldest segments, index rows first,\n"
	"until every rule given holds.  The segments a recorder is writing are\n"
	"never deleted.\n"
	"\n"
	"      --max-age DUR     delete segments that ended longer ago (7d, 12h)\n"
	"      --max-size SIZE   keep the store within SIZE on disk (2TiB)\n"
	"      --min-free PCT%|SIZE\n"
	"                        delete the oldest while the file system has\n"
	"                        less free (10% of its size, or 50GiB)\n"
	"  -n, --dry-run         say what would be deleted, delete nothing\n"
	"      --no-seal         do not signal the recorder\n"
	"  -v, --verbose         a line per deleted segment\n"
	"  -q, --quiet           no summary line\n"
	"  -h, --help            this text\n"
	"\n"
	"Exit status: 0 done (also when nothing had to go), 1 failure, 2 usage\n"
	"error.\n"
	"\n"
	"Example (crontab): 17 * * * * pcv-rotate /data/caps --max-age 7d --min-free 10%\n";

struct opts {
	const char *dir;
	struct pcv_retention r;
	const char *min_free; /* resolved against the file system's size */
	bool dry_run, no_seal, verbose, quiet;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_AGE = 256, O_SIZE, O_FREE, O_NOSEAL };
	static const struct option longopts[] = {
		{ "max-age", required_argument, NULL, O_AGE },
		{ "max-size", required_argument, NULL, O_SIZE },
		{ "min-free", required_argument, NULL, O_FREE },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "no-seal", no_argument, NULL, O_NOSEAL },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "nvqh", longopts, NULL)) != -1) {
		switch (c) {
		case O_AGE:
			if (cli_parse_duration_ns("--max-age", optarg, 1000000000,
						  100ull * 365 * 86400 * 1000000000,
						  &o->r.max_age_ns) < 0)
				return -1;
			break;
		case O_SIZE:
			if (cli_parse_size("--max-size", optarg, 1, UINT64_MAX / 2,
					   &o->r.max_bytes) < 0)
				return -1;
			break;
		case O_FREE:
			o->min_free = optarg;
			break;
		case 'n':
			o->dry_run = true;
			break;
		case O_NOSEAL:
			o->no_seal = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(CLI_EXIT_OK);
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return -1;
		}
	}
	if (optind != argc - 1) {
		cli_error("give one store directory (see --help)");
		return -1;
	}
	o->dir = argv[optind];
	if (!o->r.max_age_ns && !o->r.max_bytes && !o->min_free) {
		cli_error("give --max-age, --max-size or --min-free");
		return -1;
	}
	return 0;
}

/* --min-free: a percentage of DIR's file system, or a size. */
static int resolve_min_free(struct opts *o)
{
	struct statvfs fs;
	const char *s = o->min_free;
	size_t len = strlen(s);
	char *end;
	double pct;

	if (len && s[len - 1] >= '0' && s[len - 1] <= '9') {
		/* "10" could mean 10 % or 10 bytes: ask */
		cli_error("--min-free: '%s': give a percentage (10%%) or a "
			  "size with its unit (50GiB)", s);
		return -1;
	}
	if (!len || s[len - 1] != '%')
		return cli_parse_size("--min-free", s, 1, UINT64_MAX / 2,
				      &o->r.min_free_bytes);
	errno = 0;
	pct = strtod(s, &end);
	if (errno || end != s + len - 1 || !(pct > 0 && pct <= 100)) {
		cli_error("--min-free: '%s' is not a percentage of 0 to 100", s);
		return -1;
	}
	if (statvfs(o->dir, &fs) < 0) {
		cli_error("%s: %s", o->dir, strerror(errno));
		return -2;
	}
	o->r.min_free_bytes =
		(uint64_t)((double)fs.f_blocks * (double)fs.f_frsize * pct / 100);
	return 0;
}

static void on_delete(const char *name, uint64_t bytes, uint64_t start_ns,
		      uint64_t end_ns, const char *why, void *user)
{
	const struct opts *o = user;
	char from[CLI_UTC_LEN], to[CLI_UTC_LEN];

	if (!o->verbose && !o->dry_run)
		return;
	printf("%s %s (%" PRIu64 " bytes, %s .. %s): %s\n",
	       o->dry_run ? "would delete" : "deleted", name, bytes,
	       start_ns ? cli_utc(from, start_ns) : "?", cli_utc(to, end_ns),
	       why);
}

/* Ask the recorder writing DIR, if one does, to seal its segments. */
static void seal(const struct opts *o)
{
	long pid = pcv_store_recorder(o->dir);
	char path[64], comm[32] = "";
	FILE *f;

	if (!pid)
		return;
	/* the lock may be pcv-fsck's: only a recorder gets SIGHUP */
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = '\0';
		fclose(f);
	}
	if (strcmp(comm, "pcv-record\n") != 0)
		return;
	if (kill((pid_t)pid, SIGHUP) < 0)
		cli_error("%s: SIGHUP to the recorder (pid %ld): %s", o->dir,
			  pid, strerror(errno));
	else if (o->verbose)
		printf("asked the recorder (pid %ld) to seal its segments\n",
		       pid);
}

int main(int argc, char **argv)
{
	static struct opts o;
	struct pcv_rotate_report rep;
	char errbuf[PCV_ERRBUF_SIZE] = "", oldest[48] = "no segments";
	char t[CLI_UTC_LEN];
	int rc;

	cli_init(argv[0]);
	if (parse_args(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	if (o.min_free && (rc = resolve_min_free(&o)) < 0)
		return rc == -1 ? CLI_EXIT_USAGE : CLI_EXIT_FAIL;
	if (!o.no_seal && !o.dry_run)
		seal(&o);
	if (pcv_store_rotate(o.dir, &o.r, o.dry_run, on_delete, &o, &rep,
			     errbuf) < 0) {
		cli_error("%s", errbuf);
		return CLI_EXIT_FAIL;
	}
	if (rep.oldest_ns)
		snprintf(oldest, sizeof(oldest), "from %s",
			 cli_utc(t, rep.oldest_ns));
	if (!o.quiet && (rep.segments || rep.orphans || o.verbose || o.dry_run))
		printf("%s %" PRIu64 " segments%s, %" PRIu64 " bytes; the store "
		       "%s %" PRIu64 " bytes, %s\n",
		       o.dry_run ? "would delete" : "deleted",
		       rep.segments + rep.orphans,
		       rep.orphans ? " (some not indexed)" : "", rep.bytes,
		       o.dry_run ? "would hold" : "holds", rep.bytes_after,
		       oldest);
	return CLI_EXIT_OK;
}
