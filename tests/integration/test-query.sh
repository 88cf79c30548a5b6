#!/usr/bin/env bash
# pcv-query against tcpdump on real traffic: a corpus file is imported,
# then for each expression the packets pcv-query returns are exactly those
# `tcpdump -r FILE -w - EXPR` keeps (bytes, order, timestamps); time
# windows cut the same reference; Stenographer-style queries equal their
# pcap-filter spellings; malformed queries exit 2 with a caret.
. "$(dirname "$0")/lib.sh"

[ -d "$PCV_CORPUS" ] || skip "corpus not found at $PCV_CORPUS (set PCV_CORPUS)"
FILES=("$PCV_CORPUS/mixed-small.pcap" "$PCV_CORPUS/malformed/malformed-en10mb.pcap")
Q=$BIN/pcv-query

same_records() {
	"$TOOLS/pcv-pcapcmp" "$1" "$2" >/dev/null
}

EXPRS=(
	'' 'tcp' 'udp' 'icmp' 'icmp6' 'sctp' 'arp' 'ip6' 'vlan' 'mpls' 'pppoes'
	'port 443' 'tcp port 443' 'udp port 53' 'port 53' 'dst port 53'
	'src port 443' 'port 80 or port 8080' 'not port 443' 'portrange 1-1024'
	'host 192.168.1.1' 'src host 192.168.1.1' 'host 192.168.1.1 and port 53'
	'host 10.0.2.15' 'net 10.0.0.0/8' 'net 192.168.0.0/16 and udp'
	'net 192.168.0.0 mask 255.255.0.0' 'ip6 and src net 2001:db8::/32'
	'ip proto 47' 'ip proto 6' 'ip6 proto 17' 'ip proto 4 or ip proto 41'
	'vlan and port 443' 'vlan and tcp' 'ip6 and tcp' 'ip6 and udp'
	'tcp[tcpflags] & tcp-syn != 0' 'ip[6:2] & 0x1fff != 0'
	'ip6 and ip6[6] == 44' 'greater 1000' 'less 64' 'ether broadcast'
	'not ip' 'tcp and not (port 80 or port 443)' 'ip && tcp' 'tcp || udp'
	'! tcp' 'udp and (dst port 123 or dst port 161)' 'ip and ip[8] < 64'
	'tcp and port 443 and host 192.168.2.110'
	'vlan 77' 'vlan 200 and udp' 'vlan 3394 or vlan 5' 'vlan 113 and vlan'
	'vlan and vlan 77' 'not vlan 200'
)
n=0
for f in "${FILES[@]}"; do
	st=$TMP/st-${f##*/}
	"$BIN/pcv-record" -q -r "$f" -o "$st" --block-size 64KiB 2>/dev/null ||
		[ -f "$st/index.sqlite" ] || fail "import of ${f##*/} failed"
	for e in "${EXPRS[@]}"; do
		tcpdump -r "$f" -w "$TMP/ref.pcap" $e 2>/dev/null ||
			tcpdump -r "$f" -w "$TMP/ref.pcap" "$e" 2>/dev/null ||
			fail "tcpdump refused '$e'"
		"$Q" -d "$st" -w "$TMP/ours.pcap" "$e" 2>"$TMP/err" ||
			fail "${f##*/} '$e': pcv-query failed: $(cat "$TMP/err")"
		same_records "$TMP/ref.pcap" "$TMP/ours.pcap" ||
			fail "${f##*/} '$e': not the packets tcpdump keeps"
		n=$((n + 1))
	done
done
ok "${#EXPRS[@]} expressions x ${#FILES[@]} files: identical to tcpdump -r ($n runs)"

# Pruning stays conservative when the index is coarse: 16 exact flows
# per commit, the rest in class rows.  Same expressions, same answers.
f=${FILES[0]}
co=$TMP/st-coarse
"$BIN/pcv-record" -q -r "$f" -o "$co" --block-size 64KiB --max-flows 16 2>/dev/null ||
	fail "import with --max-flows 16 failed"
cpk=$(sqlite3 "$co/index.sqlite" 'select sum(pkts) from flows where coarse > 0')
[ "$cpk" -gt 100000 ] || fail "--max-flows 16: only $cpk packets in coarse rows"
for e in "${EXPRS[@]}"; do
	tcpdump -r "$f" -w "$TMP/ref.pcap" $e 2>/dev/null ||
		tcpdump -r "$f" -w "$TMP/ref.pcap" "$e" 2>/dev/null
	"$Q" -d "$co" -w "$TMP/ours.pcap" "$e" 2>"$TMP/err" ||
		fail "coarse index '$e': $(cat "$TMP/err")"
	same_records "$TMP/ref.pcap" "$TMP/ours.pcap" ||
		fail "coarse index '$e': not the packets tcpdump keeps"
done
ok "a coarse index ($cpk of 119851 packets in class rows): the ${#EXPRS[@]} expressions still exact"

# Encapsulations after which libpcap reads an inner packet: keywords that
# move its offsets.  Each store holds only such packets, so a term read
# on the wrong header would prune everything.
f=${FILES[0]}
for k in geneve pppoes vlan mpls; do
	sub=$TMP/$k.pcap
	tcpdump -r "$f" -w "$sub" $k 2>/dev/null
	rm -rf "$TMP/st-$k"
	"$BIN/pcv-record" -q -r "$sub" -o "$TMP/st-$k" --block-size 16KiB 2>/dev/null ||
		fail "import of the $k packets failed"
done
ENC=(
	'geneve and host 30.0.0.1' 'geneve and icmp' 'geneve and ip proto 1'
	'host 20.0.0.1 and geneve and host 30.0.0.2'
	'pppoes and host 95.136.242.54' 'pppoes and port 514' 'pppoes and tcp'
	'vlan and host 10.28.168.253' 'vlan and udp port 1985' 'vlan and udp'
	'mpls and host 10.34.0.1' 'mpls and icmp' 'mpls and net 10.0.0.0/8'
)
for e in "${ENC[@]}"; do
	k=${e%% *}
	[ "$k" = host ] && k=geneve
	tcpdump -r "$TMP/$k.pcap" -w "$TMP/ref.pcap" "$e" 2>/dev/null
	[ "$(tcpdump -r "$TMP/ref.pcap" --count 2>/dev/null | awk '{print $1}')" -gt 0 ] ||
		fail "'$e' matches nothing: pick another address"
	"$Q" -d "$TMP/st-$k" -w "$TMP/ours.pcap" "$e" 2>"$TMP/err" ||
		fail "'$e': $(cat "$TMP/err")"
	same_records "$TMP/ref.pcap" "$TMP/ours.pcap" ||
		fail "'$e': not the packets tcpdump keeps (an index term read on the wrong header?)"
done
ok "${#ENC[@]} expressions inside geneve, pppoes, vlan and mpls: identical to tcpdump -r"

# Link types the dissector does not read (PPP, Frame Relay, ...): their
# flow rows know nothing, while libpcap still finds addresses, so a host
# query must read their blocks.  Every corpus file of another link type
# than Ethernet with IPv4 packets, its first IPv4 source as the host.
m=0
while IFS= read -r g; do
	lt=$(tcpdump -r "$g" -c 1 2>&1 | sed -n 's/.*link-type \([A-Z0-9_]*\).*/\1/p')
	case $lt in ''|EN10MB) continue ;; esac
	h=$(tcpdump -nn -r "$g" ip 2>/dev/null | grep -o ' IP [0-9]*\.[0-9]*\.[0-9]*\.[0-9]*' | head -1 | awk '{print $2}')
	[ -n "$h" ] || continue
	rm -rf "$TMP/st-lt"
	"$BIN/pcv-record" -q -r "$g" -o "$TMP/st-lt" 2>/dev/null || [ -f "$TMP/st-lt/index.sqlite" ] || continue
	want=$(tcpdump -r "$g" --count "host $h" 2>/dev/null | awk '{print $1}')
	got=$("$Q" -d "$TMP/st-lt" --count "host $h" 2>"$TMP/err") || fail "${g##*/}: $(cat "$TMP/err")"
	[ "$got" = "$want" ] || fail "${g##*/} ($lt) 'host $h': $got packets, tcpdump $want"
	m=$((m + 1))
