// SPDX-License-Identifier: MIT
/*
 * cap-bpf.c - BSD and macOS capture backend on /dev/bpf.
 *
 * The seed's macOS backend, kept for the platforms that have no AF_PACKET:
 * a BPF device bound to the interface (BIOCSETIF) with a configurable
 * buffer (BIOCSBLEN), immediate mode (BIOCIMMEDIATE), promiscuous mode
 * (BIOCPROMISC), nanosecond timestamps where the system has BIOCSTSTAMP
 * (FreeBSD), and the filter in the kernel (BIOCSETF).  One read() returns
 * a buffer of records, each a bpf_hdr (or bpf_xhdr) and the packet, padded
 * to BPF_WORDALIGN; a batch points straight into that buffer.
 *
 * The Makefile compiles this file only on BSD and macOS.  It has not been
 * built or run by our CI, which is Linux only: see docs/capture.md.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <net/bpf.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture-int.h"

#ifdef BIOCSTSTAMP /* FreeBSD: extended headers with nanoseconds */
typedef struct bpf_xhdr bpf_rec_hdr;
#define REC_TS_NS(bh) \
	((uint64_t)(bh)->bh_tstamp.bt_sec * 1000000000u + (bh)->bh_tstamp.bt_frac)
#else
typedef struct bpf_hdr bpf_rec_hdr;
#define REC_TS_NS(bh)                                         \
	((uint64_t)(bh)->bh_tstamp.tv_sec * 1000000000u +     \
	 (uint64_t)(bh)->bh_tstamp.tv_usec * 1000u)
#endif

struct bsdbpf {
	struct pcv_handle h; /* first: the core's part */
	int fd;
	int wake[2]; /* self-pipe: pcv_breakloop() interrupts poll() */
	uint8_t *buf;
	size_t buf_len;
	uint8_t *pos, *end; /* records of the last read() not yet delivered */
};

static bool bpf_claims(const char *source)
{
	return source[0] != '\0' && strlen(source) < IFNAMSIZ &&
	       !strchr(source, '/');
}

static int bpf_open_device(struct bsdbpf *bp)
{
	char dev[32];

	bp->fd = open("/dev/bpf", O_RDWR | O_CLOEXEC); /* cloning device */
	for (int i = 0; bp->fd < 0 && (errno == ENOENT || errno == EBUSY) &&
			i < 256;
	     i++) {
		snprintf(dev, sizeof(dev), "/dev/bpf%d", i);
		bp->fd = open(dev, O_RDWR | O_CLOEXEC);
	}
	if (bp->fd < 0) {
		int err = -errno;

		if (err == -EACCES || err == -EPERM)
			return pcv__seterr(&bp->h, err,
					   "/dev/bpf: %s: capturing needs read/write access to /dev/bpf* (run as root)",
					   pcv_strerror(err));
		return pcv__seterrno(&bp->h, err, "/dev/bpf");
	}
	return 0;
}

static int bpf_activate(struct pcv_handle *h)
{
	struct bsdbpf *bp = (struct bsdbpf *)h;
	u_int blen = h->cfg.buffer_size, dlt, on = 1;
	struct timeval tv = {
		.tv_sec = h->cfg.block_timeout_ms / 1000,
		.tv_usec = (h->cfg.block_timeout_ms % 1000) * 1000,
	};
	struct ifreq ifr = { 0 };
	int rc;

	bp->fd = bp->wake[0] = bp->wake[1] = -1;
	rc = bpf_open_device(bp);
	if (rc < 0)
		return rc;
	if (pipe(bp->wake) < 0)
		return pcv__seterrno(h, -errno, "pipe");
	fcntl(bp->wake[0], F_SETFL, O_NONBLOCK);
	fcntl(bp->wake[1], F_SETFL, O_NONBLOCK);
	/* The buffer size must be set before the interface. */
	if (ioctl(bp->fd, BIOCSBLEN, &blen) < 0)
		return pcv__seterrno(h, -errno, "BIOCSBLEN %u", blen);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", h->source);
	if (ioctl(bp->fd, BIOCSETIF, &ifr) < 0) {
		if (errno == ENXIO)
			return pcv__seterr(h, -ENODEV,
					   "%s: no such network interface",
					   h->source);
		return pcv__seterrno(h, -errno, "%s: BIOCSETIF", h->source);
	}
	if (ioctl(bp->fd, BIOCGBLEN, &blen) < 0)
		return pcv__seterrno(h, -errno, "BIOCGBLEN");
	if (h->cfg.immediate && ioctl(bp->fd, BIOCIMMEDIATE, &on) < 0)
		return pcv__seterrno(h, -errno, "BIOCIMMEDIATE");
	if (h->cfg.promiscuous && ioctl(bp->fd, BIOCPROMISC, NULL) < 0)
		return pcv__seterrno(h, -errno, "%s: BIOCPROMISC", h->source);
#ifdef BIOCSTSTAMP
	{
		u_int ts = BPF_T_NANOTIME;

		if (ioctl(bp->fd, BIOCSTSTAMP, &ts) < 0)
			return pcv__seterrno(h, -errno, "BIOCSTSTAMP");
	}
#endif
	if (ioctl(bp->fd, BIOCSRTIMEOUT, &tv) < 0)
		return pcv__seterrno(h, -errno, "BIOCSRTIMEOUT");
	if (ioctl(bp->fd, FIONBIO, &on) < 0)
		return pcv__seterrno(h, -errno, "FIONBIO");
	if (ioctl(bp->fd, BIOCGDLT, &dlt) < 0)
		return pcv__seterrno(h, -errno, "BIOCGDLT");
	h->linktype = (int)dlt;
	h->snaplen = h->cfg.snaplen;
	bp->buf_len = blen;
	bp->buf = malloc(blen);
	if (!bp->buf)
		return pcv__seterr(h, -ENOMEM, "out of memory");
	bp->pos = bp->end = bp->buf;
	h->kfilter = true;
	return 0;
}

