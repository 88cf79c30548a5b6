// SPDX-License-Identifier: MIT
/*
 * fuzz_seg_reader.c - libFuzzer target for the segment reader and
 * recovery (storage/seg-reader.c).
 *
 * The input is a segment file.  It is put in a memfd and opened by path
 * ("/proc/self/fd/N"), so the reader runs as it does on disk: the header
 * frames, the footer and seek table, the frame walk, then every block
 * decompressed, checked and delivered.  Then pcv_seg_recover() runs on a
 * second memfd holding a copy.  Beyond not crashing:
 *   - a delivered packet respects its block's caplen <= snaplen and time
 *     range, and a block delivers what its metadata counts;
 *   - blocks are contiguous from the header on, in sequence;
 *   - recover removes exactly the torn tail, after which the segment
 *     opens with no torn tail and the same blocks.
 *
 * Each input runs twice: as it is, and with every CRC-32C it holds made
 * right again (header, block records and their data CRC, seek table,
 * footer).  Without the second run almost every mutation of the metadata
 * would stop at a checksum, and the checks behind them - sizes, offsets,
 * counts, time ranges, the table against the file - would go unfuzzed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../../storage/storage-int.h"
#include "pcv/segment.h"

#define SKIP_MAGIC 0x184D2A5Cu
#define FIX_RAW_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	const struct pcv_seg_block *b;
	uint32_t snaplen;
	uint32_t n;
	uint32_t sum;
};

static void on_pkt(const struct pcv_packet *p, void *user)
{
	struct run *r = user;

	if (p->caplen > r->snaplen || p->ts_ns < r->b->first_ns ||
	    p->ts_ns > r->b->last_ns)
		abort();
	/* touch every byte, so ASan sees a read past the block */
	for (uint32_t k = 0; k < p->caplen; k++)
		r->sum += p->data[k];
	r->n++;
}

static int memfd_with(const uint8_t *data, size_t size, char *path,
		      size_t len)
{
	int fd = memfd_create("seg", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/* Recompute the CRCs of every frame of ours found in @d. */
static void fix_crcs(uint8_t *d, size_t size)
{
	static uint8_t raw[FIX_RAW_MAX];

	for (size_t i = 0; i + 16 <= size; i++) {
		uint8_t *c = d + i + 8;
		size_t n;

		if (pcv__get_le32(d + i) != SKIP_MAGIC)
			continue;
		n = pcv__get_le32(d + i + 4);
		if (n > size - i - 8)
			continue;
		if (n == 64 && !memcmp(c, "PCVSEG01", 8)) {
			pcv__put_le32(c + 60, pcv__crc32c(0, c, 60));
		} else if (n == 80 && !memcmp(c, "PCVBLK01", 8)) {
			uint64_t off = pcv__get_le64(c + 24);
			uint32_t comp = pcv__get_le32(c + 32);
			uint32_t rawn = pcv__get_le32(c + 36);

			if (off < size && comp <= size - off && rawn <= FIX_RAW_MAX &&
			    ZSTD_decompress(raw, rawn, d + off, comp) == rawn)
				pcv__put_le32(c + 60, pcv__crc32c(0, raw, rawn));
			pcv__put_le32(c + 76, pcv__crc32c(0, c, 76));
		} else if (n >= 72 && !memcmp(c, "PCVIDX01", 8)) {
			uint8_t *f = c + n - 48;

			pcv__put_le32(f + 12, pcv__crc32c(0, c, n - 48));
			pcv__put_le32(f + 36, pcv__crc32c(0, f, 36));
		}
	}
}

static void run(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	run(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fix_crcs(copy, size);
	if (memcmp(copy, data, size) != 0)
		run(copy, size);
	free(copy);
	return 0;
}

static void run(const uint8_t *data, size_t size)
{
	struct pcv_seg_reader *r;
	const struct pcv_seg_block *b;
	char path[64], errbuf[PCV_ERRBUF_SIZE];
	size_t nb, nb2;
	uint64_t torn, end;
	struct stat st;
	int64_t removed;
	int fd;

	fd = memfd_with(data, size, path, sizeof(path));
	if (fd < 0)
		return;
	if (pcv_seg_reader_open(&r, path, errbuf) < 0) {
		close(fd);
		return;
	}
	b = pcv_seg_reader_blocks(r, &nb);
	torn = pcv_seg_reader_torn(r);
	if (torn > size || (pcv_seg_reader_sealed(r) && torn))
		abort();
	end = nb ? b[nb - 1].offset + b[nb - 1].comp_size + 88 : 0;
	for (size_t i = 0; i < nb; i++) {
		struct run run = { &b[i], pcv_seg_reader_snaplen(r), 0, 0 };
		int n;

		if (b[i].seq != i ||
		    (i && b[i].offset != b[i - 1].offset + b[i - 1].comp_size + 88))
			abort();
		n = pcv_seg_reader_read_block(r, i, on_pkt, &run);
		if (n >= 0 && ((uint32_t)n != b[i].npkts || run.n != b[i].npkts))
			abort();
		if (n < 0 && run.n)
			abort(); /* packets delivered from a bad block */
	}
	if (end > size)
		abort();
	pcv_seg_reader_close(r);
	close(fd);

	/* recover a copy; it must cut exactly the torn tail */
	fd = memfd_with(data, size, path, sizeof(path));
	if (fd < 0)
		return;
	removed = pcv_seg_recover(path, errbuf);
	if (removed > 0) {
		if ((uint64_t)removed != torn || fstat(fd, &st) < 0 ||
		    (uint64_t)st.st_size != size - torn)
			abort();
		if (pcv_seg_reader_open(&r, path, errbuf) < 0)
			abort();
		pcv_seg_reader_blocks(r, &nb2);
		if (nb2 != nb || pcv_seg_reader_torn(r))
			abort();
		pcv_seg_reader_close(r);
	} else if (removed == 0 && torn) {
		abort();
	}
	close(fd);
}
