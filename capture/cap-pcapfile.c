// SPDX-License-Identifier: MIT
/*
 * cap-pcapfile.c - capture backend reading pcap and pcapng files.
 *
 * libpcap does the parsing: classic pcap in both byte orders with µs or ns
 * timestamps, and pcapng with several interfaces and any timestamp
 * resolution, all converted to nanoseconds on the way in.  libpcap hands
 * out one packet at a time in a buffer it reuses, so a batch is built by
 * copying packets into an arena owned by the handle.
 *
 * One case is read directly: a regular file in classic pcap 2.4 of this
 * host's byte order whose link type libpcap hands over untouched (Ethernet,
 * raw IP).  libpcap still checks its header; the records are then read
 * with large pread()s into a window and delivered in place, without a
 * further copy, under the rules libpcap's reader applies to each record
 * (pcap_next_rec says which), so both paths deliver the same packets and
 * fail at the same record.  That is what imports spend most of their
 * reading time on.  (Not a mapping: a file truncated while we read it
 * would raise SIGBUS; here it is a short read, reported like libpcap's.)
 *
 * A damaged or truncated file delivers every packet before the damage,
 * then fails with PCV_ECORRUPT and a message naming the file and the byte
 * offset of the record that could not be read.
 */
#include <errno.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture-int.h"

#define ARENA_MIN (4u << 20)
#define PCAP_FILE_HDR 24
#define PCAP_REC_HDR 16
#define PCAP_MAX_SNAPLEN 262144u /* libpcap's for the direct link types */
#define PCAP_MAX_REC (PCAP_REC_HDR + PCAP_MAX_SNAPLEN)
#define WINDOW_SIZE (4u << 20)    /* >= PCAP_MAX_REC, many times over */

struct pcapfile {
	struct pcv_handle h; /* first: the core's part */
	pcap_t *pcap;
	uint8_t *arena;
	size_t arena_size;
	uint64_t npkts_read; /* records read so far */
	long next_off;       /* file offset of the next record, -1 unknown */
	int deferred_err;    /* an error to report after the last batch */
	bool usec;           /* tv_usec holds microseconds, not nanoseconds */
	bool pending;        /* last record read did not fit the arena */
	struct pcap_pkthdr *pend_hdr;
	const u_char *pend_data;

	/* direct reading: win[0..win_len) holds the file from win_pos on;
	 * the next record is at win[win_off] */
	uint8_t *win;
	uint64_t win_pos;
	size_t win_len, win_off;
	bool win_eof;          /* win_len reaches the end of the file */
	uint32_t file_snaplen; /* records longer are cut to it, as libpcap */
};

/* Under "auto", an existing file that is not also the name of a network
 * interface: "eth0" is the interface even when a file of that name sits in
 * the current directory ("./eth0" or "pcapfile:eth0" is the file). */
static bool pcapfile_claims(const char *source)
{
	struct stat st;

	if (strcmp(source, "-") == 0)
		return true;
	return stat(source, &st) == 0 && !S_ISDIR(st.st_mode) &&
	       !S_ISCHR(st.st_mode) && if_nametoindex(source) == 0;
}

/*
 * Whether @fp starts a classic microsecond pcap file; rewinds it.  Such a
 * file is read at microsecond precision and scaled here in 64 bits:
 * libpcap's own scaling to nanoseconds is 32-bit, and wraps on the
 * out-of-range microsecond fields damaged files have, so the timestamp
 * tcpdump -r writes back could not be recovered.  A pipe cannot be
 * rewound; it is read at nanosecond precision.
 */
static bool is_usec_pcap(FILE *fp)
{
	uint8_t m[4];
	bool usec;

	if (fread(m, 1, 4, fp) != 4) {
		rewind(fp);
		return false;
	}
	usec = (m[0] == 0xa1 && m[1] == 0xb2 && m[2] == 0xc3 && m[3] == 0xd4) ||
	       (m[0] == 0xd4 && m[1] == 0xc3 && m[2] == 0xb2 && m[3] == 0xa1);
	rewind(fp);
	return usec;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4); /* host order: only such files are read here */
	return v;
}

