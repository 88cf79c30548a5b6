/* SPDX-License-Identifier: MIT */
/*
 * seg-format.h - the on-disk layout of a segment file, version 1, as the
 * writer and the reader share it: frame magics, record layouts with their
 * byte offsets (each checked by _Static_assert), the encoders and decoders,
 * the limits a reader enforces, and the DLT_ <-> LINKTYPE_ table.
 * docs/segment-format.md is the specification; this file must agree.
 *
 * The structs below describe the bytes: field order, widths and offsets.
 * They are never copied to or from disk as a whole; the encoders put each
 * field little-endian at its offsetof(), so the layout holds on any host.
 */
#ifndef PCV_SEG_FORMAT_H
#define PCV_SEG_FORMAT_H

#include <pcap/dlt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zstd.h>

#include "storage-int.h"

#define PCV__SEG_VERSION 1

/* zstd's skippable frames are 0x184D2A50..0x184D2A5F; we use one value
 * for all ours (not 0x184D2A5E, which zstd's seekable format uses) and
 * tell them apart by the 8-byte tag that starts the content. */
#define PCV__SEG_SKIP_MAGIC 0x184D2A5Cu
#define PCV__SEG_SKIP_HDR 8 /* magic, content size: both u32 LE */
#define PCV__ZSTD_MAGIC 0xFD2FB528u

#define PCV__SEG_TAG_HDR "PCVSEG01"
#define PCV__SEG_TAG_BLK "PCVBLK01"
#define PCV__SEG_TAG_IDX "PCVIDX01"
#define PCV__SEG_TAG_END "PCVEND01"
#define PCV__SEG_TAG_LEN 8

/* pcap: the global header and record header inside the zstd frames */
#define PCV__PCAP_MAGIC_NS 0xa1b23c4du
#define PCV__PCAP_HDR 24
#define PCV__PCAP_REC_HDR 16

/* Limits: what the writer never exceeds and a reader never trusts past. */
#define PCV__SEG_RAW_MAX (64u << 20) /* decompressed bytes of one block */
#define PCV__SEG_COMP_MAX ZSTD_COMPRESSBOUND(PCV__SEG_RAW_MAX)
#define PCV__SEG_SNAPLEN_MAX 262144u
#define PCV__SEG_HDRFRAME_MAX 256 /* the pcap header frame, compressed */

/* The segment header: content of the skippable frame that follows the
 * pcap header frame. */
struct pcv__seg_hdr {
	char tag[8];          /*  0 "PCVSEG01" */
	uint16_t version;     /*  8 PCV__SEG_VERSION */
	uint16_t reserved0;   /* 10 0 */
	uint32_t linktype;    /* 12 LINKTYPE_ value, as in the pcap header */
	uint32_t snaplen;     /* 16 as in the pcap header */
	uint32_t block_size;  /* 20 the writer's block size (informative) */
	uint64_t created_ns;  /* 24 creation time, ns since the epoch, UTC */
	uint8_t seg_id[16];   /* 32 random; repeated in every block record */
	int32_t level;        /* 48 zstd level (informative) */
	uint32_t reserved1;   /* 52 0 */
	uint32_t reserved2;   /* 56 0 */
	uint32_t crc;         /* 60 CRC-32C of bytes 0..59 */
};
#define PCV__SEG_HDR_SIZE 64
#define PCV__SEG_HDR_FRAME (PCV__SEG_SKIP_HDR + PCV__SEG_HDR_SIZE)
_Static_assert(sizeof(struct pcv__seg_hdr) == PCV__SEG_HDR_SIZE, "hdr");
_Static_assert(offsetof(struct pcv__seg_hdr, created_ns) == 24, "hdr");
_Static_assert(offsetof(struct pcv__seg_hdr, level) == 48, "hdr");
_Static_assert(offsetof(struct pcv__seg_hdr, crc) == 60, "hdr");

