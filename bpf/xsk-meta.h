/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * xsk-meta.h - what the afxdp XDP programs write in front of each frame,
 * in XDP's metadata area, for capture/cap-afxdp.c to read: the arrival
 * time (bpf/xsk.bpf.c) and whether the capture filter could decide
 * (capture/xdp-filter.c).  A driver without metadata support leaves the
 * area alone: the magic, which the backend clears before a frame goes
 * back to the kernel, says whether this frame's metadata is there.
 */
#ifndef PCV_XSK_META_H
#define PCV_XSK_META_H

#define PCV_XSK_META_MAGIC 0x70637631u /* "pcv1" */

/* The filter read past the frame's first buffer (a multi-buffer frame):
 * it accepted the frame undecided, userspace must run the filter. */
#define PCV_XSK_META_UNFILTERED 1u

struct pcv_xsk_meta {
	__u64 tai_ns;   /* bpf_ktime_get_tai_ns() on arrival */
	__u32 flags;    /* PCV_XSK_META_* */
	__u32 magic;    /* PCV_XSK_META_MAGIC */
};

#endif /* PCV_XSK_META_H */
