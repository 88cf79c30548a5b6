// SPDX-License-Identifier: MIT
/*
 * writer.c - the recorder's writer (pcv/writer.h): capture threads push
 * copies of their batches through SPSC rings; one thread runs a libuv loop
 * that stores them in segments, aggregates flows and commits the index.
 *
 * Threads and what they touch:
 *   capture thread  src->cur, src->full (producer), src->free (consumer),
 *                   the atomic counters, uv_async_send(&w->wake)
 *   writer thread   everything else; libuv handles live and die here, and
 *                   it holds st_lock whenever it runs
 *   thread pool     block compression (seg-writer.c); the index commit:
 *                   w->ix, and the job's flow table and block copies,
 *                   while w->job.running
 *
 * Index commits (DESIGN.md §6: a block is durable before a row points at
 * it).  Every HAND_BLOCKS closed blocks, and at each flush tick, a source
 * hands its flow table over: it covers exactly the blocks closed so far,
 * and a spare table takes the packets after.  Once those blocks are
 * written, one job on the pool fdatasyncs the segment and commits their
 * rows and flows in one transaction, while the writer thread goes on
 * storing packets.  One job at a time (one SQLite connection).  Sealing a
 * segment, and anything else that touches the index here, first waits for
 * the job, then commits what is left in line (src_flush).
 *
 * Sections: 1. batches and sources  2. storing packets  3. flush, rotate,
 * stats  4. the loop  5. open/close
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "pcv/dissect.h"
#include "pcv/index.h"
#include "pcv/ring.h"
#include "pcv/segment.h"
#include "pcv/store.h"
#include "pcv/writer.h"
#include "storage-int.h"

/* A capture batch is 64 packets by default, and a batch buffer is handed
 * over after each capture batch so that data is never held back waiting
 * for traffic: size buffers for one capture batch of typical frames, and
 * have many (a packet that does not fit starts the next buffer). */
#define WBATCH_PKTS 64
#define WBATCH_BYTES (128u << 10)
#define NS 1000000000ull

/* Closed blocks between hand-overs of the flow table to the index job.
 * Fewer: more, smaller transactions and more upserts of the same flow;
 * more: a longer commit left at the end of an import. */
#define HAND_BLOCKS 8

/* A capture thread's copy of (part of) a batch. */
struct wbatch {
	uint32_t n;
	size_t used;
	struct pcv_packet pkts[WBATCH_PKTS];
	uint8_t data[WBATCH_BYTES];
};

struct pcv_writer_src {
	struct pcv_writer *w;
	struct pcv_ring full;       /* capture -> writer */
	struct pcv_ring free;       /* writer -> capture */
	struct wbatch *pool;
	struct wbatch *cur;         /* capture thread: being filled */
	atomic_bool done;
	bool blocking;              /* push waits for buffers (import) */
	_Atomic uint64_t ring_dropped;
	/* A blocking capture thread sleeps here for a free buffer. */
	pthread_mutex_t free_lock;
	pthread_cond_t free_cond;
	atomic_bool free_waiting;

	/* Writer thread only. */
	char iface[64];
	unsigned queue;
	int linktype;
	uint32_t snaplen;
	struct pcv_seg_writer *seg;
	int64_t seg_id;
	uint64_t seg_start_ns, seg_end_ns; /* end: 0 none */
	uint64_t seg_raw;
	size_t blocks_indexed;
	size_t blocks_handed;           /* blocks the handed table covers */
	struct pcv_flowtab *flows;      /* packets since the last hand-over */
	struct pcv_flowtab *handed;     /* waits for, or is in, the job */
	struct pcv_flowtab *spare;      /* empty */
	uint64_t oldest_unindexed_ns;  /* wall clock; 0: none */
	uint64_t oldest_handed_ns;     /* of the handed table's packets */
	struct pcv_writer_src *next;
};

/* The index commit on the thread pool (one per writer). */
struct ix_job {
	uv_work_t req;
	bool queued;          /* writer thread: until after_work runs */
	bool reaped;          /* writer thread: its result is taken */
	bool backoff;         /* writer thread: the last one failed; wait
			       * for the next flush tick to try again */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool running;         /* under lock: work_cb has not finished */
	struct pcv_writer *w;
	struct pcv_writer_src *s;      /* whose table: the rest is copied */
	struct pcv_seg_writer *seg;
	int64_t seg_id;
	struct pcv_flowtab *tab;
	struct pcv_seg_block *blocks;  /* the writer's array moves */
	size_t nblocks, cap;
	size_t nflows;
	int rc;
	char err[PCV_ERRBUF_SIZE];
};

