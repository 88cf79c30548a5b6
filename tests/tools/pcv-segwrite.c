// SPDX-License-Identifier: MIT
/*
 * pcv-segwrite.c - test helper: turn capture files into segments.
 *
 * Each input is read with the capture API (pcv_open("pcapfile:IN")) and
 * written to one segment in OUTDIR, named by pcv_seg_name() from its first
 * packet's time, interface "import" and queue number = the input's index,
 * so inputs never collide.  With -p N an input is cut into segments of N
 * packets, numbered by queue 0, 1, 2, ... instead (give one input then).
 * The path of each segment goes to stdout.  An input that is damaged part
 * way still gives a segment of the packets before the damage.
 *
 *   pcv-segwrite [-b BLOCK_BYTES] [-l LEVEL] [-p N] [-u] [-n] OUTDIR IN...
 *     -b  block size (default 1 MiB)    -l  zstd level (default 3)
 *     -p  N packets per segment         -u  leave the segments unsealed
 *     -n  no fsync
 *   exit 0 all written; 1 an input could not be read whole (or at all);
 *   3 an input's link type has no segment form (no segment written);
 *   4 a packet's time is past what pcap holds (2106; the segment stops
 *   before it); 2 usage or a write error.  With several inputs, the
 *   highest of their statuses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcv/pcv.h"
#include "pcv/segment.h"

struct job {
	const char *outdir, *in;
	unsigned queue;
	struct pcv_seg_opts o;
	bool unsealed;
	struct pcv_handle *h;
	struct pcv_seg_writer *w;
	char path[4096];
	int err;          /* a writer error */
	uint64_t npkts;   /* in the open segment */
	uint64_t per_seg; /* -p; 0: one segment */
};

static int open_writer(struct job *j, uint64_t ts_ns)
{
	char name[256];
	int rc;

	rc = pcv_seg_name(name, sizeof(name), ts_ns, "import", j->queue);
	if (rc < 0)
		return rc;
	snprintf(j->path, sizeof(j->path), "%s/%s", j->outdir, name);
	j->o.linktype = pcv_get_linktype(j->h);
	j->o.snaplen = pcv_get_snaplen(j->h);
	rc = pcv_seg_writer_open(&j->w, j->path, &j->o);
	if (rc < 0)
		fprintf(stderr, "pcv-segwrite: %s: %s\n", j->path,
			pcv_strerror(rc));
	return rc;
}

/* Seal (or flush and leave) the open segment and print its path. */
static int finish(struct job *j)
{
	int rc = j->unsealed ? pcv_seg_writer_flush(j->w)
			     : pcv_seg_writer_seal(j->w);

	if (j->unsealed)
		pcv_seg_writer_abandon(j->w);
	j->w = NULL;
	j->npkts = 0;
	if (rc < 0) {
		fprintf(stderr, "pcv-segwrite: %s: %s\n", j->path,
			pcv_strerror(rc));
		return rc;
	}
	printf("%s\n", j->path);
	return 0;
}

static void on_batch(const struct pcv_batch *b, void *user)
{
	struct job *j = user;

	for (uint32_t i = 0; i < b->count && !j->err; i++) {
		int rc;

		if (j->w && j->per_seg && j->npkts == j->per_seg) {
			j->err = finish(j);
			j->queue++;
		}
		if (!j->w && !j->err)
			j->err = open_writer(j, b->pkts[i].ts_ns);
		if (j->err)
			break;
		rc = pcv_seg_writer_add(j->w, &b->pkts[i], NULL);
		if (rc < 0) {
			fprintf(stderr, "pcv-segwrite: %s\n",
				pcv_seg_writer_errmsg(j->w));
			j->err = rc;
			break;
		}
		j->npkts++;
	}
	if (j->err)
		pcv_breakloop(j->h);
}

/* Return: the exit status for this input. */
static int convert(struct job *j)
{
	char errbuf[PCV_ERRBUF_SIZE] = "";
	char src[4200];
	int rc, status = 0;

	snprintf(src, sizeof(src), "pcapfile:%s", j->in);
	rc = pcv_open(&j->h, src, NULL, errbuf);
	if (rc < 0) {
		fprintf(stderr, "pcv-segwrite: %s: %s\n", j->in, errbuf);
		return 1;
	}
	rc = pcv_capture_batch(j->h, on_batch, j);
	if (rc < 0 && !j->err) {
		fprintf(stderr, "pcv-segwrite: %s: %s\n", j->in,
			pcv_get_error(j->h));
		status = 1;
	}
	if (!j->w && !j->err)
		j->err = open_writer(j, 0); /* no packets: an empty segment */
	if (j->err == PCV_ELINKTYPE) {
		status = 3;
	} else if (j->err == -ERANGE) {
		status = 4;
	} else if (j->err) {
		status = 2;
	} else if (finish(j) < 0) {
		status = 2;
	}
	pcv_seg_writer_abandon(j->w);
	pcv_close(j->h);
	return status;
}

int main(int argc, char **argv)
{
	struct pcv_seg_opts o;
	bool unsealed = false;
	uint64_t per_seg = 0;
	int opt, status = 0;

	pcv_seg_opts_init(&o);
	while ((opt = getopt(argc, argv, "b:l:p:un")) != -1) {
		switch (opt) {
		case 'b':
			o.block_size = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'l':
			o.level = atoi(optarg);
			break;
		case 'p':
			per_seg = strtoull(optarg, NULL, 0);
			break;
		case 'u':
			unsealed = true;
			break;
		case 'n':
			o.fsync = false;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind < 2)
		goto usage;
	for (int i = optind + 1; i < argc; i++) {
		struct job j = {
			.outdir = argv[optind],
			.in = argv[i],
			.queue = (unsigned)(i - optind - 1),
			.o = o,
			.unsealed = unsealed,
			.per_seg = per_seg,
		};
		int st = convert(&j);

		if (st > status)
			status = st;
	}
	return status;
usage:
	fprintf(stderr, "usage: pcv-segwrite [-b BLOCK_BYTES] [-l LEVEL] [-p N] [-u] [-n] OUTDIR IN...\n");
	return 2;
}
