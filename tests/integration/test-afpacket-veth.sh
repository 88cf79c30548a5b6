#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The afpacket backend on a veth pair sees exactly the N frames a generator
# sent (IPv4, IPv6, VLAN-tagged, TCP, UDP, ICMP, 60..1514 bytes), byte for
# byte, with zero kernel drops, for large and single-packet batches.
. "$(dirname "$0")/lib.sh"

N=3000
netns_up pvaf
for batch in 64 1; do
	rm -f "$TMP/ready"
	in_ns pvaf b "$TOOLS/pcv-capture" -i vb -b afpacket -c $N -t 30 \
		--batch $batch -w "$TMP/got.pcap" --ready "$TMP/ready" \
		>"$TMP/stats" &
	cap=$!
	wait_file "$TMP/ready"
	in_ns pvaf a "$TOOLS/pcv-gen" -i va -n $N -s $batch \
		-w "$TMP/sent.pcap" 2>/dev/null
	wait $cap || fail "pcv-capture failed (batch $batch)"
	st=$(cat "$TMP/stats")
	[ "$(field received "$st")" = $N ] ||
		fail "batch $batch: received $(field received "$st"), sent $N"
	[ "$(field kernel_dropped "$st")" = 0 ] ||
		fail "batch $batch: kernel dropped $(field kernel_dropped "$st")"
	same_frames "$TMP/sent.pcap" "$TMP/got.pcap" ||
		fail "batch $batch: captured frames differ from the sent ones"
	vlan=$(tcpdump -r "$TMP/got.pcap" -nn vlan 2>/dev/null | wc -l)
	[ "$vlan" -gt 0 ] || fail "no VLAN-tagged frame came back tagged"
	ok "batch $batch: $N frames identical ($vlan VLAN-tagged), 0 kernel drops"
done

# A short snaplen: every frame arrives, cut to 100 bytes.
rm -f "$TMP/ready"
in_ns pvaf b "$TOOLS/pcv-capture" -i vb -c 500 -t 30 -s 100 \
	-w "$TMP/snap.pcap" --ready "$TMP/ready" >"$TMP/stats" &
cap=$!
wait_file "$TMP/ready"
in_ns pvaf a "$TOOLS/pcv-gen" -i va -n 500 --min-size 200 2>/dev/null
wait $cap || fail "pcv-capture -s 100 failed"
st=$(cat "$TMP/stats")
[ "$(field received "$st")" = 500 ] || fail "snaplen 100: received $st"
[ "$(field bytes "$st")" = 50000 ] ||
	fail "snaplen 100: $(field bytes "$st") bytes kept, expected 50000"
ok "snaplen 100: 500 frames, 100 bytes each"
