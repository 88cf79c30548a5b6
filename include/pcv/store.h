/* SPDX-License-Identifier: MIT */
/*
 * pcv/store.h - a store directory as a whole: checking it and rebuilding
 * its index from the segments, which are the truth (the index is a cache
 * of what they hold).
 */
#ifndef PCV_STORE_H
#define PCV_STORE_H

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

#endif /* PCV_STORE_H */
