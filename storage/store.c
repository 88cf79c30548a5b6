// SPDX-License-Identifier: MIT
/*
 * store.c - a store directory as a whole: opening its index (setting a
 * damaged one aside), and reconciling the index with the segments after a
 * crash or for pcv-fsck.
 *
 * The segments are the truth; the index is a cache of what they hold
 * (DESIGN.md §6).  Reconciling a segment: truncate a torn tail, drop
 * index rows for blocks the file does not have, and index the blocks the
 * index lacks, flows included, by reading them back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pcv/dissect.h"
#include "pcv/index.h"
#include "pcv/segment.h"
#include "pcv/store.h"
#include "storage-int.h"

int pcv__store_open_index(const char *dir, struct pcv_index **ixp,
			  char *errbuf)
{
	char path[4096], aside[4200];
	int rc = pcv_index_open(ixp, dir, PCV_INDEX_CREATE, errbuf);

	if (rc != PCV_ECORRUPT)
		return rc;
	/* The index is a cache: keep the damaged file for inspection and
	 * build a new one from the segments. */
	snprintf(path, sizeof(path), "%s/index.sqlite", dir);
	snprintf(aside, sizeof(aside), "%s.damaged-%ld", path, (long)time(NULL));
	fprintf(stderr, "pcv: %s is damaged (%s); moved to %s, rebuilding\n",
		path, errbuf, aside);
	if (rename(path, aside) < 0)
		return -errno;
	for (const char *sfx = "-wal"; sfx; sfx = strcmp(sfx, "-wal") ? NULL : "-shm") {
		char p2[4200];

		snprintf(p2, sizeof(p2), "%s%s", path, sfx);
		unlink(p2);
	}
	return pcv_index_open(ixp, dir, PCV_INDEX_CREATE, errbuf);
}

struct reidx {
	struct pcv_flowtab *ft;
	int linktype;
	uint32_t block;
};

static void reidx_packet(const struct pcv_packet *p, void *user)
{
	struct reidx *r = user;
	struct pcv_dissect d;

	pcv_dissect(p->data, p->caplen, r->linktype, &d);
	pcv__flow_addrs(&d, p->data, p->caplen);
	pcv_flowtab_add(r->ft, &d, p->ts_ns, p->len, r->block);
}

/* Index blocks [from, n) of an open segment, flows included. */
static int index_blocks(struct pcv_index *ix, struct pcv_seg_reader *r,
			int64_t seg_id, size_t from, char *errbuf)
{
	size_t n;
	const struct pcv_seg_block *b = pcv_seg_reader_blocks(r, &n);
	struct reidx ri = { .linktype = pcv_seg_reader_linktype(r) };
	const struct pcv_flow_rec *fr;
	size_t nfr;
	int rc;

	rc = pcv_flowtab_open(&ri.ft, 1u << 16);
	if (rc < 0)
		return rc;
	rc = pcv_index_begin(ix);
	for (size_t i = from; rc == 0 && i < n; i++) {
		ri.block = (uint32_t)i;
		rc = pcv_seg_reader_read_block(r, i, reidx_packet, &ri);
		if (rc < 0) {
			snprintf(errbuf, PCV_ERRBUF_SIZE, "block %zu: %s", i,
				 pcv_seg_reader_errmsg(r));
			break;
		}
		rc = pcv_index_block_add(ix, seg_id, &b[i]);
	}
	if (rc == 0) {
		fr = pcv_flowtab_records(ri.ft, &nfr);
		rc = pcv_index_flows_put(ix, seg_id, fr, nfr);
	}
	if (rc == 0)
		rc = pcv_index_commit(ix);
	else
		pcv_index_rollback(ix);
	pcv_flowtab_close(ri.ft);
	return rc;
}

