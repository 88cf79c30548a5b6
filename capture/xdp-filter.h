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
 * The program answers as libpcap's bpf_filter() does on the whole frame:
 * a packet it accepts goes to bpf_redirect_map(@xsk_map_fd,
 * ctx->rx_queue_index, XDP_PASS), or, when @xsk_map_fd < 0 (tests), the
 * program returns XDP_TX; a rejected packet gets XDP_PASS, on to the
 * kernel's stack untouched.  The snapshot length of a RET is not used.
 *
 * Or it says it could not decide: on a multi-buffer frame (a program
 * loaded with BPF_F_XDP_HAS_FRAGS), a load beyond the first buffer may
 * be in a fragment, which the program cannot read.  It then accepts the
 * frame and sets PCV_XSK_META_UNFILTERED in the struct pcv_xsk_meta of
 * bpf/xsk-meta.h in the frame's metadata area, when one is there (its
 * magic is PCV_XSK_META_MAGIC): userspace must run the filter on the
 * whole frame.  Without that metadata such a frame is accepted unmarked.
 * LEN is the whole frame's length (bpf_xdp_get_buff_len()).
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
 * named "pcv_filter") with @attach_type (an enum bpf_attach_type) and
 * @prog_flags (bpf_prog_load_opts.prog_flags: BPF_F_XDP_HAS_FRAGS or 0).
 * When the kernel refuses it, @why holds the last line of the verifier's
 * log.
 *
 * Both matter for a tail call: a PROG_ARRAY takes only programs of its
 * owner's expected_attach_type (seen on Linux 6.18; older kernels may
 * not check it) and of its owner's BPF_F_XDP_HAS_FRAGS, the owner being the first
 * program loaded that tail-calls through it.  The attach type is 0 for a
 * libxdp component program run by the dispatcher (libxdp loads it as
 * BPF_PROG_TYPE_EXT), BPF_XDP for a program libbpf loaded from SEC("xdp")
 * and attached alone; the flag is the one the owner was loaded with
 * (SEC("xdp.frags") sets it).  A mismatch shows as EINVAL from
 * bpf_map_update_elem() on the PROG_ARRAY.
 *
 * The translation is the same either way.  With BPF_F_XDP_HAS_FRAGS the
 * program may be given multi-buffer frames and can leave one undecided
 * (see pcv__xdp_filter_build()); without, an attached program sees
 * single-buffer frames only (drivers refuse it where frames would need
 * more, generic XDP linearises them), so it always decides.
 *
 * Return: the program's fd, or a negative errno.
 */
int pcv__xdp_filter_load(const struct sock_filter *prog, unsigned n,
			 int xsk_map_fd, unsigned attach_type,
			 unsigned prog_flags, char *why, size_t whylen);

#endif /* PCV_XDP_FILTER_H */