struct pcv_writer {
	struct pcv_writer_opts o;
	char *dir;
	int lock_fd;
	struct pcv_index *ix;
	struct pcv_writer_src *srcs;

	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t flush_timer, stats_timer;
	pthread_t thread;
	bool loop_ready;  /* loop and handles initialised */
	bool started;
	atomic_bool finishing, rotate_req;

	struct ix_job job;

	pthread_mutex_t st_lock;     /* guards st for readers elsewhere */
	struct pcv_writer_stats st;
	int err;
	char errbuf[PCV_ERRBUF_SIZE];
};

/* ===== 1. batches and sources ========================================= */

void pcv_writer_opts_init(struct pcv_writer_opts *o)
{
	*o = (struct pcv_writer_opts){
		.level = 3,
		.block_size = 1u << 20,
		.segment_size = 256ull << 20,
		.segment_ns = 60 * NS,
		.flush_ns = NS,
		.stats_ns = 10 * NS,
		.max_flows = 1u << 16,
		.pool_batches = 512,
		.fsync = true,
	};
}

static int seterr(struct pcv_writer *w, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int seterr(struct pcv_writer *w, int err, const char *fmt, ...)
{
	va_list ap;

	if (w->err)
		return err; /* keep the first */
	va_start(ap, fmt);
	vsnprintf(w->errbuf, sizeof(w->errbuf), fmt, ap);
	va_end(ap);
	w->err = err;
	return err;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

int pcv_writer_src_add(struct pcv_writer *w, const char *iface,
		       unsigned queue, int linktype, uint32_t snaplen,
		       struct pcv_writer_src **srcp)
{
	uint32_t n = w->o.pool_batches, cap = 2;
	struct pcv_writer_src *s;

	*srcp = NULL;
	if (w->started)
		return -EBUSY;
	while (cap < n)
		cap <<= 1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->pool = calloc(n, sizeof(*s->pool));
	if (!s->pool || pcv_ring_init(&s->full, cap) < 0 ||
	    pcv_ring_init(&s->free, cap) < 0 ||
	    pcv_flowtab_open(&s->flows, w->o.max_flows) < 0 ||
	    pcv_flowtab_open(&s->spare, w->o.max_flows) < 0) {
		pcv_flowtab_close(s->flows);
		pcv_ring_destroy(&s->full);
		pcv_ring_destroy(&s->free);
		free(s->pool);
		free(s);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		pcv_ring_push(&s->free, &s->pool[i]);
	snprintf(s->iface, sizeof(s->iface), "%s", iface);
	s->queue = queue;
	s->linktype = linktype;
	s->snaplen = snaplen;
	s->w = w;
	atomic_init(&s->done, false);
	atomic_init(&s->ring_dropped, 0);
	atomic_init(&s->free_waiting, false);
	pthread_mutex_init(&s->free_lock, NULL);
	pthread_cond_init(&s->free_cond, NULL);
	s->next = w->srcs;
	w->srcs = s;
	*srcp = s;
	return 0;
}

/* Capture thread: hand the batch being filled to the writer. */
static void src_submit(struct pcv_writer_src *s)
{
	if (!s->cur || s->cur->n == 0)
		return;
	pcv_ring_push(&s->full, s->cur); /* cannot fail: sized for the pool */
	s->cur = NULL;
}

/*
 * Capture thread: sleep until the writer returns a buffer.  Dekker-style
 * with src_drain(): each side stores (waiting / the ring), fences, then
 * loads the other's; the wait is timed all the same.
 */
static struct wbatch *wait_free(struct pcv_writer_src *s)
{
	struct wbatch *wb;

	pthread_mutex_lock(&s->free_lock);
	atomic_store(&s->free_waiting, true);
	atomic_thread_fence(memory_order_seq_cst);
	while (!(wb = pcv_ring_pop(&s->free))) {
		struct timespec ts;

		uv_async_send(&s->w->wake);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->free_cond, &s->free_lock, &ts);
	}
	atomic_store(&s->free_waiting, false);
	pthread_mutex_unlock(&s->free_lock);
	return wb;
}

uint32_t pcv_writer_src_push(struct pcv_writer_src *s,
			     const struct pcv_batch *b)
{
	uint32_t dropped = 0;

	for (uint32_t i = 0; i < b->count; i++) {
		const struct pcv_packet *p = &b->pkts[i];
		struct wbatch *wb = s->cur;

		if (wb && (wb->n == WBATCH_PKTS ||
			   wb->used + p->caplen > WBATCH_BYTES)) {
			src_submit(s);
			wb = NULL;
		}
		if (!wb) {
			wb = pcv_ring_pop(&s->free);
			/* A file can wait for the writer; an interface
			 * cannot, so only import does this. */
			if (!wb && s->blocking)
				wb = wait_free(s);
			if (!wb) {
				dropped++;
				continue;
			}
			wb->n = 0;
			wb->used = 0;
			s->cur = wb;
		}
		memcpy(wb->data + wb->used, p->data, p->caplen);
		wb->pkts[wb->n] = *p;
		wb->pkts[wb->n].data = wb->data + wb->used;
		wb->used += p->caplen;
		wb->n++;
	}
	src_submit(s);
	if (dropped)
		atomic_fetch_add_explicit(&s->ring_dropped, dropped,
					  memory_order_relaxed);
	uv_async_send(&s->w->wake);
	return dropped;
}

void pcv_writer_src_set_blocking(struct pcv_writer_src *s, bool blocking)
{
	s->blocking = blocking;
}

void pcv_writer_src_done(struct pcv_writer_src *s)
{
	src_submit(s);
	atomic_store(&s->done, true);
	uv_async_send(&s->w->wake);
}

/* ===== 2. storing packets ============================================= */

static void ix_try_queue(struct pcv_writer *w);
static void ix_wait(struct pcv_writer *w);

/* The thread pool compressed a block: write what is ready, in order; the
 * index job may now have all the blocks it waits for. */
static void on_block_ready(void *user)
{
	struct pcv_writer *w = user;

	pthread_mutex_lock(&w->st_lock);
	for (struct pcv_writer_src *s = w->srcs; s; s = s->next)
		pcv_seg_writer_poll(s->seg);
	ix_try_queue(w);
	pthread_mutex_unlock(&w->st_lock);
}

static int seg_open(struct pcv_writer_src *s, uint64_t ts_ns)
{
	struct pcv_writer *w = s->w;
	struct pcv_seg_opts so;
	char name[256], path[4096];
	int rc;

	rc = pcv_seg_name(name, sizeof(name), ts_ns, s->iface, s->queue);
	if (rc < 0)
		return seterr(w, rc, "segment name for %s", s->iface);
	pcv_seg_opts_init(&so);
	so.linktype = s->linktype;
	so.snaplen = s->snaplen;
	so.level = w->o.level;
	so.block_size = w->o.block_size;
	so.fsync = w->o.fsync;
	so.loop = &w->loop;
	so.ready = on_block_ready;
	so.ready_user = w;
	/* Two segments can start at the same nanosecond (the same file
	 * imported twice, SIGHUP between packets of one timestamp): the
	 * later one gets "-N" before the suffix. */
	for (unsigned k = 0;; k++) {
		if (k) {
			size_t base = strlen(name) - strlen(PCV_SEG_SUFFIX);

			name[base] = '\0';
			if (k > 1)
				*strrchr(name, '-') = '\0';
			snprintf(name + strlen(name), sizeof(name) - strlen(name),
				 "-%u%s", k, PCV_SEG_SUFFIX);
		}
		snprintf(path, sizeof(path), "%s/%s", w->dir, name);
		rc = pcv_seg_writer_open(&s->seg, path, &so);
		if (rc != -EEXIST || k == 1000)
			break;
	}
	if (rc < 0)
		return seterr(w, rc, "%s: %s", path, pcv_strerror(rc));
	ix_wait(w);
	rc = pcv_index_segment_add(w->ix, name, s->linktype, s->snaplen,
				   s->iface, s->queue, ts_ns, &s->seg_id);
	if (rc < 0) {
		/* Nothing in it but the headers, and no row: remove it, or it
		 * is a segment the index lacks (a full disk fails here). */
		pcv_seg_writer_abandon(s->seg);
		s->seg = NULL;
		unlink(path);
		return seterr(w, rc, "index: %s", pcv_index_errmsg(w->ix));
	}
	s->seg_start_ns = ts_ns;
	s->seg_raw = 0;
	s->blocks_indexed = 0;
	s->blocks_handed = 0;
	s->seg_end_ns = 0;
	if (w->o.segment_ns) {
		uint64_t len = w->o.segment_ns;

		s->seg_end_ns = w->o.segment_align ? (ts_ns / len + 1) * len
						   : ts_ns + len;
	}
	w->st.segments++; /* the caller holds st_lock */
	return 0;
}

static int src_flush(struct pcv_writer_src *s);
static int src_seal(struct pcv_writer_src *s);
static void hand_over(struct pcv_writer_src *s);

static void store_packet(struct pcv_writer_src *s, const struct pcv_packet *p)
{
	struct pcv_writer *w = s->w;
	struct pcv_dissect d;
	bool closed;
	uint64_t seq;
	int rc;

	if (s->seg && (s->seg_raw >= w->o.segment_size ||
		       (s->seg_end_ns && p->ts_ns >= s->seg_end_ns)))
		src_seal(s);
	if (!s->seg && seg_open(s, p->ts_ns) < 0) {
		w->st.disk_dropped++;
		return;
	}
	seq = pcv_seg_writer_block_seq(s->seg);
	rc = pcv_seg_writer_add(s->seg, p, &closed);
	if (rc < 0) {
		/* Disk full or failing: count, keep going; the segment stays
		 * whole up to its last block, and later packets retry. */
		w->st.disk_dropped++;
		return;
	}
	pcv_dissect(p->data, p->caplen, s->linktype, &d);
	pcv__flow_addrs(&d, p->data, p->caplen);
	pcv_flowtab_add(s->flows, &d, p->ts_ns, p->len, (uint32_t)seq);
	s->seg_raw += 16 + p->caplen;
	w->st.packets++;
	w->st.bytes += p->caplen;
	if (!s->oldest_unindexed_ns)
		s->oldest_unindexed_ns = wall_ns();
	if (closed && seq + 1 >= s->blocks_indexed + HAND_BLOCKS)
		hand_over(s);
}

/* Drain everything the capture thread has submitted. */
static void src_drain(struct pcv_writer_src *s)
{
	void *items[16];
	uint32_t n;

	while ((n = pcv_ring_pop_bulk(&s->full, items, 16)) > 0) {
		pthread_mutex_lock(&s->w->st_lock);
		for (uint32_t i = 0; i < n; i++) {
			struct wbatch *wb = items[i];

			for (uint32_t k = 0; k < wb->n; k++)
				store_packet(s, &wb->pkts[k]);
		}
		pthread_mutex_unlock(&s->w->st_lock);
		pcv_ring_push_bulk(&s->free, items, n);
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&s->free_waiting)) {
			pthread_mutex_lock(&s->free_lock);
			pthread_cond_signal(&s->free_cond);
			pthread_mutex_unlock(&s->free_lock);
		}
	}
}

