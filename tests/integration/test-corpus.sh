#!/usr/bin/env bash
# Every file of the real-capture corpus is read without a crash, and the
# packet count equals tcpdump's (libpcap's) for every file tcpdump reads,
# including the damaged ones it reads part of.
. "$(dirname "$0")/lib.sh"

[ -d "$PCV_CORPUS" ] || skip "corpus not found at $PCV_CORPUS (set PCV_CORPUS)"
n=0 compared=0
while IFS= read -r -d '' f; do
	n=$((n + 1))
	rc=0
	"$BIN/packetvelocity" -r "$f" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ $rc -le 2 ] || fail "$f: exit $rc (crash?): $(tail -2 "$TMP/err")"
	want=$(tcpdump --count -r "$f" 2>/dev/null | sed -n 's/^\([0-9]*\) packets\{0,1\}$/\1/p')
	[ -n "$want" ] || continue
	got=$(sed -n 's/^\([0-9]*\) packets read.*/\1/p' "$TMP/err")
	[ "$got" = "$want" ] || fail "$f: read $got packets, tcpdump reads $want"
	compared=$((compared + 1))
done < <(find "$PCV_CORPUS" -type f ! -name '*.md' ! -name '*.tsv' -print0 | sort -z)
[ $compared -gt 0 ] || fail "no corpus file was compared"
ok "$n files read without a crash; $compared counts equal tcpdump's"
