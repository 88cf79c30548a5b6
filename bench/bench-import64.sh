#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-import64.sh - import rate of minimum-size packets: pcv-record -r
# (segments + index) of 3,000,000 generated 60-64-byte IPv4/UDP frames,
# beside peers in the same run: `zstd -1` compressing the same file whole
# and `tcpdump -r IN -w OUT` copying it.  Best of 3 wall-clock runs each,
# the file in the page cache.  Goal: >= 3 Mpps into segments plus index.
# Fails unless the store holds exactly the 3,000,000 packets.
# Run by `make bench` (bench/run.sh); BUILD defaults to build.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
before_run() { rm -rf "$TMP/out" "$TMP/st"; }
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
N=3000000
TMP=$(mktemp -d /tmp/pcv-bench-import64.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
IN=$TMP/in.pcap



# check WHAT: the store in $TMP/st (left by the last timed run) holds
# exactly N packets, in its blocks and in its flow rows.
check() {
	local blk flo
	blk=$(sqlite3 -readonly "$TMP/st/index.sqlite" \
		'SELECT sum(npkts) FROM blocks' 2>&1 || true)
	flo=$(sqlite3 -readonly "$TMP/st/index.sqlite" \
		'SELECT sum(pkts) FROM flows' 2>&1 || true)
	if [ "$blk" != $N ] || [ "$flo" != $N ]; then
		echo "bench-import64: FAILED: $1 stored ${blk:-no} packets" \
			"in blocks, ${flo:-no} in flow rows, not $N" >&2
		exit 1
	fi
}

# Frames of 60-64 bytes without FCS (64-68 on the wire): IPv4/UDP only,
# since `--mix udp` also makes IPv6, whose frames need 66 bytes.
"$BUILD/tools/pcv-gen" -o "$IN" -n $N --mix ipv4,udp \
	--min-size 60 --max-size 64 2>/dev/null
size=$(stat -c %s "$IN")
cat "$IN" >/dev/null
t_rec3=$(best_ns 3 "$BUILD/bin/pcv-record" -q -r "$IN" -o "$TMP/st")
check "pcv-record (level 3)"
t_rec1=$(best_ns 3 "$BUILD/bin/pcv-record" -q -z 1 -r "$IN" -o "$TMP/st")
check "pcv-record -z 1"
t_z1=$(best_ns 3 sh -c "zstd -1 -q -c '$IN' > '$TMP/out'")
t_td=$(best_ns 3 tcpdump -r "$IN" -w "$TMP/out")
[ "$(stat -c %s "$TMP/out")" = "$size" ] ||
	{ echo "bench-import64: FAILED: tcpdump -w wrote a different file" >&2; exit 1; }

sec() { calc "$1 / 1e9" 3; }
mpps() { calc "$N / ($1 / 1e9) / 1e6"; }
echo "bench-import64: $N frames of 60-64 bytes (IPv4/UDP), $size bytes, best of 3"
printf '  %-36s %8s %6s %6s  %s\n' run seconds Mpps MB/s ratio
for r in "pcv-record (level 3, the default):$t_rec3" "pcv-record -z 1:$t_rec1"; do
	t=${r##*:}
	printf '  %-36s %8s %6s %6s  %s\n' "${r%%:*}" "$(sec "$t")" "$(mpps "$t")" \
		"$(calc "$size / ($t / 1e9) / 1e6" 0)" \
		"$(calc "$N / ($t / 1e9) / 3e6") x 3 Mpps, $(calc "$t_z1 / $t") x zstd -1's rate"
done
for r in "zstd -1:$t_z1" "tcpdump -r -w:$t_td"; do
	t=${r##*:}
	printf '  %-36s %8s %6s %6s\n' "${r%%:*}" "$(sec "$t")" "$(mpps "$t")" \
		"$(calc "$size / ($t / 1e9) / 1e6" 0)"
done
echo "  stored: $N packets in blocks and flow rows, at both levels"
