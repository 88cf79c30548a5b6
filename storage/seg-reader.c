// SPDX-License-Identifier: MIT
/*
 * seg-reader.c - reading segment files (pcv/segment.h), and recovering
 * one cut short by a crash.
 *
 * Open checks the two header frames, then learns the blocks: from the
 * seek table when the footer at the end of the file is whole and agrees
 * with it, else by walking the frames from the first block.  The walk
 * finds each zstd frame's length from its frame header and block headers
 * (read through a small window, so a frame of many small blocks costs few
 * reads), and takes a block only when the block record frame after it is
 * whole, checks out, and describes exactly that frame.  The first thing
 * that is not such a pair ends the walk: the bytes from there on are the
 * torn tail, unless they are exactly a complete seek table frame (a sealed
 * segment whose footer is damaged).
 *
 * Nothing read from the file is trusted: every size is capped (64 MiB per
 * block decompressed) and every offset checked against the file size
 * before it is used; a block is decompressed and checked whole (zstd's
 * frame checksum, our CRC-32C, every record in bounds) before the first
 * packet is delivered.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "pcv/segment.h"
#include "seg-format.h"
#include "storage-int.h"

#define NS_PER_SEC 1000000000ull
#define WINDOW (64u << 10) /* read-ahead of the frame walk */

struct pcv_seg_reader {
	int fd;
	char *path;
	uint64_t size;        /* of the file at open */
	int dlt;
	uint32_t snaplen;
	uint32_t block_size;  /* the writer's, from the header */
	uint8_t seg_id[16];
	uint64_t data_start;  /* first block frame */
	uint64_t data_end;    /* end of the last whole block record frame */
	uint64_t torn;
	bool sealed;

	struct pcv_seg_block *blocks;
	size_t nblocks, blocks_cap;

	ZSTD_DCtx *dctx;
	uint8_t *comp, *raw;
	size_t comp_cap, raw_cap;

	uint8_t *win;         /* WINDOW bytes of the file from win_off */
	uint64_t win_off;
	size_t win_len;
	char errbuf[PCV_ERRBUF_SIZE];
};

