#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-blocksize.sh - the block size trade-off: pcv-record -r of the
# corpus file into a new store at each --block-size from 64KiB to 16MiB;
# for each, the compression ratio and bytes on disk, the import time (best
# of 5 wall-clock runs, the file in the page cache), and the compressed
# bytes that selective queries must read, from the index.
#
# Queries, chosen by SQL in the default (1MiB) store and found by their
# key (addresses, ports, protocol, VLAN) in every store: the flow with the
# most packets; the flow that holds the median packet (flows in order of
# size); the single-packet flow in the middle of the capture; and the host
# with the most packets.  A query reads the blocks in the block range of
# its exact flow rows ("own blocks"); the planner's rule
# (docs/index-schema.md) adds the ranges of the coarse rows that may match
# it ("with coarse rows").  Fractions are of the store's compressed blocks.
# Run by `make bench` (bench/run.sh); BUILD defaults to build.
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
before_run() { rm -rf "$TMP/st"; }
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PCV_CORPUS=${PCV_CORPUS:-$TOP/../shared/corpus}
IN=${1:-$PCV_CORPUS/mixed-small.pcap}
[ -f "$IN" ] || { echo "bench-blocksize: skipped: corpus not found at $IN"; exit 0; }
TMP=$(mktemp -d /tmp/pcv-bench-blocksize.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
SIZES="64KiB 256KiB 1MiB 4MiB 16MiB"
REF=1MiB



# sql BLOCKSIZE QUERY: run QUERY on that store's index, '|'-separated.
sql() {
	sqlite3 -readonly -batch -noheader "$TMP/st-$1/index.sqlite" "$2"
}

# addr HEX: an address blob (hex) as text.
addr() {
	awk -v h="$1" '
	function hx(s,  i, v) {
		v = 0
		for (i = 1; i <= length(s); i++)
			v = v * 16 + index("0123456789ABCDEF", substr(s, i, 1)) - 1
		return v
	}
	BEGIN {
		if (length(h) == 8) {
			printf "%d.%d.%d.%d", hx(substr(h, 1, 2)), hx(substr(h, 3, 2)),
				hx(substr(h, 5, 2)), hx(substr(h, 7, 2))
			exit
		}
		for (i = 1; i <= length(h); i += 4)
			printf "%s%x", (i > 1 ? ":" : ""), hx(substr(h, i, 4))
	}'
}

size=$(stat -c %s "$IN")
cat "$IN" >/dev/null
declare -A T
for bs in $SIZES; do
	T[$bs]=$(best_ns 5 "$BUILD/bin/pcv-record" -q --block-size "$bs" -r "$IN" -o "$TMP/st")
	mv "$TMP/st" "$TMP/st-$bs"
	[ -f "$TMP/st-$bs/index.sqlite" ] ||
		{ echo "bench-blocksize: FAILED: no store at --block-size $bs" >&2; exit 1; }
done

# Every store holds the same packets, and its flow rows count them all.
npkts=$(sql $REF 'SELECT sum(npkts) FROM blocks')
for bs in $SIZES; do
	n=$(sql "$bs" 'SELECT (SELECT sum(npkts) FROM blocks) || " " || (SELECT sum(pkts) FROM flows)')
	[ "$n" = "$npkts $npkts" ] || {
		echo "bench-blocksize: FAILED: --block-size $bs: blocks and flow rows count $n packets, not $npkts" >&2
		exit 1
	}
done

# The queries, five fields each: name, label, packets, the condition on
# its exact rows, the condition on the coarse rows that may match it.
# Exact flows are rows of one key in every segment; coarse rows may match
# a flow query unless their EtherType is a real non-IP one, their family
# another, their proto another, or (for a tagged flow) their VLAN another;
# a host query, unless their EtherType is a non-IP one other than ARP and
# RARP or their family another (docs/index-schema.md, the planner's rule).
KEY='family, proto, vlan, addr_lo, addr_hi, port_lo, port_hi'
SEL='family, proto, vlan, hex(addr_lo), hex(addr_hi), port_lo, port_hi, pkts'
ORD='hex(addr_lo), hex(addr_hi), port_lo, port_hi, proto, vlan, family'
FLOWS="WITH k AS (SELECT $KEY, sum(pkts) AS pkts, min(first_ns) AS t
	FROM flows WHERE coarse = 0 GROUP BY $KEY)"
