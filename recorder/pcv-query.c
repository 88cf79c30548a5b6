// SPDX-License-Identifier: MIT
/*
 * pcv-query.c - the packets of a store that match a query, as pcap.
 *
 * Plan: the time window picks segments and, through the index, blocks
 * whose time range meets it; the query's index terms (pcv/query.h) keep
 * only blocks that some flow row able to match covers.  A block is only
 * ever skipped when no packet in it can match, so the result is exact.
 * Execution: the chosen blocks are read and merged by timestamp
 * (cli-merge.c), and each packet is tested against the window and the
 * filter as libpcap compiled it - what tcpdump -r would keep.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli-merge.h"
#include "cli.h"
#include "pcv/dissect.h"
#include "pcv/filter.h"
#include "pcv/index.h"
#include "pcv/query.h"

#define NS_PER_SEC UINT64_C(1000000000)

static const char usage_text[] =
	"Usage: pcv-query -d DIR [options] [QUERY]\n"
	"\n"
	"Write the packets stored in DIR that match QUERY as pcap, in time\n"
	"order: exactly what tcpdump -r would keep of the same traffic.  QUERY\n"
	"is a tcpdump (pcap-filter) expression - Stenographer queries are\n"
	"one - with time terms joined by 'and'; no QUERY: every packet.\n"
	"\n"
	"Time terms: since T|DUR, last DUR, until T, between T1 and T2,\n"
	"before T, after T.  T: RFC 3339 (2026-11-24T03:15:00Z), Unix seconds,\n"
	"or DUR ago; DUR: a number with s, m, h or d.  The window includes\n"
	"its start and excludes its end.\n"
	"\n"
	"Options:\n"
	"  -d, --dir DIR          the store (as pcv-record -o)\n"
	"  -w, --write FILE       write to FILE (whole or not at all); '-' or\n"
	"                         no -w: standard output, not a terminal\n"
	"      --nano             nanosecond timestamps (default: microsecond)\n"
	"      --pcapng           pcapng instead of pcap\n"
	"      --format FMT       pcap, pcapng, text (a line per packet, may go\n"
	"                         to a terminal), json (with --flows)\n"
	"  -c, --count            print the number of matching packets only\n"
	"      --flows            print the index's flow rows that may match\n"
	"                         (window and host/net/port/protocol terms), no\n"
	"                         packets read; a table, or --format json\n"
	"      --limit-packets N  stop after N packets\n"
	"      --limit-bytes SIZE stop before the packets' bytes pass SIZE\n"
	"      --explain          print the plan (segments, blocks, bytes to\n"
	"                         read) and exit\n"
	"  -h, --help             this text\n"
	"\n"
	"Exit status: 0 done; 1 the store or a segment cannot be read; 2 a\n"
	"bad query or usage.\n"
	"\n"
	"Examples:\n"
	"  pcv-query -d /data/caps 'port 443 since 10m' | tcpdump -nr -\n"
	"  pcv-query -d /data/caps 'host 10.0.0.1 and after 3h ago' -w out.pcap\n"
	"  pcv-query -d /data/caps --count 'tcp[tcpflags] & tcp-syn != 0 and last 1h'\n"
	"  pcv-query -d /data/caps --format text 'udp port 53 and last 5m'\n"
	"  pcv-query -d /data/caps --flows 'host 10.0.0.1 and since 1h'\n"
	"  pcv-query -d /data/caps --explain 'net 10.0.0.0/8 and between "
	"2026-11-24T03:00:00Z and 2026-11-24T04:00:00Z'\n";

struct seg {
	int64_t id;
	char *name;
	int linktype;
	uint32_t snaplen;
	uint64_t *seqs;     /* chosen blocks */
	size_t nseqs, nblocks;
	uint64_t bytes;     /* compressed bytes of the chosen blocks */
	uint64_t all_bytes;
	uint64_t start_ns, end_ns; /* end: of the last indexed block */
	uint64_t first_ns, last_ns; /* of the chosen blocks */
	bool skipped;       /* outside the window: its rows were not read */
	bool unpruned;      /* a link type the flow index cannot judge */
};

