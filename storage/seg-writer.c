// SPDX-License-Identifier: MIT
/*
 * seg-writer.c - writing segment files (pcv/segment.h), and the segment
 * file name.
 *
 * Packets are copied into a raw block buffer as pcap records.  A block is
 * closed by the packet that brings it to opts.block_size bytes or more
 * (so the packet added is always in block pcv_seg_writer_block_seq()), or
 * by flush.  A closed block is a job: it is compressed in one
 * ZSTD_compress2() call into a buffer of ZSTD_compressBound() bytes and
 * its checksum taken - inline, or on libuv's thread pool when opts.loop is
 * set - then its block record is appended after it and the two go to the
 * file in one pwrite() at the end of the last whole block.  Writes happen
 * on the caller's thread only, in block order (retire()).  The jobs form a
 * small ring: the open block fills the job after the last one submitted,
 * so with a loop the caller fills one block while the pool compresses the
 * ones before it.  Everything (buffers, compression contexts, room for the
 * block table) is allocated at open or grown per block, never per packet.
 *
 * Failure leaves the file at its last whole block: a short or failed write
 * is truncated back and the block stays in its job, to be retried by every
 * later call; while no job is free, add refuses packets (not stored).
 * "No room" - ENOSPC, EDQUOT, or EFBIG from RLIMIT_FSIZE (the process must
 * ignore SIGXFSZ to see it) - is always reported as -ENOSPC, with the real
 * reason in the message.
 *
 * Durability: flush writes the open block, then fsync()s the file, and
 * the directory once, so that the new name survives too.  Seal fsyncs the
 * blocks before it writes the seek table, so a table on disk never points
 * at blocks that are not.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zstd.h>

#include "pcv/segment.h"
#include "seg-format.h"
#include "storage-int.h"

#define NS_PER_SEC 1000000000ull

/* Blocks in flight with a loop: one filling, the rest compressing. */
#define SEG_JOBS_ASYNC 4

enum job_state { JOB_FREE, JOB_BUSY, JOB_DONE };

/* One block: filled as raw pcap records, compressed into out. */
struct seg_job {
	uint8_t *raw;
	size_t raw_len;
	uint8_t *out;      /* compressed frame + room for the record frame */
	size_t comp;       /* ZSTD_compress2()'s result */
	ZSTD_CCtx *cctx;
	uint32_t npkts, crc;
	uint64_t first_ns, last_ns;
	enum job_state state; /* BUSY -> DONE under done_lock */
};

struct pcv_seg_writer {
	int fd;
	char *path;
	struct pcv_seg_opts opt;
	uint32_t linktype; /* LINKTYPE_ */
	uint8_t seg_id[16];
	uint64_t off;      /* end of the last whole block: the next write */

	struct seg_job *jobs;
	unsigned njobs;
	unsigned head;     /* oldest closed block not yet written */
	unsigned nclosed;  /* closed blocks not yet written */
	struct seg_job *fill; /* the open block, or NULL */
	size_t raw_cap, out_cap;
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;

	struct pcv_seg_block *blocks; /* written */
	size_t nblocks, blocks_cap, durable;
	atomic_bool dir_synced; /* also set by pcv_seg_writer_sync() */
	char errbuf[PCV_ERRBUF_SIZE];
};

/* What the thread pool holds: the job, and whom to tell; never the writer,
 * which may be gone when the after-work callback runs. */
struct seg_work {
	uv_work_t req;
	struct seg_job *job;
	size_t room;       /* of job->out for the frame */
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
	void (*ready)(void *user);
	void *user;
};

void pcv_seg_opts_init(struct pcv_seg_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->linktype = DLT_EN10MB;
	o->snaplen = PCV_DEFAULT_SNAPLEN;
	o->level = 3;
	o->block_size = 1u << 20;
	o->fsync = true;
}

/* ===== names ============================================================= */

