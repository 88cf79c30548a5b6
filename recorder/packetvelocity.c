// SPDX-License-Identifier: MIT
/*
 * packetvelocity.c - the live viewer: capture from an interface or read a
 * file, print one line per packet (-v) or a running summary, and the
 * capture statistics at exit.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "cli.h"
#include "pcv/dissect.h"
#include "pcv/pcv.h"

static const char usage_text[] =
	"Usage: packetvelocity -i IFACE | -r FILE [options] [EXPRESSION]\n"
	"\n"
	"Capture packets from a network interface or read a capture file\n"
	"(pcap or pcapng), and show them.  EXPRESSION is a tcpdump filter\n"
	"(pcap-filter(7)); live, it runs in the kernel (the summary says).\n"
	"\n"
	"  -i, --interface IFACE   capture live from IFACE (needs CAP_NET_RAW)\n"
	"  -r, --read FILE         read a pcap/pcapng file ('-' for stdin)\n"
	"  -v, --verbose           one line per packet (time, protocol,\n"
	"                          addresses and ports, length)\n"
	"  -p, --promisc           put the interface in promiscuous mode\n"
	"  -I, --immediate         deliver packets at once (1 ms blocks)\n"
	"  -b, --backend NAME      capture backend: auto (default), %s\n"
	"  -s, --snaplen N         bytes kept per packet, 1..262144\n"
	"  -B, --buffer-size SIZE  kernel ring size (default 64MiB)\n"
	"  -c, --packet-num N      stop after N packets (that passed filters)\n"
	"      --seconds-num N     stop after N seconds\n"
	"  -f, --filter FILE       VFM filter: bytecode (.bin), assembly\n"
	"                          (.vfm, .vfasm) or VFLisp (.vfl)\n"
	"  -l, --lisp EXPR         VFM filter written in VFLisp\n"
	"      --vfm-legacy        -f bytecode uses the pre-2025-07-25 numbering\n"
	"  -h, --help              this text\n"
	"  -V, --version           version and platform\n"
	"\n"
	"Stops cleanly on Ctrl-C (SIGINT) or SIGTERM and prints statistics.\n"
	"Exit status: 0 done, 1 capture or file error, 2 usage error.\n"
	"\n"
	"Examples:\n"
	"  packetvelocity -i eth0 -v\n"
	"  packetvelocity -i eth0 -v 'tcp port 443 and host 10.0.0.1'\n"
	"  packetvelocity -i eth0 -l '(flow-first 10)'\n"
	"  packetvelocity -r trace.pcapng -v --packet-num 20 udp\n";

struct opts {
	const char *iface, *file;
	bool verbose;
	uint64_t max_pkts;
	uint64_t seconds;
	struct pcv_config cfg;
	struct cli_filter filter;
};

/* What the summary counts. */
struct tally {
	uint64_t pkts, bytes, wire_bytes;
	uint64_t ipv4, ipv6, tcp, udp, sctp, icmp, other_l4, non_ip;
	uint64_t vlan, mpls, frags, truncated;
};

struct viewer {
	struct opts o;
	struct pcv_handle *h;
	int linktype;
	struct tally t;
	uint64_t last_report_ns;
	uint64_t last_report_pkts;
	bool progress; /* a status line on a terminal */
};

static struct pcv_handle *volatile g_handle;

static void on_signal(int sig)
{
	(void)sig;
	if (g_handle)
		pcv_breakloop(g_handle);
}

