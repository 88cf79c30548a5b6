// SPDX-License-Identifier: MIT
/*
 * cap-afxdp.c - Linux AF_XDP capture backend, through libxdp and libbpf.
 *
 * Our XDP program (bpf/xsk.bpf.c, embedded at build time) redirects every
 * packet of a receive queue to the AF_XDP socket bound to that queue,
 * through an XSKMAP; queues without a socket pass packets to the stack.
 * The socket receives into a UMEM of 4 KiB frames shared with the kernel
 * (zero-copy when the driver can, else the kernel copies); a batch points
 * straight into those frames, which go back to the fill ring once the
 * callback returned (release).
 *
 * What it means for the host: packets of the captured queue that the
 * filter accepts (translated into XDP, xdp-filter.c) go to us, not to the
 * kernel's stack - the right thing on a capture (SPAN, TAP) port, the
 * wrong one on the interface a host talks through.  So the library's
 * "auto" never picks this backend (a handle binds one queue: pcv-record
 * makes the choice, opening them all); ask for it with -b afxdp or
 * "afxdp:IFACE".
 *
 * Attachment: native XDP first, generic (SKB) mode when the driver has
 * none; libxdp puts the program beside others when it can (dispatcher)
 * and falls back to a plain attach.  Handles on one interface share one
 * program (one XSKMAP slot per queue).  A program of ours left behind by
 * a killed run is recognised by name and replaced.
 *
 * NUMA: the UMEM is allocated on the NIC's node (libnuma), and a capture
 * thread not pinned with cfg.cpu runs on that node's CPUs.
 *
 * Timestamps: AF_XDP carries none, so our program writes CLOCK_TAI into
 * each frame's XDP metadata on arrival (bpf/xsk-meta.h); we add the
 * current REALTIME - TAI offset.  Where a driver keeps no metadata, the
 * time the batch is read stands in.
 *
 * Long frames: a UMEM frame holds 3840 bytes (4 KiB less the kernel's
 * headroom).  With multi-buffer AF_XDP (XDP_USE_SG, Linux 6.6) a longer
 * frame comes as several descriptors, put together in a scratch area;
 * without it, activate refuses an MTU above that, and frames grown past
 * it later are dropped by the kernel (XDP_STATISTICS rx_dropped).
 *
 * Sections: 1. the program  2. activate  3. hot path  4. stats/teardown
 */
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <numa.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "../bpf/xsk-meta.h"
#include "capture-int.h"
#include "xdp-filter.h"

#define FRAME_SIZE 4096u
#define FRAME_ROOM (FRAME_SIZE - XDP_PACKET_HEADROOM) /* the longest frame */
#define L2_ROOM 18 /* Ethernet header and one VLAN tag, beyond the MTU */
#define FRAME_DESCS 18 /* the most descriptors of one frame: MAX_SKB_FRAGS + 1 */
#define SG_FRAME_MAX (FRAME_DESCS * FRAME_ROOM)
#ifndef XDP_USE_SG     /* Linux 6.6 uapi: multi-buffer AF_XDP */
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD  /* xdp_desc.options: the frame goes on in the next */
#define XDP_PKT_CONTD (1 << 0)
#endif
#define DLT_EN10MB 1 /* pcap.h's bpf_insn clashes with linux/bpf.h's */
#define PROG_NAME "pcv_xsk_redirect"
#define MAP_NAME "pcv_xsks"
#define FILTER_MAP_NAME "pcv_filter"
#define MAX_IFACES 16
#define COALESCE_MIN_NS 50000    /* what a short batch waits for more, */
#define COALESCE_MAX_NS 2000000  /* between these bounds */

/* bpf/xsk.bpf.o, linked in by capture/xsk-bpf.S */
extern const unsigned char pcv__xsk_bpf[];
extern const unsigned char pcv__xsk_bpf_end[];