int pcv_seg_name(char *buf, size_t len, uint64_t start_ns, const char *iface,
		 unsigned queue)
{
	time_t secs = (time_t)(start_ns / NS_PER_SEC);
	char stamp[32], name[256];
	size_t i, n;
	struct tm tm;
	int w;

	if (!iface || !*iface)
		iface = "import";
	if (!gmtime_r(&secs, &tm) ||
	    !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm))
		return -EINVAL;
	w = snprintf(name, sizeof(name), "%s.%09uZ-%s-q%u%s", stamp,
		     (unsigned)(start_ns % NS_PER_SEC), iface, queue,
		     PCV_SEG_SUFFIX);
	if (w < 0 || (size_t)w >= sizeof(name) || (size_t)w >= len)
		return -ENAMETOOLONG;
	/* the interface name: only [A-Za-z0-9_.-], the rest becomes '_' */
	n = strlen(stamp) + strlen(".123456789Z-");
	for (i = n; i < n + strlen(iface); i++) {
		char c = name[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			name[i] = '_';
	}
	memcpy(buf, name, (size_t)w + 1);
	return w;
}

/* ===== writing =========================================================== */

static int werr(struct pcv_seg_writer *w, int err, const char *what, int e)
{
	return pcv__storage_err(w->errbuf, err, "%s: %s: %s", w->path, what,
				strerror(e));
}

/*
 * Write @len bytes at w->off.  On failure cut the file back to w->off, so
 * it ends at the last whole block again.
 */