done < <(find "$PCV_CORPUS/malformed" -type f -name '*.pcap*' | sort)
[ $m -gt 5 ] || fail "only $m files of other link types with IPv4 hosts"
ok "$m files of other link types (PPP, SLL, raw IP, ...): 'host H' counts equal tcpdump's"

# Time windows: whole seconds inside the first file, against tcpdump's
# output cut to the same window ([A, B): A included, B excluded); one
# line per packet (continuation lines of multi-line decodes left out).
f=${FILES[0]}
st=$TMP/st-${f##*/}
read -r first last < <(tcpdump -tt -nn -r "$f" 2>/dev/null |
	awk 'NR == 1 { f = $1 } { l = $1 } END { printf "%d %d\n", f, l }')
a=$((first + (last - first) / 3)) b=$((first + 2 * (last - first) / 3))
[ $b -gt $a ] || b=$((a + 1))
for w in "since $a" "until $b" "between $a and $b" "after $a and before $b" \
	"port 443 and between $a and $b" "between $a and $b and udp"; do
	lo=0 hi=99999999999
	case $w in *"since $a"*|*"after $a"*|*"between $a"*) lo=$a ;; esac
	case $w in *"until $b"*|*"before $b"*|*"and $b"*) hi=$b ;; esac
	e=$(echo "$w" | sed -e 's/between [0-9]* and [0-9]*//' -e 's/since [0-9]*//' \
		-e 's/until [0-9]*//' -e 's/after [0-9]*//' -e 's/before [0-9]*//' \
		-e 's/^ *and *//' -e 's/ *and *$//' -e 's/^ *and *//')
	tcpdump -tt -nn -S -r "$f" $e 2>/dev/null |
		awk -v lo=$lo -v hi=$hi '/^[0-9]/ && $1 >= lo && $1 < hi' >"$TMP/ref.txt"
	"$Q" -d "$st" -w "$TMP/ours.pcap" "$w" 2>"$TMP/err" ||
		fail "'$w': pcv-query failed: $(cat "$TMP/err")"
	tcpdump -tt -nn -S -r "$TMP/ours.pcap" 2>/dev/null | awk '/^[0-9]/' >"$TMP/ours.txt"
	[ -s "$TMP/ref.txt" ] || fail "'$w': an empty window proves nothing"
	cmp -s "$TMP/ref.txt" "$TMP/ours.txt" ||
		fail "'$w': $(wc -l <"$TMP/ours.txt") packets, tcpdump cut to the window has $(wc -l <"$TMP/ref.txt")"