/* pread all of @len, or fewer only at the end of the file. */
static ssize_t read_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done,
				  (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/*
 * Point *p at @len (<= WINDOW) bytes of the file at @off.
 * Return: 1, 0 when the file ends first, or -errno.
 */
static int peek(struct pcv_seg_reader *r, uint64_t off, size_t len,
		const uint8_t **p)
{
	ssize_t n;

	if (off > r->size || len > r->size - off)
		return 0;
	if (off < r->win_off || off + len > r->win_off + r->win_len) {
		n = read_full(r->fd, r->win, WINDOW, off);
		if (n < 0)
			return (int)n;
		r->win_off = off;
		r->win_len = (size_t)n;
		if ((size_t)n < len)
			return 0;
	}
	*p = r->win + (off - r->win_off);
	return 1;
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *nb;

	if (need <= *cap)
		return 0;
	nb = realloc(*buf, need);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = need;
	return 0;
}

static int add_block(struct pcv_seg_reader *r, const struct pcv_seg_block *b)
{
	if (r->nblocks == r->blocks_cap) {
		size_t cap = r->blocks_cap ? r->blocks_cap * 2 : 64;
		void *nb = realloc(r->blocks, cap * sizeof(*r->blocks));

		if (!nb)
			return pcv__storage_err(r->errbuf, -ENOMEM,
						"%s: out of memory", r->path);
		r->blocks = nb;
		r->blocks_cap = cap;
	}
	r->blocks[r->nblocks++] = *b;
	return 0;
}

/*
 * Whether @b can be block number @seq starting at @off and ending (with
 * its record frame) no later than @limit.  Only sizes and order: the data
 * is checked when the block is read.
 */
static bool block_sane(const struct pcv_seg_block *b, uint64_t seq,
		       uint64_t off, uint64_t limit)
{
	return b->seq == seq && b->offset == off && b->comp_size > 0 &&
	       b->comp_size <= PCV__SEG_COMP_MAX &&
	       b->raw_size >= PCV__PCAP_REC_HDR &&
	       b->raw_size <= PCV__SEG_RAW_MAX && b->npkts > 0 &&
	       b->npkts <= b->raw_size / PCV__PCAP_REC_HDR &&
	       b->first_ns <= b->last_ns && off <= limit &&
	       (uint64_t)b->comp_size + PCV__SEG_BLK_FRAME <= limit - off;
}

/* ===== header ============================================================ */

static int read_header(struct pcv_seg_reader *r)
{
	uint8_t buf[PCV__SEG_HDRFRAME_MAX + PCV__SEG_HDR_FRAME];
	uint8_t pcap[PCV__PCAP_HDR];
	struct pcv__seg_hdr h;
	size_t fsz, n;
	ssize_t got;
	long dlt;

	got = read_full(r->fd, buf, sizeof(buf), 0);
	if (got < 0)
		return pcv__storage_err(r->errbuf, (int)got, "%s: read: %s",
					r->path, strerror((int)-got));
	n = (size_t)got;
	if (n < 4 || pcv__get_le32(buf) != PCV__ZSTD_MAGIC)
		return pcv__storage_err(r->errbuf, PCV_EFORMAT,
					"%s: not a segment (no zstd frame at the start)",
					r->path);
	fsz = ZSTD_findFrameCompressedSize(buf, n < PCV__SEG_HDRFRAME_MAX
							? n
							: PCV__SEG_HDRFRAME_MAX);
	if (ZSTD_isError(fsz))
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: the pcap header frame is cut short or damaged (%s)",
					r->path, ZSTD_getErrorName(fsz));
	if (ZSTD_getFrameContentSize(buf, fsz) != PCV__PCAP_HDR ||
	    ZSTD_decompressDCtx(r->dctx, pcap, sizeof(pcap), buf, fsz) !=
		    PCV__PCAP_HDR)
		return pcv__storage_err(r->errbuf, PCV_EFORMAT,
					"%s: not a segment (the first frame is not a pcap header)",
					r->path);
	if (pcv__get_le32(pcap) != PCV__PCAP_MAGIC_NS ||
	    pcv__get_le16(pcap + 4) != 2 || pcv__get_le16(pcap + 6) != 4)
		return pcv__storage_err(r->errbuf, PCV_EFORMAT,
					"%s: not a segment (not a little-endian nanosecond pcap 2.4 header)",
					r->path);
	if (n < fsz + PCV__SEG_HDR_FRAME)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: the segment header is cut short",
					r->path);
	if (pcv__get_le32(buf + fsz) != PCV__SEG_SKIP_MAGIC ||
	    pcv__get_le32(buf + fsz + 4) != PCV__SEG_HDR_SIZE ||
	    memcmp(buf + fsz + PCV__SEG_SKIP_HDR, PCV__SEG_TAG_HDR,
		   PCV__SEG_TAG_LEN) != 0)
		return pcv__storage_err(r->errbuf, PCV_EFORMAT,
					"%s: not a segment (no PCVSEG01 header after the pcap header)",
					r->path);
	if (!pcv__seg_hdr_decode(buf + fsz + PCV__SEG_SKIP_HDR, &h))
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: segment header checksum mismatch",
					r->path);
	if (h.version != PCV__SEG_VERSION)
		return pcv__storage_err(r->errbuf, PCV_EFORMAT,
					"%s: segment format version %u (this reader knows %u)",
					r->path, h.version, PCV__SEG_VERSION);
	dlt = pcv__seg_linktype_to_dlt(h.linktype);
	if (dlt < 0 || h.snaplen == 0 || h.snaplen > PCV__SEG_SNAPLEN_MAX)
		return pcv__storage_err(r->errbuf, PCV_EFORMAT,
					"%s: unsupported link type %u or snaplen %u",
					r->path, h.linktype, h.snaplen);
	if (pcv__get_le32(pcap + 16) != h.snaplen ||
	    pcv__get_le32(pcap + 20) != h.linktype)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: the pcap header and the segment header disagree",
					r->path);
	r->dlt = (int)dlt;
	r->snaplen = h.snaplen;
	r->block_size = h.block_size;
	memcpy(r->seg_id, h.seg_id, sizeof(r->seg_id));
	r->data_start = fsz + PCV__SEG_HDR_FRAME;
	return 0;
}