/* The block record: content of the skippable frame after each block. */
struct pcv__seg_blk {
	char tag[8];          /*  0 "PCVBLK01" */
	uint8_t seg_id[16];   /*  8 the segment header's */
	uint64_t offset;      /* 24 file offset of the block's zstd frame */
	uint32_t comp_size;   /* 32 bytes of that frame */
	uint32_t raw_size;    /* 36 its decompressed bytes */
	uint64_t first_ns;    /* 40 smallest timestamp in the block */
	uint64_t last_ns;     /* 48 largest */
	uint32_t npkts;       /* 56 records in the block, >= 1 */
	uint32_t data_crc;    /* 60 CRC-32C of the decompressed bytes */
	uint64_t seq;         /* 64 block number, from 0 */
	uint32_t reserved;    /* 72 0 */
	uint32_t crc;         /* 76 CRC-32C of bytes 0..75 */
};
#define PCV__SEG_BLK_SIZE 80
#define PCV__SEG_BLK_FRAME (PCV__SEG_SKIP_HDR + PCV__SEG_BLK_SIZE)
_Static_assert(sizeof(struct pcv__seg_blk) == PCV__SEG_BLK_SIZE, "blk");
_Static_assert(offsetof(struct pcv__seg_blk, offset) == 24, "blk");
_Static_assert(offsetof(struct pcv__seg_blk, seq) == 64, "blk");
_Static_assert(offsetof(struct pcv__seg_blk, crc) == 76, "blk");

/* A seek table entry: the block record's fields, without tag, segment id
 * and record CRC (the table has one CRC for all). */
struct pcv__seg_entry {
	uint64_t offset;      /*  0 */
	uint32_t comp_size;   /*  8 */
	uint32_t raw_size;    /* 12 */
	uint64_t first_ns;    /* 16 */
	uint64_t last_ns;     /* 24 */
	uint32_t npkts;       /* 32 */
	uint32_t data_crc;    /* 36 */
	uint64_t seq;         /* 40 */
};
#define PCV__SEG_ENTRY_SIZE 48
_Static_assert(sizeof(struct pcv__seg_entry) == PCV__SEG_ENTRY_SIZE, "ent");
_Static_assert(offsetof(struct pcv__seg_entry, seq) == 40, "ent");

/* The seek table frame's content starts with the tag and segment id. */
#define PCV__SEG_IDX_HDR 24

/* The footer: the last 48 bytes of the seek table frame, so of the file. */
struct pcv__seg_footer {
	uint64_t table_offset; /*  0 file offset of the seek table frame */
	uint32_t nblocks;      /*  8 entries in the table */
	uint32_t table_crc;    /* 12 CRC-32C of the table content before
				*    the footer: tag, segment id, entries */
	uint8_t seg_id[16];    /* 16 */
	uint16_t version;      /* 32 PCV__SEG_VERSION */
	uint16_t reserved;     /* 34 0 */
	uint32_t crc;          /* 36 CRC-32C of bytes 0..35 */
	char tag[8];           /* 40 "PCVEND01" */
};
#define PCV__SEG_FOOTER_SIZE 48
_Static_assert(sizeof(struct pcv__seg_footer) == PCV__SEG_FOOTER_SIZE, "ftr");
_Static_assert(offsetof(struct pcv__seg_footer, seg_id) == 16, "ftr");
_Static_assert(offsetof(struct pcv__seg_footer, crc) == 36, "ftr");
_Static_assert(offsetof(struct pcv__seg_footer, tag) == 40, "ftr");

/* Bytes of a seek table frame with @n entries, skippable header included. */
static inline uint64_t pcv__seg_table_frame(uint64_t n)
{
	return PCV__SEG_SKIP_HDR + PCV__SEG_IDX_HDR + n * PCV__SEG_ENTRY_SIZE +
	       PCV__SEG_FOOTER_SIZE;
}

/* Field @f of struct *@s, little-endian at its offset in buffer @b. */
#define PCV__AT(b, s, f) ((b) + offsetof(typeof(*(s)), f))
#define PCV__PUT16(b, s, f) pcv__put_le16(PCV__AT(b, s, f), (s)->f)
#define PCV__PUT32(b, s, f) pcv__put_le32(PCV__AT(b, s, f), (s)->f)
#define PCV__PUT64(b, s, f) pcv__put_le64(PCV__AT(b, s, f), (s)->f)
#define PCV__GET16(b, s, f) ((s)->f = pcv__get_le16(PCV__AT(b, s, f)))
#define PCV__GET32(b, s, f) ((s)->f = pcv__get_le32(PCV__AT(b, s, f)))
#define PCV__GET64(b, s, f) ((s)->f = pcv__get_le64(PCV__AT(b, s, f)))
#define PCV__PUTB(b, s, f) memcpy(PCV__AT(b, s, f), (s)->f, sizeof((s)->f))
#define PCV__GETB(b, s, f) memcpy((s)->f, PCV__AT(b, s, f), sizeof((s)->f))

