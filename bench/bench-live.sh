#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-live.sh - live capture cost on a veth pair in private namespaces:
# pcv-gen sends N 64-byte frames as fast as it can from one side, while
# nothing, pcv-record -b afxdp, pcv-record -b afpacket, or tcpdump -w
# captures on the other.  For each: the rate pcv-gen reached ÷ its rate
# with nothing attached, the frames stored (loss), the capturing process's
# CPU seconds per million frames, and those of its capture threads alone
# (pcv-record's "pcv-cap/N": the backend and the hand-over to the writer,
# without compression and indexing).  Best rate of 3 runs each.
#
# A reference row: an XDP program that drops everything (xdp-drop.bpf.c),
# the most an XDP-based capture can keep of the sender's rate here.
#
# veth shows relative cost, not a NIC's zero-copy rates: the kernel
# copies into the AF_XDP UMEM, and sender and receiver share two cores.
# Needs root (namespaces); skips otherwise.  BUILD defaults to build.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
N=${PCV_BENCH_FRAMES:-1000000}
NS=pvbench
[ "$(id -u)" -eq 0 ] || { echo "bench-live: skipped: needs root"; exit 0; }
command -v tcpdump >/dev/null || { echo "bench-live: skipped: no tcpdump"; exit 0; }
TMP=$(mktemp -d /tmp/pcv-bench-live.XXXXXX)
cleanup() {
	"$TOP/scripts/netns.sh" down $NS >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT
"$TOP/scripts/netns.sh" up $NS >/dev/null
in_ns() { "$TOP/scripts/netns.sh" exec $NS "$@"; }

# send: pcv-gen's rate in frames/s for N frames.
send() {
	in_ns a "$BUILD/tools/pcv-gen" -i va -n "$N" --mix ipv4,udp \
		--min-size 60 --max-size 60 2>&1 |
		awk '/sent/ { for (i = 1; i <= NF; i++) if ($i == "in") t = $(i + 1)
			      print int($3 / t) }'
}

# thread_cpu PATTERN: CPU seconds of the threads in namespace b whose
# name matches PATTERN (a case pattern).
thread_cpu() {
	local p t
	for p in $(ip netns pids $NS-b); do
		for t in /proc/"$p"/task/*; do
			# shellcheck disable=SC2254
			case $(cat "$t/comm" 2>/dev/null) in
			$1) awk '{ print $14 + $15 }' "$t/stat" ;;
			esac
		done
	done | awk -v hz="$(getconf CLK_TCK)" '{ s += $1 } END { print s / hz }'
}

# run NAME CMD...: start CMD in namespace b, send, stop it; prints
# "rate stored cpu_seconds capture_thread_seconds".  CMD must stop on
# SIGINT and print what it stored on stderr.
run() {
	local name=$1 rate cpu stored cap
	shift
	rm -rf "$TMP/out" "$TMP/err" "$TMP/time"
	in_ns b /usr/bin/time -f '%U %S' -o "$TMP/time" "$@" 2>"$TMP/err" &
	sleep 1.5
	rate=$(send)
	sleep 0.5
	case $name in
	tcpdump) cap=$(thread_cpu tcpdump) ;;
	*) cap=$(thread_cpu 'pcv-cap/*') ;;
	esac
	# time(1) ignores SIGINT while its child runs: the capture stops
	kill -INT $(ip netns pids $NS-b)
	wait
	cpu=$(awk '{ print $1 + $2 }' "$TMP/time")
	case $name in
	tcpdump) stored=$(tcpdump -r "$TMP/out" --count 2>/dev/null | awk '{print $1}') ;;
	*) stored=$(sed -n 's/.* received, \([0-9]*\) stored.*/\1/p' "$TMP/err") ;;
	esac
	echo "$rate ${stored:-0} $cpu $cap"
}

# best NAME CMD...: the run with the highest send rate of 3.
best() {
	local b="" r
	for _ in 1 2 3; do
		r=$(run "$@")
		if [ -z "$b" ] || [ "${r%% *}" -gt "${b%% *}" ]; then b=$r; fi
	done
	echo "$b"
}

base=0
for _ in 1 2 3; do
	r=$(send)
	[ "$r" -gt "$base" ] && base=$r
done
echo "bench-live: $N frames of 64 bytes (60 + FCS) per run, veth in namespaces, best of 3"
printf '  %-26s %10s %7s %9s %6s %12s %12s\n' capture "frames/s" ratio stored loss \
	"CPU s/Mpkt" "capture thr"
printf '  %-26s %10s %7s\n' "nothing attached" "$base" "1.00"
# An XDP program that drops everything: XDP's own cost on this interface.
CLANG=${CLANG:-clang}
if "$CLANG" -O2 -target bpf -I"/usr/include/$(${CC:-cc} -dumpmachine)" \
	-c "$TOP/bench/xdp-drop.bpf.c" -o "$TMP/drop.o" 2>/dev/null; then
	for mode in xdp xdpgeneric; do
		in_ns b ip link set dev vb $mode obj "$TMP/drop.o" sec xdp
		r=0
		for _ in 1 2 3; do
			x=$(send)
			[ "$x" -gt "$r" ] && r=$x
		done
		in_ns b ip link set dev vb $mode off
		printf '  %-26s %10s %7s\n' "XDP_DROP only ($([ $mode = xdp ] && echo native || echo generic))" \
			"$r" "$(awk "BEGIN { printf \"%.2f\", $r / $base }")"
	done
fi
for c in afxdp afpacket tcpdump; do
	case $c in
	tcpdump) r=$(best tcpdump tcpdump -i vb -w "$TMP/out" -B 65536 -q) ;;
	*) r=$(best $c "$BUILD/bin/pcv-record" -b $c -i vb -o "$TMP/out" -q) ;;
	esac
	read -r rate stored cpu cap <<<"$r"
	printf '  %-26s %10s %7s %9s %6s %12s %12s\n' \
		"$([ $c = tcpdump ] && echo 'tcpdump -w' || echo "pcv-record -b $c")" \
		"$rate" "$(awk "BEGIN { printf \"%.2f\", $rate / $base }")" \
		"$stored" "$((N - stored))" \
		"$(awk "BEGIN { printf \"%.3f\", $cpu / ($N / 1e6) }")" \
		"$(awk "BEGIN { printf \"%.3f\", $cap / ($N / 1e6) }")"
done