static void usage(FILE *f)
{
	const char *const *names = pcv_backends();
	char list[128] = "";

	for (size_t i = 0, off = 0; names[i]; i++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
					i ? ", " : "", names[i]);
	fprintf(f, usage_text, list);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	enum { OPT_SECONDS = 256, OPT_VFM_LEGACY };
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "read", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "promisc", no_argument, NULL, 'p' },
		{ "immediate", no_argument, NULL, 'I' },
		{ "backend", required_argument, NULL, 'b' },
		{ "snaplen", required_argument, NULL, 's' },
		{ "buffer-size", required_argument, NULL, 'B' },
		{ "packet-num", required_argument, NULL, 'c' },
		{ "seconds-num", required_argument, NULL, OPT_SECONDS },
		{ "filter", required_argument, NULL, 'f' },
		{ "lisp", required_argument, NULL, 'l' },
		{ "vfm-legacy", no_argument, NULL, OPT_VFM_LEGACY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	pcv_config_init(&o->cfg);
	while ((c = getopt_long(argc, argv, "i:r:vpIb:s:B:c:f:l:hV", longopts,
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
			o->file = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'p':
			o->cfg.promiscuous = true;
			break;
		case 'I':
			o->cfg.immediate = true;
			break;
		case 'B':
			if (cli_parse_size("--buffer-size", optarg, 65536,
					   1ull << 31, &v) < 0)
				return -1;
			o->cfg.buffer_size = (uint32_t)v;
			if (o->cfg.block_size > v)
				o->cfg.block_size = 65536;
			break;
		case 'c':
			if (cli_parse_u64("--packet-num", optarg, 1, UINT64_MAX,
					  &o->max_pkts) < 0)
				return -1;
			break;
		case OPT_SECONDS:
			if (cli_parse_u64("--seconds-num", optarg, 1,
					  365ull * 86400, &o->seconds) < 0)
				return -1;
			break;
		case OPT_VFM_LEGACY:
			o->filter.vfm_legacy = true;
			break;
		case 'h':
			usage(stdout);
			exit(CLI_EXIT_OK);
		case 'V':
			printf("packetvelocity %s (%s)\n", pcv_version(),
			       pcv_platform_name());
			exit(CLI_EXIT_OK);
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return -1;
		}
	}
	if (cli_filter_expr(&o->filter, argc, argv, optind) < 0)
		return -1;
	if (!o->iface == !o->file) {
		cli_error("give exactly one of -i IFACE or -r FILE");
		return -1;
	}
	return 0;
}

/* ===== summary ========================================================= */

static void tally(struct tally *t, const struct pcv_packet *p,
		  const struct pcv_dissect *d, int rc)
{
	t->pkts++;
	t->bytes += p->caplen;
	t->wire_bytes += p->len;
	if (rc != 0)
		t->non_ip++;
	else if (d->key.family == 4)
		t->ipv4++;
	else
		t->ipv6++;
	if (rc == 0 && (d->flags & PCV_DF_L4)) {
		switch (d->key.proto) {
		case 6:
			t->tcp++;
			break;
		case 17:
		case 136:
			t->udp++;
			break;
		case 132:
			t->sctp++;
			break;
		case 1:
		case 58:
			t->icmp++;
			break;
		default:
			t->other_l4++;
		}
	} else if (rc == 0) {
		t->other_l4++;
	}
	t->vlan += !!(d->flags & PCV_DF_VLAN);
	t->mpls += !!(d->flags & PCV_DF_MPLS);
	t->frags += !!(d->flags & PCV_DF_FRAG);
	t->truncated += !!(d->flags & (PCV_DF_TRUNCATED | PCV_DF_MALFORMED));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void progress(struct viewer *vw)
{
	uint64_t now = now_ns();
	double dt;

	if (now - vw->last_report_ns < 1000000000u)
		return;
	dt = (double)(now - vw->last_report_ns) / 1e9;
	fprintf(stderr, "\r%" PRIu64 " packets, %.0f pkt/s   ", vw->t.pkts,
		(double)(vw->t.pkts - vw->last_report_pkts) / dt);
	vw->last_report_ns = now;
	vw->last_report_pkts = vw->t.pkts;
}

static void on_packet(const struct pcv_packet *p, void *user)
{
	struct viewer *vw = user;
	struct pcv_dissect d;
	int rc;

	if (!cli_filter_match(&vw->o.filter, p))
		return;
	rc = pcv_dissect(p->data, p->caplen, vw->linktype, &d);
	tally(&vw->t, p, &d, rc);
	if (vw->o.verbose)
		cli_print_packet(stdout, p, &d, rc, vw->linktype, false);
	else if (vw->progress)
		progress(vw);
	if (vw->o.max_pkts && vw->t.pkts >= vw->o.max_pkts)
		pcv_breakloop(vw->h);
}

static void print_summary(const struct viewer *vw)
{
	const struct tally *t = &vw->t;
	struct pcv_stats st;
	const char *why = "";

	if (vw->progress && !vw->o.verbose)
		fputc('\n', stderr);
	if (!vw->o.verbose) {
		printf("%" PRIu64 " packets, %" PRIu64 " bytes captured (%" PRIu64
		       " on the wire)\n",
		       t->pkts, t->bytes, t->wire_bytes);
		printf("  network:   IPv4 %" PRIu64 ", IPv6 %" PRIu64
		       ", other %" PRIu64 "\n",
		       t->ipv4, t->ipv6, t->non_ip);
		printf("  transport: TCP %" PRIu64 ", UDP %" PRIu64
		       ", SCTP %" PRIu64 ", ICMP %" PRIu64 ", other %" PRIu64
		       "\n",
		       t->tcp, t->udp, t->sctp, t->icmp, t->other_l4);
		printf("  tagged:    VLAN %" PRIu64 ", MPLS %" PRIu64
		       "; IP fragments %" PRIu64 "; truncated or malformed %" PRIu64
		       "\n",
		       t->vlan, t->mpls, t->frags, t->truncated);
	}
	fflush(stdout);
	if (pcv_get_stats(vw->h, &st) < 0) {
		cli_error("statistics: %s", pcv_get_error(vw->h));
		return;
	}
	if (pcv_get_capabilities(vw->h) & PCV_CAP_DROP_STATS) {
		fprintf(stderr,
			"%" PRIu64 " packets received, %" PRIu64
			" dropped by the kernel, %" PRIu64
			" dropped by the interface (backend %s)\n",
			st.received, st.kernel_dropped, st.if_dropped,
			pcv_get_backend(vw->h));
		if (vw->o.filter.expr && pcv_filter_in_kernel(vw->h, &why))
			fprintf(stderr,
				"kernel filter: %" PRIu64
				" passed of %" PRIu64 " packets through the interface\n",
				st.kernel_seen, st.examined);
		else if (vw->o.filter.expr)
			fprintf(stderr, "filter in userspace%s%s: %" PRIu64
				" passed\n", *why ? ", " : "", why,
				st.received);
	} else if (vw->o.filter.expr) {
		fprintf(stderr,
			"%" PRIu64 " packets read, %" PRIu64
			" passed the filter (backend %s)\n",
			st.examined, st.received, pcv_get_backend(vw->h));
	} else {
		fprintf(stderr, "%" PRIu64 " packets read (backend %s)\n",
			st.received, pcv_get_backend(vw->h));
	}
	cli_filter_report(&vw->o.filter);
}

static void install_signals(const struct opts *o)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (o->seconds) {
		sigaction(SIGALRM, &sa, NULL);
		alarm((unsigned)(o->seconds > 0x7fffffff ? 0x7fffffff
							  : o->seconds));
	}
}

int main(int argc, char **argv)
{
	static struct viewer vw;
	char errbuf[PCV_ERRBUF_SIZE];
	const char *src;
	char *srcbuf = NULL;
	int rc;

	cli_init(argv[0]);
	if (parse_args(argc, argv, &vw.o) < 0)
		return CLI_EXIT_USAGE;
	src = vw.o.iface;
	if (vw.o.file) {
		/* A file is always read by the pcapfile backend, whatever
		 * its name looks like. */
		if (asprintf(&srcbuf, "pcapfile:%s", vw.o.file) < 0)
			return CLI_EXIT_FAIL;
		src = srcbuf;
	}
	rc = cli_filter_prepare(&vw.o.filter, &vw.o.cfg);
	if (rc == CLI_EXIT_OK)
		rc = pcv_open(&vw.h, src, &vw.o.cfg, errbuf);
	free(srcbuf);
	if (rc != 0) {
		cli_filter_free(&vw.o.filter);
		if (rc > 0) /* an exit code: the message is out */
			return rc;
		cli_error("%s", errbuf);
		return rc == -EINVAL || rc == PCV_EBACKEND ? CLI_EXIT_USAGE
							    : CLI_EXIT_FAIL;
	}
	vw.linktype = pcv_get_linktype(vw.h);
	vw.progress = !vw.o.verbose && vw.o.iface && cli_stderr_is_tty();
	vw.last_report_ns = now_ns();
	if (vw.o.iface)
		fprintf(stderr, "%s: capturing on %s (backend %s, snaplen %u)\n",
			cli_prog, vw.o.iface, pcv_get_backend(vw.h),
			pcv_get_snaplen(vw.h));
	g_handle = vw.h;
	install_signals(&vw.o);
	rc = pcv_capture(vw.h, on_packet, &vw);
	alarm(0);
	print_summary(&vw);
	if (rc < 0)
		cli_error("%s", pcv_get_error(vw.h));
	g_handle = NULL;
	pcv_close(vw.h);
	cli_filter_free(&vw.o.filter);
	return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
