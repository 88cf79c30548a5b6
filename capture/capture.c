// SPDX-License-Identifier: MIT
/*
 * capture.c - the capture core: the backend table, pcv_open/pcv_close, the
 * capture loops and the userspace filter.
 *
 * Backends are chosen at two levels, as in libpcap: the build decides which
 * files exist (cap-afpacket.c on Linux, cap-bpf.c on BSD and macOS), and
 * at run time the core walks the table below, asking each backend whether
 * it claims the source, or takes the one named by the config or a
 * "backend:" prefix of the source.
 *
 * Sections: 1. backend table  2. open/close  3. capture loops  4. the rest
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture-int.h"

/* The longest program Linux and the BSDs accept. */
#define FILTER_MAX_INSNS 4096

/* ===== 1. backend table ================================================ */

static const struct pcv_backend_ops *const backends[] = {
	&pcv__pcapfile_ops, /* first: an existing file is never an interface */
#if defined(__linux__)
	&pcv__afpacket_ops,
	&pcv__afxdp_ops, /* never claims under "auto" */
#elif defined(__APPLE__) || defined(__FreeBSD__) || defined(__NetBSD__) || \
	defined(__OpenBSD__) || defined(__DragonFly__)
	&pcv__bpf_ops,
#endif
	NULL,
};

static const struct pcv_backend_ops *backend_by_name(const char *name,
						     size_t len)
{
	for (size_t i = 0; backends[i]; i++) {
		if (strlen(backends[i]->name) == len &&
		    memcmp(backends[i]->name, name, len) == 0)
			return backends[i];
	}
	return NULL;
}

const char *const *pcv_backends(void)
{
	static const char *names[sizeof(backends) / sizeof(backends[0])];

	for (size_t i = 0; backends[i]; i++)
		names[i] = backends[i]->name;
	return names;
}

static void backend_list(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; backends[i] && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? ", " : "", backends[i]->name);
}

/* ===== 2. open/close =================================================== */

int pcv__seterr(struct pcv_handle *h, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->errbuf, sizeof(h->errbuf), fmt, ap);
	va_end(ap);
	return err;
}

int pcv__seterrno(struct pcv_handle *h, int err, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(h->errbuf, sizeof(h->errbuf), fmt, ap);
	va_end(ap);
	n = strlen(h->errbuf);
	snprintf(h->errbuf + n, sizeof(h->errbuf) - n, ": %s",
		 pcv_strerror(err));
	return err;
}

void pcv_config_init(struct pcv_config *cfg)
{
	*cfg = (struct pcv_config){
		.backend = "auto",
		.snaplen = PCV_DEFAULT_SNAPLEN,
		.batch_size = PCV_DEFAULT_BATCH,
		.buffer_size = PCV_DEFAULT_BUFFER,
		.block_size = PCV_DEFAULT_BLOCK,
		.block_timeout_ms = PCV_DEFAULT_TIMEOUT_MS,
		.cpu = -1,
	};
}

