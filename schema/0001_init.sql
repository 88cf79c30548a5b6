-- SPDX-License-Identifier: MIT
--
-- 0001_init.sql - the first flow index schema (docs/index-schema.md).
--
-- The index is a cache of what the segment files hold: every row here can
-- be rebuilt from the segments alone (pcv-fsck --rebuild-index).  A block
-- row is written only after its block is fsync'd, and the flow rows that
-- point at it in the same transaction or a later one.  Times are
-- nanoseconds since the Unix epoch as INTEGER (int64, good until 2262).
--
-- Applied by storage/index-sqlite.c inside one transaction, which then sets
-- PRAGMA user_version = 1.  Migrations never edit an applied file: a change
-- is a new NNNN_what.sql.

-- Key/value facts about the store: 'store_format' is the store layout
-- version the segment files and this index were written for.
CREATE TABLE meta (
	key TEXT PRIMARY KEY NOT NULL,
	value
);
INSERT INTO meta (key, value) VALUES ('store_format', 1);

-- One row per segment file (name is the file name inside the store).
-- end_ns and nblocks follow the blocks indexed so far while the segment is
-- open; sealed = 1 once its seek table is written.
CREATE TABLE segments (
	id INTEGER PRIMARY KEY,
	name TEXT UNIQUE NOT NULL,
	iface TEXT NOT NULL,
	queue INTEGER NOT NULL,
	linktype INTEGER NOT NULL,
	snaplen INTEGER NOT NULL,
	start_ns INTEGER NOT NULL,
	end_ns INTEGER NOT NULL,
	nblocks INTEGER NOT NULL DEFAULT 0,
	sealed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX segments_time ON segments (start_ns, end_ns);

-- One row per durable block: struct pcv_seg_block.
CREATE TABLE blocks (
	segment_id INTEGER NOT NULL,
	seq INTEGER NOT NULL,
	offset INTEGER NOT NULL,
	comp_size INTEGER NOT NULL,
	raw_size INTEGER NOT NULL,
	first_ns INTEGER NOT NULL,
	last_ns INTEGER NOT NULL,
	npkts INTEGER NOT NULL,
	crc32c INTEGER NOT NULL,
	PRIMARY KEY (segment_id, seq)
) WITHOUT ROWID;

-- Flows per segment.  coarse = 0: one flow, key in canonical order
-- (pcv_flow_key_canon: addr_lo/port_lo is the endpoint that sorts lower),
-- so `host X` is addr_lo = X OR addr_hi = X.  coarse = 1: any addresses
-- and ports of (family, proto, vlan, ethertype), addresses and ports NULL;
-- family = 0 rows (no IP layer the index trusts) are all coarse = 1 with
-- proto NULL.  coarse = 2: any packet at all, every key column NULL.
-- NULL always means "unknown: may be anything".  Addresses are 4-byte
-- (IPv4) or 16-byte (IPv6) blobs in network order; ICMP rows keep the
-- type in port_lo and the code in port_hi.  Blocks first_block..last_block
-- hold every packet the row counts.
CREATE TABLE flows (
	id INTEGER PRIMARY KEY,
	segment_id INTEGER NOT NULL,
	coarse INTEGER NOT NULL DEFAULT 0,
	family INTEGER,
	proto INTEGER,
	vlan INTEGER,
	ethertype INTEGER,
	addr_lo BLOB,
	addr_hi BLOB,
	port_lo INTEGER,
	port_hi INTEGER,
	first_ns INTEGER NOT NULL,
	last_ns INTEGER NOT NULL,
	pkts INTEGER NOT NULL,
	bytes INTEGER NOT NULL,
	tcp_flags INTEGER NOT NULL,
	first_block INTEGER NOT NULL,
	last_block INTEGER NOT NULL
);

-- The upsert key of exact rows, also the lookup by addr_lo.  Coarse rows
-- are merged by the code (adjacent block ranges only): their NULL
-- addresses never conflict here (NULLs are distinct in a UNIQUE index).
CREATE UNIQUE INDEX flows_key ON flows (segment_id, addr_lo, addr_hi,
	port_lo, port_hi, proto, vlan, family);

-- What the query planner looks up, always within one segment: every index
-- leads with segment_id, which also keeps the writer's inserts local to
-- the open segment's part of each b-tree.
CREATE INDEX flows_addr_hi ON flows (segment_id, addr_hi);
CREATE INDEX flows_port_lo ON flows (segment_id, port_lo);
CREATE INDEX flows_port_hi ON flows (segment_id, port_hi);
CREATE INDEX flows_time ON flows (segment_id, first_ns);
CREATE INDEX flows_coarse ON flows (segment_id, coarse, family, proto, vlan,
	ethertype, last_block) WHERE coarse > 0;

-- Planner statistics, written by hand (SQLite's "manual control of query
-- plans using the sqlite_stat tables"): without them SQLite guesses that
-- segment_id = ? matches about ten rows and walks a whole segment for a
-- `host X` or `port N` lookup instead of two index searches (MULTI-INDEX
-- OR).  The numbers describe the shape the index has: many flows per
-- segment, few per address or port within one.  A later ANALYZE replaces
-- them with measured ones.
ANALYZE sqlite_master;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
	('flows', 'flows_key', '1000000 50000 20 5 2 1 1 1 1'),
	('flows', 'flows_addr_hi', '1000000 50000 20'),
	('flows', 'flows_port_lo', '1000000 50000 20'),
	('flows', 'flows_port_hi', '1000000 50000 20'),
	('flows', 'flows_time', '1000000 50000 2'),
	('flows', 'flows_coarse', '1000 100 50 10 5 5 5 2');