/* A skippable frame header: our magic and the content size. */
static inline void pcv__seg_put_skip(uint8_t *b, uint32_t size)
{
	pcv__put_le32(b, PCV__SEG_SKIP_MAGIC);
	pcv__put_le32(b + 4, size);
}

/* Encode @h (crc computed here) into PCV__SEG_HDR_SIZE bytes at @b. */
static inline void pcv__seg_hdr_encode(uint8_t *b, struct pcv__seg_hdr *h)
{
	memset(b, 0, PCV__SEG_HDR_SIZE);
	memcpy(b, PCV__SEG_TAG_HDR, PCV__SEG_TAG_LEN);
	PCV__PUT16(b, h, version);
	PCV__PUT32(b, h, linktype);
	PCV__PUT32(b, h, snaplen);
	PCV__PUT32(b, h, block_size);
	PCV__PUT64(b, h, created_ns);
	PCV__PUTB(b, h, seg_id);
	pcv__put_le32(PCV__AT(b, h, level), (uint32_t)h->level);
	h->crc = pcv__crc32c(0, b, offsetof(struct pcv__seg_hdr, crc));
	PCV__PUT32(b, h, crc);
}

/* Decode; false if the tag or the CRC is wrong. */
static inline bool pcv__seg_hdr_decode(const uint8_t *b, struct pcv__seg_hdr *h)
{
	memset(h, 0, sizeof(*h));
	PCV__GETB(b, h, tag);
	PCV__GET16(b, h, version);
	PCV__GET32(b, h, linktype);
	PCV__GET32(b, h, snaplen);
	PCV__GET32(b, h, block_size);
	PCV__GET64(b, h, created_ns);
	PCV__GETB(b, h, seg_id);
	h->level = (int32_t)pcv__get_le32(PCV__AT(b, h, level));
	PCV__GET32(b, h, crc);
	return memcmp(h->tag, PCV__SEG_TAG_HDR, PCV__SEG_TAG_LEN) == 0 &&
	       h->crc == pcv__crc32c(0, b, offsetof(struct pcv__seg_hdr, crc));
}

static inline void pcv__seg_blk_encode(uint8_t *b, struct pcv__seg_blk *k)
{
	memset(b, 0, PCV__SEG_BLK_SIZE);
	memcpy(b, PCV__SEG_TAG_BLK, PCV__SEG_TAG_LEN);
	PCV__PUTB(b, k, seg_id);
	PCV__PUT64(b, k, offset);
	PCV__PUT32(b, k, comp_size);
	PCV__PUT32(b, k, raw_size);
	PCV__PUT64(b, k, first_ns);
	PCV__PUT64(b, k, last_ns);
	PCV__PUT32(b, k, npkts);
	PCV__PUT32(b, k, data_crc);
	PCV__PUT64(b, k, seq);
	k->crc = pcv__crc32c(0, b, offsetof(struct pcv__seg_blk, crc));
	PCV__PUT32(b, k, crc);
}

static inline bool pcv__seg_blk_decode(const uint8_t *b, struct pcv__seg_blk *k)
{
	memset(k, 0, sizeof(*k));
	PCV__GETB(b, k, tag);
	PCV__GETB(b, k, seg_id);
	PCV__GET64(b, k, offset);
	PCV__GET32(b, k, comp_size);
	PCV__GET32(b, k, raw_size);
	PCV__GET64(b, k, first_ns);
	PCV__GET64(b, k, last_ns);
	PCV__GET32(b, k, npkts);
	PCV__GET32(b, k, data_crc);
	PCV__GET64(b, k, seq);
	PCV__GET32(b, k, crc);
	return memcmp(k->tag, PCV__SEG_TAG_BLK, PCV__SEG_TAG_LEN) == 0 &&
	       k->crc == pcv__crc32c(0, b, offsetof(struct pcv__seg_blk, crc));
}

