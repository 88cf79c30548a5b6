#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-query.sh - query latency on a store of at least 5 GiB, beside a
# full scan in the same run: pcv-query against every segment decompressed
# through tcpdump with the same filter,
#   for s in STORE/*.pcap.zst; do zstdcat $s | tcpdump -r - -w - EXPR; done
# (one tcpdump per segment: each segment is a pcap file with its own
# header, so `zstdcat STORE/*.pcap.zst | tcpdump -r -` would stop at the
# second one).  Both sides write pcap to /dev/null; best of 5 wall-clock
# runs for pcv-query, best of 3 for the scan, the store in the page cache.
# Goal: a selective query under 50 ms and at least 100 x faster than the
# scan.
#
# The store: the corpus file replayed COPIES times by tests/tools/pcv-shift,
# its gaps cut to 10 ms (a copy then spans about 8 minutes), copy i
# starting at 2026-01-01T00:00:00Z + i x 10 minutes; odd copies get their
# own IPv4 hosts (the second address byte XORed with i mod 256), even ones
# keep the corpus's.  The copies go to one `pcv-record -r -` as a single
# stream, cut into segments by size like a long recording.
#
# The queries, chosen from the store's own index: the busiest host and
# port of one odd copy's own hosts (over the whole store), the busiest
# host and port of the store, the busiest TCP flow of one even copy in a
# 10-minute window (its hosts are in every even copy: the window does the
# selecting; tcpdump's filter cannot say it, so the scan returns the flow
# in every even copy), a /16 net and a port that each hold about 2 % of
# the packets, and `tcp`.  Every result is checked against the scan's: the
# same packets (pcv-pcapcmp), or past 2,000,000 packets (`tcp`) the same
# count; for the window, the count of the scan's packets inside it.
#
# PCV_BENCH_STORE=DIR keeps the store in DIR and reuses it next time (a
# marker file in it says it is complete and how it was made);
# PCV_BENCH_COPIES overrides the number of copies (default: enough for
# 5 GiB of pcap).  Run by `make bench` (bench/run.sh); BUILD defaults to
# build.
set -eu -o pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
. "$TOP/bench/lib.sh"
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
PCV_CORPUS=${PCV_CORPUS:-$TOP/../shared/corpus}
IN=${1:-$PCV_CORPUS/mixed-small.pcap}
[ -f "$IN" ] || { echo "bench-query: skipped: corpus not found at $IN"; exit 0; }
for t in zstdcat tcpdump sqlite3; do
	command -v $t >/dev/null ||
		{ echo "bench-query: skipped: $t not installed"; exit 0; }
done
SHIFT=$BUILD/tools/pcv-shift
CMP=$BUILD/tools/pcv-pcapcmp
RECORD=$BUILD/bin/pcv-record
QUERY=$BUILD/bin/pcv-query
for t in "$SHIFT" "$CMP" "$RECORD" "$QUERY"; do
	[ -x "$t" ] || { echo "bench-query: FAILED: $t not built (make BUILD=...)" >&2; exit 1; }
done

GAP=10ms
STEP=600                 # seconds from one copy to the next
BASE=1767225600          # 2026-01-01T00:00:00Z
WIN=600                  # the time window of the flow query, seconds
GOAL_MS=50
GOAL_X=100
size=$(stat -c %s "$IN")
COPIES=${PCV_BENCH_COPIES:-$(((5 * 1024 * 1024 * 1024 + size - 25) / (size - 24)))}
((COPIES >= 2)) || { echo "bench-query: FAILED: PCV_BENCH_COPIES must be 2 or more" >&2; exit 1; }
SPEC="corpus=${IN##*/} bytes=$size copies=$COPIES gap=$GAP step=${STEP}s base=$BASE xor=odd"

