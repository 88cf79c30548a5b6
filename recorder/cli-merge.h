/* SPDX-License-Identifier: MIT */
/*
 * cli-merge.h - read packets from several segments merged by timestamp, as
 * pcv-cat and pcv-query deliver them.
 *
 * Each segment is a stream of packets in stored order (of all its blocks,
 * or of the blocks chosen); the streams are merged by timestamp: at each
 * step the next packet of every stream is looked at and the one with the
 * smallest timestamp goes out, a tie going to the stream added first.
 * Stored order is never changed, so one segment comes out exactly as it
 * was written, even where its timestamps step backwards.
 *
 * A stream is opened and a block decompressed only when the merge needs
 * it: until then the block's first_ns (its smallest timestamp) stands in
 * for the next packet's timestamp, as a lower bound.  Once a stream's
 * block is loaded, a worker thread decompresses its next one while the
 * caller works through this one (with two cores or more), so memory holds
 * two blocks per segment that overlaps in time with another.
 *
 * A damaged block is reported with its file and number and skipped;
 * merge.failed says so afterwards.
 */
#ifndef PCV_MERGE_H
#define PCV_MERGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcv/pcv.h"

struct merge_stream;

struct merge {
	struct merge_stream *s;
	size_t n, cap;
	int linktype;       /* of every stream: one pcap holds one */
	uint32_t snaplen;   /* the largest */
	bool failed;        /* an input or a block was skipped */
	size_t *heap;       /* a binary min-heap of stream indexes */
	size_t nheap;
	/* the worker thread that decompresses ahead (cli-merge.c) */
	pthread_t worker;
	bool worker_on, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t *queue;      /* stream indexes, a ring of n */
	size_t qhead, qtail;
};

/*
 * merge_add() - add segment @path; with @seqs, only those blocks (block
 * numbers, ascending; @nseqs of them), else all.  An unreadable segment is
 * reported and skipped (merge.failed).
 * Return: 0, or -1 (reported): out of memory, or a link type other than
 * the streams' before.
 */
int merge_add(struct merge *m, const char *path, const uint64_t *seqs,
	      size_t nseqs);

/* merge_add_dir() - every *.pcap.zst in @dir, by name.  Return: 0, -1. */
int merge_add_dir(struct merge *m, const char *dir);

/* Called for each packet in merged order; non-zero stops the merge. */
typedef int (*merge_cb)(const struct pcv_packet *p, void *user);

/*
 * merge_run() - deliver every packet.  Return: 0, the callback's non-zero
 * value, or -1 (out of memory, reported).
 */
int merge_run(struct merge *m, merge_cb cb, void *user);

void merge_free(struct merge *m);

#endif
