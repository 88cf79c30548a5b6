// SPDX-License-Identifier: MIT
/*
 * test_segment.c - unit tests of the segment files (pcv/segment.h,
 * storage/seg-*.c, storage/crc32c.c): CRC-32C vectors, file names and
 * their order, round trips of crafted packets and of a real capture,
 * sealed and unsealed segments, the zstd stream as a pcap file (through
 * the zstd CLI and tcpdump when installed), torn tails cut at every byte,
 * damaged bytes in blocks, block records, seek table and footer, "no
 * room" through RLIMIT_FSIZE, and bad options and inputs.
 *
 * Every file is written into a private directory under /tmp that the
 * suite's fini removes.  Criterion runs each test in its own process, so
 * a test may lower its own file size limit.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "pcv/segment.h"
#include "../common/tmpdir.h"
#include "../../../storage/storage-int.h"

#define NS 1000000000ull
#define T0 (1795490100ull * NS) /* 2026-11-24T03:15:00Z */

/* ===== temp directory ==================================================== */

static char tmpdir[64];

static void suite_init(void)
{
	tmpdir_make(tmpdir, sizeof(tmpdir), "segment");
}

static void suite_fini(void)
{
	tmpdir_remove(tmpdir);
}

TestSuite(segment, .init = suite_init, .fini = suite_fini, .timeout = 120);

static const char *tpath(const char *name)
{
	return tmpdir_path(tmpdir, name);
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0, "stat(%s): %s", path, strerror(errno));
	return (uint64_t)st.st_size;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;

	cr_assert_not_null(f, "fopen(%s): %s", path, strerror(errno));
	*len = file_size(path);
	buf = malloc(*len + 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

static void spit(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "fopen(%s): %s", path, strerror(errno));
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

/* ===== packets =========================================================== */

struct pkts {
	struct pcv_packet *p;
	uint8_t *arena;
	size_t n;
};

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/*
 * @n packets of up to @maxcap bytes (some empty, some cut short of their
 * wire length), 1 ms apart from T0 with a step backwards every 7th; the
 * bytes compress somewhat unless @noise.
 */
static void gen(struct pkts *ps, size_t n, uint32_t maxcap, uint32_t seed,
		bool noise)
{
	size_t off = 0;

	ps->n = n;
	ps->p = calloc(n, sizeof(*ps->p));
	ps->arena = malloc(n * (size_t)maxcap + 1);
	cr_assert(ps->p && ps->arena);
	for (size_t i = 0; i < n; i++) {
		struct pcv_packet *p = &ps->p[i];
		uint32_t cap = rnd(&seed) % (maxcap + 1);

		if (i % 11 == 3)
			cap = 0;
		if (i % 13 == 5)
			cap = maxcap;
		for (uint32_t k = 0; k < cap; k++)
			ps->arena[off + k] = noise ? (uint8_t)rnd(&seed)
						   : (uint8_t)("pcvseg"[rnd(&seed) % 6] + (k & 3));
		p->data = ps->arena + off;
		p->caplen = cap;
		p->len = cap + (i % 3 == 0 ? 60 : 0);
		p->ts_ns = T0 + i * 1000000ull + (i * 7919) % 1000;
		if (i % 7 == 6)
			p->ts_ns -= 5000000;
		off += cap;
	}
}

static void pkts_free(struct pkts *ps)
{
	free(ps->p);
	free(ps->arena);
}

/* What a reader delivered: copies. */
struct got {
	struct pcv_packet *p;
	uint8_t **data;
	size_t n, cap;
};

static void on_pkt(const struct pcv_packet *pkt, void *user)
{
	struct got *g = user;

	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 256;
		g->p = realloc(g->p, g->cap * sizeof(*g->p));
		g->data = realloc(g->data, g->cap * sizeof(*g->data));
		cr_assert(g->p && g->data);
	}
	g->data[g->n] = malloc(pkt->caplen + 1);
	memcpy(g->data[g->n], pkt->data, pkt->caplen);
	g->p[g->n] = *pkt;
	g->p[g->n].data = g->data[g->n];
	g->n++;
}

static void got_free(struct got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->data[i]);
	free(g->data);
	free(g->p);
	memset(g, 0, sizeof(*g));
}

static void same_packets(const struct pcv_packet *a, const struct pcv_packet *b,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(a[i].caplen, b[i].caplen, "packet %zu caplen %u/%u",
			     i, a[i].caplen, b[i].caplen);
		cr_assert_eq(a[i].len, b[i].len, "packet %zu len", i);
		cr_assert_eq(a[i].ts_ns, b[i].ts_ns, "packet %zu ts %llu/%llu", i,
			     (unsigned long long)a[i].ts_ns,
			     (unsigned long long)b[i].ts_ns);
		cr_assert_eq(memcmp(a[i].data, b[i].data, a[i].caplen), 0,
			     "packet %zu bytes", i);
	}
}

static struct pcv_seg_opts opts_small(uint32_t block_size)
{
	struct pcv_seg_opts o;

	pcv_seg_opts_init(&o);
	o.block_size = block_size;
	o.snaplen = 2048;
	o.fsync = false;
	return o;
}

/*
 * Write @ps to @path: flush after every @flush_every packets (0: never),
 * then seal or flush and abandon.
 */
static void write_seg(const char *path, const struct pcv_seg_opts *o,
		      const struct pkts *ps, size_t flush_every, bool seal)
{
	struct pcv_seg_writer *w;
	int rc = pcv_seg_writer_open(&w, path, o);

	cr_assert_eq(rc, 0, "writer_open(%s): %s", path, pcv_strerror(rc));
	for (size_t i = 0; i < ps->n; i++) {
		rc = pcv_seg_writer_add(w, &ps->p[i], NULL);
		cr_assert_eq(rc, 0, "add %zu: %s", i, pcv_seg_writer_errmsg(w));
		if (flush_every && (i + 1) % flush_every == 0)
			cr_assert_eq(pcv_seg_writer_flush(w), 0, "%s",
				     pcv_seg_writer_errmsg(w));
	}
	if (seal) {
		cr_assert_eq(pcv_seg_writer_seal(w), 0);
	} else {
		cr_assert_eq(pcv_seg_writer_flush(w), 0);
		pcv_seg_writer_abandon(w);
	}
}

