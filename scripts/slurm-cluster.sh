#!/usr/bin/env bash
# A real Slurm cluster on this one machine, for testing what runs under sbatch/srun: slurmctld in the
# root namespace and one slurmd per network namespace of scripts/netns-cluster.sh, so a job's tasks
# run in different namespaces and talk real TCP to each other.
#
#   slurm-cluster.sh up N [PREFIX [RATE]]   N nodes PREFIX0..PREFIX(N-1), links limited to RATE (default 1gbit)
#   slurm-cluster.sh down [PREFIX]          stop its daemons, remove its state and namespaces; idempotent
#   slurm-cluster.sh status [PREFIX]        print it; exits 1 when there is none
#
# PREFIX (default slurm) follows netns-cluster.sh's rule; distinct prefixes run side by side. Each
# node is named like its namespace (PREFIX0, PREFIX1, ...): names that differ between clusters, so
# two clusters never share a node's spool directory or log. Everything else lives in the state
# directory $SLURM_CLUSTER_DIR/PREFIX (default /run/slurm-cluster/PREFIX): slurm.conf, the munge key
# and socket, logs, pid files; nothing under /etc is changed. Clients find the cluster through
# SLURM_CONF=<state>/etc/slurm.conf, which `up` and `status` print.
#
# Pitfalls this handles (see ../shared/cluster/slurm-netns.sh, where they were found):
# - slurmd is entered with `nsenter --net`, not `ip netns exec`, which remounts /sys and so hides
#   /sys/fs/cgroup; slurmd 22.05 always initialises a cgroup plugin and dies without it.
# - node names resolve through a hosts file bind-mounted over /etc/hosts in each slurmd's own mount
#   namespace (jobs inherit it); the machine's /etc/hosts is untouched.
# - munged runs with its own key and socket, in a directory everyone can traverse.
# - daemons run in the foreground in their own sessions and are stopped by pid (checked against the
#   program's name first, so a reused pid is never killed).
# slurmctld listens on port 16800+X, where 198.18.X.0/24 is the cluster's subnet (unique among the
# clusters up), so clusters side by side do not fight over Slurm's default 6817.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
NETNS=$HERE/netns-cluster.sh
ROOT=${SLURM_CLUSTER_DIR:-/run/slurm-cluster}
IDLE_TIMEOUT_S=60      # a loaded 2-core machine registers two slurmds in about a second

say() { echo "slurm-cluster: $*"; }
fail() { echo "slurm-cluster: $*" >&2; exit 1; }
usage() {
  echo "usage: $0 up N [PREFIX [RATE]] | down [PREFIX] | status [PREFIX]   (e.g. $0 up 2)" >&2
  exit 2
}

require_tools() {
  [[ $(id -u) -eq 0 ]] || fail "slurmd in network namespaces needs root (running as uid $(id -u)); run this as root"
  local missing=() t
  for t in munged slurmctld slurmd sinfo scontrol scancel nsenter unshare setsid ss; do
    command -v "$t" >/dev/null || missing+=("$t")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    fail "missing ${missing[*]}: install them with \`apt-get install -y slurm-wlm munge iproute2 util-linux\` (or run scripts/setup-cluster.sh)"
  fi
}

# A daemon is recorded as "PID NAME" in <state>/pids/<what>; alive = exists, is not a zombie, and is
# still that program (a pid reused by something else is not ours).
alive() {
  local pid=$1 name=$2 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]] || return 1
  [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}

