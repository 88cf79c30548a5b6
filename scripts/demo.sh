#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# demo.sh - what `make demo` shows: a private veth pair in two network
# namespaces, a mix of generated traffic on it (IPv4, IPv6, VLAN, TCP, UDP,
# ICMP), the packetvelocity viewer watching it live, then pcv-record
# storing it and pcv-cat reading it back.  Nothing leaves
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
echo "demo: now the recorder: pcv-record -i vb -o STORE   (in $NS-b)"
STORE=$TMP/store
"$TOP/scripts/netns.sh" exec $NS b "$BUILD/bin/pcv-record" -i vb -o "$STORE" \
	-q 2>"$TMP/rec" &
rec=$!
for _ in $(seq 100); do
	grep -q "recording" "$TMP/rec" 2>/dev/null && break
	sleep 0.05
done
"$TOP/scripts/netns.sh" exec $NS a "$BUILD/tools/pcv-gen" -i va -n 20000 \
	2>/dev/null
sleep 1.5
echo "demo: 20000 frames sent; pcv-record stops on SIGINT:"
kill -INT $(ip netns pids $NS-b)
wait $rec || true
sed -n 's/^pcv-record: //p' "$TMP/rec"
echo
echo "demo: the store ($(du -sh "$STORE" | cut -f1)):"
ls -l "$STORE" | tail -n +2
echo
echo "demo: pcv-fsck $STORE"
"$BUILD/bin/pcv-fsck" "$STORE" | sed 's/^/  /'
echo
echo "demo: read it back: pcv-cat STORE | tcpdump -nqr - 'vlan and udp' | head -5"
"$BUILD/bin/pcv-cat" "$STORE" 2>/dev/null | tcpdump -nqer - 'vlan and udp' 2>/dev/null |
	head -5 || true
echo
echo "demo: any segment is plain zstd-compressed pcap:"
seg=$(ls "$STORE"/*.pcap.zst | head -1)
echo "  zstdcat ${seg##*/} | tcpdump -nr - | wc -l"
echo "  $(zstdcat "$seg" | tcpdump -nr - 2>/dev/null | wc -l) packets"
echo
echo "demo: ask it a question: pcv-query -d STORE 'udp port 53 since 10m' | tcpdump -nr -"
"$BUILD/bin/pcv-query" -d "$STORE" 'udp port 53 since 10m' 2>/dev/null |
	tcpdump -nr - 2>/dev/null | head -3 || true
echo "  $("$BUILD/bin/pcv-query" -d "$STORE" --count 'udp port 53 since 10m') packets;" \
	"tcpdump over everything finds" \
	"$(zstdcat "$seg" | tcpdump -r - --count 'udp port 53' 2>/dev/null | awk '{print $1}')"
echo "  the plan (pcv-query --explain): $("$BUILD/bin/pcv-query" -d "$STORE" --explain \
	'udp port 53 since 10m' | tail -1)"
echo "  the flows (pcv-query --flows 'udp port 53', first 3):"
"$BUILD/bin/pcv-query" -d "$STORE" --flows 'udp port 53' | head -3 | sed 's/^/    /' || true
echo
echo "demo: retention, from cron: pcv-rotate STORE --max-size 1MiB --dry-run"
"$BUILD/bin/pcv-rotate" "$STORE" --max-size 1MiB --dry-run 2>&1 | tail -1 | sed 's/^/  /'