Q=()
flowq() { # NAME SQL-SELECTING-ONE-KEY
	local f p v lo hi plo phi n pn
	IFS='|' read -r f p v lo hi plo phi n <<<"$(sql $REF "$2")"
	[ -n "$n" ] || { echo "bench-blocksize: FAILED: no flow for $1" >&2; exit 1; }
	case $p in 6) pn=tcp ;; 17) pn=udp ;; 1) pn=icmp ;; 58) pn=icmp6 ;; *) pn="proto $p" ;; esac
	[ "$v" = 0 ] || pn="$pn vlan $v"
	Q+=("$1" "$pn $(addr "$lo"):$plo <-> $(addr "$hi"):$phi" "$n"
		"f.coarse = 0 AND f.family = $f AND f.proto = $p AND f.vlan = $v
		 AND f.addr_lo = X'$lo' AND f.addr_hi = X'$hi'
		 AND f.port_lo = $plo AND f.port_hi = $phi"
		"f.coarse > 0 AND (f.vlan IS NULL OR $v = 0 OR f.vlan = $v)
		 AND (f.family IS NULL
		      OR (f.family = 0 AND (f.ethertype < 1536 OR f.ethertype IN (2048, 34525)))
		      OR (f.family = $f AND (f.proto IS NULL OR f.proto = $p)))")
}
flowq "heaviest flow" "$FLOWS SELECT $SEL FROM k ORDER BY pkts DESC, $ORD LIMIT 1"
flowq "median-packet flow" "$FLOWS, c AS (SELECT *,
	sum(pkts) OVER (ORDER BY pkts, $ORD) AS cum, sum(pkts) OVER () AS tot FROM k)
	SELECT $SEL FROM c WHERE 2 * cum >= tot ORDER BY cum LIMIT 1"
flowq "single-packet flow" "$FLOWS SELECT $SEL FROM k WHERE pkts = 1
	ORDER BY t, $ORD LIMIT 1 OFFSET (SELECT count(*) / 2 FROM k WHERE pkts = 1)"
IFS='|' read -r f h n <<<"$(sql $REF "WITH h AS (
	SELECT family, addr_lo AS a, pkts FROM flows WHERE coarse = 0 UNION ALL
	SELECT family, addr_hi, pkts FROM flows WHERE coarse = 0 AND addr_hi <> addr_lo)
	SELECT family, hex(a), sum(pkts) AS n FROM h GROUP BY family, a
	ORDER BY n DESC, hex(a) LIMIT 1")"
Q+=("busiest host" "host $(addr "$h")" "$n"
	"f.coarse = 0 AND (f.addr_lo = X'$h' OR f.addr_hi = X'$h')"
	"f.coarse > 0 AND (f.family IS NULL OR f.family = $f
	      OR (f.family = 0 AND (f.ethertype < 1536
	                            OR f.ethertype IN (2048, 34525, 2054, 32821))))")

# reads BLOCKSIZE COND: "blocks bytes" of the blocks in the block range of
# a flow row meeting COND.
reads() {
	sql "$1" "WITH r AS MATERIALIZED (SELECT segment_id, first_block, last_block
		FROM flows f WHERE $2)
		SELECT count(*) || ' ' || coalesce(sum(comp_size), 0) FROM blocks b
		WHERE EXISTS (SELECT 1 FROM r WHERE r.segment_id = b.segment_id
		AND b.seq BETWEEN r.first_block AND r.last_block)"
}

echo "bench-blocksize: ${IN##*/}, $size bytes, $npkts packets; import best of 5"
printf '  %-7s %6s %8s %5s %6s %10s %9s %8s\n' block blocks seconds MB/s ratio \
	segments index 'time/1MiB'
for bs in $SIZES; do
	IFS='|' read -r nb comp raw <<<"$(sql "$bs" 'SELECT count(*), sum(comp_size), sum(raw_size) FROM blocks')"
	seg=$(cat "$TMP/st-$bs"/*.pcap.zst | wc -c)
	printf '  %-7s %6s %8s %5s %6s %10s %9s %8s\n' "$bs" "$nb" \
		"$(calc "${T[$bs]} / 1e9" 3)" "$(calc "$size / (${T[$bs]} / 1e9) / 1e6" 0)" \
		"$(calc "$raw / $comp" 3)" "$seg" "$(stat -c %s "$TMP/st-$bs/index.sqlite")" \
		"$(calc "${T[$bs]} / ${T[$REF]}")"
done
echo "  (ratio: raw / compressed bytes of the blocks; segments, index: bytes on disk)"

for ((i = 0; i < ${#Q[@]}; i += 5)); do
	echo "  q$((i / 5 + 1)) ${Q[i]}: ${Q[i + 1]}, ${Q[i + 2]} packets"
done
printf '  %-7s' block
for ((i = 0; i < ${#Q[@]}; i += 5)); do
	printf ' %-34s' "q$((i / 5 + 1)) own blocks (with coarse rows)"
done
echo
for bs in $SIZES; do
	comp=$(sql "$bs" 'SELECT sum(comp_size) FROM blocks')
	nb=$(sql "$bs" 'SELECT count(*) FROM blocks')
	printf '  %-7s' "$bs"
	for ((i = 0; i < ${#Q[@]}; i += 5)); do
		n=$(sql "$bs" "SELECT sum(pkts) FROM flows f WHERE ${Q[i + 3]}")
		[ "$n" = "${Q[i + 2]}" ] || {
			echo
			echo "bench-blocksize: FAILED: --block-size $bs: ${Q[i]} has ${n:-no} packets, not ${Q[i + 2]}" >&2
			exit 1
		}
		read -r ob ox <<<"$(reads "$bs" "${Q[i + 3]}")"
		read -r _ cx <<<"$(reads "$bs" "(${Q[i + 3]}) OR (${Q[i + 4]})")"
		printf ' %-34s' "$ox $(calc "100 * $ox / $comp")% ${ob}/${nb} ($(calc "100 * $cx / $comp" 1)%)"
	done
	echo
done
echo "  (bytes: compressed bytes read, % of the store's, blocks read / blocks)"
