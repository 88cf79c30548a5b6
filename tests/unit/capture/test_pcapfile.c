// SPDX-License-Identifier: MIT
/*
 * test_pcapfile.c - unit tests of the capture API (include/pcv/pcv.h) on
 * the pcapfile backend (capture/cap-pcapfile.c): classic pcap in both byte
 * orders with µs and ns timestamps, pcapng with several interfaces and
 * timestamp resolutions, damaged and truncated files, source and config
 * checks, snaplen, pcv_breakloop, userspace BPF filters, statistics, big
 * records that overflow the copy arena, and reading from stdin and pipes.
 *
 * Every capture file is written here, byte by byte, with each field put
 * explicitly big- or little-endian, into a private directory under /tmp
 * that the suite's fini removes.  Criterion runs each test in its own
 * process, so tests may dup2() onto fd 0.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcv/pcv.h"
#include "../common/tmpdir.h"

#define NS 1000000000ull
#define LT_EN10MB 1     /* LINKTYPE_ETHERNET == DLT_EN10MB */
#define LT_RAW 101      /* LINKTYPE_RAW; libpcap reports DLT_RAW */
#define DLT_RAW_LINUX 12
#define MAXSNAP 262144u

/* ===== temp directory ==================================================== */

static char tmpdir[64];

static void suite_init(void)
{
	tmpdir_make(tmpdir, sizeof(tmpdir), "pcapfile");
}

static void suite_fini(void)
{
	tmpdir_remove(tmpdir);
}

TestSuite(pcapfile, .init = suite_init, .fini = suite_fini, .timeout = 30);

/* A path in the temp dir.  The result lives in one of a few static slots. */
static const char *tpath(const char *name)
{
	return tmpdir_path(tmpdir, name);
}

static const char *write_file(const char *name, const void *data, size_t len)
{
	const char *path = tpath(name);
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "fopen(%s): %s", path, strerror(errno));
	if (len)
		cr_assert_eq(fwrite(data, 1, len, f), len, "write %s", path);
	cr_assert_eq(fclose(f), 0);
	return path;
}

/* ===== a byte buffer with explicit byte order ============================ */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool be; /* multi-byte fields big-endian */
};

static void wb_reserve(struct wbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;

	if (b->len + n <= b->cap)
		return;
	while (cap < b->len + n)
		cap *= 2;
	b->p = realloc(b->p, cap);
	cr_assert_not_null(b->p);
	b->cap = cap;
}

static void wb_bytes(struct wbuf *b, const void *src, size_t n)
{
	wb_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void wb_zero(struct wbuf *b, size_t n)
{
	wb_reserve(b, n);
	memset(b->p + b->len, 0, n);
	b->len += n;
}

static void wb_u8(struct wbuf *b, uint8_t v)
{
	wb_bytes(b, &v, 1);
}

static void wb_u16(struct wbuf *b, uint16_t v)
{
	uint8_t x[2];

	if (b->be) {
		x[0] = (uint8_t)(v >> 8);
		x[1] = (uint8_t)v;
	} else {
		x[0] = (uint8_t)v;
		x[1] = (uint8_t)(v >> 8);
	}
	wb_bytes(b, x, 2);
}

static void put32(uint8_t *x, uint32_t v, bool be)
{
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (be ? 24 - 8 * i : 8 * i));
}

static void wb_u32(struct wbuf *b, uint32_t v)
{
	uint8_t x[4];

	put32(x, v, b->be);
	wb_bytes(b, x, 4);
}

static void wb_u64(struct wbuf *b, uint64_t v)
{
	if (b->be) {
		wb_u32(b, (uint32_t)(v >> 32));
		wb_u32(b, (uint32_t)v);
	} else {
		wb_u32(b, (uint32_t)v);
		wb_u32(b, (uint32_t)(v >> 32));
	}
}

static void wb_free(struct wbuf *b)
{
	free(b->p);
	*b = (struct wbuf){ 0 };
}

/* ===== test packets ====================================================== */

struct tpkt {
	uint64_t ts_ns;  /* expected back, in ns */
	uint32_t caplen; /* in the file */
	uint32_t len;
	uint32_t iface;  /* pcapng: the EPB's interface */
	uint64_t raw_ts; /* pcapng: the EPB's timestamp in interface units */
	uint8_t *data;
};

static void fill_pattern(uint8_t *d, uint32_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 12345;

	for (uint32_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		d[i] = (uint8_t)x;
	}
}

static void tpkt_set_data(struct tpkt *p, uint32_t caplen, uint32_t len,
			  uint32_t seed)
{
	p->caplen = caplen;
	p->len = len;
	p->data = malloc(caplen ? caplen : 1);
	cr_assert_not_null(p->data);
	fill_pattern(p->data, caplen, seed);
}

static void tpkts_free(struct tpkt *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].data);
	free(p);
}

/*
 * @n packets of varied sizes (1 byte to 9000, a caplen of 0, snapped ones)
 * and timestamps.  @nano: nanosecond fractions, else whole microseconds.
 */
static struct tpkt *mkpkts(size_t n, bool nano)
{
	static const uint32_t secs[] = { 0, 1, 1700000000u, 0x7fff0000u,
					 1234567890u, 86400u };
	static const uint32_t sizes[][2] = {
		{ 60, 60 }, { 1514, 1514 }, { 1, 1 }, { 0, 60 },
		{ 9000, 9000 }, { 128, 1500 }, { 333, 333 }, { 64, 65535 },
	};
	struct tpkt *p = calloc(n, sizeof(*p));

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++) {
		uint64_t frac = (i * 123456789ull + 7) % NS;
		const uint32_t *sz = sizes[i % 8];

		if (i == 2)
			frac = NS - 1;
		if (i == 3)
			frac = 0;
		if (!nano)
			frac -= frac % 1000;
		p[i].ts_ns = (uint64_t)(secs[i % 6] + (uint32_t)(i / 6)) * NS +
			     frac;
		tpkt_set_data(&p[i], sz[0], sz[1], (uint32_t)i + 1);
	}
	return p;
}

/* ===== classic pcap ====================================================== */

static void pcap_hdr(struct wbuf *b, bool nano, uint32_t snaplen,
		     uint32_t linktype)
{
	wb_u32(b, nano ? 0xa1b23c4d : 0xa1b2c3d4);
	wb_u16(b, 2);
	wb_u16(b, 4);
	wb_u32(b, 0); /* thiszone */
	wb_u32(b, 0); /* sigfigs */
	wb_u32(b, snaplen);
	wb_u32(b, linktype);
}

static void pcap_rec_hdr(struct wbuf *b, bool nano, uint64_t ts_ns,
			 uint32_t caplen, uint32_t len)
{
	wb_u32(b, (uint32_t)(ts_ns / NS));
	wb_u32(b, (uint32_t)(nano ? ts_ns % NS : ts_ns % NS / 1000));
	wb_u32(b, caplen);
	wb_u32(b, len);
}

static void pcap_rec(struct wbuf *b, bool nano, const struct tpkt *p)
{
	pcap_rec_hdr(b, nano, p->ts_ns, p->caplen, p->len);
	wb_bytes(b, p->data, p->caplen);
}

/* A whole file.  @offs, if not NULL, gets each record header's offset. */
static void pcap_build(struct wbuf *b, bool be, bool nano, uint32_t linktype,
		       uint32_t snaplen, const struct tpkt *p, size_t n,
		       size_t *offs)
{
	b->be = be;
	pcap_hdr(b, nano, snaplen, linktype);
	for (size_t i = 0; i < n; i++) {
		if (offs)
			offs[i] = b->len;
		pcap_rec(b, nano, &p[i]);
	}
}

/* ===== pcapng ============================================================ */

static size_t ng_begin(struct wbuf *b, uint32_t type)
{
	size_t start = b->len;

	wb_u32(b, type);
	wb_u32(b, 0); /* total length, patched by ng_end() */
	return start;
}

static void ng_pad(struct wbuf *b)
{
	wb_zero(b, (4 - b->len % 4) % 4);
}

static void ng_end(struct wbuf *b, size_t start)
{
	uint32_t total;

	ng_pad(b);
	total = (uint32_t)(b->len - start + 4);
	wb_u32(b, total);
	put32(b->p + start + 4, total, b->be);
}

static void ng_shb(struct wbuf *b)
{
	size_t s = ng_begin(b, 0x0a0d0d0a);

	wb_u32(b, 0x1a2b3c4d);
	wb_u16(b, 1);
	wb_u16(b, 0);
	wb_u64(b, UINT64_MAX); /* section length: not given */
	ng_end(b, s);
}

/* @tsresol: the if_tsresol option byte, or -1 for none (µs). */
static void ng_idb(struct wbuf *b, uint16_t linktype, uint32_t snaplen,
		   int tsresol)
{
	size_t s = ng_begin(b, 1);

	wb_u16(b, linktype);
	wb_u16(b, 0);
	wb_u32(b, snaplen);
	if (tsresol >= 0) {
		wb_u16(b, 9); /* if_tsresol */
		wb_u16(b, 1);
		wb_u8(b, (uint8_t)tsresol);
		ng_pad(b);
		wb_u16(b, 0); /* opt_endofopt */
		wb_u16(b, 0);
	}
	ng_end(b, s);
}

static void ng_epb(struct wbuf *b, const struct tpkt *p)
{
	size_t s = ng_begin(b, 6);

	wb_u32(b, p->iface);
	wb_u32(b, (uint32_t)(p->raw_ts >> 32));
	wb_u32(b, (uint32_t)p->raw_ts);
	wb_u32(b, p->caplen);
	wb_u32(b, p->len);
	wb_bytes(b, p->data, p->caplen);
	ng_end(b, s);
}

/* Units per second of an if_tsresol byte (-1: the default, µs). */
static uint64_t tsres_units(int tsresol)
{
	uint64_t u = 1;

	if (tsresol < 0)
		return 1000000;
	if (tsresol & 0x80)
		return 1ull << (tsresol & 0x7f);
	for (int i = 0; i < tsresol; i++)
		u *= 10;
	return u;
}

