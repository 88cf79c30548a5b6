// SPDX-License-Identifier: MIT
/*
 * cap-afpacket.c - Linux AF_PACKET capture backend on a TPACKET_V3 ring.
 *
 * The kernel fills fixed-size blocks of a ring shared with us through
 * mmap; a block is handed over when it is full or when its retire timeout
 * (cfg.block_timeout_ms, 1 ms in immediate mode) expires.  A batch is a
 * run of packets of one block, pointing straight into the ring; the block
 * goes back to the kernel when its last packet has been delivered and the
 * callback returned (release).
 *
 * VLAN tags: the kernel moves an 802.1Q/802.1ad tag out of the frame into
 * the ring's metadata.  We put it back (into a scratch copy) so that what
 * we deliver is what was on the wire.
 *
 * Sections: 1. claims/activate  2. hot path  3. filter/stats/teardown
 */
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture-int.h"

_Static_assert(sizeof(struct bpf_insn) == sizeof(struct sock_filter),
	       "libpcap's bpf_insn is the kernel's sock_filter");

#define FRAME_SIZE 2048 /* only checked by the kernel in TPACKET_V3 */
#define VLAN_TAG_LEN 4

struct afpacket {
	struct pcv_handle h; /* first: the core's part */
	int fd;
	int wake_fd;
	int ifindex;
	uint8_t *ring;
	size_t ring_len;
	uint32_t block_size;
	uint32_t nblocks;
	uint32_t cur;               /* block being read */
	bool in_block;              /* cur is ours (TP_STATUS_USER) */
	uint32_t left;              /* packets of cur not yet delivered */
	struct tpacket3_hdr *next;  /* the first of them */
	bool ufilter_block;         /* cur predates the kernel filter */
	uint32_t ufilter_blocks;    /* blocks still to filter in userspace */
	uint8_t *scratch;           /* frames with their VLAN tag put back */
	size_t scratch_size;
	uint64_t seen, dropped;     /* PACKET_STATISTICS, accumulated */
	uint64_t if_drop_base;
	uint64_t if_pkts_base;      /* rx + tx packets at open */
	bool started;               /* bound to ETH_P_ALL: packets flow */
};

/* ===== 1. claims/activate ============================================== */

static bool afpacket_claims(const char *source)
{
	/* Any name may be an interface; activate says if it is not. */
	return source[0] != '\0' && strlen(source) < IFNAMSIZ &&
	       !strchr(source, '/');
}

/* One of the interface's counters, statistics/NAME; 0 when unreadable. */
static uint64_t if_counter(const char *ifname, const char *name)
{
	char attr[64];
	long long v;

	snprintf(attr, sizeof(attr), "statistics/%s", name);
	v = pcv__if_attr(ifname, attr);
	return v < 0 ? 0 : (uint64_t)v;
}

static uint64_t if_packets(const char *ifname)
{
	return if_counter(ifname, "rx_packets") + if_counter(ifname, "tx_packets");
}

static int linktype_of(struct afpacket *ap)
{
	struct pcv_handle *h = &ap->h;
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", h->source);
	if (ioctl(ap->fd, SIOCGIFHWADDR, &ifr) < 0)
		return pcv__seterrno(h, -errno, "%s: SIOCGIFHWADDR", h->source);
	switch (ifr.ifr_hwaddr.sa_family) {
	case ARPHRD_ETHER:
	case ARPHRD_LOOPBACK:
		return DLT_EN10MB;
	case ARPHRD_NONE:
	case ARPHRD_PPP:
	case ARPHRD_TUNNEL:
	case ARPHRD_TUNNEL6:
	case ARPHRD_IPGRE:
	case ARPHRD_SIT:
	case 519: /* ARPHRD_RAWIP */
		return DLT_RAW;
	default:
		return pcv__seterr(h, PCV_ELINKTYPE,
				   "%s: hardware type %u is not supported by afpacket",
				   h->source, ifr.ifr_hwaddr.sa_family);
	}
}

static int afpacket_socket(struct afpacket *ap)
{
	struct pcv_handle *h = &ap->h;
	int err;

	/* Protocol 0: no packets are queued until bind() below, after the
	 * ring exists. */
	ap->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (ap->fd < 0) {
		err = -errno;
		if (err == -EPERM || err == -EACCES)
			return pcv__seterr(h, err,
					   "%s: socket(AF_PACKET): %s: capturing needs CAP_NET_RAW "
					   "(run as root, or setcap cap_net_raw,cap_net_admin=eip on the program)",
					   h->source, pcv_strerror(err));
		return pcv__seterrno(h, err, "%s: socket(AF_PACKET)",
				     h->source);
	}
	ap->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ap->wake_fd < 0)
		return pcv__seterrno(h, -errno, "eventfd");
	return 0;
}

