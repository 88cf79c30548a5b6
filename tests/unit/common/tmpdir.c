// SPDX-License-Identifier: MIT
/*
 * tmpdir.c - the temporary directories of the unit test suites.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>

#include "tmpdir.h"

void tmpdir_make(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "/tmp/pcv-test-%s-XXXXXX", name);
	cr_assert_not_null(mkdtemp(dir), "mkdtemp(%s): %s", dir,
			   strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void tmpdir_remove(const char *dir)
{
	if (dir[0])
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tmpdir_path(const char *dir, const char *name)
{
	static char slots[8][256];
	static unsigned next;
	char *p = slots[next++ % 8];

	snprintf(p, sizeof(slots[0]), "%s/%s", dir, name);
	return p;
}
