// SPDX-License-Identifier: MIT
/*
 * index-sqlite.c - the flow index in SQLite (pcv/index.h): DIR/index.sqlite
 * in WAL mode, schema from the embedded migrations (schema/NNNN_*.sql,
 * PRAGMA user_version), every statement prepared once at open.
 *
 * Commit protocol.  The index is a cache of the segment files, and it may
 * only ever say too much.  So the order of durability is:
 *
 *   1. The recorder writes a block and fsyncs the segment
 *      (pcv_seg_writer_flush()).  Only blocks that are on disk are ever
 *      passed to pcv_index_block_add().
 *   2. In one transaction per flush it adds those block rows and the flow
 *      records aggregated since the last flush, then commits.
 *   3. Only then does it forget those flow records (pcv_flowtab_reset()).
 *
 * A crash before 2 commits loses index rows, never blocks: the recorder
 * finds segments longer than their index rows at start and indexes the
 * missing blocks.  A crash during 1 leaves a torn tail no row points at
 * (rows only name fsync'd blocks), which pcv_seg_recover() cuts.
 *
 * Why synchronous=NORMAL is enough for the writer: in WAL mode NORMAL
 * fsyncs the WAL only at checkpoints, so a power cut may lose the last
 * few committed transactions, but never reorders or tears them; the
 * database comes back at an earlier commit.  Every row in any commit
 * points at a block fsync'd before that commit began, so the surviving
 * rows still point at blocks that are on disk: the order above holds,
 * and what is lost is re-indexed as in a crash before step 2.
 * PCV_INDEX_SYNC_FULL selects FULL (an fsync per commit) for stores
 * whose index must not lag after a power cut.
 *
 * Readers (PCV_INDEX_RDONLY) are separate connections, in other threads
 * or processes; WAL lets them read while the writer writes, each
 * statement (or begin..commit) seeing the last commit before it started.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "pcv/index.h"
#include "storage-int.h"

#define BUSY_TIMEOUT_MS 5000
#define WRITER_CACHE_KIB 16384
#define WAL_LIMIT_BYTES (64 << 20)

/*
 * Every statement, prepared at open.  FLOW_PUT and FLOW_WIDEN share
 * parameter numbers: ?1 segment, ?2 coarse, ?3..?6 the class (family,
 * proto, vlan, ethertype), ?7..?10 addresses and ports, ?11..?17 the
 * counts (first_ns, last_ns, pkts, bytes, tcp_flags, first_block,
 * last_block).
 */
#define FLOW_COUNTS_UPDATE                                                    \
	"first_ns = min(first_ns, ?11), last_ns = max(last_ns, ?12), "        \
	"pkts = pkts + ?13, bytes = bytes + ?14, "                            \
	"tcp_flags = tcp_flags | ?15, "                                       \
	"first_block = min(first_block, ?16), "                               \
	"last_block = max(last_block, ?17)"

/* What pcv_index_flows() and pcv_index_flows_select() read of a row. */
#define FLOW_COLS                                                             \
	"SELECT coarse, family, proto, vlan, ethertype, addr_lo, addr_hi, "   \
	"port_lo, port_hi, first_ns, last_ns, pkts, bytes, tcp_flags, "       \
	"first_block, last_block FROM flows "

