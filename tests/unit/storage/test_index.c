// SPDX-License-Identifier: MIT
/*
 * test_index.c - unit tests of the SQLite flow index
 * (storage/index-sqlite.c, pcv/index.h, schema/NNNN_*.sql): migrations and
 * PRAGMA user_version, reopening, refusing a newer schema, damaged files
 * (PCV_ECORRUPT), segments, blocks and flows round trips, the upsert of
 * exact rows and the adjacency merge of coarse rows, truncate, drop,
 * transactions, and readers next to a writer in WAL mode: a reader sees
 * each commit and nothing uncommitted, from another connection, from
 * another process, and while a writer thread commits flush after flush.  The query shapes docs/index-schema.md
 * gives the planner are checked to use an index.
 *
 * Each test gets its own store directory under /tmp (mkdtemp), removed by
 * the suite's fini.  The database is also opened with sqlite3 directly,
 * to look at what the API does not show (user_version, journal mode,
 * query plans) and to damage it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pcv/index.h"
#include "../common/tmpdir.h"

#define NS 1000000000ull

/* ===== fixtures ========================================================== */

static char dir[64];
static char dbpath[128];

static void suite_init(void)
{
	tmpdir_make(dir, sizeof(dir), "index");
	snprintf(dbpath, sizeof(dbpath), "%s/%s", dir, PCV_INDEX_FILE);
}

static void suite_fini(void)
{
	tmpdir_remove(dir);
}

TestSuite(index, .init = suite_init, .fini = suite_fini, .timeout = 60);

static struct pcv_index *open_ok(unsigned flags)
{
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_index *ix;
	int rc = pcv_index_open(&ix, dir, flags, errbuf);

	cr_assert_eq(rc, 0, "pcv_index_open: %s (%s)", pcv_err_name(rc),
		     errbuf);
	cr_assert_not_null(ix);
	return ix;
}

static void ok(struct pcv_index *ix, int rc, const char *what)
{
	cr_assert_eq(rc, 0, "%s: %s: %s", what, pcv_err_name(rc),
		     pcv_index_errmsg(ix));
}

/* A raw sqlite3 connection to the same file. */
static sqlite3 *raw_open(void)
{
	sqlite3 *db;

	cr_assert_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s;
	int64_t v;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(db));
}

static struct pcv_seg_block mkblock(uint64_t seq)
{
	struct pcv_seg_block b = {
		.offset = 100 + seq * 1000,
		.comp_size = 900 + (uint32_t)seq,
		.raw_size = 4000 + (uint32_t)seq,
		.first_ns = 10 * NS + seq * NS,
		.last_ns = 10 * NS + seq * NS + NS / 2,
		.npkts = 10 + (uint32_t)seq,
		.crc32c = 0xdeadbeef ^ (uint32_t)seq,
		.seq = seq,
	};
	return b;
}

static struct pcv_flow_rec mkflow4(uint8_t lo, uint8_t hi, uint16_t plo,
				   uint16_t phi, uint32_t b0, uint32_t b1,
				   uint64_t pkts)
{
	struct pcv_flow_rec r;

	memset(&r, 0, sizeof(r));
	r.key.family = 4;
	r.key.proto = 6;
	r.key.src[0] = 10;
	r.key.src[3] = lo;
	r.key.dst[0] = 10;
	r.key.dst[3] = hi;
	r.key.sport = plo;
	r.key.dport = phi;
	r.ethertype = 0x0800;
	r.first_ns = 10 * NS + b0 * NS;
	r.last_ns = 10 * NS + b1 * NS;
	r.pkts = pkts;
	r.bytes = pkts * 100;
	r.tcp_flags = 0x10;
	r.first_block = b0;
	r.last_block = b1;
	return r;
}

static struct pcv_flow_rec mkclass(uint8_t family, uint8_t proto,
				   uint16_t vlan, uint16_t ethertype,
				   uint32_t b0, uint32_t b1, uint64_t pkts)
{
	struct pcv_flow_rec r;

	memset(&r, 0, sizeof(r));
	r.coarse = PCV_FLOW_CLASS;
	r.key.family = family;
	r.key.proto = proto;
	r.key.vlan = vlan;
	r.ethertype = ethertype;
	r.first_ns = b0;
	r.last_ns = b1;
	r.pkts = pkts;
	r.bytes = pkts * 60;
	r.first_block = b0;
	r.last_block = b1;
	return r;
}

/* Field by field: a struct copy need not keep padding bytes. */
static bool rec_eq(const struct pcv_flow_rec *a, const struct pcv_flow_rec *b)
{
	return !memcmp(&a->key, &b->key, sizeof(a->key)) &&
	       a->first_ns == b->first_ns && a->last_ns == b->last_ns &&
	       a->pkts == b->pkts && a->bytes == b->bytes &&
	       a->first_block == b->first_block &&
	       a->last_block == b->last_block &&
	       a->ethertype == b->ethertype && a->tcp_flags == b->tcp_flags &&
	       a->coarse == b->coarse;
}

/* Collectors for the listing callbacks. */
struct seglist {
	int n;
	struct pcv_index_seg s[8];
	char names[8][96];
};

static int seg_cb(const struct pcv_index_seg *s, void *user)
{
	struct seglist *l = user;

	cr_assert_lt(l->n, 8);
	l->s[l->n] = *s;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", s->name);
	l->s[l->n].name = l->s[l->n].iface = NULL; /* see names[] */
	l->n++;
	return 0;
}

struct blklist {
	int n;
	struct pcv_seg_block b[16];
};

static int blk_cb(const struct pcv_seg_block *b, void *user)
{
	struct blklist *l = user;

	cr_assert_lt(l->n, 16);
	l->b[l->n++] = *b;
	return 0;
}

struct flowlist {
	int n;
	struct pcv_flow_rec r[32];
};