/* libpcap's conversion to ns: whole seconds, then the fraction scaled by
 * multiplying first and dividing after, which rounds down. */
static uint64_t units_to_ns(uint64_t raw, uint64_t units)
{
	return raw / units * NS + raw % units * NS / units;
}

/* ===== collecting what the API delivers =================================== */

struct got_pkt {
	uint8_t *data;
	uint32_t caplen, len;
	uint64_t ts_ns;
};

struct coll {
	struct got_pkt *p;
	size_t n, cap;
	size_t nbatches;
	uint32_t max_batch;
	bool empty_batch;
	uint64_t max_batch_bytes;
	struct pcv_handle *h;
	size_t break_at_pkt;   /* pcv_breakloop() once n reaches this */
	size_t break_at_batch; /* pcv_breakloop() once nbatches reaches this */
};

static void coll_add(struct coll *c, const struct pcv_packet *pkt)
{
	struct got_pkt *g;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->p = realloc(c->p, c->cap * sizeof(*c->p));
		cr_assert_not_null(c->p);
	}
	g = &c->p[c->n++];
	g->caplen = pkt->caplen;
	g->len = pkt->len;
	g->ts_ns = pkt->ts_ns;
	g->data = malloc(pkt->caplen ? pkt->caplen : 1);
	cr_assert_not_null(g->data);
	if (pkt->caplen) {
		cr_assert_not_null(pkt->data);
		memcpy(g->data, pkt->data, pkt->caplen);
	}
}

static void on_pkt(const struct pcv_packet *pkt, void *user)
{
	struct coll *c = user;

	coll_add(c, pkt);
	if (c->break_at_pkt && c->n == c->break_at_pkt)
		pcv_breakloop(c->h);
}

static void on_batch(const struct pcv_batch *b, void *user)
{
	struct coll *c = user;
	uint64_t bytes = 0;

	c->nbatches++;
	if (b->count == 0)
		c->empty_batch = true;
	if (b->count > c->max_batch)
		c->max_batch = b->count;
	for (uint32_t i = 0; i < b->count; i++) {
		coll_add(c, &b->pkts[i]);
		bytes += b->pkts[i].caplen;
	}
	if (bytes > c->max_batch_bytes)
		c->max_batch_bytes = bytes;
	if (c->break_at_batch && c->nbatches == c->break_at_batch)
		pcv_breakloop(c->h);
}

static void coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->p[i].data);
	free(c->p);
	*c = (struct coll){ 0 };
}

static uint64_t sum_caplen(const struct coll *c)
{
	uint64_t s = 0;

	for (size_t i = 0; i < c->n; i++)
		s += c->p[i].caplen;
	return s;
}

/* got[from + i] must be want[i] for i < n, caplen clipped to @snaplen. */
static void expect_pkts(const struct coll *c, size_t from,
			const struct tpkt *want, size_t n, uint32_t snaplen,
			const char *what)
{
	cr_assert_geq(c->n, from + n, "%s: %zu packets, want at least %zu",
		      what, c->n, from + n);
	for (size_t i = 0; i < n; i++) {
		const struct got_pkt *g = &c->p[from + i];
		const struct tpkt *w = &want[i];
		uint32_t cl = w->caplen < snaplen ? w->caplen : snaplen;

		cr_assert_eq(g->ts_ns, w->ts_ns,
			     "%s: packet %zu ts_ns %llu, want %llu", what, i,
			     (unsigned long long)g->ts_ns,
			     (unsigned long long)w->ts_ns);
		cr_assert_eq(g->caplen, cl, "%s: packet %zu caplen %u, want %u",
			     what, i, g->caplen, cl);
		cr_assert_eq(g->len, w->len, "%s: packet %zu len %u, want %u",
			     what, i, g->len, w->len);
		cr_assert(memcmp(g->data, w->data, cl) == 0,
			  "%s: packet %zu bytes differ", what, i);
	}
}

static struct pcv_config cfg_batch(uint32_t batch)
{
	struct pcv_config cfg;

	pcv_config_init(&cfg);
	cfg.batch_size = batch;
	return cfg;
}

static void open_ok(struct pcv_handle **hp, const char *src,
		    const struct pcv_config *cfg)
{
	char err[PCV_ERRBUF_SIZE] = "";
	int rc = pcv_open(hp, src, cfg, err);

	cr_assert_eq(rc, 0, "pcv_open(%s): %d %s", src, rc, err);
	cr_assert_not_null(*hp);
}

/*
 * Open @src, capture to the end in one call (by packet or by batch), copy
 * the handle's error text into @err.  Return: the capture's return code.
 */
static int read_all(const char *src, const struct pcv_config *cfg, bool batch,
		    struct coll *c, char *err)
{
	struct pcv_handle *h;
	struct pcv_stats st;
	int rc;

	open_ok(&h, src, cfg);
	c->h = h;
	rc = batch ? pcv_capture_batch(h, on_batch, c) :
		     pcv_capture(h, on_pkt, c);
	if (err)
		snprintf(err, PCV_ERRBUF_SIZE, "%s", pcv_get_error(h));
	cr_assert_eq(pcv_get_stats(h, &st), 0);
	cr_assert_eq(st.received, c->n, "stats received %llu, delivered %zu",
		     (unsigned long long)st.received, c->n);
	cr_assert_eq(st.bytes, sum_caplen(c), "stats bytes %llu, want %llu",
		     (unsigned long long)st.bytes,
		     (unsigned long long)sum_caplen(c));
	pcv_close(h);
	c->h = NULL;
	return rc;
}

/*
 * Read @src by packet (batch sizes 1 and 64) and by batch (1, 7, 64): all
 * of @want comes back in order, batches are never empty nor too big.
 */
static void check_all_ways(const char *src, const struct tpkt *want, size_t n)
{
	static const uint32_t pkt_batches[] = { 1, 64 };
	static const uint32_t batches[] = { 1, 7, 64 };
	char err[PCV_ERRBUF_SIZE];
	char what[64];

	for (size_t i = 0; i < 2; i++) {
		struct pcv_config cfg = cfg_batch(pkt_batches[i]);
		struct coll c = { 0 };
		int rc = read_all(src, &cfg, false, &c, err);

		snprintf(what, sizeof(what), "pcv_capture, batch_size %u",
			 pkt_batches[i]);
		cr_assert_eq(rc, 0, "%s: %d %s", what, rc, err);
		cr_assert_eq(c.n, n, "%s: %zu packets, want %zu", what, c.n, n);
		expect_pkts(&c, 0, want, n, MAXSNAP, what);
		coll_free(&c);
	}
	for (size_t i = 0; i < 3; i++) {
		struct pcv_config cfg = cfg_batch(batches[i]);
		struct coll c = { 0 };
		int rc = read_all(src, &cfg, true, &c, err);

		snprintf(what, sizeof(what), "pcv_capture_batch, batch_size %u",
			 batches[i]);
		cr_assert_eq(rc, 0, "%s: %d %s", what, rc, err);
		cr_assert_not(c.empty_batch, "%s: an empty batch", what);
		cr_assert_leq(c.max_batch, batches[i], "%s: a batch of %u",
			      what, c.max_batch);
		cr_assert_eq(c.n, n, "%s: %zu packets, want %zu", what, c.n, n);
		expect_pkts(&c, 0, want, n, MAXSNAP, what);
		coll_free(&c);
	}
}

/* Does @s contain "offset N" with N exactly @off? */
static bool has_offset(const char *s, size_t off)
{
	char pat[48];
	const char *p = s;
	size_t plen;

	snprintf(pat, sizeof(pat), "offset %zu", off);
	plen = strlen(pat);
	while ((p = strstr(p, pat))) {
		if (p[plen] < '0' || p[plen] > '9')
			return true;
		p += plen;
	}
	return false;
}

/* ===== 1. classic pcap in every byte order and resolution ================ */

#define NPKTS 100

static void pcap_roundtrip(bool be, bool nano, const char *name)
{
	struct tpkt *p = mkpkts(NPKTS, nano);
	struct wbuf b = { 0 };
	const char *path;
	char src[192];

	pcap_build(&b, be, nano, LT_EN10MB, MAXSNAP, p, NPKTS, NULL);
	path = write_file(name, b.p, b.len);
	check_all_ways(path, p, NPKTS);
	snprintf(src, sizeof(src), "pcapfile:%s", path);
	check_all_ways(src, p, NPKTS);
	wb_free(&b);
	tpkts_free(p, NPKTS);
}

Test(pcapfile, pcap_usec_le)
{
	pcap_roundtrip(false, false, "us-le.pcap");
}

Test(pcapfile, pcap_usec_be)
{
	pcap_roundtrip(true, false, "us-be.pcap");
}

Test(pcapfile, pcap_nsec_le)
{
	pcap_roundtrip(false, true, "ns-le.pcap");
}

Test(pcapfile, pcap_nsec_be)
{
	pcap_roundtrip(true, true, "ns-be.pcap");
}

/* A µs file read back: the µs value times 1000, nothing invented below. */
Test(pcapfile, pcap_usec_scaled_exactly)
{
	struct tpkt *p = calloc(1, sizeof(*p));
	struct wbuf b = { 0 };
	struct coll c = { 0 };
	const char *path;

	cr_assert_not_null(p);
	p[0].ts_ns = 1600000000ull * NS + 999999000ull;
	tpkt_set_data(&p[0], 42, 42, 9);
	pcap_build(&b, false, false, LT_EN10MB, MAXSNAP, p, 1, NULL);
	path = write_file("us-one.pcap", b.p, b.len);
	cr_assert_eq(read_all(path, NULL, false, &c, NULL), 0);
	cr_assert_eq(c.n, 1);
	cr_assert_eq(c.p[0].ts_ns, 1600000000999999000ull);
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 1);
}

