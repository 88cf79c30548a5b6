// SPDX-License-Identifier: MIT
/*
 * pcv-record.c - the recorder: capture from an interface (or import
 * capture files) into a store of zstd segments indexed in SQLite.
 *
 * Threads: one capture thread per --threads (live, sharing the interface
 * with PACKET_FANOUT), or the main thread reading the files one after the
 * other (import); the writer thread (pcv/writer.h) stores what they push.
 * Signals: SIGINT/SIGTERM stop capture, then the writer drains, flushes,
 * seals and commits; SIGHUP seals the open segments and starts new ones.
 */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "pcv/pcv.h"
#include "pcv/writer.h"

#define MAX_THREADS 64
#define MAX_FILES 4096

static const char usage_text[] =
	"Usage: pcv-record -i IFACE | -r FILE... -o DIR [options] [EXPRESSION]\n"
	"\n"
	"Record packets into DIR: zstd-compressed pcap segments and an SQLite\n"
	"flow index, for pcv-query and pcv-cat.  EXPRESSION is a tcpdump filter.\n"
	"\n"
	"  -i, --interface IFACE     capture live (needs CAP_NET_RAW)\n"
	"  -r, --read FILE           import a pcap/pcapng file; repeat it, or\n"
	"                            give a quoted glob ('caps/*.pcap')\n"
	"  -o, --output DIR          the store (created if missing)\n"
	"  -f, --filter FILE         VFM filter (bytecode, assembly, VFLisp)\n"
	"  -l, --lisp EXPR           VFM filter in VFLisp\n"
	"  -s, --snaplen N           bytes kept per packet (default 262144)\n"
	"  -b, --backend NAME        afpacket, afxdp or auto (default: afxdp on\n"
	"                            an interface without IP address, else\n"
	"                            afpacket)\n"
	"      --threads N           capture threads: sharing IFACE (fanout), or\n"
	"                            with afxdp one per receive queue (default:\n"
	"                            all of IFACE's queues)\n"
	"  -z, --level N             zstd level, 1..19 (default 3)\n"
	"      --block-size SIZE     raw bytes per block (default 1MiB)\n"
	"      --segment-size SIZE   raw bytes per segment (default 256MiB)\n"
	"      --segment-time DUR    segment length (default 60s live, none\n"
	"                            for import; 0: no limit)\n"
	"      --align               cut segments on multiples of segment-time\n"
	"      --flush-interval DUR  data queryable after at most this (1s)\n"
	"      --cpu LIST            pin capture thread i to the i-th CPU of LIST\n"
	"                            (like 2,3 or 2-5)\n"
	"      --xdp-mode MODE       afxdp: native or generic (default: native,\n"
	"                            else generic)\n"
	"      --max-flows N         exact flows per index commit, then coarse\n"
	"                            rows (65536)\n"
	"  -q, --quiet               no statistics line every 10 s\n"
	"  -v, --verbose             with each statistics line and at the end,\n"
	"                            a line per capture thread or queue\n"
	"  -h, --help                this text\n"
	"\n"
	"SIGINT/SIGTERM: stop, store everything received, exit 0.\n"
	"SIGHUP: seal the open segments and start new ones.\n"
	"Exit status: 0 done, 1 failure, 2 usage error.\n"
	"\n"
	"Examples:\n"
	"  pcv-record -i eth0 -o /data/caps\n"
	"  pcv-record -i eth0 -o /data/caps --threads 2 'not port 22'\n"
	"  pcv-record -r 'old/*.pcap' -o /data/caps\n";

struct opts {
	const char *iface, *dir;
	const char *files[MAX_FILES];
	unsigned nfiles;
	unsigned threads;
	bool threads_given;
	int cpus[MAX_THREADS];   /* --cpu */
	unsigned ncpus;
	bool quiet, verbose;
	struct pcv_config cfg;
	struct cli_filter filter;
	struct pcv_writer_opts wo;
};

struct worker {
	struct pcv_handle *h;
	const char *name;      /* segment names: the interface, or "import" */
	unsigned queue;
	struct pcv_writer_src *src;
	struct cli_filter filter; /* its own VFM instance */
	pthread_t thread;
	int drain_ms;          /* live: what to wait for after a stop */
	int rc;
	char err[PCV_ERRBUF_SIZE];
	uint64_t received;
};

