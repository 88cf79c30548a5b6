// SPDX-License-Identifier: MIT
/*
 * pcv-fsck.c - check a store and make its index right: cut the torn tail
 * a crash left, set unreadable segments aside, drop index rows that point
 * past the data, index what is not indexed; or rebuild the index from the
 * segments alone.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "pcv/store.h"

static const char usage_text[] =
	"Usage: pcv-fsck DIR [--rebuild-index] [--quick]\n"
	"\n"
	"Check the store DIR written by pcv-record: every segment's blocks\n"
	"(checksums, records) and the index against them.  Repairs what a\n"
	"crash leaves: a torn segment tail is cut, index rows that point past\n"
	"the data are dropped, segments the index lacks are indexed.  A segment\n"
	"that cannot be read is reported and renamed *.corrupt, never fatal.\n"
	"\n"
	"      --rebuild-index   build the index anew from the segments alone\n"
	"      --quick           do not read every block (structure only)\n"
	"  -h, --help            this text\n"
	"\n"
	"Exit status: 0 clean, 1 repaired or set something aside (see the\n"
	"report) or failed, 2 usage error.  Fails while a recorder holds DIR.\n";

int main(int argc, char **argv)
{
	enum { O_REBUILD = 256, O_QUICK };
	static const struct option longopts[] = {
		{ "rebuild-index", no_argument, NULL, O_REBUILD },
		{ "quick", no_argument, NULL, O_QUICK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned flags = PCV_FSCK_VERIFY;
	struct pcv_fsck_report r;
	char errbuf[PCV_ERRBUF_SIZE] = "";
	bool repaired;
	int c;

	cli_init(argv[0]);
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_REBUILD:
			flags |= PCV_FSCK_REBUILD;
			break;
		case O_QUICK:
			flags &= ~(unsigned)PCV_FSCK_VERIFY;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_error("give one store directory (see --help)");
		return CLI_EXIT_USAGE;
	}
	if (pcv_store_fsck(argv[optind], flags, &r, errbuf) < 0) {
		cli_error("%s", errbuf);
		return CLI_EXIT_FAIL;
	}
	printf("%" PRIu64 " segments, %" PRIu64 " blocks checked%s\n",
	       r.segments, r.blocks,
	       flags & PCV_FSCK_VERIFY ? " (every block read)" : "");
	repaired = r.torn || r.set_aside || r.rows_dropped ||
		   (r.added && !(flags & PCV_FSCK_REBUILD));
	if (r.torn)
		printf("torn tails cut: %" PRIu64 " segments, %" PRIu64 " bytes\n",
		       r.torn, r.bytes_cut);
	if (r.set_aside)
		printf("set aside as *.corrupt: %" PRIu64 " segments\n",
		       r.set_aside);
	if (r.rows_dropped)
		printf("index rows dropped: %" PRIu64 "\n", r.rows_dropped);
	if (r.added || r.blocks_indexed)
		printf("indexed: %" PRIu64 " segments, %" PRIu64 " blocks\n",
		       r.added, r.blocks_indexed);
	printf("%s\n", repaired ? "repaired" : "clean");
	return repaired ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
