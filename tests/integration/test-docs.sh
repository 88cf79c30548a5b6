#!/usr/bin/env bash
# Every program has a man page and a --help, and the two list the same
# long options.  `make install` puts programs, pages and headers in place.
# The systemd units in scripts/systemd pass systemd-analyze verify.
. "$(dirname "$0")/lib.sh"

for prog in "$BIN"/*; do
	name=${prog##*/}
	page=$(ls "$TOP"/docs/man/"$name".[18] 2>/dev/null | head -1)
	[ -n "$page" ] || fail "$name has no man page in docs/man/"
	"$prog" --help >"$TMP/help" || fail "$name --help exited $?"
	grep -o -- '--[a-z][a-z-]*' "$TMP/help" | sort -u >"$TMP/h"
	sed 's/\\-/-/g' "$page" | grep -o -- '--[a-z][a-z-]*' | sort -u >"$TMP/m"
	if ! cmp -s "$TMP/h" "$TMP/m"; then
		fail "$name: --help and $page list different options:
$(diff "$TMP/h" "$TMP/m")"
	fi
	ok "$name: man page and --help agree ($(wc -l <"$TMP/h") long options)"
done

make -s -C "$TOP" BUILD="$BUILD" install PREFIX="$TMP/inst" >/dev/null ||
	fail "make install failed"
for f in bin/packetvelocity share/man/man1/packetvelocity.1 \
	include/pcv/pcv.h lib/libpcv.a; do
	[ -e "$TMP/inst/$f" ] || fail "make install did not install $f"
done
ok "make install PREFIX=...: programs, man pages, headers, library"

# The systemd units, pointed at this build, pass systemd-analyze verify.
if command -v systemd-analyze >/dev/null; then
	mkdir "$TMP/units"
	for u in "$TOP"/scripts/systemd/*; do
		sed "s|/usr/local/bin/|$BIN/|g" "$u" >"$TMP/units/${u##*/}"
	done
	(cd "$TMP/units" && systemd-analyze verify --man=no \
		./pcv-record@eth1.service ./pcv-rotate@eth1.service \
		./pcv-rotate@eth1.timer) >"$TMP/verify" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$TMP/verify")"
	[ ! -s "$TMP/verify" ] || fail "systemd-analyze verify: $(cat "$TMP/verify")"
	ok "scripts/systemd units pass systemd-analyze verify"
else
	echo "  skipped: systemd-analyze not installed (the units are not checked)"
fi
