/* SPDX-License-Identifier: MIT */
/*
 * storage-int.h - what the storage module's files share: the CRC-32C
 * checksum, little-endian field access, and the error-message helper.
 * Nothing outside storage/ includes this file (the unit tests do, to
 * reach pcv__crc32c_sw()).
 *
 * Every on-disk integer of the segment format is little-endian, whatever
 * the host; the pcv__get/put helpers are the only way the code touches
 * one (seg-format.h has the layouts).
 */
#ifndef PCV_STORAGE_INT_H
#define PCV_STORAGE_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pcv/error.h"

/*
 * pcv__crc32c() - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78,
 * initial value and final XOR 0xffffffff) of @len bytes, continuing @crc:
 * pass 0 to start, and the previous result to checksum a buffer in parts.
 * "123456789" gives 0xe3069283.  Uses the SSE4.2 instruction when the CPU
 * has it, else a slicing-by-8 table.  Thread-safe.
 */
uint32_t pcv__crc32c(uint32_t crc, const void *buf, size_t len);

/* pcv__crc32c_sw() - the same, always with the table (for the tests). */
uint32_t pcv__crc32c_sw(uint32_t crc, const void *buf, size_t len);

static inline uint16_t pcv__get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t pcv__get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t pcv__get_le64(const uint8_t *p)
{
	return (uint64_t)pcv__get_le32(p) | (uint64_t)pcv__get_le32(p + 4) << 32;
}

static inline void pcv__put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void pcv__put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void pcv__put_le64(uint8_t *p, uint64_t v)
{
	pcv__put_le32(p, (uint32_t)v);
	pcv__put_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * pcv__storage_err() - format a message into @buf (PCV_ERRBUF_SIZE bytes;
 * NULL: none) and return @err, so one line records and propagates:
 * return pcv__storage_err(r->errbuf, PCV_ECORRUPT, "...").
 */
static inline int __attribute__((format(printf, 3, 4)))
pcv__storage_err(char *buf, int err, const char *fmt, ...)
{
	va_list ap;

	if (buf) {
		va_start(ap, fmt);
		vsnprintf(buf, PCV_ERRBUF_SIZE, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* ===== index (index-sqlite.c, flowtab.c) ===== */

/*
 * The SQLite migrations schema/NNNN_what.sql, in file order (versions
 * strictly increasing), embedded by scripts/embed-schema.sh into
 * build/gen/schema.c.  index-sqlite.c applies those newer than the file's
 * PRAGMA user_version, then sets it to the last version.
 */
struct pcv__schema_step {
	unsigned version; /* NNNN */
	const char *name; /* "0001_init.sql" */
	const char *sql;  /* the whole file */
};

extern const struct pcv__schema_step pcv__schema[];
extern const unsigned pcv__schema_count;

/* ===== end of index ===== */

/* ===== the store as a whole (store.c) ===== */

struct pcv_index;

struct pcv_fsck_report;

/*
 * pcv__store_open_index() - open (create) DIR/index.sqlite; a damaged one
 * is moved aside and a new one created, to be filled by reconciling.
 */
int pcv__store_open_index(const char *dir, struct pcv_index **ixp,
			  char *errbuf);

/*
 * pcv__store_reconcile() - make the index say what the segments hold:
 * cut torn tails, set unreadable segments aside, drop rows that point past
 * the data or at missing files, index what is not indexed.  @flags:
 * enum pcv_fsck_flag (REBUILD is the caller's business).  @rep may be
 * NULL.  Return: 0, or a negative code with @errbuf set.
 */
int pcv__store_reconcile(const char *dir, struct pcv_index *ix,
			 unsigned flags, struct pcv_fsck_report *rep,
			 char *errbuf);

/*
 * pcv__flow_addrs() - an IP header the dissector refused for its version
 * (IPv6 in an IPv4 frame, say) still has the address fields libpcap's
 * host and net read, without looking at the version: put them in @d's
 * key (family from the EtherType), so that the flow table keeps them
 * (PCV_FLOW_ADDR).  flowtab.c; call after pcv_dissect(), before
 * pcv_flowtab_add().
 */
struct pcv_dissect;
void pcv__flow_addrs(struct pcv_dissect *d, const uint8_t *pkt,
		     uint32_t caplen);

#endif /* PCV_STORAGE_INT_H */