static int errbuf_set(char *errbuf, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int errbuf_set(char *errbuf, int err, const char *fmt, ...)
{
	va_list ap;

	if (errbuf) {
		va_start(ap, fmt);
		vsnprintf(errbuf, PCV_ERRBUF_SIZE, fmt, ap);
		va_end(ap);
	}
	return err;
}

static int config_check(const struct pcv_config *c, char *errbuf)
{
	if (c->snaplen < 1 || c->snaplen > PCV_DEFAULT_SNAPLEN)
		return errbuf_set(errbuf, -EINVAL,
				  "snaplen %u out of range 1..%u", c->snaplen,
				  PCV_DEFAULT_SNAPLEN);
	if (c->batch_size < 1 || c->batch_size > PCV_MAX_BATCH)
		return errbuf_set(errbuf, -EINVAL,
				  "batch size %u out of range 1..%u",
				  c->batch_size, PCV_MAX_BATCH);
	if (c->block_size < 4096 || (c->block_size & (c->block_size - 1)))
		return errbuf_set(errbuf, -EINVAL,
				  "block size %u is not a power of two >= 4096",
				  c->block_size);
	if (c->buffer_size < c->block_size)
		return errbuf_set(errbuf, -EINVAL,
				  "buffer size %u is smaller than the block size %u",
				  c->buffer_size, c->block_size);
	if (c->block_timeout_ms > 60000)
		return errbuf_set(errbuf, -EINVAL,
				  "block timeout %u ms is over 60000",
				  c->block_timeout_ms);
	if (c->fanout_mode > PCV_FANOUT_QM)
		return errbuf_set(errbuf, -EINVAL, "unknown fanout mode %d",
				  (int)c->fanout_mode);
	if (c->xdp_mode && strcmp(c->xdp_mode, "native") != 0 &&
	    strcmp(c->xdp_mode, "generic") != 0)
		return errbuf_set(errbuf, -EINVAL,
				  "XDP mode '%s': native or generic",
				  c->xdp_mode);
	return 0;
}

/* Which backend takes @source; *rest is the source without its prefix. */
static const struct pcv_backend_ops *
backend_choose(const char *source, const char *want, const char **rest,
	       char *errbuf)
{
	const struct pcv_backend_ops *ops;
	const char *colon = strchr(source, ':');
	char names[128];

	*rest = source;
	if (colon && (ops = backend_by_name(source, (size_t)(colon - source)))) {
		*rest = colon + 1;
		return ops;
	}
	backend_list(names, sizeof(names));
	if (want && strcmp(want, "auto") != 0) {
		ops = backend_by_name(want, strlen(want));
		if (!ops)
			errbuf_set(errbuf, PCV_EBACKEND,
				   "unknown backend '%s' (this build has: %s)",
				   want, names);
		return ops;
	}
	for (size_t i = 0; backends[i]; i++) {
		if (backends[i]->claims(source))
			return backends[i];
	}
	errbuf_set(errbuf, PCV_EBACKEND,
		   "%s: no capture backend claims this source (this build has: %s)",
		   source, names);
	return NULL;
}

int pcv_open(struct pcv_handle **hp, const char *source,
	     const struct pcv_config *cfg, char *errbuf)
{
	const struct pcv_backend_ops *ops;
	struct pcv_config defaults;
	struct pcv_handle *h;
	const char *rest;
	int rc;

	*hp = NULL;
	if (!cfg) {
		pcv_config_init(&defaults);
		cfg = &defaults;
	}
	if (!source || !*source)
		return errbuf_set(errbuf, -EINVAL, "no capture source given");
	rc = config_check(cfg, errbuf);
	if (rc < 0)
		return rc;
	ops = backend_choose(source, cfg->backend, &rest, errbuf);
	if (!ops)
		return PCV_EBACKEND;

	h = calloc(1, ops->obj_size);
	if (!h)
		return errbuf_set(errbuf, -ENOMEM, "out of memory");
	h->ops = ops;
	h->cfg = *cfg;
	h->cfg.backend = ops->name;
	h->source = strdup(rest);
	h->pkts = calloc(cfg->batch_size, sizeof(*h->pkts));
	atomic_init(&h->break_req, false);
	if (!h->source || !h->pkts) {
		free(h->source);
		free(h->pkts);
		free(h);
		return errbuf_set(errbuf, -ENOMEM, "out of memory");
	}
	rc = ops->activate(h);
	if (rc == 0 && cfg->filter)
		rc = pcv__filter_install(h, cfg->filter);
	if (rc == 0 && ops->start)
		rc = ops->start(h);
	if (rc < 0) {
		errbuf_set(errbuf, rc, "%s", h->errbuf);
		pcv_close(h);
		return rc;
	}
	h->cfg.filter = NULL; /* the caller's string; not needed after this */
	*hp = h;
	return 0;
}

void pcv_close(struct pcv_handle *h)
{
	if (!h)
		return;
	if (h->npkts && h->ops->release)
		h->ops->release(h);
	h->ops->cleanup(h);
	free(h->ufilter);
	free(h->pkts);
	free(h->source);
	free(h);
}

/* ===== 3. capture loops ================================================ */

bool pcv__ufilter_match(const struct pcv_handle *h, struct pcv_packet *pkt)
{
	u_int keep;

	if (!h->ufilter)
		return true;
	keep = bpf_filter(h->ufilter, pkt->data, pkt->len, pkt->caplen);
	if (keep < pkt->caplen)
		pkt->caplen = keep;
	return keep != 0;
}

/* Run the userspace filter over the batch for backends that have no
 * kernel filter, keeping the accepted packets in order. */
static void batch_filter(struct pcv_handle *h)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < h->npkts; i++) {
		struct pcv_packet p = h->pkts[i];

		if (pcv__ufilter_match(h, &p))
			h->pkts[kept++] = p;
	}
	h->npkts = kept;
}

