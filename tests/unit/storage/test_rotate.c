// SPDX-License-Identifier: MIT
/*
 * test_rotate.c - pcv_store_rotate()'s rules on a store of made-up
 * segments (index rows and files of chosen sizes, no packets): which go,
 * in what order, what a running recorder protects, what a dry run leaves.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pcv/index.h"
#include "pcv/store.h"
#include "../common/tmpdir.h"

#define S 1000000000ull
#define NSEG 6

static char root[256];

static void setup(void)
{
	tmpdir_make(root, sizeof(root), "rotate");
}

static void teardown(void)
{
	tmpdir_remove(root);
}

TestSuite(rotate, .init = setup, .fini = teardown);

static uint64_t now_ns(void)
{
	return (uint64_t)time(NULL) * S;
}

/*
 * A store in @dir with NSEG segments, segment i starting i + 1 hours
 * before @base and lasting 10 minutes, each file 64 KiB (written, so it
 * has blocks on disk); the newest is left unsealed when @open_last.
 */
static void make_store(const char *dir, uint64_t base, bool open_last)
{
	char errbuf[PCV_ERRBUF_SIZE], name[64], path[512], *buf;
	struct pcv_index *ix;

	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_CREATE, errbuf), 0,
		     "%s", errbuf);
	buf = calloc(1, 65536);
	cr_assert_not_null(buf);
	cr_assert_eq(pcv_index_begin(ix), 0);
	for (int i = NSEG - 1; i >= 0; i--) { /* oldest first */
		uint64_t start = base - (uint64_t)(i + 1) * 3600 * S;
		int64_t id;
		int fd;

		snprintf(name, sizeof(name), "seg%d.pcap.zst", i);
		cr_assert_eq(pcv_index_segment_add(ix, name, 1, 65535, "eth0",
						   0, start, &id), 0);
		if (i > 0 || !open_last)
			cr_assert_eq(pcv_index_segment_seal(ix, id,
							    start + 600 * S, 1), 0);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, buf, 65536), 65536);
		close(fd);
	}
	cr_assert_eq(pcv_index_commit(ix), 0);
	pcv_index_close(ix);
	free(buf);
}

static bool has_file(const char *dir, int i)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/seg%d.pcap.zst", dir, i);
	return access(path, F_OK) == 0;
}

static int count_rows(const struct pcv_index_seg *s, void *user)
{
	(void)s;
	++*(int *)user;
	return 0;
}

static int rows(const char *dir)
{
	char errbuf[PCV_ERRBUF_SIZE];
	struct pcv_index *ix;
	int n = 0;

	cr_assert_eq(pcv_index_open(&ix, dir, PCV_INDEX_RDONLY, errbuf), 0);
	cr_assert_eq(pcv_index_segments(ix, count_rows, &n), 0);
	pcv_index_close(ix);
	return n;
}

struct seen {
	char names[NSEG][32];
	char why[NSEG][8];
	int n;
};

static void on_delete(const char *name, uint64_t bytes, uint64_t start_ns,
		      uint64_t end_ns, const char *why, void *user)
{
	struct seen *s = user;

	(void)bytes;
	(void)start_ns;
	(void)end_ns;
	cr_assert_lt(s->n, NSEG);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	snprintf(s->why[s->n], sizeof(s->why[0]), "%s", why);
	s->n++;
}

static void rotate(const char *dir, const struct pcv_retention *r,
		   bool dry, struct seen *seen, struct pcv_rotate_report *rep)
{
	char errbuf[PCV_ERRBUF_SIZE];
	int rc = pcv_store_rotate(dir, r, dry, on_delete, seen, rep, errbuf);

	cr_assert_eq(rc, 0, "rotate: %d %s", rc, errbuf);
}

