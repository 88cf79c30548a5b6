#!/usr/bin/env bash
# pcv-record on a full disk, live: the store on a small tmpfs, a filler
# file leaves almost no room, traffic on a veth pair.  The recorder keeps
# running and counts disk drops; when the filler goes, it stores again
# (every frame sent after that is stored); its exit status and summary say
# what happened; every stored frame was sent; pcv-fsck finds the store
# clean.
. "$(dirname "$0")/lib.sh"

REC=$BIN/pcv-record
FSCK=$BIN/pcv-fsck
CAT=$BIN/pcv-cat
GEN=$TOOLS/pcv-gen
NS=pvdf

for t in "$REC" "$FSCK" "$CAT" "$GEN"; do
	[ -x "$t" ] || skip "$t not built (make all)"
done
command -v tcpdump >/dev/null || skip "tcpdump not installed"
command -v sqlite3 >/dev/null || skip "sqlite3 not installed"
need_root

SMALL=$TMP/small
ST=$SMALL/st
mkdir -p "$SMALL"
mount -t tmpfs -o size=8m tmpfs "$SMALL" 2>/dev/null || skip "cannot mount a tmpfs"
rec=
# The recorder runs in namespace b; $rec is the shell that waits for it.
# sig_rec SIG: signal the recorder.
sig_rec() {
	local p
	for p in $(ip netns pids $NS-b 2>/dev/null); do
		kill -"$1" "$p" 2>/dev/null || true
	done
}
# The recorder must be gone before the tmpfs can be unmounted.
stop_all() {
	if [ -n "$rec" ]; then
		sig_rec KILL
		wait "$rec" 2>/dev/null || true
	fi
	umount "$SMALL" 2>/dev/null || umount -l "$SMALL" 2>/dev/null || true
	cleanup
}
trap stop_all EXIT

netns_up $NS

# indexed: packets in the index's block rows (the recorder commits them
# after the blocks are fsync'd).
indexed() {
	sqlite3 "$ST/index.sqlite" 'select coalesce(sum(npkts),0) from blocks' 2>/dev/null || echo -1
}

# wait_indexed N SECONDS: until the index holds at least N packets.
wait_indexed() {
	local n=$(( $2 * 20 )) have
	while :; do
		have=$(indexed)
		[ "$have" -ge "$1" ] && return 0
		n=$((n - 1))
		[ "$n" -gt 0 ] || fail "timed out waiting for $1 packets in the index (it holds $have): $(cat "$TMP/err")"
		sleep 0.05
	done
}

# count FILE.pcap: its frames.
count() {
	tcpdump -n -r "$1" --count 2>/dev/null | sed -n 's/^\([0-9]*\) packets*$/\1/p'
}

# Not -q: a statistics line every 10 s shows the drops while it runs.
in_ns $NS b "$REC" -i vb -o "$ST" --flush-interval 100ms --block-size 64KiB \
	2>"$TMP/err" &
rec=$!
n=100
until grep -q "recording" "$TMP/err" 2>/dev/null; do
	n=$((n - 1))
	if [ $n -le 0 ] || ! kill -0 "$rec" 2>/dev/null; then
		fail "no start: $(cat "$TMP/err")"
	fi
	sleep 0.05
done

# --- batch 0, with room: stored and indexed -------------------------------
in_ns $NS a "$GEN" -i va -n 300 -s 100 --rate 20000 -w "$TMP/sent0.pcap" 2>/dev/null ||
	fail "pcv-gen (batch 0) failed"
wait_indexed 300 10
ok "with room: 300 frames indexed"

# --- the disk fills up ----------------------------------------------------
# Room for a few blocks: they go in small pieces (a flush every 100 ms),
# so the segment and the index both meet the full disk.
dd if=/dev/zero of="$SMALL/filler" bs=64k 2>/dev/null || true
truncate -s -192K "$SMALL/filler"
ok "tmpfs full but for $(df -k --output=avail "$SMALL" | tail -1 | tr -d ' ') KiB"

