#!/usr/bin/env bash
# Stands in for several machines on one: N network namespaces joined by a Linux bridge, each link
# limited by the kernel to RATE in both directions, so processes in them talk real, rate-limited TCP.
#
#   netns-cluster.sh up N RATE [PREFIX]   make namespaces PREFIX0..PREFIX(N-1) (RATE: 100mbit, 1gbit, 1.5gbit, 500kbit)
#   netns-cluster.sh down [PREFIX]        remove them, killing what still runs inside; idempotent
#   netns-cluster.sh status [PREFIX]      print them; exits 1 when there are none
#
# PREFIX (default lsgd): a lowercase letter, then up to 11 lowercase letters or digits, ending in a
# letter (so that PREFIX1's namespaces never look like PREFIX's). Distinct prefixes run side by side.
# Layout, for PREFIX p:
#   root namespace   bridge pbr, address 198.18.X.1/24 (a launcher here reaches every namespace)
#   namespace pI     eth0 198.18.X.(10+I)/24, lo up; its peer pvI is a port of pbr
# X is the first /24 of 198.18.0.0/16 that no interface of this machine uses yet: that range is
# reserved for network tests (RFC 2544), so it does not clash with a real network here.
# Shaping: a tbf qdisc on eth0 (the namespace's egress) and one on pvI (the bridge's egress toward
# the namespace, i.e. the namespace's ingress). Namespace to namespace, traffic passes both the
# sender's eth0 and the receiver's pvI, each at RATE; root namespace to a namespace passes one.
#
# Running a program inside: `nsenter --net=/run/netns/pI CMD` enters only the network namespace.
# `ip netns exec pI CMD` also works for plain TCP, but it remounts /sys (hiding /sys/fs/cgroup,
# which e.g. slurmd needs), so prefer nsenter.
# Cutting a link: `ip -n pI link set eth0 down` (peers notice only through their own timeouts).
set -euo pipefail

NET_BASE=198.18        # /16 from which each cluster takes one free /24
FIRST_HOST=10          # namespace I gets .(FIRST_HOST+I)
MAX_N=100              # two-digit indexes keep veth names within the kernel's 15 characters
LOCK=/run/netns-cluster.lock

say() { echo "netns-cluster: $*"; }
fail() { echo "netns-cluster: $*" >&2; exit 1; }
usage() {
  echo "usage: $0 up N RATE [PREFIX] | down [PREFIX] | status [PREFIX]   (e.g. $0 up 2 100mbit)" >&2
  exit 2
}

check_prefix() {
  [[ $1 =~ ^[a-z]([a-z0-9]{0,10}[a-z])?$ ]] ||
    fail "PREFIX must be a lowercase letter, then up to 11 lowercase letters or digits, ending in a letter (got \"$1\"); e.g. lsgd or test3a"
}

require_tools() {
  [[ $(id -u) -eq 0 ]] || fail "network namespaces, bridges and qdiscs need root (running as uid $(id -u)); run this as root"
  local missing=()
  for t in ip tc nsenter flock; do command -v "$t" >/dev/null || missing+=("$t"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    fail "missing ${missing[*]}: install them with \`apt-get install -y iproute2 util-linux\` (or run scripts/setup-cluster.sh)"
  fi
}

# Serialises up and down across processes: two clusters coming up at once must not pick the same /24.
take_lock() {
  exec 9>"$LOCK"
  flock -w 60 9 || fail "another netns-cluster.sh held $LOCK for 60 s; is one stuck?"
}

namespaces_of() { ip netns list | awk '{print $1}' | grep -E "^$1[0-9]+\$" | sort -V || true; }
links_of() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^($1br|$1v[0-9]+)\$" || true; }

# RATE in bits per second, decimal units as tc(8) reads them (kbit = 1000 bit/s).
rate_bits() {
  [[ $1 =~ ^([0-9]+(\.[0-9]+)?)(kbit|mbit|gbit)$ ]] ||
    fail "RATE must be a number with kbit, mbit or gbit (got \"$1\"); e.g. 100mbit or 1gbit"
  local scale
  case ${BASH_REMATCH[3]} in kbit) scale=1e3 ;; mbit) scale=1e6 ;; gbit) scale=1e9 ;; esac
  local bits
  bits=$(awk -v n="${BASH_REMATCH[1]}" -v s="$scale" 'BEGIN { printf "%.0f", n * s }')
  [[ $bits -ge 8000 ]] || fail "RATE must be at least 8kbit (got \"$1\")"
  echo "$bits"
}

free_subnet() {
  local used x
  used=$(ip -4 -o addr show | awk '{print $4}')
  for x in $(seq 0 255); do
    grep -q "^$NET_BASE\.$x\." <<<"$used" || { echo "$NET_BASE.$x"; return; }
  done
  fail "every /24 of $NET_BASE.0.0/16 is in use on this machine; remove stale clusters (\`$0 status\` per prefix, \`ip netns list\`)"
}