static int afpacket_ring(struct afpacket *ap)
{
	struct pcv_handle *h = &ap->h;
	int version = TPACKET_V3;
	struct tpacket_req3 req;

	if (setsockopt(ap->fd, SOL_PACKET, PACKET_VERSION, &version,
		       sizeof(version)) < 0)
		return pcv__seterrno(h, -errno, "%s: PACKET_VERSION v3",
				     h->source);
	ap->block_size = h->cfg.block_size;
	ap->nblocks = h->cfg.buffer_size / ap->block_size;
	req = (struct tpacket_req3){
		.tp_block_size = ap->block_size,
		.tp_block_nr = ap->nblocks,
		.tp_frame_size = FRAME_SIZE,
		.tp_frame_nr = ap->block_size / FRAME_SIZE * ap->nblocks,
		.tp_retire_blk_tov = h->cfg.immediate ? 1
						      : h->cfg.block_timeout_ms,
	};
	if (setsockopt(ap->fd, SOL_PACKET, PACKET_RX_RING, &req,
		       sizeof(req)) < 0)
		return pcv__seterrno(h, -errno,
				     "%s: PACKET_RX_RING (%u blocks of %u bytes)",
				     h->source, ap->nblocks, ap->block_size);
	ap->ring_len = (size_t)ap->block_size * ap->nblocks;
	ap->ring = mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_LOCKED | MAP_POPULATE, ap->fd, 0);
	if (ap->ring == MAP_FAILED) /* MAP_LOCKED needs RLIMIT_MEMLOCK */
		ap->ring = mmap(NULL, ap->ring_len, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_POPULATE, ap->fd, 0);
	if (ap->ring == MAP_FAILED) {
		ap->ring = NULL;
		return pcv__seterrno(h, -errno, "%s: mmap of the %zu-byte ring",
				     h->source, ap->ring_len);
	}
	ap->scratch_size = ap->block_size + (size_t)VLAN_TAG_LEN *
						    h->cfg.batch_size;
	ap->scratch = malloc(ap->scratch_size);
	if (!ap->scratch)
		return pcv__seterr(h, -ENOMEM, "out of memory");
	return 0;
}

/* Receiving starts here, after any filter was attached, so that no
 * packet the filter would reject ever enters the ring. */
static int afpacket_start(struct pcv_handle *h)
{
	struct afpacket *ap = (struct afpacket *)h;
	static const int fanout_type[] = {
		[PCV_FANOUT_HASH] = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG,
		[PCV_FANOUT_LB] = PACKET_FANOUT_LB,
		[PCV_FANOUT_CPU] = PACKET_FANOUT_CPU,
		[PCV_FANOUT_QM] = PACKET_FANOUT_QM,
	};
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = ap->ifindex,
	};

	if (bind(ap->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return pcv__seterrno(h, -errno, "%s: bind", h->source);
	if (h->cfg.promiscuous) {
		struct packet_mreq mr = {
			.mr_ifindex = ap->ifindex,
			.mr_type = PACKET_MR_PROMISC,
		};

		if (setsockopt(ap->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr,
			       sizeof(mr)) < 0)
			return pcv__seterrno(h, -errno,
					     "%s: promiscuous mode", h->source);
	}
	if (h->cfg.fanout_group) {
		int arg = h->cfg.fanout_group |
			  fanout_type[h->cfg.fanout_mode] << 16;

		if (setsockopt(ap->fd, SOL_PACKET, PACKET_FANOUT, &arg,
			       sizeof(arg)) < 0)
			return pcv__seterrno(h, -errno,
					     "%s: PACKET_FANOUT group %u",
					     h->source, h->cfg.fanout_group);
	}
	ap->started = true;
	return 0;
}

static int afpacket_activate(struct pcv_handle *h)
{
	struct afpacket *ap = (struct afpacket *)h;
	int rc;

	ap->fd = ap->wake_fd = -1;
	if (h->cfg.queue != 0)
		return pcv__seterr(h, -EINVAL,
				   "%s: afpacket reads every receive queue of an interface; "
				   "to split the load use fanout, to bind to queue %u use afxdp",
				   h->source, h->cfg.queue);
	ap->ifindex = (int)if_nametoindex(h->source);
	if (ap->ifindex == 0)
		return pcv__seterr(h, -ENODEV, "%s: no such network interface",
				   h->source);
	rc = afpacket_socket(ap);
	if (rc < 0)
		return rc;
	rc = linktype_of(ap);
	if (rc < 0)
		return rc;
	h->linktype = rc;
	h->snaplen = h->cfg.snaplen;
	rc = afpacket_ring(ap);
	if (rc < 0)
		return rc;
	ap->if_drop_base = if_counter(h->source, "rx_dropped");
	ap->if_pkts_base = if_packets(h->source);
	return 0;
}

/* ===== 2. hot path ===================================================== */

static inline struct tpacket_block_desc *block_at(struct afpacket *ap,
						  uint32_t i)
{
	return (struct tpacket_block_desc *)(ap->ring +
					     (size_t)i * ap->block_size);
}

static void block_return(struct afpacket *ap)
{
	struct tpacket_block_desc *bd = block_at(ap, ap->cur);

	__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL,
			 __ATOMIC_RELEASE);
	ap->cur = (ap->cur + 1) % ap->nblocks;
	ap->in_block = false;
}

