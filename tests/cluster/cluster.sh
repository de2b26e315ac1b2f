#!/usr/bin/env bash
# A test cluster of N hosts on this one machine: each host is a network namespace with its own
# address (10.77.0.I/24) and host name (nodeI, in a UTS namespace per command), all joined by a
# bridge in node1's namespace through veth pairs; every host resolves the others' names (each
# command runs in a mount namespace of its own, with the cluster's hosts file bound over
# /etc/hosts; the machine's cgroup and /sys mounts stay as they are). The file system is the
# machine's, shared by every host as a cluster's shared file system would be (a host may be
# given a read-only view of a directory, or a private one: --readonly, --private). COMMAND runs on node1; when it ends, or on any signal
# or error, everything is torn down: every process left in the namespaces is killed (by the PIDs
# `ip netns pids` lists, all started inside them) and the namespaces (with their interfaces)
# are deleted, then the cluster's directory in /tmp. Nothing is made outside the namespaces (no address,
# route or interface of the machine's own), so any number of clusters may run side by side; a
# cluster whose cluster.sh was killed with -9 (no trap runs) is removed by the next start.
#
# usage: cluster.sh [--hosts N] [--readonly HOST:DIR]... [--private HOST:DIR]... -- COMMAND [ARGS...]
#        cluster.sh --check      (exit 0 when this machine allows the cluster, else the reason)
#        cluster.sh --list       (the namespaces of clusters of this machine, running or stale)
#
# COMMAND gets, in its environment:
#   GNET_CLUSTER_DIR       a directory of the cluster's own (removed at the end)
#   GNET_CLUSTER_HOSTS     "node1 node2 ..."; GNET_CLUSTER_ADDRS "10.77.0.1 10.77.0.2 ..."
#   GNET_CLUSTER_SUBNET    10.77.0.0/24 (the only network the hosts have besides loopback)
#   GNET_CLUSTER_ON        a program: `$GNET_CLUSTER_ON HOST COMMAND...` runs COMMAND on HOST
#                          (a name or address of the cluster); it is also Open MPI's rsh agent
#   GNET_CLUSTER_MPIRUN    the mpirun options that launch over the cluster and force TCP:
#                          --mca plm_rsh_agent ON --mca btl tcp,self --mca btl_tcp_if_include
#                          SUBNET --mca oob_tcp_if_include SUBNET (shared memory would still
#                          connect the "hosts", whose /dev/shm is the machine's), and Open
#                          MPI's session directories in the cluster's directory (a host lost
#                          with kill -9 leaves its /tmp/ompi.HOST.UID behind otherwise)
#   GNET_CLUSTER_NS_<I>    host I's network namespace (for `ip netns pids`, `ip netns identify`)
# --readonly HOST:DIR: every command on HOST sees DIR (which must exist) read-only (a bind
# mount in the command's own mount namespace), so that a write there from HOST fails (EROFS)
# while the other hosts write as usual: what must only be written by one host.
# --private HOST:DIR: every command on HOST sees an empty tmpfs of its own over DIR (which must
# exist): a node-local directory at a path every node has, as a cluster node's /tmp is (Slurm's
# TmpFS: the PMIx plugin of two slurmd sharing one /tmp collide on their job directories).
#
# Exit code: COMMAND's; 77 (ctest's skip) with one "SKIP: ..." line when the machine does not
# allow network namespaces (not root, no iproute2/util-linux, a kernel or container without
# them); 1 with "cluster: error: ..." when the set-up fails otherwise.
set -uo pipefail

prefix=gnetc # namespaces gnetc<PID of cluster.sh>n<I>
subnet_base=10.77.0
hosts=2
readonly=() private=()

die() {
  echo "cluster: error: $*" >&2
  exit 1
}

# Why this machine cannot run the cluster (nothing printed when it can). Tries a namespace of
# its own, with a veth pair, a bridge and a UTS namespace, and removes it again.
why_not() {
  [ "$(id -u)" -eq 0 ] || { echo "not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"; return; }
  command -v ip >/dev/null || { echo "ip not installed (Debian package iproute2)"; return; }
  command -v unshare >/dev/null && command -v nsenter >/dev/null ||
    { echo "unshare or nsenter not installed (Debian package util-linux)"; return; }
  local t=${prefix}$$probe err
  if ! err=$(ip netns add "$t" 2>&1); then
    echo "network namespaces not allowed here: ip netns add: ${err:-failed}"
    return
  fi
  err=$( { nsenter --net="/run/netns/$t" unshare --uts --mount sh -c 'hostname probe && mount --bind /etc/hosts /etc/hosts' &&
           ip -n "$t" link add probe0 type veth peer name probe1 &&
           ip -n "$t" link add probebr type bridge; } 2>&1) ||
    echo "network namespaces not usable here (UTS namespace, veth or bridge): ${err:-failed}"
  ip netns del "$t" 2>/dev/null
}

