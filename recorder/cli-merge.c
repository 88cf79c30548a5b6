// SPDX-License-Identifier: MIT
/*
 * cli-merge.c - packets of several segments merged by timestamp (cli-merge.h).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli-merge.h"
#include "pcv/segment.h"

/* One packet of a loaded block. */
struct rec {
	size_t off; /* in the slot's data buffer */
	uint32_t caplen, len;
	uint64_t ts_ns;
};

/* One decompressed block: its packets, and what reading it said. */
struct slot {
	struct rec *recs;
	size_t nrecs, recs_cap;
	uint8_t *data;
	size_t data_len, data_cap;
	bool oom;
	int rc;                       /* pcv_seg_reader_read_block()'s */
	char err[PCV_ERRBUF_SIZE];
};

enum pre_state { PRE_NONE, PRE_QUEUED, PRE_BUSY, PRE_DONE };

struct merge_stream {
	char *path;
	struct pcv_seg_block *blocks; /* to read, as found when first opened */
	size_t *orig;                 /* their numbers in the segment */
	size_t nblocks;
	struct pcv_seg_reader *r;     /* open while the merge reads it */
	size_t next;                  /* next block to load */
	struct slot cur;              /* the loaded block: recs[pos..nrecs) */
	size_t pos;
	/* the block after it, decompressed ahead by the worker thread:
	 * pre and r are the worker's while PRE_QUEUED/PRE_BUSY */
	struct slot pre;
	size_t pre_block;
	enum pre_state pre_state;     /* under merge.lock */
};

/* ===== inputs ============================================================ */

int merge_add(struct merge *c, const char *path, const uint64_t *seqs,
	      size_t nseqs)
{
	char errbuf[PCV_ERRBUF_SIZE];
	const struct pcv_seg_block *b;
	struct pcv_seg_reader *r;
	struct merge_stream *s;
	size_t nb;
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
		struct merge_stream *ns = realloc(c->s, cap * sizeof(*ns));

		if (!ns)
			goto oom;
		c->s = ns;
		c->cap = cap;
	}
	s = &c->s[c->n];
	memset(s, 0, sizeof(*s));
	b = pcv_seg_reader_blocks(r, &nb);
	s->path = strdup(path);
	s->blocks = malloc((nb ? nb : 1) * sizeof(*b));
	s->orig = malloc((nb ? nb : 1) * sizeof(*s->orig));
	if (!s->path || !s->blocks || !s->orig) {
		free(s->path);
		free(s->blocks);
		free(s->orig);
		goto oom;
	}
	/* the chosen blocks, or all: both lists ascend */
	for (size_t i = 0, k = 0; i < nb; i++) {
		while (seqs && k < nseqs && seqs[k] < b[i].seq)
			k++;
		if (seqs && (k == nseqs || seqs[k] != b[i].seq))
			continue;
		s->orig[s->nblocks] = i;
		s->blocks[s->nblocks++] = b[i];
	}
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
int merge_add_dir(struct merge *c, const char *dir)
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
			rc = merge_add(c, names[i], NULL, 0);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* ===== streams =========================================================== */

static void on_pkt(const struct pcv_packet *p, void *user)
{
	struct slot *sl = user;
	struct rec *rec;

	if (sl->oom)
		return;
	if (sl->nrecs == sl->recs_cap) {
		size_t cap = sl->recs_cap ? sl->recs_cap * 2 : 1024;
		struct rec *nr = realloc(sl->recs, cap * sizeof(*nr));

		if (!nr) {
			sl->oom = true;
			return;
		}
		sl->recs = nr;
		sl->recs_cap = cap;
	}
	if (sl->data_len + p->caplen > sl->data_cap) {
		size_t cap = sl->data_cap ? sl->data_cap : 1 << 20;
		uint8_t *nd;

		while (cap < sl->data_len + p->caplen)
			cap *= 2;
		nd = realloc(sl->data, cap);
		if (!nd) {
			sl->oom = true;
			return;
		}
		sl->data = nd;
		sl->data_cap = cap;
	}
	rec = &sl->recs[sl->nrecs++];
	rec->off = sl->data_len;
	rec->caplen = p->caplen;
	rec->len = p->len;
	rec->ts_ns = p->ts_ns;
	memcpy(sl->data + sl->data_len, p->data, p->caplen);
	sl->data_len += p->caplen;
}