struct afxdp {
	struct pcv_handle h; /* first: the core's part */
	int ifindex;
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp, rx;
	void *area;
	size_t area_len;
	bool area_numa;    /* from numa_alloc_onnode() */
	int node;          /* the NIC's NUMA node, -1: unknown */
	bool placed;       /* the capture thread runs on that node */
	uint32_t nframes;
	int fd;
	int wake_fd;
	bool attached;     /* holds a reference on its interface's program */
	bool sg;           /* multi-buffer: a frame may span descriptors */
	uint8_t *scratch;  /* where such frames are put together, a batch's */
	size_t scratch_used;
	bool dropping;     /* in a frame of more descriptors than a batch
			    * peeks (kernels built with more skb frags) */
	uint64_t too_long; /* such frames dropped */
	uint32_t held;     /* rx descriptors of the current batch */
	uint64_t gap_ns;   /* between arrivals, in the last batch of two or more */
	uint64_t *addrs;   /* their UMEM frames, to refill */
	struct xdp_statistics base;
	uint64_t delivered;  /* packets the socket brought, before any
			      * userspace filter */
	long long if_rx_base; /* the interface's rx_packets at start */
};

/* ===== 1. the program, one per interface in this process ================ */

/*
 * The capture filter of an interface's program: the first handle's, which
 * later handles must share (a packet the XDP filter passes to the stack
 * never reaches any of them).  code is that handle's classic BPF, NULL
 * for none; fd the XDP translation in the program's filter slot, or -1
 * with why it runs in userspace.
 */
struct xdp_filter {
	struct sock_filter *code;
	unsigned len;
	int fd;
	char why[128];
};

struct attachment {
	int ifindex;
	int refs;
	struct xdp_program *prog;
	enum xdp_attach_mode mode;
	int map_fd;
	int filter_map_fd;
	struct xdp_filter filter;
};

static struct attachment attachments[MAX_IFACES];
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int quiet_xdp(enum libxdp_print_level level, const char *fmt,
		     va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* Remove programs of ours that a run killed before it could detach. */
static void detach_stale(int ifindex)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p, *next;

	if (!mp || libxdp_get_error(mp))
		return;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && strcmp(xdp_program__name(p), PROG_NAME) == 0)
			xdp_multiprog__detach(mp);
	} else {
		for (p = xdp_multiprog__next_prog(NULL, mp); p; p = next) {
			next = xdp_multiprog__next_prog(p, mp);
			if (strcmp(xdp_program__name(p), PROG_NAME) == 0)
				xdp_program__detach(p, ifindex,
						    xdp_multiprog__attach_mode(mp),
						    0);
		}
	}
	xdp_multiprog__close(mp);
}

/* Load and attach the program on @ifindex, or take another reference. */
static int attach(struct afxdp *ax, struct attachment **out)
{
	struct pcv_handle *h = &ax->h;
	DECLARE_LIBBPF_OPTS(bpf_object_open_opts, oo, .object_name = "pcv_xsk");
	struct attachment *a = NULL, *free_slot = NULL;
	struct bpf_object *obj;
	const char *want;
	int err;

	libbpf_set_print(quiet);
	libxdp_set_print(quiet_xdp);
	for (size_t i = 0; i < MAX_IFACES; i++) {
		if (attachments[i].refs && attachments[i].ifindex == ax->ifindex)
			a = &attachments[i];
		else if (!attachments[i].refs && !free_slot)
			free_slot = &attachments[i];
	}
	if (a) {
		a->refs++;
		*out = a;
		return 0;
	}
	if (!free_slot)
		return pcv__seterr(h, -EMFILE,
				   "afxdp: more than %d interfaces", MAX_IFACES);
	detach_stale(ax->ifindex);
	obj = bpf_object__open_mem(pcv__xsk_bpf,
				   (size_t)(pcv__xsk_bpf_end - pcv__xsk_bpf), &oo);
	err = libbpf_get_error(obj);
	if (err)
		return pcv__seterrno(h, err < 0 ? err : -EINVAL,
				     "afxdp: opening the XDP program");
	a = free_slot;
	a->prog = xdp_program__from_bpf_obj(obj, "xdp.frags");
	err = (int)libxdp_get_error(a->prog);
	if (err) {
		bpf_object__close(obj);
		return pcv__seterrno(h, err, "afxdp: the XDP program");
	}
	want = h->cfg.xdp_mode;
	a->mode = want && strcmp(want, "generic") == 0 ? XDP_MODE_SKB
						       : XDP_MODE_NATIVE;
	err = xdp_program__attach(a->prog, ax->ifindex, a->mode, 0);
	if (err && !want) {
		a->mode = XDP_MODE_SKB;
		err = xdp_program__attach(a->prog, ax->ifindex, a->mode, 0);
	}
	if (err) {
		xdp_program__close(a->prog);
		return pcv__seterrno(h, err < 0 ? err : -EINVAL,
				     "%s: attaching the XDP program (%s mode)",
				     h->source, want ? want : "native or generic");
	}
	obj = xdp_program__bpf_obj(a->prog);
	a->map_fd = bpf_object__find_map_fd_by_name(obj, MAP_NAME);
	a->filter_map_fd = bpf_object__find_map_fd_by_name(obj, FILTER_MAP_NAME);
	a->filter.fd = -1;
	if (a->map_fd < 0 || a->filter_map_fd < 0) {
		xdp_program__detach(a->prog, ax->ifindex, a->mode, 0);
		xdp_program__close(a->prog);
		return pcv__seterr(h, -ENOENT, "afxdp: no map %s", MAP_NAME);
	}
	a->ifindex = ax->ifindex;
	a->refs = 1;
	*out = a;
	return 0;
}

