#!/usr/bin/env bash
# Stenographer's documented queries (its README, the primitives of its
# query grammar, its parser tests and its integration test) run by
# pcv-query on real traffic.  Each must return exactly the packets of an
# equivalent pcap-filter spelling - through pcv-query, and through
# `tcpdump -r FILE -w - EQUIVALENT` - and at least one packet, so the
# comparison proves something.  Equivalents are written with `or` or
# parentheses where they can, so that the flow index, which the
# Stenographer spelling lets pcv-query use, is left out of the reference.
# Time terms are checked against since/until in Unix seconds and against
# tcpdump's output cut to the window.  Two queries Stenographer accepts and
# libpcap's language does not are refused with exit 2 and a caret.
#
# Where an example's literal address or port matches nothing in the
# corpus, the test uses one that does, in the same shape (marked
# "adapted"); relative times keep their "N{m,h} ago" shape with N chosen so
# the cut falls inside the corpus.
. "$(dirname "$0")/lib.sh"

[ -d "$PCV_CORPUS" ] || skip "corpus not found at $PCV_CORPUS (set PCV_CORPUS)"
F=$PCV_CORPUS/mixed-small.pcap
[ -f "$F" ] || skip "corpus file $F not found (set PCV_CORPUS)"
Q=$BIN/pcv-query
ST=$TMP/store
n=0

"$BIN/pcv-record" -q -r "$F" -o "$ST" --block-size 64KiB 2>/dev/null ||
	[ -f "$ST/index.sqlite" ] || fail "import of ${F##*/} failed"

# query QUERY OUT.pcap: pcv-query, which must succeed.
query() {
	"$Q" -d "$ST" -w "$2" "$1" 2>"$TMP/err" ||
		fail "'$1': pcv-query failed: $(cat "$TMP/err")"
}

same_records() {
	"$TOOLS/pcv-pcapcmp" "$1" "$2" >/dev/null
}

count() {
	tcpdump -r "$1" --count 2>/dev/null | awk '{ print $1 }'
}

# same STENO EQUIV: identical packets from pcv-query STENO, pcv-query
# EQUIV and tcpdump EQUIV; not none.
same() {
	query "$1" "$TMP/steno.pcap"
	query "$2" "$TMP/equiv.pcap"
	tcpdump -r "$F" -w "$TMP/ref.pcap" "$2" 2>/dev/null ||
		fail "tcpdump refused '$2'"
	same_records "$TMP/steno.pcap" "$TMP/equiv.pcap" ||
		fail "'$1': not the packets of pcv-query '$2'"
	same_records "$TMP/steno.pcap" "$TMP/ref.pcap" ||
		fail "'$1': not the packets tcpdump keeps for '$2'"
	[ "$(count "$TMP/steno.pcap")" -gt 0 ] ||
		fail "'$1': no packet, which proves nothing"
	ok "$(printf '%-46s = %s (%s packets)' "'$1'" "'$2'" \
		"$(count "$TMP/steno.pcap")")"
	n=$((n + 1))
}

# same_window STENO FILTER LO HI: pcv-query STENO returns the packets of
# FILTER with LO <= time < HI (whole Unix seconds; "" for no bound): the
# same as pcv-query 'FILTER and since LO and until HI', and the same
# lines as tcpdump FILTER's output cut to the window.
same_window() {
	local steno=$1 filter=$2 lo=$3 hi=$4 equiv=$2

	[ -z "$lo" ] || equiv="${equiv:+$equiv and }since $lo"
	[ -z "$hi" ] || equiv="${equiv:+$equiv and }until $hi"
	query "$steno" "$TMP/steno.pcap"
	query "$equiv" "$TMP/equiv.pcap"
	same_records "$TMP/steno.pcap" "$TMP/equiv.pcap" ||
		fail "'$steno': not the packets of pcv-query '$equiv'"
	# one line per packet: continuation lines of decodes left out
	tcpdump -tt -nn -S -r "$F" ${filter:+"$filter"} 2>/dev/null |
		awk -v lo="${lo:-0}" -v hi="${hi:-99999999999}" \
			'/^[0-9]/ && $1 >= lo && $1 < hi' >"$TMP/ref.txt"
	tcpdump -tt -nn -S -r "$TMP/steno.pcap" 2>/dev/null |
		awk '/^[0-9]/' >"$TMP/ours.txt"
	[ -s "$TMP/ref.txt" ] || fail "'$steno': an empty window proves nothing"
	cmp -s "$TMP/ref.txt" "$TMP/ours.txt" ||
		fail "'$steno': $(wc -l <"$TMP/ours.txt") packets, tcpdump cut to the window has $(wc -l <"$TMP/ref.txt")"
	ok "$(printf '%-46s = %s (%s packets)' "'$steno'" "'$equiv'" \
		"$(wc -l <"$TMP/ours.txt")")"
	n=$((n + 1))
}

