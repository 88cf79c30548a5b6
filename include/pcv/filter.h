/* SPDX-License-Identifier: MIT */
/*
 * pcv/filter.h - tcpdump filter expressions (pcap-filter(7)), compiled once
 * by libpcap into classic BPF and then matched against packets, or handed
 * to a capture handle to run in the kernel.
 *
 * Matching uses libpcap's own BPF interpreter on the program libpcap's own
 * compiler made, so a packet matches exactly when `tcpdump -r` would
 * print it for the same expression and link type.
 */
#ifndef PCV_FILTER_H
#define PCV_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcv/pcv.h"

struct pcv_bpf;

/*
 * pcv_bpf_compile() - compile @expr for link type @dlt (a DLT_ value, as
 * pcv_get_linktype() gives it) and snapshot length @snaplen.
 * @errbuf: PCV_ERRBUF_SIZE bytes: "bad filter expression 'EXPR': why"
 * Return: 0, -EINVAL for an expression libpcap refuses, -ENOMEM.
 */
int pcv_bpf_compile(struct pcv_bpf **fp, const char *expr, int dlt,
		    uint32_t snaplen, char *errbuf);

/* pcv_bpf_free() - NULL is fine. */
void pcv_bpf_free(struct pcv_bpf *f);

/*
 * pcv_bpf_match() - whether the packet matches.  @len is the length on
 * the wire, @caplen the bytes at @pkt (the program never reads past it).
 */
bool pcv_bpf_match(const struct pcv_bpf *f, const uint8_t *pkt,
		   uint32_t caplen, uint32_t len);

/* pcv_bpf_expr() - the expression as compiled. */
const char *pcv_bpf_expr(const struct pcv_bpf *f);

/*
 * pcv_bpf_program() - the classic BPF instructions (struct bpf_insn, 8
 * bytes each) and their size in bytes, as pcv_set_filter() takes them.
 */
const void *pcv_bpf_program(const struct pcv_bpf *f, size_t *len);

/*
 * pcv_set_filter_expr() - compile @expr for the handle's link type and
 * snapshot length and install it with pcv_set_filter() (in the kernel for
 * live backends).
 * Return: 0, -EINVAL with "bad filter expression ..." in pcv_get_error().
 */
int pcv_set_filter_expr(struct pcv_handle *h, const char *expr);

#endif /* PCV_FILTER_H */