/* Wait for the current block.  Return: 1 when it is ours, 0 on a wake-up
 * or timeout, a negative code when the socket failed. */
static int block_wait(struct afpacket *ap, int timeout_ms)
{
	struct pcv_handle *h = &ap->h;
	int err = 0, rc;
	socklen_t elen = sizeof(err);
	short ev = 0;

	rc = pcv__wait(h, ap->fd, ap->wake_fd, timeout_ms, &ev);
	if (rc <= 0 || !(ev & (POLLERR | POLLHUP | POLLNVAL)))
		return rc;
	getsockopt(ap->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err == ENETDOWN)
		return pcv__seterr(h, -ENETDOWN,
				   "%s: the interface went down or was removed",
				   h->source);
	return pcv__seterrno(h, err ? -err : -EIO, "%s: capture socket",
			     h->source);
}

/* One packet of the ring as a pcv_packet; puts its VLAN tag back. */
static void packet_from(struct afpacket *ap, const struct tpacket3_hdr *th,
			struct pcv_packet *p, size_t *scratch_used)
{
	const uint8_t *data = (const uint8_t *)th + th->tp_mac;
	uint32_t caplen = th->tp_snaplen;

	p->len = th->tp_len;
	p->ts_ns = (uint64_t)th->tp_sec * 1000000000u + th->tp_nsec;
	if ((th->tp_status & TP_STATUS_VLAN_VALID) && caplen >= 12 &&
	    ap->h.linktype == DLT_EN10MB) {
		uint16_t tpid = (th->tp_status & TP_STATUS_VLAN_TPID_VALID)
					? th->hv1.tp_vlan_tpid
					: ETH_P_8021Q;
		uint16_t tci = th->hv1.tp_vlan_tci;
		uint8_t *out = ap->scratch + *scratch_used;

		memcpy(out, data, 12);
		out[12] = (uint8_t)(tpid >> 8);
		out[13] = (uint8_t)tpid;
		out[14] = (uint8_t)(tci >> 8);
		out[15] = (uint8_t)tci;
		memcpy(out + 16, data + 12, caplen - 12);
		caplen += VLAN_TAG_LEN;
		p->len += VLAN_TAG_LEN;
		*scratch_used += caplen;
		data = out;
	}
	p->data = data;
	p->caplen = caplen < ap->h.snaplen ? caplen : ap->h.snaplen;
}

static int afpacket_next_batch(struct pcv_handle *h, int timeout_ms)
{
	struct afpacket *ap = (struct afpacket *)h;
	size_t scratch_used = 0;
	uint32_t n = 0;

	for (;;) {
		if (!ap->in_block) {
			struct tpacket_block_desc *bd = block_at(ap, ap->cur);
			int rc;

			if (!(__atomic_load_n(&bd->hdr.bh1.block_status,
					      __ATOMIC_ACQUIRE) &
			      TP_STATUS_USER)) {
				rc = block_wait(ap, timeout_ms);
				if (rc <= 0)
					return rc;
				continue;
			}
			ap->in_block = true;
			ap->left = bd->hdr.bh1.num_pkts;
			ap->next = (struct tpacket3_hdr *)((uint8_t *)bd +
				   bd->hdr.bh1.offset_to_first_pkt);
			ap->ufilter_block = ap->ufilter_blocks > 0;
			if (ap->ufilter_block)
				ap->ufilter_blocks--;
		}
		while (ap->left && n < h->cfg.batch_size) {
			struct tpacket3_hdr *th = ap->next;
			struct pcv_packet *p = &h->pkts[n];

			ap->next = (struct tpacket3_hdr *)((uint8_t *)th +
							   th->tp_next_offset);
			ap->left--;
			packet_from(ap, th, p, &scratch_used);
			if (ap->ufilter_block && !pcv__ufilter_match(h, p))
				continue;
			n++;
		}
		if (n)
			return (int)n;
		/* An empty block (retired by timeout) or one whose packets the
		 * userspace filter all rejected. */
		block_return(ap);
	}
}

