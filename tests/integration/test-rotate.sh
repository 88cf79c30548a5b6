#!/usr/bin/env bash
# pcv-rotate: retention by age (and a dry run that changes nothing), by
# store size, by free space on a small tmpfs, segment files the index
# lost, and beside a running recorder: it seals the open segments
# (SIGHUP) and never deletes the one being written.  After each, queries
# return exactly the packets of the segments kept, and pcv-fsck is clean.
. "$(dirname "$0")/lib.sh"

ROT=$BIN/pcv-rotate
REC=$BIN/pcv-record
now=$(date +%s)

# 3000 frames 10 ms apart, starting 2024-01-01 (old) and one hour ago (new)
"$TOOLS/pcv-gen" -o "$TMP/old.pcap" -n 3000 --rate 100 2>/dev/null
"$TOOLS/pcv-shift" -t $((now - 3600 - 1704067200))s "$TMP/old.pcap" "$TMP/new.pcap" 2>/dev/null

# store NAME: the old capture in 10 s segments (3), then the new (3).
store() {
	"$REC" -q -r "$TMP/old.pcap" -o "$TMP/$1" --segment-time 10s 2>/dev/null
	"$REC" -q -r "$TMP/new.pcap" -o "$TMP/$1" --segment-time 10s 2>/dev/null
}
nseg() { ls "$TMP/$1"/*.pcap.zst 2>/dev/null | wc -l; }
count() { "$BIN/pcv-query" -d "$TMP/$1" --count "${2:-}"; }
clean() { "$BIN/pcv-fsck" "$TMP/$1" >/dev/null || fail "$1: pcv-fsck: not clean"; }

store age
[ "$(nseg age)" -eq 6 ] || fail "age: $(nseg age) segments, want 6"
before=$(ls -l "$TMP/age"/*.pcap.zst | md5sum)
"$ROT" "$TMP/age" --max-age 1d --dry-run >"$TMP/out" || fail "dry run: exit $?"
[ "$(grep -c '^would delete 2024' "$TMP/out")" -eq 3 ] ||
	fail "dry run: $(cat "$TMP/out")"
[ "$(ls -l "$TMP/age"/*.pcap.zst | md5sum)" = "$before" ] && [ "$(count age)" -eq 6000 ] ||
	fail "dry run changed the store"
ok "--dry-run names the 3 old segments and changes nothing"
"$ROT" "$TMP/age" --max-age 1d >"$TMP/out" || fail "age: exit $?"
grep -q "^deleted 3 segments" "$TMP/out" || fail "age: $(cat "$TMP/out")"
[ "$(nseg age)" -eq 3 ] && [ "$(count age)" -eq 3000 ] ||
	fail "age: $(nseg age) segments, $(count age) packets left"
! ls "$TMP/age"/2024* >/dev/null 2>&1 || fail "age: a 2024 segment is left"
clean age
"$ROT" "$TMP/age" --max-age 1d >"$TMP/out" || fail "age again: exit $?"
[ ! -s "$TMP/out" ] || fail "age again: said '$(cat "$TMP/out")' with nothing to do"
ok "--max-age 1d: the 3 segments from 2024 gone, 3000 recent packets left, fsck clean; a second run is silent"

# size: keep the store (segments + index) within what the newest 2 take
store size
keep=$(ls -s --block-size=1 "$TMP/size"/*.pcap.zst | sort -k2 | tail -2 | awk '{ s += $1 } END { print s }')
idx=$(du -B1 -c "$TMP/size"/index.sqlite* | tail -1 | awk '{ print $1 }')
"$ROT" "$TMP/size" --max-size $((keep + idx)) -v >"$TMP/out" || fail "size: exit $?"
[ "$(nseg size)" -eq 2 ] || fail "size: $(nseg size) segments left, want 2: $(cat "$TMP/out")"
[ "$(grep -c ': size$' "$TMP/out")" -eq 4 ] || fail "size: $(cat "$TMP/out")"
[ "$(count size)" -eq "$(count size 'since 2h')" ] || fail "size: an old packet is left"
clean size
ok "--max-size: the 4 oldest segments deleted, the newest 2 kept"

# segment files the index does not know go by age only
store orph
cp "$TMP/orph/$(ls "$TMP/orph" | grep '^2024' | head -1)" "$TMP/orph/19990101T000000.000000000Z-x-q0.pcap.zst"
touch -d '2000-01-01' "$TMP/orph/19990101T000000.000000000Z-x-q0.pcap.zst"
"$ROT" "$TMP/orph" --max-age 1d -v >"$TMP/out" || fail "orphan: exit $?"
grep -q "^deleted 19990101.*not in the index" "$TMP/out" ||
	fail "orphan: $(cat "$TMP/out")"
[ "$(nseg orph)" -eq 3 ] || fail "orphan: $(nseg orph) segments left"
ok "a segment file the index lost, older than --max-age, is deleted too"

# free space: a 24 MiB tmpfs, the store takes most of it
need_root
mkdir "$TMP/fs"
mount -t tmpfs -o size=24m pcvrot "$TMP/fs" || skip "cannot mount a tmpfs"
trap 'umount "$TMP/fs" 2>/dev/null; cleanup' EXIT
for i in 1 2 3 4 5 6; do
	"$TOOLS/pcv-shift" -t $((now - 86400 * (8 - i) - 1704067200))s "$TMP/old.pcap" "$TMP/d$i.pcap" 2>/dev/null
	"$REC" -q -r "$TMP/d$i.pcap" -o "$TMP/fs/st" --segment-time 10s 2>/dev/null
done
free_pct() { df --output=avail,size -B1 "$TMP/fs" | awk 'NR == 2 { print int(100 * $1 / $2) }'; }
[ "$(free_pct)" -lt 60 ] || fail "free: the store left $(free_pct)% free; the test needs less"
"$ROT" "$TMP/fs/st" --min-free 60% -v >"$TMP/out" || fail "free: exit $?"
[ "$(free_pct)" -ge 60 ] || fail "free: $(free_pct)% free after: $(cat "$TMP/out")"
n=$(grep -c ': free$' "$TMP/out")
[ "$n" -gt 0 ] && [ "$(nseg fs/st)" -eq $((18 - n)) ] || fail "free: $(cat "$TMP/out")"
first=$(ls "$TMP/fs/st" | grep pcap.zst | head -1)
! grep -q "deleted $first" "$TMP/out" || fail "free: deleted a segment newer than one kept"
"$ROT" "$TMP/fs/st" --min-free 60% >"$TMP/out"
[ ! -s "$TMP/out" ] || fail "free: a second run deleted more: $(cat "$TMP/out")"
clean fs/st
ok "--min-free 60% on a 24 MiB tmpfs: the $n oldest of 18 segments deleted, $(free_pct)% free"

# beside a running recorder: SIGHUP seals its segment; the open one stays
netns_up pvr
in_ns pvr b "$REC" -i vb -o "$TMP/live" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/live/index.sqlite"
sleep 0.5
in_ns pvr a "$TOOLS/pcv-gen" -i va -n 500 -s 3 2>/dev/null
sleep 1.5
"$ROT" "$TMP/live" --max-age 100d -v >"$TMP/out" || fail "live: exit $?"
grep -q "asked the recorder (pid [0-9]*) to seal" "$TMP/out" || fail "live: no SIGHUP: $(cat "$TMP/out")"
# the sealed segment becomes deletable once the seal is committed
for _ in $(seq 100); do
	"$ROT" "$TMP/live" --max-size 1 --no-seal -n >"$TMP/out" 2>&1
	grep -q "^would delete 1 segments" "$TMP/out" && break
	sleep 0.1
done
grep -q "^would delete 1 segments" "$TMP/out" || fail "live: never sealed: $(cat "$TMP/out")"
in_ns pvr a "$TOOLS/pcv-gen" -i va -n 100 -s 4 2>/dev/null # into a new segment
wait_nseg() { # wait_nseg N: until the store has N segment files
	for _ in $(seq 100); do
		[ "$(nseg live)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "live: $(nseg live) segments, waited for $1"
}
wait_nseg 2
"$ROT" "$TMP/live" --max-size 1 --no-seal -v >"$TMP/out" || fail "live 2: exit $?"
grep -q "^deleted 1 segments" "$TMP/out" || fail "live: the sealed segment not deleted: $(cat "$TMP/out")"
[ "$(nseg live)" -eq 1 ] || fail "live: $(nseg live) segments left, want the open one"
in_ns pvr a "$TOOLS/pcv-gen" -i va -n 300 -s 5 2>/dev/null
kill -INT $(ip netns pids pvr-b)
wait $rec || fail "live: pcv-record exited $?: $(cat "$TMP/err")"
[ "$(count live)" -eq 400 ] || fail "live: $(count live) packets left, want the 100 + 300 sent after the seal"
ok "with a recorder running: its segment sealed by SIGHUP and deleted, the open one kept and written on"

for bad in "" "--max-age" "--max-age 1x $TMP/age" "--min-free 120% $TMP/age" "--max-size -1 $TMP/age" "$TMP/age"; do
	# shellcheck disable=SC2086
	"$ROT" $bad >/dev/null 2>&1 && fail "'pcv-rotate $bad' succeeded"
	# shellcheck disable=SC2086
	"$ROT" $bad >/dev/null 2>&1 || [ $? -eq 2 ] || fail "'pcv-rotate $bad': exit not 2"
done
"$ROT" "$TMP/age" --min-free 10 2>"$TMP/out" && fail "--min-free 10 (no unit) succeeded"
grep -q "give a percentage" "$TMP/out" || fail "--min-free 10: $(cat "$TMP/out")"
"$ROT" "$TMP/nonexistent" --max-age 1d 2>/dev/null && fail "a missing store succeeded"
mkdir "$TMP/notastore"
"$ROT" "$TMP/notastore" --max-age 1d 2>"$TMP/out" && fail "a directory without index succeeded"
grep -q "not a store" "$TMP/out" && [ -z "$(ls -A "$TMP/notastore")" ] ||
	fail "not a store: $(cat "$TMP/out"); left $(ls -A "$TMP/notastore")"
ok "bad arguments exit 2 ('--min-free 10' too: 10 what?); a missing store or a plain directory 1, left untouched"
