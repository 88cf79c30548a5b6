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

/* One packet of a loaded block. */
struct rec {
	size_t off; /* in the stream's data buffer */
	uint32_t caplen, len;
	uint64_t ts_ns;
};

struct stream {
	char *path;
	struct pcv_seg_block *blocks; /* as found when first opened */
	size_t nblocks;
	struct pcv_seg_reader *r;     /* open while the merge reads it */
	size_t next;                  /* next block to load */
	/* the loaded block: recs[pos..nrecs) still to go */
	struct rec *recs;
	size_t nrecs, pos, recs_cap;
	uint8_t *data;
	size_t data_len, data_cap;
	bool oom;
};

struct cat {
	struct stream *s;
	size_t n, cap;
	int linktype;
	uint32_t snaplen;
	bool failed;
	/* the merge: a binary min-heap of stream indexes */
	size_t *heap;
	size_t nheap;
};

/* ===== inputs ============================================================ */

static int add_stream(struct cat *c, const char *path)
{
	char errbuf[PCV_ERRBUF_SIZE];
	const struct pcv_seg_block *b;
	struct pcv_seg_reader *r;
	struct stream *s;
	int rc;

	rc = pcv_seg_reader_open(&r, path, errbuf);
	if (rc < 0) {
		cli_error("%s", errbuf);
		c->failed = true;
		return 0;
	}
	if (c->n && pcv_seg_reader_linktype(r) != c->linktype) {
		cli_error("%s: link type %d, but %s has %d: one pcap file holds one link type",
			  path, pcv_seg_reader_linktype(r), c->s[0].path,
			  c->linktype);
		pcv_seg_reader_close(r);
		return -1;
	}
	if (pcv_seg_reader_torn(r))
		cli_error("%s: note: ignoring %llu bytes after the last whole block (still being written, or cut short)",
			  path, (unsigned long long)pcv_seg_reader_torn(r));
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct stream *ns = realloc(c->s, cap * sizeof(*ns));

		if (!ns)
			goto oom;
		c->s = ns;
		c->cap = cap;
	}
	s = &c->s[c->n];
	memset(s, 0, sizeof(*s));
	b = pcv_seg_reader_blocks(r, &s->nblocks);
	s->path = strdup(path);
	s->blocks = malloc((s->nblocks ? s->nblocks : 1) * sizeof(*b));
	if (!s->path || !s->blocks) {
		free(s->path);
		free(s->blocks);
		goto oom;
	}
	memcpy(s->blocks, b, s->nblocks * sizeof(*b));
	if (!c->n)
		c->linktype = pcv_seg_reader_linktype(r);
	if (pcv_seg_reader_snaplen(r) > c->snaplen)
		c->snaplen = pcv_seg_reader_snaplen(r);
	c->n++;
	pcv_seg_reader_close(r);
	return 0;
oom:
	pcv_seg_reader_close(r);
	cli_error("out of memory");
	return -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *name)
{
	size_t n = strlen(name), k = strlen(PCV_SEG_SUFFIX);

	return n > k && strcmp(name + n - k, PCV_SEG_SUFFIX) == 0;
}

/* Every *.pcap.zst regular file in @dir, by name. */
static int add_dir(struct cat *c, const char *dir)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int rc = 0;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		cli_error("%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char *path;
		struct stat st;

		if (!has_suffix(e->d_name))
			continue;
		if (asprintf(&path, "%s/%s", dir, e->d_name) < 0) {
			rc = -1;
			break;
		}
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 64;
			nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				free(path);
				rc = -1;
				break;
			}
			names = nn;
		}
		names[n++] = path;
	}
	closedir(d);
	if (rc < 0)
		cli_error("out of memory");
	else if (n == 0) {
		cli_error("%s: no segments (*%s) in this directory", dir,
			  PCV_SEG_SUFFIX);
		rc = -1;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = add_stream(c, names[i]);
		free(names[i]);
	}
	free(names);
	return rc;
}

static int add_input(struct cat *c, const char *arg)
{
	struct stat st;

	if (stat(arg, &st) < 0) {
		cli_error("%s: %s", arg, strerror(errno));
		return -1;
	}
	return S_ISDIR(st.st_mode) ? add_dir(c, arg) : add_stream(c, arg);
}

/* ===== streams =========================================================== */

static void on_pkt(const struct pcv_packet *p, void *user)
{
	struct stream *s = user;
	struct rec *rec;

	if (s->oom)
		return;
	if (s->nrecs == s->recs_cap) {
		size_t cap = s->recs_cap ? s->recs_cap * 2 : 1024;
		struct rec *nr = realloc(s->recs, cap * sizeof(*nr));

		if (!nr) {
			s->oom = true;
			return;
		}
		s->recs = nr;
		s->recs_cap = cap;
	}
	if (s->data_len + p->caplen > s->data_cap) {
		size_t cap = s->data_cap ? s->data_cap : 1 << 20;
		uint8_t *nd;

		while (cap < s->data_len + p->caplen)
			cap *= 2;
		nd = realloc(s->data, cap);
		if (!nd) {
			s->oom = true;
			return;
		}
		s->data = nd;
		s->data_cap = cap;
	}
	rec = &s->recs[s->nrecs++];
	rec->off = s->data_len;
	rec->caplen = p->caplen;
	rec->len = p->len;
	rec->ts_ns = p->ts_ns;
	memcpy(s->data + s->data_len, p->data, p->caplen);
	s->data_len += p->caplen;
}

