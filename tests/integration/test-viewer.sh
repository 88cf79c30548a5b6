#!/usr/bin/env bash
# The packetvelocity viewer, live on a veth pair and on files: per-packet
# lines, packet and time limits, a clean stop on SIGINT with statistics,
# promiscuous mode, and one clear message for each kind of bad input.
. "$(dirname "$0")/lib.sh"

PV=$BIN/packetvelocity
netns_up pvvw

# viewer_bg OUT ARGS...: start the viewer in namespace b; wait until it
# says it is capturing.
viewer_bg() {
	local out=$1
	shift
	in_ns pvvw b "$PV" -i vb "$@" >"$out" 2>"$out.err" &
	vpid=$!
	local n=200
	until grep -q "capturing on vb" "$out.err" 2>/dev/null; do
		n=$((n - 1))
		[ $n -gt 0 ] || fail "the viewer did not start: $(cat "$out.err")"
		sleep 0.05
	done
}

# -v with a packet limit: exactly that many lines, then exit 0.
viewer_bg "$TMP/v" -v -I --packet-num 10
in_ns pvvw a "$TOOLS/pcv-gen" -i va -n 50 2>/dev/null
wait $vpid || fail "viewer -v --packet-num 10 exited $?"
[ "$(wc -l <"$TMP/v")" -eq 10 ] || fail "expected 10 lines: $(cat "$TMP/v")"
grep -q '^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]\{9\} .*IP6\? .*length' "$TMP/v" ||
	fail "lines do not look like packets: $(head -3 "$TMP/v")"
grep -q "vlan [0-9]" "$TMP/v" || fail "no VLAN shown: $(cat "$TMP/v")"
ok "-v --packet-num 10: 10 packet lines"

# Summary mode, stopped by SIGINT: counts and statistics, exit 0.
viewer_bg "$TMP/s" -p
# Sockets raise the promiscuity count, which `ip link` shows only with -d.
ip -d -n pvvw-b link show vb | grep -q "promiscuity 1" ||
	fail "-p: vb is not promiscuous: $(ip -d -n pvvw-b link show vb)"
ok "-p: interface promiscuous while capturing"
in_ns pvvw a "$TOOLS/pcv-gen" -i va -n 300 2>/dev/null
sleep 0.5 # the last block is handed over after the 100 ms block timeout
# $vpid is a subshell; signal the viewer itself, the only process in b.
kill -INT $(ip netns pids pvvw-b)
wait $vpid || fail "viewer exited $? after SIGINT"
grep -q "^300 packets" "$TMP/s" || fail "summary: $(cat "$TMP/s")"
grep -q "300 packets received, 0 dropped by the kernel" "$TMP/s.err" ||
	fail "statistics: $(cat "$TMP/s.err")"
ip -d -n pvvw-b link show vb | grep -q "promiscuity 0" ||
	fail "vb still promiscuous after the viewer stopped"
ok "SIGINT: clean stop, 300 packets counted, 0 dropped"

# A time limit.
start=$SECONDS
in_ns pvvw b "$PV" -i vb --seconds-num 1 >/dev/null 2>&1 ||
	fail "--seconds-num 1 exited $?"
[ $((SECONDS - start)) -le 3 ] || fail "--seconds-num 1 took $((SECONDS - start)) s"
ok "--seconds-num 1 stops"

# expect_err CODE PATTERN ARGS...: the viewer exits CODE and says PATTERN.
expect_err() {
	local code=$1 pat=$2 rc=0
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
	[ $rc -eq "$code" ] || fail "'$*' exited $rc, expected $code: $(cat "$TMP/err")"
	grep -q -- "$pat" "$TMP/err" || fail "'$*' said: $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/err")" -le 2 ] || fail "'$*' said too much: $(cat "$TMP/err")"
	ok "$(echo "$*" | sed "s|$BIN/||") -> $code: $(head -1 "$TMP/err" | cut -c1-90)"
}

expect_err 1 "no such network interface" in_ns pvvw b "$PV" -i nosuch0
expect_err 2 "exactly one of -i IFACE or -r FILE" "$PV"
expect_err 2 "exactly one of" "$PV" -i vb -r x.pcap
expect_err 2 "out of range" "$PV" -i vb -s 0
expect_err 2 "out of range" "$PV" -i vb -s 999999999
expect_err 2 "is not a number" "$PV" -i vb -s abc
expect_err 2 "is not a number" "$PV" -i vb --packet-num -1
expect_err 2 "out of range" "$PV" -i vb --packet-num 0
expect_err 2 "is not a size" "$PV" -i vb -B lots
expect_err 2 "unknown backend 'nonsense'" "$PV" -i vb -b nonsense
expect_err 2 "bad filter expression 'port 99999'" in_ns pvvw b "$PV" -i vb 'port 99999'
expect_err 2 "give -f FILE or -l VFLISP, not both" "$PV" -i vb -l 1 -f x.vfl
expect_err 2 "unknown function" "$PV" -i vb -l '(frob 1)'
expect_err 1 "No such file" "$PV" -i vb -f "$TMP/none.vfl"
expect_err 2 "Try" "$PV" --no-such-flag
expect_err 1 "not a readable capture file" "$PV" -r /etc/passwd
expect_err 1 "No such file" "$PV" -r "$TMP/missing.pcap"
: >"$TMP/empty.pcap"
expect_err 1 "not a readable capture file" "$PV" -r "$TMP/empty.pcap"
expect_err 1 "CAP_NET_RAW" in_ns pvvw b setpriv --reuid=65534 --regid=65534 \
	--clear-groups --inh-caps=-all --bounding-set=-all "$PV" -i vb

# A truncated file: the packets before the damage, then the error.
"$TOOLS/pcv-gen" -o "$TMP/whole.pcap" -n 20 2>/dev/null
head -c 3000 "$TMP/whole.pcap" >"$TMP/cut.pcap"
want=$(tcpdump --count -r "$TMP/cut.pcap" 2>/dev/null | awk '{print $1}')
rc=0
"$PV" -r "$TMP/cut.pcap" -v >"$TMP/out" 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] || fail "truncated file: exit $rc"
[ "$(wc -l <"$TMP/out")" -eq "$want" ] ||
	fail "truncated file: $(wc -l <"$TMP/out") packets shown, tcpdump reads $want"
grep -q "cut.pcap: unreadable record at offset [0-9]*, after $want packets" "$TMP/err" ||
	fail "truncated file: $(cat "$TMP/err")"
ok "truncated file: $want packets, then: $(tail -1 "$TMP/err" | cut -c1-80)"