/*
 * Read the file directly when libpcap would hand its records over
 * unchanged: classic pcap 2.4, host byte order, µs or ns, a link type
 * without pseudo-header fix-ups.  Otherwise the records are read through
 * libpcap.
 */
static void setup_direct(struct pcapfile *pf, FILE *fp)
{
	int dlt = pcap_datalink(pf->pcap);
	uint8_t hdr[PCAP_FILE_HDR];
	struct stat st;

	if (pf->next_off != PCAP_FILE_HDR ||
	    (dlt != DLT_EN10MB && dlt != DLT_RAW && dlt != DLT_IPV4 &&
	     dlt != DLT_IPV6) ||
	    fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode) ||
	    pread(fileno(fp), hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return;
	/* before version 2.4, libpcap swaps caplen and len (always, or when
	 * caplen > len): those files stay with it */
	if ((get32(hdr) != 0xa1b2c3d4u && get32(hdr) != 0xa1b23c4du) ||
	    pcap_major_version(pf->pcap) != 2 ||
	    pcap_minor_version(pf->pcap) < 4 ||
	    (uint32_t)pcap_snapshot(pf->pcap) > PCAP_MAX_SNAPLEN)
		return;
	pf->win = malloc(WINDOW_SIZE);
	if (!pf->win)
		return; /* libpcap can still read it */
	pf->win_pos = PCAP_FILE_HDR;
	pf->file_snaplen = (uint32_t)pcap_snapshot(pf->pcap);
}

/*
 * Keep at least one whole record of the largest size in the window, or
 * everything up to the end of the file: move what is left to the front
 * and read after it.  Only between batches: packets point into it.
 */
static int refill(struct pcapfile *pf)
{
	int fd = fileno(pcap_file(pf->pcap));

	if (pf->win_eof || pf->win_len - pf->win_off >= PCAP_MAX_REC)
		return 0;
	memmove(pf->win, pf->win + pf->win_off, pf->win_len - pf->win_off);
	pf->win_pos += pf->win_off;
	pf->win_len -= pf->win_off;
	pf->win_off = 0;
	while (pf->win_len < WINDOW_SIZE) {
		ssize_t n = pread(fd, pf->win + pf->win_len,
				  WINDOW_SIZE - pf->win_len,
				  (off_t)(pf->win_pos + pf->win_len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return pcv__seterrno(&pf->h, -errno, "%s: read",
					     pf->h.source);
		if (n == 0) {
			pf->win_eof = true;
			break;
		}
		pf->win_len += (size_t)n;
	}
	return 0;
}

static int pcapfile_activate(struct pcv_handle *h)
{
	struct pcapfile *pf = (struct pcapfile *)h;
	char errbuf[PCAP_ERRBUF_SIZE];
	FILE *fp;

	fp = strcmp(h->source, "-") == 0 ? stdin : fopen(h->source, "rb");
	if (!fp)
		return pcv__seterrno(h, -errno, "%s", h->source);
	/* libpcap reads each record with two fread()s: a large stdio buffer
	 * makes that memcpy instead of a read(2) every 4 KiB */
	setvbuf(fp, NULL, _IOFBF, 1u << 20);
	pf->usec = fseek(fp, 0, SEEK_CUR) == 0 && is_usec_pcap(fp);
	pf->pcap = pcap_fopen_offline_with_tstamp_precision(
		fp, pf->usec ? PCAP_TSTAMP_PRECISION_MICRO
			     : PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!pf->pcap) {
		if (fp != stdin)
			fclose(fp);
		return pcv__seterr(h, PCV_EFORMAT,
				   "%s: not a readable capture file: %s",
				   h->source, errbuf);
	}
	h->linktype = pcap_datalink(pf->pcap);
	/* libpcap already cuts records to the file header's snaplen; the
	 * config may cut them further. */
	h->snaplen = h->cfg.snaplen;
	pf->arena_size = ARENA_MIN > 2u * h->snaplen ? ARENA_MIN
						      : 2u * h->snaplen;
	pf->arena = malloc(pf->arena_size);
	if (!pf->arena)
		return pcv__seterr(h, -ENOMEM, "%s: out of memory", h->source);
	pf->next_off = ftell(fp);
	if (fp != stdin)
		setup_direct(pf, fp);
	return 0;
}

static void describe_offset(struct pcapfile *pf, char *buf, size_t len)
{
	if (pf->next_off >= 0)
		snprintf(buf, len, "offset %ld", pf->next_off);
	else
		snprintf(buf, len, "the record after packet %llu",
			 (unsigned long long)pf->npkts_read);
}

/*
 * tv_usec holds micro- or nanoseconds, as the file was opened.  Both
 * fields are unsigned 32-bit on disk, but libpcap 1.10 hands them over
 * signed: seconds after January 2038 arrive negative, so do damaged
 * sub-second fields; no capture file holds times before 1970, so a
 * negative value is always that wrap.
 */
static uint64_t ts_ns_of(const struct timeval *tv, bool usec)
{
	uint64_t sec = tv->tv_sec < 0 ? (uint32_t)tv->tv_sec
				      : (uint64_t)tv->tv_sec;
	uint64_t frac = tv->tv_usec < 0 ? (uint32_t)tv->tv_usec
					: (uint64_t)tv->tv_usec;

	return sec * 1000000000u + (usec ? frac * 1000u : frac);
}

/* Copy one record into the arena as batch entry @i.  Return: false when
 * the arena has no room left for it. */
static bool take(struct pcapfile *pf, size_t *used, uint32_t i,
		 const struct pcap_pkthdr *hdr, const u_char *data)
{
	struct pcv_handle *h = &pf->h;
	uint32_t caplen = hdr->caplen < h->snaplen ? hdr->caplen : h->snaplen;

	if (*used + caplen > pf->arena_size)
		return false;
	memcpy(pf->arena + *used, data, caplen);
	h->pkts[i] = (struct pcv_packet){
		.data = pf->arena + *used,
		.caplen = caplen,
		.len = hdr->len,
		.ts_ns = ts_ns_of(&hdr->ts, pf->usec),
	};
	*used += caplen;
	return true;
}

/*
 * The next record in the window, as libpcap's pcap_next_packet() reads
 * it: end of file between records is the end; a partial header, a
 * captured length over the link type's maximum (262144 here) or a record
 * cut short is damage, with libpcap's words; a captured length over the
 * file's snaplen is cut to it.  A record that goes on past the window
 * (not the file) waits for the next refill.
 * Return: 1 (a record in *p), 0 (the end), 2 (refill first) or -1
 * (damage, described in @err).
 */
static int pcap_next_rec(struct pcapfile *pf, struct pcv_packet *p,
			 char *err, size_t errlen)
{
	size_t left = pf->win_len - pf->win_off;
	const uint8_t *r = pf->win + pf->win_off;
	uint32_t caplen, keep, frac;

	/* refill() keeps PCAP_MAX_REC bytes here unless at the end, so a
	 * batch always starts with a whole record or the truth about it */
	if (!pf->win_eof &&
	    (left < PCAP_REC_HDR ||
	     (get32(r + 8) <= PCAP_MAX_SNAPLEN &&
	      left - PCAP_REC_HDR < get32(r + 8))))
		return 2;
	if (left == 0)
		return 0;
	if (left < PCAP_REC_HDR) {
		snprintf(err, errlen, "truncated dump file; tried to read %d "
			 "header bytes, only got %zu", PCAP_REC_HDR, left);
		return -1;
	}
	caplen = get32(r + 8);
	if (caplen > PCAP_MAX_SNAPLEN) {
		if (caplen > pf->file_snaplen)
			snprintf(err, errlen, "invalid packet capture length "
				 "%u, bigger than snaplen of %u", caplen,
				 pf->file_snaplen);
		else
			snprintf(err, errlen, "invalid packet capture length "
				 "%u, bigger than maximum of %u", caplen,
				 PCAP_MAX_SNAPLEN);
		return -1;
	}
	keep = caplen < pf->file_snaplen ? caplen : pf->file_snaplen;
	if (left - PCAP_REC_HDR < keep) {
		snprintf(err, errlen, "truncated dump file; tried to read %u "
			 "captured bytes, only got %zu", keep,
			 left - PCAP_REC_HDR);
		return -1;
	}
	if (left - PCAP_REC_HDR < caplen) {
		/* the part past the snaplen is skipped, and must be there */
		snprintf(err, errlen, "truncated dump file; tried to read %u "
			 "captured bytes, only got %zu", caplen,
			 left - PCAP_REC_HDR);
		return -1;
	}
	frac = get32(r + 4);
	p->data = r + PCAP_REC_HDR;
	p->caplen = keep < pf->h.snaplen ? keep : pf->h.snaplen;
	p->len = get32(r + 12);
	p->ts_ns = (uint64_t)get32(r) * 1000000000u +
		   (pf->usec ? (uint64_t)frac * 1000u : frac);
	pf->win_off += PCAP_REC_HDR + caplen;
	return 1;
}

static int direct_next_batch(struct pcapfile *pf)
{
	struct pcv_handle *h = &pf->h;
	uint32_t n = 0;
	char err[160];
	int rc = refill(pf);

	if (rc < 0) {
		h->eof = true;
		return rc;
	}
	while (n < h->cfg.batch_size) {
		uint64_t off = pf->win_pos + pf->win_off;

		rc = pcap_next_rec(pf, &h->pkts[n], err, sizeof(err));
		if (rc == 2)
			break; /* the window holds more than one record */
		if (rc == 0) {
			h->eof = true;
			break;
		}
		if (rc < 0) {
			pf->deferred_err = pcv__seterr(
				h, PCV_ECORRUPT,
				"%s: unreadable record at offset %llu, after %llu packets: %s",
				h->source, (unsigned long long)off,
				(unsigned long long)pf->npkts_read, err);
			if (n)
				return (int)n;
			h->eof = true;
			return pf->deferred_err;
		}
		pf->npkts_read++;
		n++;
	}
	return (int)n;
}

static int pcapfile_next_batch(struct pcv_handle *h, int timeout_ms)
{
	struct pcapfile *pf = (struct pcapfile *)h;
	FILE *fp = pcap_file(pf->pcap);
	size_t used = 0;
	uint32_t n = 0;
	char where[64];

	(void)timeout_ms;
	if (pf->deferred_err) {
		h->eof = true;
		return pf->deferred_err;
	}
	if (pf->win)
		return direct_next_batch(pf);
	if (pf->pending) {
		/* libpcap's buffer still holds it: nothing was read since. */
		take(pf, &used, n++, pf->pend_hdr, pf->pend_data);
		pf->pending = false;
	}
	while (n < h->cfg.batch_size) {
		struct pcap_pkthdr *hdr;
		const u_char *data;
		int rc = pcap_next_ex(pf->pcap, &hdr, &data);

		if (rc == PCAP_ERROR_BREAK) {
			h->eof = true;
			break;
		}
		if (rc != 1) {
			describe_offset(pf, where, sizeof(where));
			pf->deferred_err = pcv__seterr(
				h, PCV_ECORRUPT,
				"%s: unreadable record at %s, after %llu packets: %s",
				h->source, where,
				(unsigned long long)pf->npkts_read,
				pcap_geterr(pf->pcap));
			if (n) /* deliver what came before; fail next time */
				return (int)n;
			h->eof = true;
			return pf->deferred_err;
		}
		pf->npkts_read++;
		pf->next_off = pf->next_off >= 0 ? ftell(fp) : -1;
		if (!take(pf, &used, n, hdr, data)) {
			pf->pending = true;
			pf->pend_hdr = hdr;
			pf->pend_data = data;
			break;
		}
		n++;
	}
	return (int)n;
}

static void pcapfile_cleanup(struct pcv_handle *h)
{
	struct pcapfile *pf = (struct pcapfile *)h;

	free(pf->win);
	if (pf->pcap)
		pcap_close(pf->pcap);
	free(pf->arena);
}

const struct pcv_backend_ops pcv__pcapfile_ops = {
	.name = "pcapfile",
	.obj_size = sizeof(struct pcapfile),
	.claims = pcapfile_claims,
	.activate = pcapfile_activate,
	.next_batch = pcapfile_next_batch,
	.cleanup = pcapfile_cleanup,
	.caps = PCV_CAP_NANO_TS,
};