/*
 * Seconds past 2^31 (2038-01-19 and later): the pcap format stores the
 * seconds as an unsigned 32-bit field, so 0x80000000 is 2038, not 1901.
 * libpcap 1.10 reads the field as a signed 32-bit value, so tv_sec
 * comes back negative and the backend must undo the wrap.
 */
Test(pcapfile, pcap_seconds_after_2038)
{
	static const uint32_t secs[] = { 0x80000000u, 0x83aa7e80u,
					 0xfffffffeu };
	struct tpkt *p = calloc(3, sizeof(*p));
	struct wbuf b = { 0 };
	struct coll c = { 0 };
	const char *path;

	cr_assert_not_null(p);
	for (int i = 0; i < 3; i++) {
		p[i].ts_ns = secs[i] * NS + 123456789u;
		tpkt_set_data(&p[i], 60, 60, (uint32_t)i);
	}
	pcap_build(&b, false, true, LT_EN10MB, MAXSNAP, p, 3, NULL);
	path = write_file("y2038.pcap", b.p, b.len);
	cr_assert_eq(read_all(path, NULL, false, &c, NULL), 0);
	cr_assert_eq(c.n, 3);
	expect_pkts(&c, 0, p, 3, MAXSNAP, "after 2038");
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 3);
}

/*
 * Records longer than the file header's snaplen: libpcap cuts them to that
 * snaplen (len unchanged) and reads the next record at the right place.
 * One longer than 262144 is an error.
 */
Test(pcapfile, pcap_record_longer_than_header_snaplen)
{
	struct tpkt *p = mkpkts(16, true);
	struct wbuf b = { 0 };
	char err[PCV_ERRBUF_SIZE];
	struct coll c = { 0 };
	const char *path;
	size_t offs[16];
	int rc;

	pcap_build(&b, false, true, LT_EN10MB, 100, p, 16, offs);
	path = write_file("short-snap.pcap", b.p, b.len);
	cr_assert_eq(read_all(path, NULL, false, &c, err), 0, "%s", err);
	cr_assert_eq(c.n, 16);
	expect_pkts(&c, 0, p, 16, 100, "header snaplen 100");
	coll_free(&c);

	/* record 5 claims 262145 bytes: more than any Ethernet record */
	put32(b.p + offs[5] + 8, MAXSNAP + 1, false);
	path = write_file("short-snap-bad.pcap", b.p, b.len);
	rc = read_all(path, NULL, false, &c, err);
	cr_assert_eq(rc, PCV_ECORRUPT, "rc %d: %s", rc, err);
	cr_assert_eq(c.n, 5);
	cr_assert(has_offset(err, offs[5]), "%s", err);
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 16);
}

/* ===== 2. pcapng ========================================================= */

static const int ng_tsres[] = { -1, 9, 0x80 | 10, 3 };
#define NG_NIF 4

/* @n EPBs spread over the interfaces of ng_tsres, timestamps set in each
 * interface's units and the expected ns computed from them. */
static struct tpkt *mkngpkts(size_t n)
{
	struct tpkt *p = mkpkts(n, true);

	for (size_t i = 0; i < n; i++) {
		uint32_t ifc = (uint32_t)((i * 3 + i / 4) % NG_NIF);
		uint64_t units = tsres_units(ng_tsres[ifc]);
		uint64_t sec = 1700000000u + i;

		p[i].iface = ifc;
		p[i].raw_ts = sec * units + (i * 7919u + 1) % units;
		if (i % 5 == 0)
			p[i].raw_ts = sec * units + units - 1;
		p[i].ts_ns = units_to_ns(p[i].raw_ts, units);
	}
	return p;
}

static void ng_build(struct wbuf *b, bool be, const struct tpkt *p, size_t n,
		     size_t *offs)
{
	b->be = be;
	ng_shb(b);
	for (int i = 0; i < NG_NIF; i++)
		ng_idb(b, LT_EN10MB, MAXSNAP, ng_tsres[i]);
	for (size_t i = 0; i < n; i++) {
		if (offs)
			offs[i] = b->len;
		ng_epb(b, &p[i]);
	}
}

Test(pcapfile, pcapng_tsresol_le)
{
	struct tpkt *p = mkngpkts(40);
	struct wbuf b = { 0 };
	struct pcv_handle *h;
	const char *path;

	ng_build(&b, false, p, 40, NULL);
	path = write_file("tsres-le.pcapng", b.p, b.len);
	check_all_ways(path, p, 40);
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_get_linktype(h), 1);
	pcv_close(h);
	wb_free(&b);
	tpkts_free(p, 40);
}

Test(pcapfile, pcapng_tsresol_be)
{
	struct tpkt *p = mkngpkts(40);
	struct wbuf b = { 0 };
	const char *path;

	ng_build(&b, true, p, 40, NULL);
	cr_assert_eq(b.p[8], 0x1a, "byte-order magic written big-endian");
	path = write_file("tsres-be.pcapng", b.p, b.len);
	check_all_ways(path, p, 40);
	wb_free(&b);
	tpkts_free(p, 40);
}

/* Exact values for the 2^-10 interface: 512/1024 s is exactly 0.5 s. */
Test(pcapfile, pcapng_binary_tsresol_values)
{
	struct tpkt *p = calloc(3, sizeof(*p));
	struct wbuf b = { .be = false };
	struct coll c = { 0 };
	const char *path;

	cr_assert_not_null(p);
	ng_shb(&b);
	ng_idb(&b, LT_EN10MB, MAXSNAP, 0x80 | 10);
	for (int i = 0; i < 3; i++)
		tpkt_set_data(&p[i], 60, 60, (uint32_t)i);
	p[0].raw_ts = 1000ull * 1024 + 512;
	p[0].ts_ns = 1000ull * NS + 500000000u;
	p[1].raw_ts = 1000ull * 1024 + 1; /* 976562.5 ns: rounded down */
	p[1].ts_ns = 1000ull * NS + 976562u;
	p[2].raw_ts = 1024ull * 1024 - 1;
	p[2].ts_ns = 1023ull * NS + 999023437u;
	for (int i = 0; i < 3; i++)
		ng_epb(&b, &p[i]);
	path = write_file("binres.pcapng", b.p, b.len);
	cr_assert_eq(read_all(path, NULL, false, &c, NULL), 0);
	cr_assert_eq(c.n, 3);
	expect_pkts(&c, 0, p, 3, MAXSNAP, "2^-10 resolution");
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 3);
}

/*
 * Two IDBs with different link types: libpcap refuses the second when it
 * reaches it (libpcap 1.10: "an interface has a type 101 different from the
 * type of the first interface").  The packet before it comes through, then
 * an error with libpcap's reason; no crash.
 */
Test(pcapfile, pcapng_mixed_linktypes_fail_cleanly)
{
	struct tpkt *p = mkpkts(2, true);
	struct wbuf b = { .be = false };
	char err[PCV_ERRBUF_SIZE];
	struct coll c = { 0 };
	const char *path;
	int rc;

	ng_shb(&b);
	ng_idb(&b, LT_EN10MB, MAXSNAP, 9);
	p[0].raw_ts = p[0].ts_ns;
	ng_epb(&b, &p[0]);
	ng_idb(&b, LT_RAW, MAXSNAP, 9);
	p[1].iface = 1;
	p[1].raw_ts = p[1].ts_ns;
	ng_epb(&b, &p[1]);
	path = write_file("mixed-lt.pcapng", b.p, b.len);

	rc = read_all(path, NULL, false, &c, err);
	cr_log_info("mixed link types: rc %d (%s), %zu packets, error: %s", rc,
		    pcv_err_name(rc), c.n, err);
	cr_assert_lt(rc, 0, "a file with two link types reads without error");
	cr_assert_eq(c.n, 1, "the packet before the second IDB: %zu", c.n);
	expect_pkts(&c, 0, p, 1, MAXSNAP, "before the second IDB");
	cr_assert(strstr(err, path), "error names the file: %s", err);
	cr_assert(strstr(err, "different"), "error gives the reason: %s", err);
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 2);
}

/*
 * Two IDBs, both LINKTYPE_RAW (101).  libpcap maps the first to DLT_RAW
 * (12 on Linux) and then compares the second IDB's unmapped 101 with 12,
 * so it rejects a file whose interfaces all have the same link type.  This
 * pins down that libpcap behaviour: a clean error, not a crash, and the
 * packets before the second IDB.  If libpcap fixes it, all packets arrive.
 */
Test(pcapfile, pcapng_two_raw_idbs)
{
	struct tpkt *p = mkpkts(3, true);
	struct wbuf b = { .be = false };
	char err[PCV_ERRBUF_SIZE];
	struct coll c = { 0 };
	const char *path;
	int rc;

	ng_shb(&b);
	ng_idb(&b, LT_RAW, MAXSNAP, 9);
	p[0].raw_ts = p[0].ts_ns;
	ng_epb(&b, &p[0]);
	ng_idb(&b, LT_RAW, MAXSNAP, 9);
	for (int i = 1; i < 3; i++) {
		p[i].iface = (uint32_t)i % 2;
		p[i].raw_ts = p[i].ts_ns;
		ng_epb(&b, &p[i]);
	}
	path = write_file("two-raw.pcapng", b.p, b.len);
	rc = read_all(path, NULL, false, &c, err);
	cr_log_info("two LINKTYPE_RAW IDBs: rc %d, %zu packets, error: %s", rc,
		    c.n, err);
	if (rc < 0) {
		cr_assert_eq(c.n, 1);
		cr_assert(strstr(err, path), "error names the file: %s", err);
	} else {
		cr_assert_eq(c.n, 3);
	}
	expect_pkts(&c, 0, p, c.n, MAXSNAP, "two raw IDBs");
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 3);
}

/* ===== 3. damaged files ================================================== */

#define NDMG 8

struct damaged {
	struct tpkt *p;
	struct wbuf b;
	size_t offs[NDMG];
	const char *path;
};

