#!/usr/bin/env bash
# The afxdp backend on veth pairs in private namespaces: frames of every
# kind captured exactly, in order, in native and in generic XDP mode; the
# program gone after a clean stop; a start after kill -9 replaces the
# program the killed run left; one thread per receive queue on a veth
# pair with two queues, every frame once and each queue in order.
. "$(dirname "$0")/lib.sh"

REC=$BIN/pcv-record

# xdp_on NS-SIDE IF [MODE]: whether an XDP program is attached (in MODE:
# ip shows "xdp" for native, "xdpgeneric" for generic).
xdp_on() {
	local how
	how=$(in_ns pvx "$1" ip link show "$2" | head -1 | grep -o ' xdp[a-z]* ')
	case ${3:-any} in
	any) [ -n "$how" ] ;;
	native) [ "$how" = " xdp " ] ;;
	generic) [ "$how" = " xdpgeneric " ] ;;
	esac
}

# in_order SENT.pcap GOT.pcap: GOT's frames appear in SENT in GOT's order.
in_order() {
	awk 'NR == FNR { pos[$0] = NR; next }
	     !($0 in pos) || pos[$0] <= last { bad = 1; exit }
	     { last = pos[$0] }
	     END { exit bad }' <(frames "$1") <(frames "$2")
}

netns_up pvx
for mode in native generic; do
	st=$TMP/st-$mode
	in_ns pvx b "$REC" -b afxdp --xdp-mode $mode -i vb -o "$st" -q 2>"$TMP/err" &
	rec=$!
	wait_file "$st/index.sqlite"
	sleep 0.5
	xdp_on b vb $mode || fail "$mode: no XDP program in $mode mode on vb: $(cat "$TMP/err")"
	in_ns pvx a "$TOOLS/pcv-gen" -i va -n 3000 -w "$TMP/sent.pcap" 2>/dev/null
	kill -INT $(ip netns pids pvx-b)
	wait $rec || fail "$mode: pcv-record exited $?: $(cat "$TMP/err")"
	grep -q "backend afxdp" "$TMP/err" || fail "$mode: $(head -1 "$TMP/err")"
	grep -q "3000 packets received, 3000 stored" "$TMP/err" ||
		fail "$mode: $(tail -1 "$TMP/err")"
	"$BIN/pcv-cat" "$st" -w "$TMP/got.pcap"
	cmp -s <(frames "$TMP/sent.pcap") <(frames "$TMP/got.pcap") ||
		fail "$mode: the stored frames are not the sent ones, in order"
	! xdp_on b vb || fail "$mode: the XDP program is still attached after SIGINT"
	ok "$mode XDP: 3000 frames of every kind stored byte for byte, in order; program detached at exit"
done

# kill -9 leaves the program attached; the next start replaces it.
in_ns pvx b "$REC" -b afxdp -i vb -o "$TMP/k" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/k/index.sqlite"
sleep 0.5
kill -9 $(ip netns pids pvx-b)
wait $rec 2>/dev/null || true
xdp_on b vb || fail "kill -9: expected the killed run's program to stay"
in_ns pvx b "$REC" -b afxdp -i vb -o "$TMP/k2" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/k2/index.sqlite"
sleep 0.5
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 1000 -s 5 2>/dev/null
kill -INT $(ip netns pids pvx-b)
wait $rec || fail "after kill -9: pcv-record exited $?: $(cat "$TMP/err")"
grep -q "1000 packets received, 1000 stored" "$TMP/err" ||
	fail "after kill -9: $(tail -1 "$TMP/err")"
! xdp_on b vb || fail "after kill -9 and a clean run: a program is still attached"
ok "after kill -9 a new start replaces the left program and captures all 1000 frames"

# The interface goes down and up again under the capture: it goes on.
in_ns pvx b "$REC" -b afxdp -i vb -o "$TMP/du" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/du/index.sqlite"
sleep 0.5
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 500 -s 11 2>/dev/null
in_ns pvx b ip link set vb down
sleep 0.3
in_ns pvx b ip link set vb up
sleep 1
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 500 -s 12 2>/dev/null
kill -INT $(ip netns pids pvx-b)
wait $rec || fail "down/up: pcv-record exited $?: $(cat "$TMP/err")"
grep -q "1000 packets received, 1000 stored" "$TMP/err" ||
	fail "down/up: $(tail -1 "$TMP/err")"
ok "the interface down and up again during capture: all 1000 frames stored"

# Two receive queues, a thread each.
netns_up pvxq --queues 2
in_ns pvxq b "$REC" -b afxdp --cpu 0,1 -i vb -o "$TMP/mq" -q 2>"$TMP/err" &
rec=$!
wait_file "$TMP/mq/index.sqlite"
sleep 0.5
in_ns pvxq a "$TOOLS/pcv-gen" -i va -n 4000 -s 9 -w "$TMP/sent.pcap" 2>/dev/null
kill -INT $(ip netns pids pvxq-b)
wait $rec || fail "2 queues: pcv-record exited $?: $(cat "$TMP/err")"
grep -q "4000 packets received, 4000 stored" "$TMP/err" ||
	fail "2 queues: $(tail -1 "$TMP/err")"
grep -q "backend afxdp, 2 threads" "$TMP/err" ||
	fail "2 queues: not a thread per queue by default: $(head -1 "$TMP/err")"
n0=0 n1=0
for q in 0 1; do
	ls "$TMP/mq"/*-q$q.pcap.zst >/dev/null 2>&1 || fail "2 queues: no segment of queue $q"
	for s in "$TMP/mq"/*-q$q.pcap.zst; do
		zstdcat "$s" >"$TMP/q$q.pcap"
		in_order "$TMP/sent.pcap" "$TMP/q$q.pcap" || fail "queue $q: out of order"
		eval "n$q=\$((n$q + \$(tcpdump -r \"\$TMP/q$q.pcap\" --count 2>/dev/null | awk '{print \$1}')))"
	done
done
[ $n0 -gt 0 ] && [ $n1 -gt 0 ] || fail "2 queues: $n0 and $n1 frames: not spread"
"$BIN/pcv-cat" "$TMP/mq" -w "$TMP/got.pcap"
cmp -s <(frames "$TMP/sent.pcap" | sort) <(frames "$TMP/got.pcap" | sort) ||
	fail "2 queues: the stored frames are not the sent ones"
ok "2 receive queues, a thread each by default (pinned with --cpu 0,1): $n0 + $n1 frames, every frame once, each queue in order"