static struct pcv_seg_reader *open_ok(const char *path)
{
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_seg_reader *r;
	int rc = pcv_seg_reader_open(&r, path, errbuf);

	cr_assert_eq(rc, 0, "reader_open(%s): %s: %s", path, pcv_err_name(rc),
		     errbuf);
	return r;
}

/* Every packet of every block, which must all read. */
static void read_all(struct pcv_seg_reader *r, struct got *g)
{
	size_t nb;

	pcv_seg_reader_blocks(r, &nb);
	for (size_t i = 0; i < nb; i++) {
		int n = pcv_seg_reader_read_block(r, i, on_pkt, g);

		cr_assert_geq(n, 1, "block %zu: %s", i, pcv_seg_reader_errmsg(r));
	}
}

static void check_roundtrip(const char *path, const struct pkts *ps)
{
	struct pcv_seg_reader *r = open_ok(path);
	struct got g = { 0 };

	read_all(r, &g);
	cr_assert_eq(g.n, ps->n, "read %zu packets, wrote %zu", g.n, ps->n);
	same_packets(g.p, ps->p, ps->n);
	got_free(&g);
	pcv_seg_reader_close(r);
}

static bool have(const char *cmd)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "command -v %s >/dev/null 2>&1", cmd);
	return system(buf) == 0;
}

/* ===== crc32c ============================================================ */

Test(segment, crc32c_vectors)
{
	uint8_t buf[32];

	cr_assert_eq(pcv__crc32c(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(pcv__crc32c_sw(0, "123456789", 9), 0xe3069283u);
	cr_assert_eq(pcv__crc32c(0, "", 0), 0);
	/* RFC 3720 (iSCSI), B.4 */
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(pcv__crc32c(0, buf, 32), 0x8a9136aau);
	cr_assert_eq(pcv__crc32c_sw(0, buf, 32), 0x8a9136aau);
	memset(buf, 0xff, sizeof(buf));
	cr_assert_eq(pcv__crc32c(0, buf, 32), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	cr_assert_eq(pcv__crc32c(0, buf, 32), 0x46dd794eu);
	cr_assert_eq(pcv__crc32c_sw(0, buf, 32), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	cr_assert_eq(pcv__crc32c(0, buf, 32), 0x113fdb5cu);
}

Test(segment, crc32c_parts_and_alignments)
{
	uint8_t buf[1100];
	uint32_t s = 7;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd(&s);
	for (size_t start = 0; start < 9; start++) {
		for (size_t len = 0; len + start <= sizeof(buf); len += 37) {
			uint32_t hw = pcv__crc32c(0, buf + start, len);
			uint32_t sw = pcv__crc32c_sw(0, buf + start, len);
			size_t half = len / 3;

			cr_assert_eq(hw, sw, "start %zu len %zu", start, len);
			cr_assert_eq(pcv__crc32c(pcv__crc32c(0, buf + start, half),
						 buf + start + half, len - half),
				     hw);
			cr_assert_eq(pcv__crc32c_sw(pcv__crc32c_sw(0, buf + start,
								   half),
						    buf + start + half, len - half),
				     hw);
		}
	}
}

/* ===== names ============================================================= */

Test(segment, name_format)
{
	char buf[256];
	int n;

	n = pcv_seg_name(buf, sizeof(buf), T0 + 123456789, "eth0", 0);
	cr_assert_str_eq(buf, "20261124T031500.123456789Z-eth0-q0.pcap.zst");
	cr_assert_eq(n, (int)strlen(buf));
	pcv_seg_name(buf, sizeof(buf), 0, NULL, 3);
	cr_assert_str_eq(buf, "19700101T000000.000000000Z-import-q3.pcap.zst");
	pcv_seg_name(buf, sizeof(buf), 5, "import", 12);
	cr_assert_str_eq(buf, "19700101T000000.000000005Z-import-q12.pcap.zst");
	pcv_seg_name(buf, sizeof(buf), T0, "en p/0:1..ü", 1);
	cr_assert_str_eq(buf, "20261124T031500.000000000Z-en_p_0_1.."
			      "__-q1.pcap.zst");
	pcv_seg_name(buf, sizeof(buf), 4294967295ull * NS + 999999999, "x", 0);
	cr_assert_str_eq(buf, "21060207T062815.999999999Z-x-q0.pcap.zst");
	/* the buffer must hold the name and its NUL */
	n = (int)strlen("20261124T031500.123456789Z-eth0-q0.pcap.zst");
	cr_assert_eq(pcv_seg_name(buf, (size_t)n + 1, T0, "eth0", 0), n);
	cr_assert_eq(pcv_seg_name(buf, (size_t)n, T0, "eth0", 0), -ENAMETOOLONG);
	{
		char big[300];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		cr_assert_eq(pcv_seg_name(buf, sizeof(buf), T0, big, 0),
			     -ENAMETOOLONG);
	}
}

Test(segment, names_sort_by_time)
{
	static const uint64_t ts[] = {
		0, 1, 999999999, NS, 59 * NS, 3600 * NS, 86399 * NS + 5,
		946684800 * NS, T0 - 1, T0, T0 + 1, T0 + NS,
		4294967295ull * NS + 999999999,
	};
	char prev[256] = "", cur[256];

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		cr_assert_gt(pcv_seg_name(cur, sizeof(cur), ts[i], "eth0", 0), 0);
		cr_assert_lt(strcmp(prev, cur), 0, "%s !< %s", prev, cur);
		strcpy(prev, cur);
	}
}

/* ===== round trips ======================================================= */

Test(segment, roundtrip_sealed_many_blocks)
{
	const char *path = tpath("a.pcap.zst");
	struct pcv_seg_opts o = opts_small(4096);
	const struct pcv_seg_block *wb, *rb;
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	size_t nw, nr, total = 0, closed_count = 0, before = 0;
	size_t flushed = SIZE_MAX; /* the block the flush closed */
	uint64_t off;
	struct pkts ps;

	gen(&ps, 2000, 700, 1, false);
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	for (size_t i = 0; i < ps.n; i++) {
		bool closed;

		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], &closed), 0);
		closed_count += closed;
		pcv_seg_writer_blocks(w, &nw);
		cr_assert_eq(nw, before + closed, "add %zu", i);
		before = nw;
		if (i == 1000) {
			cr_assert_eq(pcv_seg_writer_durable(w), 0);
			cr_assert_eq(pcv_seg_writer_flush(w), 0);
			pcv_seg_writer_blocks(w, &nw);
			cr_assert_eq(pcv_seg_writer_durable(w), nw);
			flushed = before == nw ? SIZE_MAX : nw - 1;
			before = nw;
		}
	}
	cr_assert_eq(pcv_seg_writer_flush(w), 0);
	wb = pcv_seg_writer_blocks(w, &nw);
	cr_assert_gt(nw, 100, "%zu blocks", nw);
	/* all closed by add, but for at most the two flushes */
	cr_assert_geq(nw, closed_count);
	cr_assert_leq(nw, closed_count + 2);
	struct pcv_seg_block *copy = malloc(nw * sizeof(*copy));
	memcpy(copy, wb, nw * sizeof(*copy));
	cr_assert_eq(pcv_seg_writer_seal(w), 0);

	r = open_ok(path);
	cr_assert(pcv_seg_reader_sealed(r));
	cr_assert_eq(pcv_seg_reader_torn(r), 0);
	cr_assert_eq(pcv_seg_reader_linktype(r), 1);
	cr_assert_eq(pcv_seg_reader_snaplen(r), 2048);
	rb = pcv_seg_reader_blocks(r, &nr);
	cr_assert_eq(nr, nw);
	cr_assert_eq(memcmp(rb, copy, nw * sizeof(*rb)), 0);
	off = rb[0].offset;
	for (size_t i = 0; i < nr; i++) {
		uint64_t lo = UINT64_MAX, hi = 0;

		cr_assert_eq(rb[i].seq, i);
		cr_assert_eq(rb[i].offset, off);
		/* a block closes at 4096 bytes, with the record that got there */
		cr_assert_lt(rb[i].raw_size, 4096 + 16 + 700);
		if (i + 1 < nr && i != flushed)
			cr_assert_geq(rb[i].raw_size, 4096, "block %zu", i);
		off += rb[i].comp_size + 88;
		for (size_t k = total; k < total + rb[i].npkts; k++) {
			lo = ps.p[k].ts_ns < lo ? ps.p[k].ts_ns : lo;
			hi = ps.p[k].ts_ns > hi ? ps.p[k].ts_ns : hi;
		}
		cr_assert_eq(rb[i].first_ns, lo, "block %zu first_ns", i);
		cr_assert_eq(rb[i].last_ns, hi, "block %zu last_ns", i);
		total += rb[i].npkts;
	}
	cr_assert_eq(total, ps.n);
	cr_assert_eq(pcv_seg_reader_read_block(r, nr, on_pkt, NULL), -EINVAL);
	pcv_seg_reader_close(r);
	free(copy);
	check_roundtrip(path, &ps);
	pkts_free(&ps);
}