/* Read the next buffer of records.  Return: 1 with data, 0 on timeout or
 * wake-up, a negative code on error. */
static int bpf_fill(struct bsdbpf *bp, int timeout_ms)
{
	struct pcv_handle *h = &bp->h;
	struct pollfd pfd[2] = {
		{ .fd = bp->fd, .events = POLLIN },
		{ .fd = bp->wake[0], .events = POLLIN },
	};
	char junk[64];
	ssize_t n;

	if (timeout_ms < 0)
		timeout_ms = (int)h->cfg.block_timeout_ms;
	if (poll(pfd, 2, timeout_ms) < 0)
		return errno == EINTR ? 0 : pcv__seterrno(h, -errno, "poll");
	if (pfd[1].revents & POLLIN) {
		while (read(bp->wake[0], junk, sizeof(junk)) > 0)
			;
		return 0;
	}
	/* Non-blocking: after a timeout this hands over a partly filled
	 * store buffer, or fails with EAGAIN when there is nothing. */
	n = read(bp->fd, bp->buf, bp->buf_len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno == ENXIO)
			return pcv__seterr(h, -ENETDOWN,
					   "%s: the interface went away",
					   h->source);
		return pcv__seterrno(h, -errno, "%s: read", h->source);
	}
	bp->pos = bp->buf;
	bp->end = bp->buf + n;
	return n > 0;
}

static int bpf_next_batch(struct pcv_handle *h, int timeout_ms)
{
	struct bsdbpf *bp = (struct bsdbpf *)h;
	uint32_t n = 0;

	while (bp->pos >= bp->end) {
		int rc = bpf_fill(bp, timeout_ms);

		if (rc <= 0)
			return rc;
	}
	while (bp->pos < bp->end && n < h->cfg.batch_size) {
		const bpf_rec_hdr *bh = (const bpf_rec_hdr *)(void *)bp->pos;
		size_t rec;

		if ((size_t)(bp->end - bp->pos) < sizeof(*bh) ||
		    bh->bh_hdrlen + bh->bh_caplen > (size_t)(bp->end - bp->pos))
			return pcv__seterr(h, PCV_ECORRUPT,
					   "%s: malformed record from the BPF device",
					   h->source);
		h->pkts[n++] = (struct pcv_packet){
			.data = bp->pos + bh->bh_hdrlen,
			.caplen = bh->bh_caplen < h->snaplen ? bh->bh_caplen
							      : h->snaplen,
			.len = bh->bh_datalen,
			.ts_ns = REC_TS_NS(bh),
		};
		rec = BPF_WORDALIGN(bh->bh_hdrlen + bh->bh_caplen);
		bp->pos = rec < (size_t)(bp->end - bp->pos) ? bp->pos + rec
							     : bp->end;
	}
	return (int)n;
}

static int bpf_set_filter(struct pcv_handle *h, const struct bpf_insn *insns,
			  unsigned ninsns)
{
	struct bsdbpf *bp = (struct bsdbpf *)h;
	struct bpf_program prog = {
		.bf_len = ninsns,
		.bf_insns = (struct bpf_insn *)insns,
	};

	/* BIOCSETF also flushes the buffers, so no packet that predates
	 * the filter is delivered. */
	if (ioctl(bp->fd, BIOCSETF, &prog) < 0)
		return pcv__seterrno(h, -errno, "%s: BIOCSETF", h->source);
	bp->pos = bp->end = bp->buf;
	return 0;
}

static int bpf_stats(struct pcv_handle *h, struct pcv_stats *st)
{
	struct bsdbpf *bp = (struct bsdbpf *)h;
	struct bpf_stat bs;

	if (ioctl(bp->fd, BIOCGSTATS, &bs) < 0)
		return pcv__seterrno(h, -errno, "%s: BIOCGSTATS", h->source);
	st->kernel_seen = bs.bs_recv;
	st->kernel_dropped = bs.bs_drop;
	st->drop_ring_full = bs.bs_drop;
	return 0;
}

static void bpf_wake(struct pcv_handle *h)
{
	struct bsdbpf *bp = (struct bsdbpf *)h;
	char c = 0;

	if (bp->wake[1] >= 0 && write(bp->wake[1], &c, 1) < 0)
		(void)c; /* pipe full: a wake-up is already pending */
}

static void bpf_cleanup(struct pcv_handle *h)
{
	struct bsdbpf *bp = (struct bsdbpf *)h;

	if (bp->fd >= 0)
		close(bp->fd);
	if (bp->wake[0] >= 0)
		close(bp->wake[0]);
	if (bp->wake[1] >= 0)
		close(bp->wake[1]);
	free(bp->buf);
}

const struct pcv_backend_ops pcv__bpf_ops = {
	.name = "bpf",
	.obj_size = sizeof(struct bsdbpf),
	.claims = bpf_claims,
	.activate = bpf_activate,
	.next_batch = bpf_next_batch,
	.set_filter = bpf_set_filter,
	.stats = bpf_stats,
	.wake = bpf_wake,
	.cleanup = bpf_cleanup,
	.caps = PCV_CAP_LIVE | PCV_CAP_KERNEL_FILTER | PCV_CAP_PROMISC |
		PCV_CAP_DROP_STATS
#ifdef BIOCSTSTAMP
		| PCV_CAP_NANO_TS
#endif
	,
};
