#!/usr/bin/env bash
# The afxdp backend on veth pairs in private namespaces: frames of every
# kind captured exactly, in order, in native and in generic XDP mode; the
# program gone after a clean stop; the capture filter run in XDP (only
# matching frames reach us, the rest reach the namespace's stack); a start
# after kill -9 replaces the program the killed run left; the interface
# down and up, its MTU too large or raised during capture; "auto" choosing
# afxdp on a capture port and afpacket elsewhere, in one line; one thread
# per receive queue on a veth pair with two queues, each queue in order.
. "$(dirname "$0")/lib.sh"

REC=$BIN/pcv-record

# rec_start NS STORE [ARGS...]: pcv-record (ARGS: options, then a filter)
# in NS-b on vb into STORE, quiet, stderr in $TMP/err; returns once it runs.
rec_start() {
	local ns=$1 st=$2
	shift 2
	in_ns "$ns" b "$REC" -i vb -o "$st" -q "$@" 2>"$TMP/err" &
	rec=$!
	wait_file "$st/index.sqlite"
	sleep 0.5
}

# rec_stop NS WHAT: stop it with SIGINT; a failed exit fails WHAT.
rec_stop() {
	kill -INT $(ip netns pids "$1-b")
	wait "$rec" || fail "$2: pcv-record exited $?: $(cat "$TMP/err")"
}

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