Test(segment, roundtrip_unsealed)
{
	const char *path = tpath("u.pcap.zst");
	struct pcv_seg_opts o = opts_small(8192);
	struct pcv_seg_reader *r;
	size_t nb;
	struct pkts ps;

	gen(&ps, 999, 300, 2, false);
	write_seg(path, &o, &ps, 100, false);
	r = open_ok(path);
	cr_assert_not(pcv_seg_reader_sealed(r));
	cr_assert_eq(pcv_seg_reader_torn(r), 0);
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_gt(nb, 10);
	pcv_seg_reader_close(r);
	check_roundtrip(path, &ps);
	/* recover leaves a whole unsealed segment alone */
	cr_assert_eq(pcv_seg_recover(path, NULL), 0);
	pkts_free(&ps);
}

Test(segment, abandon_drops_the_open_block)
{
	const char *path = tpath("ab.pcap.zst");
	struct pcv_seg_opts o = opts_small(1 << 20);
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	size_t nb;
	struct pkts ps;

	gen(&ps, 50, 100, 3, false);
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	for (size_t i = 0; i < 20; i++)
		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), 0);
	cr_assert_eq(pcv_seg_writer_flush(w), 0);
	for (size_t i = 20; i < 50; i++)
		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), 0);
	pcv_seg_writer_abandon(w);
	pcv_seg_writer_abandon(NULL);
	r = open_ok(path);
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_eq(nb, 1);
	cr_assert_eq(pcv_seg_reader_blocks(r, &nb)[0].npkts, 20);
	pcv_seg_reader_close(r);
	pkts_free(&ps);
}

/* The recorder's hand-over: close the open block without waiting, then
 * make what is written durable from another thread. */
static void *sync_thread(void *arg)
{
	return (void *)(intptr_t)pcv_seg_writer_sync(arg);
}

Test(segment, close_block_then_sync)
{
	const char *path = tpath("cb.pcap.zst");
	struct pcv_seg_opts o = opts_small(1 << 20);
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	pthread_t t;
	void *ret;
	size_t nb;
	struct pkts ps;

	o.fsync = true;
	gen(&ps, 30, 100, 4, false);
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	cr_assert_eq(pcv_seg_writer_close_block(w), 0); /* nothing open */
	cr_assert_eq(pcv_seg_writer_block_seq(w), 0);
	for (size_t i = 0; i < 10; i++)
		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), 0);
	cr_assert_eq(pcv_seg_writer_written(w), 0);
	cr_assert_eq(pcv_seg_writer_close_block(w), 0);
	/* without a loop the block is compressed and written at once */
	cr_assert_eq(pcv_seg_writer_block_seq(w), 1);
	cr_assert_eq(pcv_seg_writer_written(w), 1);
	cr_assert_eq(pcv_seg_writer_durable(w), 0);
	cr_assert_eq(pthread_create(&t, NULL, sync_thread, w), 0);
	for (size_t i = 10; i < 30; i++) /* meanwhile, the next block */
		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), 0);
	pthread_join(t, &ret);
	cr_assert_eq((intptr_t)ret, 0);
	cr_assert_eq(pcv_seg_writer_seal(w), 0);
	r = open_ok(path);
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_eq(nb, 2);
	cr_assert_eq(pcv_seg_reader_blocks(r, &nb)[0].npkts, 10);
	cr_assert_eq(pcv_seg_reader_blocks(r, &nb)[1].npkts, 20);
	pcv_seg_reader_close(r);
	check_roundtrip(path, &ps);
	pkts_free(&ps);
}