Test(rotate, age_oldest_first_then_stops)
{
	const char *dir = tmpdir_path(root, "age");
	struct pcv_retention r = { .max_age_ns = 3 * 3600 * S };
	struct pcv_rotate_report rep;
	struct seen seen = { 0 };
	uint64_t base = now_ns();

	make_store(dir, base, false);
	rotate(dir, &r, false, &seen, &rep);
	/* seg5, seg4 and seg3 ended more than 3 h ago (at -5h50, -4h50,
	 * -3h50); seg2 ended at -2h50 */
	cr_assert_eq(seen.n, 3);
	cr_assert_str_eq(seen.names[0], "seg5.pcap.zst");
	cr_assert_str_eq(seen.names[2], "seg3.pcap.zst");
	cr_assert_str_eq(seen.why[0], "age");
	cr_assert_eq(rep.segments, 3);
	cr_assert_geq(rep.bytes, 3 * 65536);
	for (int i = 0; i < NSEG; i++)
		cr_assert_eq(has_file(dir, i), i < 3, "seg%d", i);
	cr_assert_eq(rows(dir), 3);
	cr_assert_eq(rep.oldest_ns, base - 3 * 3600 * S,
		     "the oldest left is seg2");
}

Test(rotate, dry_run_changes_nothing)
{
	const char *dir = tmpdir_path(root, "dry");
	struct pcv_retention r = { .max_age_ns = 60 * S };
	struct pcv_rotate_report rep;
	struct seen seen = { 0 };

	make_store(dir, now_ns(), false);
	rotate(dir, &r, true, &seen, &rep);
	cr_assert_eq(seen.n, NSEG);
	cr_assert_eq(rep.segments, NSEG);
	for (int i = 0; i < NSEG; i++)
		cr_assert(has_file(dir, i));
	cr_assert_eq(rows(dir), NSEG);
}

Test(rotate, size_keeps_the_newest)
{
	const char *dir = tmpdir_path(root, "size");
	struct pcv_retention r = { 0 };
	struct pcv_rotate_report rep;
	struct seen seen = { 0 };
	struct stat st;
	uint64_t seg, idx;

	make_store(dir, now_ns(), false);
	cr_assert_eq(stat(tmpdir_path(dir, "seg0.pcap.zst"), &st), 0);
	seg = (uint64_t)st.st_blocks * 512;
	cr_assert_eq(stat(tmpdir_path(dir, "index.sqlite"), &st), 0);
	idx = (uint64_t)st.st_blocks * 512;
	r.max_bytes = idx + 2 * seg; /* room for two */
	rotate(dir, &r, false, &seen, &rep);
	cr_assert_eq(rep.segments, NSEG - 2);
	cr_assert_str_eq(seen.why[0], "size");
	cr_assert(has_file(dir, 0) && has_file(dir, 1) && !has_file(dir, 2));
	cr_assert_leq(rep.bytes_after, r.max_bytes);
}

Test(rotate, a_running_recorder_keeps_its_open_segment)
{
	const char *dir = tmpdir_path(root, "live");
	struct pcv_retention r = { .max_bytes = 1 };
	struct pcv_rotate_report rep;
	struct seen seen = { 0 };
	char errbuf[PCV_ERRBUF_SIZE];
	int lock;

	make_store(dir, now_ns(), true);
	/* a "recorder": flock conflicts across open files, even ours */
	lock = pcv_store_lock(dir, errbuf);
	cr_assert_geq(lock, 0, "%s", errbuf);
	cr_assert_eq(pcv_store_recorder(dir), (long)getpid());
	rotate(dir, &r, false, &seen, &rep);
	cr_assert(rep.recorder);
	cr_assert_eq(rep.segments, NSEG - 1);
	cr_assert(has_file(dir, 0), "the open segment was deleted");
	cr_assert_eq(rows(dir), 1);
	close(lock);
	cr_assert_eq(pcv_store_recorder(dir), 0);
	/* without a recorder, an unsealed segment is a crash's leftover */
	rotate(dir, &r, false, &seen, &rep);
	cr_assert_not(rep.recorder);
	cr_assert_eq(rep.segments, 1);
	cr_assert_not(has_file(dir, 0));
}

Test(rotate, not_a_store)
{
	const char *dir = tmpdir_path(root, "plain");
	struct pcv_retention r = { .max_age_ns = S };
	struct pcv_rotate_report rep;
	char errbuf[PCV_ERRBUF_SIZE];

	cr_assert_eq(mkdir(dir, 0755), 0);
	cr_assert_eq(pcv_store_rotate(dir, &r, false, NULL, NULL, &rep, errbuf),
		     -ENOENT);
	cr_assert(strstr(errbuf, "not a store"), "%s", errbuf);
	cr_assert_neq(access(tmpdir_path(dir, ".lock"), F_OK), 0);
}