/* ===== 3. flush, rotate, stats ======================================== */

/*
 * The index job.  work_cb runs on the pool and owns w->ix, the handed flow
 * table and the block copies; the writer thread takes the result in
 * ix_reap(), from after_work or from ix_wait(), whichever comes first.
 */
static void ix_work_cb(uv_work_t *req)
{
	struct ix_job *j = req->data;
	struct pcv_index *ix = j->w->ix;
	const struct pcv_flow_rec *fr;
	int rc;

	rc = pcv_seg_writer_sync(j->seg);
	if (rc < 0) {
		snprintf(j->err, sizeof(j->err), "fsync of a segment of %s: %s",
			 j->s->iface, strerror(-rc));
		goto out;
	}
	rc = pcv_index_begin(ix);
	for (size_t i = 0; rc == 0 && i < j->nblocks; i++)
		rc = pcv_index_block_add(ix, j->seg_id, &j->blocks[i]);
	fr = pcv_flowtab_records(j->tab, &j->nflows);
	if (rc == 0)
		rc = pcv_index_flows_put(ix, j->seg_id, fr, j->nflows);
	if (rc == 0)
		rc = pcv_index_commit(ix);
	if (rc < 0) {
		snprintf(j->err, sizeof(j->err), "index: %s",
			 pcv_index_errmsg(ix));
		pcv_index_rollback(ix);
	} else {
		pcv_flowtab_reset(j->tab);
	}
out:
	j->rc = rc;
	pthread_mutex_lock(&j->lock);
	j->running = false;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
}

