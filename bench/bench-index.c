// SPDX-License-Identifier: MIT
/*
 * bench-index.c - how fast the flow table aggregates packets and how fast
 * the SQLite index takes its records, next to plain SQLite inserts.
 *
 * Loads a capture file (argv[1], or mixed-small.pcap under $PCV_CORPUS,
 * default ../shared/corpus; without one it says so and exits 0) and
 * dissects every packet once, outside the timings.  Then, best of REPS:
 *
 *  - pcv_flowtab_add() over all packets, ns per packet, with a table that
 *    holds every flow, and with one of FLOOD_FLOWS flows so that most
 *    flows take the coarse path; then over RANDOM_PKTS packets that are
 *    each a new random 5-tuple (the flood the recorder must survive) into
 *    a table of TAB_FLOWS, full after the first TAB_FLOWS;
 *  - the recorder's flush pattern into a fresh index: packets in blocks
 *    of BLOCK_PKTS, a flush every FLUSH_BLOCKS blocks, each flush one
 *    transaction of block rows plus the flow table's records through
 *    pcv_index_flows_put() (an upsert: flows recur across flushes), the
 *    corpus replayed into SEGMENTS segments; rows per second;
 *  - peers, same rows, same transactions, same WAL/synchronous=NORMAL
 *    settings, one prepared statement: a plain INSERT into a table with
 *    our columns and secondary indexes but no upsert key, and a plain
 *    INSERT into a table with no index at all (SQLite's own insert rate).
 *
 * The ratios say what the upsert and the indexes the query planner needs
 * cost over SQLite's floor.
 */
#include <errno.h>
#include <ftw.h>
#include <pcap/pcap.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pcv/dissect.h"
#include "pcv/index.h"

#define REPS 5
#define SQL_REPS 3
#define TAB_FLOWS 65536
#define FLOOD_FLOWS 256
#define BLOCK_PKTS 1000
#define FLUSH_BLOCKS 10
#define SEGMENTS 3
#define RANDOM_PKTS (1u << 20)

struct pkt {
	struct pcv_dissect d;
	uint64_t ts_ns;
	uint32_t len;
};

struct corpus {
	struct pkt *p;
	size_t n, cap;
};

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static const char *corpus_path(char *buf, size_t len)
{
	const char *dir = getenv("PCV_CORPUS");

	snprintf(buf, len, "%s/mixed-small.pcap",
		 dir && *dir ? dir : "../shared/corpus");
	if (access(buf, R_OK) != 0) {
		printf("bench-index: %s: %s; skipped (set PCV_CORPUS)\n", buf,
		       strerror(errno));
		return NULL;
	}
	return buf;
}

static int corpus_load(struct corpus *c, const char *path)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;
	int dlt, rc;

	pc = pcap_open_offline_with_tstamp_precision(
		path, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pc) {
		fprintf(stderr, "bench-index: %s\n", errbuf);
		return -1;
	}
	dlt = pcap_datalink(pc);
	while ((rc = pcap_next_ex(pc, &h, &data)) == 1) {
		struct pkt *k;

		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			struct pkt *np = realloc(c->p, cap * sizeof(*np));

			if (!np) {
				fprintf(stderr, "bench-index: out of memory\n");
				pcap_close(pc);
				return -1;
			}
			c->p = np;
			c->cap = cap;
		}
		k = &c->p[c->n++];
		pcv_dissect(data, h->caplen, dlt, &k->d);
		k->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
			   (uint64_t)h->ts.tv_usec;
		k->len = h->len;
	}
	if (rc == PCAP_ERROR)
		fprintf(stderr, "bench-index: %s: %s (using %zu packets)\n",
			path, pcap_geterr(pc), c->n);
	pcap_close(pc);
	return 0;
}

/* ===== flow table ======================================================== */

/* Best ns per packet of adding the whole corpus, reset in between. */
static double time_flowtab(const struct corpus *c, size_t max_flows,
			   struct pcv_flowtab_stats *st)
{
	struct pcv_flowtab *t;
	double best = 0;

