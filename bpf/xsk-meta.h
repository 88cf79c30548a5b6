/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * xsk-meta.h - what the afxdp XDP program (xsk.bpf.c) writes in front of
 * each frame, in XDP's metadata area, for capture/cap-afxdp.c to read.
 * A driver without metadata support leaves the area alone: the magic,
 * which the backend clears before a frame goes back to the kernel, says
 * whether this frame's stamp is there.
 */
#ifndef PCV_XSK_META_H
#define PCV_XSK_META_H

#define PCV_XSK_META_MAGIC 0x7063765f74733031ull /* "pcv_ts01" */

struct pcv_xsk_meta {
	__u64 tai_ns;   /* bpf_ktime_get_tai_ns() on arrival */
	__u64 magic;    /* PCV_XSK_META_MAGIC */
};

#endif /* PCV_XSK_META_H */
