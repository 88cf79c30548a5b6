/* SPDX-License-Identifier: MIT */
/*
 * pcv/writer.h - the recorder's writer: capture threads hand it batches,
 * a thread running a libuv loop stores them in segments and indexes them.
 *
 * Each capture thread owns a source: a pool of batch buffers and two
 * single-producer/single-consumer rings (full: capture -> writer, free:
 * writer -> capture).  pcv_writer_src_push() copies a borrowed capture
 * batch into pool buffers and never blocks: when the pool is exhausted the
 * packets are counted as dropped at the ring stage.  Each source writes its
 * own segments (one interface queue, one file at a time).
 *
 * Durability: on every flush (timer, default 1 s) the open block of every
 * source is written and fsync'd, then the rows for the new blocks and the
 * flows seen are committed to the index in one transaction.
 */
#ifndef PCV_WRITER_H
#define PCV_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "pcv/pcv.h"

struct pcv_writer_opts {
	const char *dir;         /* the store; must exist */
	int level;               /* zstd level (default 3) */
	uint32_t block_size;     /* raw bytes per block (default 1 MiB) */
	uint64_t segment_size;   /* raw bytes per segment (default 256 MiB) */
	uint64_t segment_ns;     /* segment duration (default 60 s; 0: none) */
	bool segment_align;      /* cut segments on multiples of segment_ns */
	uint64_t flush_ns;       /* flush interval (default 1 s) */
	uint64_t stats_ns;       /* statistics line interval; 0: never */
	uint32_t max_flows;      /* exact flows per source between flushes */
	uint32_t pool_batches;   /* batch buffers per source, each up to 64
				  * packets and 128 KiB (default 512) */
	bool fsync;              /* fsync each flush (default true) */
	void (*log)(const char *line, void *user); /* stats lines; NULL: stderr */
	void *log_user;
};

struct pcv_writer_stats {
	uint64_t packets;        /* stored in segments */
	uint64_t bytes;          /* captured bytes stored */
	uint64_t ring_dropped;   /* no free batch buffer: capture outran us */
	uint64_t disk_dropped;   /* a write failed (disk full ...) */
	uint64_t raw_bytes;      /* pcap bytes written, before compression */
	uint64_t comp_bytes;     /* bytes in block frames */
	uint64_t blocks, segments;
	uint64_t flows;          /* flow rows committed */
	uint64_t index_lag_ns;   /* age of the oldest packet not yet indexed */
};

struct pcv_writer;
struct pcv_writer_src;

void pcv_writer_opts_init(struct pcv_writer_opts *o);

/*
 * pcv_writer_open() - lock the store (one writer per directory), open or
 * create its index, and recover: torn segment tails are truncated, index
 * rows pointing past the data are dropped, segments the index lacks are
 * indexed.
 * Return: 0, -EBUSY (another recorder holds the store), -errno, with the
 * reason in @errbuf.
 */
int pcv_writer_open(struct pcv_writer **wp, const struct pcv_writer_opts *o,
		    char *errbuf);

/*
 * pcv_writer_src_add() - a source for one capture thread, before
 * pcv_writer_start().  @iface and @queue name its segments.
 */
int pcv_writer_src_add(struct pcv_writer *w, const char *iface,
		       unsigned queue, int linktype, uint32_t snaplen,
		       struct pcv_writer_src **srcp);

/* pcv_writer_start() - start the writer thread. */
int pcv_writer_start(struct pcv_writer *w);

/*
 * pcv_writer_src_push() - capture thread: copy a batch in.  Never blocks.
 * Return: packets dropped for want of a free buffer (0 normally).
 */
uint32_t pcv_writer_src_push(struct pcv_writer_src *s,
			     const struct pcv_batch *b);

/*
 * pcv_writer_src_set_blocking() - make pcv_writer_src_push() wait for free
 * buffers instead of dropping: for sources that can wait (files).
 */
void pcv_writer_src_set_blocking(struct pcv_writer_src *s, bool blocking);

/* pcv_writer_src_done() - capture thread: no more batches from @s. */
void pcv_writer_src_done(struct pcv_writer_src *s);

/* pcv_writer_rotate() - seal the open segments at the next loop turn
 * (SIGHUP).  Thread- and async-signal-safe. */
void pcv_writer_rotate(struct pcv_writer *w);

/*
 * pcv_writer_finish() - wait until every source is done, drain, flush,
 * seal, commit, and stop the writer thread.
 * Return: 0 or the first error the writer met.
 */
int pcv_writer_finish(struct pcv_writer *w);

void pcv_writer_get_stats(struct pcv_writer *w, struct pcv_writer_stats *st);

const char *pcv_writer_errmsg(const struct pcv_writer *w);

/* pcv_writer_close() - free everything and unlock the store.  NULL ok. */
void pcv_writer_close(struct pcv_writer *w);

#endif /* PCV_WRITER_H */