/* Decompress block @i of @s into @sl.  Either thread, never both at once
 * for one stream (the reader is not shared). */
static void read_into(struct merge_stream *s, size_t i, struct slot *sl)
{
	sl->nrecs = sl->data_len = 0;
	sl->oom = false;
	sl->rc = pcv_seg_reader_read_block(s->r, s->orig[i], on_pkt, sl);
	if (sl->rc <= 0)
		snprintf(sl->err, sizeof(sl->err), "%s",
			 pcv_seg_reader_errmsg(s->r));
}

static void slot_free(struct slot *sl)
{
	free(sl->recs);
	free(sl->data);
	memset(sl, 0, sizeof(*sl));
}

/* ----- the worker: decompresses each stream's next block ahead ----- */

static void *worker_main(void *arg)
{
	struct merge *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct merge_stream *s;

		while (!c->stop && c->qhead == c->qtail)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->stop)
			break;
		s = &c->s[c->queue[c->qhead++ % c->n]];
		if (s->pre_state != PRE_QUEUED)
			continue; /* taken back */
		s->pre_state = PRE_BUSY;
		pthread_mutex_unlock(&c->lock);
		read_into(s, s->pre_block, &s->pre);
		pthread_mutex_lock(&c->lock);
		s->pre_state = PRE_DONE;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* Ask the worker for block @i of stream @s (main thread, no lock). */
