// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * xsk.bpf.c - the XDP program of the afxdp capture backend: each packet
 * goes to the AF_XDP socket of the receive queue it arrived on, through
 * the XSKMAP; a queue without a socket passes it to the kernel stack.
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

SEC("xdp")
int pcv_xsk_redirect(struct xdp_md *ctx)
{
	return bpf_redirect_map(&pcv_xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
