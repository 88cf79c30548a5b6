/* SPDX-License-Identifier: MIT */
/*
 * pcv/index.h - the flow index: which blocks of which segment hold the
 * packets of which flows, in SQLite (DIR/index.sqlite), and the flow table
 * that aggregates packets into those rows between two flushes.
 *
 * The index is a cache of the segment files (pcv/segment.h): it can always
 * be rebuilt from them, and it is only ever allowed to say too much, never
 * too little.  A query reads every block some matching row points at, so a
 * row must cover every block that holds one of its packets; rows may cover
 * blocks that hold none (that costs reading time, not correctness).
 *
 * Writing, once per flush:
 *
 *	pcv_seg_writer_flush(w);              the blocks are fsync'd: first
 *	pcv_index_begin(ix);
 *	pcv_index_block_add(ix, seg, &blk);   for each newly durable block
 *	pcv_index_flows_put(ix, seg, recs, n);  the flow table's records
 *	pcv_index_commit(ix);                 then the rows that point there
 *	pcv_flowtab_reset(t);                 only once the commit succeeded
 *
 * Flow records are deltas: putting a flow that is already in the index
 * adds its counts, so the table must be reset after each successful put.
 * The flow table never allocates or waits per packet; when it is full it
 * folds new flows into coarse records (enum pcv_flow_coarse), which make
 * queries read more blocks but never miss one.  docs/index-schema.md
 * gives the schema and the rules a query planner may rely on.
 *
 * Threads: a struct pcv_index is one SQLite connection; use it from one
 * thread at a time.  Any number of readers (PCV_INDEX_RDONLY, other
 * threads or processes) run next to the single writer and see each
 * committed flush at once (WAL mode).  A struct pcv_flowtab is not shared.
 *
 * Errors follow pcv/error.h; the detail is in pcv_index_errmsg().
 * PCV_ECORRUPT means the index file is damaged: move it (and its -wal and
 * -shm files) aside and rebuild it from the segments.
 */
#ifndef PCV_INDEX_H
#define PCV_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcv/dissect.h"
#include "pcv/error.h"
#include "pcv/segment.h"

#define PCV_INDEX_FILE "index.sqlite"

/* ===== flow records ===================================================== */

/*
 * How precise a flow record is.  What each allows a query planner to
 * conclude is in docs/index-schema.md, "The coarse-mode rule".
 */
enum pcv_flow_coarse {
	/* One flow: all of key holds for every packet counted. */
	PCV_FLOW_EXACT = 0,
	/*
	 * Any addresses and ports: packets with key.family, key.proto,
	 * key.vlan and ethertype as given.  key.family 0 means no IP layer
	 * the index trusts (ARP, LLDP, an IP header the dissector found
	 * malformed or cut short); key.proto is then meaningless.
	 */
	PCV_FLOW_CLASS = 1,
	/* Any packet at all: no key field means anything. */
	PCV_FLOW_ANY = 2,
	/*
	 * IP the dissector found malformed, by the address fields libpcap
	 * would still read: key.family (4 or 6), key.src/dst (canonical
	 * order), key.vlan and ethertype hold; protocol and ports are
	 * unknown.
	 */
	PCV_FLOW_ADDR = 3,
};

struct pcv_flow_rec {
	struct pcv_flow_key key; /* canonical (pcv_flow_key_canon); for
				  * coarse records only the fields the
				  * coarse level names, the rest zero */
	uint64_t first_ns;       /* earliest packet */
	uint64_t last_ns;        /* latest packet */
	uint64_t pkts;
	uint64_t bytes;          /* sum of wire lengths */
	uint32_t first_block;    /* every packet counted is in a block */
	uint32_t last_block;     /* first_block..last_block of the segment */
	uint16_t ethertype;      /* innermost EtherType (0x0800, 0x86dd,
				  * 0x0806, ...; 0: none) */
	uint8_t tcp_flags;       /* OR of all TCP flags bytes */
	uint8_t coarse;          /* enum pcv_flow_coarse */
};

/* ===== flow table: aggregation between two flushes ====================== */

