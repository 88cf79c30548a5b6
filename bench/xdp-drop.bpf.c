// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * xdp-drop.bpf.c - bench-live.sh's reference: an XDP program that drops
 * every packet.  What the sender keeps with it attached is the most any
 * XDP-based capture can reach on that interface.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int pcv_bench_drop(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

char _license[] SEC("license") = "Dual MIT/GPL";