static int count_block(const struct pcv_seg_block *b, void *user)
{
	(void)b;
	(*(size_t *)user)++;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment files of @dir, sorted by name (= by start time). */
static int list_segments(const char *dir, char ***namesp, size_t *np)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, sl = strlen(PCV_SEG_SUFFIX);

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= sl || strcmp(e->d_name + len - sl, PCV_SEG_SUFFIX))
			continue;
		if (n == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 64) *
							   sizeof(*names));
			if (!nn)
				break;
			names = nn;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	*namesp = names;
	*np = n;
	return 0;
}

/* Set a segment that cannot be read aside: rename it, forget its rows. */
static void set_aside(const char *dir, const char *name, struct pcv_index *ix,
		      const char *why, struct pcv_fsck_report *rep)
{
	char path[4096], aside[4200];
	int64_t id;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(aside, sizeof(aside), "%s.corrupt", path);
	fprintf(stderr, "pcv: %s: %s; set aside as %s\n", path, why, aside);
	if (rename(path, aside) == 0 && rep)
		rep->set_aside++;
	if (pcv_index_segment_find(ix, name, &id) == 0)
		pcv_index_segment_drop(ix, id);
}

static void ignore_packet(const struct pcv_packet *p, void *user)
{
	(void)p;
	(void)user;
}

/* Read every block of @r to check it.  Return: 0, or the first error. */
static int verify_blocks(struct pcv_seg_reader *r, char *why, size_t len)
{
	size_t n;

	pcv_seg_reader_blocks(r, &n);
	for (size_t i = 0; i < n; i++) {
		if (pcv_seg_reader_read_block(r, i, ignore_packet, NULL) < 0) {
			snprintf(why, len, "block %zu: %s", i,
				 pcv_seg_reader_errmsg(r));
			return PCV_ECORRUPT;
		}
	}
	return 0;
}

/* Bring the index in line with one segment file. */
static int reconcile(const char *dir, const char *name, struct pcv_index *ix,
		     unsigned flags, struct pcv_fsck_report *rep,
		     char *errbuf)
{
	char path[4096], eb[PCV_ERRBUF_SIZE] = "";
	struct pcv_seg_reader *r;
	const struct pcv_seg_block *b;
	size_t nfile, nidx = 0;
	int64_t id, cut;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = pcv_seg_reader_open(&r, path, eb);
	if (rc >= 0 && pcv_seg_reader_torn(r)) {
		pcv_seg_reader_close(r);
		cut = pcv_seg_recover(path, eb);
		if (rep && cut > 0) {
			rep->torn++;
			rep->bytes_cut += (uint64_t)cut;
		}
		rc = cut < 0 ? (int)cut : pcv_seg_reader_open(&r, path, eb);
	}
	if (rc >= 0 && (flags & PCV_FSCK_VERIFY) &&
	    verify_blocks(r, eb, sizeof(eb)) < 0) {
		pcv_seg_reader_close(r);
		rc = PCV_ECORRUPT;
	}
	if (rc < 0) {
		set_aside(dir, name, ix, eb, rep);
		return 0;
	}
	b = pcv_seg_reader_blocks(r, &nfile);
	if (pcv_index_segment_find(ix, name, &id) < 0) {
		rc = pcv_index_segment_add(ix, name, pcv_seg_reader_linktype(r),
					   pcv_seg_reader_snaplen(r), "", 0,
					   nfile ? b[0].first_ns : 0, &id);
		if (rep)
			rep->added++;
	} else {
		rc = pcv_index_blocks(ix, id, count_block, &nidx);
	}
	if (rc == 0 && nidx > nfile) {
		/* Rows point past the data (a crash after the commit of
		 * blocks the disk then lost; or a cut tail).  Flow rows
		 * would keep counting the lost packets, so index the
		 * segment again from its blocks. */
		rc = pcv_index_segment_drop(ix, id);
		if (rc == 0)
			rc = pcv_index_segment_add(ix, name,
						   pcv_seg_reader_linktype(r),
						   pcv_seg_reader_snaplen(r), "", 0,
						   nfile ? b[0].first_ns : 0, &id);
		if (rep)
			rep->rows_dropped += nidx - nfile;
		nidx = 0;
	}
	if (rc == 0 && nidx < nfile) {
		rc = index_blocks(ix, r, id, nidx, errbuf);
		if (rep)
			rep->blocks_indexed += nfile - nidx;
	}
	if (rc == 0 && pcv_seg_reader_sealed(r))
		rc = pcv_index_segment_seal(ix, id, nfile ? b[nfile - 1].last_ns : 0,
					    nfile);
	if (rc < 0 && !errbuf[0])
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.120s: index: %.120s", path,
			 pcv_index_errmsg(ix));
	if (rep) {
		rep->segments++;
		rep->blocks += nfile;
	}
	pcv_seg_reader_close(r);
	return rc;
}