/* Writer thread, work_cb done: account for the commit, or keep the handed
 * table in line to be tried again. */
static void ix_reap(struct pcv_writer *w)
{
	struct ix_job *j = &w->job;
	struct pcv_writer_src *s = j->s;

	if (!j->queued || j->reaped)
		return;
	j->reaped = true;
	if (j->rc < 0) {
		seterr(w, j->rc, "%s", j->err);
		j->backoff = true;
		return;
	}
	for (size_t i = 0; i < j->nblocks; i++) {
		w->st.raw_bytes += j->blocks[i].raw_size;
		w->st.comp_bytes += j->blocks[i].comp_size;
	}
	w->st.blocks += j->nblocks;
	w->st.flows += j->nflows;
	s->blocks_indexed = s->blocks_handed;
	s->spare = s->handed;
	s->handed = NULL;
	s->oldest_handed_ns = 0;
}

static void ix_after_work_cb(uv_work_t *req, int status)
{
	struct ix_job *j = req->data;
	struct pcv_writer *w = j->w;

	(void)status; /* never cancelled */
	pthread_mutex_lock(&w->st_lock);
	ix_reap(w);
	j->queued = false;
	ix_try_queue(w);
	pthread_mutex_unlock(&w->st_lock);
}

/* Writer thread: wait until the index is ours again. */
static void ix_wait(struct pcv_writer *w)
{
	struct ix_job *j = &w->job;

	pthread_mutex_lock(&j->lock);
	while (j->running)
		pthread_cond_wait(&j->cond, &j->lock);
	pthread_mutex_unlock(&j->lock);
	ix_reap(w);
}