static inline void pcv__seg_entry_encode(uint8_t *b,
					 const struct pcv__seg_entry *e)
{
	PCV__PUT64(b, e, offset);
	PCV__PUT32(b, e, comp_size);
	PCV__PUT32(b, e, raw_size);
	PCV__PUT64(b, e, first_ns);
	PCV__PUT64(b, e, last_ns);
	PCV__PUT32(b, e, npkts);
	PCV__PUT32(b, e, data_crc);
	PCV__PUT64(b, e, seq);
}

static inline void pcv__seg_entry_decode(const uint8_t *b,
					 struct pcv__seg_entry *e)
{
	PCV__GET64(b, e, offset);
	PCV__GET32(b, e, comp_size);
	PCV__GET32(b, e, raw_size);
	PCV__GET64(b, e, first_ns);
	PCV__GET64(b, e, last_ns);
	PCV__GET32(b, e, npkts);
	PCV__GET32(b, e, data_crc);
	PCV__GET64(b, e, seq);
}

static inline void pcv__seg_footer_encode(uint8_t *b, struct pcv__seg_footer *f)
{
	memset(b, 0, PCV__SEG_FOOTER_SIZE);
	PCV__PUT64(b, f, table_offset);
	PCV__PUT32(b, f, nblocks);
	PCV__PUT32(b, f, table_crc);
	PCV__PUTB(b, f, seg_id);
	PCV__PUT16(b, f, version);
	f->crc = pcv__crc32c(0, b, offsetof(struct pcv__seg_footer, crc));
	PCV__PUT32(b, f, crc);
	memcpy(b + offsetof(struct pcv__seg_footer, tag), PCV__SEG_TAG_END,
	       PCV__SEG_TAG_LEN);
}

static inline bool pcv__seg_footer_decode(const uint8_t *b,
					  struct pcv__seg_footer *f)
{
	memset(f, 0, sizeof(*f));
	PCV__GET64(b, f, table_offset);
	PCV__GET32(b, f, nblocks);
	PCV__GET32(b, f, table_crc);
	PCV__GETB(b, f, seg_id);
	PCV__GET16(b, f, version);
	PCV__GET32(b, f, crc);
	PCV__GETB(b, f, tag);
	return memcmp(f->tag, PCV__SEG_TAG_END, PCV__SEG_TAG_LEN) == 0 &&
	       f->crc == pcv__crc32c(0, b,
				     offsetof(struct pcv__seg_footer, crc));
}

/*
 * Link types.  The API speaks DLT_ values (what libpcap reports); files
 * hold LINKTYPE_ values (what pcap readers expect).  They are equal for
 * 0..10, 50, 51 and 104..289 on every platform; DLT_RAW (12 on most
 * systems, 14 on OpenBSD) is LINKTYPE_RAW 101, and 101 given as a DLT_
 * value is taken to mean the same.  Other values are refused.
 */
#define PCV__LINKTYPE_RAW 101
#define PCV__LINKTYPE_MATCHING_MAX 289

static inline bool pcv__seg_lt_identity(long v)
{
	return (v >= 0 && v <= 10) || v == 50 || v == 51 ||
	       (v >= 104 && v <= PCV__LINKTYPE_MATCHING_MAX);
}

/* DLT_ value -> LINKTYPE_ value, or -1 when not supported. */
static inline long pcv__seg_dlt_to_linktype(long dlt)
{
	if (dlt == DLT_RAW || dlt == PCV__LINKTYPE_RAW)
		return PCV__LINKTYPE_RAW;
	return pcv__seg_lt_identity(dlt) ? dlt : -1;
}

/* LINKTYPE_ value -> DLT_ value, or -1 when not supported. */
static inline long pcv__seg_linktype_to_dlt(long lt)
{
	if (lt == PCV__LINKTYPE_RAW)
		return DLT_RAW;
	return pcv__seg_lt_identity(lt) ? lt : -1;
}

#endif /* PCV_SEG_FORMAT_H */