struct gone {
	const char *dir;
	int64_t ids[256];
	size_t n;
};

static int note_gone(const struct pcv_index_seg *s, void *user)
{
	struct gone *g = user;
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", g->dir, s->name);
	if (access(path, F_OK) < 0 && g->n < 256)
		g->ids[g->n++] = s->id;
	return 0;
}

int pcv__store_reconcile(const char *dir, struct pcv_index *ix, unsigned flags,
			 struct pcv_fsck_report *rep, char *errbuf)
{
	struct gone g = { .dir = dir };
	char **names = NULL;
	size_t n = 0;
	int rc = list_segments(dir, &names, &n);

	if (rc < 0) {
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rc = reconcile(dir, names[i], ix, flags, rep, errbuf);
		free(names[i]);
	}
	free(names);
	/* Rows of segments whose files are gone (removed by hand). */
	if (rc == 0)
		rc = pcv_index_segments(ix, note_gone, &g);
	for (size_t i = 0; rc == 0 && i < g.n; i++) {
		rc = pcv_index_segment_drop(ix, g.ids[i]);
		if (rep)
			rep->rows_dropped++;
	}
	return rc;
}

int pcv_store_lock(const char *dir, char *errbuf)
{
	char path[4096];
	int fd, err;

	snprintf(path, sizeof(path), "%s/.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: %s", path,
			 strerror(err));
		return -err;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno;
		close(fd);
		snprintf(errbuf, PCV_ERRBUF_SIZE,
			 err == EWOULDBLOCK
				 ? "%.200s: another recorder is writing to this store"
				 : "%.200s: lock: %s",
			 dir, strerror(err));
		return err == EWOULDBLOCK ? -EBUSY : -err;
	}
	/* who holds it, for pcv_store_recorder() (pcv-rotate's SIGHUP) */
	if (ftruncate(fd, 0) == 0) {
		char pid[24];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		if (pwrite(fd, pid, (size_t)n, 0) != n)
			(void)ftruncate(fd, 0);
	}
	return fd;
}

long pcv_store_recorder(const char *dir)
{
	char path[4096], buf[24];
	long pid = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/.lock", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) { /* nobody holds it */
		close(fd);
		return 0;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		pid = strtol(buf, NULL, 10);
	}
	close(fd);
	return pid > 0 ? pid : 0;
}

int pcv_store_fsck(const char *dir, unsigned flags,
		   struct pcv_fsck_report *rep, char *errbuf)
{
	struct pcv_index *ix = NULL;
	char path[4096];
	int fd, rc;

	memset(rep, 0, sizeof(*rep));
	fd = pcv_store_lock(dir, errbuf);
	if (fd < 0)
		return fd;
	if (flags & PCV_FSCK_REBUILD) {
		static const char *const files[] = { "", "-wal", "-shm" };

		for (size_t i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s/%s%s", dir,
				 PCV_INDEX_FILE, files[i]);
			if (unlink(path) < 0 && errno != ENOENT) {
				rc = -errno;
				snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: %s",
					 path, strerror(errno));
				goto out;
			}
		}
	}
	rc = pcv__store_open_index(dir, &ix, errbuf);
	if (rc == 0)
		rc = pcv__store_reconcile(dir, ix, flags, rep, errbuf);
	pcv_index_close(ix);
out:
	close(fd);
	return rc;
}
