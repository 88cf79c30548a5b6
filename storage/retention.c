// SPDX-License-Identifier: MIT
/*
 * retention.c - pcv_store_rotate(): delete the oldest segments of a store
 * until its retention rules hold (pcv/store.h).
 *
 * Oldest first, by start time, across all sources: a segment goes when it
 * ended before the age limit, or while the store is over its size limit,
 * or while the file system has less free space than asked.  The first
 * segment that no rule wants gone ends the walk: everything after it is
 * newer.
 *
 * Order per segment: its index rows go first (one transaction), then the
 * file.  A crash between the two leaves a file the index does not know;
 * the next pcv-fsck indexes it again (the segments are the truth) and the
 * next rotation deletes it again.  The other order would leave rows that
 * point at a missing file, which a query would trip over.
 *
 * With a recorder running (it holds the store's lock), its open segments
 * are never touched.  Without one, unsealed segments are a crash's
 * leftovers and go by the same rules.  Files the index does not know go
 * only by age (their modification time): a new segment may not be indexed
 * yet.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "pcv/index.h"
#include "pcv/store.h"

#define SEG_SUFFIX ".pcap.zst"

struct seg {
	int64_t id;
	char *name;
	uint64_t start_ns, end_ns;
	uint64_t bytes; /* on disk */
	bool sealed;
	bool gone;      /* deleted (or would be, dry run) */
};

struct seglist {
	struct seg *v;
	size_t n, cap;
	const char *dir;
	int err;
};

static uint64_t disk_bytes(const char *dir, const char *name)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

static int collect(const struct pcv_index_seg *s, void *user)
{
	struct seglist *l = user;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct seg *v = realloc(l->v, cap * sizeof(*v));

		if (!v)
			return l->err = -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = (struct seg){
		.id = s->id,
		.name = strdup(s->name),
		.start_ns = s->start_ns,
		.end_ns = s->end_ns,
		.bytes = disk_bytes(l->dir, s->name),
		.sealed = s->sealed,
	};
	if (!l->v[l->n].name)
		return l->err = -ENOMEM;
	l->n++;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Free bytes for an unprivileged writer on @dir's file system. */
static int free_bytes(const char *dir, uint64_t *out, char *errbuf)
{
	struct statvfs fs;

	if (statvfs(dir, &fs) < 0) {
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: statvfs: %s", dir,
			 strerror(errno));
		return -errno;
	}
	*out = (uint64_t)fs.f_bavail * fs.f_frsize;
	return 0;
}

/* Which rule wants @s gone, or NULL. */
static const char *why_delete(const struct pcv_retention *r,
			      const struct seg *s, uint64_t now,
			      uint64_t total, uint64_t avail)
{
	if (r->max_age_ns && now > r->max_age_ns &&
	    s->end_ns < now - r->max_age_ns)
		return "age";
	if (r->max_bytes && total > r->max_bytes)
		return "size";
	if (r->min_free_bytes && avail < r->min_free_bytes)
		return "free";
	return NULL;
}

/* Forget @s in the index, then delete its file. */
static int delete_segment(struct pcv_index *ix, const char *dir,
			  const struct seg *s, char *errbuf)
{
	char path[4096];
	int rc = pcv_index_begin(ix);

	if (rc == 0)
		rc = pcv_index_segment_drop(ix, s->id);
	if (rc == 0)
		rc = pcv_index_commit(ix);
	else
		pcv_index_rollback(ix);
	if (rc < 0 && rc != -ENOENT) {
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: index: %s", s->name,
			 pcv_index_errmsg(ix));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, s->name);
	if (unlink(path) < 0 && errno != ENOENT) {
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: %s", path,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static bool known(const struct seglist *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].name, name) == 0)
			return true;
	}
	return false;
}

/* Segment files the index does not know, older than the age limit. */
static int delete_orphans(const struct pcv_retention *r, const char *dir,
			  const struct seglist *l, uint64_t now, bool dry_run,
			  pcv_rotate_cb cb, void *user,
			  struct pcv_rotate_report *rep, char *errbuf)
{
	size_t slen = strlen(SEG_SUFFIX);
	struct dirent *e;
	DIR *d;