# alive, under any of the names NAME... : the name is read once, so a process that execs from one of
# them to the next between two reads (setsid → nsenter → unshare → sh → slurmd) is not taken for dead.
alive_as_any() {
  local pid=$1 stat comm name
  shift
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ ${stat##*) } != Z* ]] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  for name in "$@"; do [[ $comm == "$name" ]] && return 0; done
  return 1
}

record() { echo "$2 $3" >"$STATE/pids/$1"; }

stop_daemons() {
  local f pid name
  [[ -d $STATE/pids ]] || return 0
  # Jobs first, while slurmctld can still tell the slurmds to end them; bounded, best effort.
  if [[ -f $STATE/pids/slurmctld ]] && read -r pid name <"$STATE/pids/slurmctld" && alive "$pid" "$name"; then
    SLURM_CONF=$STATE/etc/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
  fi
  # Nodes before the controller, the controller before munge (both of them authenticate through it).
  for f in $(ls "$STATE/pids" | grep '^slurmd-' || true) slurmctld munged; do
    [[ -f $STATE/pids/$f ]] || continue
    read -r pid name <"$STATE/pids/$f"
    if alive "$pid" "$name"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do alive "$pid" "$name" || break; sleep 0.1; done
      if alive "$pid" "$name"; then
        say "$f ($pid) ignored SIGTERM for 5 s; killing it"
        kill -9 "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do alive "$pid" "$name" || break; sleep 0.1; done
        alive "$pid" "$name" && fail "$f ($pid) survived SIGKILL; not removing $STATE"
      fi
    fi
    rm -f "$STATE/pids/$f"
  done
}

down() {
  stop_daemons
  # Kills what still runs in the namespaces (slurmstepd and job tasks), then removes them.
  "$NETNS" down "$PREFIX" >/dev/null
  rm -rf "$STATE"
  rmdir "$ROOT" 2>/dev/null || true   # only when no other cluster lives there
}

subnet_of() {
  # netns-cluster.sh status prints "bridge PREFIXbr 198.18.X.1/24".
  "$NETNS" status "$PREFIX" | awk '/^bridge / { sub(/\.1\/24$/, "", $3); print $3 }'
}

write_config() {
  local n=$1 subnet=$2 port=$3 host i
  host=$(hostname -s)
  mkdir -p "$STATE/etc" "$STATE/munge" "$STATE/mungekey" "$STATE/state" "$STATE/log" "$STATE/pids"
  for i in $(seq 0 $((n - 1))); do mkdir -p "$STATE/spool/$PREFIX$i"; done   # slurmd does not create %n
  # munged refuses a socket directory others cannot traverse and a key directory others can read.
  chmod 755 "$ROOT" "$STATE" "$STATE/munge"
  chmod 700 "$STATE/mungekey"
  head -c 1024 /dev/urandom >"$STATE/mungekey/munge.key"
  chmod 400 "$STATE/mungekey/munge.key"
  {
    echo "127.0.0.1 localhost"
    echo "$subnet.1 $host"
    for i in $(seq 0 $((n - 1))); do echo "$subnet.$((10 + i)) $PREFIX$i"; done
  } >"$STATE/etc/hosts"
  cat >"$STATE/etc/slurm.conf" <<EOF
# Written by scripts/slurm-cluster.sh up $n $PREFIX: a test cluster on this machine, one slurmd per
# network namespace. Removed by scripts/slurm-cluster.sh down $PREFIX.
ClusterName=$PREFIX
SlurmctldHost=$host($subnet.1)
SlurmctldPort=$port
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$STATE/munge/munge.socket
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool/%n
SlurmctldPidFile=$STATE/state/slurmctld.pid
SlurmdPidFile=$STATE/spool/%n/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
# No cgroup confinement: the tasks are the test's own programs, and namespaces already separate them.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
EOF
  for i in $(seq 0 $((n - 1))); do
    echo "NodeName=$PREFIX$i NodeAddr=$subnet.$((10 + i)) CPUs=1 State=UNKNOWN" >>"$STATE/etc/slurm.conf"
  done
  echo "PartitionName=$PREFIX Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >>"$STATE/etc/slurm.conf"
}

logs_tail() {
  local f
  for f in "$STATE"/log/*; do
    [[ -s $f ]] || continue
    echo "--- $f (last 15 lines)"
    tail -n 15 "$f"
  done
}

up() {
  local n=$1 rate=$2 subnet port i ns pid states
  [[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 100 ]] || fail "N must be a whole number from 1 to 100 (got \"$n\"); e.g. up 2"
  if [[ -e $STATE ]] || "$NETNS" status "$PREFIX" >/dev/null 2>&1; then
    fail "prefix $PREFIX is in use ($STATE or its namespaces exist); remove it with \`$0 down $PREFIX\` or choose another PREFIX"
  fi
  # From here on, anything that fails removes what this call made (the prefix was free).
  trap 'rc=$?; trap - EXIT; if [[ $rc -ne 0 ]]; then echo "slurm-cluster: up failed; removing what it made" >&2; down || true; fi; exit $rc' EXIT

  "$NETNS" up "$n" "$rate" "$PREFIX" >/dev/null
  subnet=$(subnet_of)
  [[ -n $subnet ]] || fail "netns-cluster.sh status $PREFIX printed no bridge address"
  port=$((16800 + ${subnet##*.}))
  if ss -Hltn "sport = :$port" | grep -q .; then
    fail "port $port (slurmctld's, from subnet $subnet.0/24) is taken by another program: $(ss -Hltnp "sport = :$port")"
  fi
  mkdir -p "$ROOT"
  write_config "$n" "$subnet" "$port"
  export SLURM_CONF=$STATE/etc/slurm.conf

  # setsid: each daemon in its own session, so it outlives this script and whatever process group
  # called it; the recorded pid is the daemon's own (setsid, nsenter, unshare and sh all exec).
  setsid munged -F -S "$STATE/munge/munge.socket" --key-file="$STATE/mungekey/munge.key" \
    --pid-file="$STATE/munge/munged.pid" --log-file="$STATE/log/munged.log" \
    --seed-file="$STATE/mungekey/munged.seed" </dev/null >"$STATE/log/munged.out" 2>&1 &
  record munged $! munged
  for _ in $(seq 1 100); do [[ -S $STATE/munge/munge.socket ]] && break; sleep 0.1; done
  [[ -S $STATE/munge/munge.socket ]] || fail "munged made no socket within 10 s: $(cat "$STATE/log/munged.out" "$STATE/log/munged.log" 2>/dev/null)"

  setsid slurmctld -D -f "$SLURM_CONF" </dev/null >"$STATE/log/slurmctld.out" 2>&1 &
  record slurmctld $! slurmctld
  for i in $(seq 0 $((n - 1))); do
    ns=$PREFIX$i
    setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private \
      sh -c "hostname $ns && mount --bind '$STATE/etc/hosts' /etc/hosts && exec slurmd -D -N $ns -f '$SLURM_CONF'" \
      </dev/null >"$STATE/log/slurmd-$ns.out" 2>&1 &
    record "slurmd-$ns" $! slurmd
  done

  for _ in $(seq 1 $((IDLE_TIMEOUT_S * 5))); do
    for f in "$STATE"/pids/*; do
      read -r pid name <"$f"
      # A slurmd is setsid, nsenter, unshare or sh for the moments before its last exec.
      alive_as_any "$pid" "$name" sh nsenter unshare setsid ||
        fail "$(basename "$f") (pid $pid) died while the cluster came up:
$(cat "$STATE/log/$(basename "$f").out" 2>/dev/null)
$(logs_tail)"
    done
    states=$(sinfo -h -N -o '%T' 2>/dev/null | sort | uniq -c | awk '{print $2 "×" $1}' | tr '\n' ' ' || true)
    [[ $states == "idle×$n " ]] && break
    sleep 0.2
  done
  [[ $states == "idle×$n " ]] ||
    fail "after ${IDLE_TIMEOUT_S} s the $n nodes are not all idle (sinfo: ${states:-no answer from slurmctld})
$(logs_tail)"

  say "up: $n nodes ${PREFIX}0..$PREFIX$((n - 1)) in network namespaces on $subnet.0/24 (links at $rate), slurmctld on $subnet.1:$port"
  status
  say "use it with: SLURM_CONF=$SLURM_CONF sbatch --nodes=$n ...   (and remove it with: $0 down $PREFIX)"
}

status() {
  local f pid name
  if [[ ! -d $STATE ]] && ! "$NETNS" status "$PREFIX" >/dev/null 2>&1; then
    say "no cluster with prefix $PREFIX"
    return 1
  fi
  echo "SLURM_CONF=$STATE/etc/slurm.conf"
  for f in "$STATE"/pids/*; do
    [[ -f $f ]] || continue
    read -r pid name <"$f"
    if alive "$pid" "$name"; then echo "daemon $(basename "$f") $pid running"; else echo "daemon $(basename "$f") $pid gone"; fi
  done
  "$NETNS" status "$PREFIX" || true
  SLURM_CONF=$STATE/etc/slurm.conf timeout 10 sinfo -N -h -o 'node %N %T' 2>/dev/null || echo "sinfo: no answer from slurmctld"
}

[[ $# -ge 1 ]] || usage
command=$1
shift
case $command in
  up)
    [[ $# -ge 1 && $# -le 3 ]] || usage
    PREFIX=${2:-slurm}
    rate=${3:-1gbit}
    ;;
  down | status)
    [[ $# -le 1 ]] || usage
    PREFIX=${1:-slurm}
    ;;
  *) usage ;;
esac
# The same rule as netns-cluster.sh's, checked here too because PREFIX also names a directory.
[[ $PREFIX =~ ^[a-z]([a-z0-9]{0,10}[a-z])?$ ]] ||
  fail "PREFIX must be a lowercase letter, then up to 11 lowercase letters or digits, ending in a letter (got \"$PREFIX\"); e.g. slurm or test3a"
STATE=$ROOT/$PREFIX
require_tools
case $command in
  up) up "$1" "$rate" ;;
  down)
    down
    say "down: nothing of $PREFIX remains"
    ;;
  status) status ;;
esac
