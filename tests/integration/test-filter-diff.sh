#!/usr/bin/env bash
# Differential against tcpdump on real traffic: for each expression, the
# packets our filter keeps from a corpus file are exactly those
# `tcpdump -r FILE -w - EXPR` keeps: same packets, same order, same bytes,
# same timestamps.  Then VFLisp filters against their tcpdump equivalents.
. "$(dirname "$0")/lib.sh"

[ -d "$PCV_CORPUS" ] || skip "corpus not found at $PCV_CORPUS (set PCV_CORPUS)"
FILES=("$PCV_CORPUS/mixed-small.pcap" "$PCV_CORPUS/malformed/malformed-en10mb.pcap")

# same_records A B: the two pcap files hold identical records.
same_records() {
	"$TOOLS/pcv-pcapcmp" "$1" "$2" >/dev/null
}

EXPRS=(
	'port 443' 'tcp port 443' 'udp port 53' 'port 53' 'vlan'
	'vlan and port 443' 'ip6' 'ip6 and tcp' 'icmp' 'icmp6'
	'ip[6:2] & 0x1fff != 0' 'ip[6:2] & 0x3fff != 0' 'ip6 and ip6[6] == 44'
	'host 192.168.1.1' 'net 10.0.0.0/8' 'ip proto 47'
	'ip proto 4 or ip proto 41' 'tcp[tcpflags] & tcp-syn != 0' 'mpls'
	'pppoes' 'not ip' 'src portrange 1000-2000' 'greater 1000' 'less 64'
	'ether broadcast' 'arp' 'tcp and not (port 80 or port 443)'
	'ip6 and src net 2001:db8::/32' 'udp and (dst port 123 or dst port 161)'
	'ip and ip[8] < 64'
)
n=0
for f in "${FILES[@]}"; do
	for e in "${EXPRS[@]}"; do
		tcpdump -r "$f" -w "$TMP/ref.pcap" "$e" 2>/dev/null ||
			fail "tcpdump refused '$e'"
		"$TOOLS/pcv-capture" -r "$f" --filter "$e" \
			-w "$TMP/ours.pcap" >/dev/null ||
			fail "pcv-capture failed on '$e'"
		same_records "$TMP/ref.pcap" "$TMP/ours.pcap" ||
			fail "${f##*/} '$e': not the packets tcpdump keeps"
		n=$((n + 1))
	done
done
ok "${#EXPRS[@]} expressions x ${#FILES[@]} files: identical to tcpdump -r ($n runs)"

# VFLisp against libpcap: pairs with the same meaning on these files.
# The VFM fields of the upstream vocabulary read fixed offsets of an
# untagged Ethernet frame, as libpcap's expressions without 'vlan' do.
VFL=(
	'(= ethertype 0x0800)'                         'ether proto 0x0800'
	'(= ethertype 0x86dd)'                         'ip6'
	'(and (= ethertype 0x0800) (= proto 6))'       'ip proto 6'
	'(and (= ethertype 0x0800) (= proto 17))'      'ip proto 17'
	'(and (= ethertype 0x0800) (= src-ip 192.168.1.1))' 'ip src host 192.168.1.1'
	'(and (= ethertype 0x0800) (in-net dst-ip 10.0.0.0/8))' 'ip dst net 10.0.0.0/8'
	'(and (= ethertype 0x0800) (> ip-len 1000))'   'ip[2:2] > 1000'
	'(and (= ethertype 0x0800) (= proto 47))'      'ip proto 47'
	'(and (= ethertype 0x86dd) (= next-hdr 58))'   'ip6 and ip6[6] == 58'
	'(and (= ethertype 0x0800) (= (& ip-len 1) 1))' 'ip[3] & 1 == 1'
	'(= ethertype 0x0806)'                         'arp'
	'(or (= ethertype 0x8100) (= ethertype 0x88a8))' 'ether proto 0x8100 or ether proto 0x88a8'
	'(= vlan-id 100)'                              'vlan 100'
	'(and (= ethertype 0x86dd) (= dst-ip6 ::1))'   'ip6 dst host ::1'
	'(and (= ethertype 0x86dd) (in-net src-ip6 2001:db8::/32))' 'ip6 src net 2001:db8::/32'
	'(and (= ethertype 0x0800) (= l4-proto 17) (= l4-dst-port 53))' 'ip and udp dst port 53'
)
f=${FILES[0]}
for ((i = 0; i < ${#VFL[@]}; i += 2)); do
	l=${VFL[i]} e=${VFL[i + 1]}
	tcpdump -r "$f" -w "$TMP/ref.pcap" "$e" 2>/dev/null || fail "tcpdump refused '$e'"
	"$TOOLS/pcv-capture" -r "$f" --vfl "$l" -w "$TMP/ours.pcap" \
		>/dev/null || fail "pcv-capture --vfl '$l' failed"
	same_records "$TMP/ref.pcap" "$TMP/ours.pcap" ||
		fail "VFLisp '$l' keeps other packets than tcpdump '$e'"
done
ok "$((${#VFL[@]} / 2)) VFLisp filters select exactly what libpcap selects"
