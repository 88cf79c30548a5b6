/* SPDX-License-Identifier: MIT */
/*
 * tmpdir.h - a private temporary directory for a test suite: made in the
 * suite's .init, removed with everything in it in its .fini.
 */
#ifndef PCV_TEST_TMPDIR_H
#define PCV_TEST_TMPDIR_H

#include <stddef.h>

/* tmpdir_make() - mkdtemp "/tmp/pcv-test-NAME-XXXXXX" into @dir (@len
 * bytes); a Criterion assertion fails the suite if it cannot. */
void tmpdir_make(char *dir, size_t len, const char *name);

/* tmpdir_remove() - remove @dir and everything below it; "" is fine. */
void tmpdir_remove(const char *dir);

/* tmpdir_path() - "@dir/@name", in one of 8 static slots used in turn. */
const char *tmpdir_path(const char *dir, const char *name);

#endif /* PCV_TEST_TMPDIR_H */