TMP=$(mktemp -d /tmp/pcv-bench-query.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
STORE=${PCV_BENCH_STORE:-$TMP/store}
case $STORE in /*) ;; *) STORE=$PWD/$STORE ;; esac
DONE=$STORE/bench-query.done
BUSY=$STORE/bench-query.building



# sql QUERY: run QUERY on the store's index, '|'-separated.
sql() {
	sqlite3 -readonly -batch -noheader "$STORE/index.sqlite" "$1"
}

# addr HEX: an IPv4 address blob (hex) as text.
addr() {
	awk -v h="$1" 'BEGIN {
		for (i = 1; i <= 8; i += 2)
			printf "%s%d", (i > 1 ? "." : ""), \
				(index("0123456789ABCDEF", substr(h, i, 1)) - 1) * 16 \
				+ index("0123456789ABCDEF", substr(h, i + 1, 1)) - 1
	}'
}

# replay: the copies, one pcap stream on standard output (every copy's
# file header but the first cut off: they are all the same).
replay() {
	for ((i = 0; i < COPIES; i++)); do
		if ((i == 0)); then
			"$SHIFT" -g $GAP -t $((BASE + i * STEP))s "$IN" -
		else
			"$SHIFT" -g $GAP -t $((BASE + i * STEP))s \
				-x $((i % 2 ? i % 256 : 0)) "$IN" - | tail -c +25
		fi
	done
}

# ---- the store -----------------------------------------------------------

build_s=
if [ -f "$DONE" ] && [ "$(cat "$DONE")" = "$SPEC" ]; then
	build_s=reused
else
	if [ -d "$STORE" ] && [ -n "$(ls -A "$STORE")" ]; then
		[ -f "$DONE" ] || [ -f "$BUSY" ] || {
			echo "bench-query: FAILED: $STORE is not empty and not a store of ours" >&2
			exit 1
		}
		rm -rf "$STORE"
	fi
	mkdir -p "$STORE"
	echo "$SPEC" >"$BUSY"
	echo "bench-query: building the store in $STORE ($COPIES copies of ${IN##*/})" >&2
	s=$(date +%s%N)
	replay | "$RECORD" -q -r - -o "$STORE" >"$TMP/record.log" 2>&1 || {
		echo "bench-query: FAILED: the import:" >&2
		cat "$TMP/record.log" >&2
		exit 1
	}
	build_s=$(calc "($(date +%s%N) - $s) / 1e9" 1)
fi
in_pkts=$(tcpdump --count -r "$IN" 2>/dev/null | awk '{ print $1 }')
npkts=$(sql 'SELECT sum(npkts) FROM blocks')
[ "$npkts" = $((COPIES * in_pkts)) ] || {
	echo "bench-query: FAILED: the store holds ${npkts:-no} packets, not $COPIES x $in_pkts" >&2
	exit 1
}
if [ -f "$BUSY" ]; then
	mv "$BUSY" "$DONE"
