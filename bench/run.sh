#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench/run.sh - run every built benchmark, $BUILD/bench/bench-*, and
# every bench/bench-*.sh script, in turn
# with no arguments (each finds its own input; see bench/*.c).  Called by
# `make bench`; BUILD defaults to build.  Fails if any benchmark fails.

set -u

BUILD=${BUILD:-build}
shopt -s nullglob

rc=0
ran=0
for b in "$BUILD"/bench/bench-* "$(dirname "$0")"/bench-*.sh; do
	[[ -f $b && -x $b ]] || continue
	echo "== ${b##*/}"
	if ! "$b"; then
		echo "run.sh: ${b##*/} failed" >&2
		rc=1
	fi
	ran=$((ran + 1))
done

if ((ran == 0)); then
	echo "run.sh: no benchmarks in $BUILD/bench" >&2
	exit 1
fi
exit "$rc"