status() {
  local prefix=$1 namespaces br ns addr qdisc
  namespaces=$(namespaces_of "$prefix")
  br=$(ip -4 -o addr show dev "${prefix}br" 2>/dev/null | awk '{print $4}' || true)
  if [[ -z $namespaces && -z $br ]]; then
    say "no cluster with prefix $prefix"
    return 1
  fi
  echo "bridge ${prefix}br ${br:-(missing)}"
  for ns in $namespaces; do
    addr=$(ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 || true)
    qdisc=$(tc -n "$ns" qdisc show dev eth0 2>/dev/null | grep -o 'tbf .* rate [^ ]*' | sed 's/tbf .* rate /rate /' || true)
    echo "namespace $ns ${addr:-(no address)} ${qdisc:-(no tbf)}"
  done
}

down() {
  local prefix=$1 ns pids link
  for ns in $(namespaces_of "$prefix"); do
    # A namespace outlives `ip netns del` while processes run in it: end them first.
    for _ in $(seq 1 50); do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [[ -z $pids ]] && break
      # shellcheck disable=SC2086
      kill -9 $pids 2>/dev/null || true
      sleep 0.1
    done
    [[ -z $pids ]] || fail "processes $pids in $ns survived SIGKILL for 5 s; not removing $ns"
    ip netns del "$ns"
  done
  # Deleting a namespace deletes its eth0 and with it the veth peer; the bridge stays until told.
  for link in $(links_of "$prefix"); do ip link del "$link" 2>/dev/null || true; done
  [[ -z $(namespaces_of "$prefix")$(links_of "$prefix") ]] ||
    fail "could not remove everything of $prefix: $(namespaces_of "$prefix") $(links_of "$prefix")"
}

# tbf on DEV in namespace NS ("" for the root namespace), at BITS per second.
shape() {
  local ns=$1 dev=$2 bits=$3
  # burst: 4 ms at RATE (rate/HZ at HZ=250, tc(8)'s rule), at least 16 KiB so one GSO segment batch
  # passes; queue: 50 ms at RATE, so TCP keeps the link busy without building a long queue.
  local burst=$((bits / 8 / 250 > 16384 ? bits / 8 / 250 : 16384))
  local out
  if ! out=$(tc ${ns:+-n "$ns"} qdisc add dev "$dev" root tbf rate "${bits}bit" burst "$burst" latency 50ms 2>&1); then
    echo "netns-cluster: tc could not add a tbf qdisc on $dev${ns:+ in $ns}: $out" >&2
    echo "netns-cluster: the kernel needs the tbf qdisc (CONFIG_NET_SCH_TBF, module sch_tbf)" >&2
    return 1
  fi
}

up() {
  local n=$1 rate=$2 prefix=$3 bits subnet i ns veth out
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le $MAX_N ]] || fail "N must be a whole number from 1 to $MAX_N (got \"$n\"); e.g. up 2 100mbit"
  bits=$(rate_bits "$rate")
  if [[ -n $(namespaces_of "$prefix")$(links_of "$prefix") ]]; then
    fail "prefix $prefix is in use ($(namespaces_of "$prefix" | tr '\n' ' ')$(links_of "$prefix" | tr '\n' ' ')); remove it with \`$0 down $prefix\` or choose another PREFIX"
  fi
  subnet=$(free_subnet)
  # From here on, anything that fails removes what this call made (the prefix was free).
  trap 'rc=$?; trap - EXIT; if [[ $rc -ne 0 ]]; then echo "netns-cluster: up failed; removing what it made" >&2; down "$prefix" || true; fi; exit $rc' EXIT

  if ! out=$(ip link add "${prefix}br" type bridge 2>&1); then
    fail "cannot create bridge ${prefix}br: $out (the kernel needs bridge support; a container needs CAP_NET_ADMIN)"
  fi
  ip addr add "$subnet.1/24" dev "${prefix}br"
  ip link set "${prefix}br" up
  for i in $(seq 0 $((n - 1))); do
    ns=$prefix$i
    veth=${prefix}v$i
    if ! out=$(ip netns add "$ns" 2>&1); then
      fail "cannot create network namespace $ns: $out (network namespaces need root with CAP_SYS_ADMIN; a container needs --privileged or --cap-add SYS_ADMIN --cap-add NET_ADMIN)"
    fi
    if ! out=$(ip link add "$veth" type veth peer name eth0 netns "$ns" 2>&1); then
      fail "cannot create veth pair $veth/eth0 in $ns: $out (the kernel needs veth support)"
    fi
    ip link set "$veth" master "${prefix}br" up
    ip -n "$ns" addr add "$subnet.$((FIRST_HOST + i))/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    shape "$ns" eth0 "$bits"
    shape "" "$veth" "$bits"
  done
  say "up: $n namespaces on bridge ${prefix}br ($subnet.0/24), each link limited to $rate in both directions"
  status "$prefix"
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case $command in
  up)
    [[ $# -eq 2 || $# -eq 3 ]] || usage
    prefix=${3:-lsgd}
    check_prefix "$prefix"
    require_tools
    take_lock
    up "$1" "$2" "$prefix"
    ;;
  down)
    [[ $# -le 1 ]] || usage
    prefix=${1:-lsgd}
    check_prefix "$prefix"
    require_tools
    take_lock
    down "$prefix"
    say "down: nothing of $prefix remains"
    ;;
  status)
    [[ $# -le 1 ]] || usage
    prefix=${1:-lsgd}
    check_prefix "$prefix"
    require_tools
    status "$prefix"
    ;;
  *) usage ;;
esac