static int flow_cb(const struct pcv_flow_rec *r, void *user)
{
	struct flowlist *l = user;

	cr_assert_lt(l->n, 32);
	l->r[l->n++] = *r;
	return 0;
}

static struct flowlist flows_of(struct pcv_index *ix, int64_t seg)
{
	struct flowlist l = { 0 };

	ok(ix, pcv_index_flows(ix, seg, flow_cb, &l), "flows");
	return l;
}

static struct blklist blocks_of(struct pcv_index *ix, int64_t seg)
{
	struct blklist l = { 0 };

	ok(ix, pcv_index_blocks(ix, seg, blk_cb, &l), "blocks");
	return l;
}

static struct seglist segments_of(struct pcv_index *ix)
{
	struct seglist l = { 0 };

	ok(ix, pcv_index_segments(ix, seg_cb, &l), "segments");
	return l;
}

/* A writer with one segment holding blocks 0..nblk-1. */
static struct pcv_index *writer_with_segment(int64_t *seg, int nblk)
{
	struct pcv_index *ix = open_ok(PCV_INDEX_CREATE);

	ok(ix, pcv_index_segment_add(ix, "20261124T031500.000000000Z-eth0-q0"
				     PCV_SEG_SUFFIX, 1, 262144, "eth0", 0,
				     10 * NS, seg), "segment_add");
	for (int i = 0; i < nblk; i++) {
		struct pcv_seg_block b = mkblock((uint64_t)i);

		ok(ix, pcv_index_block_add(ix, *seg, &b), "block_add");
	}
	return ix;
}

/* ===== open, migrations, damage ========================================== */

Test(index, create_applies_migrations_and_sets_user_version)
{
	struct pcv_index *ix = open_ok(PCV_INDEX_CREATE);
	char buf[16];
	sqlite3 *db;

	cr_assert_geq(pcv_index_schema_version(), 1);
	cr_assert_eq(pcv_index_meta_get(ix, "store_format", buf, sizeof(buf)),
		     1);
	cr_assert_str_eq(buf, "1");
	cr_assert_str_eq(pcv_index_errmsg(ix), "");

	db = raw_open();
	cr_assert_eq(raw_int(db, "PRAGMA user_version"),
		     (int64_t)pcv_index_schema_version());
	cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
			     "type = 'table' AND name IN ('segments', "
			     "'blocks', 'flows', 'meta')"), 4);
	cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
			     "type = 'index' AND name LIKE 'flows_%'"), 5);
	cr_assert_eq(raw_int(db, "SELECT journal_mode = 'wal' FROM "
			     "pragma_journal_mode"), 1);
	sqlite3_close(db);
	pcv_index_close(ix);
	pcv_index_close(NULL);
}

Test(index, missing_index_without_create_is_enoent)
{
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_index *ix = (void *)1;

	cr_assert_eq(pcv_index_open(&ix, dir, 0, errbuf), -ENOENT);
	cr_assert_null(ix);
	cr_assert(strstr(errbuf, PCV_INDEX_FILE), "%s", errbuf);
	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_RDONLY, NULL),
		     -ENOENT);
	cr_assert_eq(pcv_index_open(&ix, "/nonexistent/dir", PCV_INDEX_CREATE,
				    errbuf), -ENOENT, "%s", errbuf);
}

Test(index, reopening_is_idempotent)
{
	struct pcv_index *ix;
	struct seglist l;
	int64_t seg, seg2;
	sqlite3 *db;

	ix = writer_with_segment(&seg, 2);
	pcv_index_close(ix);
	for (int i = 0; i < 3; i++) {
		ix = open_ok(i == 2 ? 0 : PCV_INDEX_CREATE | PCV_INDEX_CHECK);
		l = segments_of(ix);
		cr_assert_eq(l.n, 1);
		cr_assert_eq(l.s[0].nblocks, 2);
		ok(ix, pcv_index_segment_find(ix, l.names[0], &seg2), "find");
		cr_assert_eq(seg2, seg);
		pcv_index_close(ix);
	}
	db = raw_open();
	cr_assert_eq(raw_int(db, "PRAGMA user_version"),
		     (int64_t)pcv_index_schema_version());
	cr_assert_eq(raw_int(db, "SELECT count(*) FROM meta"), 1);
	sqlite3_close(db);
}

/* A version 1 file is version 2 plus flows_time: make one, open it. */
Test(index, a_version_1_index_is_migrated)
{
	struct pcv_index *ix = open_ok(PCV_INDEX_CREATE);
	int64_t seg;
	sqlite3 *db;

	ok(ix, pcv_index_segment_add(ix, "a.pcap.zst", 1, 65535, "eth0", 0,
				     1000, &seg), "segment");
	pcv_index_close(ix);
	db = raw_open();
	raw_exec(db, "CREATE INDEX flows_time ON flows (segment_id, first_ns);"
		     "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES "
		     "('flows', 'flows_time', '1000000 50000 2');"
		     "PRAGMA user_version = 1");
	sqlite3_close(db);

	ix = open_ok(PCV_INDEX_CREATE);
	pcv_index_close(ix);
	db = raw_open();
	cr_assert_eq(raw_int(db, "PRAGMA user_version"),
		     (int64_t)pcv_index_schema_version());
	cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_master WHERE "
			     "name = 'flows_time'"), 0);
	cr_assert_eq(raw_int(db, "SELECT count(*) FROM sqlite_stat1 WHERE "
			     "idx = 'flows_time'"), 0);
	cr_assert_eq(raw_int(db, "SELECT count(*) FROM segments"), 1);
	sqlite3_close(db);
}