static int write_at_end(struct pcv_seg_writer *w, const uint8_t *buf,
			size_t len, const char *what)
{
	size_t done = 0;
	int e = 0;

	while (done < len) {
		ssize_t n = pwrite(w->fd, buf + done, len - done,
				   (off_t)(w->off + done));

		if (n > 0) {
			done += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else {
			e = n < 0 ? errno : ENOSPC;
			break;
		}
	}
	if (done == len)
		return 0;
	if (done && ftruncate(w->fd, (off_t)w->off) < 0)
		return werr(w, -errno, "truncating a partly written block",
			    errno);
	if (e == ENOSPC || e == EDQUOT || e == EFBIG)
		return pcv__storage_err(w->errbuf, -ENOSPC,
					"%s: writing %s at offset %llu: %s "
					"(the segment ends at its last whole block)",
					w->path, what,
					(unsigned long long)w->off, strerror(e));
	return werr(w, -e, what, e);
}

/* ----- blocks as jobs ----- */

/* Compress a closed block and take its checksum.  Any thread. */
static void job_compress(struct seg_job *j, size_t out_room)
{
	j->comp = ZSTD_compress2(j->cctx, j->out, out_room, j->raw, j->raw_len);
	j->crc = pcv__crc32c(0, j->raw, j->raw_len);
}

static void work_cb(uv_work_t *req)
{
	struct seg_work *sw = (struct seg_work *)req;
	struct seg_job *j = sw->job;

	job_compress(j, sw->room);
	pthread_mutex_lock(sw->lock);
	j->state = JOB_DONE;
	pthread_cond_broadcast(sw->cond);
	pthread_mutex_unlock(sw->lock);
}

static void after_work_cb(uv_work_t *req, int status)
{
	struct seg_work *sw = (struct seg_work *)req;
	void (*ready)(void *) = sw->ready;
	void *user = sw->user;

	(void)status; /* never cancelled */
	free(sw);
	if (ready)
		ready(user);
}

/* Close the open block: compress it on the pool, or here. */
static void job_submit(struct pcv_seg_writer *w, struct seg_job *j)
{
	size_t room = w->out_cap - PCV__SEG_BLK_FRAME;
	struct seg_work *sw = w->opt.loop ? malloc(sizeof(*sw)) : NULL;

	j->state = JOB_BUSY;
	w->nclosed++;
	w->fill = NULL;
	if (sw) {
		*sw = (struct seg_work){ .job = j, .room = room,
					 .lock = &w->done_lock,
					 .cond = &w->done_cond,
					 .ready = w->opt.ready,
					 .user = w->opt.ready_user };
		if (uv_queue_work(w->opt.loop, &sw->req, work_cb,
				  after_work_cb) == 0)
			return;
		free(sw);
	}
	job_compress(j, room);
	j->state = JOB_DONE;
}

/* Append a compressed block and its record to the file. */
static int write_block(struct pcv_seg_writer *w, struct seg_job *j)
{
	struct pcv__seg_blk k = { 0 };
	struct pcv_seg_block *b;
	int rc;

	if (ZSTD_isError(j->comp))
		return pcv__storage_err(w->errbuf, -EIO, "%s: zstd: %s",
					w->path, ZSTD_getErrorName(j->comp));
	if (w->nblocks == w->blocks_cap) {
		size_t cap = w->blocks_cap ? w->blocks_cap * 2 : 64;
		void *nb = realloc(w->blocks, cap * sizeof(*w->blocks));

		if (!nb)
			return pcv__storage_err(w->errbuf, -ENOMEM,
						"%s: out of memory", w->path);
		w->blocks = nb;
		w->blocks_cap = cap;
	}
	memcpy(k.seg_id, w->seg_id, sizeof(k.seg_id));
	k.offset = w->off;
	k.comp_size = (uint32_t)j->comp;
	k.raw_size = (uint32_t)j->raw_len;
	k.first_ns = j->first_ns;
	k.last_ns = j->last_ns;
	k.npkts = j->npkts;
	k.data_crc = j->crc;
	k.seq = w->nblocks;
	pcv__seg_put_skip(j->out + j->comp, PCV__SEG_BLK_SIZE);
	pcv__seg_blk_encode(j->out + j->comp + PCV__SEG_SKIP_HDR, &k);
	rc = write_at_end(w, j->out, j->comp + PCV__SEG_BLK_FRAME, "a block");
	if (rc < 0)
		return rc;
	w->off += j->comp + PCV__SEG_BLK_FRAME;
	b = &w->blocks[w->nblocks++];
	b->offset = k.offset;
	b->comp_size = k.comp_size;
	b->raw_size = k.raw_size;
	b->first_ns = k.first_ns;
	b->last_ns = k.last_ns;
	b->npkts = k.npkts;
	b->crc32c = k.data_crc;
	b->seq = k.seq;
	return 0;
}

/*
 * Write the closed blocks whose compression is done, oldest first; with
 * @wait, wait for each.  Stops at the first failed write, which stays
 * first in line.  Return: 0 or that failure.
 */
static int retire(struct pcv_seg_writer *w, bool wait)
{
	while (w->nclosed) {
		struct seg_job *j = &w->jobs[w->head];
		bool done;
		int rc;

		pthread_mutex_lock(&w->done_lock);
		while (wait && j->state == JOB_BUSY)
			pthread_cond_wait(&w->done_cond, &w->done_lock);
		done = j->state == JOB_DONE;
		pthread_mutex_unlock(&w->done_lock);
		if (!done)
			return 0;
		rc = write_block(w, j);
		if (rc < 0)
			return rc;
		j->state = JOB_FREE;
		w->head = (w->head + 1) % w->njobs;
		w->nclosed--;
	}
	return 0;
}

/* Make sure there is an open block to add to. */
static int take_fill(struct pcv_seg_writer *w)
{
	struct seg_job *j;
	int rc;

	if (w->fill)
		return 0;
	if (w->nclosed == w->njobs) {
		rc = retire(w, true);
		if (w->nclosed == w->njobs)
			return rc;
	}
	j = &w->jobs[(w->head + w->nclosed) % w->njobs];
	j->raw_len = 0;
	j->npkts = 0;
	w->fill = j;
	return 0;
}

static int check_opts(const struct pcv_seg_opts *o, uint32_t *linktype)
{
	long lt = pcv__seg_dlt_to_linktype(o->linktype);

	if (lt < 0)
		return PCV_ELINKTYPE;
	*linktype = (uint32_t)lt;
	if (o->snaplen == 0 || o->snaplen > PCV__SEG_SNAPLEN_MAX ||
	    o->block_size == 0 ||
	    o->block_size > PCV__SEG_RAW_MAX - PCV__SEG_SNAPLEN_MAX -
				    PCV__PCAP_REC_HDR ||
	    o->level < ZSTD_minCLevel() || o->level > ZSTD_maxCLevel())
		return -EINVAL;
	return 0;
}

/* The pcap header frame and the segment header frame, at offset 0. */
static int write_headers(struct pcv_seg_writer *w)
{
	uint8_t pcap[PCV__PCAP_HDR], *out = w->jobs[0].out;
	struct pcv__seg_hdr h = { 0 };
	struct timespec now;
	size_t c;
	int rc;

	pcv__put_le32(pcap, PCV__PCAP_MAGIC_NS);
	pcv__put_le16(pcap + 4, 2);
	pcv__put_le16(pcap + 6, 4);
	pcv__put_le32(pcap + 8, 0);  /* thiszone */
	pcv__put_le32(pcap + 12, 0); /* sigfigs */
	pcv__put_le32(pcap + 16, w->opt.snaplen);
	pcv__put_le32(pcap + 20, w->linktype);
	c = ZSTD_compress2(w->jobs[0].cctx, out, w->out_cap, pcap, sizeof(pcap));
	if (ZSTD_isError(c))
		return pcv__storage_err(w->errbuf, -EIO, "%s: zstd: %s",
					w->path, ZSTD_getErrorName(c));
	clock_gettime(CLOCK_REALTIME, &now);
	h.version = PCV__SEG_VERSION;
	h.linktype = w->linktype;
	h.snaplen = w->opt.snaplen;
	h.block_size = w->opt.block_size;
	h.created_ns = (uint64_t)now.tv_sec * NS_PER_SEC + (uint64_t)now.tv_nsec;
	memcpy(h.seg_id, w->seg_id, sizeof(h.seg_id));
	h.level = w->opt.level;
	pcv__seg_put_skip(out + c, PCV__SEG_HDR_SIZE);
	pcv__seg_hdr_encode(out + c + PCV__SEG_SKIP_HDR, &h);
	rc = write_at_end(w, out, c + PCV__SEG_HDR_FRAME, "the header");
	if (rc < 0)
		return rc;
	w->off = c + PCV__SEG_HDR_FRAME;
	return 0;
}

/* 128 random bits; the kernel's, else a mix of time and pid. */
static void new_seg_id(uint8_t id[16])
{
	struct timespec ts;
	uint64_t a, b;

	if (getrandom(id, 16, 0) == 16)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	a = (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
	b = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^ (uintptr_t)id;
	pcv__put_le64(id, a);
	pcv__put_le64(id + 8, b);
}

int pcv_seg_writer_open(struct pcv_seg_writer **wp, const char *path,
			const struct pcv_seg_opts *opts)
{
	struct pcv_seg_writer *w;
	struct pcv_seg_opts def;
	uint32_t linktype;
	int rc;

	*wp = NULL;
	if (!opts) {
		pcv_seg_opts_init(&def);
		opts = &def;
	}
	rc = check_opts(opts, &linktype);
	if (rc < 0)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = -1;
	w->opt = *opts;
	w->linktype = linktype;
	w->path = strdup(path);
	pthread_mutex_init(&w->done_lock, NULL);
	pthread_cond_init(&w->done_cond, NULL);
	/* a block closes once it holds block_size bytes: it may hold one
	 * record more than that */
	w->raw_cap = opts->block_size + PCV__PCAP_REC_HDR + opts->snaplen;
	w->out_cap = ZSTD_compressBound(w->raw_cap) + PCV__SEG_BLK_FRAME;
	w->njobs = opts->loop ? SEG_JOBS_ASYNC : 1;
	w->jobs = calloc(w->njobs, sizeof(*w->jobs));
	if (!w->path || !w->jobs) {
		rc = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < w->njobs; i++) {
		struct seg_job *j = &w->jobs[i];

		j->raw = malloc(w->raw_cap);
		j->out = malloc(w->out_cap);
		j->cctx = ZSTD_createCCtx();
		if (!j->raw || !j->out || !j->cctx) {
			rc = -ENOMEM;
			goto err;
		}
		if (ZSTD_isError(ZSTD_CCtx_setParameter(j->cctx,
				ZSTD_c_compressionLevel, opts->level)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(j->cctx,
				ZSTD_c_checksumFlag, 1)) ||
		    ZSTD_isError(ZSTD_CCtx_setParameter(j->cctx,
				ZSTD_c_contentSizeFlag, 1))) {
			rc = -EINVAL;
			goto err;
		}
	}
	new_seg_id(w->seg_id);
	w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = -errno;
		goto err;
	}
	rc = write_headers(w);
	if (rc < 0) {
		unlink(path);
		goto err;
	}
	*wp = w;
	return 0;
err:
	pcv_seg_writer_abandon(w);
	return rc;
}

int pcv_seg_writer_add(struct pcv_seg_writer *w, const struct pcv_packet *p,
		       bool *closed)
{
	struct seg_job *j;
	uint8_t *rec;
	int rc;

	if (closed)
		*closed = false;
	if (p->caplen > w->opt.snaplen)
		return pcv__storage_err(w->errbuf, -EINVAL,
					"%s: packet of %u captured bytes is longer than the snaplen %u",
					w->path, p->caplen, w->opt.snaplen);
	if (p->caplen && !p->data)
		return pcv__storage_err(w->errbuf, -EINVAL,
					"%s: packet without data", w->path);
	if (p->ts_ns / NS_PER_SEC > UINT32_MAX)
		return pcv__storage_err(w->errbuf, -ERANGE,
					"%s: timestamp %llu ns is after 2106: pcap seconds are 32 bits",
					w->path, (unsigned long long)p->ts_ns);
	rc = take_fill(w);
	if (rc < 0)
		return rc;
	j = w->fill;
	rec = j->raw + j->raw_len;
	pcv__put_le32(rec, (uint32_t)(p->ts_ns / NS_PER_SEC));
	pcv__put_le32(rec + 4, (uint32_t)(p->ts_ns % NS_PER_SEC));
	pcv__put_le32(rec + 8, p->caplen);
	pcv__put_le32(rec + 12, p->len);
	if (p->caplen)
		memcpy(rec + PCV__PCAP_REC_HDR, p->data, p->caplen);
	j->raw_len += PCV__PCAP_REC_HDR + p->caplen;
	if (!j->npkts || p->ts_ns < j->first_ns)
		j->first_ns = p->ts_ns;
	if (!j->npkts || p->ts_ns > j->last_ns)
		j->last_ns = p->ts_ns;
	j->npkts++;
	if (j->raw_len < w->opt.block_size)
		return 0;
	job_submit(w, j);
	if (closed)
		*closed = true;
	/* a failed write stays in line and is reported by later calls */
	(void)retire(w, false);
	return 0;
}

/* fsync the directory that holds the segment.  Any thread: no errbuf. */
static int sync_dir(const struct pcv_seg_writer *w)
{
	char *copy = strdup(w->path);
	int fd, rc = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return rc;
}

/*
 * Close the open block, write every closed block and make them durable.
 * When a write fails (a full disk), the blocks before it are still made
 * durable, so that they can be indexed, and the failure is returned after.
 */
static int flush(struct pcv_seg_writer *w)
{
	int write_rc, rc;

	if (w->fill && w->fill->npkts)
		job_submit(w, w->fill);
	write_rc = retire(w, true);
	if (w->durable == w->nblocks)
		return write_rc;
	if (w->opt.fsync) {
		if (fsync(w->fd) < 0)
			return werr(w, -errno, "fsync", errno);
		if (!atomic_load(&w->dir_synced)) {
			rc = sync_dir(w);
			if (rc < 0)
				return werr(w, rc, "fsync of its directory",
					    -rc);
			atomic_store(&w->dir_synced, true);
		}
	}
	w->durable = w->nblocks;
	return write_rc;
}

int pcv_seg_writer_flush(struct pcv_seg_writer *w)
{
	return flush(w);
}

int pcv_seg_writer_close_block(struct pcv_seg_writer *w)
{
	if (w->fill && w->fill->npkts)
		job_submit(w, w->fill);
	return retire(w, false);
}

size_t pcv_seg_writer_written(const struct pcv_seg_writer *w)
{
	return w->nblocks;
}

int pcv_seg_writer_sync(struct pcv_seg_writer *w)
{
	int rc;

	if (!w->opt.fsync)
		return 0;
	if (fdatasync(w->fd) < 0)
		return -errno;
	if (!atomic_load(&w->dir_synced)) {
		rc = sync_dir(w);
		if (rc < 0)
			return rc;
		atomic_store(&w->dir_synced, true);
	}
	return 0;
}

const struct pcv_seg_block *pcv_seg_writer_blocks(const struct pcv_seg_writer *w,
						  size_t *n)
{
	*n = w->nblocks;
	return w->blocks;
}

size_t pcv_seg_writer_durable(const struct pcv_seg_writer *w)
{
	return w->durable;
}

uint64_t pcv_seg_writer_block_seq(const struct pcv_seg_writer *w)
{
	return w->nblocks + w->nclosed;
}

uint64_t pcv_seg_writer_pending(const struct pcv_seg_writer *w)
{
	uint64_t n = w->fill ? w->fill->npkts : 0;

	for (unsigned i = 0; i < w->nclosed; i++)
		n += w->jobs[(w->head + i) % w->njobs].npkts;
	return n;
}

int pcv_seg_writer_poll(struct pcv_seg_writer *w)
{
	return w ? retire(w, false) : 0;
}

/* The seek table frame, ending with the footer, at the end of the file. */
static int write_table(struct pcv_seg_writer *w)
{
	size_t len = pcv__seg_table_frame(w->nblocks);
	size_t content = len - PCV__SEG_SKIP_HDR;
	struct pcv__seg_footer f = { 0 };
	uint8_t *buf, *p;
	int rc;

	if (w->nblocks > UINT32_MAX || content > UINT32_MAX)
		return pcv__storage_err(w->errbuf, -EFBIG,
					"%s: too many blocks for a seek table",
					w->path);
	buf = malloc(len);
	if (!buf)
		return pcv__storage_err(w->errbuf, -ENOMEM, "%s: out of memory",
					w->path);
	pcv__seg_put_skip(buf, (uint32_t)content);
	p = buf + PCV__SEG_SKIP_HDR;
	memcpy(p, PCV__SEG_TAG_IDX, PCV__SEG_TAG_LEN);
	memcpy(p + PCV__SEG_TAG_LEN, w->seg_id, sizeof(w->seg_id));
	p += PCV__SEG_IDX_HDR;
	for (size_t i = 0; i < w->nblocks; i++, p += PCV__SEG_ENTRY_SIZE) {
		const struct pcv_seg_block *b = &w->blocks[i];
		struct pcv__seg_entry e = {
			.offset = b->offset,
			.comp_size = b->comp_size,
			.raw_size = b->raw_size,
			.first_ns = b->first_ns,
			.last_ns = b->last_ns,
			.npkts = b->npkts,
			.data_crc = b->crc32c,
			.seq = b->seq,
		};

		pcv__seg_entry_encode(p, &e);
	}
	f.table_offset = w->off;
	f.nblocks = (uint32_t)w->nblocks;
	f.table_crc = pcv__crc32c(0, buf + PCV__SEG_SKIP_HDR,
				  (size_t)(p - buf) - PCV__SEG_SKIP_HDR);
	memcpy(f.seg_id, w->seg_id, sizeof(f.seg_id));
	f.version = PCV__SEG_VERSION;
	pcv__seg_footer_encode(p, &f);
	rc = write_at_end(w, buf, len, "the seek table");
	free(buf);
	if (rc == 0)
		w->off += len;
	return rc;
}

int pcv_seg_writer_seal(struct pcv_seg_writer *w)
{
	int rc;

	if (!w)
		return -EINVAL;
	rc = flush(w);
	if (rc == 0)
		rc = write_table(w);
	if (rc == 0 && w->opt.fsync && fsync(w->fd) < 0)
		rc = -errno;
	if (close(w->fd) < 0 && rc == 0)
		rc = -errno;
	w->fd = -1;
	pcv_seg_writer_abandon(w);
	return rc;
}

void pcv_seg_writer_abandon(struct pcv_seg_writer *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	/* the pool may still be compressing into our buffers */
	pthread_mutex_lock(&w->done_lock);
	for (unsigned i = 0; w->jobs && i < w->njobs; i++) {
		while (w->jobs[i].state == JOB_BUSY)
			pthread_cond_wait(&w->done_cond, &w->done_lock);
	}
	pthread_mutex_unlock(&w->done_lock);
	for (unsigned i = 0; w->jobs && i < w->njobs; i++) {
		ZSTD_freeCCtx(w->jobs[i].cctx);
		free(w->jobs[i].out);
		free(w->jobs[i].raw);
	}
	pthread_cond_destroy(&w->done_cond);
	pthread_mutex_destroy(&w->done_lock);
	free(w->jobs);
	free(w->blocks);
	free(w->path);
	free(w);
}

const char *pcv_seg_writer_errmsg(const struct pcv_seg_writer *w)
{
	return w ? w->errbuf : "";
}