# Kills every process in namespace $1 (TERM, then KILL after up to 5 s) and deletes it.
remove_ns() {
  local ns=$1 pids
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    for _ in $(seq 50); do
      pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
      [ -z "${pids// /}" ] && break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill -KILL $pids 2>/dev/null
    for _ in $(seq 50); do
      [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  ip netns del "$ns" 2>/dev/null
}

# The namespaces of clusters whose cluster.sh no longer runs (killed with -9: no trap ran).
remove_stale() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}[0-9]+n[0-9]+$"); do
    pid=${ns#"$prefix"}
    pid=${pid%n*}
    if ! grep -qs cluster.sh "/proc/$pid/cmdline"; then
      echo "cluster: removing $ns, left by an earlier cluster (pid $pid) that did not end cleanly" >&2
      remove_ns "$ns"
    fi
  done
}

case ${1:-} in
  --check)
    why=$(why_not)
    [ -z "$why" ] && { echo "cluster: this machine allows network namespaces"; exit 0; }
    echo "cluster: $why"
    exit 77
    ;;
  --list)
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${prefix}[0-9]+n[0-9]+$"
    exit 0
    ;;
esac

while [ $# -gt 0 ]; do
  case $1 in
    --hosts) [ $# -ge 2 ] || die "--hosts needs a number"; hosts=$2; shift 2 ;;
    --readonly) [ $# -ge 2 ] || die "--readonly needs HOST:DIR"; readonly+=("$2"); shift 2 ;;
    --private) [ $# -ge 2 ] || die "--private needs HOST:DIR"; private+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (usage: cluster.sh [--hosts N] [--readonly|--private HOST:DIR]... -- COMMAND...)" ;;
  esac
done
[ $# -ge 1 ] || die "no COMMAND (usage: cluster.sh [--hosts N] [--readonly HOST:DIR]... -- COMMAND...)"
[[ $hosts =~ ^[0-9]+$ ]] && [ "$hosts" -ge 2 ] && [ "$hosts" -le 200 ] || die "--hosts $hosts: give 2 to 200"

why=$(why_not)
if [ -n "$why" ]; then
  echo "SKIP: the test cluster needs network namespaces: $why"
  exit 77
fi
remove_stale

dir=$(mktemp -d /tmp/gnet-cluster.XXXXXX)
chmod 755 "$dir"
made=()
child=
teardown() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
  local i
  for (( i = ${#made[@]} - 1; i >= 0; i-- )); do remove_ns "${made[i]}"; done
  [ -n "$child" ] && wait "$child" 2>/dev/null
  rm -rf "$dir"
  exit $rc
}
trap teardown EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# --- the hosts ---
names=() addrs=()
for i in $(seq "$hosts"); do
  names+=("node$i")
  addrs+=("$subnet_base.$i")
done
{
  echo "127.0.0.1 localhost"
  for i in $(seq "$hosts"); do echo "${addrs[i - 1]} ${names[i - 1]}"; done
} >"$dir/hosts"
: >"$dir/map"
for i in $(seq "$hosts"); do
  ns=${prefix}$$n$i
  ip netns add "$ns" || die "ip netns add $ns failed"
  made+=("$ns")
  printf '%s %s %s %s\n' "${names[i - 1]}" "${addrs[i - 1]}" "$ns" "${names[i - 1]}" >>"$dir/map"
  ip -n "$ns" link set lo up || die "$ns: lo up failed"
done
ns1=${prefix}$$n1
ip -n "$ns1" link add br0 type bridge || die "bridge in $ns1 failed"
ip -n "$ns1" addr add "${addrs[0]}/24" dev br0 || die "address on $ns1 failed"
ip -n "$ns1" link set br0 up || die "br0 up failed"
for i in $(seq 2 "$hosts"); do
  ns=${prefix}$$n$i
  ip link add eth0 netns "$ns" type veth peer name "port$i" netns "$ns1" ||
    die "veth pair between $ns1 and $ns failed"
  ip -n "$ns1" link set "port$i" master br0 up || die "port$i on the bridge failed"
  ip -n "$ns" addr add "${addrs[i - 1]}/24" dev eth0 || die "address on $ns failed"
  ip -n "$ns" link set eth0 up || die "eth0 up in $ns failed"
done
mounts() { # KIND HOST:DIR...: checked, then listed in $dir/KIND for the launcher
  local kind=$1 p h d
  shift
  for p in "$@"; do
    h=${p%%:*} d=${p#*:}
    grep -q "^$h " "$dir/map" || die "--$kind $p: no host $h"
    [ -d "$d" ] || die "--$kind $p: $d is not a directory"
    echo "$h $(realpath "$d")" >>"$dir/$kind"
  done
}
mounts readonly "${readonly[@]}"
mounts private "${private[@]}"

# --- the launcher: `on HOST COMMAND...` (also Open MPI's rsh agent) ---
# The agent gets HOST and the command line as words that a remote shell would join and run:
# it does the same, inside HOST's namespaces.
cat >"$dir/on" <<EOF
#!/usr/bin/env bash
# on HOST COMMAND...: runs COMMAND on host HOST (name or address) of the cluster in $dir.
set -u
dir=$dir
EOF
cat >>"$dir/on" <<'EOF'
[ $# -ge 2 ] || { echo "on: usage: on HOST COMMAND..." >&2; exit 2; }
host=$1
shift
read -r name _ ns _ < <(awk -v h="$host" '$1 == h || $2 == h' "$dir/map")
[ -n "${ns:-}" ] || { echo "on: $host is not a host of this cluster ($(awk '{printf "%s ", $1}' "$dir/map"))" >&2; exit 255; }
mounts=
if [ -f "$dir/readonly" ]; then
  while read -r h d; do
    [ "$h" = "$name" ] && mounts+="mount --bind '$d' '$d' && mount -o remount,bind,ro '$d' || exit 1; "
  done <"$dir/readonly"
fi
if [ -f "$dir/private" ]; then
  while read -r h d; do
    [ "$h" = "$name" ] && mounts+="mount -t tmpfs -o size=512m,mode=1777 gnet-node-local '$d' || exit 1; "
  done <"$dir/private"
fi
# (a remote shell runs its command line through a shell: so does this)
exec nsenter --net="/run/netns/$ns" unshare --uts --mount sh -c \
  "hostname '$name' && mount --bind '$dir/hosts' /etc/hosts && $mounts exec sh -c \"\$0\"" "$*"
EOF
chmod 755 "$dir/on"

# node1 reaches every other host: a connection to a port nobody listens on is refused (a
# reply) rather than lost.
for i in $(seq 2 "$hosts"); do
  ok=0
  for _ in $(seq 50); do
    "$dir/on" node1 "timeout 2 bash -c 'exec 3<>/dev/tcp/${addrs[i - 1]}/9' 2>&1 | grep -q refused" && { ok=1; break; }
    sleep 0.1
  done
  [ $ok = 1 ] || die "node1 cannot reach ${names[i - 1]} (${addrs[i - 1]})"
done

export GNET_CLUSTER_DIR=$dir
export GNET_CLUSTER_HOSTS="${names[*]}" GNET_CLUSTER_ADDRS="${addrs[*]}"
export GNET_CLUSTER_SUBNET=$subnet_base.0/24 GNET_CLUSTER_ON=$dir/on
mkdir "$dir/tmp"
export GNET_CLUSTER_MPIRUN="--mca plm_rsh_agent $dir/on --mca btl tcp,self --mca btl_tcp_if_include $GNET_CLUSTER_SUBNET --mca oob_tcp_if_include $GNET_CLUSTER_SUBNET --mca orte_tmpdir_base $dir/tmp"
for i in $(seq "$hosts"); do export "GNET_CLUSTER_NS_$i=${prefix}$$n$i"; done
echo "cluster: $hosts hosts up (${names[*]} at ${addrs[*]}; namespaces ${made[*]})" >&2

# COMMAND on node1, in the background so that a signal to this script reaches the trap now.
cmd=$(printf '%q ' "$@")
"$dir/on" node1 "cd $(printf '%q' "$PWD") && exec $cmd" &
child=$!
wait "$child"
rc=$?
child=
exit $rc