/* The import progress bar, on a terminal only. */
struct progress {
	bool on;
	uint64_t total, done;  /* bytes of all files; bytes read so far */
	uint64_t pkts;
	uint64_t start_ns, last_ns;
};

static struct progress g_progress;
static struct worker g_workers[MAX_THREADS];
static unsigned g_nworkers;
static struct pcv_writer *g_writer;
static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		if (g_writer)
			pcv_writer_rotate(g_writer);
		return;
	}
	g_stop = 1;
	for (unsigned i = 0; i < g_nworkers; i++) {
		if (g_workers[i].h)
			pcv_breakloop(g_workers[i].h);
	}
}

static int add_files(struct opts *o, const char *pattern)
{
	glob_t g;
	int rc = glob(pattern, GLOB_NOCHECK, NULL, &g);

	if (rc != 0) {
		cli_error("%s: cannot expand", pattern);
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		if (o->nfiles == MAX_FILES) {
			cli_error("more than %d files", MAX_FILES);
			globfree(&g);
			return -1;
		}
		o->files[o->nfiles++] = strdup(g.gl_pathv[i]);
	}
	globfree(&g);
	return 0;
}

/* "2,3" or "2-5,8": CPU numbers for the capture threads, in order. */
static int parse_cpus(const char *list, struct opts *o)
{
	const char *p = list;

	o->ncpus = 0;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10), b;

		if (end == p || a < 0 || a > 4095)
			goto bad;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtol(p, &end, 10);
			if (end == p || b < a || b > 4095)
				goto bad;
		}
		for (long c = a; c <= b; c++) {
			if (o->ncpus == MAX_THREADS)
				goto bad;
			o->cpus[o->ncpus++] = (int)c;
		}
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			goto bad;
		p = end;
	}
	if (o->ncpus)
		return 0;
bad:
	cli_error("--cpu '%s': a list of CPU numbers like 2,3 or 2-5 (at most %d)",
		  list, MAX_THREADS);
	return -1;
}

