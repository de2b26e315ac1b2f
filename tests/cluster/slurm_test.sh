#!/usr/bin/env bash
# A two-node Slurm on the test cluster (cluster.sh: node1 and node2 in network namespaces,
# 10.77.0.1-2): slurmctld and one slurmd on node1, a slurmd on node2 (each its own NodeName and
# NodeAddr), one munged whose socket (a file) every node reaches, ports inside the cluster's own
# network; started here and stopped at exit by PID (and whatever is left in the namespaces by
# cluster.sh). The jobs get Open MPI over TCP on the cluster's subnet from the submit environment
# (OMPI_MCA_btl, OMPI_MCA_btl_tcp_if_include), as docs/usage.md tells a cluster user. CPU backend,
# 28x28, a subset of Fashion-MNIST:
#  A. sbatch --nodes=2 scripts/slurm/multinode.sbatch: trains on node1 and node2 (log.txt names
#     both) and finishes with its final record;
#  B. the same 2-node job sent USR1 mid-run (as the time limit does): exits 3, requeues itself,
#     resumes from its checkpoint and completes every epoch once;
#  C. a one-node job on node X, X drained, then `scontrol requeue`: the job lands on the other
#     node, resumes there from the checkpoint written on X, and completes every epoch once;
#  D. scripts/sweep.sh --slurm: a 2-run job array whose runs (2 ranks each, a whole node) run on
#     both nodes, each with its final record.
# Skipped (77) when the Slurm or munge daemons are not installed or the machine does not allow
# network namespaces. Every wait has a timeout, together under ctest's TIMEOUT.
# usage: slurm_test.sh GNET_DIST SOURCE_DIR        (GNET_KEEP_TMP=1 keeps the temp dir and logs)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${GNET_PYTHON:-/usr/bin/python3}
data=/usr/share/datasets/fashion-mnist

