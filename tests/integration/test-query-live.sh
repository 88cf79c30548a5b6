#!/usr/bin/env bash
# Queries while pcv-record writes the same store: on a veth pair, frames
# are sent at a steady rate for a few seconds while pcv-query runs again
# and again.  Every query must succeed, return a readable capture, and see
# every frame sent more than 2 s before it started; once sending stops,
# a query sees all of them while the recorder still runs.
. "$(dirname "$0")/lib.sh"

N=16000 RATE=4000
netns_up pvql
in_ns pvql b "$BIN/pcv-record" -i vb -o "$TMP/st" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/st/index.sqlite"
sleep 0.3
in_ns pvql a "$TOOLS/pcv-gen" -i va -n $N --rate $RATE -w "$TMP/sent.pcap" \
	2>/dev/null &
gen=$!
: >"$TMP/seen"
i=0
while kill -0 $gen 2>/dev/null; do
	t=$(date +%s.%N)
	c=$("$BIN/pcv-query" -d "$TMP/st" --count 2>"$TMP/qerr") ||
		fail "query #$i during recording: $(cat "$TMP/qerr")"
	echo "$t $c" >>"$TMP/seen"
	"$BIN/pcv-query" -d "$TMP/st" -w "$TMP/q.pcap" 'udp or tcp' 2>"$TMP/qerr" ||
		fail "query #$i -w during recording: $(cat "$TMP/qerr")"
	tcpdump -r "$TMP/q.pcap" -w /dev/null 2>/dev/null ||
		fail "query #$i wrote an unreadable capture"
	i=$((i + 1))
	sleep 0.2
done
wait $gen || fail "pcv-gen failed"
[ $i -ge 5 ] || fail "only $i queries ran while sending"

# Each query saw at least the frames sent 2 s before it began.
tcpdump -tt -nn -r "$TMP/sent.pcap" 2>/dev/null | awk '{ print $1 }' >"$TMP/sent.t"
while read -r t c; do
	want=$(awk -v t="$t" '$1 <= t - 2 { n++ } END { print n + 0 }' "$TMP/sent.t")
	[ "$c" -ge "$want" ] ||
		fail "a query at $t saw $c packets; $want were sent more than 2 s before"
done <"$TMP/seen"
sleep 2.2
c=$("$BIN/pcv-query" -d "$TMP/st" --count) || fail "query after sending"
[ "$c" -eq $N ] || fail "2.2 s after the last frame a query sees $c of $N"
kill -INT $(ip netns pids pvql-b)
wait $rec || fail "pcv-record exited $? after SIGINT: $(cat "$TMP/err")"
ok "$i queries while $N frames arrived at $RATE/s: all succeeded, each saw every frame older than 2 s; all $N seen 2.2 s after the last"
