#!/usr/bin/env bash
# A flood of new flows on a live interface: every frame a new 5-tuple, sent
# as fast as pcv-gen can, more flows per index commit than the flow table
# holds exactly.  The recorder must keep every frame (the index never
# slows capture), the index must fall back to coarse rows that still
# count every packet, and queries for single flows must return exactly
# what tcpdump finds in what was sent (no false negatives).
. "$(dirname "$0")/lib.sh"

N=300000
netns_up pvfl
in_ns pvfl b "$BIN/pcv-record" -i vb -o "$TMP/st" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/st/index.sqlite"
sleep 0.3
in_ns pvfl a "$TOOLS/pcv-gen" -i va -n $N --flows 0 \
	--mix ipv4,ipv6,tcp,udp --min-size 100 --max-size 100 -w "$TMP/sent.pcap" 2>"$TMP/gen" ||
	fail "pcv-gen: $(cat "$TMP/gen")"
kill -INT $(ip netns pids pvfl-b)
wait $rec || fail "pcv-record exited $? after SIGINT: $(cat "$TMP/err")"
grep -q "$N packets received, $N stored" "$TMP/err" ||
	fail "flood: $(cat "$TMP/err")"
grep -q "kernel 0, ring 0, disk 0" "$TMP/err" || fail "flood drops: $(cat "$TMP/err")"
ok "$N frames of $N distinct 5-tuples ($(sed 's/.* in //' "$TMP/gen")): all stored, no drops"

ix() { sqlite3 "$TMP/st/index.sqlite" "$1"; }
[ "$(ix 'select sum(pkts) from flows')" = $N ] ||
	fail "flow rows count $(ix 'select sum(pkts) from flows') packets, $N were stored"
coarse=$(ix 'select coalesce(sum(pkts), 0) from flows where coarse > 0')
exact=$(ix 'select count(*) from flows where coarse = 0')
[ "$coarse" -gt 0 ] || fail "no coarse rows: the flow table never overflowed"
ok "flow rows count all $N packets: $exact exact rows, $coarse packets in coarse rows"

# Single flows spread over the flood, by their addresses and ports.  (Not
# `tcpdump -nn -r sent.pcap | sed -n Kp`: tcpdump caches every address it
# prints, and takes 19 s over 300,000 distinct ones.  All frames are 100
# bytes, so frame K is a fixed slice of the file.)
n=0
for k in 0 49999 99999 149999 199999 249999 299999 7 150001 280001; do
	{ head -c 24 "$TMP/sent.pcap"
	  tail -c +$((24 + k * 116 + 1)) "$TMP/sent.pcap" | head -c 116; } >"$TMP/one.pcap"
	line=$(tcpdump -nn -r "$TMP/one.pcap" 2>/dev/null)
	# "IP 10.201.1.2.40000 > 10.201.3.4.53: ..." (IP6 alike)
	src=$(echo "$line" | awk '{ print $3 }')
	dst=$(echo "$line" | awk '{ d = $5; sub(/:$/, "", d); print d }')
	e="host ${src%.*} and host ${dst%.*} and port ${src##*.} and port ${dst##*.}"
	"$BIN/pcv-query" -d "$TMP/st" "$e" -w "$TMP/got.pcap" 2>"$TMP/qerr" ||
		fail "pcv-query '$e': $(cat "$TMP/qerr")"
	tcpdump -r "$TMP/sent.pcap" -w "$TMP/want.pcap" "$e" 2>/dev/null ||
		fail "tcpdump refused '$e'"
	[ -n "$(frames "$TMP/want.pcap")" ] || fail "'$e' matches nothing sent"
	cmp -s <(frames "$TMP/want.pcap" | sort) <(frames "$TMP/got.pcap" | sort) ||
		fail "'$e': pcv-query returned $(frames "$TMP/got.pcap" | wc -l) frames, tcpdump $(frames "$TMP/want.pcap" | wc -l)"
	n=$((n + 1))
done
ok "$n single-flow queries over the flood return exactly what tcpdump finds in what was sent"
