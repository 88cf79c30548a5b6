#!/bin/sh
# SPDX-License-Identifier: MIT
#
# netns.sh - a pair of network namespaces joined by a veth pair, for the
# integration tests and the demo.
#
#   netns.sh up PREFIX [--queues N]   create PREFIX-a (veth va, 10.200.0.1/24)
#                                     and PREFIX-b (veth vb, 10.200.0.2/24)
#   netns.sh down PREFIX              delete both namespaces
#   netns.sh exec PREFIX a|b CMD...   run CMD inside one of them
#
# The veth ends are created inside the namespaces, never in the caller's,
# so several PREFIXes can exist side by side.  IPv6 is disabled in both
# namespaces before the veth exists, so the kernel sends no router
# solicitations, DAD or MLD reports: what a test captures is what it sent
# (plus ARP, if it uses the IPv4 addresses).  `up` first removes leftovers
# of the same PREFIX, so it can be rerun after a crashed test.

set -eu

PROG=netns.sh

die() {
	echo "$PROG: $*" >&2
	exit 1
}

usage() {
	cat <<EOF
usage: $PROG up PREFIX [--queues N]
       $PROG down PREFIX
       $PROG exec PREFIX a|b CMD [ARG...]

up    create namespaces PREFIX-a and PREFIX-b joined by veth va (in a,
      10.200.0.1/24) and vb (in b, 10.200.0.2/24), MTU 1500, IPv6 off;
      --queues N gives the veth N tx and N rx queues
down  delete both namespaces (missing ones are ignored)
exec  run CMD in PREFIX-a or PREFIX-b
EOF
}

usage_error() {
	echo "$PROG: $* (try --help)" >&2
	exit 2
}

need_ip_and_root() {
	command -v ip >/dev/null 2>&1 ||
		die "'ip' not found: install iproute2"
	[ "$(id -u)" -eq 0 ] ||
		die "must run as root (namespaces need CAP_SYS_ADMIN, CAP_NET_ADMIN)"
}

check_prefix() {
	case $1 in
	'' | *[!A-Za-z0-9_.-]* | -*)
		usage_error "bad PREFIX '$1': use letters, digits, '_', '.', '-'" ;;
	esac
	[ ${#1} -le 64 ] || usage_error "PREFIX '$1' is longer than 64 characters"
}

ns_exists() {
	ip netns list 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1"
}

ns_down() {
	ns=$1
	ns_exists "$ns" || return 0
	pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
	if [ -n "$pids" ]; then
		echo "$PROG: warning: processes still in $ns: $pids" \
			"(the namespace lives on until they exit)" >&2
	fi
	ip netns delete "$ns" || die "cannot delete namespace $ns"
}

cmd_down() {
	ns_down "$1-a"
	ns_down "$1-b"
}

# Inside namespace $1: disable IPv6 everywhere (also for devices created
# later, through "default") and bring up lo.
ns_prepare() {
	ip netns exec "$1" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null
	ip -n "$1" link set lo up
}

cmd_up() {
	prefix=$1
	shift
	queues=
	while [ $# -gt 0 ]; do
		case $1 in
		--queues)
			[ $# -ge 2 ] || usage_error "--queues needs a value"
			queues=$2
			shift 2
			;;
		--queues=*)
			queues=${1#--queues=}
			shift
			;;
		*)
			usage_error "unknown option for up: '$1'" ;;
		esac
	done
	qopts=
	if [ -n "$queues" ]; then
		case $queues in
		'' | *[!0-9]* | 0* | ????*) bad=1 ;;
		*) [ "$queues" -le 256 ] && bad=0 || bad=1 ;;
		esac
		[ "$bad" -eq 0 ] ||
			die "bad value for --queues: '$queues' (expected 1..256)"
		qopts="numtxqueues $queues numrxqueues $queues"
	fi

	a=$prefix-a
	b=$prefix-b
	cmd_down "$prefix"
	# From here a failure removes the half-built pair.
	trap 'cmd_down "$prefix" 2>/dev/null; die "up $prefix failed"' EXIT
	ip netns add "$a"
	ip netns add "$b"
	ns_prepare "$a"
	ns_prepare "$b"
	# $qopts is unquoted on purpose: zero or four words.
	# shellcheck disable=SC2086
	ip -n "$a" link add va $qopts type veth peer name vb netns "$b" $qopts
	ip netns exec "$a" sysctl -q -w net.ipv6.conf.va.disable_ipv6=1 >/dev/null
	ip netns exec "$b" sysctl -q -w net.ipv6.conf.vb.disable_ipv6=1 >/dev/null
	ip -n "$a" link set va mtu 1500 up
	ip -n "$b" link set vb mtu 1500 up
	ip -n "$a" addr add 10.200.0.1/24 dev va
	ip -n "$b" addr add 10.200.0.2/24 dev vb
	trap - EXIT
}

cmd_exec() {
	[ $# -ge 3 ] || usage_error "exec needs PREFIX, a or b, and a command"
	prefix=$1
	case $2 in
	a | b) ns=$prefix-$2 ;;
	*) usage_error "exec: side must be a or b, not '$2'" ;;
	esac
	shift 2
	ns_exists "$ns" || die "namespace $ns does not exist (run: $PROG up $prefix)"
	exec ip netns exec "$ns" "$@"
}

[ $# -ge 1 ] || usage_error "missing command"
cmd=$1
shift
case $cmd in
-h | --help | help)
	usage
	exit 0
	;;
up | down | exec) ;;
*) usage_error "unknown command '$cmd'" ;;
esac
[ $# -ge 1 ] || usage_error "$cmd needs a PREFIX"
check_prefix "$1"
need_ip_and_root
case $cmd in
up) cmd_up "$@" ;;
down)
	[ $# -eq 1 ] || usage_error "down takes only a PREFIX"
	cmd_down "$1"
	;;
exec) cmd_exec "$@" ;;
esac