/* ===== seek table ======================================================== */

/*
 * Load the blocks from the seek table.  Return: 1 loaded, 0 no usable
 * table (the reason in r->errbuf; the caller walks), or -errno.
 */
static int load_table(struct pcv_seg_reader *r)
{
	uint8_t fb[PCV__SEG_FOOTER_SIZE];
	struct pcv__seg_footer f;
	uint64_t tlen, off;
	uint8_t *buf, *p;
	ssize_t got;
	int rc = 0;

	if (r->size < r->data_start + pcv__seg_table_frame(0))
		return 0;
	got = read_full(r->fd, fb, sizeof(fb), r->size - sizeof(fb));
	if (got < 0)
		return pcv__storage_err(r->errbuf, (int)got, "%s: read: %s",
					r->path, strerror((int)-got));
	if ((size_t)got != sizeof(fb) || !pcv__seg_footer_decode(fb, &f))
		return 0;
	if (f.version != PCV__SEG_VERSION ||
	    memcmp(f.seg_id, r->seg_id, sizeof(f.seg_id)) != 0 ||
	    f.table_offset < r->data_start || f.table_offset > r->size ||
	    /* each block takes its record frame and at least one byte */
	    f.nblocks > (f.table_offset - r->data_start) /
				(PCV__SEG_BLK_FRAME + 1) ||
	    pcv__seg_table_frame(f.nblocks) != r->size - f.table_offset) {
		pcv__storage_err(r->errbuf, 0,
				 "%s: footer does not match the file; walking the blocks",
				 r->path);
		return 0;
	}
	tlen = r->size - f.table_offset;
	buf = malloc(tlen);
	if (!buf)
		return pcv__storage_err(r->errbuf, -ENOMEM, "%s: out of memory",
					r->path);
	got = read_full(r->fd, buf, tlen, f.table_offset);
	if (got < 0) {
		rc = pcv__storage_err(r->errbuf, (int)got, "%s: read: %s",
				      r->path, strerror((int)-got));
		goto out;
	}
	if ((uint64_t)got != tlen ||
	    pcv__get_le32(buf) != PCV__SEG_SKIP_MAGIC ||
	    pcv__get_le32(buf + 4) != tlen - PCV__SEG_SKIP_HDR ||
	    memcmp(buf + PCV__SEG_SKIP_HDR, PCV__SEG_TAG_IDX,
		   PCV__SEG_TAG_LEN) != 0 ||
	    memcmp(buf + PCV__SEG_SKIP_HDR + PCV__SEG_TAG_LEN, r->seg_id,
		   sizeof(r->seg_id)) != 0 ||
	    pcv__crc32c(0, buf + PCV__SEG_SKIP_HDR,
			tlen - PCV__SEG_SKIP_HDR - PCV__SEG_FOOTER_SIZE) !=
		    f.table_crc) {
		pcv__storage_err(r->errbuf, 0,
				 "%s: seek table damaged; walking the blocks",
				 r->path);
		goto out;
	}
	p = buf + PCV__SEG_SKIP_HDR + PCV__SEG_IDX_HDR;
	off = r->data_start;
	for (uint32_t i = 0; i < f.nblocks; i++, p += PCV__SEG_ENTRY_SIZE) {
		struct pcv__seg_entry e;
		struct pcv_seg_block b;

		pcv__seg_entry_decode(p, &e);
		b = (struct pcv_seg_block){
			.offset = e.offset,
			.comp_size = e.comp_size,
			.raw_size = e.raw_size,
			.first_ns = e.first_ns,
			.last_ns = e.last_ns,
			.npkts = e.npkts,
			.crc32c = e.data_crc,
			.seq = e.seq,
		};
		if (!block_sane(&b, i, off, f.table_offset)) {
			pcv__storage_err(r->errbuf, 0,
					 "%s: seek table entry %u is impossible; walking the blocks",
					 r->path, i);
			r->nblocks = 0;
			goto out;
		}
		rc = add_block(r, &b);
		if (rc < 0)
			goto out;
		off += b.comp_size + PCV__SEG_BLK_FRAME;
	}
	if (off != f.table_offset) {
		pcv__storage_err(r->errbuf, 0,
				 "%s: seek table does not reach its own offset; walking the blocks",
				 r->path);
		r->nblocks = 0;
		goto out;
	}
	r->data_end = off;
	r->sealed = true;
	rc = 1;
out:
	free(buf);
	return rc;
}