Test(segment, empty_segments)
{
	const char *a = tpath("e1.pcap.zst"), *b = tpath("e2.pcap.zst");
	struct pcv_seg_opts o = opts_small(4096);
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	size_t nb;

	cr_assert_eq(pcv_seg_writer_open(&w, a, &o), 0);
	cr_assert_eq(pcv_seg_writer_seal(w), 0);
	cr_assert_eq(pcv_seg_writer_open(&w, b, &o), 0);
	pcv_seg_writer_abandon(w);
	r = open_ok(a);
	cr_assert(pcv_seg_reader_sealed(r));
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_eq(nb, 0);
	pcv_seg_reader_close(r);
	r = open_ok(b);
	cr_assert_not(pcv_seg_reader_sealed(r));
	cr_assert_eq(pcv_seg_reader_torn(r), 0);
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_eq(nb, 0);
	pcv_seg_reader_close(r);
}

Test(segment, big_packets_and_tiny_blocks)
{
	const char *path = tpath("big.pcap.zst");
	struct pcv_seg_opts o = opts_small(1);
	struct pcv_seg_reader *r;
	size_t nb;
	struct pkts ps;

	o.snaplen = 262144;
	gen(&ps, 40, 262144, 4, true);
	write_seg(path, &o, &ps, 0, true);
	r = open_ok(path);
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_eq(nb, 40, "one packet per block: %zu", nb);
	pcv_seg_reader_close(r);
	check_roundtrip(path, &ps);
	pkts_free(&ps);
}

Test(segment, raw_linktype_maps_to_101)
{
	const char *path = tpath("raw.pcap.zst");
	struct pcv_seg_opts o = opts_small(4096);
	struct pcv_seg_reader *r;
	struct pkts ps;
	size_t len;
	uint8_t *buf, pcap[24];

	o.linktype = DLT_RAW;
	gen(&ps, 10, 100, 5, false);
	write_seg(path, &o, &ps, 0, true);
	r = open_ok(path);
	cr_assert_eq(pcv_seg_reader_linktype(r), DLT_RAW);
	pcv_seg_reader_close(r);
	buf = slurp(path, &len);
	cr_assert_eq(ZSTD_decompress(pcap, sizeof(pcap), buf,
				     ZSTD_findFrameCompressedSize(buf, len)),
		     24);
	cr_assert_eq(pcv__get_le32(pcap), 0xa1b23c4du);
	cr_assert_eq(pcv__get_le32(pcap + 16), 2048);
	cr_assert_eq(pcv__get_le32(pcap + 20), 101);
	free(buf);
	pkts_free(&ps);
}

/* The corpus capture, through libpcap, into a segment of 1 MiB blocks. */
Test(segment, roundtrip_corpus_pcap)
{
	const char *dir = getenv("PCV_CORPUS") ? getenv("PCV_CORPUS")
					       : "../shared/corpus";
	const char *path = tpath("corpus.pcap.zst");
	char errbuf[PCAP_ERRBUF_SIZE], file[512];
	struct pcap_pkthdr *h;
	struct pcv_seg_opts o;
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	const u_char *data;
	struct got g = { 0 };
	size_t n = 0;
	pcap_t *p;

	snprintf(file, sizeof(file), "%s/mixed-small.pcap", dir);
	if (access(file, R_OK) != 0)
		cr_skip_test("%s not found (set PCV_CORPUS)", file);
	p = pcap_open_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO,
						    errbuf);
	cr_assert_not_null(p, "%s", errbuf);
	pcv_seg_opts_init(&o);
	o.linktype = pcap_datalink(p);
	o.fsync = false;
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	while (pcap_next_ex(p, &h, &data) == 1) {
		struct pcv_packet pkt = {
			.data = data,
			.caplen = h->caplen,
			.len = h->len,
			.ts_ns = (uint64_t)h->ts.tv_sec * NS + (uint64_t)h->ts.tv_usec,
		};

		cr_assert_eq(pcv_seg_writer_add(w, &pkt, NULL), 0, "%s",
			     pcv_seg_writer_errmsg(w));
		n++;
	}
	cr_assert_eq(pcv_seg_writer_seal(w), 0);
	pcap_close(p);

	r = open_ok(path);
	read_all(r, &g);
	pcv_seg_reader_close(r);
	cr_assert_eq(g.n, n);
	p = pcap_open_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO,
						    errbuf);
	for (size_t i = 0; pcap_next_ex(p, &h, &data) == 1; i++) {
		cr_assert_eq(g.p[i].caplen, h->caplen);
		cr_assert_eq(g.p[i].len, h->len);
		cr_assert_eq(g.p[i].ts_ns,
			     (uint64_t)h->ts.tv_sec * NS + (uint64_t)h->ts.tv_usec);
		cr_assert_eq(memcmp(g.p[i].data, data, h->caplen), 0);
	}
	pcap_close(p);
	got_free(&g);
}

