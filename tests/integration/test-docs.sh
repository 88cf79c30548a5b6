#!/usr/bin/env bash
# Every program has a man page and a --help, and the two list the same
# long options.  `make install` puts programs, pages and headers in place.
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