/*
 * A ns pcap (pcapng when @ng) of NDMG packets of 100..170 bytes, cut
 * @cut_into bytes into record @cut_rec (NDMG or more: not cut).  d->offs
 * holds each record's (block's) offset.
 */
static void dmg_build(struct damaged *d, bool ng, bool be, size_t cut_rec,
		      size_t cut_into, const char *name)
{
	d->p = calloc(NDMG, sizeof(*d->p));
	d->b = (struct wbuf){ 0 };
	cr_assert_not_null(d->p);
	for (size_t i = 0; i < NDMG; i++) {
		d->p[i].ts_ns = (1700000000ull + i) * NS + i * 1111;
		d->p[i].raw_ts = d->p[i].ts_ns;
		tpkt_set_data(&d->p[i], 100 + 10 * (uint32_t)i,
			      100 + 10 * (uint32_t)i, (uint32_t)i + 50);
	}
	if (ng) {
		d->b.be = be;
		ng_shb(&d->b);
		ng_idb(&d->b, LT_EN10MB, MAXSNAP, 9);
		for (size_t i = 0; i < NDMG; i++) {
			d->offs[i] = d->b.len;
			ng_epb(&d->b, &d->p[i]);
		}
	} else {
		pcap_build(&d->b, be, true, LT_EN10MB, MAXSNAP, d->p, NDMG,
			   d->offs);
	}
	if (cut_rec < NDMG)
		d->b.len = d->offs[cut_rec] + cut_into;
	d->path = write_file(name, d->b.p, d->b.len);
}

static void dmg_free(struct damaged *d)
{
	wb_free(&d->b);
	tpkts_free(d->p, NDMG);
}

/*
 * Read @d every way: @good packets arrive, then @want_rc (if not 0, else
 * any negative code), an error naming the file and "offset @off" (if
 * @off, else any text).  Another call afterwards delivers nothing.
 */
static void expect_damage(const struct damaged *d, size_t good, int want_rc,
			  size_t off)
{
	static const uint32_t sizes[] = { 1, 2, 3, 64 };
	char err[PCV_ERRBUF_SIZE];
	char what[64];

	for (int mode = 0; mode < 2; mode++) {
		for (size_t i = 0; i < 4; i++) {
			struct pcv_config cfg = cfg_batch(sizes[i]);
			struct coll c = { 0 };
			struct pcv_handle *h;
			int rc;

			snprintf(what, sizeof(what), "%s, batch_size %u",
				 mode ? "pcv_capture_batch" : "pcv_capture",
				 sizes[i]);
			open_ok(&h, d->path, &cfg);
			c.h = h;
			rc = mode ? pcv_capture_batch(h, on_batch, &c) :
				    pcv_capture(h, on_pkt, &c);
			snprintf(err, sizeof(err), "%s", pcv_get_error(h));
			if (want_rc)
				cr_assert_eq(rc, want_rc, "%s: rc %d (%s), %s",
					     what, rc, pcv_err_name(rc), err);
			else
				cr_assert_lt(rc, 0, "%s: rc %d", what, rc);
			cr_assert_eq(c.n, good, "%s: %zu packets, want %zu",
				     what, c.n, good);
			expect_pkts(&c, 0, d->p, good, MAXSNAP, what);
			cr_assert(strstr(err, d->path),
				  "%s: error does not name the file: %s", what,
				  err);
			if (off)
				cr_assert(has_offset(err, off),
					  "%s: want \"offset %zu\" in: %s",
					  what, off, err);
			cr_assert_not(c.empty_batch, "%s: empty batch", what);
			/* Nothing more, and no crash, on a second call. */
			rc = mode ? pcv_capture_batch(h, on_batch, &c) :
				    pcv_capture(h, on_pkt, &c);
			cr_assert_leq(rc, 0);
			cr_assert_eq(c.n, good, "%s: more after the error",
				     what);
			pcv_close(h);
			coll_free(&c);
		}
	}
}

Test(pcapfile, pcap_cut_in_record_data)
{
	struct damaged d;

	dmg_build(&d, false, false, 3, 16 + 50, "cut-data.pcap");
	cr_assert_eq(d.offs[3], 24 + 116 + 126 + 136);
	expect_damage(&d, 3, PCV_ECORRUPT, d.offs[3]);
	dmg_free(&d);
}

Test(pcapfile, pcap_cut_in_record_data_be)
{
	struct damaged d;

	dmg_build(&d, false, true, 3, 16 + 1, "cut-data-be.pcap");
	expect_damage(&d, 3, PCV_ECORRUPT, d.offs[3]);
	dmg_free(&d);
}

Test(pcapfile, pcap_cut_in_record_header)
{
	struct damaged d;

	dmg_build(&d, false, false, 3, 7, "cut-hdr.pcap");
	expect_damage(&d, 3, PCV_ECORRUPT, d.offs[3]);
	dmg_free(&d);
}

/* Damage in the very first record: nothing, then the error at offset 24. */
Test(pcapfile, pcap_cut_in_first_record)
{
	struct damaged d;

	dmg_build(&d, false, false, 0, 20, "cut-first.pcap");
	expect_damage(&d, 0, PCV_ECORRUPT, 24);
	dmg_free(&d);
}

/* Cut exactly between records: a clean end, not damage. */
Test(pcapfile, pcap_cut_on_record_boundary)
{
	struct damaged d;
	struct coll c = { 0 };
	char err[PCV_ERRBUF_SIZE];

	dmg_build(&d, false, false, 5, 0, "cut-boundary.pcap");
	cr_assert_eq(read_all(d.path, NULL, false, &c, err), 0, "%s", err);
	cr_assert_eq(c.n, 5);
	expect_pkts(&c, 0, d.p, 5, MAXSNAP, "boundary");
	coll_free(&c);
	dmg_free(&d);
}

/* A header-only pcap: opens, no packets, no error. */
Test(pcapfile, pcap_header_only)
{
	struct damaged d;
	struct coll c = { 0 };
	char err[PCV_ERRBUF_SIZE];

	dmg_build(&d, false, false, 0, 0, "hdr-only.pcap");
	cr_assert_eq(d.b.len, 24);
	cr_assert_eq(read_all(d.path, NULL, true, &c, err), 0, "%s", err);
	cr_assert_eq(c.n, 0);
	cr_assert_eq(c.nbatches, 0, "no empty batch at the end");
	coll_free(&c);
	dmg_free(&d);
}

Test(pcapfile, pcap_absurd_caplen)
{
	struct damaged d;
	struct wbuf b = { .be = false };
	size_t bad_off;

	/* Records 0..3, then one claiming 0x7fffffff bytes, then 4..7. */
	dmg_build(&d, false, false, NDMG, 0, "absurd-src.pcap");
	wb_bytes(&b, d.b.p, d.offs[4]);
	bad_off = b.len;
	pcap_rec_hdr(&b, true, d.p[4].ts_ns, 0x7fffffff, 0x7fffffff);
	wb_bytes(&b, d.b.p + d.offs[4], d.b.len - d.offs[4]);
	d.path = write_file("absurd.pcap", b.p, b.len);
	expect_damage(&d, 4, PCV_ECORRUPT, bad_off);
	wb_free(&b);
	dmg_free(&d);
}

Test(pcapfile, pcapng_cut_in_block)
{
	struct damaged d;

	dmg_build(&d, true, false, 3, 30, "cut.pcapng");
	expect_damage(&d, 3, PCV_ECORRUPT, d.offs[3]);
	dmg_free(&d);
}

Test(pcapfile, pcapng_cut_in_block_header)
{
	struct damaged d;

	dmg_build(&d, true, true, 5, 6, "cut-hdr-be.pcapng");
	expect_damage(&d, 5, PCV_ECORRUPT, d.offs[5]);
	dmg_free(&d);
}

/* An EPB whose caplen runs past the end of its block. */
Test(pcapfile, pcapng_caplen_past_block)
{
	struct damaged d;

	dmg_build(&d, true, false, NDMG, 0, "badcap.pcapng");
	/* EPB: type, len, ifid, ts_hi, ts_lo, caplen */
	put32(d.b.p + d.offs[2] + 20, 5000, false);
	d.path = write_file("badcap.pcapng", d.b.p, d.b.len);
	expect_damage(&d, 2, PCV_ECORRUPT, d.offs[2]);
	dmg_free(&d);
}

/* ===== 4. not a capture file ============================================= */

static void expect_open_fail(const char *src, int want, const char *needle)
{
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_handle *h = (struct pcv_handle *)&h;
	int rc = pcv_open(&h, src, NULL, err);

	cr_assert_eq(rc, want, "pcv_open(%s): %d (%s), want %d (%s): %s", src,
		     rc, pcv_err_name(rc), want, pcv_err_name(want), err);
	cr_assert_null(h, "handle set on failure");
	cr_assert(strstr(err, needle), "errbuf lacks \"%s\": %s", needle, err);
	/* and without an errbuf */
	rc = pcv_open(&h, src, NULL, NULL);
	cr_assert_eq(rc, want);
	cr_assert_null(h);
}

Test(pcapfile, not_a_capture)
{
	static const char text[] =
		"This is not a capture file.\nIt is text, long enough for "
		"any header read, and more: 0123456789abcdef0123456789.\n";
	char src[192];
	const char *path;

	path = write_file("text.txt", text, sizeof(text) - 1);
	expect_open_fail(path, PCV_EFORMAT, path);
	snprintf(src, sizeof(src), "pcapfile:%s", path);
	expect_open_fail(src, PCV_EFORMAT, path);

	path = write_file("empty.pcap", "", 0);
	expect_open_fail(path, PCV_EFORMAT, path);

	path = write_file("three.pcap", "\xd4\xc3\xb2", 3);
	expect_open_fail(path, PCV_EFORMAT, path);

	/* A good magic and a short header. */
	path = write_file("short-hdr.pcap", "\xd4\xc3\xb2\xa1\x02\x00\x04", 7);
	expect_open_fail(path, PCV_EFORMAT, path);
}