static void stream_close(struct stream *s)
{
	pcv_seg_reader_close(s->r);
	s->r = NULL;
	free(s->recs);
	free(s->data);
	s->recs = NULL;
	s->data = NULL;
	s->recs_cap = s->data_cap = 0;
}

/*
 * Load the next block that reads into s->recs.  Return: 1 loaded, 0 no
 * more blocks (the stream is closed), -1 out of memory.
 */
static int stream_load(struct cat *c, struct stream *s)
{
	char errbuf[PCV_ERRBUF_SIZE];
	int rc;

	if (!s->r && s->next < s->nblocks) {
		size_t n = 0;

		rc = pcv_seg_reader_open(&s->r, s->path, errbuf);
		if (rc < 0) {
			cli_error("%s", errbuf);
			c->failed = true;
			s->next = s->nblocks;
		} else {
			pcv_seg_reader_blocks(s->r, &n);
		}
		if (rc == 0 && n < s->nblocks) {
			cli_error("%s: has %zu blocks now, %zu before: skipping the rest",
				  s->path, n, s->nblocks);
			c->failed = true;
			s->nblocks = n;
		}
	}
	while (s->next < s->nblocks) {
		size_t i = s->next++;

		s->nrecs = s->pos = s->data_len = 0;
		rc = pcv_seg_reader_read_block(s->r, i, on_pkt, s);
		if (s->oom) {
			cli_error("out of memory");
			return -1;
		}
		if (rc > 0)
			return 1;
		/* the message names the file and the block */
		cli_error("%s (block skipped)", pcv_seg_reader_errmsg(s->r));
		c->failed = true;
	}
	stream_close(s);
	return 0;
}

/* The merge key of stream @i: its next packet's timestamp, or a lower
 * bound of it (the next block's first_ns) when that block is not loaded. */
static uint64_t key(const struct cat *c, size_t i)
{
	const struct stream *s = &c->s[i];

	if (s->pos < s->nrecs)
		return s->recs[s->pos].ts_ns;
	return s->blocks[s->next].first_ns;
}

static bool less(const struct cat *c, size_t a, size_t b)
{
	uint64_t ka = key(c, a), kb = key(c, b);

	return ka < kb || (ka == kb && a < b);
}

static void sift_down(struct cat *c, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i, t;

		if (l < c->nheap && less(c, c->heap[l], c->heap[m]))
			m = l;
		if (l + 1 < c->nheap && less(c, c->heap[l + 1], c->heap[m]))
			m = l + 1;
		if (m == i)
			return;
		t = c->heap[i];
		c->heap[i] = c->heap[m];
		c->heap[m] = t;
		i = m;
	}
}

static void pop_top(struct cat *c)
{
	c->heap[0] = c->heap[--c->nheap];
	sift_down(c, 0);
}

/* ===== output ============================================================ */

static int merge(struct cat *c, pcap_dumper_t *d, bool usec)
{
	c->heap = malloc((c->n ? c->n : 1) * sizeof(*c->heap));
	if (!c->heap) {
		cli_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->n; i++)
		if (c->s[i].nblocks)
			c->heap[c->nheap++] = i;
	for (size_t i = c->nheap; i-- > 0;)
		sift_down(c, i);
	while (c->nheap) {
		struct stream *s = &c->s[c->heap[0]];
		struct pcap_pkthdr h;
		const struct rec *rec;

		if (s->pos == s->nrecs) {
			/* the key was a lower bound: load, and look again */
			int rc = stream_load(c, s);

			if (rc < 0)
				return -1;
			if (rc == 0)
				pop_top(c);
			else
				sift_down(c, 0);
			continue;
		}
		rec = &s->recs[s->pos++];
		h.ts.tv_sec = (time_t)(rec->ts_ns / NS_PER_SEC);
		h.ts.tv_usec = (suseconds_t)(rec->ts_ns % NS_PER_SEC /
					     (usec ? 1000 : 1));
		h.caplen = rec->caplen;
		h.len = rec->len;
		pcap_dump((u_char *)d, &h, s->data + rec->off);
		if (s->pos == s->nrecs && s->next == s->nblocks) {
			stream_close(s);
			pop_top(c);
		} else {
			sift_down(c, 0);
		}
	}
	return 0;
}

static int write_out(struct cat *c, const char *out, bool usec)
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
	rc = merge(c, d, usec);
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

static void cat_free(struct cat *c)
{
	for (size_t i = 0; i < c->n; i++) {
		stream_close(&c->s[i]);
		free(c->s[i].path);
		free(c->s[i].blocks);
	}
	free(c->s);
	free(c->heap);
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
	struct cat c = { 0 };
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
			cat_free(&c);
			return CLI_EXIT_FAIL;
		}
	}
	if (c.n == 0) {
		cli_error("no readable segment: nothing written");
		cat_free(&c);
		return CLI_EXIT_FAIL;
	}
	rc = write_out(&c, out, usec);
	cat_free(&c);
	return rc;
}