static int pin_cpu(struct pcv_handle *h)
{
#if defined(__linux__)
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(h->cfg.cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc)
		return pcv__seterrno(h, -rc, "pin to CPU %d", h->cfg.cpu);
	return 0;
#else
	return pcv__seterr(h, -ENOTSUP, "CPU pinning is not supported on %s",
			   pcv_platform_name());
#endif
}

/*
 * Make sure h->pkts[h->pos] is a packet.  Return: 1 when it is, 0 when the
 * loop must stop (end of input or pcv_breakloop), a negative code on error.
 */
static int batch_fill(struct pcv_handle *h)
{
	int n;

	if (h->cfg.cpu >= 0 && !h->pinned) {
		n = pin_cpu(h);
		if (n < 0)
			return n;
		h->pinned = true;
	}
	while (h->pos >= h->npkts) {
		if (h->npkts && h->ops->release)
			h->ops->release(h);
		h->npkts = h->pos = 0;
		if (atomic_load_explicit(&h->break_req, memory_order_relaxed) ||
		    h->eof)
			return 0;
		n = h->ops->next_batch(h, -1);
		if (n < 0)
			return n;
		h->npkts = (uint32_t)n;
		h->st.examined += (uint32_t)n;
		if (h->ufilter && !h->kfilter)
			batch_filter(h);
	}
	return 1;
}

static void count(struct pcv_handle *h, const struct pcv_packet *p,
		  uint32_t n)
{
	uint64_t bytes = 0;

	for (uint32_t i = 0; i < n; i++)
		bytes += p[i].caplen;
	h->st.received += n;
	h->st.bytes += bytes;
}

int pcv_capture_batch(struct pcv_handle *h, pcv_batch_callback cb,
		      void *user)
{
	int rc;

	while ((rc = batch_fill(h)) > 0) {
		struct pcv_batch b = {
			.pkts = h->pkts + h->pos,
			.count = h->npkts - h->pos,
		};

		h->pos = h->npkts;
		count(h, b.pkts, b.count);
		cb(&b, user);
	}
	atomic_store(&h->break_req, false);
	return rc;
}

int pcv_capture(struct pcv_handle *h, pcv_callback cb, void *user)
{
	int rc;

	while ((rc = batch_fill(h)) > 0) {
		const struct pcv_packet *p = &h->pkts[h->pos++];

		count(h, p, 1);
		cb(p, user);
		if (atomic_load_explicit(&h->break_req, memory_order_relaxed))
			break;
	}
	atomic_store(&h->break_req, false);
	return rc < 0 ? rc : 0;
}

int pcv__wait(struct pcv_handle *h, int fd, int wake_fd, int timeout_ms,
	      short *revents)
{
	struct pollfd pfd[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = wake_fd, .events = POLLIN },
	};
	uint64_t junk;
	int n;

	if (atomic_load_explicit(&h->break_req, memory_order_relaxed))
		return 0;
	n = poll(pfd, 2, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : pcv__seterrno(h, -errno, "poll");
	if (n == 0)
		return 0; /* timed out */
	if (pfd[1].revents & POLLIN) {
		if (read(wake_fd, &junk, sizeof(junk)) < 0)
			(void)junk; /* EAGAIN: another wake-up took it */
		return 0;
	}
	*revents = pfd[0].revents;
	return 1;
}

