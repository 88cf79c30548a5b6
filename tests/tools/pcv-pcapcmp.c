// SPDX-License-Identifier: MIT
/*
 * pcv-pcapcmp.c - test helper: do two classic pcap files hold the same
 * records?  Same count and order, same captured bytes and lengths, and
 * the same instant, whatever each file's precision (µs or ns) and however
 * a sub-second field was split: tcpdump -w copies a damaged µs field of
 * 4293562680 as is, we write the same instant as seconds + 562680 µs.
 * The file headers (snaplen, precision) are not compared.
 *
 *   pcv-pcapcmp A.pcap B.pcap    exit 0 identical, 1 different, 2 error
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pfile {
	FILE *fp;
	const char *path;
	bool swap, nano;
};

static uint32_t get32(const struct pfile *f, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return f->swap ? __builtin_bswap32(v) : v;
}

static int open_pcap(struct pfile *f, const char *path)
{
	uint8_t h[24];
	uint32_t magic;

	f->path = path;
	f->fp = fopen(path, "rb");
	if (!f->fp || fread(h, 1, 24, f->fp) != 24) {
		fprintf(stderr, "pcv-pcapcmp: %s: not readable\n", path);
		return -1;
	}
	memcpy(&magic, h, 4);
	f->swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
	magic = f->swap ? __builtin_bswap32(magic) : magic;
	if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d) {
		fprintf(stderr, "pcv-pcapcmp: %s: not a classic pcap file\n", path);
		return -1;
	}
	f->nano = magic == 0xa1b23c4d;
	return 0;
}

/* The next record: 1, 0 at the end, -1 on a short record. */
static int next(struct pfile *f, uint64_t *ts, uint32_t *caplen,
		uint32_t *len, uint8_t **data)
{
	uint8_t h[16];
	size_t n = fread(h, 1, 16, f->fp);

	if (n == 0)
		return 0;
	if (n != 16)
		return -1;
	*ts = (uint64_t)get32(f, h) * 1000000000u +
	      (uint64_t)get32(f, h + 4) * (f->nano ? 1 : 1000);
	*caplen = get32(f, h + 8);
	*len = get32(f, h + 12);
	if (*caplen > (1u << 26))
		return -1;
	*data = realloc(*data, *caplen ? *caplen : 1);
	return *data && fread(*data, 1, *caplen, f->fp) == *caplen ? 1 : -1;
}

int main(int argc, char **argv)
{
	struct pfile a, b;
	uint8_t *da = NULL, *db = NULL;
	uint64_t i = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: pcv-pcapcmp A.pcap B.pcap\n");
		return 2;
	}
	if (open_pcap(&a, argv[1]) < 0 || open_pcap(&b, argv[2]) < 0)
		return 2;
	for (;; i++) {
		uint64_t ta, tb;
		uint32_t ca, cb, la, lb;
		int ra = next(&a, &ta, &ca, &la, &da);
		int rb = next(&b, &tb, &cb, &lb, &db);

		if (ra < 0 || rb < 0) {
			fprintf(stderr, "pcv-pcapcmp: record %llu is damaged\n",
				(unsigned long long)i + 1);
			return 2;
		}
		if (ra == 0 || rb == 0) {
			if (ra != rb) {
				printf("different: %s ends after %llu records\n",
				       ra ? b.path : a.path,
				       (unsigned long long)i);
				return 1;
			}
			break;
		}
		if (ta != tb || ca != cb || la != lb || memcmp(da, db, ca)) {
			printf("different: record %llu (ts %llu/%llu ns, caplen %u/%u, len %u/%u)\n",
			       (unsigned long long)i + 1, (unsigned long long)ta,
			       (unsigned long long)tb, ca, cb, la, lb);
			return 1;
		}
	}
	printf("identical: %llu records\n", (unsigned long long)i);
	return 0;
}