done
ok "6 time windows: the packets of tcpdump's output inside [since, until)"

# Counting agrees with writing; --limit-packets stops where asked.
c=$("$Q" -d "$st" --count 'tcp')
[ "$c" -eq "$(tcpdump -r "$f" --count tcp 2>/dev/null | awk '{print $1}')" ] ||
	fail "--count tcp: $c"
"$Q" -d "$st" --limit-packets 10 -w "$TMP/ten.pcap" tcp
[ "$(tcpdump -r "$TMP/ten.pcap" --count 2>/dev/null | awk '{print $1}')" -eq 10 ] ||
	fail "--limit-packets 10"
ok "--count and --limit-packets"

# --limit-bytes: the most packets whose captured bytes fit.
"$Q" -d "$st" --limit-bytes 100000 -w "$TMP/lb.pcap" tcp
k=$(tcpdump -r "$TMP/lb.pcap" --count 2>/dev/null | awk '{print $1}')
"$Q" -d "$st" --limit-packets $((k + 1)) -w "$TMP/lb1.pcap" tcp
data=$(( $(stat -c %s "$TMP/lb.pcap") - 24 - 16 * k ))
data1=$(( $(stat -c %s "$TMP/lb1.pcap") - 24 - 16 * (k + 1) ))
[ "$k" -gt 0 ] && [ $data -le 100000 ] && [ $data1 -gt 100000 ] ||
	fail "--limit-bytes 100000: $k packets, $data bytes; one more: $data1"
