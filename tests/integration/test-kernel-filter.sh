#!/usr/bin/env bash
# A tcpdump expression given at open runs in the kernel on AF_PACKET: only
# matching frames reach userspace (the kernel's own counter says so), and
# they are exactly the matching frames that were sent.  Live compile
# semantics are tcpdump -i's: the kernel has moved VLAN tags into metadata,
# so 'udp' also matches tagged UDP, and 'vlan and udp' only tagged UDP.
. "$(dirname "$0")/lib.sh"

N=3000
netns_up pvkf
"$TOOLS/pcv-gen" -o "$TMP/sent.pcap" -n $N 2>/dev/null

check() {
	local expr=$1 expect=$2 want st
	tcpdump -r "$TMP/sent.pcap" -w "$TMP/want.pcap" "$expect" 2>/dev/null
	want=$(tcpdump -nr "$TMP/want.pcap" 2>/dev/null | wc -l)
	rm -f "$TMP/ready"
	in_ns pvkf b "$TOOLS/pcv-capture" -i vb --filter "$expr" -c "$want" \
		-t 30 -w "$TMP/got.pcap" --ready "$TMP/ready" >"$TMP/stats" &
	local cap=$!
	wait_file "$TMP/ready"
	in_ns pvkf a "$TOOLS/pcv-gen" -i va -n $N 2>/dev/null
	# Frames the filter rejects never arrive, so count on a short wait
	# for the ones after the last match.
	sleep 0.5
	kill -INT $(ip netns pids pvkf-b) 2>/dev/null || true
	wait $cap || fail "'$expr': pcv-capture failed"
	st=$(cat "$TMP/stats")
	[ "$(field received "$st")" = "$want" ] ||
		fail "'$expr': received $(field received "$st"), expected $want"
	[ "$(field kernel_seen "$st")" = "$want" ] ||
		fail "'$expr': the kernel passed $(field kernel_seen "$st") to userspace, expected $want"
	cmp -s <(frames "$TMP/want.pcap") <(frames "$TMP/got.pcap") ||
		fail "'$expr': not the expected frames"
	ok "'$expr': $want of $N frames reached userspace, all and only the matching ones"
}

check 'udp' 'udp or (vlan and udp)'
check 'vlan and udp' 'vlan and udp'
check 'ip6 and tcp' 'ip6 and tcp or (vlan and ip6 and tcp)'
check 'icmp or icmp6' 'icmp or icmp6 or (vlan and (icmp or icmp6))'

# A bad expression: exit 2 with libpcap's message and the expression.
rc=0
in_ns pvkf b "$BIN/packetvelocity" -i vb 'tcp prot 80' >/dev/null 2>"$TMP/err" || rc=$?
[ $rc -eq 2 ] || fail "bad expression: exit $rc"
grep -q "bad filter expression 'tcp prot 80': .*syntax error" "$TMP/err" ||
	fail "bad expression: $(cat "$TMP/err")"
ok "bad expression -> 2: $(cat "$TMP/err")"