Test(pcapfile, missing_file)
{
	char src[192];
	const char *path = tpath("does-not-exist.pcap");

	snprintf(src, sizeof(src), "pcapfile:%s", path);
	expect_open_fail(src, -ENOENT, path);
	/* Without the prefix nothing claims a path that does not exist. */
	expect_open_fail(path, PCV_EBACKEND, path);
}

Test(pcapfile, directory)
{
	char src[192];
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_handle *h;
	int rc;

	/* "auto": pcapfile does not claim a directory, nor afpacket a path */
	expect_open_fail(tmpdir, PCV_EBACKEND, tmpdir);
	/* forced: fopen() works on a directory, reading it fails */
	snprintf(src, sizeof(src), "pcapfile:%s", tmpdir);
	rc = pcv_open(&h, src, NULL, err);
	cr_log_info("pcapfile:<dir>: %d (%s): %s", rc, pcv_err_name(rc), err);
	cr_assert_lt(rc, 0);
	cr_assert_null(h);
	cr_assert(strstr(err, tmpdir), "errbuf names the directory: %s", err);
}

/* ===== 5. source selection =============================================== */

static const char *small_pcap(const char *name, uint32_t linktype,
			      struct tpkt **pp, size_t n)
{
	struct tpkt *p = mkpkts(n, true);
	struct wbuf b = { 0 };
	const char *path;

	pcap_build(&b, false, true, linktype, MAXSNAP, p, n, NULL);
	path = write_file(name, b.p, b.len);
	wb_free(&b);
	if (pp)
		*pp = p;
	else
		tpkts_free(p, n);
	return path;
}

Test(pcapfile, source_selection)
{
	const char *path = small_pcap("sel.pcap", LT_EN10MB, NULL, 3);
	char src[192], err[PCV_ERRBUF_SIZE] = "";
	struct pcv_config cfg;
	struct pcv_handle *h;
	int rc;

	snprintf(src, sizeof(src), "pcapfile:%s", path);
	open_ok(&h, src, NULL);
	cr_assert_str_eq(pcv_get_backend(h), "pcapfile");
	pcv_close(h);

	pcv_config_init(&cfg);
	cr_assert_str_eq(cfg.backend, "auto");
	open_ok(&h, path, &cfg);
	cr_assert_str_eq(pcv_get_backend(h), "pcapfile");
	pcv_close(h);

	cfg.backend = NULL;
	open_ok(&h, path, &cfg);
	cr_assert_str_eq(pcv_get_backend(h), "pcapfile");
	pcv_close(h);

	cfg.backend = "pcapfile";
	open_ok(&h, path, &cfg);
	cr_assert_str_eq(pcv_get_backend(h), "pcapfile");
	pcv_close(h);

	cfg.backend = "nonsense";
	h = (struct pcv_handle *)&h;
	rc = pcv_open(&h, path, &cfg, err);
	cr_assert_eq(rc, PCV_EBACKEND, "rc %d: %s", rc, err);
	cr_assert_null(h);
	cr_assert(strstr(err, "nonsense"), "%s", err);
	cr_assert(strstr(err, "pcapfile") && strstr(err, "afpacket"),
		  "errbuf lists the backends: %s", err);

	/* A "backend:" prefix wins over cfg.backend. */
	rc = pcv_open(&h, src, &cfg, err);
	cr_assert_eq(rc, 0, "%s", err);
	cr_assert_str_eq(pcv_get_backend(h), "pcapfile");
	pcv_close(h);

	rc = pcv_open(&h, "", NULL, err);
	cr_assert_eq(rc, -EINVAL);
	cr_assert_null(h);
}

/* A file whose name has a colon is not taken for a "backend:" prefix. */
Test(pcapfile, path_with_colon)
{
	const char *path = small_pcap("a:b.pcap", LT_EN10MB, NULL, 2);
	struct coll c = { 0 };

	cr_assert_eq(read_all(path, NULL, false, &c, NULL), 0);
	cr_assert_eq(c.n, 2);
	coll_free(&c);
}

/* ===== 6. config validation ============================================== */

static void expect_bad_cfg(const char *path, const struct pcv_config *cfg,
			   const char *needle)
{
	char err[PCV_ERRBUF_SIZE] = "";
	struct pcv_handle *h = (struct pcv_handle *)&h;
	int rc = pcv_open(&h, path, cfg, err);

	cr_assert_eq(rc, -EINVAL, "rc %d for %s: %s", rc, needle, err);
	cr_assert_null(h);
	cr_assert(strstr(err, needle), "errbuf lacks \"%s\": %s", needle, err);
}

Test(pcapfile, config_validation)
{
	const char *path = small_pcap("cfg.pcap", LT_EN10MB, NULL, 70);
	struct pcv_config cfg;
	struct pcv_handle *h;
	struct coll c = { 0 };

	pcv_config_init(&cfg);
	cfg.snaplen = 0;
	expect_bad_cfg(path, &cfg, "snaplen");
	cfg.snaplen = MAXSNAP + 1;
	expect_bad_cfg(path, &cfg, "snaplen");

	pcv_config_init(&cfg);
	cfg.batch_size = 0;
	expect_bad_cfg(path, &cfg, "batch");
	cfg.batch_size = PCV_MAX_BATCH + 1;
	expect_bad_cfg(path, &cfg, "batch");

	pcv_config_init(&cfg);
	cfg.block_size = 1000;
	expect_bad_cfg(path, &cfg, "block size");
	cfg.block_size = 3u << 20;
	expect_bad_cfg(path, &cfg, "power of two");

	pcv_config_init(&cfg);
	cfg.buffer_size = cfg.block_size / 2;
	expect_bad_cfg(path, &cfg, "smaller");

	/* The limits themselves are fine. */
	pcv_config_init(&cfg);
	cfg.snaplen = 1;
	cfg.batch_size = PCV_MAX_BATCH;
	open_ok(&h, path, &cfg);
	cr_assert_eq(pcv_get_snaplen(h), 1);
	pcv_close(h);
	cfg.snaplen = MAXSNAP;
	cfg.batch_size = 1;
	open_ok(&h, path, &cfg);
	pcv_close(h);

	/* NULL config: the defaults (snaplen 262144, batches of 64). */
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_get_snaplen(h), PCV_DEFAULT_SNAPLEN);
	c.h = h;
	cr_assert_eq(pcv_capture_batch(h, on_batch, &c), 0);
	cr_assert_eq(c.n, 70);
	cr_assert_eq(c.max_batch, PCV_DEFAULT_BATCH);
	pcv_close(h);
	coll_free(&c);
}

/* ===== 7. snaplen ======================================================== */

Test(pcapfile, snaplen_clips_caplen)
{
	struct tpkt *p;
	const char *path = small_pcap("snap.pcap", LT_EN10MB, &p, 24);
	struct pcv_config cfg;

	for (int mode = 0; mode < 2; mode++) {
		struct coll c = { 0 };
		struct pcv_handle *h;

		pcv_config_init(&cfg);
		cfg.snaplen = 50;
		cfg.batch_size = 5;
		open_ok(&h, path, &cfg);
		cr_assert_eq(pcv_get_snaplen(h), 50);
		c.h = h;
		cr_assert_eq(mode ? pcv_capture_batch(h, on_batch, &c) :
				    pcv_capture(h, on_pkt, &c),
			     0);
		cr_assert_eq(c.n, 24);
		expect_pkts(&c, 0, p, 24, 50, "snaplen 50");
		for (size_t i = 0; i < c.n; i++)
			cr_assert_leq(c.p[i].caplen, 50);
		pcv_close(h);
		coll_free(&c);
	}
	tpkts_free(p, 24);
}

/* ===== 8. pcv_breakloop ================================================== */

Test(pcapfile, breakloop_in_capture)
{
	static const uint32_t sizes[] = { 1, 4, 5, 64 };
	struct tpkt *p;
	const char *path = small_pcap("brk.pcap", LT_EN10MB, &p, 30);

	for (size_t i = 0; i < 4; i++) {
		struct pcv_config cfg = cfg_batch(sizes[i]);
		struct coll c = { .break_at_pkt = 5 };
		struct pcv_handle *h;

		open_ok(&h, path, &cfg);
		c.h = h;
		cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
		cr_assert_eq(c.n, 5, "batch %u: %zu before the break",
			     sizes[i], c.n);
		c.break_at_pkt = 0;
		cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
		cr_assert_eq(c.n, 30, "batch %u: %zu in all", sizes[i], c.n);
		expect_pkts(&c, 0, p, 30, MAXSNAP, "across a break");
		cr_assert_eq(pcv_capture(h, on_pkt, &c), 0, "again at EOF");
		cr_assert_eq(c.n, 30);
		pcv_close(h);
		coll_free(&c);
	}
	tpkts_free(p, 30);
}

Test(pcapfile, breakloop_in_capture_batch)
{
	struct tpkt *p;
	const char *path = small_pcap("brkb.pcap", LT_EN10MB, &p, 30);
	struct pcv_config cfg = cfg_batch(4);
	struct coll c = { .break_at_batch = 2 };
	struct pcv_handle *h;

	open_ok(&h, path, &cfg);
	c.h = h;
	cr_assert_eq(pcv_capture_batch(h, on_batch, &c), 0);
	cr_assert_eq(c.nbatches, 2);
	cr_assert_eq(c.n, 8, "two whole batches of 4: %zu", c.n);
	c.break_at_batch = 0;
	cr_assert_eq(pcv_capture_batch(h, on_batch, &c), 0);
	cr_assert_eq(c.n, 30);
	expect_pkts(&c, 0, p, 30, MAXSNAP, "batch across a break");
	pcv_close(h);
	coll_free(&c);
	tpkts_free(p, 30);
}

/* Break in pcv_capture mid-batch, go on with pcv_capture_batch: the first
 * batch is the rest of the interrupted one. */
