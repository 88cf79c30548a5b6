/* SPDX-License-Identifier: MIT */
/*
 * pcv/pcv.h - the PacketVelocity capture API.
 *
 * A handle reads packets from one source: a network interface (through a
 * kernel backend such as AF_PACKET) or a capture file.  The shape is the
 * seed design's: open with a config, then receive packets one at a time
 * (pcv_capture) or a batch at a time (pcv_capture_batch) through a callback
 * until pcv_breakloop() or the end of the input.
 *
 * Ownership: packet memory handed to a callback is borrowed.  It stays
 * valid until the callback returns and is then reused (it may be a slot of
 * a kernel ring).  A caller that keeps packets copies them.
 *
 * Errors follow pcv/error.h: 0 or a count on success, a negative code on
 * failure, with the detail in pcv_get_error(handle).
 */
#ifndef PCV_PCV_H
#define PCV_PCV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pcv/error.h"

#define PCV_VERSION_STRING "0.1.0"

/* Defaults, also documented in pcv_config_init(). */
#define PCV_DEFAULT_SNAPLEN 262144
#define PCV_DEFAULT_BATCH 64
#define PCV_DEFAULT_BUFFER (64u << 20)  /* 64 MiB kernel ring */
#define PCV_DEFAULT_BLOCK (1u << 20)    /* 1 MiB TPACKET_V3 block */
#define PCV_DEFAULT_TIMEOUT_MS 100      /* block retire timeout */
#define PCV_MAX_BATCH 4096

/* How several handles on one interface share its packets (PACKET_FANOUT). */
enum pcv_fanout_mode {
	PCV_FANOUT_HASH = 0, /* by flow: both directions of a flow together */
	PCV_FANOUT_LB,       /* round robin */
	PCV_FANOUT_CPU,      /* by the CPU that received the packet */
	PCV_FANOUT_QM,       /* by the NIC's receive queue */
};

struct pcv_config {
	const char *backend;        /* "auto" (NULL too), "afpacket", "pcapfile", "bpf" */
	uint32_t queue;             /* receive queue (backends that bind to one) */
	uint32_t snaplen;           /* bytes kept per packet, 1..262144 */
	uint32_t batch_size;        /* packets per batch, 1..PCV_MAX_BATCH */
	uint32_t buffer_size;       /* kernel ring bytes (afpacket, bpf) */
	uint32_t block_size;        /* TPACKET_V3 block bytes, power of two */
	uint32_t block_timeout_ms;  /* hand over a partly filled block after this */
	bool promiscuous;           /* put the interface in promiscuous mode */
	bool immediate;             /* deliver at once: shortest block timeout */
	int cpu;                    /* pin the capturing thread; -1: no pinning */
	uint16_t fanout_group;      /* 0: none; else PACKET_FANOUT group id */
	enum pcv_fanout_mode fanout_mode;
	const char *xdp_mode;       /* afxdp: "native", "generic", or NULL:
				     * native, else generic */
	const char *filter;         /* tcpdump expression in force from the
				     * first packet (see pcv/filter.h); NULL:
				     * every packet */
};

/* One packet.  ts_ns is nanoseconds since the Unix epoch. */
struct pcv_packet {
	const uint8_t *data;
	uint32_t caplen;   /* bytes at data */
	uint32_t len;      /* length on the wire */
	uint64_t ts_ns;
};

struct pcv_batch {
	const struct pcv_packet *pkts;
	uint32_t count;
};

/*
 * Counters since pcv_open.  Without a filter, what was examined is what
 * was received (plus drops); with one, the difference is what it rejected.
 */
struct pcv_stats {
	uint64_t received;        /* packets delivered to callbacks */
	uint64_t bytes;           /* their captured bytes */
	uint64_t examined;        /* packets the filter looked at: records read
				   * from a file; packets through a live
				   * interface (its rx+tx counters) */
	uint64_t kernel_seen;     /* packets the kernel filter passed, incl. drops */
	uint64_t kernel_dropped;  /* dropped by the kernel, the sum of: */
	uint64_t drop_ring_full;  /*   the ring to us was full */
	uint64_t drop_no_buffer;  /*   no buffer to receive into (afxdp:
				   *   the fill ring was empty) */
	uint64_t drop_invalid;    /*   refused: longer than a buffer, or a
				   *   bad descriptor (afxdp) */
	uint64_t if_dropped;      /* dropped by the interface or driver */
};

/* pcv_get_capabilities() bits. */
enum pcv_capability {
	PCV_CAP_LIVE = 1u << 0,          /* reads a network interface */
	PCV_CAP_NANO_TS = 1u << 1,       /* nanosecond timestamps */
	PCV_CAP_KERNEL_FILTER = 1u << 2, /* pcv_set_filter() runs in the kernel */
	PCV_CAP_ZERO_COPY = 1u << 3,     /* batches point into a kernel ring */
	PCV_CAP_FANOUT = 1u << 4,        /* several handles share an interface */
	PCV_CAP_PROMISC = 1u << 5,       /* promiscuous mode */
	PCV_CAP_DROP_STATS = 1u << 6,    /* kernel drop counters */
};

struct pcv_handle;