/* The decompressed stream is exactly the pcap file of the packets. */
static void expect_pcap_stream(const uint8_t *s, size_t len,
			       const struct pkts *ps, uint32_t snaplen)
{
	size_t off = 24;

	cr_assert_geq(len, 24);
	cr_assert_eq(pcv__get_le32(s), 0xa1b23c4du);
	cr_assert_eq(pcv__get_le16(s + 4), 2);
	cr_assert_eq(pcv__get_le16(s + 6), 4);
	cr_assert_eq(pcv__get_le32(s + 16), snaplen);
	cr_assert_eq(pcv__get_le32(s + 20), 1);
	for (size_t i = 0; i < ps->n; i++) {
		const struct pcv_packet *p = &ps->p[i];

		cr_assert_leq(off + 16 + p->caplen, len);
		cr_assert_eq(pcv__get_le32(s + off), p->ts_ns / NS);
		cr_assert_eq(pcv__get_le32(s + off + 4), p->ts_ns % NS);
		cr_assert_eq(pcv__get_le32(s + off + 8), p->caplen);
		cr_assert_eq(pcv__get_le32(s + off + 12), p->len);
		cr_assert_eq(memcmp(s + off + 16, p->data, p->caplen), 0);
		off += 16 + p->caplen;
	}
	cr_assert_eq(off, len, "stream has %zu bytes, expected %zu", len, off);
}

Test(segment, zstd_stream_is_the_pcap)
{
	const char *seal = tpath("z1.pcap.zst"), *open_ = tpath("z2.pcap.zst");
	struct pcv_seg_opts o = opts_small(3000);
	size_t clen, len, total;
	uint8_t *c, *s;
	struct pkts ps;

	gen(&ps, 500, 400, 6, false);
	write_seg(seal, &o, &ps, 0, true);
	write_seg(open_, &o, &ps, 33, false);
	for (int k = 0; k < 2; k++) {
		c = slurp(k ? open_ : seal, &clen);
		/* every frame decompressed in turn, as zstd -d does */
		total = 0;
		s = malloc(4 << 20);
		for (size_t off = 0; off < clen;) {
			size_t fl = ZSTD_findFrameCompressedSize(c + off, clen - off);
			size_t n;

			cr_assert_not(ZSTD_isError(fl), "%s", ZSTD_getErrorName(fl));
			n = ZSTD_decompress(s + total, (4 << 20) - total, c + off, fl);
			cr_assert_not(ZSTD_isError(n), "%s", ZSTD_getErrorName(n));
			total += n;
			off += fl;
		}
		expect_pcap_stream(s, total, &ps, 2048);
		free(s);
		free(c);
	}
	if (!have("zstd")) {
		pkts_free(&ps);
		cr_skip_test("no zstd command");
	}
	for (int k = 0; k < 2; k++) {
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "zstd -q -d -c %s > %s/out.pcap",
			 k ? open_ : seal, tmpdir);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
		s = slurp(tpath("out.pcap"), &len);
		expect_pcap_stream(s, len, &ps, 2048);
		free(s);
	}
	pkts_free(&ps);
}

