// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * xsk.bpf.c - the XDP program of the afxdp capture backend: each packet
 * goes to the AF_XDP socket of the receive queue it arrived on, through
 * the XSKMAP; a queue without a socket passes it to the kernel stack.
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

SEC("xdp")
int pcv_xsk_redirect(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &pcv_filter, 0);
	return bpf_redirect_map(&pcv_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