ok "--limit-bytes 100000: $k packets, $data bytes of packet data"

# Other outputs: pcapng (us and ns) holds the same records as pcap; text
# is one line per packet; --flows lists index rows without reading packets.
for nano in "" --nano; do
	"$Q" -d "$st" $nano --pcapng 'port 53' >"$TMP/q.pcapng"
	file "$TMP/q.pcapng" | grep -q pcapng || fail "--pcapng $nano: $(file "$TMP/q.pcapng")"
	tcpdump -r "$TMP/q.pcapng" -w "$TMP/from-ng.pcap" 2>/dev/null ||
		fail "tcpdump cannot read --pcapng $nano output"
	"$Q" -d "$st" $nano -w "$TMP/q.pcap" 'port 53'
	same_records "$TMP/q.pcap" "$TMP/from-ng.pcap" || fail "--pcapng $nano differs from pcap"
	[ "$(tcpdump -tt -nn -r "$TMP/q.pcapng" 2>/dev/null | head -1 | cut -d' ' -f1)" = \
	  "$(tcpdump -tt -nn -r "$TMP/q.pcap" 2>/dev/null | head -1 | cut -d' ' -f1)" ] ||
		fail "--pcapng $nano: timestamps differ"
done
"$Q" -d "$st" --format text 'udp port 53' >"$TMP/q.txt"
[ "$(wc -l <"$TMP/q.txt")" -eq "$("$Q" -d "$st" --count 'udp port 53')" ] ||
	fail "--format text: $(wc -l <"$TMP/q.txt") lines"
line='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9} .*UDP.*length [0-9]+'
grep -Evq "$line" "$TMP/q.txt" && fail "--format text: $(grep -Ev "$line" "$TMP/q.txt" | head -2)"
"$Q" -d "$st" --flows 'host 10.0.2.15' >"$TMP/flows.txt"
[ -s "$TMP/flows.txt" ] || fail "--flows printed nothing"
grep -v 'class\|any packet' "$TMP/flows.txt" | grep -vq ' 10\.0\.2\.15 ' &&
	fail "--flows: an exact row without the host: $(grep -v ' 10\.0\.2\.15 ' "$TMP/flows.txt" | grep -v class | head -1)"
"$Q" -d "$st" --flows --format json 'host 10.0.2.15' >"$TMP/flows.json"
[ "$(wc -l <"$TMP/flows.json")" -eq "$(wc -l <"$TMP/flows.txt")" ] ||
	fail "--flows json and table differ in rows"
grep -vq '^{"segment":".*"packets":[0-9]*,.*}$' "$TMP/flows.json" && fail "--flows json: $(head -1 "$TMP/flows.json")"
sum=$(sed 's/.*"packets":\([0-9]*\).*/\1/' "$TMP/flows.json" | awk '{ s += $1 } END { print s }')
want=$(tcpdump -r "$f" --count 'host 10.0.2.15' 2>/dev/null | awk '{print $1}')
[ "$sum" -ge "$want" ] || fail "--flows rows count $sum packets, tcpdump finds $want"
ok "--pcapng (us, ns) = pcap; --format text: a line per packet; --flows: $(wc -l <"$TMP/flows.txt") rows counting $sum >= $want packets"