struct plan {
	struct pcv_query q;
	struct pcv_index_flow_sel sel;  /* the one index lookup per segment */
	bool have_sel;
	uint8_t net_lo[16], net_hi[16];
	struct seg *segs;
	size_t n, cap;
	int flows;          /* --flows: 0 no, OUT_TEXT or OUT_JSON */
	uint64_t nflows;
	/* while listing one segment's blocks and flows */
	struct seg *cur;
	struct pcv_seg_block *blocks;
	size_t nb, nb_cap;
	int64_t *cover;     /* per block: flows starting minus ending there */
};

enum out_fmt { OUT_PCAP, OUT_PCAPNG, OUT_TEXT, OUT_JSON };

struct run {
	const struct pcv_query *q;
	struct pcv_bpf *bpf;
	enum out_fmt fmt;
	bool count;          /* --count: no output but the number */
	bool nano;
	FILE *fp;            /* text, pcapng */
	pcap_dumper_t *d;    /* pcap */
	int linktype;        /* DLT_ of the packets */
	uint64_t matched, limit, limit_bytes, bytes;
	/* progress on a terminal: packets read, by time across the plan */
	bool progress;
	uint64_t scanned, span_first, span_last, next_report_ns;
};

/* ===== planning ========================================================== */

static int on_segment(const struct pcv_index_seg *s, void *user)
{
	struct plan *p = user;
	struct seg *g;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct seg *ns = realloc(p->segs, cap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		p->segs = ns;
		p->cap = cap;
	}
	g = &p->segs[p->n];
	memset(g, 0, sizeof(*g));
	g->id = s->id;
	g->name = strdup(s->name);
	g->linktype = s->linktype;
	g->snaplen = s->snaplen;
	g->start_ns = s->start_ns;
	g->end_ns = s->end_ns;
	g->nblocks = s->nblocks;
	if (!g->name)
		return -ENOMEM;
	p->n++;
	return 0;
}

static int on_block(const struct pcv_seg_block *b, void *user)
{
	struct plan *p = user;

	if (p->nb == p->nb_cap) {
		size_t cap = p->nb_cap ? 2 * p->nb_cap : 64;
		struct pcv_seg_block *nb = realloc(p->blocks, cap * sizeof(*nb));

		if (!nb)
			return -ENOMEM;
		p->blocks = nb;
		p->nb_cap = cap;
	}
	p->blocks[p->nb++] = *b;
	return 0;
}