Test(pcapfile, breakloop_then_switch_to_batches)
{
	struct tpkt *p;
	const char *path = small_pcap("brkx.pcap", LT_EN10MB, &p, 30);
	struct pcv_config cfg = cfg_batch(8);
	struct coll c = { .break_at_pkt = 5 };
	struct pcv_handle *h;

	open_ok(&h, path, &cfg);
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	cr_assert_eq(c.n, 5);
	c.break_at_pkt = 0;
	cr_assert_eq(pcv_capture_batch(h, on_batch, &c), 0);
	cr_assert_eq(c.n, 30);
	cr_assert_leq(c.max_batch, 8);
	cr_assert_not(c.empty_batch);
	expect_pkts(&c, 0, p, 30, MAXSNAP, "per packet, then batches");
	pcv_close(h);
	coll_free(&c);
	tpkts_free(p, 30);
}

/* pcv_breakloop() before a capture call: that call returns at once, the
 * request is then spent and the next call reads everything. */
Test(pcapfile, breakloop_before_capture)
{
	struct tpkt *p;
	const char *path = small_pcap("brk0.pcap", LT_EN10MB, &p, 10);
	struct coll c = { 0 };
	struct pcv_handle *h;

	open_ok(&h, path, NULL);
	c.h = h;
	pcv_breakloop(h);
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	cr_assert_eq(c.n, 0);
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	cr_assert_eq(c.n, 10);
	expect_pkts(&c, 0, p, 10, MAXSNAP, "after an early break");
	pcv_close(h);
	coll_free(&c);
	tpkts_free(p, 10);
}

/* ===== 9. filters ======================================================== */

enum { F_UDP = 1, F_TCP80 = 2 };

struct frame_spec {
	int kind; /* 4: IPv4, 6: IPv6, 0: ARP */
	uint8_t proto;
	uint16_t sport, dport;
	uint16_t frag; /* IPv4 fragment offset (8-byte units) */
	int match;     /* F_ bits */
};

static const struct frame_spec frames[] = {
	{ 4, 6, 1234, 80, 0, F_TCP80 },
	{ 4, 17, 5353, 53, 0, F_UDP },
	{ 4, 6, 443, 5000, 0, 0 },
	{ 4, 17, 1000, 80, 0, F_UDP },
	{ 0, 0, 0, 0, 0, 0 },
	{ 6, 17, 1, 2, 0, F_UDP },
	{ 6, 6, 80, 999, 0, F_TCP80 },
	{ 4, 6, 80, 1234, 0, F_TCP80 },
	{ 4, 6, 80, 80, 100, 0 }, /* a later fragment: no ports to see */
	{ 4, 17, 7, 7, 0, F_UDP },
};
#define NFRAMES (sizeof(frames) / sizeof(frames[0]))
#define FRAME_REPS 3

static void be16(uint8_t *d, uint16_t v)
{
	d[0] = (uint8_t)(v >> 8);
	d[1] = (uint8_t)v;
}

/* An Ethernet frame for @f into @d (room for 128 bytes).  Return: length. */
static uint32_t build_frame(uint8_t *d, const struct frame_spec *f,
			    uint32_t seq)
{
	static const uint8_t macs[12] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55,
					  0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb };
	uint32_t l4len = f->proto == 6 ? 20 : 8;
	uint32_t paylen = 10;
	uint8_t *l3 = d + 14, *l4;
	uint32_t n;

	memset(d, 0, 128);
	memcpy(d, macs, 12);
	if (f->kind == 0) {
		be16(d + 12, 0x0806);
		be16(l3, 1);          /* htype Ethernet */
		be16(l3 + 2, 0x0800); /* ptype IPv4 */
		l3[4] = 6;
		l3[5] = 4;
		be16(l3 + 6, 1); /* request */
		return 14 + 28 + 18; /* padded to 60 */
	}
	if (f->kind == 4) {
		be16(d + 12, 0x0800);
		l3[0] = 0x45;
		be16(l3 + 2, (uint16_t)(20 + l4len + paylen));
		be16(l3 + 4, (uint16_t)seq);
		be16(l3 + 6, f->frag);
		l3[8] = 64;
		l3[9] = f->proto;
		l3[12] = 10; /* 10.0.0.1 > 10.0.0.2 */
		l3[15] = 1;
		l3[16] = 10;
		l3[19] = 2;
		l4 = l3 + 20;
	} else {
		be16(d + 12, 0x86dd);
		l3[0] = 0x60;
		be16(l3 + 4, (uint16_t)(l4len + paylen));
		l3[6] = f->proto;
		l3[7] = 64;
		l3[8] = 0xfd; /* fd00::1 > fd00::2 */
		l3[23] = 1;
		l3[24] = 0xfd;
		l3[39] = 2;
		l4 = l3 + 40;
	}
	be16(l4, f->sport);
	be16(l4 + 2, f->dport);
	if (f->proto == 6) {
		l4[12] = 0x50;
		l4[13] = 0x18;
		be16(l4 + 14, 65535);
	} else {
		be16(l4 + 4, (uint16_t)(8 + paylen));
	}
	n = (uint32_t)(l4 - d) + l4len;
	memset(d + n, (int)(0xa0 + seq % 16), paylen);
	n += paylen;
	return n < 60 ? 60 : n;
}

/* NFRAMES * FRAME_REPS frames, in order; each rep has its own payloads. */
static struct tpkt *mkframes(size_t *np)
{
	size_t n = NFRAMES * FRAME_REPS;
	struct tpkt *p = calloc(n, sizeof(*p));
	uint8_t buf[128];

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++) {
		uint32_t len = build_frame(buf, &frames[i % NFRAMES],
					   (uint32_t)i);

		p[i].ts_ns = (1700000000ull + i) * NS + i;
		p[i].caplen = p[i].len = len;
		p[i].data = malloc(len);
		cr_assert_not_null(p[i].data);
		memcpy(p[i].data, buf, len);
	}
	*np = n;
	return p;
}

static void compile_filter(const char *expr, struct bpf_program *prog)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, MAXSNAP);

	cr_assert_not_null(dead);
	cr_assert_eq(pcap_compile(dead, prog, expr, 1, PCAP_NETMASK_UNKNOWN),
		     0, "pcap_compile(%s): %s", expr, pcap_geterr(dead));
	pcap_close(dead);
}

static int set_filter_expr(struct pcv_handle *h, const char *expr)
{
	struct bpf_program prog;
	int rc;

	compile_filter(expr, &prog);
	rc = pcv_set_filter(h, prog.bf_insns, prog.bf_len * 8);
	pcap_freecode(&prog);
	return rc;
}

/* The frames of @all that match @bit, in order. */
static size_t select_frames(const struct tpkt *all, size_t n, int bit,
			    struct tpkt *out)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (frames[i % NFRAMES].match & bit)
			out[k++] = all[i];
	}
	return k;
}

static void check_filtered(const char *path, const char *expr, int bit,
			   const struct tpkt *all, size_t n)
{
	struct tpkt *want = calloc(n, sizeof(*want));
	size_t nwant = select_frames(all, n, bit, want);

	cr_assert_not_null(want);
	cr_assert_gt(nwant, 0);
	for (int mode = 0; mode < 2; mode++) {
		struct pcv_config cfg = cfg_batch(mode ? 4 : 64);
		struct coll c = { 0 };
		struct pcv_handle *h;
		struct pcv_stats st;
		const char *why;
		int rc;

		open_ok(&h, path, &cfg);
		cr_assert_not(pcv_filter_in_kernel(h, NULL)); /* none set */
		rc = set_filter_expr(h, expr);
		cr_assert_eq(rc, 0, "set_filter(%s): %d %s", expr, rc,
			     pcv_get_error(h));
		/* a file has no kernel: the filter runs here, for no reason
		 * worth a word */
		why = "unset";
		cr_assert_not(pcv_filter_in_kernel(h, &why));
		cr_assert_str_empty(why);
		c.h = h;
		rc = mode ? pcv_capture_batch(h, on_batch, &c) :
			    pcv_capture(h, on_pkt, &c);
		cr_assert_eq(rc, 0, "%s", pcv_get_error(h));
		cr_assert_eq(c.n, nwant, "\"%s\": %zu packets, want %zu", expr,
			     c.n, nwant);
		expect_pkts(&c, 0, want, nwant, MAXSNAP, expr);
		cr_assert_not(c.empty_batch, "\"%s\": an empty batch", expr);
		cr_assert_eq(pcv_get_stats(h, &st), 0);
		cr_assert_eq(st.received, nwant);
		cr_assert_eq(st.bytes, sum_caplen(&c));
		pcv_close(h);
		coll_free(&c);
	}
	free(want);
}

Test(pcapfile, filter_udp_and_tcp80)
{
	size_t n;
	struct tpkt *p = mkframes(&n);
	struct wbuf b = { 0 };
	const char *path;

	pcap_build(&b, true, false, LT_EN10MB, MAXSNAP, p, n, NULL);
	/* µs file: ts_ns had ns; compare against what a µs file holds */
	for (size_t i = 0; i < n; i++)
		p[i].ts_ns -= p[i].ts_ns % 1000;
	path = write_file("mix.pcap", b.p, b.len);
	check_filtered(path, "udp", F_UDP, p, n);
	check_filtered(path, "tcp port 80", F_TCP80, p, n);
	wb_free(&b);
	tpkts_free(p, n);
}

/* A later pcv_set_filter replaces the first; a failed one leaves the
 * installed filter alone. */
