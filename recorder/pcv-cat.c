// SPDX-License-Identifier: MIT
/*
 * pcv-cat.c - write the packets stored in segment files as one pcap file.
 *
 * The inputs are segment files and directories (every *.pcap.zst in one,
 * by name).  Each segment is a stream of packets in stored order; the
 * streams are merged by timestamp: at each step the next packet of every
 * stream is looked at and the one with the smallest timestamp goes out,
 * a tie going to the stream listed first.  Stored order is never changed,
 * so one segment comes out exactly as it was written, even where its
 * timestamps step backwards.
 *
 * A stream is opened and a block decompressed only when the merge needs
 * it: until then the block's first_ns (its smallest timestamp) stands in
 * for the next packet's timestamp, as a lower bound.  So memory holds one
 * block per segment that overlaps in time with another, and a directory
 * of a thousand consecutive segments has one or two open at a time.
 *
 * A damaged block is reported with its file and number, skipped, and the
 * exit status is 1 at the end; so is a file that is not a segment.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli-merge.h"
#include "pcv/segment.h"

#define NS_PER_SEC 1000000000ull

static const char usage_text[] =
	"Usage: pcv-cat [options] DIR|SEGMENT...\n"
	"\n"
	"Write every packet stored in the segments as one pcap file, in time\n"
	"order: a merge by timestamp across segments that keeps each segment's\n"
	"stored order.  A DIR stands for every *" PCV_SEG_SUFFIX " in it, by name.\n"
	"\n"
	"Options:\n"
	"  -w, --write FILE   write to FILE; '-' or no -w: standard output,\n"
	"                     which must not be a terminal\n"
	"      --usec         microsecond timestamps (default: nanosecond)\n"
	"  -h, --help         this text\n"
	"\n"
	"Exit status: 0 done; 1 an input is missing, not a segment, or has a\n"
	"damaged block (reported and skipped; the rest is written); 2 usage.\n"
	"\n"
	"Examples:\n"
	"  pcv-cat /var/lib/pcv/store -w all.pcap\n"
	"  pcv-cat 20261124T031500.123456789Z-eth0-q0.pcap.zst | tcpdump -nr -\n";

static int add_input(struct merge *m, const char *arg)
{
	struct stat st;

	if (stat(arg, &st) < 0) {
		cli_error("%s: %s", arg, strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? merge_add_dir(m, arg)
				   : merge_add(m, arg, NULL, 0);
}

struct out {
	pcap_dumper_t *d;
	bool usec;
};

static int dump_pkt(const struct pcv_packet *p, void *user)
{
	struct out *o = user;
	struct pcap_pkthdr h;

	h.ts.tv_sec = (time_t)(p->ts_ns / NS_PER_SEC);
	h.ts.tv_usec = (suseconds_t)(p->ts_ns % NS_PER_SEC / (o->usec ? 1000 : 1));
	h.caplen = p->caplen;
	h.len = p->len;
	pcap_dump((u_char *)o->d, &h, p->data);
	return 0;
}

static int write_out(struct merge *c, const char *out, bool usec)
{
	FILE *fp = stdout;
	pcap_dumper_t *d;
	pcap_t *p;
	int rc;

	if (out && !(fp = fopen(out, "wb"))) {
		cli_error("%s: %s", out, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	setvbuf(fp, NULL, _IOFBF, 1 << 20);
	p = pcap_open_dead_with_tstamp_precision(c->linktype, (int)c->snaplen,
						 usec ? PCAP_TSTAMP_PRECISION_MICRO
						      : PCAP_TSTAMP_PRECISION_NANO);
	d = p ? pcap_dump_fopen(p, fp) : NULL;
	if (!d) {
		cli_error("%s: %s", out ? out : "stdout",
			  p ? pcap_geterr(p) : "out of memory");
		if (p)
			pcap_close(p);
		if (out)
			fclose(fp);
		return CLI_EXIT_FAIL;
	}
	rc = merge_run(c, dump_pkt, &(struct out){ .d = d, .usec = usec });
	if (pcap_dump_flush(d) < 0 || ferror(fp)) {
		cli_error("%s: write error: %s", out ? out : "stdout",
			  strerror(errno));
		rc = -1;
	}
	pcap_dump_close(d); /* closes fp */
	pcap_close(p);
	if (rc < 0)
		return CLI_EXIT_FAIL;
	return c->failed ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "write", required_argument, NULL, 'w' },
		{ "usec", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL;
	struct merge c = { 0 };
	bool usec = false;
	int opt, rc;

	cli_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "w:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'w':
			out = optarg;
			break;
		case 'u':
			usec = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return CLI_EXIT_USAGE;
		}
	}
	if (out && strcmp(out, "-") == 0)
		out = NULL;
	if (optind == argc) {
		cli_error("give a segment directory or segment files (see --help)");
		return CLI_EXIT_USAGE;
	}
	if (!out && isatty(STDOUT_FILENO)) {
		cli_error("refusing to write a binary pcap to a terminal: use -w FILE or a pipe");
		return CLI_EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		if (add_input(&c, argv[i]) < 0) {
			merge_free(&c);
			return CLI_EXIT_FAIL;
		}
	}
	if (c.n == 0) {
		cli_error("no readable segment: nothing written");
		merge_free(&c);
		return CLI_EXIT_FAIL;
	}
	rc = write_out(&c, out, usec);
	merge_free(&c);
	return rc;
}