/* The first block (position in p->blocks, by seq) with seq >= @seq. */
static size_t block_at(const struct plan *p, uint64_t seq)
{
	size_t lo = 0, hi = p->nb;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->blocks[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * --flows: one row, as a line of the table or a JSON object.  A coarse
 * row stands for every flow of its class (family, protocol, VLAN,
 * EtherType) or for any packet: its addresses and ports are unknown.
 */
static void print_flow(const struct plan *p, const struct pcv_flow_rec *r)
{
	static const char *const level[] = { "exact", "class", "any",
					     "addresses" };
	int af = r->key.family == 6 ? AF_INET6 : AF_INET;
	char a[INET6_ADDRSTRLEN] = "", b[INET6_ADDRSTRLEN] = "";
	char t1[CLI_UTC_LEN], t2[CLI_UTC_LEN];
	bool exact = r->coarse == PCV_FLOW_EXACT;
	bool addrs = exact || r->coarse == PCV_FLOW_ADDR;
	const char *lv = r->coarse < 4 ? level[r->coarse] : "?";

	if (addrs) {
		inet_ntop(af, r->key.src, a, sizeof(a));
		inet_ntop(af, r->key.dst, b, sizeof(b));
	}
	if (p->flows == OUT_JSON) {
		printf("{\"segment\":\"%s\",\"level\":\"%s\",\"first_ns\":%"
		       PRIu64 ",\"last_ns\":%" PRIu64 ",\"family\":%u,"
		       "\"proto\":%u,\"vlan\":%u,\"ethertype\":%u",
		       p->cur->name, lv, r->first_ns, r->last_ns,
		       r->key.family, r->key.proto, r->key.vlan, r->ethertype);
		if (exact)
			printf(",\"addr_a\":\"%s\",\"port_a\":%u,"
			       "\"addr_b\":\"%s\",\"port_b\":%u", a,
			       r->key.sport, b, r->key.dport);
		else if (addrs)
			printf(",\"addr_a\":\"%s\",\"addr_b\":\"%s\"", a, b);
		printf(",\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"tcp_flags\":%u,\"first_block\":%u,"
		       "\"last_block\":%u}\n", r->pkts, r->bytes, r->tcp_flags,
		       r->first_block, r->last_block);
		return;
	}
	printf("%s %s", cli_utc(t1, r->first_ns), cli_utc(t2, r->last_ns));
	if (exact)
		printf(" %s proto %u %s %u <> %s %u", af == AF_INET6 ? "IP6" : "IP",
		       r->key.proto, a, r->key.sport, b, r->key.dport);
	else if (addrs)
		printf(" %s %s <> %s (malformed: protocol and ports unknown)",
		       af == AF_INET6 ? "IP6" : "IP", a, b);
	else if (r->coarse == PCV_FLOW_CLASS)
		printf(" class: family %u proto %u ethertype 0x%04x",
		       r->key.family, r->key.proto, r->ethertype);
	else
		printf(" any packet");
	if (r->key.vlan)
		printf(" vlan %u", r->key.vlan);
	printf(": %" PRIu64 " packets, %" PRIu64 " bytes", r->pkts, r->bytes);
	if (r->key.proto == 6 && r->key.family)
		printf(", tcp flags 0x%02x", r->tcp_flags);
	printf(" [%s, blocks %u-%u of %s]\n", lv, r->first_block,
	       r->last_block, p->cur->name);
}

/* Count the block range of a flow row that may match: +1 where it
 * starts, -1 past its end; a running sum then says which are covered. */
static int on_flow(const struct pcv_flow_rec *r, void *user)
{
	struct plan *p = user;
	size_t a, b;

	if (!pcv_query_flow_may_match(&p->q, r))
		return 0;
	if (p->flows) {
		if (r->last_ns >= p->q.since_ns && r->first_ns < p->q.until_ns) {
			print_flow(p, r);
			p->nflows++;
		}
		return 0;
	}
	a = block_at(p, r->first_block);
	b = block_at(p, (uint64_t)r->last_block + 1);
	if (a < b) {
		p->cover[a]++;
		p->cover[b]--;
	}
	return 0;
}

/*
 * The index lookup for the flow rows: the most selective term of the
 * top-level 'and' chain (a host, then a net, then a port); every row it
 * returns is then judged against all the terms.  Protocol terms alone go
 * through every row of the segment.
 */
static void choose_lookup(struct plan *p)
{
	static const enum pcv_query_term_kind order[] = {
		PCV_QT_HOST, PCV_QT_NET, PCV_QT_PORT,
	};

	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		for (size_t i = 0; i < p->q.nterms; i++) {
			const struct pcv_query_term *t = &p->q.terms[i];
			size_t alen = t->family == 4 ? 4 : 16;

			if (t->kind != order[k])
				continue;
			p->have_sel = true;
			p->sel.alen = alen;
			switch (t->kind) {
			case PCV_QT_HOST:
				p->sel.by = PCV_FLOWS_BY_ADDR;
				p->sel.lo = t->addr;
				break;
			case PCV_QT_NET:
				p->sel.by = PCV_FLOWS_BY_RANGE;
				for (size_t b = 0; b < alen; b++) {
					unsigned keep = t->prefix >= 8 * (b + 1)
						? 8 : t->prefix > 8 * b
						? t->prefix - 8 * (unsigned)b : 0;
					uint8_t m = (uint8_t)(0xffu >> keep);

					p->net_lo[b] = t->addr[b] & (uint8_t)~m;
					p->net_hi[b] = t->addr[b] | m;
				}
				p->sel.lo = p->net_lo;
				p->sel.hi = p->net_hi;
				break;
			default:
				p->sel.by = PCV_FLOWS_BY_PORT;
				p->sel.port = t->port;
				break;
			}
			return;
		}
	}
}

/* Choose the blocks of segment @g: in the window, and covered. */
static int plan_segment(struct plan *p, struct pcv_index *ix, struct seg *g)
{
	int rc;

	/* Blocks are indexed in time order within [start, end]: a segment
	 * wholly outside the window has nothing to read. */
	if (g->start_ns >= p->q.until_ns || g->end_ns < p->q.since_ns) {
		g->skipped = true;
		return 0;
	}
	p->nb = 0;
	rc = pcv_index_blocks(ix, g->id, on_block, p);
	if (rc < 0)
		return rc;
	g->nblocks = p->nb;
	free(p->cover);
	p->cover = calloc(p->nb + 1, sizeof(*p->cover));
	g->seqs = malloc((p->nb ? p->nb : 1) * sizeof(*g->seqs));
	if (!p->cover || !g->seqs)
		return -ENOMEM;
	p->cur = g;
	/* Flow rows of a link type the dissector cannot read say nothing
	 * (family 0, EtherType 0) while libpcap may still find addresses in
	 * its packets: such a segment is read whole. */
	g->unpruned = p->q.nterms && !pcv_dlt_supported(g->linktype);
	if ((p->q.nterms && !g->unpruned) || p->flows) {
		rc = p->have_sel
			? pcv_index_flows_select(ix, g->id, &p->sel, on_flow, p)
			: pcv_index_flows(ix, g->id, on_flow, p);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0, flows = 0; i < p->nb; i++) {
		const struct pcv_seg_block *b = &p->blocks[i];

		flows += (size_t)p->cover[i];
		g->all_bytes += b->comp_size;
		if (b->last_ns < p->q.since_ns || b->first_ns >= p->q.until_ns)
			continue;
		if (p->q.nterms && !g->unpruned && !flows)
			continue;
		if (!g->nseqs || b->first_ns < g->first_ns)
			g->first_ns = b->first_ns;
		if (b->last_ns > g->last_ns)
			g->last_ns = b->last_ns;
		g->seqs[g->nseqs++] = b->seq;
		g->bytes += b->comp_size;
	}
	return 0;
}

static int plan_store(struct plan *p, const char *dir)
{
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_index *ix;
	int rc;

	rc = pcv_index_open(&ix, dir, PCV_INDEX_RDONLY, errbuf);
	if (rc < 0) {
		if (rc == -ENOENT)
			cli_error("%s: no index here: not a store (pcv-record -o makes one), or run pcv-fsck --rebuild-index",
				  dir);
		else
			cli_error("%s", errbuf);
		return -1;
	}
	choose_lookup(p);
	rc = pcv_index_segments(ix, on_segment, p);
	for (size_t i = 0; rc >= 0 && i < p->n; i++)
		rc = plan_segment(p, ix, &p->segs[i]);
	if (rc < 0)
		cli_error("%s: reading the index: %s", dir,
			  rc == -ENOMEM ? "out of memory" : pcv_index_errmsg(ix));
	pcv_index_close(ix);
	return rc < 0 ? -1 : 0;
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->segs[i].name);
		free(p->segs[i].seqs);
	}
	free(p->segs);
	free(p->blocks);
	free(p->cover);
	pcv_query_free(&p->q);
}

