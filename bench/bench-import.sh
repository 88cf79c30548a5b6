#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-import.sh - import throughput and bytes on disk, beside peers in
# the same run: pcv-record -r (segments + index) against `zstd -1` and
# `zstd -3` compressing the same file whole, and `tcpdump -r IN -w OUT`
# copying it.  Best of 5 wall-clock runs each, the file in the page cache.
# Run by `make bench` (bench/run.sh); BUILD defaults to build.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
before_run() { rm -rf "$TMP/out" "$TMP/st"; }
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PCV_CORPUS=${PCV_CORPUS:-$TOP/../shared/corpus}
IN=${1:-$PCV_CORPUS/mixed-small.pcap}
[ -f "$IN" ] || { echo "bench-import: skipped: corpus not found at $IN"; exit 0; }
TMP=$(mktemp -d /tmp/pcv-bench-import.XXXXXX)
trap 'rm -rf "$TMP"' EXIT



size=$(stat -c %s "$IN")
cat "$IN" >/dev/null
t_rec1=$(best_ns 5 "$BUILD/bin/pcv-record" -q -z 1 -r "$IN" -o "$TMP/st")
t_rec3=$(best_ns 5 "$BUILD/bin/pcv-record" -q -z 3 -r "$IN" -o "$TMP/st")
t_z1=$(best_ns 5 sh -c "zstd -1 -q -c '$IN' > '$TMP/out'")
t_z3=$(best_ns 5 sh -c "zstd -3 -q -c '$IN' > '$TMP/out'")
t_td=$(best_ns 5 tcpdump -r "$IN" -w "$TMP/out")
"$BUILD/bin/pcv-record" -q -z 3 -r "$IN" -o "$TMP/st" 2>/dev/null
seg=$(cat "$TMP"/st/*.pcap.zst | wc -c)
idx=$(stat -c %s "$TMP/st/index.sqlite")
z3=$(zstd -3 -q -c "$IN" | wc -c)

sec() { calc "$1 / 1e9" 3; }
mbs() { calc "$size / ($1 / 1e9) / 1e6" 0; }
echo "bench-import: ${IN##*/}, $size bytes, best of 5"
printf '  %-36s %8s %6s  %s\n' run seconds MB/s ratio
printf '  %-36s %8s %6s  %s\n' "pcv-record -z 1 (segments + index)" \
	"$(sec "$t_rec1")" "$(mbs "$t_rec1")" "$(calc "$t_z1 / $t_rec1") x zstd -1's throughput"
printf '  %-36s %8s %6s  %s\n' "pcv-record -z 3 (the default)" \
	"$(sec "$t_rec3")" "$(mbs "$t_rec3")" "$(calc "$t_z3 / $t_rec3") x zstd -3's throughput"
for r in "zstd -1:$t_z1" "zstd -3:$t_z3" "tcpdump -r -w:$t_td"; do
	printf '  %-36s %8s %6s\n' "${r%%:*}" "$(sec "${r##*:}")" "$(mbs "${r##*:}")"
done
echo "  bytes on disk: segments $seg + index $idx = $((seg + idx));" \
	"zstd -3 of the whole file $z3: $(calc "($seg + $idx) / $z3" 3) x"