/* Start the job for a source whose handed blocks are all written. */
static void ix_try_queue(struct pcv_writer *w)
{
	struct ix_job *j = &w->job;
	const struct pcv_seg_block *b;
	struct pcv_writer_src *s;
	size_t n;

	if (j->queued || j->backoff)
		return;
	for (s = w->srcs; s; s = s->next) {
		if (s->handed && s->seg &&
		    pcv_seg_writer_written(s->seg) >= s->blocks_handed)
			break;
	}
	if (!s)
		return;
	n = s->blocks_handed - s->blocks_indexed;
	if (n > j->cap) {
		size_t cap = n < 64 ? 64 : n;
		void *nb = realloc(j->blocks, cap * sizeof(*j->blocks));

		if (!nb)
			return; /* src_flush will commit it */
		j->blocks = nb;
		j->cap = cap;
	}
	b = pcv_seg_writer_blocks(s->seg, &n);
	j->nblocks = s->blocks_handed - s->blocks_indexed;
	memcpy(j->blocks, b + s->blocks_indexed,
	       j->nblocks * sizeof(*j->blocks));
	j->s = s;
	j->seg = s->seg;
	j->seg_id = s->seg_id;
	j->tab = s->handed;
	j->rc = 0;
	j->nflows = 0;
	j->err[0] = '\0';
	j->reaped = false;
	j->running = true;
	j->req.data = j;
	if (uv_queue_work(&w->loop, &j->req, ix_work_cb,
			  ix_after_work_cb) < 0) {
		j->running = false;
		return;
	}
	j->queued = true;
}

/*
 * Hand the flow table over to the index job: it covers every block closed
 * so far (the open one is closed here), and a spare takes what comes
 * next.  Nothing happens while an earlier table is still in line.
 */
static void hand_over(struct pcv_writer_src *s)
{
	struct pcv_flowtab *t;
	size_t n;

	if (!s->seg || s->handed)
		return;
	(void)pcv_seg_writer_close_block(s->seg); /* errors: on the write */
	n = pcv_seg_writer_block_seq(s->seg);
	if (n == s->blocks_indexed)
		return;
	t = s->flows;
	s->flows = s->spare;
	s->spare = NULL;
	s->handed = t;
	s->blocks_handed = n;
	s->oldest_handed_ns = s->oldest_unindexed_ns;
	s->oldest_unindexed_ns = 0;
	ix_try_queue(s->w);
}