static void explain(const struct plan *p)
{
	static const char *const kinds[] = { "host", "net", "port", "proto",
					     "vlan" };
	uint64_t bytes = 0, all = 0, nb = 0, chosen = 0;
	char addr[64], when[CLI_UTC_LEN];

	printf("filter (libpcap, exact): %s\n",
	       p->q.filter[0] ? p->q.filter : "(every packet)");
	printf("window: ");
	if (p->q.since_ns)
		fputs(cli_utc(when, p->q.since_ns), stdout);
	else
		printf("(start)");
	printf(" .. ");
	if (p->q.until_ns != UINT64_MAX)
		fputs(cli_utc(when, p->q.until_ns), stdout);
	else
		printf("(end)");
	printf(" (start included, end excluded)\n");
	printf("index terms:%s", p->q.nterms ? "" : " none (no block skipped by flows)");
	for (size_t i = 0; i < p->q.nterms; i++) {
		const struct pcv_query_term *t = &p->q.terms[i];

		printf(" %s", kinds[t->kind]);
		if (t->kind == PCV_QT_HOST || t->kind == PCV_QT_NET) {
			inet_ntop(t->family == 4 ? AF_INET : AF_INET6, t->addr,
				  addr, sizeof(addr));
			printf(t->kind == PCV_QT_NET ? " %s/%u" : " %s", addr,
			       t->prefix);
		} else {
			printf(" %u", t->kind == PCV_QT_PORT ? t->port
				      : t->kind == PCV_QT_VLAN ? t->vlan
							       : t->proto);
		}
		printf("%s", i + 1 < p->q.nterms ? " and" : "");
	}
	printf("\n");
	if (p->have_sel) {
		static const char *const how[] = {
			[PCV_FLOWS_BY_ADDR] = "addr_lo = ?A OR addr_hi = ?A "
					      "(flows_key, flows_addr_hi)",
			[PCV_FLOWS_BY_RANGE] = "addr_lo or addr_hi BETWEEN the "
					       "net's first and last address "
					       "(flows_key, flows_addr_hi)",
			[PCV_FLOWS_BY_PORT] = "port_lo = ?P OR port_hi = ?P "
					      "(flows_port_lo, flows_port_hi)",
		};

		printf("index lookup per segment: flows where %s, and the "
		       "coarse rows (flows_coarse); each row judged by every "
		       "term\n", how[p->sel.by]);
	} else if (p->q.nterms) {
		printf("index lookup per segment: every flow row, judged by "
		       "the terms\n");
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct seg *g = &p->segs[i];

		if (g->skipped) {
			printf("segment %s: outside the window, %zu blocks\n",
			       g->name, g->nblocks);
			nb += g->nblocks;
			continue;
		}
		printf("segment %s: %zu of %zu blocks, %" PRIu64 " of %" PRIu64
		       " bytes%s\n", g->name, g->nseqs, g->nblocks, g->bytes,
		       g->all_bytes, g->unpruned
		       ? " (link type the index cannot judge: every block)" : "");
		bytes += g->bytes;
		all += g->all_bytes;
		nb += g->nblocks;
		chosen += g->nseqs;
	}
	printf("total: %zu segments, %" PRIu64 " of %" PRIu64
	       " blocks, %" PRIu64 " of %" PRIu64 " bytes to read\n",
	       p->n, chosen, nb, bytes, all);
}

