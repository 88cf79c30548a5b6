// SPDX-License-Identifier: MIT
/*
 * pcv-vfm.c - VFM filter tools: assemble, disassemble, compile VFLisp,
 * verify, and run a filter over a capture file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "pcv/pcv.h"
#include "pcv/vfm.h"

static const char usage_text[] =
	"Usage: pcv-vfm COMMAND [options] ARGS\n"
	"\n"
	"  asm FILE.vfasm [-o OUT.bin]   assemble VFM assembly\n"
	"  lisp EXPR|-f FILE.vfl [-o OUT.bin]\n"
	"                                compile VFLisp\n"
	"  dis FILE                      disassemble (bytecode, or the code of\n"
	"                                an assembly or VFLisp file)\n"
	"  verify FILE                   check a filter; says why and where not\n"
	"  run FILTER CAPTURE.pcap       count the packets the filter accepts\n"
	"\n"
	"FILE and FILTER are bytecode (.bin), assembly (.vfm, .vfasm) or\n"
	"VFLisp (.vfl); FILTER may also be VFLisp text such as '(= proto 6)'.\n"
	"Without -o, bytecode goes to stdout, never to a terminal.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE   where asm and lisp write bytecode\n"
	"  -f, --file FILE     lisp: read the expression from FILE\n"
	"      --legacy        bytecode uses the pre-2025-07-25 opcode numbering\n"
	"      --loops         allow backward jumps (the 10,000-instruction\n"
	"                      budget still ends every run)\n"
	"      --pv-compat     run: accept as old PacketVelocity did (no error\n"
	"                      and the low 32 bits > 0 as a signed int)\n"
	"  -h, --help          this text\n"
	"\n"
	"Exit status: 0 done, 1 the filter or input is bad, 2 usage error.\n"
	"\n"
	"Examples:\n"
	"  pcv-vfm lisp '(and (= l4-proto 6) (= l4-dst-port 443))' -o https.bin\n"
	"  pcv-vfm dis https.bin\n"
	"  pcv-vfm run filters/first-n.vfl trace.pcap\n";

struct opts {
	const char *out, *file;
	struct pcv_vfm_opts vfm;
};

static int write_code(const char *out, const uint8_t *code, size_t len)
{
	FILE *fp = stdout;

	if (!out && isatty(STDOUT_FILENO)) {
		cli_error("refusing to write bytecode to a terminal: use -o FILE, a pipe, or 'pcv-vfm dis'");
		return CLI_EXIT_USAGE;
	}
	if (out && !(fp = fopen(out, "wb"))) {
		cli_error("%s: %s", out, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (fwrite(code, 1, len, fp) != len || (out && fclose(fp) != 0)) {
		cli_error("%s: %s", out ? out : "stdout", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	if (!out)
		fflush(stdout);
	return CLI_EXIT_OK;
}

/* A filter argument as bytecode: a file of any kind, or VFLisp text. */
static int filter_code(const char *arg, uint8_t **code, size_t *len)
{
	char errbuf[PCV_ERRBUF_SIZE] = "";
	int rc;

	if (arg[0] == '(' && access(arg, F_OK) != 0)
		rc = pcv_vfl_compile(arg, code, len, errbuf);
	else
		rc = cli_vfm_read(arg, code, len, errbuf);
	if (rc == -ENOENT)
		return CLI_EXIT_FAIL;
	if (rc < 0) {
		cli_error("%s: %s", arg, errbuf);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static int cmd_asm(const struct opts *o, const char *path)
{
	uint8_t *code;
	size_t len;
	int rc = filter_code(path, &code, &len);

	if (rc != CLI_EXIT_OK)
		return rc;
	rc = write_code(o->out, code, len);
	free(code);
	return rc;
}

static int cmd_lisp(const struct opts *o, const char *expr)
{
	char errbuf[PCV_ERRBUF_SIZE] = "";
	uint8_t *code;
	size_t len;
	int rc;

	if (o->file)
		return cmd_asm(o, o->file);
	if (!expr) {
		cli_error("lisp: give an expression or -f FILE");
		return CLI_EXIT_USAGE;
	}
	if (pcv_vfl_compile(expr, &code, &len, errbuf) < 0) {
		cli_error("%s", errbuf);
		return CLI_EXIT_FAIL;
	}
	rc = write_code(o->out, code, len);
	free(code);
	return rc;
}

static int cmd_dis(const struct opts *o, const char *path)
{
	char errbuf[PCV_ERRBUF_SIZE] = "";
	uint8_t *code;
	char *text;
	size_t len;
	int rc = filter_code(path, &code, &len);

	if (rc != CLI_EXIT_OK)
		return rc;
	if (pcv_vfm_dis(code, len, o->vfm.numbering, &text, errbuf) < 0) {
		cli_error("%s: %s", path, errbuf);
		free(code);
		return CLI_EXIT_FAIL;
	}
	fputs(text, stdout);
	free(text);
	free(code);
	return CLI_EXIT_OK;
}

static int cmd_verify(const struct opts *o, const char *path)
{
	char errbuf[PCV_ERRBUF_SIZE] = "";
	uint8_t *code;
	size_t len;
	int rc = filter_code(path, &code, &len);

	if (rc != CLI_EXIT_OK)
		return rc;
	if (pcv_vfm_verify(code, len, &o->vfm, errbuf) < 0) {
		cli_error("%s: %s", path, errbuf);
		rc = CLI_EXIT_FAIL;
	} else {
		printf("%s: ok, %zu bytes\n", path, len);
	}
	free(code);
	return rc;
}

struct run {
	struct pcv_vfm *vm;
	uint64_t n;
};

static void on_packet(const struct pcv_packet *p, void *user)
{
	struct run *r = user;

	pcv_vfm_match(r->vm, p->data, p->caplen, p->ts_ns);
	r->n++;
}

static int cmd_run(const struct opts *o, const char *filter,
		   const char *capture)
{
	char errbuf[PCV_ERRBUF_SIZE] = "", src[4096];
	struct pcv_handle *h = NULL;
	struct pcv_vfm_stats st;
	struct run r = { 0 };
	uint8_t *code;
	size_t len;
	int rc = filter_code(filter, &code, &len);

	if (rc != CLI_EXIT_OK)
		return rc;
	rc = pcv_vfm_load(&r.vm, code, len, &o->vfm, errbuf);
	free(code);
	if (rc < 0) {
		cli_error("%s: %s", filter, errbuf);
		return CLI_EXIT_FAIL;
	}
	snprintf(src, sizeof(src), "pcapfile:%s", capture);
	if (pcv_open(&h, src, NULL, errbuf) < 0) {
		cli_error("%s", errbuf);
		pcv_vfm_free(r.vm);
		return CLI_EXIT_FAIL;
	}
	rc = pcv_capture(h, on_packet, &r);
	pcv_vfm_get_stats(r.vm, &st);
	printf("%" PRIu64 " of %" PRIu64 " packets pass\n", st.accepted, r.n);
	if (st.errors) {
		fprintf(stderr, "%s: %" PRIu64 " packets ended in an error:",
			cli_prog, st.errors);
		for (int i = 1; i < 8; i++) {
			if (st.errors_by_kind[i])
				fprintf(stderr, " %s %" PRIu64,
					pcv_vfm_status_name(-i),
					st.errors_by_kind[i]);
		}
		fputc('\n', stderr);
	}
	if (rc < 0)
		cli_error("%s", pcv_get_error(h));
	pcv_close(h);
	pcv_vfm_free(r.vm);
	return rc < 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

static int parse(int argc, char **argv, struct opts *o)
{
	enum { OPT_LEGACY = 256, OPT_LOOPS, OPT_COMPAT };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "file", required_argument, NULL, 'f' },
		{ "legacy", no_argument, NULL, OPT_LEGACY },
		{ "loops", no_argument, NULL, OPT_LOOPS },
		{ "pv-compat", no_argument, NULL, OPT_COMPAT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	pcv_vfm_opts_init(&o->vfm);
	while ((c = getopt_long(argc, argv, "o:f:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case 'f':
			o->file = optarg;
			break;
		case OPT_LEGACY:
			o->vfm.numbering = PCV_VFM_LEGACY;
			break;
		case OPT_LOOPS:
			o->vfm.allow_loops = true;
			break;
		case OPT_COMPAT:
			o->vfm.decision = PCV_VFM_PV_COMPAT;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(CLI_EXIT_OK);
		default:
			fprintf(stderr, "Try '%s --help'.\n", cli_prog);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	const char *cmd;
	int nargs;

	cli_init(argv[0]);
	if (parse(argc, argv, &o) < 0)
		return CLI_EXIT_USAGE;
	if (optind >= argc) {
		cli_error("no command: asm, lisp, dis, verify or run (see --help)");
		return CLI_EXIT_USAGE;
	}
	cmd = argv[optind++];
	nargs = argc - optind;
	if (strcmp(cmd, "lisp") == 0 && nargs <= 1)
		return cmd_lisp(&o, nargs ? argv[optind] : NULL);
	if (strcmp(cmd, "run") == 0 && nargs == 2)
		return cmd_run(&o, argv[optind], argv[optind + 1]);
	if (nargs == 1) {
		if (strcmp(cmd, "asm") == 0)
			return cmd_asm(&o, argv[optind]);
		if (strcmp(cmd, "dis") == 0)
			return cmd_dis(&o, argv[optind]);
		if (strcmp(cmd, "verify") == 0)
			return cmd_verify(&o, argv[optind]);
	}
	if (strcmp(cmd, "asm") && strcmp(cmd, "lisp") && strcmp(cmd, "dis") &&
	    strcmp(cmd, "verify") && strcmp(cmd, "run"))
		cli_error("unknown command '%s' (see --help)", cmd);
	else
		cli_error("%s: wrong number of arguments (see --help)", cmd);
	return CLI_EXIT_USAGE;
}