static void detach(struct afxdp *ax)
{
	pthread_mutex_lock(&attach_lock);
	for (size_t i = 0; i < MAX_IFACES; i++) {
		struct attachment *a = &attachments[i];

		if (!a->refs || a->ifindex != ax->ifindex)
			continue;
		bpf_map_delete_elem(a->map_fd, &ax->h.cfg.queue);
		if (--a->refs == 0) {
			xdp_program__detach(a->prog, a->ifindex, a->mode, 0);
			xdp_program__close(a->prog);
			if (a->filter.fd >= 0)
				close(a->filter.fd);
			free(a->filter.code);
			memset(a, 0, sizeof(*a));
		}
		break;
	}
	pthread_mutex_unlock(&attach_lock);
}

/*
 * Translate @code into @a's filter slot; return the program's fd, or -1
 * with why not in @a->filter.why.  The slot takes only programs of the
 * attach type its owner was loaded with: BPF_XDP when libxdp attached it
 * alone, 0 as a component of libxdp's dispatcher.  Try both.
 */
static int filter_slot(struct attachment *a, const struct sock_filter *code,
		       unsigned len)
{
	static const unsigned types[] = { BPF_XDP, 0 };
	struct xdp_filter *f = &a->filter;
	const uint32_t slot = 0;
	int err = 0;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		/* multi-buffer, as our program: a program array takes only
		 * programs alike in that too */
		int fd = pcv__xdp_filter_load(code, len, a->map_fd, types[i],
					      BPF_F_XDP_HAS_FRAGS, f->why,
					      sizeof(f->why));

		if (fd < 0)
			return -1;
		if (bpf_map_update_elem(a->filter_map_fd, &slot, &fd,
					BPF_ANY) == 0)
			return fd;
		err = errno;
		close(fd);
		if (err != EINVAL)
			break;
	}
	snprintf(f->why, sizeof(f->why), "the XDP program's filter slot: %s",
		 strerror(err));
	return -1;
}

/* Put @code (NULL: none) in @a's filter slot, replacing what was there;
 * when it cannot be translated or loaded, empty the slot and say why. */
static void filter_load(struct attachment *a, const struct sock_filter *code,
			unsigned len)
{
	struct xdp_filter *f = &a->filter;
	const uint32_t slot = 0;
	int fd = -1;

	f->why[0] = '\0';
	if (code)
		fd = filter_slot(a, code, len);
	if (fd < 0)
		bpf_map_delete_elem(a->filter_map_fd, &slot);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	free(f->code);
	f->code = NULL;
	f->len = 0;
	if (code && (f->code = malloc(len * sizeof(*code)))) {
		memcpy(f->code, code, len * sizeof(*code));
		f->len = len;
	}
}

static bool same_filter(const struct xdp_filter *f,
			const struct sock_filter *code, unsigned len)
{
	return f->len == len &&
	       (!len || memcmp(f->code, code, len * sizeof(*code)) == 0);
}