	if (pcv_flowtab_open(&t, max_flows) < 0)
		return -1;
	for (int r = 0; r < REPS; r++) {
		double t0;

		pcv_flowtab_reset(t);
		t0 = now_ns();
		for (size_t i = 0; i < c->n; i++)
			pcv_flowtab_add(t, &c->p[i].d, c->p[i].ts_ns,
					c->p[i].len, (uint32_t)(i / BLOCK_PKTS));
		t0 = now_ns() - t0;
		if (r == 0 || t0 < best)
			best = t0;
	}
	pcv_flowtab_stats(t, st);
	pcv_flowtab_close(t);
	return best / (double)c->n;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* A flood: every packet a new random IPv4 TCP/UDP 5-tuple. */
static int flood_make(struct corpus *c)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;

	c->p = calloc(RANDOM_PKTS, sizeof(*c->p));
	if (!c->p)
		return -1;
	c->n = c->cap = RANDOM_PKTS;
	for (size_t i = 0; i < c->n; i++) {
		struct pcv_dissect *d = &c->p[i].d;
		uint64_t r = rnd(&s);

		memcpy(d->key.src, &r, 4);
		memcpy(d->key.dst, (uint8_t *)&r + 4, 4);
		r = rnd(&s);
		d->key.sport = (uint16_t)r;
		d->key.dport = (uint16_t)(r >> 16);
		d->key.family = 4;
		d->key.proto = r >> 32 & 1 ? 6 : 17;
		d->ethertype = 0x0800;
		d->flags = PCV_DF_L4;
		c->p[i].ts_ns = i * 100;
		c->p[i].len = 64;
	}
	return 0;
}

/* ===== the flush pattern ================================================= */

/*
 * One flush's rows, collected once so every engine writes exactly the
 * same: the block rows and the flow records.
 */
struct flush {
	struct pcv_seg_block blk[FLUSH_BLOCKS];
	size_t nblk;
	struct pcv_flow_rec *rec;
	size_t nrec;
};

struct plan {
	struct flush *f;
	size_t n;
	size_t rows; /* flow records over all flushes, one segment */
};

static int plan_make(struct plan *pl, const struct corpus *c)
{
	size_t nblocks = (c->n + BLOCK_PKTS - 1) / BLOCK_PKTS;
	struct pcv_flowtab *t;
	size_t i = 0;

	pl->n = (nblocks + FLUSH_BLOCKS - 1) / FLUSH_BLOCKS;
	pl->f = calloc(pl->n, sizeof(*pl->f));
	if (!pl->f || pcv_flowtab_open(&t, TAB_FLOWS) < 0)
		return -1;
	for (size_t fi = 0; fi < pl->n; fi++) {
		struct flush *f = &pl->f[fi];
		const struct pcv_flow_rec *r;

		for (; i < c->n && i / BLOCK_PKTS < (fi + 1) * FLUSH_BLOCKS;
		     i++) {
			uint64_t seq = i / BLOCK_PKTS;
			struct pcv_seg_block *b = &f->blk[seq % FLUSH_BLOCKS];

			if (seq % FLUSH_BLOCKS + 1 > f->nblk) {
				f->nblk = seq % FLUSH_BLOCKS + 1;
				b->seq = seq;
				b->offset = seq * 300000;
				b->comp_size = 300000;
				b->raw_size = 1000000;
				b->first_ns = c->p[i].ts_ns;
				b->crc32c = (uint32_t)seq;
			}
			b->last_ns = c->p[i].ts_ns;
			b->npkts++;
			pcv_flowtab_add(t, &c->p[i].d, c->p[i].ts_ns,
					c->p[i].len, (uint32_t)seq);
		}
		r = pcv_flowtab_records(t, &f->nrec);
		f->rec = malloc(f->nrec * sizeof(*f->rec) + 1);
		if (!f->rec)
			return -1;
		memcpy(f->rec, r, f->nrec * sizeof(*f->rec));
		pl->rows += f->nrec;
		pcv_flowtab_reset(t);
	}
	pcv_flowtab_close(t);
	return 0;
}