/* The receive queues of @ifname (/sys/class/net/IF/queues/rx-N), or 1. */
static unsigned rx_queues(const char *ifname)
{
	char path[128];
	unsigned n = 0;

	for (;;) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%u",
			 ifname, n);
		if (access(path, F_OK) < 0)
			break;
		n++;
	}
	return n ? n : 1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { O_THREADS = 256, O_BLOCK, O_SEGSIZE, O_SEGTIME, O_ALIGN,
	       O_FLUSH, O_MAXFLOWS, O_XDPMODE, O_CPU };
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "read", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "filter", required_argument, NULL, 'f' },
		{ "lisp", required_argument, NULL, 'l' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "backend", required_argument, NULL, 'b' },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "level", required_argument, NULL, 'z' },
		{ "block-size", required_argument, NULL, O_BLOCK },
		{ "segment-size", required_argument, NULL, O_SEGSIZE },
		{ "segment-time", required_argument, NULL, O_SEGTIME },
		{ "align", no_argument, NULL, O_ALIGN },
		{ "flush-interval", required_argument, NULL, O_FLUSH },
		{ "max-flows", required_argument, NULL, O_MAXFLOWS },
		{ "xdp-mode", required_argument, NULL, O_XDPMODE },
		{ "cpu", required_argument, NULL, O_CPU },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool segtime_given = false;
	uint64_t v;
	int c;

	pcv_config_init(&o->cfg);
	pcv_writer_opts_init(&o->wo);
	o->threads = 1;
	while ((c = getopt_long(argc, argv, "i:r:o:f:l:s:b:z:qvh", longopts,
				NULL)) != -1) {
		int shared = cli_capture_opt(c, optarg, &o->cfg, &o->filter);

		if (shared < 0)
			return -1;
		if (shared)
			continue;
		switch (c) {
		case 'i':
			o->iface = optarg;
			break;
		case 'r':
			if (add_files(o, optarg) < 0)
				return -1;
			break;
		case 'o':
			o->dir = optarg;
			break;
		case O_THREADS:
			if (cli_parse_u64("--threads", optarg, 1, MAX_THREADS,
					  &v) < 0)
				return -1;
			o->threads = (unsigned)v;
			o->threads_given = true;
			break;
		case 'z':
			if (cli_parse_u64("--level", optarg, 1, 19, &v) < 0)
				return -1;
			o->wo.level = (int)v;
			break;
		case O_BLOCK:
			if (cli_parse_size("--block-size", optarg, 4096,
					   64u << 20, &v) < 0)
				return -1;
			o->wo.block_size = (uint32_t)v;
			break;
		case O_SEGSIZE:
			if (cli_parse_size("--segment-size", optarg, 1u << 20,
					   1ull << 40, &o->wo.segment_size) < 0)
				return -1;
			break;
		case O_SEGTIME:
			if (cli_parse_duration_ns("--segment-time", optarg, 0,
						  30ull * 86400 * 1000000000,
						  &o->wo.segment_ns) < 0)
				return -1;
			segtime_given = true;
			break;
		case O_ALIGN:
			o->wo.segment_align = true;
			break;
		case O_FLUSH:
			if (cli_parse_duration_ns("--flush-interval", optarg,
						  1000000, 3600ull * 1000000000,
						  &o->wo.flush_ns) < 0)
				return -1;
			break;
		case O_MAXFLOWS:
			if (cli_parse_u64("--max-flows", optarg, 1, 1u << 24,
					  &v) < 0)
				return -1;
			o->wo.max_flows = (uint32_t)v;
			break;
		case O_XDPMODE:
			o->cfg.xdp_mode = optarg;
			break;
		case O_CPU:
			if (parse_cpus(optarg, o) < 0)
				return -1;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(CLI_EXIT_OK);
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return -1;
		}
	}
	if (cli_filter_expr(&o->filter, argc, argv, optind) < 0)
		return -1;
	if (!o->iface == !o->nfiles) {
		cli_error("give -i IFACE or -r FILE...");
		return -1;
	}
	if (!o->dir) {
		cli_error("give the store directory with -o DIR");
		return -1;
	}
	if (o->nfiles && o->threads > 1) {
		cli_error("--threads is for live capture (-i)");
		return -1;
	}
	if (o->quiet)
		o->wo.stats_ns = 0;
	/* Imported files span whatever time they span: by default cut them
	 * by size only, not into a segment per minute of old traffic. */
	if (o->nfiles && !segtime_given)
		o->wo.segment_ns = 0;
	/* A file waits for the writer instead of dropping, so it needs no
	 * deep pool to absorb bursts: 64 batches cycled stay in cache,
	 * where 512 would each be faulted in fresh (bench-import.sh: 10 %
	 * of the import's time). */
	if (o->nfiles)
		o->wo.pool_batches = 64;
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Bytes read, packets/s and the time left, four times a second.  Bytes
 * are counted as pcap records (16 + caplen), which is what a pcap file
 * holds; pcapng files run a little ahead of the bar. */
static void progress_update(const struct pcv_batch *b)
{
	struct progress *p = &g_progress;
	uint64_t now = mono_ns();
	double secs, frac, rate;
	char bar[21];
	int fill;

	for (uint32_t i = 0; i < b->count; i++)
		p->done += 16 + b->pkts[i].caplen;
	p->pkts += b->count;
	if (now - p->last_ns < 250000000u)
		return;
	p->last_ns = now;
	secs = (double)(now - p->start_ns) / 1e9;
	frac = p->total ? (double)p->done / (double)p->total : 0;
	if (frac > 1)
		frac = 1;
	fill = (int)(frac * 20);
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '-', (size_t)(20 - fill));
	bar[20] = '\0';
	rate = secs > 0 ? (double)p->pkts / secs : 0;
	fprintf(stderr, "\r[%s] %3.0f%%  %.0f of %.0f MB  %.0f pkt/s  ETA %.0f s   ",
		bar, frac * 100, (double)p->done / 1e6, (double)p->total / 1e6,
		rate, frac > 0 ? secs / frac - secs : 0);
}

static void on_batch(const struct pcv_batch *b, void *user)
{
	struct worker *wk = user;

	if (g_progress.on)
		progress_update(b);
	if (wk->filter.vm) {
		struct pcv_packet kept[PCV_MAX_BATCH];
		struct pcv_batch kb = { .pkts = kept, .count = 0 };

		for (uint32_t i = 0; i < b->count; i++) {
			if (cli_filter_match(&wk->filter, &b->pkts[i]))
				kept[kb.count++] = b->pkts[i];
		}
		b = &kb;
		if (!kb.count)
			return;
		wk->received += kb.count;
		pcv_writer_src_push(wk->src, &kb);
		return;
	}
	wk->received += b->count;
	pcv_writer_src_push(wk->src, b);
}