/*
 * Give a handle that starts on @a its filter: the first loads it, later
 * ones share it.  A later one with a different filter is refused if the
 * program filters (it would miss what the filter passes), else filters
 * in userspace.  Called with attach_lock held.
 */
static int filter_share(struct afxdp *ax, struct attachment *a)
{
	struct pcv_handle *h = &ax->h;
	const struct sock_filter *code = (const void *)h->ufilter;

	if (a->refs == 1)
		filter_load(a, code, h->ufilter_len);
	if (same_filter(&a->filter, code, h->ufilter_len)) {
		h->kfilter = code && a->filter.fd >= 0;
		snprintf(h->kfilter_why, sizeof(h->kfilter_why), "%s",
			 a->filter.why);
		return 0;
	}
	if (a->filter.fd >= 0)
		return pcv__seterr(h, -EBUSY,
				   "%s: captured in this process with another "
				   "filter, applied in XDP", h->source);
	h->kfilter = false;
	snprintf(h->kfilter_why, sizeof(h->kfilter_why),
		 "other captures of %s in this process filter differently",
		 h->source);
	return 0;
}

/* ===== 2. activate ====================================================== */

static bool afxdp_claims(const char *source)
{
	(void)source;
	return false; /* never under "auto": see the top of this file */
}

static uint32_t pow2_floor(uint32_t v)
{
	uint32_t p = 1;

	while (p * 2 <= v && p < (1u << 30))
		p *= 2;
	return p;
}

static int afxdp_socket(struct afxdp *ax)
{
	struct pcv_handle *h = &ax->h;
	struct xsk_umem_config uc = {
		.fill_size = ax->nframes,
		.comp_size = 64,
		.frame_size = FRAME_SIZE,
		.frame_headroom = 0,
	};
	struct xsk_socket_config sc = {
		.rx_size = ax->nframes,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	};
	static const uint16_t binds[] = {
		XDP_ZEROCOPY | XDP_USE_SG, XDP_COPY | XDP_USE_SG,
		XDP_ZEROCOPY, XDP_COPY,
	};
	uint32_t idx;
	int err;

	err = xsk_umem__create(&ax->umem, ax->area, ax->area_len, &ax->fill,
			       &ax->comp, &uc);
	if (err)
		return pcv__seterrno(h, err, "%s: AF_XDP UMEM", h->source);
	/* Zero copy where the driver can, multi-buffer (frames longer than
	 * a UMEM frame, Linux 6.6) where the kernel can: best first. */
	for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		sc.bind_flags = XDP_USE_NEED_WAKEUP | binds[i];
		err = xsk_socket__create(&ax->xsk, h->source, h->cfg.queue,
					 ax->umem, &ax->rx, NULL, &sc);
		if (err == 0) {
			ax->sg = binds[i] & XDP_USE_SG;
			break;
		}
	}
	if (err)
		return pcv__seterrno(h, err, "%s: AF_XDP socket on queue %u",
				     h->source, h->cfg.queue);
	ax->fd = xsk_socket__fd(ax->xsk);
	/* every frame starts in the fill ring */
	if (xsk_ring_prod__reserve(&ax->fill, ax->nframes, &idx) != ax->nframes)
		return pcv__seterr(h, -ENOSPC, "%s: AF_XDP fill ring",
				   h->source);
	for (uint32_t i = 0; i < ax->nframes; i++)
		*xsk_ring_prod__fill_addr(&ax->fill, idx + i) =
			(uint64_t)i * FRAME_SIZE;
	xsk_ring_prod__submit(&ax->fill, ax->nframes);
	return 0;
}