/*
 * Coarse classes a table holds (PCV_FLOW_CLASS records) before the rest
 * goes into its one PCV_FLOW_ANY record.
 */
#define PCV_FLOWTAB_MAX_CLASSES 1024
#define PCV_FLOWTAB_MAX_FLOWS (1u << 28)

struct pcv_flowtab;

struct pcv_flowtab_stats {
	uint64_t pkts;          /* packets added since the last reset */
	uint64_t pkts_exact;    /* ... counted in exact records */
	uint64_t pkts_coarse;   /* ... in coarse ones (class or any) */
	uint64_t pkts_overflow; /* IP packets of new flows that found the
				 * table full (a subset of pkts_coarse) */
	size_t flows;           /* exact records */
	size_t classes;         /* PCV_FLOW_CLASS records */
	bool any;               /* whether the PCV_FLOW_ANY record exists */
};

/*
 * pcv_flowtab_open() - a table for up to @max_flows exact flows
 * (1..PCV_FLOWTAB_MAX_FLOWS).  All memory is allocated here: about
 * 100 bytes per flow.
 * Return: 0, -EINVAL, -ENOMEM; *tp is NULL on failure.
 */
int pcv_flowtab_open(struct pcv_flowtab **tp, size_t max_flows);

/* pcv_flowtab_close() - free the table.  NULL is fine. */
void pcv_flowtab_close(struct pcv_flowtab *t);

/*
 * pcv_flowtab_add() - count one packet.  O(1), no allocation, no failure.
 * @d:         what pcv_dissect() found in the packet (it may have
 *             returned 1 or PCV_ELINKTYPE: d is filled in whole anyway)
 * @ts_ns:     its timestamp
 * @wire_len:  its length on the wire
 * @block_seq: the block of the segment the packet was written to
 *
 * An IPv4/IPv6 packet the dissector did not flag PCV_DF_MALFORMED goes to
 * its flow's exact record, created if the table holds fewer than
 * max_flows; otherwise, and for every other packet, to the class record
 * of (family, proto, vlan, ethertype), family 0 for packets without a
 * trusted IP layer; when PCV_FLOWTAB_MAX_CLASSES classes exist, to the
 * one PCV_FLOW_ANY record.  Each packet is counted in exactly one record.
 * Return: the enum pcv_flow_coarse of the record that counted it.
 */
int pcv_flowtab_add(struct pcv_flowtab *t, const struct pcv_dissect *d,
		    uint64_t ts_ns, uint32_t wire_len, uint32_t block_seq);

/*
 * pcv_flowtab_records() - the records since the last reset, exact and
 * coarse mixed, in the order they were created: *n of them, valid until
 * the next add, reset or close.  Ready for pcv_index_flows_put().
 */
const struct pcv_flow_rec *pcv_flowtab_records(const struct pcv_flowtab *t,
					       size_t *n);

typedef int (*pcv_flowtab_cb)(const struct pcv_flow_rec *r, void *user);

/*
 * pcv_flowtab_each() - call @cb for each record, in pcv_flowtab_records()
 * order, until it returns non-zero.
 * Return: 0, or what @cb returned to stop.
 */
int pcv_flowtab_each(const struct pcv_flowtab *t, pcv_flowtab_cb cb,
		     void *user);

/* pcv_flowtab_stats() - counters since the last reset. */
void pcv_flowtab_stats(const struct pcv_flowtab *t,
		       struct pcv_flowtab_stats *st);

/* pcv_flowtab_reset() - forget every record: O(table size), no free. */
void pcv_flowtab_reset(struct pcv_flowtab *t);

/* ===== the index ======================================================== */

struct pcv_index;

/* pcv_index_open() flags */
enum pcv_index_flag {
	PCV_INDEX_RDONLY = 1u << 0,    /* a reader: no writes, no migration */
	PCV_INDEX_CREATE = 1u << 1,    /* create DIR/index.sqlite if absent */
	PCV_INDEX_SYNC_FULL = 1u << 2, /* fsync the WAL at every commit */
	PCV_INDEX_CHECK = 1u << 3,     /* PRAGMA quick_check at open: reads
					* the whole file */
};