void pcv__wake(int wake_fd)
{
	uint64_t one = 1;

	if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0)
		(void)one; /* the counter is already non-zero: fine */
}

long long pcv__if_attr(const char *ifname, const char *name)
{
	char path[160];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pcv_capture_drain(struct pcv_handle *h, pcv_batch_callback cb,
		      void *user, int timeout_ms)
{
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	int n;

	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pcv_batch b;

		if (h->npkts && h->ops->release)
			h->ops->release(h);
		h->npkts = h->pos = 0;
		if (h->eof)
			return 0;
		n = h->ops->next_batch(h, left > 0 ? (int)left : 0);
		if (n <= 0)
			return n; /* 0: nothing more within the time */
		h->npkts = (uint32_t)n;
		h->st.examined += (uint32_t)n;
		if (h->ufilter && !h->kfilter)
			batch_filter(h);
		if (h->npkts == 0)
			continue;
		b = (struct pcv_batch){ .pkts = h->pkts, .count = h->npkts };
		h->pos = h->npkts;
		count(h, b.pkts, b.count);
		cb(&b, user);
	}
}

void pcv_breakloop(struct pcv_handle *h)
{
	atomic_store(&h->break_req, true);
	if (h->ops->wake)
		h->ops->wake(h);
}

/* ===== 4. filters, statistics, identity ================================ */

int pcv_set_filter(struct pcv_handle *h, const void *filter, size_t len)
{
	const struct bpf_insn *insns = filter;
	struct bpf_insn *copy;
	size_t n = len / sizeof(*insns);
	int rc;

	if (!filter || len == 0 || len % sizeof(*insns) || n > FILTER_MAX_INSNS)
		return pcv__seterr(h, -EINVAL,
				   "filter: %zu bytes is not a program of 1..%d instructions",
				   len, FILTER_MAX_INSNS);
	if (!bpf_validate(insns, (int)n))
		return pcv__seterr(h, -EINVAL,
				   "filter: the BPF program is not valid");
	copy = malloc(len);
	if (!copy)
		return pcv__seterr(h, -ENOMEM, "filter: out of memory");
	memcpy(copy, insns, len);
	h->kfilter = false;
	if (h->ops->set_filter) {
		rc = h->ops->set_filter(h, copy, (unsigned)n);
		if (rc < 0) {
			free(copy);
			return rc;
		}
	}
	free(h->ufilter);
	h->ufilter = copy;
	h->ufilter_len = (unsigned)n;
	return 0;
}

int pcv_get_stats(struct pcv_handle *h, struct pcv_stats *st)
{
	*st = h->st;
	return h->ops->stats ? h->ops->stats(h, st) : 0;
}

const char *pcv_get_error(const struct pcv_handle *h)
{
	return h->errbuf;
}

int pcv_get_linktype(const struct pcv_handle *h)
{
	return h->linktype;
}

uint32_t pcv_get_snaplen(const struct pcv_handle *h)
{
	return h->snaplen;
}

const char *pcv_get_backend(const struct pcv_handle *h)
{
	return h->ops->name;
}

bool pcv_filter_in_kernel(const struct pcv_handle *h, const char **why)
{
	if (why)
		*why = h->kfilter || !h->ufilter ? "" : h->kfilter_why;
	return h->ufilter && h->kfilter;
}

uint32_t pcv_get_capabilities(const struct pcv_handle *h)
{
	return h->ops->caps;
}

const char *pcv_version(void)
{
	return PCV_VERSION_STRING;
}

const char *pcv_platform_name(void)
{
#if defined(__linux__)
	return "linux";
#elif defined(__APPLE__)
	return "macos";
#elif defined(__FreeBSD__)
	return "freebsd";
#elif defined(__NetBSD__)
	return "netbsd";
#elif defined(__OpenBSD__)
	return "openbsd";
#else
	return "unknown";
#endif
}