	if (!r->max_age_ns || now <= r->max_age_ns)
		return 0;
	d = opendir(dir);
	if (!d) {
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: %s", dir,
			 strerror(errno));
		return -errno;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char path[4096];
		struct stat st;
		uint64_t mtime;

		if (len <= slen || strcmp(e->d_name + len - slen, SEG_SUFFIX) ||
		    known(l, e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		mtime = (uint64_t)st.st_mtim.tv_sec * 1000000000u +
			(uint64_t)st.st_mtim.tv_nsec;
		if (mtime >= now - r->max_age_ns)
			continue;
		if (cb)
			cb(e->d_name, (uint64_t)st.st_blocks * 512, 0, mtime,
			   "age, not in the index", user);
		if (!dry_run && unlink(path) < 0 && errno != ENOENT)
			continue;
		rep->orphans++;
		rep->bytes += (uint64_t)st.st_blocks * 512;
	}
	closedir(d);
	return 0;
}

int pcv_store_rotate(const char *dir, const struct pcv_retention *r,
		     bool dry_run, pcv_rotate_cb cb, void *user,
		     struct pcv_rotate_report *rep, char *errbuf)
{
	struct seglist l = { .dir = dir };
	struct pcv_index *ix = NULL;
	uint64_t now = now_ns(), total, avail = 0;
	char path[4096];
	int lock, rc;

	memset(rep, 0, sizeof(*rep));
	errbuf[0] = '\0';
	/* not a store: say so, and leave no lock file behind */
	snprintf(path, sizeof(path), "%s/%s", dir, PCV_INDEX_FILE);
	if (access(dir, F_OK) == 0 && access(path, F_OK) < 0) {
		snprintf(errbuf, PCV_ERRBUF_SIZE,
			 "%.200s: no %s here: not a store", dir, PCV_INDEX_FILE);
		return -ENOENT;
	}
	/* Held by a recorder: leave its open segments alone.  Ours: keep
	 * it, so that no recorder starts while we delete. */
	lock = pcv_store_lock(dir, errbuf);
	if (lock < 0 && lock != -EBUSY)
		return lock;
	rep->recorder = lock == -EBUSY;
	errbuf[0] = '\0'; /* "another recorder..." is not an error here */
	rc = pcv_index_open(&ix, dir, dry_run ? PCV_INDEX_RDONLY : 0, errbuf);
	if (rc == 0)
		rc = pcv_index_segments(ix, collect, &l);
	if (rc == 0 && l.err)
		rc = l.err;
	if (rc == 0 && r->min_free_bytes)
		rc = free_bytes(dir, &avail, errbuf);
	if (rc < 0 && !errbuf[0])
		snprintf(errbuf, PCV_ERRBUF_SIZE, "%.200s: %s", dir,
			 ix ? pcv_index_errmsg(ix) : pcv_strerror(rc));
	total = disk_bytes(dir, PCV_INDEX_FILE) +
		disk_bytes(dir, PCV_INDEX_FILE "-wal");
	for (size_t i = 0; rc == 0 && i < l.n; i++)
		total += l.v[i].bytes;
	rep->bytes_before = total;
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct seg *s = &l.v[i];
		const char *why = why_delete(r, s, now, total, avail);

		if (!why)
			break; /* the rest is newer */
		if (!s->sealed && rep->recorder)
			continue; /* being written */
		if (cb)
			cb(s->name, s->bytes, s->start_ns, s->end_ns, why, user);
		if (!dry_run)
			rc = delete_segment(ix, dir, s, errbuf);
		if (rc == 0) {
			l.v[i].gone = true;
			rep->segments++;
			rep->bytes += s->bytes;
			total -= s->bytes;
			avail += s->bytes;
		}
	}
	for (size_t i = 0; i < l.n; i++) {
		if (!l.v[i].gone && (!rep->oldest_ns ||
				     l.v[i].start_ns < rep->oldest_ns))
			rep->oldest_ns = l.v[i].start_ns;
	}
	if (rc == 0)
		rc = delete_orphans(r, dir, &l, now, dry_run, cb, user, rep,
				    errbuf);
	rep->bytes_after = total;
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].name);
	free(l.v);
	pcv_index_close(ix);
	if (lock >= 0)
		close(lock);
	return rc;
}