Test(index, a_newer_schema_is_refused)
{
	char errbuf[PCV_ERRBUF_SIZE], sql[64];
	struct pcv_index *ix = open_ok(PCV_INDEX_CREATE);
	sqlite3 *db;

	pcv_index_close(ix);
	db = raw_open();
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %u",
		 pcv_index_schema_version() + 1);
	raw_exec(db, sql);
	sqlite3_close(db);

	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_CREATE, errbuf),
		     PCV_EFORMAT);
	cr_assert_null(ix);
	cr_assert(strstr(errbuf, "newer"), "%s", errbuf);
	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_RDONLY, errbuf),
		     PCV_EFORMAT);
	cr_assert(strstr(errbuf, "newer"), "%s", errbuf);

	/* and it was left alone */
	db = raw_open();
	cr_assert_eq(raw_int(db, "PRAGMA user_version"),
		     (int64_t)pcv_index_schema_version() + 1);
	sqlite3_close(db);
}

Test(index, a_reader_needs_a_schema)
{
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_index *ix;
	sqlite3 *db = raw_open(); /* an empty database, user_version 0 */

	raw_exec(db, "CREATE TABLE x (y)");
	sqlite3_close(db);
	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_RDONLY, errbuf),
		     PCV_EFORMAT);
	cr_assert(strstr(errbuf, "no schema"), "%s", errbuf);
}

static void write_file(const char *path, const void *buf, size_t len,
		       off_t at)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0644);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, buf, len, at), (ssize_t)len);
	close(fd);
}

Test(index, garbage_is_ecorrupt)
{
	char errbuf[PCV_ERRBUF_SIZE], junk[8192];
	struct pcv_index *ix = (void *)1;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	write_file(dbpath, junk, sizeof(junk), 0);
	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_CREATE, errbuf),
		     PCV_ECORRUPT);
	cr_assert_null(ix);
	cr_assert(strstr(errbuf, "rebuild"), "%s", errbuf);
	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_RDONLY, errbuf),
		     PCV_ECORRUPT, "%s", errbuf);
}

Test(index, a_damaged_schema_page_is_ecorrupt)
{
	char errbuf[PCV_ERRBUF_SIZE], junk[4096 - 100];
	struct pcv_index *ix;
	int64_t seg;
	int rc;

	ix = writer_with_segment(&seg, 1);
	pcv_index_close(ix); /* the last connection: checkpointed, no WAL */
	memset(junk, 0x5a, sizeof(junk));
	write_file(dbpath, junk, sizeof(junk), 100); /* page 1 after header */
	rc = pcv_index_open(&ix, dir, PCV_INDEX_CREATE, errbuf);
	cr_assert_eq(rc, PCV_ECORRUPT, "%s: %s", pcv_err_name(rc), errbuf);
}

Test(index, quick_check_finds_a_damaged_table)
{
	char errbuf[PCV_ERRBUF_SIZE], junk[4096];
	struct pcv_flow_rec r[400];
	struct pcv_index *ix;
	struct stat sb;
	int64_t seg;
	int rc;

	ix = writer_with_segment(&seg, 4);
	for (int i = 0; i < 400; i++)
		r[i] = mkflow4((uint8_t)i, 200, (uint16_t)(1000 + i), 80, 0,
			       3, 1);
	ok(ix, pcv_index_flows_put(ix, seg, r, 400), "put");
	pcv_index_close(ix);
	cr_assert_eq(stat(dbpath, &sb), 0);
	cr_assert_gt(sb.st_size, 8 * 4096);

	/* the last page: some index's or table's b-tree, not the schema */
	memset(junk, 0xa5, sizeof(junk));
	write_file(dbpath, junk, sizeof(junk), sb.st_size - 4096);
	rc = pcv_index_open(&ix, dir, PCV_INDEX_CREATE | PCV_INDEX_CHECK,
			    errbuf);
	cr_assert_eq(rc, PCV_ECORRUPT, "%s: %s", pcv_err_name(rc), errbuf);
	cr_assert(strstr(errbuf, "quick_check"), "%s", errbuf);
}

/* ===== rows ============================================================== */