Test(pcapfile, filter_replace_and_failed_replace)
{
	size_t n;
	struct tpkt *p = mkframes(&n);
	struct tpkt *want = calloc(n, sizeof(*want));
	struct wbuf b = { 0 };
	struct coll c = { 0 };
	struct pcv_handle *h;
	const char *path;
	size_t nwant;
	uint64_t junk = 0;

	cr_assert_not_null(want);
	pcap_build(&b, false, true, LT_EN10MB, MAXSNAP, p, n, NULL);
	path = write_file("mix2.pcap", b.p, b.len);
	open_ok(&h, path, NULL);
	cr_assert_eq(set_filter_expr(h, "tcp port 80"), 0);
	cr_assert_eq(set_filter_expr(h, "udp"), 0);
	cr_assert_eq(pcv_set_filter(h, &junk, 4), -EINVAL);
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	nwant = select_frames(p, n, F_UDP, want);
	cr_assert_eq(c.n, nwant);
	expect_pkts(&c, 0, want, nwant, MAXSNAP, "udp after replace");
	pcv_close(h);
	coll_free(&c);
	free(want);
	wb_free(&b);
	tpkts_free(p, n);
}

/* A file of mkpkts() packets without the caplen-0 one(s). */
static const char *nonempty_pcap(const char *name, struct tpkt **pp,
				 size_t *np)
{
	struct tpkt *p = mkpkts(*np, true);
	struct wbuf b = { 0 };
	const char *path;
	size_t k = 0;

	for (size_t i = 0; i < *np; i++) {
		if (p[i].caplen)
			p[k++] = p[i];
		else
			free(p[i].data);
	}
	*np = k;
	pcap_build(&b, false, true, LT_EN10MB, MAXSNAP, p, k, NULL);
	path = write_file(name, b.p, b.len);
	wb_free(&b);
	*pp = p;
	return path;
}

/* A filter's return value is the snap length: "ret #20" keeps 20 bytes;
 * "ret #0" rejects everything, and the capture still ends cleanly. */
Test(pcapfile, filter_return_value_snaps)
{
	size_t n = 16;
	struct tpkt *p;
	const char *path = nonempty_pcap("ret.pcap", &p, &n);
	struct bpf_insn ret20[] = { BPF_STMT(BPF_RET | BPF_K, 20) };
	struct bpf_insn ret0[] = { BPF_STMT(BPF_RET | BPF_K, 0) };
	struct pcv_config cfg = cfg_batch(3);
	struct coll c = { 0 };
	struct pcv_handle *h;
	struct pcv_stats st;

	open_ok(&h, path, &cfg);
	cr_assert_eq(pcv_set_filter(h, ret20, sizeof(ret20)), 0);
	c.h = h;
	cr_assert_eq(pcv_capture_batch(h, on_batch, &c), 0);
	expect_pkts(&c, 0, p, n, 20, "ret #20");
	cr_assert_eq(c.n, n);
	cr_assert_eq(pcv_get_stats(h, &st), 0);
	cr_assert_eq(st.bytes, sum_caplen(&c));
	pcv_close(h);
	coll_free(&c);

	open_ok(&h, path, &cfg);
	cr_assert_eq(pcv_set_filter(h, ret0, sizeof(ret0)), 0);
	c.h = h;
	cr_assert_eq(pcv_capture_batch(h, on_batch, &c), 0);
	cr_assert_eq(c.n, 0);
	cr_assert_eq(c.nbatches, 0, "no empty batches");
	cr_assert_eq(pcv_get_stats(h, &st), 0);
	cr_assert_eq(st.received, 0);
	pcv_close(h);
	coll_free(&c);
	tpkts_free(p, n);
}

/*
 * A record with caplen 0 (len 60) and a filter that accepts every packet
 * ("ret #262144", or one on the wire length such as "greater 40"): the
 * filter accepts it, so it is delivered, as without a filter and as
 * libpcap's own pcap_offline_filter() does.
 * Accepting and the bytes to keep are two results, not one.
 */
Test(pcapfile, filter_accepts_empty_record)
{
	struct tpkt *p;
	const char *path = small_pcap("empty-rec.pcap", LT_EN10MB, &p, 8);
	struct bpf_program prog;
	struct bpf_insn all[] = { BPF_STMT(BPF_RET | BPF_K, MAXSNAP) };
	struct coll c = { 0 };
	struct pcv_handle *h;

	cr_assert_eq(p[3].caplen, 0);
	cr_assert_eq(p[3].len, 60);
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_set_filter(h, all, sizeof(all)), 0);
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	cr_assert_eq(c.n, 8, "accept-all filter: %zu of 8", c.n);
	expect_pkts(&c, 0, p, 8, MAXSNAP, "accept all");
	pcv_close(h);
	coll_free(&c);

	compile_filter("greater 40", &prog);
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_set_filter(h, prog.bf_insns, prog.bf_len * 8), 0);
	pcap_freecode(&prog);
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	/* every len in mkpkts() but that of the 1-byte packet is > 40 */
	cr_assert_eq(c.n, 7, "\"greater 40\": %zu of 7", c.n);
	pcv_close(h);
	coll_free(&c);
	tpkts_free(p, 8);
}

/* A filter on a damaged file: the accepted packets before the damage,
 * then the error, also when the rejected ones were in the same batch. */
Test(pcapfile, filter_then_damage)
{
	/* accept len < 125: packets 0, 1, 2 of dmg_build()'s 100, 110, ... */
	struct bpf_insn short_only[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 125, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, MAXSNAP),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct damaged d;

	dmg_build(&d, false, false, 5, 30, "filter-cut.pcap");
	for (int mode = 0; mode < 2; mode++) {
		struct pcv_config cfg = cfg_batch(64);
		struct coll c = { 0 };
		struct pcv_handle *h;
		int rc;

		open_ok(&h, d.path, &cfg);
		cr_assert_eq(pcv_set_filter(h, short_only, sizeof(short_only)),
			     0);
		c.h = h;
		rc = mode ? pcv_capture_batch(h, on_batch, &c) :
			    pcv_capture(h, on_pkt, &c);
		cr_assert_eq(rc, PCV_ECORRUPT, "rc %d: %s", rc,
			     pcv_get_error(h));
		cr_assert_eq(c.n, 3);
		expect_pkts(&c, 0, d.p, 3, MAXSNAP, "filtered, damaged");
		cr_assert(has_offset(pcv_get_error(h), d.offs[5]), "%s",
			  pcv_get_error(h));
		pcv_close(h);
		coll_free(&c);
	}
	dmg_free(&d);
}

Test(pcapfile, filter_bad_programs)
{
	const char *path = small_pcap("badf.pcap", LT_EN10MB, NULL, 4);
	struct bpf_insn not_ret[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
	};
	struct bpf_insn jump_out[] = {
		BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0),
		BPF_STMT(BPF_RET | BPF_K, 65535),
	};
	struct bpf_insn cond_out[] = {
		BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x800, 0, 9),
		BPF_STMT(BPF_RET | BPF_K, 65535),
	};
	struct bpf_insn div0[] = {
		BPF_STMT(BPF_LD | BPF_IMM, 1),
		BPF_STMT(BPF_ALU | BPF_DIV | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct bpf_insn good[] = { BPF_STMT(BPF_RET | BPF_K, 65535) };
	struct bpf_insn *big;
	struct pcv_handle *h;
	struct coll c = { 0 };

	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_set_filter(h, good, 0), -EINVAL);
	cr_assert_neq(pcv_get_error(h)[0], '\0', "a message");
	cr_assert_eq(pcv_set_filter(h, good, 7), -EINVAL);
	cr_assert_eq(pcv_set_filter(h, good, 12), -EINVAL);
	cr_assert_eq(pcv_set_filter(h, NULL, 8), -EINVAL);
	cr_assert_eq(pcv_set_filter(h, not_ret, sizeof(not_ret)), -EINVAL);
	cr_assert(strstr(pcv_get_error(h), "filter"), "%s", pcv_get_error(h));
	cr_assert_eq(pcv_set_filter(h, jump_out, sizeof(jump_out)), -EINVAL);
	cr_assert_eq(pcv_set_filter(h, cond_out, sizeof(cond_out)), -EINVAL);
	cr_assert_eq(pcv_set_filter(h, div0, sizeof(div0)), -EINVAL);
	/* none of the bad ones was installed */
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	cr_assert_eq(c.n, 4);
	/* 4096 instructions is the limit */
	big = calloc(4097, sizeof(*big));
	cr_assert_not_null(big);
	for (int i = 0; i < 4097; i++)
		big[i] = (struct bpf_insn)BPF_STMT(BPF_RET | BPF_K, 65535);
	cr_assert_eq(pcv_set_filter(h, big, 4097 * sizeof(*big)), -EINVAL);
	cr_assert_eq(pcv_set_filter(h, big, 4096 * sizeof(*big)), 0);
	cr_assert_eq(pcv_set_filter(h, good, sizeof(good)), 0);
	free(big);
	pcv_close(h);
	coll_free(&c);
}

/* ===== 10. stats and identity ============================================ */

Test(pcapfile, stats_and_identity)
{
	struct tpkt *p;
	const char *path = small_pcap("id.pcap", LT_EN10MB, &p, 37);
	struct pcv_stats st;
	struct pcv_handle *h;
	struct coll c = { 0 };
	uint64_t bytes = 0;

	for (size_t i = 0; i < 37; i++)
		bytes += p[i].caplen;
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_get_stats(h, &st), 0);
	cr_assert_eq(st.received, 0);
	cr_assert_eq(st.bytes, 0);
	cr_assert_eq(pcv_get_linktype(h), DLT_EN10MB);
	cr_assert(pcv_get_capabilities(h) & PCV_CAP_NANO_TS);
	cr_assert_not(pcv_get_capabilities(h) & PCV_CAP_LIVE);
	cr_assert_str_eq(pcv_get_error(h), "");
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	cr_assert_eq(pcv_get_stats(h, &st), 0);
	cr_assert_eq(st.received, 37);
	cr_assert_eq(st.bytes, bytes);
	cr_assert_eq(st.kernel_dropped, 0);
	cr_assert_eq(st.if_dropped, 0);
	pcv_close(h);
	coll_free(&c);
	tpkts_free(p, 37);

	path = small_pcap("raw.pcap", LT_RAW, NULL, 2);
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_get_linktype(h), DLT_RAW_LINUX);
	cr_assert_eq(pcv_get_linktype(h), DLT_RAW);
	pcv_close(h);
}

