/* SPDX-License-Identifier: MIT */
/*
 * capture-int.h - what the capture core and its backends share: the backend
 * table entry, the common handle layout and the pcv__ helpers.  Nothing
 * outside capture/ includes this file.
 *
 * A backend struct embeds struct pcv_handle as its first member; the core
 * allocates ops->obj_size bytes, so one allocation holds both (libpcap's
 * PCAP_CREATE_COMMON, SQLite's sqlite3_file subclassing).
 *
 * Lifecycle: the core picks the backend (claims), allocates and fills in
 * the common part from the config (create), then calls activate, which
 * opens sockets and maps rings.  cleanup must undo a partial activate.
 */
#ifndef PCV_CAPTURE_INT_H
#define PCV_CAPTURE_INT_H

#include <stdatomic.h>

#include "pcv/pcv.h"

struct bpf_insn;
struct bpf_program;

struct pcv_backend_ops {
	const char *name;
	size_t obj_size;
	/* Whether this backend would take @source under "auto". */
	bool (*claims)(const char *source);
	/* Open the source; a live one delivers nothing before start. */
	int (*activate)(struct pcv_handle *h);
	/* Start delivering (after any filter is attached).  May be NULL. */
	int (*start)(struct pcv_handle *h);
	/*
	 * Fill h->pkts with up to h->cfg.batch_size packets; wait at most
	 * @timeout_ms (-1: until packets or a wake-up) when there are none.
	 * Return: the count (0: nothing yet; set h->eof at the end of the
	 * input), or a negative code with h->errbuf set.
	 */
	int (*next_batch)(struct pcv_handle *h, int timeout_ms);
	/* Give back the memory of the last batch.  May be NULL. */
	void (*release)(struct pcv_handle *h);
	/* Install a validated classic BPF program, setting h->kfilter when
	 * the kernel will apply it.  May be NULL: the core then filters in
	 * userspace. */
	int (*set_filter)(struct pcv_handle *h, const struct bpf_insn *insns,
			  unsigned ninsns);
	/* Compile a tcpdump expression for the kernel, where that differs
	 * from compiling for a file.  May be NULL. */
	int (*compile)(struct pcv_handle *h, const char *expr,
		       struct bpf_program *prog);
	/* Add the backend's counters (kernel drops, ...) to @st. */
	int (*stats)(struct pcv_handle *h, struct pcv_stats *st);
	/* Interrupt a wait in next_batch.  Async-signal-safe.  May be NULL. */
	void (*wake)(struct pcv_handle *h);
	/* Release everything activate acquired, also after a partial one. */
	void (*cleanup)(struct pcv_handle *h);
	uint32_t caps; /* enum pcv_capability bits */
};

struct pcv_handle {
	const struct pcv_backend_ops *ops;
	struct pcv_config cfg;
	char *source;         /* without the "backend:" prefix */
	int linktype;         /* DLT_ value, set by activate */
	uint32_t snaplen;     /* effective, set by activate */
	bool eof;             /* next_batch reached the end of the input */
	atomic_bool break_req;
	bool pinned;

	/* The current batch; pkts has cfg.batch_size entries. */
	struct pcv_packet *pkts;
	uint32_t npkts;
	uint32_t pos; /* next packet pcv_capture() delivers */

	/* Userspace filter: for backends without set_filter, and for the
	 * packets a kernel ring held before the kernel filter was attached. */
	struct bpf_insn *ufilter;
	unsigned ufilter_len;
	bool kfilter;          /* the kernel applies ufilter: skip it here */
	char kfilter_why[128]; /* when it does not, why ("" if no reason) */

	struct pcv_stats st; /* the core's counters */
	char errbuf[PCV_ERRBUF_SIZE];
};

extern const struct pcv_backend_ops pcv__afpacket_ops;
extern const struct pcv_backend_ops pcv__afxdp_ops;
extern const struct pcv_backend_ops pcv__pcapfile_ops;
extern const struct pcv_backend_ops pcv__bpf_ops;

/*
 * pcv__seterr() - format a message into h->errbuf and return @err, so that
 * one line records and propagates: return pcv__seterr(h, -errno, "...").
 */
int pcv__seterr(struct pcv_handle *h, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* pcv__seterrno() - as pcv__seterr(), appending ": strerror(-err)". */
int pcv__seterrno(struct pcv_handle *h, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * pcv__ufilter_match() - run the userspace filter on one packet, cutting
 * pkt->caplen to what the program keeps.  A packet with no captured bytes
 * can still be accepted (a filter on the wire length, say).
 * Return: whether the filter accepts the packet.
 */
bool pcv__ufilter_match(const struct pcv_handle *h, struct pcv_packet *pkt);

/*
 * pcv__wait() - wait up to @timeout_ms (-1: no limit) for @fd to become
 * readable, or for a wake-up written to the eventfd @wake_fd (which it
 * consumes), or for pcv_breakloop().
 * Return: 1 with *@revents = @fd's poll events (POLLIN, or error bits
 * for the caller to explain), 0 when woken, timed out or interrupted,
 * a negative code when poll failed (h->errbuf set).
 */
int pcv__wait(struct pcv_handle *h, int fd, int wake_fd, int timeout_ms,
	      short *revents);

/* pcv__wake() - wake a pcv__wait() on @wake_fd.  Async-signal-safe. */
void pcv__wake(int wake_fd);

/*
 * pcv__if_attr() - the number in /sys/class/net/@ifname/@name ("mtu",
 * "type", "statistics/rx_packets", "device/numa_node", ...).
 * Return: it, or -1 when the file is missing or holds no number.
 */
long long pcv__if_attr(const char *ifname, const char *name);

/*
 * pcv__filter_install() - compile a tcpdump expression and install it:
 * the file semantics program for userspace (h->ufilter), the backend's
 * own compile (ops->compile) for the kernel.  filter-bpf.c.
 * Return: 0, -EINVAL with "bad filter expression ..." in h->errbuf.
 */
int pcv__filter_install(struct pcv_handle *h, const char *expr);

#endif /* PCV_CAPTURE_INT_H */