static void *capture_main(void *arg)
{
	struct worker *wk = arg;
#if defined(__linux__)
	char name[16];

	/* top -H and the benchmarks tell the capture threads apart */
	snprintf(name, sizeof(name), "pcv-cap/%u", wk->queue);
	pthread_setname_np(pthread_self(), name);
#endif

	wk->rc = pcv_capture_batch(wk->h, on_batch, wk);
	/* Stopped: what the kernel already took is stored too, including
	 * its partly filled block, handed over at the block timeout. */
	if (wk->rc == 0 && g_stop && wk->drain_ms)
		wk->rc = pcv_capture_drain(wk->h, on_batch, wk, wk->drain_ms);
	if (wk->rc < 0)
		snprintf(wk->err, sizeof(wk->err), "%s", pcv_get_error(wk->h));
	pcv_writer_src_done(wk->src);
	return NULL;
}

static void install_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (ulimit -f) then fails a write with EFBIG, which
	 * the segment writer treats as a full disk, instead of killing us. */
	signal(SIGXFSZ, SIG_IGN);
}

/* Open one capture (a live thread's, or a file) with its own VFM copy;
 * on failure the reason is in @errbuf. */
static int open_capture(struct opts *o, struct worker *wk, const char *src,
			const char *name, unsigned queue, char *errbuf)
{
	int rc;

	wk->filter = o->filter;
	wk->filter.expr = o->filter.expr;
	wk->filter.vm = NULL;
	rc = cli_filter_prepare(&wk->filter, &o->cfg);
	if (rc != CLI_EXIT_OK) {
		errbuf[0] = '\0'; /* it said why */
		return rc;
	}
	rc = pcv_open(&wk->h, src, &o->cfg, errbuf);
	wk->filter.expr = NULL; /* o->filter's; compiled into the handle */
	if (rc < 0) {
		cli_filter_free(&wk->filter);
		return rc == -EINVAL || rc == PCV_EBACKEND ? CLI_EXIT_USAGE
							    : CLI_EXIT_FAIL;
	}
	wk->name = name;
	wk->queue = queue;
	g_nworkers++;
	return CLI_EXIT_OK;
}

static void close_captures(void)
{
	for (unsigned i = 0; i < g_nworkers; i++) {
		pcv_close(g_workers[i].h);
		cli_filter_free(&g_workers[i].filter);
		memset(&g_workers[i], 0, sizeof(g_workers[i]));
	}
	g_nworkers = 0;
}

/* The backend a live source names: its "NAME:" prefix, else -b. */
static const char *named_backend(const struct opts *o, const char **ifname)
{
	const char *colon = strchr(o->iface, ':');
	const char *const *names = pcv_backends();

	*ifname = o->iface;
	for (size_t i = 0; colon && names[i]; i++) {
		if (strlen(names[i]) == (size_t)(colon - o->iface) &&
		    strncmp(o->iface, names[i], strlen(names[i])) == 0) {
			*ifname = colon + 1;
			return names[i];
		}
	}
	return o->cfg.backend && strcmp(o->cfg.backend, "auto") != 0
		       ? o->cfg.backend : NULL;
}

#if defined(__linux__)
/*
 * Why "auto" should not take @ifname with AF_XDP (NULL: nothing against).
 * AF_XDP takes a queue's packets away from the kernel's stack: right on a
 * capture port (SPAN, TAP), wrong on an interface the host talks through,
 * so an interface with an address (IPv6 link-local aside: the kernel adds
 * one to every interface) keeps AF_PACKET.
 */