Test(pcapfile, pcapng_raw_linktype)
{
	struct tpkt *p = mkpkts(2, true);
	struct wbuf b = { .be = false };
	struct coll c = { 0 };
	struct pcv_handle *h;
	const char *path;

	ng_shb(&b);
	ng_idb(&b, LT_RAW, MAXSNAP, 9);
	for (int i = 0; i < 2; i++) {
		p[i].raw_ts = p[i].ts_ns;
		ng_epb(&b, &p[i]);
	}
	path = write_file("raw.pcapng", b.p, b.len);
	open_ok(&h, path, NULL);
	cr_assert_eq(pcv_get_linktype(h), DLT_RAW_LINUX);
	c.h = h;
	cr_assert_eq(pcv_capture(h, on_pkt, &c), 0);
	expect_pkts(&c, 0, p, 2, MAXSNAP, "raw pcapng");
	pcv_close(h);
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, 2);
}

Test(pcapfile, library_identity)
{
	const char *const *names = pcv_backends();
	bool pcapfile = false, afpacket = false;
	size_t n = 0;

	cr_assert_str_eq(pcv_version(), PCV_VERSION_STRING);
	cr_assert_str_eq(pcv_version(), "0.1.0");
	cr_assert_str_eq(pcv_platform_name(), "linux");
	cr_assert_not_null(names);
	for (; names[n] && n < 16; n++) {
		pcapfile |= strcmp(names[n], "pcapfile") == 0;
		afpacket |= strcmp(names[n], "afpacket") == 0;
	}
	cr_assert_lt(n, 16, "NULL-terminated");
	cr_assert_null(names[n]);
	cr_assert(pcapfile && afpacket);
	cr_assert_str_eq(names[0], "pcapfile", "auto tries files first");
}

/* ===== 11. error names and texts ========================================= */

Test(pcapfile, error_strings)
{
	cr_assert_str_eq(pcv_err_name(PCV_ECORRUPT), "PCV_ECORRUPT");
	cr_assert_str_eq(pcv_err_name(PCV_EFORMAT), "PCV_EFORMAT");
	cr_assert_str_eq(pcv_err_name(-ENOENT), "ENOENT");
	cr_assert_str_eq(pcv_err_name(0), "OK");
	cr_assert_str_eq(pcv_strerror(PCV_ECORRUPT),
			 "data is corrupt or truncated");
	cr_assert_str_eq(pcv_strerror(PCV_EFORMAT),
			 "unsupported format or version");
	cr_assert_str_eq(pcv_strerror(-ENOENT), strerror(ENOENT));
	cr_assert_str_eq(pcv_strerror(0), "success");
	cr_assert_not_null(pcv_strerror(12345));
	cr_assert_not_null(pcv_strerror(-99999));
	cr_assert_not_null(pcv_err_name(-99999));
	cr_assert_not_null(pcv_err_name(12345));
}

/* ===== 12. big records =================================================== */

/*
 * In host byte order the file is read in place (mapped); in the other one
 * libpcap reads it and records are copied into the 4 MiB arena, so more
 * than that cannot be one batch and the carry-over path must run.
 */
static void check_big(size_t n, uint32_t size, const char *name)
{
	struct tpkt *p = calloc(n, sizeof(*p));

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++) {
		p[i].ts_ns = (1700000000ull + i) * NS + 1000 * i;
		tpkt_set_data(&p[i], size, size, (uint32_t)(i * 977));
	}
	for (int be = 0; be < 2; be++) {
		struct wbuf b = { 0 };
		const char *path;

		pcap_build(&b, be, true, LT_EN10MB, MAXSNAP, p, n, NULL);
		path = write_file(name, b.p, b.len);
		wb_free(&b);
		for (int mode = 0; mode < 2; mode++) {
			struct pcv_config cfg = cfg_batch(64);
			struct coll c = { 0 };
			char err[PCV_ERRBUF_SIZE];
			int rc = read_all(path, &cfg, mode, &c, err);

			cr_assert_eq(rc, 0, "%s: %d %s", name, rc, err);
			cr_assert_eq(c.n, n, "%s: %zu of %zu", name, c.n, n);
			expect_pkts(&c, 0, p, n, MAXSNAP, name);
			if (mode) {
				cr_assert_not(c.empty_batch);
				if (be && (uint64_t)n * size > (4u << 20))
					cr_assert_geq(c.nbatches, 2);
			}
			coll_free(&c);
		}
	}
	tpkts_free(p, n);
}

Test(pcapfile, big_records_5x200000)
{
	check_big(5, 200000, "big5.pcap");
}

Test(pcapfile, big_records_40x150000)
{
	check_big(40, 150000, "big40.pcap");
}

/* Records at the snaplen limit, enough to cross the arena several times. */
Test(pcapfile, big_records_max_size)
{
	check_big(40, MAXSNAP, "bigmax.pcap");
}

/* ===== 13. stdin and pipes =============================================== */

static void stdin_from_fd(int fd)
{
	cr_assert_geq(dup2(fd, 0), 0, "dup2: %s", strerror(errno));
	close(fd);
	/* libpcap never closes stdin: forget what an earlier use left */
	__fpurge(stdin);
	clearerr(stdin);
}

static void stdin_from_file(const char *path)
{
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "open(%s): %s", path, strerror(errno));
	stdin_from_fd(fd);
}

Test(pcapfile, stdin_regular_file)
{
	struct tpkt *p;
	const char *path = small_pcap("stdin.pcap", LT_EN10MB, &p, 20);
	struct pcv_config cfg = cfg_batch(7);
	char err[PCV_ERRBUF_SIZE];
	struct coll c = { 0 };
	struct pcv_handle *h;

	stdin_from_file(path);
	cr_assert_eq(read_all("pcapfile:-", &cfg, true, &c, err), 0, "%s",
		     err);
	cr_assert_eq(c.n, 20);
	expect_pkts(&c, 0, p, 20, MAXSNAP, "stdin");
	coll_free(&c);

	/* "-" under "auto" is stdin too */
	stdin_from_file(path);
	open_ok(&h, "-", NULL);
	cr_assert_str_eq(pcv_get_backend(h), "pcapfile");
	pcv_close(h);
	tpkts_free(p, 20);
}

/* A damaged file on stdin that is a regular file: offsets still work. */
Test(pcapfile, stdin_regular_file_damaged)
{
	struct damaged d;
	char err[PCV_ERRBUF_SIZE];
	struct coll c = { 0 };
	int rc;

	dmg_build(&d, false, false, 3, 30, "stdin-cut.pcap");
	stdin_from_file(d.path);
	rc = read_all("pcapfile:-", NULL, false, &c, err);
	cr_assert_eq(rc, PCV_ECORRUPT, "rc %d: %s", rc, err);
	cr_assert_eq(c.n, 3);
	expect_pkts(&c, 0, d.p, 3, MAXSNAP, "stdin cut");
	cr_assert(has_offset(err, d.offs[3]), "want offset %zu: %s",
		  d.offs[3], err);
	coll_free(&c);
	dmg_free(&d);
}

struct pipe_writer {
	int fd;
	const uint8_t *data;
	size_t len;
};

static void *pipe_write_all(void *arg)
{
	struct pipe_writer *w = arg;
	size_t off = 0;

	while (off < w->len) {
		ssize_t k = write(w->fd, w->data + off, w->len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	close(w->fd);
	return NULL;
}

/* Feed @data through a pipe on fd 0 from a thread; read it all. */
static int read_pipe(const uint8_t *data, size_t len, bool batch,
		     uint32_t batch_size, struct coll *c, char *err)
{
	struct pipe_writer w = { .data = data, .len = len };
	struct pcv_config cfg = cfg_batch(batch_size);
	pthread_t t;
	int fds[2];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe(fds), 0);
	w.fd = fds[1];
	stdin_from_fd(fds[0]);
	cr_assert_eq(pthread_create(&t, NULL, pipe_write_all, &w), 0);
	rc = read_all("pcapfile:-", &cfg, batch, c, err);
	pthread_join(t, NULL);
	return rc;
}

Test(pcapfile, pipe_whole_file)
{
	struct tpkt *p = mkpkts(NPKTS, true);
	struct wbuf b = { 0 };
	char err[PCV_ERRBUF_SIZE];
	struct coll c = { 0 };

	pcap_build(&b, true, true, LT_EN10MB, MAXSNAP, p, NPKTS, NULL);
	cr_assert_eq(read_pipe(b.p, b.len, true, 7, &c, err), 0, "%s", err);
	cr_assert_eq(c.n, NPKTS);
	cr_assert_leq(c.max_batch, 7);
	expect_pkts(&c, 0, p, NPKTS, MAXSNAP, "pipe");
	coll_free(&c);
	wb_free(&b);
	tpkts_free(p, NPKTS);
}

Test(pcapfile, pipe_cut_in_record)
{
	char err[PCV_ERRBUF_SIZE];

	for (int mode = 0; mode < 2; mode++) {
		struct damaged d;
		struct coll c = { 0 };
		int rc;

		dmg_build(&d, mode == 1, false, 3, 40, "pipe-cut.bin");
		rc = read_pipe(d.b.p, d.b.len, mode == 1, 64, &c, err);
		cr_assert_eq(rc, PCV_ECORRUPT, "rc %d: %s", rc, err);
		cr_assert_eq(c.n, 3, "%zu packets before the damage", c.n);
		expect_pkts(&c, 0, d.p, 3, MAXSNAP, "pipe cut");
		cr_assert(strstr(err, "the record after packet 3"),
			  "pipe: no offsets, a record number: %s", err);
		cr_assert_null(strstr(err, "offset"), "%s", err);
		coll_free(&c);
		dmg_free(&d);
	}
}