/*
 * Make everything stored so far durable and indexed, here and now: wait
 * for the job, write and fsync every block (pcv_seg_writer_flush), then
 * commit their rows with the flows of the handed table and of the current
 * one in one transaction.  Sealing, rotation and the end call this.
 */
static int src_flush(struct pcv_writer_src *s)
{
	struct pcv_writer *w = s->w;
	const struct pcv_seg_block *b;
	const struct pcv_flow_rec *fr;
	size_t n, nfr = 0, nh = 0;
	int rc, flush_rc;

	if (!s->seg)
		return 0;
	ix_wait(w);
	if (!s->handed &&
	    pcv_seg_writer_block_seq(s->seg) == s->blocks_indexed &&
	    pcv_seg_writer_pending(s->seg) == 0)
		return 0; /* nothing stored since the last commit */
	/* The flows first: SQLite works here while the pool compresses the
	 * last blocks; nothing commits before they are fsync'd. */
	rc = pcv_index_begin(w->ix);
	if (rc == 0 && s->handed) {
		fr = pcv_flowtab_records(s->handed, &nh);
		rc = pcv_index_flows_put(w->ix, s->seg_id, fr, nh);
	}
	if (rc == 0) {
		fr = pcv_flowtab_records(s->flows, &nfr);
		rc = pcv_index_flows_put(w->ix, s->seg_id, fr, nfr);
	}
	/* A failed flush (disk full) still leaves the blocks before it
	 * durable: index those, and report the failure after. */
	flush_rc = pcv_seg_writer_flush(s->seg);
	if (flush_rc < 0)
		seterr(w, flush_rc, "%s", pcv_seg_writer_errmsg(s->seg));
	b = pcv_seg_writer_blocks(s->seg, &n);
	n = pcv_seg_writer_durable(s->seg);
	for (size_t i = s->blocks_indexed; rc == 0 && i < n; i++)
		rc = pcv_index_block_add(w->ix, s->seg_id, &b[i]);
	if (rc == 0)
		rc = pcv_index_commit(w->ix);
	if (rc < 0) {
		pcv_index_rollback(w->ix);
		return seterr(w, rc, "index: %s", pcv_index_errmsg(w->ix));
	}
	for (size_t i = s->blocks_indexed; i < n; i++) {
		w->st.raw_bytes += b[i].raw_size;
		w->st.comp_bytes += b[i].comp_size;
	}
	w->st.blocks += n - s->blocks_indexed;
	w->st.flows += nfr + nh;
	pcv_flowtab_reset(s->flows);
	if (s->handed) {
		pcv_flowtab_reset(s->handed);
		s->spare = s->handed;
		s->handed = NULL;
	}
	s->blocks_indexed = n;
	s->blocks_handed = n;
	s->oldest_unindexed_ns = 0;
	s->oldest_handed_ns = 0;
	return flush_rc;
}

static int src_seal(struct pcv_writer_src *s)
{
	struct pcv_writer *w = s->w;
	size_t n;
	const struct pcv_seg_block *b;
	uint64_t end_ns;
	int rc = src_flush(s);

	if (!s->seg)
		return rc;
	b = pcv_seg_writer_blocks(s->seg, &n);
	end_ns = n ? b[n - 1].last_ns : 0;
	if (rc == 0) {
		rc = pcv_seg_writer_seal(s->seg);
		if (rc < 0)
			seterr(w, rc, "sealing a segment of %s: %s", s->iface,
			       pcv_strerror(rc));
	} else {
		/* blocks that never reached the disk: counted as dropped */
		uint64_t lost = pcv_seg_writer_pending(s->seg);

		w->st.packets -= lost;
		w->st.disk_dropped += lost;
		pcv_seg_writer_abandon(s->seg);
		/* Their flows, and those of blocks the index could not take,
		 * must not be counted in the next segment's rows. */
		pcv_flowtab_reset(s->flows);
		if (s->handed) {
			pcv_flowtab_reset(s->handed);
			s->spare = s->handed;
			s->handed = NULL;
		}
	}
	s->seg = NULL;
	if (rc == 0 && pcv_index_segment_seal(w->ix, s->seg_id, end_ns, n) < 0)
		rc = seterr(w, -EIO, "index: %s", pcv_index_errmsg(w->ix));
	return rc;
}