static int afxdp_activate(struct pcv_handle *h)
{
	struct afxdp *ax = (struct afxdp *)h;
	uint32_t frames = h->cfg.buffer_size / FRAME_SIZE;
	long long mtu;
	int rc;

	ax->fd = -1;
	ax->wake_fd = -1;
	ax->ifindex = (int)if_nametoindex(h->source);
	if (ax->ifindex == 0)
		return pcv__seterr(h, -ENODEV, "%s: no such network interface",
				   h->source);
	if (pcv__if_attr(h->source, "type") != 1) /* ARPHRD_ETHER */
		return pcv__seterr(h, PCV_ELINKTYPE,
				   "%s: afxdp captures Ethernet interfaces only",
				   h->source);
	h->linktype = DLT_EN10MB;
	ax->nframes = pow2_floor(frames < 64 ? 64 : frames);
	if (ax->nframes > 32768)
		ax->nframes = 32768; /* the largest ring libxdp sets up */
	ax->area_len = (size_t)ax->nframes * FRAME_SIZE;
	/* The UMEM on the NIC's NUMA node when it has one (a virtual device
	 * has none): the kernel writes every frame there. */
	ax->node = (int)pcv__if_attr(h->source, "device/numa_node");
	if (ax->node >= 0 && numa_available() >= 0) {
		ax->area = numa_alloc_onnode(ax->area_len, ax->node);
		ax->area_numa = ax->area != NULL;
	}
	if (!ax->area) {
		ax->area = mmap(NULL, ax->area_len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ax->area == MAP_FAILED) {
			ax->area = NULL;
			return pcv__seterrno(h, -errno,
					     "afxdp: %zu bytes of UMEM",
					     ax->area_len);
		}
	}
	ax->addrs = calloc(h->cfg.batch_size + FRAME_DESCS, sizeof(*ax->addrs));
	ax->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!ax->addrs || ax->wake_fd < 0)
		return pcv__seterrno(h, -ENOMEM, "afxdp");
	rc = afxdp_socket(ax);
	if (rc < 0)
		return rc;
	/* Without multi-buffer a frame must fit in one UMEM frame. */
	mtu = pcv__if_attr(h->source, "mtu");
	if (!ax->sg && mtu + L2_ROOM > (int)FRAME_ROOM)
		return pcv__seterr(h, -EMSGSIZE,
				   "%s: MTU %lld is more than AF_XDP frames hold "
				   "without multi-buffer (Linux 6.6) (MTU %d at "
				   "most); afpacket captures it",
				   h->source, mtu, (int)FRAME_ROOM - L2_ROOM);
	h->snaplen = ax->sg ? h->cfg.snaplen : FRAME_ROOM;
	if (h->snaplen > h->cfg.snaplen)
		h->snaplen = h->cfg.snaplen;
	return 0;
}

/* Packets flow once the socket is in the map. */
static int afxdp_start(struct pcv_handle *h)
{
	struct afxdp *ax = (struct afxdp *)h;
	struct attachment *a = NULL;
	socklen_t len = sizeof(ax->base);
	int err;

	pthread_mutex_lock(&attach_lock);
	err = attach(ax, &a);
	if (err == 0) {
		ax->attached = true;
		err = filter_share(ax, a);
	}
	if (err == 0) {
		if (bpf_map_update_elem(a->map_fd, &h->cfg.queue, &ax->fd, 0))
			err = pcv__seterrno(h, -errno,
					    "%s: AF_XDP socket into the XSKMAP",
					    h->source);
	}
	pthread_mutex_unlock(&attach_lock);
	if (err == 0 &&
	    getsockopt(ax->fd, SOL_XDP, XDP_STATISTICS, &ax->base, &len) < 0)
		memset(&ax->base, 0, sizeof(ax->base));
	ax->if_rx_base = pcv__if_attr(h->source, "statistics/rx_packets");
	return err;
}

/* A filter set before start is loaded by start; a new one later replaces
 * the program's, unless other handles share it. */
static int afxdp_set_filter(struct pcv_handle *h, const struct bpf_insn *insns,
			    unsigned ninsns)
{
	struct afxdp *ax = (struct afxdp *)h;
	int err = 0;

	if (!ax->attached)
		return 0;
	pthread_mutex_lock(&attach_lock);
	for (size_t i = 0; i < MAX_IFACES; i++) {
		struct attachment *a = &attachments[i];

		if (!a->refs || a->ifindex != ax->ifindex)
			continue;
		if (a->refs > 1) {
			err = pcv__seterr(h, -EBUSY,
					  "%s: other captures in this process "
					  "share its XDP filter", h->source);
			break;
		}
		filter_load(a, (const void *)insns, ninsns);
		h->kfilter = a->filter.fd >= 0;
		snprintf(h->kfilter_why, sizeof(h->kfilter_why), "%s",
			 a->filter.why);
		break;
	}
	pthread_mutex_unlock(&attach_lock);
	return err;
}