typedef void (*pcv_callback)(const struct pcv_packet *pkt, void *user);
typedef void (*pcv_batch_callback)(const struct pcv_batch *batch, void *user);

/*
 * pcv_config_init() - fill @cfg with the defaults: backend "auto", snaplen
 * PCV_DEFAULT_SNAPLEN, batch PCV_DEFAULT_BATCH, buffer PCV_DEFAULT_BUFFER,
 * block PCV_DEFAULT_BLOCK, timeout PCV_DEFAULT_TIMEOUT_MS, not promiscuous,
 * not immediate, no CPU pinning, no fanout.
 */
void pcv_config_init(struct pcv_config *cfg);

/*
 * pcv_open() - open a capture source and start capturing.
 * @hp:     receives the handle; NULL on failure
 * @source: an interface name ("eth0"), a capture file path, or either
 *          prefixed with a backend name ("afpacket:eth0", "pcapfile:x.pcap")
 * @cfg:    NULL for the defaults
 * @errbuf: PCV_ERRBUF_SIZE bytes for the reason of a failure, or NULL
 *
 * With backend "auto" the backends are asked in order whether they claim
 * the source: an existing file goes to pcapfile, a name to the kernel
 * backend of the platform.  A cfg->filter is attached before the source
 * delivers anything, so no packet escapes it.
 * Return: 0, or a negative code (-ENODEV, -EPERM, PCV_EBACKEND, -EINVAL
 * for a bad config or filter expression, ...).
 */
int pcv_open(struct pcv_handle **hp, const char *source,
	     const struct pcv_config *cfg, char *errbuf);

/* pcv_close() - stop and free everything.  NULL is fine. */
void pcv_close(struct pcv_handle *h);

/*
 * pcv_set_filter() - install a classic BPF program (an array of
 * struct bpf_insn / struct sock_filter, 8 bytes each; @len in bytes), as
 * compiled by pcap_compile() for this handle's link type and snaplen.
 * Live backends run it in the kernel, so rejected packets never reach us;
 * packets the kernel queued before the call are filtered in userspace.
 * Return: 0, -EINVAL for a program that fails validation.
 */
int pcv_set_filter(struct pcv_handle *h, const void *filter, size_t len);

/*
 * pcv_capture() - call @cb for every packet until pcv_breakloop() or the
 * end of the input.
 * Return: 0 at the end of the input or after pcv_breakloop(), a negative
 * code on error (packets before the error were delivered).
 */
int pcv_capture(struct pcv_handle *h, pcv_callback cb, void *user);

/*
 * pcv_capture_batch() - as pcv_capture(), a batch of up to
 * cfg.batch_size packets per call of @cb.  Batches are never empty.
 */
int pcv_capture_batch(struct pcv_handle *h, pcv_batch_callback cb,
		      void *user);

/*
 * pcv_breakloop() - make pcv_capture()/pcv_capture_batch() return soon
 * (at once when blocked waiting for packets).  Safe from a signal handler
 * and from another thread.
 */
void pcv_breakloop(struct pcv_handle *h);

/*
 * pcv_capture_drain() - after pcv_breakloop() ended pcv_capture_batch():
 * deliver, as batches, what the source already holds, waiting at most
 * @timeout_ms in all.  For AF_PACKET that includes the block the kernel is
 * filling, handed over once its block timeout expires; packets arriving
 * meanwhile are delivered too, until the time is up.  A file would be read
 * on to its end within the time: callers stopping an import do not drain.
 * Return: 0, or a negative code on error.
 */
int pcv_capture_drain(struct pcv_handle *h, pcv_batch_callback cb,
		      void *user, int timeout_ms);

/* pcv_get_stats() - counters so far.  Return: 0, or a negative code. */
int pcv_get_stats(struct pcv_handle *h, struct pcv_stats *st);

/* pcv_get_error() - what went wrong last on this handle ("" if nothing). */
const char *pcv_get_error(const struct pcv_handle *h);

/* pcv_get_linktype() - the source's link type (a DLT_ value). */
int pcv_get_linktype(const struct pcv_handle *h);

/* pcv_get_snaplen() - the effective snapshot length. */
uint32_t pcv_get_snaplen(const struct pcv_handle *h);

/*
 * pcv_filter_in_kernel() - whether the kernel applies the handle's filter
 * (rejected packets never cost a copy), or the library runs it on each
 * batch.  When a filter is set but runs here, *@why (if @why is not NULL)
 * says why, or is "" for a backend with no kernel filter at all.
 */
bool pcv_filter_in_kernel(const struct pcv_handle *h, const char **why);

/* pcv_get_backend() - the name of the backend that claimed the source. */
const char *pcv_get_backend(const struct pcv_handle *h);

/* pcv_get_capabilities() - enum pcv_capability bits of this handle. */
uint32_t pcv_get_capabilities(const struct pcv_handle *h);

/* pcv_version() - "0.1.0". */
const char *pcv_version(void);

/* pcv_platform_name() - "linux", "macos", "freebsd", ... */
const char *pcv_platform_name(void);

/*
 * pcv_backends() - the names of the backends compiled in, in the order
 * "auto" tries them, NULL-terminated.
 */
const char *const *pcv_backends(void);

#endif /* PCV_PCV_H */