# Send until a statistics line counts disk drops (the first comes 10 s
# after the start): the blocks a full disk refuses stay buffered, so it
# takes a few hundred KiB more before packets are dropped.
k=0
deadline=$((SECONDS + 20))
while ! grep "pcv-record: received" "$TMP/err" | grep -q "disk [1-9]"; do
	[ $SECONDS -lt $deadline ] || fail "no disk drops counted while the disk was full: $(cat "$TMP/err")"
	kill -0 "$rec" 2>/dev/null || fail "the recorder died on a full disk: $(cat "$TMP/err")"
	k=$((k + 1))
	in_ns $NS a "$GEN" -i va -n 500 -s $((200 + k)) --rate 2000 \
		-w "$TMP/sent1-$k.pcap" 2>/dev/null || fail "pcv-gen (batch 1, part $k) failed"
	for _ in $(seq 10); do
		grep "pcv-record: received" "$TMP/err" | grep -q "disk [1-9]" && break
		sleep 0.1
	done
done
kill -0 "$rec" 2>/dev/null || fail "the recorder died on a full disk: $(cat "$TMP/err")"
line=$(grep "pcv-record: received" "$TMP/err" | grep "disk [1-9]" | tail -1)
ok "full disk: $((k * 500)) frames sent, still running, drops counted: ${line#pcv-record: }"
# While full, what is on disk reads whole (an unsealed segment, maybe a
# torn tail that readers skip).
"$CAT" "$ST" -w "$TMP/mid.pcap" 2>"$TMP/cat-err" ||
	fail "full disk: pcv-cat finds damage while recording: $(cat "$TMP/cat-err")"
ok "full disk: the segments read whole meanwhile ($(count "$TMP/mid.pcap") frames)"

# --- a rotation while full -------------------------------------------------
# As --segment-time does after a long outage: the open segment cannot be
# sealed (it stays whole, unsealed; its buffered blocks are disk drops).
# Then one free page: a new segment file fits, its index row does not;
# that file must not stay behind, a segment the index lacks.
dd if=/dev/zero of="$SMALL/filler2" bs=4k 2>/dev/null || true
sig_rec HUP
sleep 0.3
truncate -s -4K "$SMALL/filler2"
in_ns $NS a "$GEN" -i va -n 200 -s 299 --rate 2000 -w "$TMP/sent1-hup.pcap" 2>/dev/null ||
	fail "pcv-gen (batch 1, after SIGHUP) failed"
sleep 0.3
kill -0 "$rec" 2>/dev/null || fail "the recorder died after SIGHUP on a full disk: $(cat "$TMP/err")"
ok "SIGHUP on a full disk, then 200 frames with one page free: still running"

# --- space returns: a new batch is stored whole ---------------------------
rm -f "$SMALL/filler" "$SMALL/filler2"
in_ns $NS a "$GEN" -i va -n 1000 -s 300 --rate 20000 -w "$TMP/sent2.pcap" 2>/dev/null ||
	fail "pcv-gen (batch 2) failed"
frames "$TMP/sent2.pcap" | sort >"$TMP/want2.txt"
# Wait until the segments hold every frame of it (blocks are written at
# each flush, 100 ms).
n=100
while :; do
	"$CAT" "$ST" -w "$TMP/now.pcap" 2>/dev/null || true
	miss=$(frames "$TMP/now.pcap" | sort | comm -23 "$TMP/want2.txt" - | wc -l)
	[ "$miss" -eq 0 ] && break
	n=$((n - 1))
	[ $n -gt 0 ] || fail "space back: $miss of 1000 new frames still not stored after 10 s: $(cat "$TMP/err")"
	kill -0 "$rec" 2>/dev/null || fail "the recorder died: $(cat "$TMP/err")"
	sleep 0.1
done
ok "space back: 1000 new frames in the segments"

