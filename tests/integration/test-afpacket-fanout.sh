#!/usr/bin/env bash
# Two afpacket handles in one PACKET_FANOUT group share an interface: each
# frame goes to exactly one of them, and together they saw every frame.
. "$(dirname "$0")/lib.sh"

N=2000
netns_up pvfo
pids=()
for i in 1 2; do
	rm -f "$TMP/ready$i"
	in_ns pvfo b "$TOOLS/pcv-capture" -i vb -t 4 --fanout 42 \
		--fanout-mode lb -w "$TMP/got$i.pcap" --ready "$TMP/ready$i" \
		>"$TMP/stats$i" &
	pids+=($!)
done
wait_file "$TMP/ready1"
wait_file "$TMP/ready2"
in_ns pvfo a "$TOOLS/pcv-gen" -i va -n $N -w "$TMP/sent.pcap" 2>/dev/null
for p in "${pids[@]}"; do
	wait "$p" || fail "a fanout member failed"
done
n1=$(field received "$(cat "$TMP/stats1")")
n2=$(field received "$(cat "$TMP/stats2")")
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "one member got nothing: $n1 + $n2"
[ $((n1 + n2)) -eq $N ] || fail "members saw $n1 + $n2 frames, sent $N"
cmp -s <(frames "$TMP/sent.pcap" | sort) \
	<(cat <(frames "$TMP/got1.pcap") <(frames "$TMP/got2.pcap") | sort) ||
	fail "the union of the members' frames is not what was sent"
ok "fanout: $n1 + $n2 = $N frames, each exactly once"