static void afpacket_release(struct pcv_handle *h)
{
	struct afpacket *ap = (struct afpacket *)h;

	if (ap->in_block && ap->left == 0)
		block_return(ap);
}

static void afpacket_wake(struct pcv_handle *h)
{
	pcv__wake(((struct afpacket *)h)->wake_fd);
}

/* ===== 3. filter/stats/teardown ======================================== */

static int afpacket_set_filter(struct pcv_handle *h,
			       const struct bpf_insn *insns, unsigned ninsns)
{
	struct afpacket *ap = (struct afpacket *)h;
	struct sock_fprog prog = {
		.len = (unsigned short)ninsns,
		.filter = (struct sock_filter *)insns,
	};

	if (setsockopt(ap->fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog,
		       sizeof(prog)) < 0)
		return pcv__seterrno(h, -errno, "%s: SO_ATTACH_FILTER",
				     h->source);
	/* Blocks the kernel filled before the filter was attached hold
	 * packets it never saw: filter those in userspace. */
	ap->ufilter_blocks = ap->started ? ap->nblocks : 0;
	h->kfilter = true;
	return 0;
}

/*
 * libpcap compiles differently for a live Linux socket: VLAN tests read
 * the tag the kernel moved into metadata (SKF_AD_VLAN_TAG*), and inbound/
 * outbound become packet-type tests.  Only a live, activated pcap_t gets
 * that code, so make a short-lived one on the same interface, with the
 * smallest ring, compile, and close it.
 */
static int afpacket_compile(struct pcv_handle *h, const char *expr,
			    struct bpf_program *prog)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_t *p = pcap_create(h->source, errbuf);
	int rc = 0;

	if (!p)
		return pcv__seterr(h, -ENODEV, "%s: %s", h->source, errbuf);
	pcap_set_snaplen(p, (int)h->snaplen);
	pcap_set_buffer_size(p, 65536);
	if (pcap_activate(p) < 0)
		rc = pcv__seterr(h, -EIO, "%s: compiling the kernel filter: %s",
				 h->source, pcap_geterr(p));
	else if (pcap_compile(p, prog, expr, 1, PCAP_NETMASK_UNKNOWN) < 0)
		rc = pcv__seterr(h, -EINVAL, "bad filter expression '%s': %s",
				 expr, pcap_geterr(p));
	pcap_close(p);
	return rc;
}

static int afpacket_stats(struct pcv_handle *h, struct pcv_stats *st)
{
	struct afpacket *ap = (struct afpacket *)h;
	struct tpacket_stats_v3 ks;
	socklen_t len = sizeof(ks);

	/* The kernel resets its counters on every read. */
	if (getsockopt(ap->fd, SOL_PACKET, PACKET_STATISTICS, &ks, &len) < 0)
		return pcv__seterrno(h, -errno, "%s: PACKET_STATISTICS",
				     h->source);
	ap->seen += ks.tp_packets;
	ap->dropped += ks.tp_drops;
	st->kernel_seen = ap->seen;
	st->kernel_dropped = ap->dropped;
	st->drop_ring_full = ap->dropped;
	st->if_dropped = if_counter(h->source, "rx_dropped") - ap->if_drop_base;
	/* AF_PACKET sees both directions, so the filter examines both. */
	st->examined = if_packets(h->source) - ap->if_pkts_base;
	return 0;
}

static void afpacket_cleanup(struct pcv_handle *h)
{
	struct afpacket *ap = (struct afpacket *)h;

	if (ap->ring)
		munmap(ap->ring, ap->ring_len);
	if (ap->fd >= 0)
		close(ap->fd);
	if (ap->wake_fd >= 0)
		close(ap->wake_fd);
	free(ap->scratch);
}

const struct pcv_backend_ops pcv__afpacket_ops = {
	.name = "afpacket",
	.obj_size = sizeof(struct afpacket),
	.claims = afpacket_claims,
	.activate = afpacket_activate,
	.start = afpacket_start,
	.next_batch = afpacket_next_batch,
	.release = afpacket_release,
	.set_filter = afpacket_set_filter,
	.compile = afpacket_compile,
	.stats = afpacket_stats,
	.wake = afpacket_wake,
	.cleanup = afpacket_cleanup,
	.caps = PCV_CAP_LIVE | PCV_CAP_NANO_TS | PCV_CAP_KERNEL_FILTER |
		PCV_CAP_ZERO_COPY | PCV_CAP_FANOUT | PCV_CAP_PROMISC |
		PCV_CAP_DROP_STATS,
};