sig_rec INT
rc=0
wait "$rec" || rc=$?
rec=
sum=$(grep "packets received" "$TMP/err" | tail -1)
[ -n "$sum" ] || fail "no summary line: $(cat "$TMP/err")"
# The writer reports the first error it met: the full disk makes the run a
# failure (exit 1, the reason on stderr), though it stored what it could.
[ $rc -eq 1 ] || fail "exit $rc after SIGINT with disk drops (expected 1): $(cat "$TMP/err")"
grep -Eq "No space left on device|database or disk is full" "$TMP/err" ||
	fail "exit 1 without the reason: $(cat "$TMP/err")"
read -r recv stored _ rdrop ddrop < <(echo "$sum" | sed -n \
	's/.*: \([0-9]*\) packets received, \([0-9]*\) stored in .*dropped: kernel \([0-9]*\), ring \([0-9]*\), disk \([0-9]*\)$/\1 \2 \3 \4 \5/p') || true
[ -n "${ddrop:-}" ] || fail "cannot read the summary: $sum"
[ "$ddrop" -gt 0 ] || fail "no disk drops in the summary: $sum"
[ "$recv" -eq $((stored + rdrop + ddrop)) ] ||
	fail "received $recv != stored $stored + ring $rdrop + disk $ddrop: $sum"
ok "exit 1 with the reason; summary: ${sum#pcv-record: }"

# --- what is stored ------------------------------------------------------
"$FSCK" "$ST" >"$TMP/fsck" 2>&1 || fail "pcv-fsck not clean after the run: $(cat "$TMP/fsck")"
ok "pcv-fsck: clean"
"$CAT" "$ST" -w "$TMP/got.pcap" 2>"$TMP/cat-err" || fail "pcv-cat: $(cat "$TMP/cat-err")"
got=$(count "$TMP/got.pcap")
[ "$got" -eq "$stored" ] || fail "the segments hold $got frames, the summary says $stored stored"
[ "$(indexed)" -eq "$stored" ] || fail "the index holds $(indexed) packets, the summary says $stored stored"
# Flow rows against block rows, per segment (docs/index-schema.md): a
# sealed segment's count exactly its packets; the one abandoned on the full
# disk may count too many (packets of blocks that never reached the disk),
# never too few.
while IFS='|' read -r id sealed np fp; do
	if [ "$sealed" = 1 ]; then
		[ "$fp" -eq "$np" ] || fail "segment $id: flow rows count $fp packets, its blocks hold $np"
	else
		[ "$fp" -ge "$np" ] || fail "segment $id (unsealed): flow rows count $fp packets, its blocks hold $np"
	fi
	nsealed=$((${nsealed:-0} + sealed))
done < <(sqlite3 "$ST/index.sqlite" "select s.id, s.sealed,
	(select coalesce(sum(npkts),0) from blocks b where b.segment_id = s.id),
	(select coalesce(sum(pkts),0) from flows f where f.segment_id = s.id)
	from segments s")
[ "${nsealed:-0}" -ge 1 ] || fail "no sealed segment"
frames "$TMP/got.pcap" | sort >"$TMP/got.txt"
for f in "$TMP/sent0.pcap" "$TMP"/sent1-*.pcap "$TMP/sent2.pcap"; do
	frames "$f"
done | sort >"$TMP/sent.txt"
extra=$(comm -23 "$TMP/got.txt" "$TMP/sent.txt" | wc -l)
[ "$extra" -eq 0 ] || fail "$extra stored frames were never sent (or stored twice)"
for b in 0 2; do
	frames "$TMP/sent$b.pcap" | sort >"$TMP/want.txt"
	miss=$(comm -23 "$TMP/want.txt" "$TMP/got.txt" | wc -l)
	[ "$miss" -eq 0 ] || fail "$miss frames of batch $b are not stored"
done
ok "$got frames stored (= summary = index = flow rows of sealed segments), all of them sent; batch 0 (300, before the disk filled) and batch 2 (1000, after space returned) stored whole"
