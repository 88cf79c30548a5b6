/* SPDX-License-Identifier: MIT */
/*
 * xdp-filter.h - a compiled tcpdump expression (classic BPF) translated
 * into an XDP program, so the kernel filters before AF_XDP delivery
 * (capture/xdp-filter.c).  Linux only.
 *
 * struct sock_filter (linux/filter.h) has the layout of libpcap's struct
 * bpf_insn: callers cast libpcap's array.  struct bpf_insn here is the
 * eBPF one of linux/bpf.h, which clashes with pcap.h's: a file that needs
 * both includes pcap.h with bpf_insn #defined to another name.
 * linux/filter.h itself sits well beside pcap.h (the same macros).
 */
#ifndef PCV_XDP_FILTER_H
#define PCV_XDP_FILTER_H

#include <stddef.h>
#include <linux/filter.h> /* struct sock_filter */

struct bpf_insn;

/*
 * pcv__xdp_filter_build() - translate the @n classic BPF instructions of
 * @prog (a program libpcap compiled; bpf_validate() accepts it) into XDP.
 *
 * The program answers as libpcap's bpf_filter() does on the frame: a
 * packet it accepts goes to bpf_redirect_map(@xsk_map_fd,
 * ctx->rx_queue_index, XDP_PASS), or, when @xsk_map_fd < 0 (tests), the
 * program returns XDP_TX; a rejected packet gets XDP_PASS, on to the
 * kernel's stack untouched.  The snapshot length of a RET is not used.
 *
 * Return: the count of eBPF instructions, in *@out (malloc'd, the caller
 * frees); or a negative errno with a one-line reason in @why (may be
 * NULL): -EINVAL for a malformed program, -EOPNOTSUPP for one XDP cannot
 * express (Linux ancillary loads, backward jumps), -E2BIG when too long,
 * -ENOMEM.
 */
int pcv__xdp_filter_build(const struct sock_filter *prog, unsigned n,
			  int xsk_map_fd, struct bpf_insn **out, char *why,
			  size_t whylen);

/*
 * pcv__xdp_filter_load() - build and load the program (BPF_PROG_TYPE_XDP,
 * named "pcv_filter").  When the kernel refuses it, @why holds the last
 * line of the verifier's log.
 *
 * Return: the program's fd, or a negative errno.
 */
int pcv__xdp_filter_load(const struct sock_filter *prog, unsigned n,
			 int xsk_map_fd, char *why, size_t whylen);

/*
 * pcv__xdp_filter_load_as() - as pcv__xdp_filter_load(), which loads with
 * expected_attach_type 0, with another (an enum bpf_attach_type).
 *
 * It matters for a tail call: a PROG_ARRAY takes only programs of its
 * owner's expected_attach_type (kernels since mid-2025, stable series
 * too), the owner being the first program loaded that tail-calls through
 * it.  That is 0 for a libxdp component program run by the dispatcher
 * (libxdp loads it as BPF_PROG_TYPE_EXT), BPF_XDP for a program libbpf
 * loaded from SEC("xdp") and attached alone.  A mismatch shows as EINVAL
 * from bpf_map_update_elem() on the PROG_ARRAY.
 */
int pcv__xdp_filter_load_as(const struct sock_filter *prog, unsigned n,
			    int xsk_map_fd, unsigned attach_type, char *why,
			    size_t whylen);

#endif /* PCV_XDP_FILTER_H */