# Progress on a terminal (script(1) gives it one), and only there.
if command -v script >/dev/null; then
	script -qc "'$Q' -d '$st' -w '$TMP/p.pcap' tcp" /dev/null | tr '\r' '\n' >"$TMP/tty.txt"
	want=$(tcpdump -r "$f" --count tcp 2>/dev/null | awk '{print $1}')
	grep -q "100.0%, [0-9]* packets read, $want matched" "$TMP/tty.txt" ||
		fail "no progress on a terminal: $(tail -2 "$TMP/tty.txt")"
	"$Q" -d "$st" -w "$TMP/p.pcap" tcp 2>"$TMP/err"
	[ ! -s "$TMP/err" ] || fail "progress without a terminal: $(cat "$TMP/err")"
	ok "progress on a terminal's stderr: $(grep "100.0%" "$TMP/tty.txt")"
fi

# Pruning never loses packets: the plan for a selective query reads fewer
# blocks than the store has, and its result above was already exact.
plan=$("$Q" -d "$st" --explain 'host 192.168.1.1 and port 53' | tail -1)
read -r chosen total < <(echo "$plan" |
	sed -n 's/^total: 1 segments, \([0-9]*\) of \([0-9]*\) blocks.*/\1 \2/p')
[ -n "$chosen" ] && [ "$chosen" -gt 0 ] && [ "$chosen" -lt "$total" ] ||
	fail "--explain: $plan"
ok "--explain: $plan"

# -w to something that is not a regular file is written in place, never
# replaced by a rename: a character device (a private null device, so
# that a failure cannot take the system's /dev/null), and a FIFO.
mknod "$TMP/null" c 1 3
"$Q" -d "$st" -w "$TMP/null" 'port 53' || fail "-w to a device failed"
[ -c "$TMP/null" ] || fail "-w replaced a character device with a file"
mkfifo "$TMP/fifo"
cat "$TMP/fifo" >"$TMP/from-fifo.pcap" &
"$Q" -d "$st" -w "$TMP/fifo" 'port 53' || fail "-w to a FIFO failed"
wait
[ -p "$TMP/fifo" ] || fail "-w replaced a FIFO"
"$Q" -d "$st" -w "$TMP/q.pcap" 'port 53'
same_records "$TMP/q.pcap" "$TMP/from-fifo.pcap" || fail "-w FIFO: not the same packets"
ok "-w to a device or a FIFO writes in place"

# Malformed queries: exit 2, a message and a caret line, no output file.
BAD=(
	'hst 1.2.3.4' 'port' 'port 99999' 'host' 'tcp and' 'and tcp' '(tcp'
	'tcp)' 'since' 'since yesterday' 'last' 'last 5' 'until 10m'
	'before 2026-13-01T00:00:00Z' 'between 100 and' 'between 200 and 100'
	'tcp or since 10m' 'not since 10m' '(since 10m)' 'tcp or udp since 10m'
	'after 10x ago' 'net 10.0.0.0/33' 'ip proto nosuch' 'tcp and and udp'
	'since 10m and' 'after 2026-02-31T00:00:00Z'
)
for e in "${BAD[@]}"; do
	rc=0
	"$Q" -d "$st" -w "$TMP/bad.pcap" "$e" 2>"$TMP/err" || rc=$?
	[ $rc -eq 2 ] || fail "'$e': exit $rc, want 2: $(cat "$TMP/err")"
	grep -q 'bad query' "$TMP/err" && grep -q '^ *\^$' "$TMP/err" ||
		fail "'$e': no message with a caret: $(cat "$TMP/err")"
	[ ! -e "$TMP/bad.pcap" ] || fail "'$e': left an output file"
done
ok "${#BAD[@]} malformed queries: exit 2, the fault shown with a caret"

rc=0
"$Q" -d "$TMP/nowhere" --count tcp 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] || fail "missing store: exit $rc: $(cat "$TMP/err")"
ok "a missing store: exit 1: $(cat "$TMP/err")"
