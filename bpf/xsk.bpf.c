// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * xsk.bpf.c - the XDP program of the afxdp capture backend: each packet
 * goes to the AF_XDP socket of the receive queue it arrived on, through
 * the XSKMAP; a queue without a socket passes it to the kernel stack.
 *
 * Each packet is stamped first: AF_XDP carries no time, so the program
 * puts CLOCK_TAI in the metadata area before the frame (struct
 * pcv_xsk_meta, which the backend reads and clears), the moment closest
 * to arrival a program can see.
 *
 * With a capture filter, the backend translates libpcap's classic BPF
 * into an XDP program of its own (capture/xdp-filter.c) and puts it in
 * pcv_filter: the tail call below then never returns here, and that
 * program redirects what the filter accepts and passes the rest.
 *
 * Built with clang -target bpf and embedded in the library (Makefile);
 * attached through libxdp, so it runs beside other XDP programs.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xsk-meta.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} pcv_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} pcv_filter SEC(".maps");

SEC("xdp.frags") /* frames may span buffers (multi-buffer) */
int pcv_xsk_redirect(struct xdp_md *ctx)
{
	struct pcv_xsk_meta *m;

	if (bpf_xdp_adjust_meta(ctx, -(int)sizeof(*m)) == 0) {
		m = (void *)(long)ctx->data_meta;
		if ((void *)(m + 1) <= (void *)(long)ctx->data) {
			m->tai_ns = bpf_ktime_get_tai_ns();
			m->flags = 0;
			m->magic = PCV_XSK_META_MAGIC;
		}
	}
	bpf_tail_call(ctx, &pcv_filter, 0);
	return bpf_redirect_map(&pcv_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
