#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run.sh - run the integration tests: every tests/integration/test-*.sh, or
# the ones named as arguments.  A test exits 0 (pass), 77 (skip, with the
# reason printed) or anything else (fail).  Exits non-zero if any failed.

set -u
cd "$(dirname "$0")"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test-*.sh)
pass=0 failed=() skipped=0
for t in "${tests[@]}"; do
	echo "-- ${t%.sh}"
	start=$SECONDS
	# A hung test is a failure; TERM runs its cleanup trap.
	timeout 600 bash "$t"
	rc=$?
	case $rc in
	0) pass=$((pass + 1)); echo "   pass ($((SECONDS - start)) s)" ;;
	77) skipped=$((skipped + 1)) ;;
	*) failed+=("${t%.sh}") ;;
	esac
done
echo "integration: $pass passed, $skipped skipped, ${#failed[@]} failed${failed:+: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
