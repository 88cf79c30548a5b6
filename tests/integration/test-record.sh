#!/usr/bin/env bash
# pcv-record end to end: import round trip (zstdcat | tcpdump reads the
# segments, packets identical to the input), flow counts against tcpdump,
# live capture on a veth pair (N sent, N stored, no drops), the store lock,
# rotation by size and by SIGHUP, kill -9 then recovery, and a full disk.
. "$(dirname "$0")/lib.sh"

REC=$BIN/pcv-record
FSCK=$BIN/pcv-fsck
CMP=$TOOLS/pcv-pcapcmp

# segments_as_pcap DIR OUT: every segment, in name order, through zstdcat
# and tcpdump (one pcap header: each segment is a whole pcap file).
segments_as_pcap() {
	local first=1 s
	for s in "$1"/*.pcap.zst; do
		if [ $first = 1 ]; then zstdcat "$s"; first=0
		else zstdcat "$s" | tail -c +25; fi
	done | tcpdump -r - -w "$2" 2>/dev/null
}

# --- import round trip on the corpus -------------------------------------
if [ -d "$PCV_CORPUS" ]; then
	for f in "$PCV_CORPUS/mixed-small.pcap" \
		"$PCV_CORPUS/malformed/malformed-en10mb.pcap"; do
		rm -rf "$TMP/st"
		"$REC" -q -r "$f" -o "$TMP/st" --block-size 256KiB 2>"$TMP/err" ||
			fail "import ${f##*/}: $(cat "$TMP/err")"
		grep -q "ring 0, disk 0" "$TMP/err" || fail "import dropped: $(cat "$TMP/err")"
		segments_as_pcap "$TMP/st" "$TMP/rt.pcap"
		"$CMP" "$f" "$TMP/rt.pcap" >/dev/null ||
			fail "${f##*/}: zstdcat | tcpdump differs: $("$CMP" "$f" "$TMP/rt.pcap")"
		"$FSCK" "$TMP/st" >/dev/null || fail "${f##*/}: fsck not clean"
		ok "import ${f##*/}: segments read by zstdcat | tcpdump, identical to the input"
	done
	# Flow rows against tcpdump: the biggest plain IPv4 TCP flows.
	rm -rf "$TMP/st"
	"$REC" -q -r "$PCV_CORPUS/mixed-small.pcap" -o "$TMP/st" 2>/dev/null
	sum=$(sqlite3 "$TMP/st/index.sqlite" 'select sum(pkts) from flows')
	[ "$sum" = 119851 ] || fail "flows count $sum packets, the file holds 119851"
	n=0
	while IFS='|' read -r a b p q pk; do
		A=$(printf '%d.%d.%d.%d' $(echo "$a" | sed 's/../0x& /g'))
		B=$(printf '%d.%d.%d.%d' $(echo "$b" | sed 's/../0x& /g'))
		want=$(tcpdump -nr "$PCV_CORPUS/mixed-small.pcap" --count \
			"ip and tcp and host $A and host $B and port $p and port $q" \
			2>/dev/null | sed -n 's/^\([0-9]*\) packets*$/\1/p')
		[ "$want" = "$pk" ] || fail "flow $A:$p-$B:$q: index $pk packets, tcpdump $want"
		n=$((n + 1))
	done < <(sqlite3 "$TMP/st/index.sqlite" "select hex(addr_lo), hex(addr_hi),
		port_lo, port_hi, pkts from flows where proto = 6 and family = 4
		and vlan = 0 and coarse = 0 and port_lo != port_hi
		order by pkts desc limit 8")
	[ $n -gt 0 ] || fail "no flow rows to compare"
	ok "flows: $sum packets in flow rows; $n biggest TCP flows count as tcpdump does"
else
	echo "  skipped the corpus parts: corpus not found at $PCV_CORPUS"
fi

# --- rotation by size; the lock ------------------------------------------
"$TOOLS/pcv-gen" -o "$TMP/gen.pcap" -n 20000 2>/dev/null
rm -rf "$TMP/st"
"$REC" -q -r "$TMP/gen.pcap" -o "$TMP/st" --segment-size 1MiB --block-size 64KiB 2>/dev/null ||
	fail "import with --segment-size failed"
nseg=$(ls "$TMP/st"/*.pcap.zst | wc -l)
[ "$nseg" -ge 10 ] || fail "--segment-size 1MiB: $nseg segments for 15 MB"
segments_as_pcap "$TMP/st" "$TMP/rt.pcap"
"$CMP" "$TMP/gen.pcap" "$TMP/rt.pcap" >/dev/null || fail "rotated segments lost packets"
ok "--segment-size 1MiB: $nseg segments, nothing lost"

# --- the index deleted, then damaged: the next start rebuilds it ---------
rm -f "$TMP/st"/index.sqlite*
"$FSCK" "$TMP/st" >/dev/null 2>&1 || true
n=$(sqlite3 "$TMP/st/index.sqlite" 'select sum(npkts) from blocks')
[ "$n" = 20000 ] || fail "index deleted: rebuilt with $n packets"
printf 'this is not a database at all, not even close....................' >"$TMP/st/index.sqlite"
rm -f "$TMP/st"/index.sqlite-*
"$TOOLS/pcv-gen" -o "$TMP/more.pcap" -n 100 -s 3 2>/dev/null
"$REC" -q -r "$TMP/more.pcap" -o "$TMP/st" 2>"$TMP/err" ||
	fail "start over a damaged index: $(cat "$TMP/err")"
grep -q "damaged" "$TMP/err" || fail "no word about the damaged index: $(cat "$TMP/err")"
ls "$TMP/st"/index.sqlite.damaged-* >/dev/null || fail "the damaged index was not kept aside"
n=$(sqlite3 "$TMP/st/index.sqlite" 'select sum(npkts) from blocks')
[ "$n" = 20100 ] || fail "after a damaged index: $n packets indexed, expected 20100"
ok "index deleted, then damaged: rebuilt from the segments (the damaged file kept aside)"

# --- a bad source leaves no store behind ----------------------------------
rc=0
"$REC" -q -r "$TMP/none.pcap" -o "$TMP/never" 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] && [ ! -e "$TMP/never" ] ||
	fail "a missing input: exit $rc, store dir left: $(ls -d "$TMP/never" 2>&1)"
ok "a missing input -> 1, no store created: $(cat "$TMP/err")"

# --- bad output directories ------------------------------------------------
rc=0
"$REC" -q -r "$TMP/more.pcap" -o /proc/pcv-nope 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] || fail "unusable directory: exit $rc"
ok "unusable directory -> 1: $(cat "$TMP/err")"
mkdir -p "$TMP/ro"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$REC" -q -r "$TMP/more.pcap" \
	-o "$TMP/ro" 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] && grep -q "Permission denied" "$TMP/err" ||
	fail "unwritable directory: exit $rc: $(cat "$TMP/err")"
ok "unwritable directory -> 1: $(cat "$TMP/err")"

# --- rotation by time (packet time on import) ------------------------------
rm -rf "$TMP/st"
"$REC" -q -r "$TMP/gen.pcap" -o "$TMP/st" --segment-time 5ms 2>/dev/null ||
	fail "import with --segment-time failed"
nseg=$(ls "$TMP/st"/*.pcap.zst | wc -l)
[ "$nseg" -ge 4 ] || fail "--segment-time 5ms over 20 ms of packets: $nseg segments"
segments_as_pcap "$TMP/st" "$TMP/rt.pcap"
"$CMP" "$TMP/gen.pcap" "$TMP/rt.pcap" >/dev/null || fail "time-rotated segments lost packets"
ok "--segment-time 5ms: $nseg segments, nothing lost"

# --- kill -9 during import, then recovery ---------------------------------
for i in $(seq 10); do
	rm -rf "$TMP/st"
	"$REC" -q -r "$TMP/gen.pcap" -o "$TMP/st" --block-size 64KiB \
		--flush-interval 10ms 2>/dev/null &
	pid=$!
	sleep "0.0$((RANDOM % 10))"
	kill -9 $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	[ -f "$TMP/st/index.sqlite" ] || continue
	acked=$(sqlite3 "$TMP/st/index.sqlite" 'select coalesce(sum(npkts),0) from blocks' 2>/dev/null || echo 0)
	"$FSCK" "$TMP/st" >/dev/null || true
	"$FSCK" "$TMP/st" >/dev/null || fail "kill -9 #$i: fsck not clean after repair"
	have=$(sqlite3 "$TMP/st/index.sqlite" 'select coalesce(sum(npkts),0) from blocks')
	stored=0
	if ls "$TMP/st"/*.pcap.zst >/dev/null 2>&1; then
		segments_as_pcap "$TMP/st" "$TMP/k.pcap"
		stored=$(tcpdump --count -r "$TMP/k.pcap" 2>/dev/null |
			sed -n 's/^\([0-9]*\) packets*$/\1/p')
	fi
	[ "$have" -ge "$acked" ] || fail "kill -9 #$i: $acked packets were indexed, $have remain"
	[ "${stored:-0}" -eq "$have" ] || fail "kill -9 #$i: index says $have, segments hold $stored"
done
ok "kill -9 at 10 random moments: fsck repairs, nothing indexed is lost"

# --- live on a veth pair ---------------------------------------------------
netns_up pvrec
rm -rf "$TMP/live"
in_ns pvrec b "$REC" -i vb -o "$TMP/live" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/live/index.sqlite"
sleep 0.3
rc=0
"$REC" -i lo -o "$TMP/live" -q 2>"$TMP/err2" || rc=$?
[ $rc -eq 1 ] && grep -q "another recorder" "$TMP/err2" ||
	fail "second recorder on one store: exit $rc: $(cat "$TMP/err2")"
ok "a second recorder is refused: $(cat "$TMP/err2")"
in_ns pvrec a "$TOOLS/pcv-gen" -i va -n 3000 -w "$TMP/sent.pcap" 2>/dev/null
sleep 2.5
seen=$(sqlite3 "$TMP/live/index.sqlite" 'select coalesce(sum(npkts),0) from blocks')
[ "$seen" -eq 3000 ] || fail "2.5 s after sending, the index holds $seen of 3000"
kill -HUP $(ip netns pids pvrec-b)
sleep 0.3
# A storm of SIGHUPs with nothing to write: no empty segments, no crash.
for _ in $(seq 50); do kill -HUP $(ip netns pids pvrec-b); done
sleep 0.3
in_ns pvrec a "$TOOLS/pcv-gen" -i va -n 1000 -s 7 -w "$TMP/sent2.pcap" 2>/dev/null
# At once: the last frames are still in the kernel's open ring block,
# which the recorder must drain after the signal.
kill -INT $(ip netns pids pvrec-b)
wait $rec || fail "pcv-record exited $? after SIGINT: $(cat "$TMP/err")"
grep -q "4000 packets received, 4000 stored" "$TMP/err" || fail "summary: $(cat "$TMP/err")"
grep -q "kernel 0, ring 0, disk 0" "$TMP/err" || fail "drops: $(cat "$TMP/err")"
nseg=$(ls "$TMP/live"/*.pcap.zst | wc -l)
[ "$nseg" -eq 2 ] || fail "SIGHUP: $nseg segments, expected 2"
segments_as_pcap "$TMP/live" "$TMP/got.pcap"
cmp -s <(cat <(frames "$TMP/sent.pcap") <(frames "$TMP/sent2.pcap") | sort) \
	<(frames "$TMP/got.pcap" | sort) || fail "stored frames differ from the sent ones"
"$FSCK" "$TMP/live" >/dev/null || fail "fsck after a clean stop is not clean"
ok "live: 4000 sent, 4000 stored byte for byte (SIGINT right after sending), 0 drops, indexed within 2.5 s, SIGHUP rotated, a SIGHUP storm harmless"

# --- time rotation on an idle interface -----------------------------------
rm -rf "$TMP/idle"
in_ns pvrec b "$REC" -i vb -o "$TMP/idle" -q --segment-time 1s 2>"$TMP/err" &
rec=$!
wait_file "$TMP/idle/index.sqlite"
sleep 0.3
in_ns pvrec a "$TOOLS/pcv-gen" -i va -n 100 2>/dev/null
sleep 2.5
sealed=$(sqlite3 "$TMP/idle/index.sqlite" 'select count(*) from segments where sealed = 1')
open=$(sqlite3 "$TMP/idle/index.sqlite" 'select count(*) from segments where sealed = 0')
kill -INT $(ip netns pids pvrec-b)
wait $rec || fail "pcv-record exited $? after SIGINT: $(cat "$TMP/err")"
[ "$sealed" -eq 1 ] && [ "$open" -eq 0 ] ||
	fail "--segment-time 1s, then 2.5 s without traffic: $sealed sealed, $open open"
ok "--segment-time 1s on an idle interface: the segment is sealed without new packets"

# --- kill -9 during live capture, then a new start on the same store -----
rm -rf "$TMP/live"
for i in $(seq 10); do
	in_ns pvrec b "$REC" -i vb -o "$TMP/live" -q --flush-interval 100ms \
		2>"$TMP/err" &
	rec=$!
	n=100
	until grep -q "recording" "$TMP/err" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "live kill -9 #$i: no start: $(cat "$TMP/err")"
		sleep 0.05
	done
	in_ns pvrec a "$TOOLS/pcv-gen" -i va -n 2000 -s "$i" --rate 4000 \
		2>/dev/null &
	gen=$!
	# Somewhere in the half second of traffic, after a few flushes.
	sleep "0.$((20 + RANDOM % 30))"
	kill -9 $(ip netns pids pvrec-b) 2>/dev/null || true
	wait $rec 2>/dev/null || true
	wait $gen || true
	acked=$(sqlite3 "$TMP/live/index.sqlite" 'select coalesce(sum(npkts),0) from blocks')
	"$FSCK" "$TMP/live" >/dev/null || true
	"$FSCK" "$TMP/live" >/dev/null || fail "live kill -9 #$i: fsck not clean after repair"
	have=$(sqlite3 "$TMP/live/index.sqlite" 'select coalesce(sum(npkts),0) from blocks')
	[ "$have" -ge "$acked" ] || fail "live kill -9 #$i: $acked packets were indexed, $have remain"
	# A kill that came after new packets reached the index.
	[ "$acked" -gt "${before:-0}" ] && grew=$((${grew:-0} + 1))
	before=$have
done
[ "${grew:-0}" -ge 5 ] || fail "live kill -9: only ${grew:-0} kills came after new packets were indexed"
ok "kill -9 during live capture, 10 times ($grew after new packets were indexed): fsck finds the store whole, nothing indexed lost ($have stored)"

# --- a file-size limit: writes fail with EFBIG, like a full disk ---------
rm -rf "$TMP/st"
rc=0
(ulimit -f 2000; "$REC" -q -r "$TMP/gen.pcap" -o "$TMP/st" --block-size 64KiB) \
	2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] || fail "ulimit -f: exit $rc: $(cat "$TMP/err")"
grep -q "File too large" "$TMP/err" || fail "ulimit -f: $(cat "$TMP/err")"
idx=$(sqlite3 "$TMP/st/index.sqlite" 'select coalesce(sum(npkts),0) from blocks')
segments_as_pcap "$TMP/st" "$TMP/k.pcap"
seg=$(tcpdump --count -r "$TMP/k.pcap" 2>/dev/null | sed -n 's/^\([0-9]*\) packets*$/\1/p')
[ "$idx" -gt 0 ] && [ "$idx" = "$seg" ] ||
	fail "ulimit -f: the index holds $idx packets, the segment $seg"
"$FSCK" "$TMP/st" >/dev/null || fail "ulimit -f: the store needed repair"
ok "file-size limit: $seg packets stored and indexed before it, the store clean, exit 1 with the reason"

# --- a full disk -----------------------------------------------------------
mkdir -p "$TMP/small"
if mount -t tmpfs -o size=3m tmpfs "$TMP/small" 2>/dev/null; then
	trap 'umount "$TMP/small" 2>/dev/null; cleanup' EXIT
	rc=0
	"$REC" -q -r "$TMP/gen.pcap" -o "$TMP/small/st" --block-size 64KiB \
		2>"$TMP/err" || rc=$?
	grep -q "disk [1-9]" "$TMP/err" || fail "full disk: no disk drops counted: $(cat "$TMP/err")"
	# Space returns; what was stored must be whole.
	mount -o remount,size=64m "$TMP/small" || fail "cannot grow the tmpfs"
	"$FSCK" "$TMP/small/st" >/dev/null 2>&1 || true
	"$FSCK" "$TMP/small/st" >"$TMP/fsck" 2>&1 || fail "full disk: store not clean after fsck: $(cat "$TMP/fsck")"
	ok "full disk: drops counted ($(grep -o 'disk [0-9]*' "$TMP/err")), store whole (exit $rc)"
else
	echo "  skipped the full-disk part: cannot mount a tmpfs"
fi