/* ===== execution ========================================================= */

/* ----- pcapng (draft-ietf-opsawg-pcapng): SHB, one IDB, EPBs ----- */

static void put32(FILE *f, uint32_t v)
{
	fwrite(&v, 4, 1, f); /* host order: the SHB's magic says which */
}

static void pcapng_begin(FILE *f, int dlt, bool nano)
{
	/* LINKTYPE_ values: DLT_RAW is 12 or 14 by platform, 101 on disk */
	uint16_t lt = dlt == DLT_RAW ? 101 : (uint16_t)dlt, zero = 0;
	uint32_t idb_len = 20 + (nano ? 12 : 0);

	put32(f, 0x0A0D0D0A);            /* section header */
	put32(f, 28);
	put32(f, 0x1A2B3C4D);
	fwrite(&(uint16_t){ 1 }, 2, 1, f); /* version 1.0 */
	fwrite(&zero, 2, 1, f);
	put32(f, 0xffffffff);            /* section length: unknown */
	put32(f, 0xffffffff);
	put32(f, 28);
	put32(f, 1);                     /* interface description */
	put32(f, idb_len);
	fwrite(&lt, 2, 1, f);
	fwrite(&zero, 2, 1, f);
	put32(f, 262144);                /* snaplen */
	if (nano) {                      /* if_tsresol = 10^-9 */
		fwrite(&(uint16_t){ 9 }, 2, 1, f);
		fwrite(&(uint16_t){ 1 }, 2, 1, f);
		put32(f, 9);
		put32(f, 0);             /* opt_endofopt */
	}
	put32(f, idb_len);
}