static void plan_free(struct plan *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		free(pl->f[i].rec);
	free(pl->f);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int fresh_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/pcv-bench-index-XXXXXX");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "bench-index: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static void remove_dir(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Ours: seconds for the whole plan into a new index, or < 0. */
static double run_index(const struct plan *pl)
{
	char dir[64], errbuf[PCV_ERRBUF_SIZE];
	struct pcv_index *ix;
	double t0, t = -1;
	int err = 0;

	if (fresh_dir(dir, sizeof(dir)) < 0)
		return -1;
	if (pcv_index_open(&ix, dir, PCV_INDEX_CREATE, errbuf) < 0) {
		fprintf(stderr, "bench-index: %s\n", errbuf);
		goto out;
	}
	t0 = now_ns();
	for (int s = 0; !err && s < SEGMENTS; s++) {
		char name[32];
		int64_t seg;

		snprintf(name, sizeof(name), "seg%d", s);
		err = pcv_index_segment_add(ix, name, 1, 262144, "eth0", 0,
					    0, &seg);
		for (size_t i = 0; !err && i < pl->n; i++) {
			const struct flush *f = &pl->f[i];

			err = pcv_index_begin(ix);
			for (size_t b = 0; !err && b < f->nblk; b++)
				err = pcv_index_block_add(ix, seg, &f->blk[b]);
			if (!err)
				err = pcv_index_flows_put(ix, seg, f->rec,
							  f->nrec);
			if (!err)
				err = pcv_index_commit(ix);
		}
	}
	t = now_ns() - t0;
	if (err) {
		fprintf(stderr, "bench-index: %s\n", pcv_index_errmsg(ix));
		t = -1;
	}
	pcv_index_close(ix);
out:
	remove_dir(dir);
	return t / 1e9;
}

/* The peers' tables: our flows columns, with or without our indexes. */
static const char peer_table[] =
	"CREATE TABLE flows (id INTEGER PRIMARY KEY, segment_id INTEGER "
	"NOT NULL, coarse INTEGER NOT NULL, family INTEGER, proto INTEGER, "
	"vlan INTEGER, ethertype INTEGER, addr_lo BLOB, addr_hi BLOB, "
	"port_lo INTEGER, port_hi INTEGER, first_ns INTEGER NOT NULL, "
	"last_ns INTEGER NOT NULL, pkts INTEGER NOT NULL, bytes INTEGER NOT "
	"NULL, tcp_flags INTEGER NOT NULL, first_block INTEGER NOT NULL, "
	"last_block INTEGER NOT NULL);"
	"CREATE TABLE blocks (segment_id INTEGER NOT NULL, seq INTEGER NOT "
	"NULL, offset INTEGER NOT NULL, comp_size INTEGER NOT NULL, "
	"raw_size INTEGER NOT NULL, first_ns INTEGER NOT NULL, last_ns "
	"INTEGER NOT NULL, npkts INTEGER NOT NULL, crc32c INTEGER NOT NULL, "
	"PRIMARY KEY (segment_id, seq)) WITHOUT ROWID;";

static const char peer_indexes[] =
	"CREATE INDEX flows_addr_lo ON flows (segment_id, addr_lo);"
	"CREATE INDEX flows_addr_hi ON flows (segment_id, addr_hi);"
	"CREATE INDEX flows_port_lo ON flows (segment_id, port_lo);"
	"CREATE INDEX flows_port_hi ON flows (segment_id, port_hi);";

static int peer_insert(sqlite3_stmt *ins, int64_t seg,
		       const struct pcv_flow_rec *r)
{
	int alen = r->key.family == 4 ? 4 : 16;

	sqlite3_bind_int64(ins, 1, seg);
	sqlite3_bind_int(ins, 2, r->coarse);
	if (r->coarse != PCV_FLOW_ANY) {
		sqlite3_bind_int(ins, 3, r->key.family);
		sqlite3_bind_int(ins, 4, r->key.proto);
		sqlite3_bind_int(ins, 5, r->key.vlan);
		sqlite3_bind_int(ins, 6, r->ethertype);
	}
	if (r->coarse == PCV_FLOW_EXACT) {
		sqlite3_bind_blob(ins, 7, r->key.src, alen, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 8, r->key.dst, alen, SQLITE_STATIC);
		sqlite3_bind_int(ins, 9, r->key.sport);
		sqlite3_bind_int(ins, 10, r->key.dport);
	}
	sqlite3_bind_int64(ins, 11, (int64_t)r->first_ns);
	sqlite3_bind_int64(ins, 12, (int64_t)r->last_ns);
	sqlite3_bind_int64(ins, 13, (int64_t)r->pkts);
	sqlite3_bind_int64(ins, 14, (int64_t)r->bytes);
	sqlite3_bind_int(ins, 15, r->tcp_flags);
	sqlite3_bind_int64(ins, 16, r->first_block);
	sqlite3_bind_int64(ins, 17, r->last_block);
	if (sqlite3_step(ins) != SQLITE_DONE)
		return -1;
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	return 0;
}

static int peer_block(sqlite3_stmt *blk, int64_t seg,
		      const struct pcv_seg_block *b)
{
	sqlite3_bind_int64(blk, 1, seg);
	sqlite3_bind_int64(blk, 2, (int64_t)b->seq);
	sqlite3_bind_int64(blk, 3, (int64_t)b->offset);
	sqlite3_bind_int64(blk, 4, b->comp_size);
	sqlite3_bind_int64(blk, 5, b->raw_size);
	sqlite3_bind_int64(blk, 6, (int64_t)b->first_ns);
	sqlite3_bind_int64(blk, 7, (int64_t)b->last_ns);
	sqlite3_bind_int64(blk, 8, b->npkts);
	sqlite3_bind_int64(blk, 9, b->crc32c);
	if (sqlite3_step(blk) != SQLITE_DONE)
		return -1;
	sqlite3_reset(blk);
	return 0;
}

/* A peer: plain INSERTs, seconds for the whole plan, or < 0. */
static double run_peer(const struct plan *pl, bool indexes)
{
	sqlite3_stmt *ins = NULL, *blk = NULL;
	char dir[64], path[96];
	sqlite3 *db = NULL;
	double t0, t = -1;
	int rc = 0;

	if (fresh_dir(dir, sizeof(dir)) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/peer.sqlite", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous "
			 "= NORMAL; PRAGMA cache_size = -16384", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_exec(db, peer_table, NULL, NULL, NULL) != SQLITE_OK ||
	    (indexes && sqlite3_exec(db, peer_indexes, NULL, NULL, NULL) !=
				SQLITE_OK) ||
	    sqlite3_prepare_v2(db, "INSERT INTO flows (segment_id, coarse, "
			       "family, proto, vlan, ethertype, addr_lo, "
			       "addr_hi, port_lo, port_hi, first_ns, last_ns, "
			       "pkts, bytes, tcp_flags, first_block, "
			       "last_block) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
			       "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
			       "?16, ?17)", -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT INTO blocks VALUES (?1, ?2, ?3, "
			       "?4, ?5, ?6, ?7, ?8, ?9)", -1, &blk,
			       NULL) != SQLITE_OK) {
		fprintf(stderr, "bench-index: peer: %s\n", sqlite3_errmsg(db));
		goto out;
	}
	t0 = now_ns();
	for (int s = 0; !rc && s < SEGMENTS; s++) {
		for (size_t i = 0; !rc && i < pl->n; i++) {
			const struct flush *f = &pl->f[i];

			rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
					  NULL) == SQLITE_OK ? 0 : -1;
			for (size_t b = 0; !rc && b < f->nblk; b++)
				rc = peer_block(blk, s, &f->blk[b]);
			for (size_t j = 0; !rc && j < f->nrec; j++)
				rc = peer_insert(ins, s, &f->rec[j]);
			if (!rc)
				rc = sqlite3_exec(db, "COMMIT", NULL, NULL,
						  NULL) == SQLITE_OK ? 0 : -1;
		}
	}
	t = now_ns() - t0;
	if (rc) {
		fprintf(stderr, "bench-index: peer: %s\n", sqlite3_errmsg(db));
		t = -1;
	}
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(blk);
	sqlite3_close(db);
	remove_dir(dir);
	return t / 1e9;
}

enum engine { ENG_INDEX, ENG_PEER_IDX, ENG_PEER_BARE, ENG_COUNT };

int main(int argc, char **argv)
{
	static const char *const names[ENG_COUNT] = {
		"pcv_index_flows_put (upsert)",
		"sqlite INSERT, same indexes",
		"sqlite INSERT, no index",
	};
	struct pcv_flowtab_stats st_all, st_flood, st_rand;
	double ns_all, ns_flood, ns_rand, best[ENG_COUNT] = { 0 };
	struct corpus c = { 0 }, fl = { 0 };
	struct plan pl = { 0 };
	char defpath[4096];
	const char *path;
	size_t rows;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [FILE.pcap]\n", argv[0]);
		return 1;
	}
	if (argc == 2)
		path = argv[1];
	else if (!(path = corpus_path(defpath, sizeof(defpath))))
		return 0;
	if (corpus_load(&c, path) < 0 || c.n == 0)
		return 1;

	ns_all = time_flowtab(&c, TAB_FLOWS, &st_all);
	ns_flood = time_flowtab(&c, FLOOD_FLOWS, &st_flood);
	if (flood_make(&fl) < 0) {
		fprintf(stderr, "bench-index: out of memory\n");
		return 1;
	}
	ns_rand = time_flowtab(&fl, TAB_FLOWS, &st_rand);
	free(fl.p);
	if (ns_all < 0 || ns_flood < 0 || ns_rand < 0 ||
	    plan_make(&pl, &c) < 0) {
		fprintf(stderr, "bench-index: out of memory\n");
		return 1;
	}

	/* engines take turns, so a noisy moment hurts all alike */
	for (int r = 0; r < SQL_REPS; r++) {
		for (int e = 0; e < ENG_COUNT; e++) {
			double t = e == ENG_INDEX ? run_index(&pl) :
						    run_peer(&pl,
							     e == ENG_PEER_IDX);

			if (t < 0)
				return 1;
			if (r == 0 || t < best[e])
				best[e] = t;
		}
	}
	rows = pl.rows * SEGMENTS;

	printf("bench-index: %zu packets from %s, best of %d (flow table) "
	       "and %d (SQLite)\n", c.n, path, REPS, SQL_REPS);
	printf("  %-40s %8s %9s %s\n", "pcv_flowtab_add", "ns/pkt", "Mpkt/s",
	       "records");
	printf("  %-40s %8.1f %9.2f %zu exact, %zu class, %.1f%% pkts "
	       "coarse\n", "corpus, max_flows 65536", ns_all,
	       1e3 / ns_all, st_all.flows, st_all.classes,
	       100.0 * (double)st_all.pkts_coarse / (double)st_all.pkts);
	printf("  %-40s %8.1f %9.2f %zu exact, %zu class, %.1f%% pkts "
	       "coarse\n", "corpus, max_flows 256 (table full)",
	       ns_flood, 1e3 / ns_flood, st_flood.flows, st_flood.classes,
	       100.0 * (double)st_flood.pkts_coarse / (double)st_flood.pkts);
	printf("  %-40s %8.1f %9.2f %zu exact, %zu class, %.1f%% pkts "
	       "coarse\n", "random 5-tuple flood, max_flows 65536",
	       ns_rand, 1e3 / ns_rand, st_rand.flows, st_rand.classes,
	       100.0 * (double)st_rand.pkts_coarse / (double)st_rand.pkts);
	printf("\n  index writes: %zu flushes of %d blocks x %d packets, "
	       "%zu flow rows per segment, %d segments, one transaction per "
	       "flush, WAL, synchronous=NORMAL\n", pl.n, FLUSH_BLOCKS,
	       BLOCK_PKTS, pl.rows, SEGMENTS);
	printf("  %-40s %8s %9s %s\n", "run", "rows", "rows/s",
	       "ours / this");
	for (int e = 0; e < ENG_COUNT; e++)
		printf("  %-40s %8zu %9.0f %.2f\n", names[e], rows,
		       (double)rows / best[e], best[ENG_INDEX] / best[e]);
	printf("  (ours / this: time ratio; above 1 means ours is slower)\n");

	plan_free(&pl);
	free(c.p);
	return 0;
}