/* ===== walking =========================================================== */

/*
 * Parse a zstd frame header (zstd_compression_format.md, "Frame_Header")
 * of at most FRAME_HDR_MAX bytes at @p (@n available).  Return: its
 * length with *content and *checksum set, or 0 when it is cut short, not
 * a zstd frame, or one we never write (a dictionary, no content size).
 */
#define FRAME_HDR_MAX 18

static size_t frame_header(const uint8_t *p, size_t n, uint64_t *content,
			   bool *checksum)
{
	static const uint8_t fcs_len[4] = { 0, 2, 4, 8 };
	unsigned fhd, fcs_flag, single, len;

	if (n < 5 || pcv__get_le32(p) != PCV__ZSTD_MAGIC)
		return 0;
	fhd = p[4];
	fcs_flag = fhd >> 6;
	single = (fhd >> 5) & 1;
	if (fhd & 0x08 || fhd & 0x03) /* reserved bit; dictionary id */
		return 0;
	if (fcs_flag == 0 && !single) /* content size not recorded */
		return 0;
	len = 5 + !single;
	if (n < len + (fcs_flag ? fcs_len[fcs_flag] : 1))
		return 0;
	switch (fcs_flag) {
	case 0:
		*content = p[len];
		len += 1;
		break;
	case 1:
		*content = pcv__get_le16(p + len) + 256u;
		len += 2;
		break;
	case 2:
		*content = pcv__get_le32(p + len);
		len += 4;
		break;
	default:
		*content = pcv__get_le64(p + len);
		len += 8;
		break;
	}
	*checksum = fhd & 0x04;
	return len;
}

/*
 * The length of the zstd frame at @off, from its frame header and block
 * headers: 1 with *len and *content set, 0 when it is not a whole frame
 * of ours, or -errno.
 */
static int frame_len(struct pcv_seg_reader *r, uint64_t off, uint64_t *len,
		     uint64_t *content)
{
	const uint8_t *p;
	uint64_t pos;
	size_t hn, hlen;
	bool checksum;
	int rc;

	hn = r->size - off < FRAME_HDR_MAX ? (size_t)(r->size - off)
					   : FRAME_HDR_MAX;
	rc = peek(r, off, hn, &p);
	if (rc <= 0)
		return rc;
	hlen = frame_header(p, hn, content, &checksum);
	if (!hlen || !checksum || *content > PCV__SEG_RAW_MAX)
		return 0;
	pos = off + hlen;
	for (;;) {
		uint32_t bh, type, bsize;

		rc = peek(r, pos, 3, &p);
		if (rc <= 0)
			return rc;
		bh = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
		type = (bh >> 1) & 3;
		bsize = bh >> 3;
		if (type == 3 || bsize > ZSTD_BLOCKSIZE_MAX)
			return 0;
		pos += 3 + (type == 1 ? 1 : bsize);
		if (pos > r->size || pos - off > PCV__SEG_COMP_MAX)
			return 0;
		if (bh & 1)
			break;
	}
	pos += 4; /* the content checksum */
	if (pos > r->size)
		return 0;
	*len = pos - off;
	return 1;
}