static void prefetch(struct merge *c, struct merge_stream *s, size_t i)
{
	if (!c->worker_on || i >= s->nblocks)
		return;
	pthread_mutex_lock(&c->lock);
	s->pre_block = i;
	s->pre_state = PRE_QUEUED;
	c->queue[c->qtail++ % c->n] = (size_t)(s - c->s);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Take the stream back from the worker and report whether block @i is
 * ready in s->pre: wait while the worker has it, or has it in line (it
 * takes the line in order, so this is never long, and a stream is never
 * in the line twice).  SIZE_MAX: closing; a request still in line is
 * dropped, and the worker skips it.
 */
static bool prefetched(struct merge *c, struct merge_stream *s, size_t i)
{
	bool ready;

	if (!c->worker_on)
		return false;
	pthread_mutex_lock(&c->lock);
	while (s->pre_state == PRE_BUSY ||
	       (s->pre_state == PRE_QUEUED && i != SIZE_MAX))
		pthread_cond_wait(&c->cond, &c->lock);
	ready = s->pre_state == PRE_DONE && s->pre_block == i;
	s->pre_state = PRE_NONE;
	pthread_mutex_unlock(&c->lock);
	return ready;
}

static void stream_close(struct merge *c, struct merge_stream *s)
{
	prefetched(c, s, SIZE_MAX);
	pcv_seg_reader_close(s->r);
	s->r = NULL;
	slot_free(&s->cur);
	slot_free(&s->pre);
}

/*
 * Load the next block that reads into s->cur, and have the worker start
 * on the one after.  Return: 1 loaded, 0 no more blocks (the stream is
 * closed), -1 out of memory.
 */
static int stream_load(struct merge *c, struct merge_stream *s)
{
	char errbuf[PCV_ERRBUF_SIZE];
	int rc;

	if (!s->r && s->next < s->nblocks) {
		size_t n = 0;

		rc = pcv_seg_reader_open(&s->r, s->path, errbuf);
		if (rc == -ENOENT) {
			cli_error("%s: deleted while read (by pcv-rotate?): "
				  "its packets are not in the output", s->path);
			c->failed = true;
			s->next = s->nblocks;
		} else if (rc < 0) {
			cli_error("%s", errbuf);
			c->failed = true;
			s->next = s->nblocks;
		} else {
			pcv_seg_reader_blocks(s->r, &n);
		}
		if (rc == 0 && s->nblocks && n <= s->orig[s->nblocks - 1]) {
			cli_error("%s: has %zu blocks now, more before: skipping the rest",
				  s->path, n);
			c->failed = true;
			while (s->nblocks && s->orig[s->nblocks - 1] >= n)
				s->nblocks--;
		}
	}
	while (s->next < s->nblocks) {
		size_t i = s->next++;

		if (prefetched(c, s, i)) {
			struct slot t = s->cur;

			s->cur = s->pre;
			s->pre = t;
		} else {
			read_into(s, i, &s->cur);
		}
		s->pos = 0;
		if (s->cur.oom) {
			cli_error("out of memory");
			return -1;
		}
		if (s->cur.rc > 0) {
			prefetch(c, s, s->next);
			return 1;
		}
		/* the message names the file and the block */
		cli_error("%s (block skipped)", s->cur.err);
		c->failed = true;
	}
	stream_close(c, s);
	return 0;
}

/* The merge key of stream @i: its next packet's timestamp, or a lower
 * bound of it (the next block's first_ns) when that block is not loaded. */
static uint64_t key(const struct merge *c, size_t i)
{
	const struct merge_stream *s = &c->s[i];

	if (s->pos < s->cur.nrecs)
		return s->cur.recs[s->pos].ts_ns;
	return s->blocks[s->next].first_ns;
}

static bool less(const struct merge *c, size_t a, size_t b)
{
	uint64_t ka = key(c, a), kb = key(c, b);

	return ka < kb || (ka == kb && a < b);
}

static void sift_down(struct merge *c, size_t i)
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

static void pop_top(struct merge *c)
{
	c->heap[0] = c->heap[--c->nheap];
	sift_down(c, 0);
}

/* ===== output ============================================================ */

/* Start the worker when there is a second core for it to use. */
static void worker_start(struct merge *c)
{
	c->queue = malloc((c->n ? c->n : 1) * sizeof(*c->queue));
	if (!c->queue || sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return; /* decompress in line */
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->worker_on = pthread_create(&c->worker, NULL, worker_main, c) == 0;
	if (!c->worker_on) {
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
	}
}

int merge_run(struct merge *c, merge_cb cb, void *user)
{
	c->heap = malloc((c->n ? c->n : 1) * sizeof(*c->heap));
	if (!c->heap) {
		cli_error("out of memory");
		return -1;
	}
	worker_start(c);
	c->nheap = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->s[i].nblocks)
			c->heap[c->nheap++] = i;
	for (size_t i = c->nheap; i-- > 0;)
		sift_down(c, i);
	while (c->nheap) {
		struct merge_stream *s = &c->s[c->heap[0]];
		struct pcv_packet p;
		const struct rec *rec;
		int rc;

		if (s->pos == s->cur.nrecs) {
			/* the key was a lower bound: load, and look again */
			rc = stream_load(c, s);
			if (rc < 0)
				return -1;
			if (rc == 0)
				pop_top(c);
			else
				sift_down(c, 0);
			continue;
		}
		rec = &s->cur.recs[s->pos++];
		p.data = s->cur.data + rec->off;
		p.caplen = rec->caplen;
		p.len = rec->len;
		p.ts_ns = rec->ts_ns;
		rc = cb(&p, user);
		if (rc)
			return rc;
		if (s->pos == s->cur.nrecs && s->next == s->nblocks) {
			stream_close(c, s);
			pop_top(c);
		} else {
			sift_down(c, 0);
		}
	}
	return 0;
}

void merge_free(struct merge *c)
{
	if (c->worker_on) {
		pthread_mutex_lock(&c->lock);
		c->stop = true;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		pthread_join(c->worker, NULL);
		c->worker_on = false;
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->lock);
	}
	for (size_t i = 0; i < c->n; i++) {
		stream_close(c, &c->s[i]);
		free(c->s[i].path);
		free(c->s[i].blocks);
		free(c->s[i].orig);
	}
	free(c->s);
	free(c->heap);
	free(c->queue);
	memset(c, 0, sizeof(*c));
}