static const char *afxdp_objection(const struct opts *o, const char *ifname,
				   char *buf, size_t len)
{
	struct ifaddrs *all, *a;
	unsigned queues = rx_queues(ifname);
	bool addressed = false;

	if (getifaddrs(&all) < 0) {
		snprintf(buf, len, "%s's addresses: %s", ifname, strerror(errno));
		return buf;
	}
	for (a = all; a && !addressed; a = a->ifa_next) {
		int fam = a->ifa_addr ? a->ifa_addr->sa_family : AF_UNSPEC;

		if (strcmp(a->ifa_name, ifname) != 0)
			continue;
		addressed = fam == AF_INET ||
			    (fam == AF_INET6 &&
			     !IN6_IS_ADDR_LINKLOCAL(
				     &((struct sockaddr_in6 *)(void *)a->ifa_addr)
					      ->sin6_addr));
	}
	freeifaddrs(all);
	if (addressed)
		snprintf(buf, len,
			 "%s has an IP address and AF_XDP would take its packets "
			 "from the host (-b afxdp to use it anyway)", ifname);
	else if (o->threads_given && o->threads != queues)
		snprintf(buf, len, "--threads %u, but %s has %u receive queue%s",
			 o->threads, ifname, queues, queues > 1 ? "s" : "");
	else
		return NULL;
	return buf;
}
#endif

/* One capture per thread: per receive queue with AF_XDP, else sharing
 * the interface by flow (PACKET_FANOUT). */
static int open_live(struct opts *o, const char *ifname, bool afxdp,
		     char *errbuf)
{
	int rc = CLI_EXIT_OK;

	if (afxdp && !o->threads_given) {
		o->threads = rx_queues(ifname);
		if (o->threads > MAX_THREADS)
			o->threads = MAX_THREADS;
	}
	o->cfg.fanout_group = !afxdp && o->threads > 1
				      ? (uint16_t)(getpid() & 0xffff) : 0;
	o->cfg.fanout_mode = PCV_FANOUT_HASH;
	for (unsigned i = 0; rc == CLI_EXIT_OK && i < o->threads; i++) {
		o->cfg.queue = afxdp ? i : 0;
		o->cfg.cpu = o->ncpus ? o->cpus[i % o->ncpus] : -1;
		rc = open_capture(o, &g_workers[i], o->iface, ifname, i, errbuf);
		g_workers[i].drain_ms = (int)o->cfg.block_timeout_ms * 2 + 50;
	}
	if (rc != CLI_EXIT_OK)
		close_captures();
	return rc;
}

/*
 * "auto" on Linux: AF_XDP on a capture port when it can attach, else
 * AF_PACKET, saying in one line why not.  (The library's own "auto" never
 * picks AF_XDP: a handle binds one queue, the recorder opens them all.)
 */
static int open_auto(struct opts *o, const char *ifname, char *errbuf)
{
#if defined(__linux__)
	char why[PCV_ERRBUF_SIZE];
	const char *objection = afxdp_objection(o, ifname, why, sizeof(why));
	unsigned threads = o->threads;
	int rc;

	if (!objection) {
		o->cfg.backend = "afxdp";
		rc = open_live(o, ifname, true, errbuf);
		if (rc != CLI_EXIT_FAIL) /* opened, or a usage error */
			return rc;
		snprintf(why, sizeof(why), "%s", errbuf);
		objection = why;
		o->threads = threads;
	}
	o->cfg.backend = "afpacket";
	rc = open_live(o, ifname, false, errbuf);
	if (rc == CLI_EXIT_OK)
		fprintf(stderr, "%s: not using afxdp: %s\n", cli_prog, objection);
	return rc;
#else
	return open_live(o, ifname, false, errbuf);
#endif
}

/*
 * Open every source before the store is touched, so that a wrong
 * interface or file leaves no empty store behind.
 */
static int open_captures(struct opts *o)
{
	char errbuf[PCV_ERRBUF_SIZE] = "";
	char src[4096];
	int rc = CLI_EXIT_OK;

	if (o->nfiles > MAX_THREADS) {
		cli_error("import at most %d files at a time", MAX_THREADS);
		return CLI_EXIT_USAGE;
	}
	if (o->iface) {
		const char *ifname, *want = named_backend(o, &ifname);
		bool afxdp = want && strcmp(want, "afxdp") == 0;
		unsigned queues = rx_queues(ifname);

		rc = want ? open_live(o, ifname, afxdp, errbuf)
			  : open_auto(o, ifname, errbuf);
		if (rc == CLI_EXIT_OK && afxdp && o->threads < queues)
			fprintf(stderr, "%s: warning: capturing %u of %s's %u "
				"receive queues; the others' packets go to the "
				"host unrecorded\n", cli_prog, o->threads,
				ifname, queues);
	}
	for (unsigned i = 0; rc == CLI_EXIT_OK && i < o->nfiles; i++) {
		struct stat st;

		if (stat(o->files[i], &st) == 0)
			g_progress.total += (uint64_t)st.st_size;
		snprintf(src, sizeof(src), "pcapfile:%s", o->files[i]);
		rc = open_capture(o, &g_workers[i], src, "import", i, errbuf);
	}
	if (rc != CLI_EXIT_OK && errbuf[0])
		cli_error("%s", errbuf);
	return rc;
}

