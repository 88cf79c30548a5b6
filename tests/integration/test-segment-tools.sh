#!/usr/bin/env bash
# Segments against tcpdump on real captures.  Every corpus file tcpdump
# reads is written to a segment (pcv-segwrite: 64 KiB blocks, every other
# one left unsealed), and both ways of reading it back hold exactly the
# records `tcpdump -r FILE -w` writes (pcv-pcapcmp: same bytes, lengths
# and instants, in order):
#   pcv-cat DIR -w out.pcap                  our reader
#   zstdcat SEGMENT | tcpdump -r - -w x.pcap standard tools
# Then a capture cut into several segments merges back into itself, two
# interleaved halves merge into time order, and a damaged block is
# reported, skipped and fails the exit status.
. "$(dirname "$0")/lib.sh"

[ -d "$PCV_CORPUS" ] || skip "corpus not found at $PCV_CORPUS (set PCV_CORPUS)"
for c in zstd zstdcat tcpdump; do
	command -v $c >/dev/null || skip "$c is not installed"
done

same() {
	"$TOOLS/pcv-pcapcmp" "$1" "$2" >/dev/null
}

# timestamps FILE.pcap: the packets' times, one per line.
timestamps() {
	tcpdump -r "$1" -nn -tt -q 2>/dev/null | awk '/^[0-9]/ { print $1 }'
}

