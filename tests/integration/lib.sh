# SPDX-License-Identifier: MIT
# lib.sh - sourced by every tests/integration/test-*.sh.
#
# A test prints what it checks, calls fail() on the first wrong result and
# skip() when something it needs is missing; it exits 0 when all is well.
# Namespaces made with netns_up are removed on exit, pass or fail.

set -eu

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
BIN=$BUILD/bin
TOOLS=$BUILD/tools
PCV_CORPUS=${PCV_CORPUS:-$TOP/../shared/corpus}
TEST=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/pcv-$TEST.XXXXXX")
NETNS_PREFIXES=""

cleanup() {
	for p in $NETNS_PREFIXES; do
		# a test that failed may leave processes running in them
		kill -9 $(ip netns pids "$p-a" 2>/dev/null) \
			$(ip netns pids "$p-b" 2>/dev/null) 2>/dev/null || true
		"$TOP/scripts/netns.sh" down "$p" >/dev/null 2>&1 || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "FAIL $TEST: $*" >&2
	exit 1
}

skip() {
	echo "SKIP $TEST: $*"
	exit 77
}

ok() {
	echo "  ok: $*"
}

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
}

# netns_up PREFIX [--queues N]: namespaces PREFIX-a/-b, veth va/vb.
netns_up() {
	need_root
	NETNS_PREFIXES="$NETNS_PREFIXES $1"
	"$TOP/scripts/netns.sh" up "$@" >/dev/null
}

in_ns() {
	"$TOP/scripts/netns.sh" exec "$@"
}

# wait_file FILE [SECONDS]: wait until FILE exists.
wait_file() {
	local n=$(( ${2:-10} * 20 ))
	while [ ! -e "$1" ]; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "timed out waiting for $1"
		sleep 0.05
	done
}

# field NAME LINE: the value of NAME=VALUE in a pcv-capture stats line.
field() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# same_frames A.pcap B.pcap: identical frames, timestamps aside.
same_frames() {
	cmp -s <(tcpdump -r "$1" -nn -t -xx 2>/dev/null) \
		<(tcpdump -r "$2" -nn -t -xx 2>/dev/null)
}

# frames FILE.pcap: one line of hex per frame, timestamps aside.
frames() {
	tcpdump -r "$1" -nn -t -xx 2>/dev/null | awk '
		/^\t0x/ { sub(/^\t0x[0-9a-f]+:[ ]+/, ""); gsub(/ /, ""); cur = cur $0; next }
		{ if (started) print cur; cur = ""; started = 1 }
		END { if (started) print cur }'
}