/* ===== 3. hot path ====================================================== */

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define META_ABSENT (1u << 31) /* frame_meta(): no metadata of ours */

/* The frame's arrival time and flags from its metadata (or @fallback and
 * META_ABSENT) into @p; the metadata is cleared, so the frame's next use
 * cannot show it again. */
static uint32_t frame_meta(struct pcv_packet *p, uint8_t *data,
			   int64_t tai_to_real, int64_t fallback)
{
	struct pcv_xsk_meta m;
	uint8_t *at = data - sizeof(m); /* in the frame's headroom */

	memcpy(&m, at, sizeof(m));
	if (m.magic != PCV_XSK_META_MAGIC) {
		p->ts_ns = (uint64_t)fallback;
		return META_ABSENT;
	}
	memset(at + offsetof(struct pcv_xsk_meta, magic), 0, sizeof(m.magic));
	p->ts_ns = (uint64_t)((int64_t)m.tai_ns + tai_to_real);
	return m.flags;
}

static void afxdp_release(struct pcv_handle *h);

/* Pass over rx descriptors @from..@n-1 of a frame we drop, noting their
 * UMEM frames for refill; return where the next frame starts, @n when it
 * goes on past what was peeked (ax->dropping stays set). */
static uint32_t drop_frame(struct afxdp *ax, uint32_t idx, uint32_t from,
			   uint32_t n)
{
	uint32_t i = from;

	ax->dropping = true;
	while (i < n) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&ax->rx,
								  idx + i);

		ax->addrs[i++] = xsk_umem__extract_addr(d->addr);
		if (!(d->options & XDP_PKT_CONTD)) {
			ax->dropping = false;
			break;
		}
	}
	return i;
}

/*
 * The packet at rx descriptors @first..@first+@ndesc-1: in place when it
 * is one, else put together in the scratch area (the batch's frames are
 * copied once there, then given back with the others); the UMEM frames
 * it used go to @addrs, to be refilled.  Returns its metadata flags.
 */
static uint32_t frame_build(struct afxdp *ax, struct pcv_packet *p,
			    uint32_t first, uint32_t ndesc, uint64_t *addrs,
			    int64_t tai_to_real, int64_t ts)
{
	struct pcv_handle *h = &ax->h;
	const struct xdp_desc *d = xsk_ring_cons__rx_desc(&ax->rx, first);
	uint8_t *data = xsk_umem__get_data(ax->area, d->addr), *to;
	uint32_t flags = frame_meta(p, data, tai_to_real, ts);
	uint32_t len = 0;

	for (uint32_t i = 0; i < ndesc; i++) {
		const struct xdp_desc *di = xsk_ring_cons__rx_desc(&ax->rx,
								   first + i);

		len += di->len;
		addrs[i] = xsk_umem__extract_addr(di->addr);
	}
	p->len = len;
	p->caplen = len < h->snaplen ? len : h->snaplen;
	p->data = data;
	if (ndesc == 1)
		return flags;
	/* The XDP filter may have read only the first buffer; without
	 * metadata it could not say so: decide here. */
	if (flags & META_ABSENT)
		flags |= PCV_XSK_META_UNFILTERED;
	if (!ax->scratch) /* the first long frame: room for a batch of them */
		ax->scratch = malloc((size_t)h->cfg.batch_size * SG_FRAME_MAX);
	if (!ax->scratch || ax->scratch_used + p->caplen >
				    (size_t)h->cfg.batch_size * SG_FRAME_MAX) {
		p->caplen = d->len < p->caplen ? d->len : p->caplen;
		return flags; /* out of memory: the first buffer's bytes */
	}
	to = ax->scratch + ax->scratch_used;
	for (uint32_t i = 0, at = 0, take; i < ndesc && at < p->caplen; i++) {
		d = xsk_ring_cons__rx_desc(&ax->rx, first + i);
		take = p->caplen - at < d->len ? p->caplen - at : d->len;
		memcpy(to + at, xsk_umem__get_data(ax->area, d->addr), take);
		at += take;
	}
	p->data = to;
	ax->scratch_used += p->caplen;
	return flags;
}