/*
 * pcv_index_open() - open (or with PCV_INDEX_CREATE create) @dir/index.sqlite.
 * @ixp:    receives the handle; NULL on failure
 * @dir:    the store directory
 * @flags:  enum pcv_index_flag
 * @errbuf: PCV_ERRBUF_SIZE bytes for the reason of a failure, or NULL
 *
 * A writer puts the file in WAL mode with synchronous=NORMAL (FULL with
 * PCV_INDEX_SYNC_FULL; docs/index-schema.md explains why NORMAL keeps the
 * durability order) and applies the migrations this program carries that
 * the file lacks, in order, in one transaction that also sets PRAGMA
 * user_version.  A reader waits up to 5 s for a lock (busy timeout) and
 * needs the file at this program's schema version exactly.  Every
 * statement is prepared here.
 * Return: 0; -ENOENT (no index, and no PCV_INDEX_CREATE); PCV_EFORMAT (a
 * schema newer than ours, or, for a reader, older or not yet created);
 * PCV_ECORRUPT (not a database, a damaged schema, a failed quick_check);
 * -EBUSY (locked beyond the timeout); -errno.
 */
int pcv_index_open(struct pcv_index **ixp, const char *dir, unsigned flags,
		   char *errbuf);

/*
 * pcv_index_close() - roll back an open transaction, finalize, close.
 * NULL is fine.
 */
void pcv_index_close(struct pcv_index *ix);

/* pcv_index_errmsg() - what went wrong last ("" if nothing). */
const char *pcv_index_errmsg(const struct pcv_index *ix);

/* pcv_index_schema_version() - the newest schema this program knows. */
unsigned pcv_index_schema_version(void);

/*
 * pcv_index_begin() / _commit() / _rollback() - one transaction, e.g. per
 * flush.  A writer's begin takes the write lock at once (BEGIN
 * IMMEDIATE); a reader's gives its reads one consistent snapshot.
 * Without begin, every call below is a transaction of its own.  Each
 * call is atomic either way: on failure none of its rows changed.
 * Return: 0; -EINVAL (begin in a transaction, commit outside one);
 * -EBUSY (commit: try again or roll back); a negative code.
 */
int pcv_index_begin(struct pcv_index *ix);
int pcv_index_commit(struct pcv_index *ix);
int pcv_index_rollback(struct pcv_index *ix);

/*
 * pcv_index_segment_add() - add a segment row, open (not sealed), no
 * blocks, end_ns = start_ns.
 * @name: the file name inside the store (pcv_seg_name())
 * Return: 0 with *seg_id set; -EEXIST if the name is indexed already.
 */
int pcv_index_segment_add(struct pcv_index *ix, const char *name,
			  int linktype, uint32_t snaplen, const char *iface,
			  unsigned queue, uint64_t start_ns, int64_t *seg_id);

/* pcv_index_segment_find() - Return: 0 with *seg_id set, or -ENOENT. */
int pcv_index_segment_find(struct pcv_index *ix, const char *name,
			   int64_t *seg_id);

/*
 * pcv_index_block_add() - a durable block of segment @seg_id.  Call it
 * only once the block is fsync'd.  The segment's nblocks becomes at least
 * b->seq + 1, its end_ns at least b->last_ns.  A row with the same seq is
 * replaced.
 * Return: 0; -ENOENT (no such segment); -EINVAL (seq >= 2^32).
 */
int pcv_index_block_add(struct pcv_index *ix, int64_t seg_id,
			const struct pcv_seg_block *b);

/*
 * pcv_index_flows_put() - add @n flow records of segment @seg_id.
 * Exact records are upserts on (segment, key): counts and bytes add up,
 * times and blocks widen, TCP flags OR.  A coarse record widens a coarse
 * row of the same class whose block range overlaps or touches its own,
 * else becomes a new row, so coarse rows never cover blocks in gaps
 * between floods.
 * Return: 0; -ENOENT (no such segment); -EINVAL (a record with an unknown
 * coarse level, an exact record not IPv4/IPv6, first_block > last_block).
 */
int pcv_index_flows_put(struct pcv_index *ix, int64_t seg_id,
			const struct pcv_flow_rec *r, size_t n);