Test(segment, zstdcat_tcpdump_reads_it)
{
	const char *seg = tpath("t.pcap.zst");
	struct pcv_seg_opts o = opts_small(5000);
	char cmd[512], errbuf[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	struct pkts ps;
	pcap_t *p;
	size_t i;

	if (!have("zstdcat") || !have("tcpdump"))
		cr_skip_test("zstdcat or tcpdump missing");
	gen(&ps, 700, 600, 7, false);
	write_seg(seg, &o, &ps, 50, true);
	snprintf(cmd, sizeof(cmd),
		 "zstdcat %s | tcpdump --time-stamp-precision=nano -r - -w %s/td.pcap 2>/dev/null",
		 seg, tmpdir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	p = pcap_open_offline_with_tstamp_precision(tpath("td.pcap"),
						    PCAP_TSTAMP_PRECISION_NANO,
						    errbuf);
	cr_assert_not_null(p, "%s", errbuf);
	for (i = 0; pcap_next_ex(p, &h, &data) == 1; i++) {
		cr_assert_lt(i, ps.n);
		cr_assert_eq(h->caplen, ps.p[i].caplen);
		cr_assert_eq(h->len, ps.p[i].len);
		cr_assert_eq((uint64_t)h->ts.tv_sec * NS + (uint64_t)h->ts.tv_usec,
			     ps.p[i].ts_ns);
		cr_assert_eq(memcmp(data, ps.p[i].data, h->caplen), 0);
	}
	cr_assert_eq(i, ps.n);
	pcap_close(p);
	pkts_free(&ps);
}

/* ===== torn tails ======================================================== */

/*
 * Cut a copy of @src at every offset in [@from, @to) and check that the
 * reader keeps exactly @keep blocks and recover cuts back to @end.
 */
static void cut_everywhere(const char *src, uint64_t from, uint64_t to,
			   size_t keep, uint64_t end, const struct pkts *ps,
			   size_t keep_pkts)
{
	const char *cut = tpath("cut.pcap.zst");
	size_t len;
	uint8_t *buf = slurp(src, &len);

	for (uint64_t at = from; at < to; at++) {
		struct pcv_seg_reader *r;
		struct got g = { 0 };
		size_t nb;
		int64_t removed;

		spit(cut, buf, at);
		r = open_ok(cut);
		pcv_seg_reader_blocks(r, &nb);
		cr_assert_eq(nb, keep, "cut at %llu: %zu blocks, want %zu",
			     (unsigned long long)at, nb, keep);
		cr_assert_eq(pcv_seg_reader_torn(r), at - end, "cut at %llu",
			     (unsigned long long)at);
		cr_assert_not(pcv_seg_reader_sealed(r));
		read_all(r, &g);
		cr_assert_eq(g.n, keep_pkts);
		same_packets(g.p, ps->p, keep_pkts);
		got_free(&g);
		pcv_seg_reader_close(r);

		removed = pcv_seg_recover(cut, NULL);
		cr_assert_eq(removed, (int64_t)(at - end), "recover at %llu: %lld",
			     (unsigned long long)at, (long long)removed);
		cr_assert_eq(file_size(cut), end);
		r = open_ok(cut);
		cr_assert_eq(pcv_seg_reader_torn(r), 0);
		pcv_seg_reader_blocks(r, &nb);
		cr_assert_eq(nb, keep);
		pcv_seg_reader_close(r);
		cr_assert_eq(pcv_seg_recover(cut, NULL), 0);
	}
	free(buf);
}

Test(segment, torn_last_block_at_every_byte)
{
	const char *path = tpath("torn.pcap.zst");
	struct pcv_seg_opts o = opts_small(1 << 20);
	const struct pcv_seg_block *b;
	struct pcv_seg_reader *r;
	size_t nb, before = 0;
	uint64_t end;
	struct pkts ps;

	gen(&ps, 60, 80, 8, true);
	write_seg(path, &o, &ps, 20, false); /* 3 blocks of 20 */
	r = open_ok(path);
	b = pcv_seg_reader_blocks(r, &nb);
	cr_assert_eq(nb, 3);
	end = b[2].offset;
	for (size_t i = 0; i < 2; i++)
		before += b[i].npkts;
	cr_assert_eq(file_size(path), b[2].offset + b[2].comp_size + 88);
	pcv_seg_reader_close(r);
	cut_everywhere(path, end, file_size(path), 2, end, &ps, before);
	/* the first block region too, down to no block at all */
	r = open_ok(path);
	b = pcv_seg_reader_blocks(r, &nb);
	cut_everywhere(path, b[0].offset, b[1].offset, 0, b[0].offset, &ps, 0);
	pcv_seg_reader_close(r);
	pkts_free(&ps);
}

Test(segment, torn_seek_table_at_every_byte)
{
	const char *path = tpath("tornidx.pcap.zst");
	struct pcv_seg_opts o = opts_small(2000);
	const struct pcv_seg_block *b;
	struct pcv_seg_reader *r;
	size_t nb;
	uint64_t end;
	struct pkts ps;

	gen(&ps, 100, 90, 9, false);
	write_seg(path, &o, &ps, 0, true);
	r = open_ok(path);
	cr_assert(pcv_seg_reader_sealed(r));
	b = pcv_seg_reader_blocks(r, &nb);
	end = b[nb - 1].offset + b[nb - 1].comp_size + 88;
	pcv_seg_reader_close(r);
	cut_everywhere(path, end, file_size(path), nb, end, &ps, ps.n);
	pkts_free(&ps);
}

Test(segment, torn_header)
{
	const char *path = tpath("h.pcap.zst"), *cut = tpath("hcut.pcap.zst");
	struct pcv_seg_opts o = opts_small(2000);
	struct pcv_seg_reader *r;
	uint64_t start;
	size_t len, nb;
	uint8_t *buf;
	struct pkts ps;

	gen(&ps, 10, 90, 10, false);
	write_seg(path, &o, &ps, 0, false);
	r = open_ok(path);
	start = pcv_seg_reader_blocks(r, &nb)[0].offset;
	pcv_seg_reader_close(r);
	buf = slurp(path, &len);
	for (uint64_t at = 0; at < start; at++) {
		int rc;

		spit(cut, buf, at);
		rc = pcv_seg_reader_open(&r, cut, NULL);
		cr_assert(rc == PCV_ECORRUPT || rc == PCV_EFORMAT,
			  "cut at %llu: %d", (unsigned long long)at, rc);
		cr_assert_null(r);
		cr_assert_eq(pcv_seg_recover(cut, NULL), rc);
	}
	free(buf);
	pkts_free(&ps);
}

Test(segment, recover_refuses_damage_in_the_middle)
{
	const char *path = tpath("mid.pcap.zst");
	struct pcv_seg_opts o = opts_small(256);
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_seg_reader *r;
	uint8_t junk[20000];
	uint64_t size;
	struct pkts ps;
	size_t nb;
	FILE *f;

	o.snaplen = 100;
	gen(&ps, 30, 100, 11, false);
	write_seg(path, &o, &ps, 0, false);
	memset(junk, 0x5a, sizeof(junk));
	f = fopen(path, "ab");
	fwrite(junk, 1, sizeof(junk), f);
	fclose(f);
	size = file_size(path);
	r = open_ok(path);
	cr_assert_eq(pcv_seg_reader_torn(r), sizeof(junk));
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_gt(nb, 3);
	pcv_seg_reader_close(r);
	cr_assert_eq(pcv_seg_recover(path, errbuf), PCV_ECORRUPT);
	cr_assert_not_null(strstr(errbuf, "not truncating"), "%s", errbuf);
	cr_assert_eq(file_size(path), size);
	pkts_free(&ps);
}

/* ===== damage ============================================================ */

/*
 * Flip one bit in every byte of block 1's frame in turn.  The block must
 * fail with PCV_ECORRUPT before delivering a packet, while the others
 * read; except that a few bits of a zstd frame change nothing decoded
 * (reserved bits decoders ignore): then the block must read back whole
 * and unchanged.
 */
Test(segment, flipped_byte_in_a_block)
{
	const char *path = tpath("flip.pcap.zst"), *bad = tpath("bad.pcap.zst");
	struct pcv_seg_opts o = opts_small(3000);
	struct pcv_seg_block b0, b1;
	struct pcv_seg_reader *r;
	size_t len, nb, corrupt = 0;
	uint8_t *buf;
	struct pkts ps;

	gen(&ps, 300, 120, 12, false);
	write_seg(path, &o, &ps, 0, true);
	r = open_ok(path);
	pcv_seg_reader_blocks(r, &nb);
	cr_assert_geq(nb, 3);
	b0 = pcv_seg_reader_blocks(r, &nb)[0];
	b1 = pcv_seg_reader_blocks(r, &nb)[1];
	pcv_seg_reader_close(r);
	buf = slurp(path, &len);
	for (uint64_t at = b1.offset; at < b1.offset + b1.comp_size; at++) {
		struct got g = { 0 };
		int rc;

		buf[at] ^= 0x20;
		spit(bad, buf, len);
		buf[at] ^= 0x20;
		r = open_ok(bad);
		cr_assert(pcv_seg_reader_sealed(r));
		rc = pcv_seg_reader_read_block(r, 1, on_pkt, &g);
		if (rc == PCV_ECORRUPT) {
			corrupt++;
			cr_assert_eq(g.n, 0, "flip at +%llu: packets delivered "
				     "from a bad block",
				     (unsigned long long)(at - b1.offset));
			cr_assert_neq(pcv_seg_reader_errmsg(r)[0], '\0');
		} else {
			cr_assert_eq(rc, (int)b1.npkts, "flip at +%llu: %d",
				     (unsigned long long)(at - b1.offset), rc);
			same_packets(g.p, ps.p + b0.npkts, b1.npkts);
		}
		for (size_t i = 0; i < nb; i++)
			if (i != 1)
				cr_assert_gt(pcv_seg_reader_read_block(r, i, on_pkt,
								       &g), 0);
		got_free(&g);
		pcv_seg_reader_close(r);
	}
	cr_assert_geq(corrupt * 100, b1.comp_size * 97ull,
		      "only %zu of %u flips detected", corrupt, b1.comp_size);
	free(buf);
	pkts_free(&ps);
}

Test(segment, flipped_byte_in_footer_or_table_walks)
{
	const char *path = tpath("ft.pcap.zst"), *bad = tpath("ftbad.pcap.zst");
	struct pcv_seg_opts o = opts_small(3000);
	const struct pcv_seg_block *b;
	struct pcv_seg_reader *r;
	size_t len, nb, want;
	uint64_t table;
	uint8_t *buf;
	struct pkts ps;

	gen(&ps, 300, 120, 13, false);
	write_seg(path, &o, &ps, 0, true);
	r = open_ok(path);
	b = pcv_seg_reader_blocks(r, &want);
	table = b[want - 1].offset + b[want - 1].comp_size + 88;
	pcv_seg_reader_close(r);
	buf = slurp(path, &len);
	/* every byte of the seek table frame, footer included */
	for (uint64_t at = table; at < len; at++) {
		buf[at] ^= 0x01;
		spit(bad, buf, len);
		buf[at] ^= 0x01;
		r = open_ok(bad);
		cr_assert_not(pcv_seg_reader_sealed(r), "flip at %llu",
			      (unsigned long long)at);
		pcv_seg_reader_blocks(r, &nb);
		cr_assert_eq(nb, want, "flip at %llu: %zu blocks",
			     (unsigned long long)at, nb);
		/* a whole seek table frame (damaged after its tag) is not a
		 * torn tail ... */
		if (at >= table + 16)
			cr_assert_eq(pcv_seg_reader_torn(r), 0);
		pcv_seg_reader_close(r);
	}
	/* ... and the blocks still read */
	buf[len - 1] ^= 0xff;
	spit(bad, buf, len);
	check_roundtrip(bad, &ps);
	cr_assert_eq(pcv_seg_recover(bad, NULL), 0);
	free(buf);
	pkts_free(&ps);
}

Test(segment, flipped_byte_in_a_block_record)
{
	const char *path = tpath("rec.pcap.zst"), *bad = tpath("recbad.pcap.zst");
	struct pcv_seg_opts o = opts_small(3000);
	struct pcv_seg_block b1;
	struct pcv_seg_reader *r;
	size_t len, nb;
	uint8_t *buf;
	struct pkts ps;

	gen(&ps, 300, 120, 14, false);
	write_seg(path, &o, &ps, 0, false);
	r = open_ok(path);
	b1 = pcv_seg_reader_blocks(r, &nb)[1];
	pcv_seg_reader_close(r);
	buf = slurp(path, &len);
	/* the record's CRC covers every byte, reserved ones too: any flipped
	 * bit ends the walk after block 0 */
	for (uint64_t at = b1.offset + b1.comp_size;
	     at < b1.offset + b1.comp_size + 88; at++) {
		buf[at] ^= 0x04;
		spit(bad, buf, len);
		buf[at] ^= 0x04;
		r = open_ok(bad);
		pcv_seg_reader_blocks(r, &nb);
		cr_assert_eq(nb, 1, "flip at %llu: %zu blocks",
			     (unsigned long long)at, nb);
		cr_assert_eq(pcv_seg_reader_torn(r), len - b1.offset);
		pcv_seg_reader_close(r);
	}
	free(buf);
	pkts_free(&ps);
}

Test(segment, not_a_segment)
{
	static const uint8_t pcap[24] = { 0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0 };
	const char *path = tpath("np");
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_seg_reader *r;
	uint8_t z[256];
	size_t n;

	spit(path, pcap, sizeof(pcap));
	cr_assert_eq(pcv_seg_reader_open(&r, path, errbuf), PCV_EFORMAT);
	cr_assert_null(r);
	cr_assert_not_null(strstr(errbuf, "not a segment"), "%s", errbuf);
	spit(path, pcap, 0);
	cr_assert_eq(pcv_seg_reader_open(&r, path, errbuf), PCV_EFORMAT);
	/* a plain zstd file of a pcap */
	n = ZSTD_compress(z, sizeof(z), pcap, sizeof(pcap), 3);
	spit(path, z, n);
	cr_assert_eq(pcv_seg_reader_open(&r, path, errbuf), PCV_EFORMAT);
	cr_assert_eq(pcv_seg_reader_open(&r, tpath("nonexistent"), errbuf),
		     -ENOENT);
	cr_assert_eq(pcv_seg_reader_open(&r, tmpdir, errbuf), PCV_EFORMAT);
}

Test(segment, unknown_version_is_format_error)
{
	const char *path = tpath("v.pcap.zst");
	struct pcv_seg_opts o = opts_small(3000);
	struct pcv_seg_reader *r;
	size_t len, at;
	uint8_t *buf;
	struct pkts ps;

	gen(&ps, 10, 50, 15, false);
	write_seg(path, &o, &ps, 0, true);
	buf = slurp(path, &len);
	at = ZSTD_findFrameCompressedSize(buf, len) + 8;
	cr_assert_eq(memcmp(buf + at, "PCVSEG01", 8), 0);
	pcv__put_le16(buf + at + 8, 2);
	pcv__put_le32(buf + at + 60, pcv__crc32c(0, buf + at, 60));
	spit(path, buf, len);
	cr_assert_eq(pcv_seg_reader_open(&r, path, NULL), PCV_EFORMAT);
	buf[at + 20] ^= 1; /* and without fixing the CRC: corrupt */
	spit(path, buf, len);
	cr_assert_eq(pcv_seg_reader_open(&r, path, NULL), PCV_ECORRUPT);
	free(buf);
	pkts_free(&ps);
}

/* ===== no room =========================================================== */

Test(segment, file_size_limit_keeps_whole_blocks)
{
	const char *path = tpath("full.pcap.zst");
	struct pcv_seg_opts o = opts_small(4000);
	const struct pcv_seg_block *b;
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	struct rlimit rl;
	size_t nb, stored = 0, i;
	struct got g = { 0 };
	struct pkts ps;
	int rc = 0;

	signal(SIGXFSZ, SIG_IGN);
	gen(&ps, 3000, 200, 16, true);
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = 50000;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < ps.n; i++) {
		rc = pcv_seg_writer_add(w, &ps.p[i], NULL);
		if (rc < 0)
			break;
	}
	cr_assert_eq(rc, -ENOSPC, "add %zu: %d", i, rc);
	cr_assert_not_null(strstr(pcv_seg_writer_errmsg(w), "File too large"),
			   "%s", pcv_seg_writer_errmsg(w));
	b = pcv_seg_writer_blocks(w, &nb);
	cr_assert_gt(nb, 3);
	cr_assert_eq(file_size(path), b[nb - 1].offset + b[nb - 1].comp_size + 88);
	cr_assert_leq(file_size(path), 50000);
	for (size_t k = 0; k < nb; k++)
		stored += b[k].npkts;
	/* still no room: the packet is refused again, flush and seal fail */
	cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), -ENOSPC);
	cr_assert_eq(pcv_seg_writer_flush(w), -ENOSPC);
	/* what is on disk is a valid segment of the whole blocks */
	r = open_ok(path);
	cr_assert_eq(pcv_seg_reader_torn(r), 0);
	read_all(r, &g);
	cr_assert_eq(g.n, stored);
	same_packets(g.p, ps.p, stored);
	got_free(&g);
	pcv_seg_reader_close(r);

	/* room again: the buffered block is written, then the rest */
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (; i < ps.n; i++)
		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), 0, "%s",
			     pcv_seg_writer_errmsg(w));
	cr_assert_eq(pcv_seg_writer_seal(w), 0);
	check_roundtrip(path, &ps);
	pkts_free(&ps);
}