/* Whether the bytes at @off are exactly a complete seek table frame that
 * ends the file. */
static bool is_whole_table(struct pcv_seg_reader *r, uint64_t off)
{
	const uint8_t *p;
	uint64_t size;

	if (peek(r, off, PCV__SEG_SKIP_HDR + PCV__SEG_TAG_LEN, &p) <= 0 ||
	    pcv__get_le32(p) != PCV__SEG_SKIP_MAGIC ||
	    memcmp(p + PCV__SEG_SKIP_HDR, PCV__SEG_TAG_IDX, PCV__SEG_TAG_LEN))
		return false;
	size = pcv__get_le32(p + 4);
	return off + PCV__SEG_SKIP_HDR + size == r->size &&
	       size >= PCV__SEG_IDX_HDR + PCV__SEG_FOOTER_SIZE &&
	       (size - PCV__SEG_IDX_HDR - PCV__SEG_FOOTER_SIZE) %
			       PCV__SEG_ENTRY_SIZE == 0;
}

static int walk(struct pcv_seg_reader *r)
{
	uint64_t off = r->data_start;
	int rc;

	r->nblocks = 0;
	for (;;) {
		struct pcv_seg_block b;
		struct pcv__seg_blk k;
		uint64_t len, content;
		const uint8_t *p;

		rc = frame_len(r, off, &len, &content);
		if (rc < 0)
			goto ioerr;
		if (rc == 0)
			break;
		rc = peek(r, off + len, PCV__SEG_BLK_FRAME, &p);
		if (rc < 0)
			goto ioerr;
		if (rc == 0 || pcv__get_le32(p) != PCV__SEG_SKIP_MAGIC ||
		    pcv__get_le32(p + 4) != PCV__SEG_BLK_SIZE ||
		    !pcv__seg_blk_decode(p + PCV__SEG_SKIP_HDR, &k) ||
		    memcmp(k.seg_id, r->seg_id, sizeof(k.seg_id)) != 0 ||
		    k.comp_size != len || k.raw_size != content)
			break;
		b = (struct pcv_seg_block){
			.offset = k.offset,
			.comp_size = k.comp_size,
			.raw_size = k.raw_size,
			.first_ns = k.first_ns,
			.last_ns = k.last_ns,
			.npkts = k.npkts,
			.crc32c = k.data_crc,
			.seq = k.seq,
		};
		if (!block_sane(&b, r->nblocks, off, r->size))
			break;
		rc = add_block(r, &b);
		if (rc < 0)
			return rc;
		off += len + PCV__SEG_BLK_FRAME;
	}
	r->data_end = off;
	r->torn = off == r->size || is_whole_table(r, off) ? 0 : r->size - off;
	return 0;
ioerr:
	return pcv__storage_err(r->errbuf, rc, "%s: read: %s", r->path,
				strerror(-rc));
}

/* ===== API =============================================================== */