n=0 compared=0 nolink=0 late=0 unread=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	name=${f#"$PCV_CORPUS"/}
	rm -rf "$TMP/seg" "$TMP"/*.pcap
	mkdir "$TMP/seg"
	tcpdump -r "$f" -w "$TMP/ref.pcap" 2>/dev/null || true
	if [ ! -s "$TMP/ref.pcap" ]; then
		unread=$((unread + 1)) # tcpdump cannot open it
		continue
	fi
	unsealed=
	[ $((n % 2)) -eq 0 ] || unsealed=-u
	rc=0
	"$TOOLS/pcv-segwrite" -n -b 65536 $unsealed "$TMP/seg" "$f" \
		>"$TMP/path" 2>"$TMP/err" || rc=$?
	case $rc in
	0 | 1) ;;
	3) nolink=$((nolink + 1)); continue ;;
	4) late=$((late + 1)); continue ;;
	*) fail "$name: pcv-segwrite exited $rc: $(cat "$TMP/err")" ;;
	esac
	seg=$(cat "$TMP/path")
	[ -n "$seg" ] && [ -f "$seg" ] ||
		fail "$name: tcpdump reads it, but no segment was written: $(cat "$TMP/err")"

	"$BIN/pcv-cat" "$TMP/seg" -w "$TMP/out.pcap" 2>"$TMP/err" ||
		fail "$name: pcv-cat exited $?: $(cat "$TMP/err")"
	ref=$TMP/ref.pcap
	if ! same "$TMP/out.pcap" "$ref"; then
		# a nanosecond input: tcpdump -w keeps microseconds unless told
		ref=$TMP/refns.pcap
		tcpdump --time-stamp-precision=nano -r "$f" -w "$ref" \
			2>/dev/null || true
		same "$TMP/out.pcap" "$ref" ||
			fail "$name: pcv-cat does not give the packets tcpdump -r reads:
$("$TOOLS/pcv-pcapcmp" "$TMP/out.pcap" "$TMP/ref.pcap")"
	fi
	zstdcat "$seg" 2>"$TMP/err" |
		tcpdump --time-stamp-precision=nano -r - -w "$TMP/x.pcap" 2>/dev/null ||
		fail "$name: zstdcat SEGMENT | tcpdump -r - failed: $(cat "$TMP/err")"
	same "$TMP/x.pcap" "$ref" ||
		fail "$name: zstdcat SEGMENT | tcpdump -r - does not give the packets tcpdump -r FILE does"
	# and at tcpdump's default precision, for a microsecond input (for a
	# nanosecond one, libpcap's own rounding of the reference differs)
	if [ "$ref" = "$TMP/ref.pcap" ]; then
		zstdcat "$seg" | tcpdump -r - -w "$TMP/xus.pcap" 2>/dev/null ||
			fail "$name: zstdcat SEGMENT | tcpdump -r - failed"
		same "$TMP/xus.pcap" "$ref" ||
			fail "$name: zstdcat SEGMENT | tcpdump -r - (microseconds) differs"
	fi
	compared=$((compared + 1))
done < <(find "$PCV_CORPUS" -type f ! -name '*.md' ! -name '*.tsv' -print0 | sort -z)
[ $compared -gt 0 ] || fail "no corpus file was compared"
ok "$compared of $n files: pcv-cat and zstdcat|tcpdump give what tcpdump -r gives ($nolink with a link type segments do not take, $late with times past 2106, $unread tcpdump cannot read)"

big=$PCV_CORPUS/mixed-small.pcap
[ -f "$big" ] || skip "$big not found"
tcpdump -r "$big" -w "$TMP/ref.pcap" 2>/dev/null

# Cut into segments of 40000 packets: in name order (= time order), and
# listed one by one, they merge back into the capture.
rm -rf "$TMP/parts"
mkdir "$TMP/parts"
"$TOOLS/pcv-segwrite" -n -p 40000 "$TMP/parts" "$big" >"$TMP/paths" ||
	fail "pcv-segwrite -p failed"
[ "$(wc -l <"$TMP/paths")" -eq 3 ] || fail "expected 3 segments: $(cat "$TMP/paths")"
"$BIN/pcv-cat" "$TMP/parts" -w "$TMP/out.pcap" || fail "pcv-cat DIR exited $?"
same "$TMP/out.pcap" "$TMP/ref.pcap" ||
	fail "3 consecutive segments do not merge back into the capture"
mapfile -t parts <"$TMP/paths"
"$BIN/pcv-cat" "${parts[@]}" >"$TMP/out2.pcap" || fail "pcv-cat FILES exited $?"
same "$TMP/out2.pcap" "$TMP/ref.pcap" ||
	fail "pcv-cat SEG1 SEG2 SEG3 to stdout differs"
"$BIN/pcv-cat" --usec "$TMP/parts" -w "$TMP/usec.pcap" || fail "pcv-cat --usec exited $?"
same "$TMP/usec.pcap" "$TMP/ref.pcap" || fail "pcv-cat --usec differs"
[ "$(head -c 4 "$TMP/usec.pcap" | od -An -tx1 | tr -d ' ')" = d4c3b2a1 ] ||
	fail "pcv-cat --usec did not write a microsecond pcap"
ok "3 segments of one capture merge back into it (DIR, FILES, --usec)"

# Two interleaved halves (by wire length, which no filter can fail to
# read): merged, every packet once, in time order.
rm -rf "$TMP/halves"
mkdir "$TMP/halves"
tcpdump -r "$big" -w "$TMP/short.pcap" less 200 2>/dev/null
tcpdump -r "$big" -w "$TMP/long.pcap" greater 201 2>/dev/null
"$TOOLS/pcv-segwrite" -n -b 262144 "$TMP/halves" "$TMP/short.pcap" \
	"$TMP/long.pcap" >/dev/null || fail "pcv-segwrite on the halves failed"
"$BIN/pcv-cat" "$TMP/halves" -w "$TMP/merged.pcap" || fail "pcv-cat exited $?"
timestamps "$TMP/merged.pcap" >"$TMP/ts"
sort -c -g "$TMP/ts" || fail "the merge of two segments is not in time order"
cmp -s <(frames "$TMP/merged.pcap" | sort) <(frames "$TMP/ref.pcap" | sort) ||
	fail "the merge of two segments does not hold the capture's packets"
ok "two interleaved segments merge in time order, every packet once ($(wc -l <"$TMP/ts"))"

# A damaged block: reported with file and block, skipped, exit 1.
seg=${parts[1]}
size=$(stat -c %s "$seg")
printf '\x5a\xa5\x5a\xa5' | dd of="$seg" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
rc=0
"$BIN/pcv-cat" "$TMP/parts" -w "$TMP/out.pcap" 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] || fail "pcv-cat on a damaged block exited $rc, not 1"
grep -q "${seg##*/}: block [0-9]*" "$TMP/err" ||
	fail "pcv-cat did not name the file and block: $(cat "$TMP/err")"
got=$(timestamps "$TMP/out.pcap" | wc -l)
want=$(timestamps "$TMP/ref.pcap" | wc -l)
[ "$got" -lt "$want" ] && [ "$got" -gt $((want / 2)) ] ||
	fail "pcv-cat wrote $got of $want packets around a damaged block"
ok "a damaged block is named, skipped ($got of $want packets written), exit 1"

# Usage errors and missing inputs.
rc=0; "$BIN/pcv-cat" "$TMP/nonexistent" -w "$TMP/o.pcap" 2>/dev/null || rc=$?
[ $rc -eq 1 ] && [ ! -e "$TMP/o.pcap" ] || fail "missing input: exit $rc"
mkdir "$TMP/empty"
rc=0; "$BIN/pcv-cat" "$TMP/empty" -w "$TMP/o.pcap" 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] && grep -q "no segments" "$TMP/err" || fail "empty directory: exit $rc"
rc=0; "$BIN/pcv-cat" 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "no arguments: exit $rc"
ok "missing input and empty directory exit 1, no arguments 2"