/* Wait for packets.  Return: 1 maybe some, 0 woken or timed out, < 0. */
static int afxdp_wait(struct afxdp *ax, int timeout_ms)
{
	short ev = 0;
	int rc = pcv__wait(&ax->h, ax->fd, ax->wake_fd, timeout_ms, &ev);

	if (rc > 0 && (ev & (POLLERR | POLLHUP | POLLNVAL)))
		return pcv__seterr(&ax->h, -ENETDOWN,
				   "%s: the AF_XDP socket failed", ax->h.source);
	return rc;
}

static int afxdp_next_batch(struct pcv_handle *h, int timeout_ms)
{
	struct afxdp *ax = (struct afxdp *)h;
	int64_t ts, tai_to_real;
	uint32_t idx, n, used, np, want = h->cfg.batch_size + FRAME_DESCS;
	int rc;

	/* Unless pinned (cfg.cpu), read on the NIC's node, by its memory. */
	if (!ax->placed) {
		ax->placed = true;
		if (h->cfg.cpu < 0 && ax->node >= 0 && ax->area_numa)
			numa_run_on_node(ax->node);
	}
	for (;;) {
		/* up to a batch, and the rest of a frame that begins in it */
		n = xsk_ring_cons__peek(&ax->rx, want, &idx);
		if (n)
			break;
		if (xsk_ring_prod__needs_wakeup(&ax->fill))
			recvfrom(ax->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		rc = afxdp_wait(ax, timeout_ms);
		if (rc <= 0)
			return rc;
	}
	/* A wake-up often brings a packet or two.  Batches that small would
	 * cost the consumer a buffer each (the recorder's ring counts them,
	 * not packets) and cost us a sleep and a wake-up each, so a short
	 * batch waits once for the rest of a burst, as AF_PACKET's block
	 * timeout does: for as long as a quarter of the ring takes to fill at
	 * the latest arrival rate, so that a faster burst still finds room;
	 * not in immediate mode.  Timestamps come from XDP: waiting does not
	 * move them. */
	if (!h->cfg.immediate && n < h->cfg.batch_size) {
		uint64_t wait = ax->gap_ns * (ax->nframes / 4);
		struct timespec d = { 0, 0 };
		uint32_t idx2;

		d.tv_nsec = wait < COALESCE_MIN_NS   ? COALESCE_MIN_NS
			    : wait > COALESCE_MAX_NS ? COALESCE_MAX_NS
						     : (long)wait;
		nanosleep(&d, NULL);
		n += xsk_ring_cons__peek(&ax->rx, want - n, &idx2);
		if (xsk_ring_prod__needs_wakeup(&ax->fill))
			recvfrom(ax->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
	ts = clock_ns(CLOCK_REALTIME);
	tai_to_real = ts - clock_ns(CLOCK_TAI);
	/* the rest of a frame too long to hold, begun in an earlier batch */
	used = ax->dropping ? drop_frame(ax, idx, 0, n) : 0;
	np = 0;
	ax->scratch_used = 0; /* the last batch is done with */
	while (np < h->cfg.batch_size && used < n) {
		struct pcv_packet *p = &h->pkts[np];
		uint32_t flags, end = used;

		/* a frame spans descriptors while XDP_PKT_CONTD is set */
		while (end < n && (xsk_ring_cons__rx_desc(&ax->rx, idx + end)
					   ->options & XDP_PKT_CONTD))
			end++;
		if (end == n) {
			/* its last descriptor is not there yet, or, when it
			 * fills a whole peek, never fits one: drop that */
			if (used == 0 && n == want) {
				ax->too_long++;
				used = drop_frame(ax, idx, used, n);
			}
			break;
		}
		flags = frame_build(ax, p, idx + used, end + 1 - used,
				    &ax->addrs[used], tai_to_real, ts);
		used = end + 1;
		ax->delivered++;
		/* the XDP filter could not decide (it read past the first
		 * buffer): decide here */
		if ((flags & PCV_XSK_META_UNFILTERED) && h->kfilter &&
		    !pcv__ufilter_match(h, p))
			continue;
		np++;
	}
	xsk_ring_cons__cancel(&ax->rx, n - used);
	if (np > 1 && h->pkts[np - 1].ts_ns > h->pkts[0].ts_ns)
		ax->gap_ns = (h->pkts[np - 1].ts_ns - h->pkts[0].ts_ns) / (np - 1);
	ax->held = used;
	if (np == 0)
		afxdp_release(h); /* filtered or dropped here, all of them */
	return (int)np;
}

/* The batch's frames: out of the rx ring, back into the fill ring. */
static void afxdp_release(struct pcv_handle *h)
{
	struct afxdp *ax = (struct afxdp *)h;
	uint32_t idx;

	if (!ax->held)
		return;
	xsk_ring_cons__release(&ax->rx, ax->held);
	/* the fill ring holds every frame: there is always room */
	if (xsk_ring_prod__reserve(&ax->fill, ax->held, &idx) == ax->held) {
		for (uint32_t i = 0; i < ax->held; i++)
			*xsk_ring_prod__fill_addr(&ax->fill, idx + i) =
				ax->addrs[i];
		xsk_ring_prod__submit(&ax->fill, ax->held);
	}
	ax->held = 0;
}

static void afxdp_wake(struct pcv_handle *h)
{
	pcv__wake(((struct afxdp *)h)->wake_fd);
}

/* ===== 4. stats/teardown ================================================ */

static int afxdp_stats(struct pcv_handle *h, struct pcv_stats *st)
{
	struct afxdp *ax = (struct afxdp *)h;
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);
	long long rx;

	if (ax->fd < 0 ||
	    getsockopt(ax->fd, SOL_XDP, XDP_STATISTICS, &xs, &len) < 0)
		return 0;
	/* all lost before we could see them */
	st->drop_invalid = xs.rx_dropped - ax->base.rx_dropped + ax->too_long;
	st->drop_ring_full = xs.rx_ring_full - ax->base.rx_ring_full;
	st->drop_no_buffer = xs.rx_fill_ring_empty_descs -
			     ax->base.rx_fill_ring_empty_descs;
	st->kernel_dropped =
		st->drop_invalid + st->drop_ring_full + st->drop_no_buffer;
	/* what the XDP filter passed, or everything without one */
	st->kernel_seen = ax->delivered + st->kernel_dropped;
	rx = pcv__if_attr(h->source, "statistics/rx_packets");
	if (rx >= ax->if_rx_base && ax->if_rx_base >= 0)
		st->examined = (uint64_t)(rx - ax->if_rx_base);
	return 0;
}

static void afxdp_cleanup(struct pcv_handle *h)
{
	struct afxdp *ax = (struct afxdp *)h;

	if (ax->attached)
		detach(ax);
	if (ax->xsk)
		xsk_socket__delete(ax->xsk);
	if (ax->umem)
		xsk_umem__delete(ax->umem);
	if (ax->area && ax->area_numa)
		numa_free(ax->area, ax->area_len);
	else if (ax->area)
		munmap(ax->area, ax->area_len);
	if (ax->wake_fd >= 0)
		close(ax->wake_fd);
	free(ax->addrs);
	free(ax->scratch);
}

const struct pcv_backend_ops pcv__afxdp_ops = {
	.name = "afxdp",
	.obj_size = sizeof(struct afxdp),
	.claims = afxdp_claims,
	.activate = afxdp_activate,
	.start = afxdp_start,
	.set_filter = afxdp_set_filter,
	.next_batch = afxdp_next_batch,
	.release = afxdp_release,
	.stats = afxdp_stats,
	.wake = afxdp_wake,
	.cleanup = afxdp_cleanup,
	.caps = PCV_CAP_LIVE | PCV_CAP_NANO_TS | PCV_CAP_KERNEL_FILTER |
		PCV_CAP_ZERO_COPY | PCV_CAP_DROP_STATS,
};
