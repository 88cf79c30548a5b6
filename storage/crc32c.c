// SPDX-License-Identifier: MIT
/*
 * crc32c.c - CRC-32C (Castagnoli), the checksum of every segment header,
 * block, block metadata record and seek table (docs/segment-format.md).
 *
 * Two implementations with one result: the SSE4.2 crc32 instruction on
 * x86-64 CPUs that have it (chosen once, at the first call), and a
 * portable slicing-by-8 table, which reads 8 bytes per step through eight
 * 256-entry tables (Intel's "slicing-by-8", as in the Linux kernel's
 * crc32c-generic and zlib's braided CRC).  The tables are built at the
 * first call, under pthread_once.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "storage-int.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY 0x82f63b78u /* 0x1EDC6F41 bit-reversed */

static uint32_t table[8][256];
static bool have_sse42;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (unsigned i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		table[0][i] = c;
	}
	/* table[k][i]: the CRC of byte i followed by k zero bytes */
	for (unsigned i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			table[k][i] = (table[k - 1][i] >> 8) ^
				      table[0][table[k - 1][i] & 0xff];
#if defined(__x86_64__)
	have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc32c_table(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = crc ^ pcv__get_le32(p);
		uint32_t hi = pcv__get_le32(p + 4);

		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
		      table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		      table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
/* Compiled for SSE4.2 whatever the build flags; only called after the
 * CPUID check in crc32c_init(). */
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t pcv__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&init_once, crc32c_init);
	return ~crc32c_table(~crc, buf, len);
}

uint32_t pcv__crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&init_once, crc32c_init);
#if defined(__x86_64__)
	if (have_sse42)
		return ~crc32c_sse42(~crc, buf, len);
#endif
	return ~crc32c_table(~crc, buf, len);
}