int pcv_seg_reader_open(struct pcv_seg_reader **rp, const char *path,
			char *errbuf)
{
	struct pcv_seg_reader *r;
	struct stat st;
	int rc;

	*rp = NULL;
	if (errbuf)
		errbuf[0] = '\0';
	r = calloc(1, sizeof(*r));
	if (!r)
		return pcv__storage_err(errbuf, -ENOMEM, "out of memory");
	r->fd = -1;
	r->path = strdup(path);
	r->win = malloc(WINDOW);
	r->dctx = ZSTD_createDCtx();
	if (!r->path || !r->win || !r->dctx) {
		rc = pcv__storage_err(r->errbuf, -ENOMEM, "%s: out of memory",
				      path);
		goto err;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0 || fstat(r->fd, &st) < 0) {
		rc = pcv__storage_err(r->errbuf, -errno, "%s: %s", path,
				      strerror(errno));
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = pcv__storage_err(r->errbuf, PCV_EFORMAT,
				      "%s: not a regular file", path);
		goto err;
	}
	r->size = (uint64_t)st.st_size;
	rc = read_header(r);
	if (rc < 0)
		goto err;
	rc = load_table(r);
	if (rc < 0)
		goto err;
	if (rc == 0) {
		rc = walk(r);
		if (rc < 0)
			goto err;
	}
	*rp = r;
	return 0;
err:
	if (errbuf)
		memcpy(errbuf, r->errbuf, PCV_ERRBUF_SIZE);
	pcv_seg_reader_close(r);
	return rc;
}

void pcv_seg_reader_close(struct pcv_seg_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	ZSTD_freeDCtx(r->dctx);
	free(r->blocks);
	free(r->comp);
	free(r->raw);
	free(r->win);
	free(r->path);
	free(r);
}

int pcv_seg_reader_linktype(const struct pcv_seg_reader *r)
{
	return r->dlt;
}

uint32_t pcv_seg_reader_snaplen(const struct pcv_seg_reader *r)
{
	return r->snaplen;
}

const struct pcv_seg_block *pcv_seg_reader_blocks(const struct pcv_seg_reader *r,
						  size_t *n)
{
	*n = r->nblocks;
	return r->blocks;
}

uint64_t pcv_seg_reader_torn(const struct pcv_seg_reader *r)
{
	return r->torn;
}

bool pcv_seg_reader_sealed(const struct pcv_seg_reader *r)
{
	return r->sealed;
}

const char *pcv_seg_reader_errmsg(const struct pcv_seg_reader *r)
{
	return r ? r->errbuf : "";
}

/* Check every record of the decompressed block @i before any is used. */
static int check_records(struct pcv_seg_reader *r, size_t i,
			 const struct pcv_seg_block *b)
{
	const uint8_t *raw = r->raw;
	uint32_t pos = 0, n = 0;

	while (pos < b->raw_size) {
		uint32_t nsec, caplen;
		uint64_t ts;

		if (b->raw_size - pos < PCV__PCAP_REC_HDR)
			return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
						"%s: block %zu: record header at byte %u runs past the block",
						r->path, i, pos);
		nsec = pcv__get_le32(raw + pos + 4);
		caplen = pcv__get_le32(raw + pos + 8);
		ts = pcv__get_le32(raw + pos) * NS_PER_SEC + nsec;
		if (caplen > b->raw_size - pos - PCV__PCAP_REC_HDR ||
		    caplen > r->snaplen || nsec >= NS_PER_SEC ||
		    ts < b->first_ns || ts > b->last_ns)
			return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
						"%s: block %zu: bad record at byte %u (caplen %u, ts %llu)",
						r->path, i, pos, caplen,
						(unsigned long long)ts);
		pos += PCV__PCAP_REC_HDR + caplen;
		n++;
	}
	if (n != b->npkts)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: block %zu: %u records, the metadata says %u",
					r->path, i, n, b->npkts);
	return 0;
}