/* Give each capture its source in the writer; a file may wait for it. */
static int attach_sources(const struct opts *o)
{
	for (unsigned i = 0; i < g_nworkers; i++) {
		struct worker *wk = &g_workers[i];
		int rc = pcv_writer_src_add(g_writer, wk->name, wk->queue,
					    pcv_get_linktype(wk->h),
					    pcv_get_snaplen(wk->h), &wk->src);

		if (rc < 0) {
			cli_error("%s: %s", wk->name, pcv_strerror(rc));
			return CLI_EXIT_FAIL;
		}
		pcv_writer_src_set_blocking(wk->src, o->nfiles > 0);
	}
	return CLI_EXIT_OK;
}

static int run_live(struct opts *o)
{
	int rc = CLI_EXIT_OK;

	if (pcv_writer_start(g_writer) < 0) {
		cli_error("%s", pcv_writer_errmsg(g_writer));
		return CLI_EXIT_FAIL;
	}
	fprintf(stderr, "%s: recording %s into %s (backend %s, %u thread%s)\n",
		cli_prog, o->iface, o->dir, pcv_get_backend(g_workers[0].h),
		o->threads, o->threads > 1 ? "s" : "");
	if (o->filter.expr) {
		const char *why;
		bool kernel = pcv_filter_in_kernel(g_workers[0].h, &why);

		fprintf(stderr, "%s: filter '%s' runs in %s%s%s\n", cli_prog,
			o->filter.expr,
			!kernel ? "userspace"
			: strcmp(pcv_get_backend(g_workers[0].h), "afxdp") == 0
				? "XDP" : "the kernel",
			*why ? ": " : "", why);
	}
	for (unsigned i = 0; i < g_nworkers; i++)
		pthread_create(&g_workers[i].thread, NULL, capture_main,
			       &g_workers[i]);
	for (unsigned i = 0; i < g_nworkers; i++) {
		pthread_join(g_workers[i].thread, NULL);
		if (g_workers[i].rc < 0) {
			cli_error("%s", g_workers[i].err);
			rc = CLI_EXIT_FAIL;
		}
	}
	return rc;
}

static int run_import(struct opts *o)
{
	int rc = CLI_EXIT_OK;

	g_progress.on = !o->quiet && cli_stderr_is_tty();
	g_progress.start_ns = mono_ns();
	if (pcv_writer_start(g_writer) < 0) {
		cli_error("%s", pcv_writer_errmsg(g_writer));
		return CLI_EXIT_FAIL;
	}
	for (unsigned i = 0; i < g_nworkers && !g_stop; i++) {
		struct worker *wk = &g_workers[i];

		capture_main(wk);
		if (wk->rc < 0) {
			cli_error("%s", wk->err);
			rc = CLI_EXIT_FAIL;
		}
	}
	for (unsigned i = 0; i < g_nworkers; i++)
		pcv_writer_src_done(g_workers[i].src);
	if (g_progress.on) {
		struct pcv_batch none = { .pkts = NULL, .count = 0 };

		g_progress.last_ns = 0; /* draw the final state */
		progress_update(&none);
		fputc('\n', stderr);
	}
	return rc;
}

/*
 * The writer's statistics line, with what the capture handles add.  It
 * runs on the writer thread while capture threads count: the counters it
 * reads are plain 64-bit words, so a line may be a packet behind, never
 * torn on the platforms we build for.
 */
/* A line per capture thread (per receive queue with afxdp): what it
 * received, and the kernel's drops by cause. */