# The README's primitives.
same 'host 8.8.8.8' 'ip host 8.8.8.8 or arp host 8.8.8.8 or rarp host 8.8.8.8'
same 'net 1.0.0.0/8' 'net 1.0.0.0 mask 255.0.0.0'
same 'net 1.0.0.0 mask 255.255.255.0' 'src net 1.0.0.0/24 or dst net 1.0.0.0/24'
same 'port 80' 'tcp port 80 or udp port 80 or sctp port 80'
same 'ip proto 6' 'ip and ip[9] = 6'
same 'icmp' 'ip and ip[9] = 1'
same 'tcp' 'ip proto 6 or ip6 proto 6'
same 'udp' 'ip proto 17 or ip6 proto 17'
# The two primitives of its grammar the README leaves out: the VLAN ID of
# the (outermost) 802.1Q tag, the label of the (first) MPLS entry.
same 'vlan 200' 'vlan and (ether[14:2] & 0xfff = 200)'
same 'mpls 29' 'mpls and (ether[14:4] >> 12 = 29)'

# and/&&, or/|| of equal precedence, left to right; parentheses group.
same '(udp and port 514) or (tcp and port 8080)' 'udp port 514 or tcp port 8080'
same 'udp and port 514 or tcp and port 80' '((udp and port 514) or tcp) and port 80'
same '(udp && port 514) or (tcp and port 80)' 'udp port 514 || tcp port 80'
same '(port 80 or (host 1.2.3.4 and tcp) or port 7)' 'port 7 or port 80 or (tcp and host 1.2.3.4)'

# stenoread's examples; adapted: 'host 1.2.3.4 and port 6543' and
# 'port 8765' match nothing here.
same 'host 8.8.8.8 and port 53' '(host 8.8.8.8) and (port 53)'
same 'port 8080' 'src port 8080 or dst port 8080'
same 'net 1.1.1.0/24' 'net 1.1.1.0 mask 255.255.255.0'
# Its integration test; adapted: 'port 21582' and 'host 0.100.194.86'
# match nothing here.
same 'net 0.0.0.0/8' 'net 0.0.0.0 mask 255.0.0.0'
same 'net 172.0.0.0/8 and port 23' '(port 23) and (net 172.0.0.0/8)'
same 'host 1.1.1.1' 'src host 1.1.1.1 or dst host 1.1.1.1'

# Time terms, the README's own instants: 2012-11-03T11:05:00Z is Unix
# 1351940700; 11:05:00-07:00 the same day is 18:05:00Z, 1351965900.
same_window 'before 2012-11-03T11:05:00Z' '' '' 1351940700
same_window 'after 2012-11-03T11:05:00-07:00' '' 1351965900 ''
same_window 'udp and after 2012-11-03T11:05:00Z' 'udp' 1351940700 ''

# Relative times ("before 45m ago", "after 3h ago"): the corpus is older
# than 45 minutes, so N is chosen to put the cut in the middle of a quiet
# stretch of at least an hour in the second half of the corpus - far from
# any packet, whatever the seconds between this shell's clock and
# pcv-query's.
gap=$(tcpdump -tt -nn -r "$F" 2>/dev/null | awk '/^[0-9]/ { print int($1) }' |
	sort -n | awk '{ t[NR] = $1 }
	END { for (i = int(NR / 2); i < NR; i++)
		if (t[i + 1] - t[i] >= 3600) {
			print int((t[i] + t[i + 1]) / 2); exit } }')
[ -n "$gap" ] || fail "no quiet hour in the second half of the corpus"
now=$(date +%s)
if [ "$now" -gt $((gap + 86400)) ]; then
	mins=$(((now - gap) / 60)) hours=$(((now - gap) / 3600))
	cut_m=$((now - mins * 60)) cut_h=$((now - hours * 3600))
	same_window "before ${mins}m ago" '' '' $cut_m
	same_window "after ${hours}h ago" '' $cut_h ''
	# host, port and a relative time, as Stenographer users write them
	same_window "host 8.8.8.8 and port 53 and after ${hours}h ago" \
		'host 8.8.8.8 and port 53' $cut_h ''
	same_window "tcp and after 2012-11-03T11:05:00-07:00 and before ${mins}m ago" \
		'tcp' 1351965900 $cut_m
else
	ok "relative times left out: the clock ($now) is not after the corpus"
fi
ok "$n Stenographer queries: identical to their pcap-filter spellings and to tcpdump"

# Stenographer accepts these (its parser tests); pcv-query refuses them
# with exit 2 and a caret, writing nothing: libpcap wants the network
# address itself, and time terms here join the rest by a top-level 'and'.
for e in 'net 1.2.3.4/8' \
	'(port 80 && after 2015-01-01T13:14:15Z) || (host 1.2.3.4 && before 2015-01-01T13:14:15Z)'; do
	rc=0
	"$Q" -d "$ST" -w "$TMP/bad.pcap" "$e" 2>"$TMP/err" || rc=$?
	[ $rc -eq 2 ] || fail "'$e': exit $rc, want 2: $(cat "$TMP/err")"
	grep -q 'bad query' "$TMP/err" && grep -q '^ *\^$' "$TMP/err" ||
		fail "'$e': no message with a caret: $(cat "$TMP/err")"
	[ ! -e "$TMP/bad.pcap" ] || fail "'$e': left an output file"
done
ok "2 Stenographer queries outside pcap-filter: exit 2 with a caret"