/*
 * Every flush interval, hand each source's flows over to the index job
 * (which makes the blocks durable first).  A live source whose segment
 * has run past its end time is sealed here too: packets close a segment when they arrive, but
 * an idle interface would otherwise keep it open.  (Imported packets are
 * older than the clock: only they decide.)
 */
static void on_flush(uv_timer_t *t)
{
	struct pcv_writer *w = t->data;
	uint64_t now = wall_ns();

	pthread_mutex_lock(&w->st_lock);
	w->job.backoff = false;
	for (struct pcv_writer_src *s = w->srcs; s; s = s->next) {
		if (s->seg && !s->blocking && s->seg_end_ns &&
		    now >= s->seg_end_ns)
			src_seal(s);
		else
			hand_over(s);
	}
	ix_try_queue(w); /* a table still in line from before */
	pthread_mutex_unlock(&w->st_lock);
}

static void log_line(struct pcv_writer *w, const char *line)
{
	if (w->o.log)
		w->o.log(line, w->o.log_user);
	else
		fprintf(stderr, "%s\n", line);
}

static void on_stats(uv_timer_t *t)
{
	struct pcv_writer *w = t->data;
	struct pcv_writer_stats st;
	char line[512];

	pcv_writer_get_stats(w, &st);
	snprintf(line, sizeof(line),
		 "stored %" PRIu64 " packets (%" PRIu64 " bytes), dropped: ring %" PRIu64
		 ", disk %" PRIu64 "; compression %.2fx; %" PRIu64
		 " flows; index lag %.1f s",
		 st.packets, st.bytes, st.ring_dropped, st.disk_dropped,
		 st.comp_bytes ? (double)st.raw_bytes / (double)st.comp_bytes
			       : 0.0,
		 st.flows, (double)st.index_lag_ns / 1e9);
	log_line(w, line);
}

void pcv_writer_get_stats(struct pcv_writer *w, struct pcv_writer_stats *st)
{
	uint64_t now = wall_ns(), oldest = 0;

	pthread_mutex_lock(&w->st_lock);
	*st = w->st;
	for (struct pcv_writer_src *s = w->srcs; s; s = s->next) {
		st->ring_dropped += atomic_load(&s->ring_dropped);
		uint64_t t = s->oldest_handed_ns ? s->oldest_handed_ns
						 : s->oldest_unindexed_ns;

		if (t && (!oldest || t < oldest))
			oldest = t;
	}
	pthread_mutex_unlock(&w->st_lock);
	st->index_lag_ns = oldest && now > oldest ? now - oldest : 0;
}

/* ===== 4. the loop ===================================================== */

static bool all_done(struct pcv_writer *w)
{
	for (struct pcv_writer_src *s = w->srcs; s; s = s->next) {
		if (!atomic_load(&s->done) || pcv_ring_count(&s->full))
			return false;
	}
	return true;
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void on_wake(uv_async_t *a)
{
	struct pcv_writer *w = a->data;

	for (struct pcv_writer_src *s = w->srcs; s; s = s->next)
		src_drain(s);
	if (atomic_exchange(&w->rotate_req, false)) {
		pthread_mutex_lock(&w->st_lock);
		for (struct pcv_writer_src *s = w->srcs; s; s = s->next)
			src_seal(s);
		pthread_mutex_unlock(&w->st_lock);
	}
	if (atomic_load(&w->finishing) && all_done(w)) {
		pthread_mutex_lock(&w->st_lock);
		for (struct pcv_writer_src *s = w->srcs; s; s = s->next)
			src_seal(s);
		pthread_mutex_unlock(&w->st_lock);
		uv_close((uv_handle_t *)&w->wake, close_cb);
		uv_close((uv_handle_t *)&w->flush_timer, close_cb);
		uv_close((uv_handle_t *)&w->stats_timer, close_cb);
	}
}

static void *writer_main(void *arg)
{
	struct pcv_writer *w = arg;

#if defined(__linux__)
	pthread_setname_np(pthread_self(), "pcv-writer"); /* for top -H */
#endif
	uv_run(&w->loop, UV_RUN_DEFAULT);
	return NULL;
}

int pcv_writer_start(struct pcv_writer *w)
{
	uint64_t flush_ms = w->o.flush_ns / 1000000, stats_ms;
	int rc;

	if (!flush_ms)
		flush_ms = 1;
	uv_timer_start(&w->flush_timer, on_flush, flush_ms, flush_ms);
	if (w->o.stats_ns) {
		stats_ms = w->o.stats_ns / 1000000;
		uv_timer_start(&w->stats_timer, on_stats, stats_ms, stats_ms);
	}
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc)
		return seterr(w, -rc, "starting the writer thread: %s",
			      strerror(rc));
	w->started = true;
	return 0;
}

