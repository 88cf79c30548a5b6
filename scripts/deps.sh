#!/bin/sh
# SPDX-License-Identifier: MIT
#
# deps.sh - install PacketVelocity's build, test and run dependencies from
# Debian's (or Ubuntu's) packages.  Does nothing when everything is present.
#
#   scripts/deps.sh          install what is missing (needs root)
#   scripts/deps.sh --check  only report; exit 1 when something is missing
#
# Every package is named here, once, so that a new dependency is one line.

set -eu

PACKAGES="
make
gcc
clang
llvm
pkg-config
libc6-dev
libpcap-dev
libzstd-dev
zstd
libsqlite3-dev
sqlite3
libuv1-dev
libcriterion-dev
libnuma-dev
libbpf-dev
libxdp-dev
libclang-rt-14-dev
tcpdump
iproute2
iputils-ping
procps
"

missing=""
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi

if [ "${1:-}" = "--check" ]; then
	echo "deps.sh: missing packages:$missing" >&2
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: these Debian packages are missing:$missing" >&2
	echo "deps.sh: run 'scripts/deps.sh' as root, or: apt-get install$missing" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists once, only when an install from the current
# lists fails (a fresh container often has none).
# shellcheck disable=SC2086
if ! apt-get install -y --no-install-recommends $missing; then
	apt-get update
	apt-get install -y --no-install-recommends $missing
fi