Test(index, segments_blocks_and_flows_round_trip)
{
	struct pcv_flow_rec in[4];
	struct pcv_index *ix;
	struct flowlist fl;
	struct blklist bl;
	struct seglist sl;
	int64_t seg, seg2, id;

	ix = writer_with_segment(&seg, 3);
	cr_assert_eq(pcv_index_segment_add(ix, "20261124T031500.000000000Z-"
					   "eth0-q0" PCV_SEG_SUFFIX, 1, 96,
					   "eth0", 0, 0, &seg2), -EEXIST);
	cr_assert(strstr(pcv_index_errmsg(ix), "already"));
	ok(ix, pcv_index_segment_add(ix, "b" PCV_SEG_SUFFIX, 113, 96, "any",
				     3, 5 * NS, &seg2), "add 2");
	cr_assert_neq(seg, seg2);
	cr_assert_eq(pcv_index_segment_find(ix, "nope", &id), -ENOENT);
	ok(ix, pcv_index_segment_find(ix, "b" PCV_SEG_SUFFIX, &id), "find");
	cr_assert_eq(id, seg2);

	sl = segments_of(ix);
	cr_assert_eq(sl.n, 2);
	/* by start time: "b" first */
	cr_assert_str_eq(sl.names[0], "b" PCV_SEG_SUFFIX);
	cr_assert_eq(sl.s[0].linktype, 113);
	cr_assert_eq(sl.s[0].snaplen, 96);
	cr_assert_eq(sl.s[0].queue, 3);
	cr_assert_eq(sl.s[0].start_ns, 5 * NS);
	cr_assert_eq(sl.s[0].end_ns, 5 * NS);
	cr_assert_eq(sl.s[0].nblocks, 0);
	cr_assert_not(sl.s[0].sealed);
	cr_assert_eq(sl.s[1].id, seg);
	cr_assert_eq(sl.s[1].nblocks, 3);
	cr_assert_eq(sl.s[1].end_ns, mkblock(2).last_ns);

	bl = blocks_of(ix, seg);
	cr_assert_eq(bl.n, 3);
	for (int i = 0; i < 3; i++) {
		struct pcv_seg_block want = mkblock((uint64_t)i);

		cr_assert_eq(memcmp(&bl.b[i], &want, sizeof(want)), 0,
			     "block %d", i);
	}

	in[0] = mkflow4(1, 2, 443, 50000, 0, 2, 7);
	in[1] = mkflow4(1, 2, 443, 50000, 0, 2, 7);
	in[1].key.family = 6; /* same bytes, other family: another flow */
	in[1].key.src[15] = 9;
	in[1].ethertype = 0x86dd;
	in[2] = mkclass(0, 0, 12, 0x0806, 1, 1, 4);
	memset(&in[3], 0, sizeof(in[3]));
	in[3].coarse = PCV_FLOW_ANY;
	in[3].pkts = 9;
	in[3].first_block = 0;
	in[3].last_block = 2;
	ok(ix, pcv_index_flows_put(ix, seg, in, 4), "put");

	fl = flows_of(ix, seg);
	cr_assert_eq(fl.n, 4);
	for (int i = 0; i < 4; i++)
		cr_assert(rec_eq(&fl.r[i], &in[i]), "flow %d differs", i);
	cr_assert_eq(flows_of(ix, seg2).n, 0);

	/* what the schema holds for them: NULL where "any" */
	{
		sqlite3 *db = raw_open();

		cr_assert_eq(raw_int(db, "SELECT count(*) FROM flows WHERE "
				     "coarse = 0 AND length(addr_lo) = 4"), 1);
		cr_assert_eq(raw_int(db, "SELECT count(*) FROM flows WHERE "
				     "coarse = 0 AND length(addr_hi) = 16"), 1);
		cr_assert_eq(raw_int(db, "SELECT count(*) FROM flows WHERE "
				     "coarse = 1 AND family = 0 AND proto IS "
				     "NULL AND addr_lo IS NULL AND port_lo IS "
				     "NULL AND ethertype = 2054"), 1);
		cr_assert_eq(raw_int(db, "SELECT count(*) FROM flows WHERE "
				     "coarse = 2 AND family IS NULL AND vlan "
				     "IS NULL"), 1);
		sqlite3_close(db);
	}
	pcv_index_close(ix);
}

Test(index, bad_arguments_change_nothing)
{
	struct pcv_flow_rec r[3];
	struct pcv_seg_block b = mkblock(0);
	struct pcv_index *ix;
	int64_t seg;

	ix = writer_with_segment(&seg, 1);
	cr_assert_eq(pcv_index_block_add(ix, seg + 100, &b), -ENOENT);
	b.seq = 1ull << 32;
	cr_assert_eq(pcv_index_block_add(ix, seg, &b), -EINVAL);

	r[0] = mkflow4(1, 2, 3, 4, 0, 0, 1);
	cr_assert_eq(pcv_index_flows_put(ix, seg + 100, r, 1), -ENOENT);
	r[1] = mkflow4(1, 3, 3, 4, 0, 0, 1);
	r[2] = mkflow4(1, 4, 3, 4, 0, 0, 1);
	r[2].key.family = 0; /* exact without IP */
	cr_assert_eq(pcv_index_flows_put(ix, seg, r, 3), -EINVAL);
	r[2] = mkflow4(1, 4, 3, 4, 2, 1, 1); /* blocks backwards */
	cr_assert_eq(pcv_index_flows_put(ix, seg, r, 3), -EINVAL);
	r[2] = mkflow4(1, 4, 3, 4, 0, 0, 1);
	r[2].coarse = 4;
	cr_assert_eq(pcv_index_flows_put(ix, seg, r, 3), -EINVAL);
	cr_assert_eq(flows_of(ix, seg).n, 0, "a failed put is undone whole");

	cr_assert_eq(pcv_index_segment_seal(ix, seg + 100, 1, 1), -ENOENT);
	cr_assert_eq(pcv_index_segment_truncate(ix, seg + 100, 0), -ENOENT);
	cr_assert_eq(pcv_index_segment_drop(ix, seg + 100), -ENOENT);
	pcv_index_close(ix);
}

Test(index, exact_flows_upsert_merges)
{
	struct pcv_flow_rec a, b, c;
	struct pcv_index *ix;
	struct flowlist fl;
	int64_t seg;

	ix = writer_with_segment(&seg, 6);
	a = mkflow4(1, 2, 443, 50000, 1, 2, 3);
	a.tcp_flags = 0x02;
	ok(ix, pcv_index_flows_put(ix, seg, &a, 1), "put a");
	b = a; /* the same flow at a later flush */
	b.first_ns = a.first_ns - 5;
	b.last_ns = a.last_ns + 1000;
	b.pkts = 2;
	b.bytes = 77;
	b.tcp_flags = 0x11;
	b.first_block = 3;
	b.last_block = 5;
	c = mkflow4(1, 2, 443, 50001, 0, 0, 1); /* another port: a new row */
	ok(ix, pcv_index_begin(ix), "begin");
	ok(ix, pcv_index_flows_put(ix, seg, &b, 1), "put b");
	ok(ix, pcv_index_flows_put(ix, seg, &c, 1), "put c");
	ok(ix, pcv_index_commit(ix), "commit");

	fl = flows_of(ix, seg);
	cr_assert_eq(fl.n, 2);
	cr_assert_eq(fl.r[0].pkts, 5);
	cr_assert_eq(fl.r[0].bytes, a.bytes + 77);
	cr_assert_eq(fl.r[0].first_ns, a.first_ns - 5);
	cr_assert_eq(fl.r[0].last_ns, a.last_ns + 1000);
	cr_assert_eq(fl.r[0].tcp_flags, 0x13);
	cr_assert_eq(fl.r[0].first_block, 1);
	cr_assert_eq(fl.r[0].last_block, 5);
	cr_assert_eq(fl.r[1].key.dport, 50001);

	/* the same flow in another segment is another row */
	{
		int64_t seg2;

		ok(ix, pcv_index_segment_add(ix, "s2", 1, 100, "eth0", 0, 0,
					     &seg2), "add");
		ok(ix, pcv_index_flows_put(ix, seg2, &a, 1), "put");
		cr_assert_eq(flows_of(ix, seg2).n, 1);
		cr_assert_eq(flows_of(ix, seg).r[0].pkts, 5);
	}
	pcv_index_close(ix);
}

