/* SPDX-License-Identifier: MIT */
/*
 * pcv/segment.h - segment files: where recorded packets live.
 *
 * A segment is a valid zstd stream whose decompressed bytes are a valid
 * nanosecond pcap file with the capture's link type, so
 * `zstdcat SEGMENT | tcpdump -nr -` reads it.  Packets are grouped in
 * blocks; each block is an independent zstd frame, so any block
 * decompresses alone.  Per-block metadata (time range, packet count, raw
 * and compressed size, checksum) and, when the segment is sealed, a seek
 * table live in zstd skippable frames, which standard tools skip.
 * docs/segment-format.md is the byte-level specification.
 *
 * Durability: pcv_seg_writer_flush() returns once a block is written and
 * fsync'd; only then may an index row point at it.  A segment cut short by
 * a crash stays readable up to its last whole block, and
 * pcv_seg_recover() truncates the torn tail.
 */
#ifndef PCV_SEGMENT_H
#define PCV_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcv/pcv.h"

#define PCV_SEG_SUFFIX ".pcap.zst"

/* What a block holds: written after each block frame, and repeated in the
 * seek table of a sealed segment. */
struct pcv_seg_block {
	uint64_t offset;      /* file offset of the block's zstd frame */
	uint32_t comp_size;   /* bytes of that frame */
	uint32_t raw_size;    /* decompressed bytes (pcap records) */
	uint64_t first_ns;    /* smallest timestamp in the block */
	uint64_t last_ns;     /* largest */
	uint32_t npkts;
	uint32_t crc32c;      /* of the decompressed bytes */
	uint64_t seq;         /* block number within the segment, from 0 */
};

struct uv_loop_s;

struct pcv_seg_opts {
	int linktype;         /* DLT_ value of the packets */
	uint32_t snaplen;
	int level;            /* zstd level; default 3 */
	uint32_t block_size;  /* raw bytes that close a block; default 1 MiB */
	bool fsync;           /* fsync at every flush; default true */

	/* Compression off the caller's thread: with a libuv loop, full blocks
	 * are compressed on its thread pool while the caller fills the next
	 * ones, and written in order by the caller's thread (the loop's),
	 * from any later call or from pcv_seg_writer_poll().  @ready, if set,
	 * runs on the loop thread when a block has been compressed; it must
	 * not assume the writer still exists (it is told nothing about it).
	 * NULL loop (the default): blocks are compressed inline. */
	struct uv_loop_s *loop;
	void (*ready)(void *user);
	void *ready_user;
};

struct pcv_seg_writer;
struct pcv_seg_reader;

void pcv_seg_opts_init(struct pcv_seg_opts *o);

/*
 * pcv_seg_name() - the file name for a segment that starts at @start_ns,
 * written by @iface (a name, or "import") and @queue:
 * "20261124T031500.123456789Z-eth0-q0.pcap.zst".  Names sort by time.
 * Return: the length written, or -ENAMETOOLONG.
 */
int pcv_seg_name(char *buf, size_t len, uint64_t start_ns,
		 const char *iface, unsigned queue);

/*
 * pcv_seg_writer_open() - create @path (it must not exist) and write the
 * pcap header frame.
 * Return: 0 or -errno; *wp is NULL on failure.
 */
int pcv_seg_writer_open(struct pcv_seg_writer **wp, const char *path,
			const struct pcv_seg_opts *opts);

/*
 * pcv_seg_writer_add() - copy one packet into the open block.  When the
 * block reaches opts.block_size it is closed: compressed and written (not
 * fsync'd), at once or, with opts.loop, once the thread pool is done with
 * it; *closed (may be NULL) is set to true then.
 * Return: 0 or -errno.  On error (ENOSPC: no room for the blocks already
 * closed, and no buffer left to take more) the packet is not stored, and
 * the segment stays valid up to its last whole block.
 */
int pcv_seg_writer_add(struct pcv_seg_writer *w, const struct pcv_packet *p,
		       bool *closed);

/*
 * pcv_seg_writer_flush() - close the open block if it holds packets, write
 * it, and fsync (when opts.fsync).  Everything added before is durable
 * when this returns 0.
 */