/*
 * pcv_index_segment_seal() - the segment is sealed: @end_ns is its last
 * packet's time, @nblocks its block count.
 * Return: 0, -ENOENT.
 */
int pcv_index_segment_seal(struct pcv_index *ix, int64_t seg_id,
			   uint64_t end_ns, uint64_t nblocks);

/*
 * pcv_index_segment_truncate() - the segment now ends after @nblocks
 * blocks (crash recovery cut its tail).  Block rows seq >= nblocks and
 * flow rows with first_block >= nblocks go; flow rows reaching past are
 * clamped to last_block = nblocks - 1, so their counts, bytes and
 * last_ns may overstate what is left (still safe for pruning).  The
 * recorder re-indexes the segment when exact counts matter.
 * Return: 0, -ENOENT.
 */
int pcv_index_segment_truncate(struct pcv_index *ix, int64_t seg_id,
			       uint64_t nblocks);

/*
 * pcv_index_segment_drop() - forget the segment: its flow, block and
 * segment rows.  Return: 0, -ENOENT.
 */
int pcv_index_segment_drop(struct pcv_index *ix, int64_t seg_id);

/* A segment row; strings valid during the callback only. */
struct pcv_index_seg {
	int64_t id;
	const char *name;
	const char *iface;
	unsigned queue;
	int linktype;
	uint32_t snaplen;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t nblocks;
	bool sealed;
};

typedef int (*pcv_index_seg_cb)(const struct pcv_index_seg *s, void *user);
typedef int (*pcv_index_block_cb)(const struct pcv_seg_block *b, void *user);
typedef int (*pcv_index_flow_cb)(const struct pcv_flow_rec *r, void *user);

/*
 * pcv_index_segments() - call @cb for each segment, by start_ns, until it
 * returns non-zero.
 * Return: 0, what @cb returned to stop, or a negative code.
 */
int pcv_index_segments(struct pcv_index *ix, pcv_index_seg_cb cb,
		       void *user);

/* pcv_index_blocks() - the same for the blocks of @seg_id, by seq. */
int pcv_index_blocks(struct pcv_index *ix, int64_t seg_id,
		     pcv_index_block_cb cb, void *user);

/*
 * pcv_index_flows() - the same for the flow rows of @seg_id, in insertion
 * order, as records (NULL columns read as zero, per coarse level).
 */
int pcv_index_flows(struct pcv_index *ix, int64_t seg_id,
		    pcv_index_flow_cb cb, void *user);

/* One index lookup among a segment's flow rows (docs/index-schema.md). */
enum pcv_index_flow_by {
	PCV_FLOWS_BY_ADDR,  /* either address == lo */
	PCV_FLOWS_BY_RANGE, /* either address in [lo, hi] (a net) */
	PCV_FLOWS_BY_PORT,  /* either port == port */
};

struct pcv_index_flow_sel {
	enum pcv_index_flow_by by;
	const uint8_t *lo, *hi;  /* network order, alen bytes */
	size_t alen;             /* 4 or 16 */
	uint16_t port;
};

/*
 * pcv_index_flows_select() - as pcv_index_flows(), only the exact rows
 * @sel picks, found through the index, and every coarse row (whatever it
 * may stand for is for the caller to judge).  An address blob compares
 * bytewise, so a range can return rows of the other family: extra rows,
 * never missing ones.
 */
int pcv_index_flows_select(struct pcv_index *ix, int64_t seg_id,
			   const struct pcv_index_flow_sel *sel,
			   pcv_index_flow_cb cb, void *user);

/*
 * pcv_index_meta_get() - the value of meta @key as text into @buf (@len
 * bytes, NUL-terminated, cut if longer).
 * Return: the value's full length, -ENOENT.
 */
int pcv_index_meta_get(struct pcv_index *ix, const char *key, char *buf,
		       size_t len);

/* pcv_index_meta_set() - set meta @key to @value.  Return: 0 or < 0. */
int pcv_index_meta_set(struct pcv_index *ix, const char *key,
		       const char *value);

#endif /* PCV_INDEX_H */