/* The planner's lookups: the exact rows they pick, and every coarse row. */
Test(index, flows_select_by_addr_net_and_port)
{
	struct pcv_flow_rec r[5];
	struct pcv_index *ix;
	int64_t seg, other;
	uint8_t a1[4] = { 10, 0, 0, 1 }, a9[4] = { 10, 0, 0, 9 };
	uint8_t n_lo[4] = { 10, 0, 0, 0 }, n_hi[4] = { 10, 0, 0, 3 };
	struct pcv_index_flow_sel sel = { .alen = 4 };
	struct flowlist l;

	ix = writer_with_segment(&seg, 4);
	ok(ix, pcv_index_segment_add(ix, "b" PCV_SEG_SUFFIX, 1, 262144, "eth0",
				     0, 20 * NS, &other), "segment_add");
	r[0] = mkflow4(1, 2, 443, 50000, 0, 0, 3);  /* 10.0.0.1 - .2 */
	r[1] = mkflow4(3, 9, 53, 40000, 1, 1, 1);   /* .3 - .9 */
	r[2] = mkflow4(5, 6, 22, 443, 2, 2, 1);     /* .5 - .6 */
	r[3] = mkclass(0, 0, 0, 0x0806, 0, 3, 4);   /* ARP: coarse */
	ok(ix, pcv_index_flows_put(ix, seg, r, 4), "put");
	r[4] = mkflow4(1, 9, 443, 1, 0, 0, 1);      /* another segment */
	ok(ix, pcv_index_flows_put(ix, other, &r[4], 1), "put other");

	sel.by = PCV_FLOWS_BY_ADDR;
	sel.lo = a1;
	l = (struct flowlist){ 0 };
	ok(ix, pcv_index_flows_select(ix, seg, &sel, flow_cb, &l), "addr");
	cr_assert_eq(l.n, 2);
	cr_assert(rec_eq(&l.r[0], &r[0]) || rec_eq(&l.r[1], &r[0]));
	cr_assert(l.r[0].coarse || l.r[1].coarse, "the coarse row");

	sel.lo = a9; /* as addr_hi */
	l = (struct flowlist){ 0 };
	ok(ix, pcv_index_flows_select(ix, seg, &sel, flow_cb, &l), "addr hi");
	cr_assert_eq(l.n, 2);

	sel.by = PCV_FLOWS_BY_RANGE;
	sel.lo = n_lo;
	sel.hi = n_hi;
	l = (struct flowlist){ 0 };
	ok(ix, pcv_index_flows_select(ix, seg, &sel, flow_cb, &l), "range");
	cr_assert_eq(l.n, 3, "rows 0, 1 and the coarse one: %d", l.n);

	sel.by = PCV_FLOWS_BY_PORT;
	sel.port = 443;
	l = (struct flowlist){ 0 };
	ok(ix, pcv_index_flows_select(ix, seg, &sel, flow_cb, &l), "port");
	cr_assert_eq(l.n, 3, "rows 0, 2 (port_lo and port_hi), coarse: %d",
		     l.n);
	sel.port = 8080;
	l = (struct flowlist){ 0 };
	ok(ix, pcv_index_flows_select(ix, seg, &sel, flow_cb, &l), "none");
	cr_assert_eq(l.n, 1);
	cr_assert(l.r[0].coarse);

	sel.by = PCV_FLOWS_BY_ADDR;
	sel.alen = 5;
	cr_assert_eq(pcv_index_flows_select(ix, seg, &sel, flow_cb, &l),
		     -EINVAL);
	pcv_index_close(ix);
}

/* Malformed-IP rows keep their addresses through the index, and widen
 * only the row of the same addresses. */
Test(index, address_rows_round_trip_and_merge_by_address)
{
	struct pcv_flow_rec r[3];
	struct pcv_index *ix;
	struct flowlist l;
	int64_t seg;

	ix = writer_with_segment(&seg, 4);
	r[0] = mkflow4(1, 2, 0, 0, 0, 0, 1);
	r[0].coarse = PCV_FLOW_ADDR;
	r[0].key.proto = 0;
	r[1] = r[0];
	r[1].first_block = r[1].last_block = 1;
	r[2] = mkflow4(1, 3, 0, 0, 1, 1, 1);
	r[2].coarse = PCV_FLOW_ADDR;
	r[2].key.proto = 0;
	ok(ix, pcv_index_flows_put(ix, seg, r, 3), "put");
	l = flows_of(ix, seg);
	cr_assert_eq(l.n, 2, "the same addresses widen, others not: %d", l.n);
	cr_assert_eq(l.r[0].coarse, PCV_FLOW_ADDR);
	cr_assert_eq(l.r[0].key.family, 4);
	cr_assert_eq(l.r[0].key.dst[3], 2);
	cr_assert_eq(l.r[0].pkts, 2);
	cr_assert_eq(l.r[0].last_block, 1);
	cr_assert_eq(l.r[1].key.dst[3], 3);
	r[0].coarse = 4;
	cr_assert_eq(pcv_index_flows_put(ix, seg, r, 1), -EINVAL);
	pcv_index_close(ix);
}