int pcv_seg_writer_flush(struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_close_block() - close the open block if it holds packets,
 * without waiting: it is compressed and written like a full one (with
 * opts.loop, once the pool is done).  Every packet added before is then in
 * a block numbered below pcv_seg_writer_block_seq().
 * Return: 0 or a write error of an earlier block (still queued, retried).
 */
int pcv_seg_writer_close_block(struct pcv_seg_writer *w);

/* pcv_seg_writer_written() - how many blocks are written (not fsync'd). */
size_t pcv_seg_writer_written(const struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_sync() - make the blocks written so far durable: fdatasync
 * the file, and fsync its directory the first time (nothing when
 * opts.fsync is off).  The one call that may run on another thread while
 * the writer's own thread keeps adding and polling; never concurrently
 * with flush, seal or abandon.  Does not touch the error message.
 * Return: 0 or -errno.
 */
int pcv_seg_writer_sync(struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_blocks() - the blocks written so far (durable or not):
 * *n entries, valid until the next call on @w.
 */
const struct pcv_seg_block *pcv_seg_writer_blocks(const struct pcv_seg_writer *w,
						  size_t *n);

/* pcv_seg_writer_durable() - how many of those blocks are fsync'd. */
size_t pcv_seg_writer_durable(const struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_block_seq() - the block number (pcv_seg_block.seq) the
 * next packet added will be stored in.
 */
uint64_t pcv_seg_writer_block_seq(const struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_pending() - packets added but not yet written: those of
 * the open block and of closed blocks still being compressed or waiting
 * for room.  Abandoning the writer loses them.
 */
uint64_t pcv_seg_writer_pending(const struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_poll() - write the closed blocks the thread pool has
 * finished, in order, without waiting.  Return: 0 or the write error.
 */
int pcv_seg_writer_poll(struct pcv_seg_writer *w);

/*
 * pcv_seg_writer_seal() - flush, append the seek table, fsync, close.
 * The writer is freed whatever the result.
 */
int pcv_seg_writer_seal(struct pcv_seg_writer *w);

/* pcv_seg_writer_abandon() - close without sealing (NULL is fine). */
void pcv_seg_writer_abandon(struct pcv_seg_writer *w);

const char *pcv_seg_writer_errmsg(const struct pcv_seg_writer *w);

/*
 * pcv_seg_reader_open() - open a segment, sealed or not, and learn its
 * blocks: from the seek table when sealed, else by walking the frames.
 * A torn tail is not an error: it is ignored (pcv_seg_reader_torn()).
 * Return: 0, -errno, PCV_EFORMAT (not a segment), PCV_ECORRUPT; with
 * @errbuf (PCV_ERRBUF_SIZE) saying where.
 */
int pcv_seg_reader_open(struct pcv_seg_reader **rp, const char *path,
			char *errbuf);

void pcv_seg_reader_close(struct pcv_seg_reader *r);

/* The pcap header's link type and snaplen. */
int pcv_seg_reader_linktype(const struct pcv_seg_reader *r);
uint32_t pcv_seg_reader_snaplen(const struct pcv_seg_reader *r);

/* The whole blocks, in file order. */
const struct pcv_seg_block *pcv_seg_reader_blocks(const struct pcv_seg_reader *r,
						  size_t *n);

/* Bytes after the last whole block that do not form a block (0 if none). */
uint64_t pcv_seg_reader_torn(const struct pcv_seg_reader *r);
bool pcv_seg_reader_sealed(const struct pcv_seg_reader *r);

/*
 * pcv_seg_reader_read_block() - decompress block @i, check its checksum,
 * and call @cb for each packet in it, in stored order.  Packet memory is
 * valid during the callback only.
 * Return: packets delivered, or PCV_ECORRUPT (checksum, bad record) with
 * pcv_seg_reader_errmsg() saying what.
 */
int pcv_seg_reader_read_block(struct pcv_seg_reader *r, size_t i,
			      pcv_callback cb, void *user);

const char *pcv_seg_reader_errmsg(const struct pcv_seg_reader *r);

/*
 * pcv_seg_recover() - truncate a segment cut short by a crash to its last
 * whole block.  Sealed and whole segments are left alone.
 * Return: bytes removed (>= 0), or a negative code.
 */
int64_t pcv_seg_recover(const char *path, char *errbuf);

#endif /* PCV_SEGMENT_H */