Test(segment, seal_without_room_leaves_an_unsealed_segment)
{
	const char *path = tpath("full2.pcap.zst");
	struct pcv_seg_opts o = opts_small(4000);
	struct pcv_seg_writer *w;
	struct pcv_seg_reader *r;
	struct rlimit rl;
	struct got g = { 0 };
	struct pkts ps;
	size_t nb;

	signal(SIGXFSZ, SIG_IGN);
	gen(&ps, 400, 200, 17, true);
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	for (size_t i = 0; i < ps.n; i++)
		cr_assert_eq(pcv_seg_writer_add(w, &ps.p[i], NULL), 0);
	cr_assert_eq(pcv_seg_writer_flush(w), 0);
	pcv_seg_writer_blocks(w, &nb);
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &rl), 0);
	rl.rlim_cur = file_size(path) + 10;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	cr_assert_eq(pcv_seg_writer_seal(w), -ENOSPC);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	r = open_ok(path);
	cr_assert_not(pcv_seg_reader_sealed(r));
	cr_assert_eq(pcv_seg_reader_torn(r), 0);
	read_all(r, &g);
	cr_assert_eq(g.n, ps.n);
	got_free(&g);
	pcv_seg_reader_close(r);
	pkts_free(&ps);
}

/* ===== bad options and packets =========================================== */