# stored_as_tcpdump STORE FILTER WHAT: STORE holds exactly the frames of
# $TMP/sent.pcap that tcpdump's FILTER matches, in order (also left in
# $TMP/want.pcap).
stored_as_tcpdump() {
	tcpdump -r "$TMP/sent.pcap" -w "$TMP/want.pcap" "$2" 2>/dev/null
	"$BIN/pcv-cat" "$1" -w "$TMP/got.pcap"
	cmp -s <(frames "$TMP/want.pcap") <(frames "$TMP/got.pcap") ||
		fail "$3: the stored frames are not the matching sent ones"
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
	rec_start pvx "$st" -b afxdp --xdp-mode $mode
	xdp_on b vb $mode || fail "$mode: no XDP program in $mode mode on vb: $(cat "$TMP/err")"
	in_ns pvx a "$TOOLS/pcv-gen" -i va -n 3000 -w "$TMP/sent.pcap" 2>/dev/null
	rec_stop pvx "$mode"
	grep -q "backend afxdp" "$TMP/err" || fail "$mode: $(head -1 "$TMP/err")"
	grep -q "3000 packets received, 3000 stored" "$TMP/err" ||
		fail "$mode: $(tail -1 "$TMP/err")"
	"$BIN/pcv-cat" "$st" -w "$TMP/got.pcap"
	cmp -s <(frames "$TMP/sent.pcap") <(frames "$TMP/got.pcap") ||
		fail "$mode: the stored frames are not the sent ones, in order"
	! xdp_on b vb || fail "$mode: the XDP program is still attached after SIGINT"
	ok "$mode XDP: 3000 frames of every kind stored byte for byte, in order; program detached at exit"
done

# Timestamps come from the XDP program, one per frame: 1000 frames sent
# 50 us apart are stored each with its own time, just after its sending.
rec_start pvx "$TMP/ts" -b afxdp -v
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 1000 -s 13 --rate 20000 -w "$TMP/sent.pcap" 2>/dev/null
rec_stop pvx "timestamps"
grep -q "queue 0: received 1000, dropped by the kernel 0 (ring full 0, no buffer 0, invalid 0)" "$TMP/err" ||
	fail "-v: no line for queue 0: $(cat "$TMP/err")"
"$BIN/pcv-cat" "$TMP/ts" -w "$TMP/got.pcap"
stamps() { tcpdump -r "$1" -tt -nn --time-stamp-precision=nano 2>/dev/null | awk '{ print $1 }'; }
paste <(stamps "$TMP/sent.pcap") <(stamps "$TMP/got.pcap") | awk '
	{ d = $2 - $1; if (d < 0 || d > 0.01) bad++; seen[$2] = 1; n++ }
	END { for (k in seen) u++
	      if (n != 1000 || bad || u != n) {
		      printf "%d frames, %d stored before or 10 ms after sending, %d distinct times\n", n, bad, u
		      exit 1 } }' >"$TMP/ts.out" ||
	fail "timestamps: $(cat "$TMP/ts.out")"
ok "timestamps from XDP: 1000 frames, each its own, within 10 ms after sending; -v: the queue's line"

# The filter runs in XDP: the namespace's stack still gets what it rejects.
F='udp or (vlan and tcp)'
rec_start pvx "$TMP/kf" -b afxdp "$F"
in_ns pvx a ping -c 3 -i 0.2 -W 2 10.200.0.2 >/dev/null ||
	fail "kernel filter: no ping through vb while it records '$F'"
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 3000 -s 21 -w "$TMP/sent.pcap" 2>/dev/null
rec_stop pvx "kernel filter"
grep -q "filter '$F' runs in XDP\$" "$TMP/err" ||
	fail "kernel filter: not said to run in XDP: $(cat "$TMP/err")"
stored_as_tcpdump "$TMP/kf" "$F" "kernel filter"
want=$(frames "$TMP/want.pcap" | wc -l)
[ "$want" -gt 0 ] && [ "$want" -lt 3000 ] || fail "kernel filter: $want of 3000 match"
grep -q "kernel filter: $want passed of [0-9]* packets" "$TMP/err" ||
	fail "kernel filter: the counters do not say $want passed: $(cat "$TMP/err")"
grep -q "$want packets received, $want stored" "$TMP/err" ||
	fail "kernel filter: $(tail -1 "$TMP/err")"
ok "filter in XDP: $want of 3000 frames reached userspace, all stored; ping answered meanwhile"

# A filter XDP cannot run (protochain loops backwards) runs in userspace,
# and the recorder says so; the result is the same.
F='ip6 protochain 17 or (ip and tcp)'
rec_start pvx "$TMP/uf" -b afxdp "$F"
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 2000 -s 22 -w "$TMP/sent.pcap" 2>/dev/null
rec_stop pvx "userspace filter"
grep -q "filter '$F' runs in userspace: .*backward jump" "$TMP/err" ||
	fail "userspace filter: not said: $(cat "$TMP/err")"
stored_as_tcpdump "$TMP/uf" "$F" "userspace filter"
ok "a filter XDP cannot run ('$F') runs in userspace, said so, same $(frames "$TMP/want.pcap" | wc -l) frames stored"

# kill -9 leaves the program attached; the next start replaces it.
rec_start pvx "$TMP/k" -b afxdp
kill -9 $(ip netns pids pvx-b)
wait $rec 2>/dev/null || true
xdp_on b vb || fail "kill -9: expected the killed run's program to stay"
rec_start pvx "$TMP/k2" -b afxdp
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 1000 -s 5 2>/dev/null
rec_stop pvx "after kill -9"
grep -q "1000 packets received, 1000 stored" "$TMP/err" ||
	fail "after kill -9: $(tail -1 "$TMP/err")"
! xdp_on b vb || fail "after kill -9 and a clean run: a program is still attached"
ok "after kill -9 a new start replaces the left program and captures all 1000 frames"

# The interface goes down and up again under the capture: it goes on.
rec_start pvx "$TMP/du" -b afxdp
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 500 -s 11 2>/dev/null
in_ns pvx b ip link set vb down
sleep 0.3
in_ns pvx b ip link set vb up
sleep 1
in_ns pvx a "$TOOLS/pcv-gen" -i va -n 500 -s 12 2>/dev/null
rec_stop pvx "down/up"
grep -q "1000 packets received, 1000 stored" "$TMP/err" ||
	fail "down/up: $(tail -1 "$TMP/err")"
ok "the interface down and up again during capture: all 1000 frames stored"

# MTU.  With multi-buffer AF_XDP (Linux 6.6) a frame longer than a UMEM
# frame spans several: jumbo frames are stored whole, in native and in
# generic mode and when the MTU is raised during capture, and a filter
# that reads past a frame's first buffer is decided in userspace.  Older
# kernels: afxdp refuses an MTU above what one frame holds, and frames
# grown past it during capture are counted as dropped.
mtu() { in_ns pvx a ip link set va mtu "$1" && in_ns pvx b ip link set vb mtu "$1"; }
# mtu_raised: record (generic mode) while the MTU goes from 1500 to 9000
# and 50 frames of 5000-8000 bytes and 200 of up to 1514 are sent.
mtu_raised() {
	mtu 1500
	rec_start pvx "$TMP/m2" -b afxdp --xdp-mode generic
	mtu 9000
	in_ns pvx a "$TOOLS/pcv-gen" -i va -n 50 -s 34 --min-size 5000 --max-size 8000 2>/dev/null
	in_ns pvx a "$TOOLS/pcv-gen" -i va -n 200 -s 35 2>/dev/null
	rec_stop pvx "MTU raised"
	mtu 1500
}
kver=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
if [ "$kver" -ge 6006 ]; then
	mtu 9000
	for mode in native generic; do
		rec_start pvx "$TMP/j-$mode" -b afxdp --xdp-mode $mode
		in_ns pvx a "$TOOLS/pcv-gen" -i va -n 500 -s 31 --max-size 9000 -w "$TMP/sent.pcap" 2>/dev/null
		rec_stop pvx "MTU 9000 $mode"
		"$BIN/pcv-cat" "$TMP/j-$mode" -w "$TMP/got.pcap"
		cmp -s <(frames "$TMP/sent.pcap") <(frames "$TMP/got.pcap") ||
			fail "MTU 9000 $mode: the stored frames are not the sent ones: $(tail -1 "$TMP/err")"
	done
	ok "MTU 9000, multi-buffer: 500 frames of 60 to 9000 bytes stored whole, native and generic"
	F='udp[6000:1] > 127 or (tcp and len > 4000)'
	rec_start pvx "$TMP/jf" -b afxdp "$F"
	in_ns pvx a "$TOOLS/pcv-gen" -i va -n 1000 -s 33 --max-size 9000 -w "$TMP/sent.pcap" 2>/dev/null
	rec_stop pvx "jumbo filter"
	grep -qxF "pcv-record: filter '$F' runs in XDP" "$TMP/err" ||
		fail "jumbo filter: not in XDP: $(cat "$TMP/err")"
	stored_as_tcpdump "$TMP/jf" "$F" "jumbo filter"
	want=$(frames "$TMP/want.pcap" | wc -l)
	# XDP passed more than matched: frames it left undecided (a load
	# past the first buffer), which userspace then rejected
	passed=$(sed -n 's/.*kernel filter: \([0-9]*\) passed.*/\1/p' "$TMP/err")
	[ "${passed:-0}" -gt "$want" ] ||
		fail "jumbo filter: XDP passed ${passed:-?}, $want match: no frame left to userspace"
	ok "'$F' on jumbo frames: the $want matching frames stored, as tcpdump finds ($((passed - want)) undecided in XDP, rejected in userspace)"
	mtu_raised
	grep -q "250 packets received, 250 stored .* dropped: kernel 0," "$TMP/err" ||
		fail "MTU raised: $(tail -1 "$TMP/err")"
	ok "MTU raised to 9000 during capture: the 50 longer frames stored with the 200 others"
else
	mtu 9000
	in_ns pvx b "$REC" -b afxdp -i vb -o "$TMP/m1" -q 2>"$TMP/err" &&
		fail "MTU 9000: afxdp started"
	grep -q "MTU 9000 is more than AF_XDP frames hold" "$TMP/err" ||
		fail "MTU 9000: $(cat "$TMP/err")"
	[ ! -e "$TMP/m1" ] || fail "MTU 9000: a store was made"
	mtu_raised
	grep -q "queue 0: received 200, dropped by the kernel 50 (ring full 0, no buffer 0, invalid 50)" "$TMP/err" ||
		fail "MTU raised: $(cat "$TMP/err")"
	ok "no multi-buffer (Linux < 6.6): MTU 9000 refused; raised during capture, the 50 longer frames counted as invalid drops"
fi

# auto: afpacket on an interface with an address, afxdp on one without,
# afpacket again when another XDP program holds the interface; one line
# says why not afxdp.
auto_run() { # auto_run NAME: record 500 frames with the default backend
	rec_start pvx "$TMP/$1"
	in_ns pvx a "$TOOLS/pcv-gen" -i va -n 500 -s 41 --mix udp 2>/dev/null
	rec_stop pvx "auto $1"
	grep -q "500 packets received, 500 stored" "$TMP/err" ||
		fail "auto $1: $(tail -1 "$TMP/err")"
	[ "$(grep -c "not using afxdp" "$TMP/err")" -le 1 ] ||
		fail "auto $1: more than one line of reason"
}
auto_run addr
grep -q "not using afxdp: vb has an IP address" "$TMP/err" &&
	grep -q "backend afpacket" "$TMP/err" ||
	fail "auto with an address: $(cat "$TMP/err")"
in_ns pvx b ip addr flush dev vb
auto_run port
grep -q "backend afxdp" "$TMP/err" && ! grep -q "not using" "$TMP/err" ||
	fail "auto on a capture port: $(cat "$TMP/err")"
ok "auto: afpacket on vb with an address (one line why), afxdp once it has none"
other=$(ls /usr/lib/*/bpf/xsk_def_xdp_prog.o 2>/dev/null | head -1)
if [ -n "$other" ]; then
	in_ns pvx b ip link set dev vb xdp obj "$other" sec xdp
	auto_run busy
	in_ns pvx b ip link set dev vb xdp off
	grep -q "not using afxdp: vb: attaching the XDP program" "$TMP/err" &&
		grep -q "backend afpacket" "$TMP/err" ||
		fail "auto with another XDP program: $(cat "$TMP/err")"
	ok "auto with libxdp's own program on vb: afpacket, one line why"
else
	echo "  skipped: auto beside another XDP program (libxdp's xsk_def_xdp_prog.o not found)"
fi
in_ns pvx b ip addr add 10.200.0.2/24 dev vb

# Two receive queues, a thread each.
netns_up pvxq --queues 2
rec_start pvxq "$TMP/mq" -b afxdp --cpu 0,1
in_ns pvxq a "$TOOLS/pcv-gen" -i va -n 4000 -s 9 -w "$TMP/sent.pcap" 2>/dev/null
rec_stop pvxq "2 queues"
grep -q "4000 packets received, 4000 stored" "$TMP/err" ||
	fail "2 queues: $(tail -1 "$TMP/err")"
grep -q "queue 1: received [1-9][0-9]*, dropped by the kernel 0 " "$TMP/err" ||
	fail "2 queues: no line for queue 1: $(cat "$TMP/err")"
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