static void pcapng_packet(FILE *f, const struct pcv_packet *pk, bool nano)
{
	uint64_t ts = nano ? pk->ts_ns : pk->ts_ns / 1000;
	uint32_t pad = (4 - pk->caplen % 4) % 4, len = 32 + pk->caplen + pad;

	put32(f, 6);                     /* enhanced packet */
	put32(f, len);
	put32(f, 0);                     /* interface 0 */
	put32(f, (uint32_t)(ts >> 32));
	put32(f, (uint32_t)ts);
	put32(f, pk->caplen);
	put32(f, pk->len);
	fwrite(pk->data, 1, pk->caplen, f);
	fwrite("\0\0\0", 1, pad, f);
	put32(f, len);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* Four times a second on a terminal: how far through the plan's time. */
static void progress(struct run *r, uint64_t ts_ns, bool last)
{
	uint64_t now = mono_ns();
	double pct = 100.0;

	if (!last && now < r->next_report_ns)
		return;
	r->next_report_ns = now + NS_PER_SEC / 4;
	if (!last && r->span_last > r->span_first && ts_ns >= r->span_first)
		pct = 100.0 * (double)(ts_ns - r->span_first) /
		      (double)(r->span_last - r->span_first);
	fprintf(stderr, "\r%s: %5.1f%%, %" PRIu64 " packets read, %" PRIu64
		" matched%s", cli_prog, pct > 100 ? 100 : pct, r->scanned,
		r->matched, last ? "\n" : "");
}

static int on_packet(const struct pcv_packet *pk, void *user)
{
	struct run *r = user;
	struct pcap_pkthdr h;
	struct pcv_dissect d;
	int rc;

	r->scanned++;
	if (r->progress)
		progress(r, pk->ts_ns, false);
	if (pk->ts_ns < r->q->since_ns || pk->ts_ns >= r->q->until_ns ||
	    !pcv_bpf_match(r->bpf, pk->data, pk->caplen, pk->len))
		return 0;
	if (r->limit_bytes && r->bytes + pk->caplen > r->limit_bytes)
		return 1;
	r->matched++;
	r->bytes += pk->caplen;
	if (r->count) {
		/* nothing to write */
	} else if (r->fmt == OUT_PCAP) {
		h.ts.tv_sec = (time_t)(pk->ts_ns / NS_PER_SEC);
		h.ts.tv_usec = (suseconds_t)(pk->ts_ns % NS_PER_SEC /
					     (r->nano ? 1 : 1000));
		h.caplen = pk->caplen;
		h.len = pk->len;
		pcap_dump((u_char *)r->d, &h, pk->data);
	} else if (r->fmt == OUT_PCAPNG) {
		pcapng_packet(r->fp, pk, r->nano);
	} else {
		rc = pcv_dissect(pk->data, pk->caplen, r->linktype, &d);
		cli_print_packet(r->fp, pk, &d, rc, r->linktype, true);
	}
	return r->limit && r->matched >= r->limit ? 1 : 0;
}

/* Print the query with a caret under byte @pos. */
static void show_fault(const char *query, size_t pos)
{
	fprintf(stderr, "  %s\n  %*s^\n", query, (int)pos, "");
}

/* libpcap names no position; a quoted word it names is the likely one. */
static size_t guess_pos(const char *query, const char *msg)
{
	const char *q = strchr(msg, '\'');
	const char *found;
	char word[128];
	size_t n;

	while (q) {
		const char *e = strchr(q + 1, '\'');

		if (!e)
			break;
		n = (size_t)(e - q - 1);
		if (n && n < sizeof(word)) {
			memcpy(word, q + 1, n);
			word[n] = '\0';
			found = strstr(query, word);
			if (found && strcmp(word, query) != 0)
				return (size_t)(found - query);
		}
		q = strchr(e + 1, '\'');
	}
	return strlen(query);
}

/* Compile the filter for the link type of the packets to be read: the
 * first segment chosen (the merge refuses a second link type). */
static int compile(struct run *r, const struct plan *p, const char *query)
{
	int dlt = p->n ? p->segs[0].linktype : DLT_EN10MB;
	uint32_t snaplen = 262144;
	char errbuf[PCV_ERRBUF_SIZE];
	const char *why;
	int rc;

	for (size_t i = 0; i < p->n; i++) {
		if (p->segs[i].nseqs) {
			dlt = p->segs[i].linktype;
			break;
		}
	}
	rc = pcv_bpf_compile(&r->bpf, p->q.filter, dlt, snaplen, errbuf);
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	/* "bad filter expression 'EXPR': why" */
	why = strstr(errbuf, "': ");
	why = why ? why + 3 : errbuf;
	cli_error("bad query: %s", why);
	show_fault(query, guess_pos(query, why));
	fprintf(stderr, "  (a tcpdump expression, with time terms joined by 'and'; see pcv-query --help)\n");
	return CLI_EXIT_USAGE;
}

static int execute(struct plan *p, struct run *r, const char *dir,
		   const char *out)
{
	struct merge m = { 0 };
	char *tmp = NULL, path[4096];
	FILE *fp = stdout;
	pcap_t *dead = NULL;
	int rc = 0;

	r->span_first = UINT64_MAX;
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		const struct seg *g = &p->segs[i];

		if (!g->nseqs)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, g->name);
		rc = merge_add(&m, path, g->seqs, g->nseqs);
		if (g->first_ns < r->span_first)
			r->span_first = g->first_ns;
		if (g->last_ns > r->span_last)
			r->span_last = g->last_ns;
	}
	if (rc < 0)
		goto out;
	r->linktype = m.n ? m.linktype : (p->n ? p->segs[0].linktype : DLT_EN10MB);
	if (!r->count) {
		struct stat st;

		/* A new or regular file is written whole or not at all: into
		 * a temporary name, renamed at the end.  Anything else (a
		 * device such as /dev/null, a FIFO) is opened as it is: a
		 * rename would replace it. */
		if (out && (stat(out, &st) < 0 || S_ISREG(st.st_mode)) &&
		    asprintf(&tmp, "%s.partial-%d", out, (int)getpid()) < 0) {
			rc = -1;
			goto out;
		}
		if (out && !(fp = fopen(tmp ? tmp : out, "wb"))) {
			cli_error("%s: %s", tmp ? tmp : out, strerror(errno));
			rc = -1;
			goto out;
		}
		setvbuf(fp, NULL, _IOFBF, 1 << 20);
		r->fp = fp;
		if (r->fmt == OUT_PCAPNG)
			pcapng_begin(fp, r->linktype, r->nano);
	}
	if (!r->count && r->fmt == OUT_PCAP) {
		dead = pcap_open_dead_with_tstamp_precision(r->linktype,
			262144, r->nano ? PCAP_TSTAMP_PRECISION_NANO
					: PCAP_TSTAMP_PRECISION_MICRO);
		r->d = dead ? pcap_dump_fopen(dead, fp) : NULL;
		if (!r->d) {
			cli_error("%s: cannot write pcap", out ? out : "stdout");
			if (out)
				fclose(fp);
			rc = -1;
			goto out;
		}
	}
	rc = merge_run(&m, on_packet, r);
	if (rc > 0)
		rc = 0; /* a limit */
	if (r->progress)
		progress(r, 0, true);
	if (r->fp) {
		if (fflush(fp) != 0 || ferror(fp)) {
			cli_error("%s: write error: %s", out ? out : "stdout",
				  strerror(errno));
			rc = -1;
		}
		if (r->d)
			pcap_dump_close(r->d); /* closes fp */
		else if (out)
			fclose(fp);
		r->d = NULL;
		r->fp = NULL;
	}
	if (rc == 0 && tmp && rename(tmp, out) < 0) {
		cli_error("%s: %s", out, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && r->count)
		printf("%" PRIu64 "\n", r->matched);
out:
	if (tmp) {
		if (rc)
			unlink(tmp);
		free(tmp);
	}
	if (dead)
		pcap_close(dead);
	if (rc == 0 && m.failed)
		rc = -1;
	merge_free(&m);
	return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "write", required_argument, NULL, 'w' },
		{ "nano", no_argument, NULL, 'n' },
		{ "count", no_argument, NULL, 'c' },
		{ "limit-packets", required_argument, NULL, 'L' },
		{ "limit-bytes", required_argument, NULL, 'B' },
		{ "pcapng", no_argument, NULL, 'G' },
		{ "format", required_argument, NULL, 'F' },
		{ "flows", no_argument, NULL, 'f' },
		{ "explain", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *out = NULL;
	struct cli_filter qf = { 0 };
	struct plan p = { 0 };
	struct run r = { 0 };
	bool show_plan = false, text_fmt = false, json = false;
	char err[256];
	struct timespec now;
	size_t pos = 0;
	int opt, rc;

	cli_init(argv[0]);
	while ((opt = getopt_long(argc, argv, "d:w:ch", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'w':
			out = optarg;
			break;
		case 'n':
			r.nano = true;
			break;
		case 'c':
			r.count = true;
			break;
		case 'B':
			if (cli_parse_size("--limit-bytes", optarg, 1,
					   UINT64_MAX, &r.limit_bytes) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'G':
			r.fmt = OUT_PCAPNG;
			break;
		case 'F':
			if (strcmp(optarg, "pcap") == 0) {
				r.fmt = OUT_PCAP;
			} else if (strcmp(optarg, "pcapng") == 0) {
				r.fmt = OUT_PCAPNG;
			} else if (strcmp(optarg, "text") == 0) {
				r.fmt = OUT_TEXT;
				text_fmt = true;
			} else if (strcmp(optarg, "json") == 0) {
				json = true;
			} else {
				cli_error("--format: '%s': pcap, pcapng, text or json (with --flows)",
					  optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'f':
			p.flows = OUT_TEXT;
			break;
		case 'L':
			if (cli_parse_u64("--limit-packets", optarg, 1,
					  UINT64_MAX, &r.limit) < 0)
				return CLI_EXIT_USAGE;
			break;
		case 'E':
			show_plan = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return CLI_EXIT_USAGE;
		}
	}
	if (!dir) {
		cli_error("give the store with -d DIR (see --help)");
		return CLI_EXIT_USAGE;
	}
	if (json && !p.flows) {
		cli_error("--format json is for --flows");
		return CLI_EXIT_USAGE;
	}
	if (p.flows && (out || r.count || r.fmt == OUT_PCAPNG || r.limit ||
			r.limit_bytes)) {
		cli_error("--flows prints flow rows on standard output: no -w, --count, --pcapng or limits");
		return CLI_EXIT_USAGE;
	}
	if (json)
		p.flows = OUT_JSON;
	if (out && strcmp(out, "-") == 0)
		out = NULL;
	r.progress = !show_plan && !p.flows && cli_stderr_is_tty();
	if (!out && !r.count && !show_plan && !p.flows && !text_fmt &&
	    isatty(STDOUT_FILENO)) {
		cli_error("refusing to write a binary pcap to a terminal: use -w FILE, a pipe, or --count");
		return CLI_EXIT_USAGE;
	}
	if (cli_filter_expr(&qf, argc, argv, optind) < 0)
		return CLI_EXIT_FAIL;
	clock_gettime(CLOCK_REALTIME, &now);
	rc = pcv_query_parse(&p.q, qf.expr ? qf.expr : "",
			     (uint64_t)now.tv_sec * NS_PER_SEC +
				     (uint64_t)now.tv_nsec,
			     err, sizeof(err), &pos);
	if (rc == -EINVAL) {
		cli_error("bad query: %s", err);
		show_fault(qf.expr ? qf.expr : "", pos);
		free(qf.expr);
		return CLI_EXIT_USAGE;
	}
	if (rc < 0) {
		cli_error("%s", err);
		free(qf.expr);
		return CLI_EXIT_FAIL;
	}
	r.q = &p.q;
	/* --flows prints while planning: refuse a bad expression first */
	rc = p.flows ? compile(&r, &p, qf.expr ? qf.expr : "") : CLI_EXIT_OK;
	pcv_bpf_free(r.bpf);
	r.bpf = NULL;
	if (rc == CLI_EXIT_OK)
		rc = plan_store(&p, dir) < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	if (rc == CLI_EXIT_OK)
		rc = compile(&r, &p, qf.expr ? qf.expr : "");
	if (rc == CLI_EXIT_OK && show_plan)
		explain(&p);
	else if (rc == CLI_EXIT_OK && !p.flows)
		rc = execute(&p, &r, dir, out);
	pcv_bpf_free(r.bpf);
	plan_free(&p);
	free(qf.expr);
	return rc;
}