Test(segment, bad_options_and_packets)
{
	const char *path = tpath("opts.pcap.zst");
	struct pcv_seg_opts o = opts_small(4096);
	struct pcv_seg_writer *w = (void *)1;
	uint8_t data[3000] = { 0 };
	struct pcv_packet p = { .data = data, .caplen = 10, .len = 10, .ts_ns = T0 };

	o.linktype = 147; /* LINKTYPE_USER0: fine */
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), 0);
	pcv_seg_writer_abandon(w);
	cr_assert_eq(pcv_seg_writer_open(&w, path, &o), -EEXIST);
	cr_assert_null(w);
	o.linktype = 12345;
	cr_assert_eq(pcv_seg_writer_open(&w, tpath("o2"), &o), PCV_ELINKTYPE);
	o = opts_small(4096);
	o.snaplen = 0;
	cr_assert_eq(pcv_seg_writer_open(&w, tpath("o2"), &o), -EINVAL);
	o = opts_small(0);
	cr_assert_eq(pcv_seg_writer_open(&w, tpath("o2"), &o), -EINVAL);
	o = opts_small(4096);
	o.level = 1000;
	cr_assert_eq(pcv_seg_writer_open(&w, tpath("o2"), &o), -EINVAL);
	cr_assert_eq(pcv_seg_writer_open(&w, tpath("nodir/x"), NULL), -ENOENT);
	cr_assert_neq(access(tpath("o2"), F_OK), 0);

	o = opts_small(4096);
	cr_assert_eq(pcv_seg_writer_open(&w, tpath("o3"), &o), 0);
	p.caplen = 2049;
	cr_assert_eq(pcv_seg_writer_add(w, &p, NULL), -EINVAL);
	cr_assert_not_null(strstr(pcv_seg_writer_errmsg(w), "snaplen"));
	p.caplen = 10;
	p.ts_ns = 4294967296ull * NS;
	cr_assert_eq(pcv_seg_writer_add(w, &p, NULL), -ERANGE);
	p.ts_ns = 4294967295ull * NS + 999999999;
	cr_assert_eq(pcv_seg_writer_add(w, &p, NULL), 0);
	cr_assert_eq(pcv_seg_writer_seal(w), 0);
	cr_assert_eq(pcv_seg_writer_seal(NULL), -EINVAL);
}