if [ "${1:-}" != --inside ]; then
  dist=$(realpath "$1") src=$(realpath "$2")
  for b in munged slurmctld slurmd sbatch srun scontrol squeue sinfo scancel; do
    command -v "$b" >/dev/null || { echo "SKIP: $b not installed (Debian packages slurm-wlm, munge)"; exit 77; }
  done
  why=$("$here/cluster.sh" --check) || { echo "SKIP: the test cluster needs network namespaces: ${why#cluster: }"; exit 77; }
  [ -e "$data/train-images-idx3-ubyte.gz" ] || { echo "FAIL: $data not installed (dataset-fashion-mnist)"; exit 1; }
  tmp=$(mktemp -d /tmp/gnet-slurm2-test.XXXXXX)
  chmod 755 "$tmp"
  # Each node's TmpFS (Slurm's node-local scratch; its PMIx plugin puts job directories there).
  mkdir -p "$tmp/cluster/nodetmp"
  rc=0
  # (timeout: SIGTERM to cluster.sh, whose trap tears the cluster down, before ctest's TIMEOUT)
  timeout -k 20 540 "$here/cluster.sh" --private "node1:$tmp/cluster/nodetmp" \
    --private "node2:$tmp/cluster/nodetmp" -- "$here/slurm_test.sh" --inside "$tmp" "$dist" "$src" || rc=$?
  [ $rc -eq 124 ] && echo "FAIL: the two-node Slurm test did not end within 540 s"
  if [ $rc -ne 0 ] || [ -n "${GNET_KEEP_TMP:-}" ]; then
    echo "--- logs (kept in $tmp) ---"
    tail -n 15 "$tmp"/cluster/log/*.log "$tmp"/*.out 2>/dev/null
  else
    rm -rf "$tmp"
  fi
  exit $rc
fi

# --- on node1 of the cluster: --inside TMP GNET_DIST SOURCE_DIR ---
tmp=$2 dist=$3 src=$4
D=$tmp/cluster
mkdir -p "$D"/{munge,state,spool/node1,spool/node2,run,log} "$tmp/runs"
pids=()
fail() {
  echo "FAIL: $*"
  exit 1
}
ok() { echo "ok: $*"; }

# Stops the jobs, then the daemons by PID (cluster.sh then kills whatever is left in the nodes).
cleanup() {
  local rc=$?
  set +e
  stop_slurm "$D"
  exit $rc
}
trap cleanup EXIT
# shellcheck source=tests/slurm_lib.sh
source "$here/../slurm_lib.sh"

# --- the cluster: slurmctld + slurmd on node1, slurmd on node2 ---
read -r addr1 addr2 _ <<<"$GNET_CLUSTER_ADDRS"
cpus=2
mem=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024 * 4 / 10))
# %n: each slurmd its own spool, pid and log.
write_slurm_conf "$D" gnettest2 "node1($addr1)" 6817 6818 "slurmd-%n /%n" "TmpFS=$D/nodetmp" \
  "NodeName=node1 NodeAddr=$addr1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN" \
  "NodeName=node2 NodeAddr=$addr2 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN" \
  "PartitionName=test Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP"
export SLURM_CONF=$D/slurm.conf
start_munge_ctld "$D"
# (each slurmd through the cluster's launcher, so that it gets its node's own TmpFS)
for n in node1 node2; do
  "$GNET_CLUSTER_ON" $n "SLURM_CONF=$SLURM_CONF exec slurmd -D -N $n" >"$D/log/slurmd-$n.out" 2>&1 &
  pids+=($!)
done
state=
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
  state=$(timeout 5 sinfo -h -N -o '%N %T' 2>/dev/null | tr '\n' ' ' || true)
  [ "$state" = "node1 idle node2 idle " ] && break
  sleep 0.5
done
[ "$state" = "node1 idle node2 idle " ] || fail "the nodes are '$state', not both idle, 30 s after starting the daemons"
ok "two-node Slurm up: node1 ($addr1: slurmctld, slurmd), node2 ($addr2: slurmd), $cpus CPUs each"

# What a cluster user exports before sbatch (docs/usage.md): Open MPI over TCP on the cluster's
# network (the nodes' /dev/shm is one machine's: without this, ranks on "different" nodes could
# still meet in shared memory). The jobs inherit it (sbatch --export=ALL).
export OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=$GNET_CLUSTER_SUBNET
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export GNET_BIN=$dist GNET_ROOT=$src
cd "$tmp"
tiny=(--device cpu --idx "$data" --train-limit 256 --test-limit 64 --batch-size 32 --lr 0.05)

# The hosts of a run's ranks, in the order log.txt recorded them (each start of the run).
hosts_of() { sed -n 's/^rank [0-9]* of [0-9]*: host \([^,]*\),.*/\1/p' "$1/log.txt" | tr '\n' ' '; }
job_field() { timeout 5 scontrol show job "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n1; }
wait_done() { # JOB SECONDS -> the final state
  local state='' deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    state=$(job_field "$1" JobState)
    case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 1
  done
  echo "$state"
}
recorded() { cat "$1/metrics.jsonl" 2>/dev/null | grep -c '"epoch"' || true; }
wait_epochs() { # RUN_DIR N SECONDS
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(recorded "$1")" -ge "$2" ] && return 0
    sleep 0.25
  done
  return 1
}

# --- A: sbatch --nodes=2 multinode.sbatch ---
start=$SECONDS
# (sbatch --wait polls slowly at first: the state is polled here every second instead)
job=$(sbatch --parsable --nodes=2 --output="$tmp/a.out" \
  "$src/scripts/slurm/multinode.sbatch" runs/a "${tiny[@]}" --epochs 2) || fail "A: sbatch failed"
state=$(wait_done "$job" 90)
[ "$state" = COMPLETED ] || fail "A: the job is $state, not COMPLETED ($(tail -n 5 "$tmp/a.out" | tr '\n' ' '))"
grep -q "on cpu (2 ranks)" "$tmp/a.out" || fail "A: no 'on cpu (2 ranks)' in the job's output"
check_run runs/a 2 2 || fail "A: runs/a/metrics.jsonl"
[ "$(hosts_of runs/a)" = "node1 node2 " ] || fail "A: the ranks ran on '$(hosts_of runs/a)', not node1 node2"
ok "A: multinode.sbatch on 2 nodes (ranks on $(hosts_of runs/a)) finished in $((SECONDS - start)) s with its final record"

# --- B: the 2-node job stopped by USR1 mid-run: exit 3, requeue, resume, completion ---
start=$SECONDS
epochs=4
job=$(sbatch --parsable --nodes=2 --output="$tmp/b.out" \
  "$src/scripts/slurm/multinode.sbatch" runs/b "${tiny[@]}" --epochs $epochs) || fail "B: sbatch failed"
wait_epochs runs/b 1 60 || fail "B: no epoch recorded within 60 s"
timeout 10 scancel --signal=USR1 "$job" || fail "B: scancel --signal=USR1 $job"
state=$(wait_done "$job" 90)
[ "$state" = COMPLETED ] || fail "B: job $job is $state, not COMPLETED (90 s after USR1)"
[ "$(job_field "$job" Restarts)" = 1 ] || fail "B: job $job restarted $(job_field "$job" Restarts) times, expected once"
grep -q "stopped with a checkpoint in runs/b; requeueing job $job" "$tmp/b.out" &&
  grep -q "resuming runs/b from runs/b/checkpoint.h5" "$tmp/b.out" ||
  fail "B: the job's output does not show the stop with a checkpoint, the requeue and the resume"
check_run runs/b $epochs 2 || fail "B: runs/b/metrics.jsonl"
grep -q "^resumed runs/b" runs/b/log.txt || fail "B: runs/b/log.txt does not show the resume"
[ "$(hosts_of runs/b)" = "node1 node2 node1 node2 " ] || fail "B: the ranks ran on '$(hosts_of runs/b)'"
ok "B: 2 nodes, USR1 -> exit 3 -> requeue -> resume -> $epochs epochs, each once, in $((SECONDS - start)) s"

# --- C: a one-node job requeued (scontrol requeue) while its node is drained: the other node ---
start=$SECONDS
job=$(sbatch --parsable -n 2 --output="$tmp/c.out" \
  "$src/scripts/slurm/train.sbatch" runs/c "${tiny[@]}" --epochs $epochs) || fail "C: sbatch failed"
wait_epochs runs/c 1 60 || fail "C: no epoch recorded within 60 s"
first=$(job_field "$job" BatchHost)
other=node1
[ "$first" = node1 ] && other=node2
timeout 10 scontrol update NodeName="$first" State=DRAIN Reason=gnet-test || fail "C: drain $first"
timeout 10 scontrol requeue "$job" || fail "C: scontrol requeue $job"
state=$(wait_done "$job" 90)
timeout 10 scontrol update NodeName="$first" State=RESUME || true
[ "$state" = COMPLETED ] || fail "C: job $job is $state, not COMPLETED (90 s after the requeue)"
[ "$(job_field "$job" Restarts)" = 1 ] || fail "C: job $job restarted $(job_field "$job" Restarts) times, expected once"
[ "$(job_field "$job" BatchHost)" = "$other" ] || fail "C: the requeued job ran on $(job_field "$job" BatchHost), not $other"
grep -q "resuming runs/c from runs/c/checkpoint.h5" "$tmp/c.out" || fail "C: the job's output does not show the resume"
check_run runs/c $epochs 2 || fail "C: runs/c/metrics.jsonl"
[ "$(hosts_of runs/c)" = "$first $first $other $other " ] || fail "C: the ranks ran on '$(hosts_of runs/c)'"
ok "C: 1 node: $first drained, scontrol requeue -> resumed on $other from $first's checkpoint -> $epochs epochs, each once, in $((SECONDS - start)) s"

# --- D: a job-array sweep over both nodes ---
start=$SECONDS
timeout 60 "$src/scripts/sweep.sh" --slurm --batch 32,64 --lr 0.05 --epochs 1 \
  --sbatch --quiet --sbatch --ntasks=2 --sbatch --output="$tmp/d_%a.out" \
  sweep -- --device cpu --idx "$data" --train-limit 256 --test-limit 64 >"$tmp/d.log" 2>&1 ||
  { cat "$tmp/d.log"; fail "D: sweep.sh --slurm exited with an error"; }
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ] && [ -n "$(timeout 5 squeue -h -o %i)" ]; do sleep 1; done
[ -z "$(timeout 5 squeue -h -o %i)" ] || fail "D: the array's tasks still queued or running after 60 s"
for r in bs32_lr0.05_e1 bs64_lr0.05_e1; do
  check_run "sweep/$r" 1 2 || fail "D: sweep/$r/metrics.jsonl"
done
h32=$(hosts_of sweep/bs32_lr0.05_e1) h64=$(hosts_of sweep/bs64_lr0.05_e1)
[ "$h32/$h64" = "node1 node1 /node2 node2 " ] || [ "$h32/$h64" = "node2 node2 /node1 node1 " ] ||
  fail "D: the sweep's runs ran on '$h32' and '$h64', not one on each node"
ok "D: a 2-run job array in $((SECONDS - start)) s, one run on each node ($h32/ $h64)"

echo "cluster_slurm: all passed"
