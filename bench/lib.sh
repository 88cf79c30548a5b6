# SPDX-License-Identifier: MIT
# lib.sh - sourced by the bench/*.sh scripts.

# best_ns RUNS CMD...: the shortest wall-clock time of RUNS runs of CMD
# (its output discarded), in nanoseconds.  A script that defines
# before_run() has it called before each run (to remove what the last
# one wrote, say).
best_ns() {
	local n=$1 b=0 t s k
	shift
	for ((k = 0; k < n; k++)); do
		if declare -F before_run >/dev/null; then before_run; fi
		s=$(date +%s%N)
		"$@" >/dev/null 2>&1
		t=$(($(date +%s%N) - s))
		if [ "$b" -eq 0 ] || [ "$t" -lt "$b" ]; then b=$t; fi
	done
	echo "$b"
}

# calc EXPR [DECIMALS]: floating point, through awk (2 decimals).
calc() {
	awk "BEGIN { printf \"%.${2:-2}f\", $1 }"
}