fi
raw=$((COPIES * (size - 24) + 24))
segs=("$STORE"/*.pcap.zst)
seg_bytes=$(cat "${segs[@]}" | wc -c)
idx_bytes=$(du -cb "$STORE"/index.sqlite* | tail -1 | cut -f1)
nblocks=$(sql 'SELECT count(*) FROM blocks')

# ---- the queries ---------------------------------------------------------

# copy_range I: "lo hi" in ns, the ten minutes of copy I.
copy_range() {
	echo "$(((BASE + $1 * STEP) * 1000000000)) $(((BASE + ($1 + 1) * STEP) * 1000000000))"
}
ODD=$(((COPIES - 1) % 2 ? COPIES - 1 : COPIES - 2))   # the last odd copy
EVEN=$((COPIES / 2 - COPIES / 2 % 2))                 # an even copy mid-store

# The endpoints (IPv4 address, proto, port) of the untagged exact rows.
EP="WITH ep(a, proto, port, pkts, f, l) AS (
	SELECT addr_lo, proto, port_lo, pkts, first_ns, last_ns FROM flows
	 WHERE coarse = 0 AND family = 4 AND vlan = 0
	UNION ALL
	SELECT addr_hi, proto, port_hi, pkts, first_ns, last_ns FROM flows
	 WHERE coarse = 0 AND family = 4 AND vlan = 0 AND addr_hi <> addr_lo)"

NAMES=() KINDS=() EXPRS=() WHATS=()
query() { # NAME KIND EXPR WHAT
	NAMES+=("$1") KINDS+=("$2") EXPRS+=("$3") WHATS+=("$4")
}

# 1. The busiest host of odd copy ODD's own (found in no other copy),
#    with its busiest TCP or UDP port.
read -r lo hi <<<"$(copy_range $ODD)"
IFS='|' read -r a n <<<"$(sql "$EP SELECT hex(a), sum(pkts) AS n FROM ep
	GROUP BY a HAVING min(f) >= $lo AND max(l) < $hi ORDER BY n DESC, hex(a) LIMIT 1")"
[ -n "$a" ] || { echo "bench-query: FAILED: no host of copy $ODD's own" >&2; exit 1; }
IFS='|' read -r port n <<<"$(sql "$EP SELECT port, sum(pkts) AS n FROM ep
	WHERE a = X'$a' AND proto IN (6, 17) GROUP BY port ORDER BY n DESC, port LIMIT 1")"
query "host+port, 1 copy" selective "host $(addr "$a") and port $port" \
	"busiest host:port of copy $ODD's own hosts"

# 2. The busiest host and TCP or UDP port of the store.
IFS='|' read -r a port n <<<"$(sql "$EP SELECT hex(a), port, sum(pkts) AS n FROM ep
	WHERE proto IN (6, 17) GROUP BY a, port ORDER BY n DESC, hex(a), port LIMIT 1")"
query "host+port, busiest" medium "host $(addr "$a") and port $port" \
	"busiest host:port of the store"

# 3. A TCP flow of even copy EVEN in the ten minutes from a minute before
#    its first packet.  A flow row covers a segment, and a segment several
#    copies: the even copies' rows of one key are one row, so the flow is
#    found in odd copy ODD, whose rows are its own (the busiest TCP flow
#    there that lasts under 9 minutes), and moved back: its addresses
#    XORed again, its time by (ODD - EVEN) x STEP.
read -r lo hi <<<"$(copy_range $ODD)"
IFS='|' read -r alo ahi plo phi first n <<<"$(sql "SELECT hex(addr_lo), hex(addr_hi),
	port_lo, port_hi, min(first_ns), sum(pkts) AS n FROM flows
	WHERE coarse = 0 AND family = 4 AND vlan = 0 AND proto = 6
	  AND first_ns >= $lo AND last_ns < $hi
	GROUP BY addr_lo, addr_hi, port_lo, port_hi
	HAVING max(last_ns) - min(first_ns) < 540000000000
	ORDER BY n DESC, hex(addr_lo) LIMIT 1")"
[ -n "$alo" ] || { echo "bench-query: FAILED: no TCP flow in copy $ODD" >&2; exit 1; }
unxor() {
	printf '%s%02X%s' "${1:0:2}" $((0x${1:2:2} ^ ODD % 256)) "${1:4:4}"
}
w0=$((first / 1000000000 - (ODD - EVEN) * STEP - 60))
w1=$((w0 + WIN))
flow="host $(addr "$(unxor "$alo")") and host $(addr "$(unxor "$ahi")")"
flow="$flow and tcp port $plo and tcp port $phi"
query "flow, 10 min" selective "$flow and between $w0 and $w1" \
	"busiest TCP flow of copy $EVEN, $((WIN / 60)) min window"
win_name=${NAMES[-1]}

# 4. The IPv4 /16 that holds the nearest to 2 % of the packets (counted on
#    flow rows: a flow inside the net counts twice, the query tells).
IFS='|' read -r net n <<<"$(sql "$EP SELECT hex(substr(a, 1, 2)), sum(pkts) AS n FROM ep
	GROUP BY substr(a, 1, 2) ORDER BY abs(n - $npkts / 50), 1 LIMIT 1")"
query "net /16" medium "net $(addr "${net}0000")/16" "a /16 with ~2 % of the packets"

# 5. The TCP or UDP port with the nearest to 2 % of the packets (not 0:
#    the port of non-first fragments in the index, never matched by pcap).
IFS='|' read -r proto port n <<<"$(sql "$EP SELECT proto, port, sum(pkts) AS n FROM ep
	WHERE proto IN (6, 17) AND port <> 0 GROUP BY proto, port
	ORDER BY abs(n - $npkts / 50), 1, 2 LIMIT 1")"
query "port" medium "$([ "$proto" = 6 ] && echo tcp || echo udp) port $port" \
	"a port with ~2 % of the packets"

# 6. Broad.
query "tcp" broad "tcp" "every TCP packet"

# ---- running them --------------------------------------------------------

# scan EXPR: every segment through zstdcat and tcpdump, pcap on stdout
# (one file per segment, one after the other).
scan() {
	local s
	for s in "${segs[@]}"; do
		zstdcat -q "$s" | tcpdump -r - -w - "$1" 2>/dev/null
	done
}

# scan_to EXPR FILE: the same, as one pcap file.
scan_to() {
	local first=1 s
	for s in "${segs[@]}"; do
		if ((first)); then
			zstdcat -q "$s" | tcpdump -r - -w - "$1" 2>/dev/null
		else
			zstdcat -q "$s" | tcpdump -r - -w - "$1" 2>/dev/null | tail -c +25
		fi
		first=0
	done >"$2"
}

# scan_count EXPR: how many packets the scan keeps.
scan_count() {
	local n=0 c s
	for s in "${segs[@]}"; do
		c=$(zstdcat -q "$s" | tcpdump --count -r - "$1" 2>/dev/null | awk '{ print $1 }')
		n=$((n + c))
	done
	echo $n
}

# in_window FILE: the packets of FILE from w0 (included) to w1 (excluded).
in_window() {
	tcpdump -tt -n -q -r "$1" 2>/dev/null |
		awk -v a=$w0 -v b=$w1 '/^[0-9]+\.[0-9]+ / {
			split($1, t, "."); if (t[1] + 0 >= a && t[1] + 0 < b) n++
		} END { print n + 0 }'
}

cat "${segs[@]}" "$STORE"/index.sqlite* >/dev/null
fail=0
declare -a TP TS NP NS PLAN
for ((i = 0; i < ${#NAMES[@]}; i++)); do
	e=${EXPRS[i]}
	echo "bench-query: ${NAMES[i]}: $e" >&2
	if ! "$QUERY" -d "$STORE" --explain "$e" >"$TMP/plan" 2>&1; then
		echo "bench-query: FAILED: pcv-query --explain '$e':" >&2
		cat "$TMP/plan" >&2
		exit 1
	fi
	PLAN[i]=$(grep '^total:' "$TMP/plan" | sed 's/^total: //')
	if [ "${NAMES[i]}" = "$win_name" ]; then
		sexpr=$flow
	else
		sexpr=$e
	fi
	# Check first (this also warms both sides up): the same packets.
	n=$("$QUERY" -d "$STORE" --count "$e") || {
		echo "bench-query: FAILED: pcv-query --count '$e'" >&2
		exit 1
	}
	NP[i]=$n
	if ((n > 2000000)); then
		NS[i]=$(scan_count "$sexpr")
		[ "${NS[i]}" = "$n" ] || {
			echo "bench-query: FAILED: '$e': pcv-query counts $n packets, the scan ${NS[i]}" >&2
			fail=1
		}
	else
		"$QUERY" -d "$STORE" -w "$TMP/pcv.pcap" "$e"
		scan_to "$sexpr" "$TMP/scan.pcap"
		NS[i]=$(tcpdump --count -r "$TMP/scan.pcap" 2>/dev/null | awk '{ print $1 }')
		if [ "${NAMES[i]}" = "$win_name" ]; then
			want=$(in_window "$TMP/scan.pcap")
			[ "$want" = "$n" ] || {
				echo "bench-query: FAILED: '$e': pcv-query counts $n packets, the scan $want in the window" >&2
				fail=1
			}
		elif ! "$CMP" "$TMP/pcv.pcap" "$TMP/scan.pcap" >"$TMP/cmp" 2>&1; then
			echo "bench-query: FAILED: '$e': pcv-query and the scan differ: $(cat "$TMP/cmp")" >&2
			fail=1
		fi
		rm -f "$TMP/pcv.pcap" "$TMP/scan.pcap"
	fi
	TP[i]=$(best_ns 5 "$QUERY" -d "$STORE" "$e")
	TS[i]=$(best_ns 3 scan "$sexpr")
done

# ---- the table -----------------------------------------------------------

gib() { calc "$1 / 1073741824" 2; }
echo "bench-query: $COPIES copies of ${IN##*/}: $raw bytes of pcap ($(gib $raw) GiB)," \
	"$npkts packets, ${#segs[@]} segments, $nblocks blocks," \
	"$(calc "$COPIES * $STEP / 3600" 1) h"
echo "  on disk: segments $seg_bytes + index $idx_bytes = $((seg_bytes + idx_bytes))" \
	"($(gib $((seg_bytes + idx_bytes))) GiB); store" \
	"$([ "$build_s" = reused ] && echo "reused ($STORE)" || echo "built in $build_s s")"
echo "  pcv-query best of 5, scan (zstdcat | tcpdump per segment) best of 3; both write pcap to /dev/null"
printf '  %-19s %-9s %-40s %8s %8s %9s %9s %9s\n' query kind selects 'pcv ms' \
	'scan ms' 'scan/pcv' 'pcv pkts' 'scan pkts'
met=0 nsel=0
for ((i = 0; i < ${#NAMES[@]}; i++)); do
	tp=$(calc "${TP[i]} / 1e6" 1)
	x=$(calc "${TS[i]} / ${TP[i]}" 1)
	printf '  %-19s %-9s %-40s %8s %8s %9s %9s %9s\n' "${NAMES[i]}" "${KINDS[i]}" \
		"${WHATS[i]}" "$tp" "$(calc "${TS[i]} / 1e6" 0)" "$x x" "${NP[i]}" "${NS[i]}"
	[ "${KINDS[i]}" = selective ] || continue
	nsel=$((nsel + 1))
	if [ "$(calc "(${TP[i]} < $GOAL_MS * 1e6 && ${TS[i]} >= $GOAL_X * ${TP[i]})" 0)" = 1 ]; then
		met=$((met + 1))
	fi
done
echo "  queries and plans (pcv-query --explain: segments, blocks and bytes to read):"
for ((i = 0; i < ${#NAMES[@]}; i++)); do
	echo "    ${NAMES[i]}: ${EXPRS[i]}"
	echo "      ${PLAN[i]}"
done
echo "  the window query's scan has no window (tcpdump cannot say one): it keeps the"
echo "  flow in every copy; pcv-query's packets are checked against the scan's in the window"
echo "  goal (a selective query < $GOAL_MS ms and >= $GOAL_X x faster than the scan):" \
	"$( ((met)) && echo "met by $met of the $nsel selective queries" || echo "not met")"
exit $fail
