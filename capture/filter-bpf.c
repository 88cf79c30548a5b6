// SPDX-License-Identifier: MIT
/*
 * filter-bpf.c - tcpdump expressions through libpcap's compiler and BPF
 * interpreter (pcv/filter.h).
 *
 * pcap_compile() wants a pcap_t for the link type and snapshot length;
 * a "dead" handle serves, created per compile: compiling is rare, and a
 * private handle keeps this safe to call from several threads.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture-int.h"
#include "pcv/filter.h"

struct pcv_bpf {
	struct bpf_program prog;
	char *expr;
};

static int fail(char *errbuf, int err, const char *expr, const char *why)
{
	if (errbuf)
		snprintf(errbuf, PCV_ERRBUF_SIZE,
			 "bad filter expression '%s': %s", expr, why);
	return err;
}

int pcv_bpf_compile(struct pcv_bpf **fp, const char *expr, int dlt,
		    uint32_t snaplen, char *errbuf)
{
	struct pcv_bpf *f;
	pcap_t *dead;
	int rc = 0;

	*fp = NULL;
	if (snaplen == 0 || snaplen > PCV_DEFAULT_SNAPLEN)
		snaplen = PCV_DEFAULT_SNAPLEN;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->expr = strdup(expr))) {
		free(f);
		return fail(errbuf, -ENOMEM, expr, "out of memory");
	}
	dead = pcap_open_dead(dlt, (int)snaplen);
	if (!dead) {
		rc = fail(errbuf, -ENOMEM, expr, "out of memory");
	} else if (pcap_compile(dead, &f->prog, expr, 1,
				PCAP_NETMASK_UNKNOWN) < 0) {
		rc = fail(errbuf, -EINVAL, expr, pcap_geterr(dead));
	}
	if (dead)
		pcap_close(dead);
	if (rc < 0) {
		free(f->expr);
		free(f);
		return rc;
	}
	*fp = f;
	return 0;
}

void pcv_bpf_free(struct pcv_bpf *f)
{
	if (!f)
		return;
	pcap_freecode(&f->prog);
	free(f->expr);
	free(f);
}

bool pcv_bpf_match(const struct pcv_bpf *f, const uint8_t *pkt,
		   uint32_t caplen, uint32_t len)
{
	return bpf_filter(f->prog.bf_insns, pkt, len, caplen) != 0;
}

const char *pcv_bpf_expr(const struct pcv_bpf *f)
{
	return f->expr;
}

const void *pcv_bpf_program(const struct pcv_bpf *f, size_t *len)
{
	*len = f->prog.bf_len * sizeof(*f->prog.bf_insns);
	return f->prog.bf_insns;
}

int pcv__filter_install(struct pcv_handle *h, const char *expr)
{
	struct bpf_insn *copy;
	struct bpf_program kprog;
	struct pcv_bpf *f;
	size_t len;
	int rc;

	rc = pcv_bpf_compile(&f, expr, h->linktype, h->snaplen, h->errbuf);
	if (rc < 0)
		return rc;
	len = f->prog.bf_len * sizeof(*f->prog.bf_insns);
	copy = malloc(len);
	if (!copy) {
		pcv_bpf_free(f);
		return pcv__seterr(h, -ENOMEM, "filter: out of memory");
	}
	memcpy(copy, f->prog.bf_insns, len);
	pcv_bpf_free(f);
	h->kfilter = false;
	if (h->ops->set_filter && h->ops->compile) {
		rc = h->ops->compile(h, expr, &kprog);
		if (rc == 0) {
			rc = h->ops->set_filter(h, kprog.bf_insns, kprog.bf_len);
			pcap_freecode(&kprog);
		}
	} else if (h->ops->set_filter) {
		rc = h->ops->set_filter(h, copy, (unsigned)(len / sizeof(*copy)));
	}
	if (rc < 0) {
		free(copy);
		return rc;
	}
	free(h->ufilter);
	h->ufilter = copy;
	h->ufilter_len = (unsigned)(len / sizeof(*copy));
	return 0;
}

int pcv_set_filter_expr(struct pcv_handle *h, const char *expr)
{
	return pcv__filter_install(h, expr);
}