void pcv_writer_rotate(struct pcv_writer *w)
{
	atomic_store(&w->rotate_req, true);
	uv_async_send(&w->wake);
}

int pcv_writer_finish(struct pcv_writer *w)
{
	if (!w->started)
		return w->err;
	atomic_store(&w->finishing, true);
	uv_async_send(&w->wake);
	pthread_join(w->thread, NULL);
	w->started = false;
	return w->err;
}

const char *pcv_writer_errmsg(const struct pcv_writer *w)
{
	return w->errbuf;
}

/* ===== 5. open/close =================================================== */

int pcv_writer_open(struct pcv_writer **wp, const struct pcv_writer_opts *o,
		    char *errbuf)
{
	struct pcv_writer *w;
	int rc;

	*wp = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->o = *o;
	w->lock_fd = -1;
	w->dir = strdup(o->dir);
	pthread_mutex_init(&w->st_lock, NULL);
	pthread_mutex_init(&w->job.lock, NULL);
	pthread_cond_init(&w->job.cond, NULL);
	w->job.w = w;
	atomic_init(&w->finishing, false);
	atomic_init(&w->rotate_req, false);
	if (!w->dir) {
		rc = -ENOMEM;
		goto err;
	}
	rc = access(w->dir, W_OK);
	if (rc < 0) {
		rc = -errno;
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%s: %s", w->dir,
			 strerror(errno));
		goto err;
	}
	rc = w->lock_fd = pcv_store_lock(w->dir, errbuf);
	if (rc < 0)
		goto err;
	rc = pcv__store_open_index(w->dir, &w->ix, errbuf);
	if (rc < 0)
		goto err;
	rc = pcv__store_reconcile(w->dir, w->ix, 0, NULL, errbuf);
	if (rc < 0)
		goto err;
	uv_loop_init(&w->loop);
	uv_async_init(&w->loop, &w->wake, on_wake);
	uv_timer_init(&w->loop, &w->flush_timer);
	uv_timer_init(&w->loop, &w->stats_timer);
	w->wake.data = w->flush_timer.data = w->stats_timer.data = w;
	w->loop_ready = true;
	*wp = w;
	return 0;
err:
	pcv_writer_close(w);
	return rc;
}

void pcv_writer_close(struct pcv_writer *w)
{
	struct pcv_writer_src *s, *next;

	if (!w)
		return;
	if (w->started)
		pcv_writer_finish(w);
	if (w->loop_ready) {
		/* Never started: the handles are still open. */
		if (!uv_is_closing((uv_handle_t *)&w->wake)) {
			uv_close((uv_handle_t *)&w->wake, close_cb);
			uv_close((uv_handle_t *)&w->flush_timer, close_cb);
			uv_close((uv_handle_t *)&w->stats_timer, close_cb);
		}
		uv_run(&w->loop, UV_RUN_DEFAULT);
		uv_loop_close(&w->loop);
	}
	for (s = w->srcs; s; s = next) {
		next = s->next;
		pcv_seg_writer_abandon(s->seg);
		pcv_flowtab_close(s->flows);
		pcv_flowtab_close(s->handed);
		pcv_flowtab_close(s->spare);
		pcv_ring_destroy(&s->full);
		pcv_ring_destroy(&s->free);
		pthread_cond_destroy(&s->free_cond);
		pthread_mutex_destroy(&s->free_lock);
		free(s->pool);
		free(s);
	}
	pcv_index_close(w->ix);
	if (w->lock_fd >= 0)
		close(w->lock_fd);
	free(w->job.blocks);
	pthread_cond_destroy(&w->job.cond);
	pthread_mutex_destroy(&w->job.lock);
	pthread_mutex_destroy(&w->st_lock);
	free(w->dir);
	free(w);
}