static void thread_lines(void)
{
	for (unsigned i = 0; i < g_nworkers; i++) {
		struct pcv_stats cs;

		if (!g_workers[i].h || pcv_get_stats(g_workers[i].h, &cs) < 0)
			continue;
		fprintf(stderr, "%s: %s %u: received %" PRIu64
			", dropped by the kernel %" PRIu64 " (ring full %" PRIu64
			", no buffer %" PRIu64 ", invalid %" PRIu64 ")\n",
			cli_prog,
			strcmp(pcv_get_backend(g_workers[i].h), "afxdp") == 0
				? "queue" : "thread",
			g_workers[i].queue, cs.received, cs.kernel_dropped,
			cs.drop_ring_full, cs.drop_no_buffer, cs.drop_invalid);
	}
}

static void log_stats(const char *line, void *user)
{
	const struct opts *o = user;
	uint64_t kdrop = 0, recv = 0;

	for (unsigned i = 0; i < g_nworkers; i++) {
		struct pcv_stats cs;

		if (g_workers[i].h && pcv_get_stats(g_workers[i].h, &cs) == 0) {
			kdrop += cs.kernel_dropped;
			recv += cs.received;
		}
	}
	fprintf(stderr, "%s: received %" PRIu64 ", kernel dropped %" PRIu64 "; %s\n",
		cli_prog, recv, kdrop, line);
	if (o->verbose && o->iface)
		thread_lines();
}

static void summary(const struct opts *o)
{
	struct pcv_writer_stats st;
	uint64_t kdrop = 0, recv = 0, kseen = 0, examined = 0;

	pcv_writer_get_stats(g_writer, &st);
	for (unsigned i = 0; i < g_nworkers; i++) {
		struct pcv_stats cs;

		if (g_workers[i].h && pcv_get_stats(g_workers[i].h, &cs) == 0) {
			kdrop += cs.kernel_dropped;
			recv += cs.received;
			kseen += cs.kernel_seen;
			examined = cs.examined; /* the interface's, for each */
		}
	}
	/* per thread when there are several, or drops to explain */
	if (o->iface && (g_nworkers > 1 || kdrop || o->verbose))
		thread_lines();
	if (o->iface && o->filter.expr && g_nworkers &&
	    pcv_filter_in_kernel(g_workers[0].h, NULL))
		fprintf(stderr, "%s: kernel filter: %" PRIu64 " passed of %" PRIu64
			" packets through the interface\n", cli_prog, kseen,
			examined);
	fprintf(stderr,
		"%s: %" PRIu64 " packets received, %" PRIu64
		" stored in %" PRIu64 " segments (%" PRIu64 " blocks, %.2fx compression); "
		"dropped: kernel %" PRIu64 ", ring %" PRIu64 ", disk %" PRIu64 "\n",
		cli_prog, recv, st.packets, st.segments, st.blocks,
		st.comp_bytes ? (double)st.raw_bytes / (double)st.comp_bytes : 0,
		kdrop, st.ring_dropped, st.disk_dropped);
}

int main(int argc, char **argv)
{
	static struct opts o;
	char errbuf[PCV_ERRBUF_SIZE] = "";
	int rc, frc;

	cli_init(argv[0]);
	if (parse_args(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	rc = open_captures(&o);
	if (rc == CLI_EXIT_OK && mkdir(o.dir, 0755) < 0 && errno != EEXIST) {
		cli_error("%s: %s", o.dir, strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	o.wo.dir = o.dir;
	o.wo.log = log_stats;
	o.wo.log_user = &o;
	if (rc == CLI_EXIT_OK && pcv_writer_open(&g_writer, &o.wo, errbuf) < 0) {
		cli_error("%s", errbuf);
		rc = CLI_EXIT_FAIL;
	}
	if (rc == CLI_EXIT_OK)
		rc = attach_sources(&o);
	if (rc != CLI_EXIT_OK) {
		close_captures();
		pcv_writer_close(g_writer);
		cli_filter_free(&o.filter);
		return rc;
	}
	install_signals();
	rc = o.iface ? run_live(&o) : run_import(&o);
	frc = pcv_writer_finish(g_writer);
	if (frc < 0) {
		cli_error("%s", pcv_writer_errmsg(g_writer));
		rc = CLI_EXIT_FAIL;
	}
	summary(&o);
	for (unsigned i = 0; i < g_nworkers; i++) {
		pcv_close(g_workers[i].h);
		cli_filter_free(&g_workers[i].filter);
	}
	pcv_writer_close(g_writer);
	cli_filter_free(&o.filter);
	return rc;
}