Test(index, coarse_rows_merge_only_when_blocks_touch)
{
	struct pcv_flow_rec r;
	struct pcv_index *ix;
	struct flowlist fl;
	uint64_t total = 0;
	int64_t seg;

	ix = writer_with_segment(&seg, 12);
	/* one class over flushes: blocks 0-1, 2-3 (touching), 7-8 (after a
	 * gap), 8-9 (overlapping the last); another class alongside */
	static const uint32_t ranges[][2] = { { 0, 1 }, { 2, 3 }, { 7, 8 },
					      { 8, 9 } };
	for (int i = 0; i < 4; i++) {
		r = mkclass(4, 17, 0, 0x0800, ranges[i][0], ranges[i][1],
			    10 + (uint64_t)i);
		ok(ix, pcv_index_flows_put(ix, seg, &r, 1), "put");
		total += r.pkts;
	}
	r = mkclass(4, 6, 0, 0x0800, 4, 5, 1); /* tcp: touches, other class */
	ok(ix, pcv_index_flows_put(ix, seg, &r, 1), "put tcp");
	r = mkclass(4, 17, 7, 0x0800, 4, 4, 1); /* vlan 7: other class */
	ok(ix, pcv_index_flows_put(ix, seg, &r, 1), "put vlan");

	fl = flows_of(ix, seg);
	cr_assert_eq(fl.n, 4);
	cr_assert_eq(fl.r[0].first_block, 0);
	cr_assert_eq(fl.r[0].last_block, 3);
	cr_assert_eq(fl.r[0].pkts, 21);
	cr_assert_eq(fl.r[1].first_block, 7);
	cr_assert_eq(fl.r[1].last_block, 9);
	cr_assert_eq(fl.r[1].pkts, 25);
	cr_assert_eq(fl.r[0].pkts + fl.r[1].pkts, total);
	cr_assert_eq(fl.r[2].key.proto, 6);
	cr_assert_eq(fl.r[3].key.vlan, 7);

	/* the "any" level merges the same way */
	memset(&r, 0, sizeof(r));
	r.coarse = PCV_FLOW_ANY;
	r.pkts = 1;
	r.first_block = r.last_block = 10;
	ok(ix, pcv_index_flows_put(ix, seg, &r, 1), "any");
	r.first_block = r.last_block = 11;
	ok(ix, pcv_index_flows_put(ix, seg, &r, 1), "any");
	fl = flows_of(ix, seg);
	cr_assert_eq(fl.n, 5);
	cr_assert_eq(fl.r[4].coarse, PCV_FLOW_ANY);
	cr_assert_eq(fl.r[4].pkts, 2);
	cr_assert_eq(fl.r[4].last_block, 11);
	pcv_index_close(ix);
}

Test(index, seal_truncate_and_drop)
{
	struct pcv_flow_rec r[4];
	struct pcv_index *ix;
	struct flowlist fl;
	struct blklist bl;
	struct seglist sl;
	int64_t seg;

	ix = writer_with_segment(&seg, 5);
	r[0] = mkflow4(1, 2, 1, 1, 0, 1, 2);
	r[1] = mkflow4(1, 3, 1, 1, 2, 4, 3);
	r[2] = mkflow4(1, 4, 1, 1, 4, 4, 1);
	r[3] = mkclass(0, 0, 0, 0x0806, 3, 4, 2);
	ok(ix, pcv_index_flows_put(ix, seg, r, 4), "put");
	ok(ix, pcv_index_segment_seal(ix, seg, 99 * NS, 5), "seal");
	sl = segments_of(ix);
	cr_assert(sl.s[0].sealed);
	cr_assert_eq(sl.s[0].end_ns, 99 * NS);
	cr_assert_eq(sl.s[0].nblocks, 5);

	ok(ix, pcv_index_segment_truncate(ix, seg, 3), "truncate");
	bl = blocks_of(ix, seg);
	cr_assert_eq(bl.n, 3);
	cr_assert_eq(bl.b[2].seq, 2);
	fl = flows_of(ix, seg);
	cr_assert_eq(fl.n, 2, "rows starting at or past block 3 go");
	cr_assert_eq(fl.r[0].last_block, 1, "untouched");
	cr_assert_eq(fl.r[0].pkts, 2);
	cr_assert_eq(fl.r[1].first_block, 2);
	cr_assert_eq(fl.r[1].last_block, 2, "clamped");
	cr_assert_eq(fl.r[1].pkts, 3, "counts may overstate");
	sl = segments_of(ix);
	cr_assert_eq(sl.s[0].nblocks, 3);
	cr_assert_eq(sl.s[0].end_ns, mkblock(2).last_ns);

	ok(ix, pcv_index_segment_truncate(ix, seg, 0), "truncate to 0");
	cr_assert_eq(blocks_of(ix, seg).n, 0);
	cr_assert_eq(flows_of(ix, seg).n, 0);
	sl = segments_of(ix);
	cr_assert_eq(sl.s[0].nblocks, 0);
	cr_assert_eq(sl.s[0].end_ns, sl.s[0].start_ns);

	{
		struct pcv_seg_block b = mkblock(0);

		ok(ix, pcv_index_block_add(ix, seg, &b), "block again");
		ok(ix, pcv_index_flows_put(ix, seg, r, 1), "flow again");
	}
	ok(ix, pcv_index_segment_drop(ix, seg), "drop");
	cr_assert_eq(segments_of(ix).n, 0);
	cr_assert_eq(blocks_of(ix, seg).n, 0);
	cr_assert_eq(flows_of(ix, seg).n, 0);
	cr_assert_eq(pcv_index_segment_drop(ix, seg), -ENOENT);
	pcv_index_close(ix);
}

