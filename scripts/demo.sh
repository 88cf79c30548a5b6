#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - what `make demo` shows: a private veth pair in two network
# namespaces, a mix of generated traffic on it (IPv4, IPv6, VLAN, TCP, UDP,
# ICMP), and the packetvelocity viewer watching it live.  Nothing leaves
# the namespaces, and they are removed at the end, also on failure.
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
NS=pvdemo
TMP=$(mktemp -d /tmp/pcv-demo.XXXXXX)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root to create network namespaces; instead, reading a file:"
	"$BUILD/tools/pcv-gen" -o "$TMP/demo.pcap" -n 24 2>/dev/null
	"$BUILD/bin/packetvelocity" -r "$TMP/demo.pcap" -v
	rm -rf "$TMP"
	exit 0
fi

cleanup() {
	"$TOP/scripts/netns.sh" down $NS >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

# wait_viewer ERRFILE: until the viewer says it is capturing.
wait_viewer() {
	for _ in $(seq 100); do
		grep -q "capturing on" "$1" 2>/dev/null && return
		sleep 0.05
	done
}

"$TOP/scripts/netns.sh" up $NS >/dev/null
echo "demo: namespaces $NS-a and $NS-b joined by veth va <-> vb"
echo "demo: packetvelocity -i vb -v --packet-num 24   (in $NS-b)"
echo
"$TOP/scripts/netns.sh" exec $NS b "$BUILD/bin/packetvelocity" -i vb -v -I \
	--packet-num 24 --seconds-num 20 2>"$TMP/err" &
viewer=$!
wait_viewer "$TMP/err"
"$TOP/scripts/netns.sh" exec $NS a "$BUILD/tools/pcv-gen" -i va -n 24 \
	--rate 50 2>/dev/null
wait $viewer
echo
cat "$TMP/err"
echo
echo "demo: a summary of 20000 frames at full speed:"
"$TOP/scripts/netns.sh" exec $NS b "$BUILD/bin/packetvelocity" -i vb \
	--seconds-num 3 >"$TMP/sum" 2>"$TMP/err" &
viewer=$!
wait_viewer "$TMP/err"
"$TOP/scripts/netns.sh" exec $NS a "$BUILD/tools/pcv-gen" -i va -n 20000 \
	2>/dev/null
wait $viewer
cat "$TMP/sum"
tail -1 "$TMP/err"