int pcv_seg_reader_read_block(struct pcv_seg_reader *r, size_t i,
			      pcv_callback cb, void *user)
{
	const struct pcv_seg_block *b;
	ssize_t got;
	size_t n;
	uint32_t pos;
	int rc;

	if (i >= r->nblocks)
		return pcv__storage_err(r->errbuf, -EINVAL,
					"%s: no block %zu (%zu blocks)",
					r->path, i, r->nblocks);
	b = &r->blocks[i];
	if (grow(&r->comp, &r->comp_cap, b->comp_size) < 0 ||
	    grow(&r->raw, &r->raw_cap, b->raw_size) < 0)
		return pcv__storage_err(r->errbuf, -ENOMEM, "%s: out of memory",
					r->path);
	got = read_full(r->fd, r->comp, b->comp_size, b->offset);
	if (got < 0)
		return pcv__storage_err(r->errbuf, (int)got,
					"%s: block %zu: read: %s", r->path, i,
					strerror((int)-got));
	if ((size_t)got != b->comp_size)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: block %zu: the file ends inside it",
					r->path, i);
	n = ZSTD_findFrameCompressedSize(r->comp, b->comp_size);
	if (n != b->comp_size ||
	    ZSTD_getFrameContentSize(r->comp, b->comp_size) != b->raw_size)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: block %zu: the zstd frame at offset %llu does not match its metadata",
					r->path, i,
					(unsigned long long)b->offset);
	n = ZSTD_decompressDCtx(r->dctx, r->raw, b->raw_size, r->comp,
				b->comp_size);
	if (ZSTD_isError(n) || n != b->raw_size)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: block %zu: %s", r->path, i,
					ZSTD_isError(n) ? ZSTD_getErrorName(n)
							: "short frame");
	if (pcv__crc32c(0, r->raw, b->raw_size) != b->crc32c)
		return pcv__storage_err(r->errbuf, PCV_ECORRUPT,
					"%s: block %zu: checksum mismatch",
					r->path, i);
	rc = check_records(r, i, b);
	if (rc < 0)
		return rc;
	for (pos = 0; pos < b->raw_size;) {
		const uint8_t *rec = r->raw + pos;
		struct pcv_packet p = {
			.data = rec + PCV__PCAP_REC_HDR,
			.caplen = pcv__get_le32(rec + 8),
			.len = pcv__get_le32(rec + 12),
			.ts_ns = pcv__get_le32(rec) * NS_PER_SEC +
				 pcv__get_le32(rec + 4),
		};

		cb(&p, user);
		pos += PCV__PCAP_REC_HDR + p.caplen;
	}
	return (int)b->npkts;
}

/* ===== recovery ========================================================== */

int64_t pcv_seg_recover(const char *path, char *errbuf)
{
	struct pcv_seg_reader *r;
	uint64_t torn, end, limit;
	uint32_t biggest;
	int rc, fd;

	rc = pcv_seg_reader_open(&r, path, errbuf);
	if (rc < 0)
		return rc;
	torn = r->torn;
	end = r->data_end;
	/*
	 * A crash tears at most the last write: one block with its record,
	 * or the seek table.  More than that after the last whole block is
	 * damage in the middle of the file; cutting it would lose blocks.
	 */
	biggest = PCV__SEG_RAW_MAX;
	if (r->block_size < PCV__SEG_RAW_MAX - PCV__PCAP_REC_HDR - r->snaplen)
		biggest = r->block_size + PCV__PCAP_REC_HDR + r->snaplen;
	limit = ZSTD_compressBound(biggest) + PCV__SEG_BLK_FRAME;
	if (limit < pcv__seg_table_frame(r->nblocks))
		limit = pcv__seg_table_frame(r->nblocks);
	pcv_seg_reader_close(r);
	if (torn == 0)
		return 0;
	if (torn > limit)
		return pcv__storage_err(errbuf, PCV_ECORRUPT,
					"%s: %llu bytes after offset %llu do not parse and are more than one write: damage, not a torn tail; not truncating",
					path, (unsigned long long)torn,
					(unsigned long long)end);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return pcv__storage_err(errbuf, -errno, "%s: %s", path,
					strerror(errno));
	if (ftruncate(fd, (off_t)end) < 0 || fsync(fd) < 0) {
		rc = -errno;
		close(fd);
		return pcv__storage_err(errbuf, rc, "%s: truncating to %llu: %s",
					path, (unsigned long long)end,
					strerror(-rc));
	}
	if (close(fd) < 0)
		return pcv__storage_err(errbuf, -errno, "%s: close: %s", path,
					strerror(errno));
	return (int64_t)torn;
}
