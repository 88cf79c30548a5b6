/* SPDX-License-Identifier: MIT */
/*
 * pcv/store.h - a store directory as a whole: checking it and rebuilding
 * its index from the segments, which are the truth (the index is a cache
 * of what they hold).
 */
#ifndef PCV_STORE_H
#define PCV_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "pcv/error.h"

/* What pcv_store_fsck() found and did. */
struct pcv_fsck_report {
	uint64_t segments;       /* segment files checked and indexed */
	uint64_t blocks;         /* their whole blocks */
	uint64_t torn;           /* segments whose torn tail was cut */
	uint64_t bytes_cut;
	uint64_t set_aside;      /* unreadable segments renamed *.corrupt */
	uint64_t added;          /* segments the index lacked */
	uint64_t blocks_indexed; /* blocks the index lacked */
	uint64_t rows_dropped;   /* rows that pointed past the data, or at
				  * segment files that are gone */
};

enum pcv_fsck_flag {
	PCV_FSCK_VERIFY = 1u << 0,  /* read every block: checksums, records */
	PCV_FSCK_REBUILD = 1u << 1, /* build the index anew from segments */
};

/*
 * pcv_store_fsck() - check the store in @dir and make its index right:
 * cut torn segment tails (a crash), set unreadable segments aside
 * (renamed *.corrupt, never fatal), drop index rows that point past the
 * data or at missing files, index what is not indexed.  Takes the store's
 * lock: fails with -EBUSY while a recorder runs.
 * Return: 0, or a negative code with the reason in @errbuf.
 */
int pcv_store_fsck(const char *dir, unsigned flags,
		   struct pcv_fsck_report *rep, char *errbuf);

/*
 * pcv_store_lock() - take the store's lock (DIR/.lock, flock): one writer
 * per store.  Return: the lock's fd (close it to unlock), -EBUSY when
 * another process holds it, -errno, with @errbuf set.
 */
int pcv_store_lock(const char *dir, char *errbuf);

/* Retention rules; 0 turns a rule off. */
struct pcv_retention {
	uint64_t max_age_ns;     /* segments that ended longer ago go */
	uint64_t max_bytes;      /* the store's bytes on disk, at most */
	uint64_t min_free_bytes; /* free space on its file system, at least */
};

/* What pcv_store_rotate() did (or, dry run, would do). */
struct pcv_rotate_report {
	uint64_t segments;     /* segments deleted */
	uint64_t orphans;      /* segment files the index did not know */
	uint64_t bytes;        /* their bytes on disk */
	uint64_t bytes_before; /* the store's bytes before and after */
	uint64_t bytes_after;
	uint64_t oldest_ns;    /* the start of the oldest segment left, 0 */
	bool recorder;         /* a recorder was running (its open segments
				* were left alone) */
};

/* Called for each segment pcv_store_rotate() deletes: its file name, bytes
 * on disk, time range and the rule ("age", "size", "free"). */
typedef void (*pcv_rotate_cb)(const char *name, uint64_t bytes,
			      uint64_t start_ns, uint64_t end_ns,
			      const char *why, void *user);

/*
 * pcv_store_rotate() - delete the oldest segments of the store in @dir,
 * index rows first, until the rules of @r hold: segments that ended
 * before max_age; then the oldest while the store is over max_bytes or
 * its file system has less than min_free_bytes free.  A running
 * recorder's open segments are never deleted; segment files the index
 * does not know go by age only (modification time).  With @dry_run
 * nothing changes, @cb and @rep say what would.
 * Return: 0, or a negative code with the reason in @errbuf.
 */
int pcv_store_rotate(const char *dir, const struct pcv_retention *r,
		     bool dry_run, pcv_rotate_cb cb, void *user,
		     struct pcv_rotate_report *rep, char *errbuf);

/*
 * pcv_store_recorder() - the pid of the process that holds the store's
 * lock and wrote its pid into it (pcv_store_lock), or 0 when none does.
 */
long pcv_store_recorder(const char *dir);

#endif /* PCV_STORE_H */