Test(index, transactions)
{
	struct pcv_index *ix = open_ok(PCV_INDEX_CREATE);
	int64_t seg;

	cr_assert_eq(pcv_index_commit(ix), -EINVAL);
	ok(ix, pcv_index_rollback(ix), "rollback outside is a no-op");
	ok(ix, pcv_index_begin(ix), "begin");
	cr_assert_eq(pcv_index_begin(ix), -EINVAL);
	ok(ix, pcv_index_segment_add(ix, "x", 1, 1, "eth0", 0, 1, &seg),
	   "add");
	cr_assert_eq(segments_of(ix).n, 1, "visible inside");
	ok(ix, pcv_index_rollback(ix), "rollback");
	cr_assert_eq(segments_of(ix).n, 0, "gone after rollback");
	cr_assert_eq(pcv_index_segment_find(ix, "x", &seg), -ENOENT);

	ok(ix, pcv_index_begin(ix), "begin");
	ok(ix, pcv_index_segment_add(ix, "x", 1, 1, "eth0", 0, 1, &seg),
	   "add");
	/* a failed call inside a transaction undoes itself only */
	cr_assert_eq(pcv_index_segment_add(ix, "x", 1, 1, "eth0", 0, 1,
					   &seg), -EEXIST);
	ok(ix, pcv_index_commit(ix), "commit");
	cr_assert_eq(segments_of(ix).n, 1);
	pcv_index_close(ix);

	ix = open_ok(0);
	cr_assert_eq(segments_of(ix).n, 1, "durable");
	ok(ix, pcv_index_begin(ix), "begin");
	pcv_index_close(ix); /* with a transaction open: rolled back */
}

Test(index, meta)
{
	struct pcv_index *ix = open_ok(PCV_INDEX_CREATE);
	char buf[4];

	cr_assert_eq(pcv_index_meta_get(ix, "nope", buf, sizeof(buf)),
		     -ENOENT);
	ok(ix, pcv_index_meta_set(ix, "k", "hello"), "set");
	cr_assert_eq(pcv_index_meta_get(ix, "k", buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "hel");
	pcv_index_close(ix);
}

/* ===== readers next to a writer ========================================== */

Test(index, a_reader_sees_commits_and_nothing_uncommitted)
{
	struct pcv_index *w, *r;
	struct pcv_flow_rec f = mkflow4(1, 2, 3, 4, 0, 0, 1);
	struct pcv_seg_block b = mkblock(0);
	struct seglist sl;
	int64_t seg;

	w = open_ok(PCV_INDEX_CREATE);
	r = open_ok(PCV_INDEX_RDONLY);
	cr_assert_eq(segments_of(r).n, 0);

	ok(w, pcv_index_begin(w), "begin");
	ok(w, pcv_index_segment_add(w, "s", 1, 1, "eth0", 0, 1, &seg), "add");
	ok(w, pcv_index_block_add(w, seg, &b), "block");
	ok(w, pcv_index_flows_put(w, seg, &f, 1), "flows");
	/* the writer holds the WAL write lock; the reader is not blocked
	 * and sees the last commit */
	cr_assert_eq(segments_of(r).n, 0, "uncommitted rows are invisible");
	cr_assert_eq(flows_of(r, seg).n, 0);
	ok(w, pcv_index_commit(w), "commit");
	sl = segments_of(r);
	cr_assert_eq(sl.n, 1, "a commit is visible at once");
	cr_assert_eq(sl.s[0].nblocks, 1);
	cr_assert_eq(blocks_of(r, seg).n, 1);
	cr_assert_eq(flows_of(r, seg).n, 1);

	/* a reader's transaction is a snapshot */
	ok(r, pcv_index_begin(r), "reader begin");
	cr_assert_eq(segments_of(r).n, 1);
	ok(w, pcv_index_segment_add(w, "t", 1, 1, "eth0", 0, 2, &seg), "add");
	cr_assert_eq(segments_of(r).n, 1, "snapshot");
	ok(r, pcv_index_commit(r), "reader end");
	cr_assert_eq(segments_of(r).n, 2);

	/* readers do not write */
	cr_assert_eq(pcv_index_segment_add(r, "u", 1, 1, "eth0", 0, 3, &seg),
		     -EROFS);
	cr_assert_eq(pcv_index_flows_put(r, seg, &f, 1), -EROFS);

	pcv_index_close(w);
	cr_assert_eq(segments_of(r).n, 2, "still readable");
	pcv_index_close(r);
}

/*
 * The writer in another process, as the recorder is to pcv-query: it
 * commits one segment, then holds a write transaction with a second one
 * until told to commit.
 */
static int child_writer(int tell, int wait)
{
	struct pcv_index *w;
	int64_t seg;
	char c = 0;

	if (pcv_index_open(&w, dir, PCV_INDEX_CREATE, NULL) < 0 ||
	    pcv_index_segment_add(w, "one", 1, 1, "eth0", 0, 1, &seg) < 0 ||
	    pcv_index_begin(w) < 0 ||
	    pcv_index_segment_add(w, "two", 1, 1, "eth0", 0, 2, &seg) < 0)
		return 1;
	if (write(tell, "a", 1) != 1 || read(wait, &c, 1) != 1)
		return 2;
	if (pcv_index_commit(w) < 0)
		return 3;
	if (write(tell, "b", 1) != 1 || read(wait, &c, 1) != 1)
		return 4;
	pcv_index_close(w);
	return 0;
}

Test(index, a_reader_process_and_a_writer_process)
{
	int up[2], down[2], status;
	struct pcv_index *r;
	char c;
	pid_t pid;

	/* the store exists before the reader opens it */
	r = open_ok(PCV_INDEX_CREATE);
	pcv_index_close(r);
	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(child_writer(up[1], down[0]));

	r = open_ok(PCV_INDEX_RDONLY);
	cr_assert_eq(read(up[0], &c, 1), 1);
	cr_assert_eq(c, 'a');
	cr_assert_eq(segments_of(r).n, 1, "committed: seen; open: not");
	cr_assert_eq(write(down[1], "x", 1), 1);
	cr_assert_eq(read(up[0], &c, 1), 1);
	cr_assert_eq(c, 'b');
	cr_assert_eq(segments_of(r).n, 2, "seen once committed");
	cr_assert_eq(write(down[1], "x", 1), 1);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "writer process failed: %d", status);
	cr_assert_eq(segments_of(r).n, 2);
	pcv_index_close(r);
}