#define IX_STATEMENTS(X)                                                      \
	X(BEGIN_W, "BEGIN IMMEDIATE")                                         \
	X(BEGIN_R, "BEGIN")                                                   \
	X(COMMIT, "COMMIT")                                                   \
	X(ROLLBACK, "ROLLBACK")                                               \
	X(OP_BEGIN, "SAVEPOINT pcv_op")                                       \
	X(OP_RELEASE, "RELEASE pcv_op")                                       \
	X(OP_UNDO, "ROLLBACK TO pcv_op")                                      \
	X(SEG_ADD,                                                            \
	  "INSERT INTO segments (name, iface, queue, linktype, snaplen, "     \
	  "start_ns, end_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)")            \
	X(SEG_FIND, "SELECT id FROM segments WHERE name = ?1")                \
	X(SEG_EXISTS, "SELECT 1 FROM segments WHERE id = ?1")                 \
	X(SEG_GROW,                                                           \
	  "UPDATE segments SET nblocks = max(nblocks, ?2), "                  \
	  "end_ns = max(end_ns, ?3) WHERE id = ?1")                           \
	X(SEG_SEAL,                                                           \
	  "UPDATE segments SET end_ns = ?2, nblocks = ?3, sealed = 1 "        \
	  "WHERE id = ?1")                                                    \
	X(SEG_TRUNC,                                                          \
	  "UPDATE segments SET nblocks = min(nblocks, ?2), end_ns = "         \
	  "coalesce((SELECT max(last_ns) FROM blocks WHERE segment_id = ?1),"  \
	  " start_ns) WHERE id = ?1")                                         \
	X(SEG_DROP, "DELETE FROM segments WHERE id = ?1")                     \
	X(SEG_LIST,                                                           \
	  "SELECT id, name, iface, queue, linktype, snaplen, start_ns, "      \
	  "end_ns, nblocks, sealed FROM segments ORDER BY start_ns, id")      \
	X(BLK_ADD,                                                            \
	  "INSERT OR REPLACE INTO blocks (segment_id, seq, offset, "          \
	  "comp_size, raw_size, first_ns, last_ns, npkts, crc32c) "           \
	  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")                      \
	X(BLK_TRUNC, "DELETE FROM blocks WHERE segment_id = ?1 AND seq >= ?2") \
	X(BLK_DROP, "DELETE FROM blocks WHERE segment_id = ?1")               \
	X(BLK_LIST,                                                           \
	  "SELECT seq, offset, comp_size, raw_size, first_ns, last_ns, "      \
	  "npkts, crc32c FROM blocks WHERE segment_id = ?1 ORDER BY seq")     \
	X(FLOW_PUT,                                                           \
	  "INSERT INTO flows (segment_id, coarse, family, proto, vlan, "      \
	  "ethertype, addr_lo, addr_hi, port_lo, port_hi, first_ns, "         \
	  "last_ns, pkts, bytes, tcp_flags, first_block, last_block) "        \
	  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "  \
	  "?14, ?15, ?16, ?17) "                                              \
	  "ON CONFLICT (segment_id, addr_lo, addr_hi, port_lo, port_hi, "     \
	  "proto, vlan, family) DO UPDATE SET "                               \
	  "first_ns = min(first_ns, excluded.first_ns), "                     \
	  "last_ns = max(last_ns, excluded.last_ns), "                        \
	  "pkts = pkts + excluded.pkts, bytes = bytes + excluded.bytes, "     \
	  "tcp_flags = tcp_flags | excluded.tcp_flags, "                      \
	  "first_block = min(first_block, excluded.first_block), "            \
	  "last_block = max(last_block, excluded.last_block)")                \
	X(FLOW_WIDEN,                                                         \
	  "UPDATE flows SET " FLOW_COUNTS_UPDATE " WHERE id = "               \
	  "(SELECT id FROM flows WHERE segment_id = ?1 AND coarse > 0 AND "   \
	  "coarse = ?2 AND family IS ?3 AND proto IS ?4 AND vlan IS ?5 AND "  \
	  "ethertype IS ?6 AND addr_lo IS ?7 AND addr_hi IS ?8 AND "          \
	  "last_block >= ?16 - 1 AND "                                        \
	  "first_block <= ?17 + 1 ORDER BY last_block DESC LIMIT 1)")         \
	X(FLOW_TRUNC_DEL,                                                     \
	  "DELETE FROM flows WHERE segment_id = ?1 AND first_block >= ?2")    \
	X(FLOW_TRUNC_CLAMP,                                                   \
	  "UPDATE flows SET last_block = ?2 - 1 "                             \
	  "WHERE segment_id = ?1 AND last_block >= ?2")                       \
	X(FLOW_DROP, "DELETE FROM flows WHERE segment_id = ?1")               \
	X(FLOW_LIST, FLOW_COLS "WHERE segment_id = ?1 ORDER BY segment_id, id") \
	X(FLOW_BY_ADDR, FLOW_COLS "WHERE segment_id = ?1 AND (addr_lo = ?2 "  \
	  "OR addr_hi = ?2 OR coarse > 0)")                                   \
	X(FLOW_BY_RANGE, FLOW_COLS "WHERE segment_id = ?1 AND ((addr_lo "     \
	  "BETWEEN ?2 AND ?3) OR (addr_hi BETWEEN ?2 AND ?3) OR coarse > 0)") \
	X(FLOW_BY_PORT, FLOW_COLS "WHERE segment_id = ?1 AND (port_lo = ?2 "  \
	  "OR port_hi = ?2 OR coarse > 0)")                                   \
	X(META_GET, "SELECT value FROM meta WHERE key = ?1")                  \
	X(META_SET, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")

enum ix_st {
#define IX_ST_ENUM(name, sql) ST_##name,
	IX_STATEMENTS(IX_ST_ENUM)
#undef IX_ST_ENUM
	ST_COUNT
};

static const char *const ix_sql[ST_COUNT] = {
#define IX_ST_SQL(name, sql) [ST_##name] = sql,
	IX_STATEMENTS(IX_ST_SQL)
#undef IX_ST_SQL
};

struct pcv_index {
	sqlite3 *db;
	unsigned flags;
	char *path;
	sqlite3_stmt *st[ST_COUNT];
	char errmsg[PCV_ERRBUF_SIZE];
};

/* ===== errors ============================================================ */

static int __attribute__((format(printf, 3, 4)))
ix_seterr(struct pcv_index *ix, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ix->errmsg, sizeof(ix->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* An SQLite result code as one of ours. */
static int sql_code(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return PCV_ECORRUPT;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_INTERRUPT:
		return -EINTR;
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
	case SQLITE_MISMATCH:
		return -EINVAL;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
		sys = db ? sqlite3_system_errno(db) : 0;
		return sys > 0 ? -sys : -EIO;
	default:
		return -EIO;
	}
}

/* Record "WHAT: sqlite's message" and return the code for @rc. */
static int ix_sqlerr(struct pcv_index *ix, int rc, const char *what)
{
	return ix_seterr(ix, sql_code(ix->db, rc), "%s: %s: %s", ix->path,
			 what, ix->db ? sqlite3_errmsg(ix->db) :
					sqlite3_errstr(rc));
}

const char *pcv_index_errmsg(const struct pcv_index *ix)
{
	return ix ? ix->errmsg : "";
}

/* ===== statement helpers ================================================= */

static void st_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Run statement @id (already bound) to its end. */
static int st_exec(struct pcv_index *ix, enum ix_st id, const char *what)
{
	sqlite3_stmt *s = ix->st[id];
	int rc, err = 0;

	do
		rc = sqlite3_step(s);
	while (rc == SQLITE_ROW);
	if (rc != SQLITE_DONE)
		err = ix_sqlerr(ix, rc, what);
	st_done(s);
	return err;
}

static inline void bind_u64(sqlite3_stmt *s, int i, uint64_t v)
{
	sqlite3_bind_int64(s, i, (sqlite3_int64)v);
}

static inline uint64_t col_u64(sqlite3_stmt *s, int i)
{
	return (uint64_t)sqlite3_column_int64(s, i);
}

/* Run one SQL text outside the prepared set (open, migrations). */
static int ix_exec(struct pcv_index *ix, const char *sql, const char *what)
{
	int rc = sqlite3_exec(ix->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : ix_sqlerr(ix, rc, what);
}

/* The first column of the first row of @sql as an integer. */
static int ix_query_int(struct pcv_index *ix, const char *sql,
			const char *what, int64_t *v)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(ix->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return ix_sqlerr(ix, rc, what);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(s, 0);
	else
		rc = ix_sqlerr(ix, rc == SQLITE_DONE ? SQLITE_ERROR : rc,
			       what);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : rc;
}

/* The first column of the first row of @sql as text into @buf. */
static int ix_query_text(struct pcv_index *ix, const char *sql,
			 const char *what, char *buf, size_t len)
{
	sqlite3_stmt *s;
	int rc;

	rc = sqlite3_prepare_v2(ix->db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return ix_sqlerr(ix, rc, what);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		snprintf(buf, len, "%s", t ? (const char *)t : "");
	} else {
		rc = ix_sqlerr(ix, rc == SQLITE_DONE ? SQLITE_ERROR : rc,
			       what);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : rc;
}

/*
 * Every public call that writes runs in a savepoint, so it is atomic on
 * its own (autocommit) and inside the caller's transaction alike.
 */
static int op_begin(struct pcv_index *ix)
{
	if (ix->flags & PCV_INDEX_RDONLY)
		return ix_seterr(ix, -EROFS, "%s: opened read-only",
				 ix->path);
	return st_exec(ix, ST_OP_BEGIN, "savepoint");
}

static int op_end(struct pcv_index *ix, int err)
{
	if (!err) {
		err = st_exec(ix, ST_OP_RELEASE, "release");
		if (!err)
			return 0;
	}
	/* keep the first message: it says what failed */
	sqlite3_step(ix->st[ST_OP_UNDO]);
	st_done(ix->st[ST_OP_UNDO]);
	sqlite3_step(ix->st[ST_OP_RELEASE]);
	st_done(ix->st[ST_OP_RELEASE]);
	return err;
}

/* -ENOENT unless segment @seg_id exists. */
static int seg_check(struct pcv_index *ix, int64_t seg_id)
{
	sqlite3_stmt *s = ix->st[ST_SEG_EXISTS];
	int rc;

	sqlite3_bind_int64(s, 1, seg_id);
	rc = sqlite3_step(s);
	st_done(s);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return ix_seterr(ix, -ENOENT, "%s: no segment with id %lld",
				 ix->path, (long long)seg_id);
	return ix_sqlerr(ix, rc, "segment lookup");
}

/* ===== open, migrations, close =========================================== */

/* The last embedded schema version; 0 if the steps are not in order. */
static unsigned schema_latest(void)
{
	unsigned i, v = 0;

	for (i = 0; i < pcv__schema_count; i++) {
		if (pcv__schema[i].version <= v)
			return 0;
		v = pcv__schema[i].version;
	}
	return v;
}

unsigned pcv_index_schema_version(void)
{
	return schema_latest();
}

static int ix_open_db(struct pcv_index *ix, const char *dir)
{
	int oflags = SQLITE_OPEN_NOMUTEX;
	struct stat sb;
	size_t len;
	int rc;

	len = strlen(dir) + sizeof("/" PCV_INDEX_FILE);
	ix->path = malloc(len);
	if (!ix->path)
		return ix_seterr(ix, -ENOMEM, "out of memory");
	snprintf(ix->path, len, "%s/%s", dir, PCV_INDEX_FILE);

	if (ix->flags & PCV_INDEX_RDONLY)
		oflags |= SQLITE_OPEN_READONLY;
	else if (ix->flags & PCV_INDEX_CREATE)
		oflags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	else
		oflags |= SQLITE_OPEN_READWRITE;
	if (!(oflags & SQLITE_OPEN_CREATE) && stat(ix->path, &sb) < 0)
		return ix_seterr(ix, -errno, "%s: %s", ix->path,
				 strerror(errno));

	rc = sqlite3_open_v2(ix->path, &ix->db, oflags, NULL);
	if (rc != SQLITE_OK)
		return ix_sqlerr(ix, rc, "open");
	sqlite3_extended_result_codes(ix->db, 1);
	sqlite3_busy_timeout(ix->db, BUSY_TIMEOUT_MS);
	return 0;
}

/* Map "not a database" on the first read to a clear PCV_ECORRUPT. */
static int ix_first_read_err(struct pcv_index *ix, int err)
{
	if (err == PCV_ECORRUPT)
		return ix_seterr(ix, PCV_ECORRUPT,
				 "%s: not a usable SQLite database (%s): "
				 "move it aside and rebuild the index",
				 ix->path, sqlite3_errmsg(ix->db));
	return err;
}

static int ix_migrate(struct pcv_index *ix)
{
	unsigned latest = schema_latest(), i;
	char sql[64];
	int64_t v;
	int err;

	if (!latest && pcv__schema_count)
		return ix_seterr(ix, PCV_EFORMAT,
				 "embedded schema steps out of order");
	err = ix_exec(ix, "BEGIN IMMEDIATE", "begin migration");
	if (err)
		return ix_first_read_err(ix, err);
	err = ix_query_int(ix, "PRAGMA user_version", "user_version", &v);
	if (err)
		goto fail;
	if (v > latest || v < 0) {
		err = ix_seterr(ix, PCV_EFORMAT,
				"%s: index schema version %lld is newer than "
				"this program's (%u): upgrade PacketVelocity, "
				"or move the file aside to rebuild the index",
				ix->path, (long long)v, latest);
		goto fail;
	}
	for (i = 0; i < pcv__schema_count; i++) {
		const struct pcv__schema_step *m = &pcv__schema[i];

		if (m->version <= v)
			continue;
		err = ix_exec(ix, m->sql, m->name);
		if (err) {
			if (err != PCV_ECORRUPT)
				err = PCV_EFORMAT;
			goto fail;
		}
	}
	if (v != latest) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %u", latest);
		err = ix_exec(ix, sql, "set user_version");
		if (err)
			goto fail;
	}
	return ix_exec(ix, "COMMIT", "commit migration");
fail:
	sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

static int ix_setup_writer(struct pcv_index *ix)
{
	char mode[16], sql[128];
	int err;

	err = ix_query_text(ix, "PRAGMA journal_mode = WAL", "journal_mode",
			    mode, sizeof(mode));
	if (err)
		return ix_first_read_err(ix, err);
	if (strcmp(mode, "wal") != 0)
		return ix_seterr(ix, -ENOTSUP,
				 "%s: cannot use WAL mode (journal_mode is "
				 "%s)", ix->path, mode);
	/* journal_size_limit: a WAL grown while readers held old snapshots
	 * shrinks back at the next reset instead of staying that big.
	 * temp_store: the statement journal of each flow upsert stays in
	 * memory instead of a file under /var/tmp. */
	snprintf(sql, sizeof(sql),
		 "PRAGMA synchronous = %s; PRAGMA cache_size = -%d; "
		 "PRAGMA journal_size_limit = %d; PRAGMA temp_store = MEMORY",
		 ix->flags & PCV_INDEX_SYNC_FULL ? "FULL" : "NORMAL",
		 WRITER_CACHE_KIB, WAL_LIMIT_BYTES);
	err = ix_exec(ix, sql, "pragmas");
	if (err)
		return err;
	return ix_migrate(ix);
}

static int ix_check_reader(struct pcv_index *ix)
{
	unsigned latest = schema_latest();
	int64_t v;
	int err;

	err = ix_query_int(ix, "PRAGMA user_version", "user_version", &v);
	if (err)
		return ix_first_read_err(ix, err);
	if (v == latest)
		return 0;
	if (v == 0)
		return ix_seterr(ix, PCV_EFORMAT,
				 "%s: the index has no schema yet (the "
				 "recorder creates it)", ix->path);
	if (v > latest || v < 0)
		return ix_seterr(ix, PCV_EFORMAT,
				 "%s: index schema version %lld is newer than "
				 "this program's (%u): upgrade PacketVelocity",
				 ix->path, (long long)v, latest);
	return ix_seterr(ix, PCV_EFORMAT,
			 "%s: index schema version %lld is older than this "
			 "program's (%u): the recorder migrates it when it "
			 "opens the store", ix->path, (long long)v, latest);
}

static int ix_quick_check(struct pcv_index *ix)
{
	char res[PCV_ERRBUF_SIZE / 2];
	int err;

	err = ix_query_text(ix, "PRAGMA quick_check(1)", "quick_check", res,
			    sizeof(res));
	if (err)
		return err;
	if (strcmp(res, "ok") != 0)
		return ix_seterr(ix, PCV_ECORRUPT,
				 "%s: quick_check: %s: move it aside and "
				 "rebuild the index", ix->path, res);
	return 0;
}

static int ix_prepare(struct pcv_index *ix)
{
	int i, rc, err;

	for (i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(ix->db, ix_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &ix->st[i],
					NULL);
		if (rc == SQLITE_OK)
			continue;
		err = sql_code(ix->db, rc);
		if ((rc & 0xff) == SQLITE_ERROR)
			err = PCV_ECORRUPT; /* a table or column is missing */
		if (err == PCV_ECORRUPT || err == -EIO)
			return ix_seterr(ix, PCV_ECORRUPT,
					 "%s: index schema damaged (%s): move "
					 "it aside and rebuild the index",
					 ix->path, sqlite3_errmsg(ix->db));
		return ix_sqlerr(ix, rc, "prepare");
	}
	return 0;
}

/*
 * Before SQLite initialises: no global memory statistics.  They cost a
 * process-wide mutex around every allocation, about a tenth of a flow
 * commit, and nothing here reads them.  (A program that initialised
 * SQLite first keeps its own setting: sqlite3_config() then refuses.)
 */
static void sqlite_config_once(void)
{
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int pcv_index_open(struct pcv_index **ixp, const char *dir, unsigned flags,
		   char *errbuf)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct pcv_index *ix;
	int err;

	pthread_once(&once, sqlite_config_once);
	*ixp = NULL;
	if (errbuf)
		errbuf[0] = '\0';
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return pcv__storage_err(errbuf, -ENOMEM, "out of memory");
	ix->flags = flags;

	err = ix_open_db(ix, dir);
	if (!err)
		err = flags & PCV_INDEX_RDONLY ? ix_check_reader(ix) :
						 ix_setup_writer(ix);
	if (!err && (flags & PCV_INDEX_CHECK))
		err = ix_quick_check(ix);
	if (!err)
		err = ix_prepare(ix);
	if (err) {
		if (errbuf)
			snprintf(errbuf, PCV_ERRBUF_SIZE, "%s", ix->errmsg);
		pcv_index_close(ix);
		return err;
	}
	*ixp = ix;
	return 0;
}

void pcv_index_close(struct pcv_index *ix)
{
	int i;

	if (!ix)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(ix->st[i]);
	/* an open transaction is rolled back */
	sqlite3_close(ix->db);
	free(ix->path);
	free(ix);
}

/* ===== transactions ====================================================== */

int pcv_index_begin(struct pcv_index *ix)
{
	if (!sqlite3_get_autocommit(ix->db))
		return ix_seterr(ix, -EINVAL, "%s: a transaction is open",
				 ix->path);
	return st_exec(ix, ix->flags & PCV_INDEX_RDONLY ? ST_BEGIN_R :
							   ST_BEGIN_W,
		       "begin");
}

int pcv_index_commit(struct pcv_index *ix)
{
	if (sqlite3_get_autocommit(ix->db))
		return ix_seterr(ix, -EINVAL,
				 "%s: no transaction to commit (a failed "
				 "statement may have rolled it back)",
				 ix->path);
	return st_exec(ix, ST_COMMIT, "commit");
}

int pcv_index_rollback(struct pcv_index *ix)
{
	if (sqlite3_get_autocommit(ix->db))
		return 0; /* nothing open, or SQLite rolled back already */
	return st_exec(ix, ST_ROLLBACK, "rollback");
}

/* ===== segments ========================================================== */

int pcv_index_segment_add(struct pcv_index *ix, const char *name,
			  int linktype, uint32_t snaplen, const char *iface,
			  unsigned queue, uint64_t start_ns, int64_t *seg_id)
{
	sqlite3_stmt *s = ix->st[ST_SEG_ADD];
	int err;

	err = op_begin(ix);
	if (err)
		return err;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, iface ? iface : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, queue);
	sqlite3_bind_int64(s, 4, linktype);
	sqlite3_bind_int64(s, 5, snaplen);
	bind_u64(s, 6, start_ns);
	err = st_exec(ix, ST_SEG_ADD, "add segment");
	if (err == -EEXIST)
		err = ix_seterr(ix, -EEXIST, "%s: segment %s is indexed "
				"already", ix->path, name);
	if (!err)
		*seg_id = sqlite3_last_insert_rowid(ix->db);
	return op_end(ix, err);
}

int pcv_index_segment_find(struct pcv_index *ix, const char *name,
			   int64_t *seg_id)
{
	sqlite3_stmt *s = ix->st[ST_SEG_FIND];
	int rc, err = 0;

	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*seg_id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		err = ix_seterr(ix, -ENOENT, "%s: no segment %s", ix->path,
				name);
	else
		err = ix_sqlerr(ix, rc, "find segment");
	st_done(s);
	return err;
}

/* Run a one-segment UPDATE; -ENOENT when it changed nothing. */
static int seg_update(struct pcv_index *ix, enum ix_st id, int64_t seg_id,
		      const char *what)
{
	int err = st_exec(ix, id, what);

	if (!err && sqlite3_changes(ix->db) == 0)
		err = ix_seterr(ix, -ENOENT, "%s: no segment with id %lld",
				ix->path, (long long)seg_id);
	return err;
}

int pcv_index_segment_seal(struct pcv_index *ix, int64_t seg_id,
			   uint64_t end_ns, uint64_t nblocks)
{
	sqlite3_stmt *s = ix->st[ST_SEG_SEAL];
	int err;

	err = op_begin(ix);
	if (err)
		return err;
	sqlite3_bind_int64(s, 1, seg_id);
	bind_u64(s, 2, end_ns);
	bind_u64(s, 3, nblocks);
	err = seg_update(ix, ST_SEG_SEAL, seg_id, "seal segment");
	return op_end(ix, err);
}

int pcv_index_segment_truncate(struct pcv_index *ix, int64_t seg_id,
			       uint64_t nblocks)
{
	static const enum ix_st steps[] = { ST_BLK_TRUNC, ST_FLOW_TRUNC_DEL,
					    ST_FLOW_TRUNC_CLAMP };
	size_t i;
	int err;

	if (nblocks > INT64_MAX)
		nblocks = INT64_MAX;
	err = op_begin(ix);
	if (err)
		return err;
	err = seg_check(ix, seg_id);
	for (i = 0; !err && i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_bind_int64(ix->st[steps[i]], 1, seg_id);
		bind_u64(ix->st[steps[i]], 2, nblocks);
		err = st_exec(ix, steps[i], "truncate segment");
	}
	if (!err) {
		sqlite3_bind_int64(ix->st[ST_SEG_TRUNC], 1, seg_id);
		bind_u64(ix->st[ST_SEG_TRUNC], 2, nblocks);
		err = seg_update(ix, ST_SEG_TRUNC, seg_id, "truncate segment");
	}
	return op_end(ix, err);
}

int pcv_index_segment_drop(struct pcv_index *ix, int64_t seg_id)
{
	static const enum ix_st steps[] = { ST_FLOW_DROP, ST_BLK_DROP,
					    ST_SEG_DROP };
	size_t i;
	int err;

	err = op_begin(ix);
	if (err)
		return err;
	err = seg_check(ix, seg_id);
	for (i = 0; !err && i < sizeof(steps) / sizeof(steps[0]); i++) {
		sqlite3_bind_int64(ix->st[steps[i]], 1, seg_id);
		err = st_exec(ix, steps[i], "drop segment");
	}
	return op_end(ix, err);
}

int pcv_index_segments(struct pcv_index *ix, pcv_index_seg_cb cb,
		       void *user)
{
	sqlite3_stmt *s = ix->st[ST_SEG_LIST];
	struct pcv_index_seg g;
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		g.id = sqlite3_column_int64(s, 0);
		g.name = (const char *)sqlite3_column_text(s, 1);
		g.iface = (const char *)sqlite3_column_text(s, 2);
		g.queue = (unsigned)sqlite3_column_int64(s, 3);
		g.linktype = (int)sqlite3_column_int64(s, 4);
		g.snaplen = (uint32_t)sqlite3_column_int64(s, 5);
		g.start_ns = col_u64(s, 6);
		g.end_ns = col_u64(s, 7);
		g.nblocks = col_u64(s, 8);
		g.sealed = sqlite3_column_int64(s, 9) != 0;
		if (!g.name || !g.iface) {
			ret = ix_seterr(ix, -ENOMEM, "out of memory");
			break;
		}
		ret = cb(&g, user);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = ix_sqlerr(ix, rc, "list segments");
	st_done(s);
	return ret;
}

/* ===== blocks ============================================================ */

int pcv_index_block_add(struct pcv_index *ix, int64_t seg_id,
			const struct pcv_seg_block *b)
{
	sqlite3_stmt *s;
	int err;

	if (b->seq > UINT32_MAX)
		return ix_seterr(ix, -EINVAL, "%s: block number %llu too big",
				 ix->path, (unsigned long long)b->seq);
	err = op_begin(ix);
	if (err)
		return err;

	s = ix->st[ST_SEG_GROW];
	sqlite3_bind_int64(s, 1, seg_id);
	bind_u64(s, 2, b->seq + 1);
	bind_u64(s, 3, b->last_ns);
	err = seg_update(ix, ST_SEG_GROW, seg_id, "add block");
	if (!err) {
		s = ix->st[ST_BLK_ADD];
		sqlite3_bind_int64(s, 1, seg_id);
		bind_u64(s, 2, b->seq);
		bind_u64(s, 3, b->offset);
		sqlite3_bind_int64(s, 4, b->comp_size);
		sqlite3_bind_int64(s, 5, b->raw_size);
		bind_u64(s, 6, b->first_ns);
		bind_u64(s, 7, b->last_ns);
		sqlite3_bind_int64(s, 8, b->npkts);
		sqlite3_bind_int64(s, 9, b->crc32c);
		err = st_exec(ix, ST_BLK_ADD, "add block");
	}
	return op_end(ix, err);
}

int pcv_index_blocks(struct pcv_index *ix, int64_t seg_id,
		     pcv_index_block_cb cb, void *user)
{
	sqlite3_stmt *s = ix->st[ST_BLK_LIST];
	struct pcv_seg_block b;
	int rc, ret = 0;

	sqlite3_bind_int64(s, 1, seg_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		b.seq = col_u64(s, 0);
		b.offset = col_u64(s, 1);
		b.comp_size = (uint32_t)sqlite3_column_int64(s, 2);
		b.raw_size = (uint32_t)sqlite3_column_int64(s, 3);
		b.first_ns = col_u64(s, 4);
		b.last_ns = col_u64(s, 5);
		b.npkts = (uint32_t)sqlite3_column_int64(s, 6);
		b.crc32c = (uint32_t)sqlite3_column_int64(s, 7);
		ret = cb(&b, user);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = ix_sqlerr(ix, rc, "list blocks");
	st_done(s);
	return ret;
}

/* ===== flows ============================================================= */

static int flow_check(struct pcv_index *ix, const struct pcv_flow_rec *r)
{
	if (r->coarse > PCV_FLOW_ADDR)
		return ix_seterr(ix, -EINVAL, "flow record: coarse level %u",
				 r->coarse);
	if ((r->coarse == PCV_FLOW_EXACT || r->coarse == PCV_FLOW_ADDR) &&
	    r->key.family != 4 && r->key.family != 6)
		return ix_seterr(ix, -EINVAL,
				 "flow record: level %u, family %u (not 4 or 6)",
				 r->coarse, r->key.family);
	if (r->first_block > r->last_block)
		return ix_seterr(ix, -EINVAL,
				 "flow record: blocks %u..%u", r->first_block,
				 r->last_block);
	return 0;
}

/* ?1..?10 of FLOW_PUT: NULL wherever the coarse level says "any". */
static void bind_key(sqlite3_stmt *s, int64_t seg_id,
		     const struct pcv_flow_rec *r, bool addrs)
{
	const struct pcv_flow_key *k = &r->key;
	int alen = k->family == 4 ? 4 : 16;

	sqlite3_bind_int64(s, 1, seg_id);
	sqlite3_bind_int(s, 2, r->coarse);
	if (r->coarse == PCV_FLOW_ANY)
		return; /* ?3..?10 stay NULL */
	sqlite3_bind_int(s, 3, k->family);
	if (k->family && r->coarse != PCV_FLOW_ADDR)
		sqlite3_bind_int(s, 4, k->proto);
	sqlite3_bind_int(s, 5, k->vlan);
	sqlite3_bind_int(s, 6, r->ethertype);
	if (r->coarse == PCV_FLOW_ADDR) {
		/* its addresses are its key: the widening matches them */
		sqlite3_bind_blob(s, 7, k->src, alen, SQLITE_STATIC);
		sqlite3_bind_blob(s, 8, k->dst, alen, SQLITE_STATIC);
		return;
	}
	if (r->coarse != PCV_FLOW_EXACT || !addrs)
		return;
	sqlite3_bind_blob(s, 7, k->src, alen, SQLITE_STATIC);
	sqlite3_bind_blob(s, 8, k->dst, alen, SQLITE_STATIC);
	sqlite3_bind_int(s, 9, k->sport);
	sqlite3_bind_int(s, 10, k->dport);
}

static void bind_counts(sqlite3_stmt *s, const struct pcv_flow_rec *r)
{
	bind_u64(s, 11, r->first_ns);
	bind_u64(s, 12, r->last_ns);
	bind_u64(s, 13, r->pkts);
	bind_u64(s, 14, r->bytes);
	sqlite3_bind_int(s, 15, r->tcp_flags);
	sqlite3_bind_int64(s, 16, r->first_block);
	sqlite3_bind_int64(s, 17, r->last_block);
}

static int flow_put_one(struct pcv_index *ix, int64_t seg_id,
			const struct pcv_flow_rec *r)
{
	sqlite3_stmt *s;
	int err;

	err = flow_check(ix, r);
	if (err)
		return err;
	if (r->coarse != PCV_FLOW_EXACT) {
		/* widen the coarse row this one continues, if any */
		s = ix->st[ST_FLOW_WIDEN];
		bind_key(s, seg_id, r, false);
		bind_counts(s, r);
		err = st_exec(ix, ST_FLOW_WIDEN, "put coarse flow");
		if (err || sqlite3_changes(ix->db) > 0)
			return err;
	}
	s = ix->st[ST_FLOW_PUT];
	bind_key(s, seg_id, r, true);
	bind_counts(s, r);
	return st_exec(ix, ST_FLOW_PUT, "put flow");
}

int pcv_index_flows_put(struct pcv_index *ix, int64_t seg_id,
			const struct pcv_flow_rec *r, size_t n)
{
	size_t i;
	int err;

	err = op_begin(ix);
	if (err)
		return err;
	err = seg_check(ix, seg_id);
	for (i = 0; !err && i < n; i++)
		err = flow_put_one(ix, seg_id, &r[i]);
	return op_end(ix, err);
}

static void col_addr(sqlite3_stmt *s, int i, uint8_t *a)
{
	const void *p = sqlite3_column_blob(s, i);
	int n = sqlite3_column_bytes(s, i);

	if (p && (n == 4 || n == 16))
		memcpy(a, p, (size_t)n);
}

/* Step @s (bound) and hand each row to @cb as a record. */
static int flow_rows(struct pcv_index *ix, sqlite3_stmt *s,
		     pcv_index_flow_cb cb, void *user)
{
	struct pcv_flow_rec r;
	int rc, ret = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&r, 0, sizeof(r));
		r.coarse = (uint8_t)sqlite3_column_int(s, 0);
		r.key.family = (uint8_t)sqlite3_column_int(s, 1);
		r.key.proto = (uint8_t)sqlite3_column_int(s, 2);
		r.key.vlan = (uint16_t)sqlite3_column_int(s, 3);
		r.ethertype = (uint16_t)sqlite3_column_int(s, 4);
		col_addr(s, 5, r.key.src);
		col_addr(s, 6, r.key.dst);
		r.key.sport = (uint16_t)sqlite3_column_int(s, 7);
		r.key.dport = (uint16_t)sqlite3_column_int(s, 8);
		r.first_ns = col_u64(s, 9);
		r.last_ns = col_u64(s, 10);
		r.pkts = col_u64(s, 11);
		r.bytes = col_u64(s, 12);
		r.tcp_flags = (uint8_t)sqlite3_column_int(s, 13);
		r.first_block = (uint32_t)sqlite3_column_int64(s, 14);
		r.last_block = (uint32_t)sqlite3_column_int64(s, 15);
		ret = cb(&r, user);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = ix_sqlerr(ix, rc, "list flows");
	st_done(s);
	return ret;
}

int pcv_index_flows(struct pcv_index *ix, int64_t seg_id,
		    pcv_index_flow_cb cb, void *user)
{
	sqlite3_stmt *s = ix->st[ST_FLOW_LIST];

	sqlite3_bind_int64(s, 1, seg_id);
	return flow_rows(ix, s, cb, user);
}

int pcv_index_flows_select(struct pcv_index *ix, int64_t seg_id,
			   const struct pcv_index_flow_sel *sel,
			   pcv_index_flow_cb cb, void *user)
{
	sqlite3_stmt *s;

	if (sel->alen != 4 && sel->alen != 16 && sel->by != PCV_FLOWS_BY_PORT)
		return ix_seterr(ix, -EINVAL, "flow lookup: %zu-byte address",
				 sel->alen);
	switch (sel->by) {
	case PCV_FLOWS_BY_ADDR:
		s = ix->st[ST_FLOW_BY_ADDR];
		sqlite3_bind_blob(s, 2, sel->lo, (int)sel->alen, SQLITE_STATIC);
		break;
	case PCV_FLOWS_BY_RANGE:
		s = ix->st[ST_FLOW_BY_RANGE];
		sqlite3_bind_blob(s, 2, sel->lo, (int)sel->alen, SQLITE_STATIC);
		sqlite3_bind_blob(s, 3, sel->hi, (int)sel->alen, SQLITE_STATIC);
		break;
	case PCV_FLOWS_BY_PORT:
		s = ix->st[ST_FLOW_BY_PORT];
		sqlite3_bind_int(s, 2, sel->port);
		break;
	default:
		return ix_seterr(ix, -EINVAL, "flow lookup: unknown kind %d",
				 (int)sel->by);
	}
	sqlite3_bind_int64(s, 1, seg_id);
	return flow_rows(ix, s, cb, user);
}

/* ===== meta ============================================================== */

int pcv_index_meta_get(struct pcv_index *ix, const char *key, char *buf,
		       size_t len)
{
	sqlite3_stmt *s = ix->st[ST_META_GET];
	int rc, ret;

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		ret = sqlite3_column_bytes(s, 0);
		if (len)
			snprintf(buf, len, "%s", t ? (const char *)t : "");
	} else if (rc == SQLITE_DONE) {
		ret = ix_seterr(ix, -ENOENT, "%s: no meta key %s", ix->path,
				key);
	} else {
		ret = ix_sqlerr(ix, rc, "get meta");
	}
	st_done(s);
	return ret;
}

int pcv_index_meta_set(struct pcv_index *ix, const char *key,
		       const char *value)
{
	sqlite3_stmt *s = ix->st[ST_META_SET];
	int err;

	err = op_begin(ix);
	if (err)
		return err;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
	err = st_exec(ix, ST_META_SET, "set meta");
	return op_end(ix, err);
}