struct flusher {
	int nflush;
	int64_t seg;
	int err;
	atomic_bool done;
};

/* A writer thread: one block and one flow row per flush. */
static void *flusher_run(void *arg)
{
	struct flusher *fl = arg;
	struct pcv_index *w = NULL;
	int err;

	err = pcv_index_open(&w, dir, PCV_INDEX_CREATE, NULL);
	for (int i = 0; !err && i < fl->nflush; i++) {
		struct pcv_seg_block b = mkblock((uint64_t)i);
		struct pcv_flow_rec f = mkflow4(1, (uint8_t)(i % 7), 80, 80,
						(uint32_t)i, (uint32_t)i, 1);

		err = pcv_index_begin(w);
		if (!err)
			err = pcv_index_block_add(w, fl->seg, &b);
		if (!err)
			err = pcv_index_flows_put(w, fl->seg, &f, 1);
		if (!err)
			err = pcv_index_commit(w);
		else
			pcv_index_rollback(w);
	}
	fl->err = err;
	pcv_index_close(w);
	atomic_store(&fl->done, true);
	return NULL;
}

static int sum_cb(const struct pcv_flow_rec *r, void *user)
{
	*(uint64_t *)user += r->pkts;
	return 0;
}

Test(index, readers_follow_a_writer_thread)
{
	struct flusher fl = { .nflush = 300 };
	struct pcv_index *w, *r;
	struct seglist sl;
	uint64_t last = 0;
	pthread_t th;

	w = open_ok(PCV_INDEX_CREATE);
	ok(w, pcv_index_segment_add(w, "s", 1, 1, "eth0", 0, 1, &fl.seg),
	   "add");
	pcv_index_close(w);

	r = open_ok(PCV_INDEX_RDONLY);
	cr_assert_eq(pthread_create(&th, NULL, flusher_run, &fl), 0);
	for (;;) {
		uint64_t pkts = 0;
		int rc;

		ok(r, pcv_index_begin(r), "snapshot");
		sl = segments_of(r);
		rc = pcv_index_flows(r, fl.seg, sum_cb, &pkts);
		ok(r, rc, "flows");
		ok(r, pcv_index_commit(r), "end");
		cr_assert_eq(sl.n, 1);
		/* one commit: a block row and its flow together */
		cr_assert_eq(sl.s[0].nblocks, pkts, "torn flush seen");
		cr_assert_geq(pkts, last, "went backwards");
		last = pkts;
		if (pkts == (uint64_t)fl.nflush)
			break;
		cr_assert(!atomic_load(&fl.done) || fl.err == 0,
			  "writer: %s", pcv_err_name(fl.err));
		usleep(200);
	}
	pthread_join(th, NULL);
	cr_assert_eq(fl.err, 0, "writer: %s", pcv_err_name(fl.err));
	pcv_index_close(r);
}

/* ===== the planner's query shapes use indexes ============================ */

static void assert_no_full_scan(sqlite3 *db, const char *sql)
{
	char eqp[512];
	sqlite3_stmt *s;
	size_t n = 0;

	snprintf(eqp, sizeof(eqp), "EXPLAIN QUERY PLAN %s", sql);
	cr_assert_eq(sqlite3_prepare_v2(db, eqp, -1, &s, NULL), SQLITE_OK,
		     "%s: %s", sql, sqlite3_errmsg(db));
	eqp[0] = '\0';
	while (sqlite3_step(s) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(s, 3);

		n += (size_t)snprintf(eqp + n, sizeof(eqp) - n, "%s; ", d);
		if (n >= sizeof(eqp))
			n = sizeof(eqp) - 1;
		cr_assert(!strstr(d, "SCAN"), "%s\n  plan: %s", sql, d);
	}
	sqlite3_finalize(s);
	cr_assert_gt(n, 0);
}

Test(index, planner_queries_use_indexes)
{
	struct pcv_index *ix;
	int64_t seg;
	sqlite3 *db;

	ix = writer_with_segment(&seg, 1);
	pcv_index_close(ix);
	db = raw_open();
	/* the shapes docs/index-schema.md gives: index searches, never a
	 * walk over a whole segment's flows */
	assert_no_full_scan(db, "SELECT first_block, last_block FROM flows "
			    "WHERE segment_id = ?1 AND (addr_lo = ?2 OR "
			    "addr_hi = ?2)");
	assert_no_full_scan(db, "SELECT first_block, last_block FROM flows "
			    "WHERE segment_id = ?1 AND (port_lo = ?2 OR "
			    "port_hi = ?2)");
	assert_no_full_scan(db, "SELECT first_block, last_block FROM flows "
			    "WHERE segment_id = ?1 AND coarse > 0");
	assert_no_full_scan(db, "SELECT first_block, last_block FROM flows "
			    "WHERE segment_id = ?1 AND (addr_lo = ?2 OR "
			    "addr_hi = ?2 OR coarse > 0)");
	assert_no_full_scan(db, "SELECT first_block, last_block FROM flows "
			    "WHERE segment_id = ?1 AND ((addr_lo = ?2 AND "
			    "port_hi = ?3) OR (addr_hi = ?2 AND port_lo = ?3) "
			    "OR coarse > 0)");
	assert_no_full_scan(db, "SELECT first_block, last_block FROM flows "
			    "WHERE segment_id = ?1 AND ((addr_lo BETWEEN ?2 "
			    "AND ?3) OR (addr_hi BETWEEN ?2 AND ?3) OR "
			    "coarse > 0)");
	assert_no_full_scan(db, "SELECT coarse FROM flows WHERE segment_id = "
			    "?1 ORDER BY segment_id, id");
	assert_no_full_scan(db, "SELECT seq, offset FROM blocks WHERE "
			    "segment_id = ?1 AND last_ns >= ?2 AND "
			    "first_ns <= ?3");
	sqlite3_close(db);
}
