#!/usr/bin/env bash
# mpirun across hosts: a 2-host cluster of network namespaces on this machine (cluster.sh),
# Open MPI over TCP only (btl tcp,self on the cluster's subnet), on 4 prepared shards of the
# real Fashion-MNIST:
#  A. 2 hosts x 1 rank and 2 hosts x 2 ranks take the same 5 steps as the same ranks on one
#     host (shared memory): the weights' update within compare_updates' 1e-4 (the 2-rank sum
#     a+b is exact whatever the transport, so there the weights are also bit-identical);
#  B. every rank logs its host, local rank and device once at start, and the local ranks are
#     right on each host (rank 0 collects the lines: stdout and log.txt);
#  C. only rank 0 writes the run directory: node2 sees it read-only (a write from there fails:
#     checked), and the run directory is complete;
#  D. a rank killed with -9 on node2 ends the job within --comm-timeout (10 s), mpirun naming
#     the rank and node2; node2 lost whole (every process there killed: Open MPI's daemon, the
#     ranks, the remote shell) ends it as fast; no rank is left on either host;
#  E. a run stopped on 2 hosts resumes on 1, and one stopped on 1 resumes on 2, both with the
#     same steps (momentum included) as an uninterrupted run: bit-identical checkpoints.
# Skipped (77) with the reason when this machine does not allow network namespaces.
# usage: mpi_test.sh GNET_DIST GNET_PREPARE REF_DIR      (REF_DIR: tests/ref)
set -u
here=$(cd "$(dirname "$0")" && pwd)
cluster=$here/cluster.sh

if [ "${1:-}" = --inside ]; then
  # --- on node1 of the cluster: --inside TMP GNET_DIST REF_DIR ---
  tmp=$2 dist=$3 ref=$4
  py=${GNET_PYTHON:-/usr/bin/python3}
  fail=0
  check() { if [ "$1" -ne 0 ]; then echo "FAIL: $2"; fail=1; else echo "ok: $2"; fi; }
  cd "$tmp" || exit 1
  printf 'node1 slots=1\nnode2 slots=1\n' >hosts1
  printf 'node1 slots=2\nnode2 slots=2\n' >hosts2
  # shellcheck disable=SC2086
  across() { # HOSTFILE NP ARGS...: mpirun over the cluster's hosts, TCP only
    local hf=$1 np=$2
    shift 2
    timeout 90 mpirun --timeout 60 $GNET_CLUSTER_MPIRUN --hostfile "$hf" -np "$np" \
      -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM "$dist" "$@"
  }
  common=(--device cpu --data data --batch-size 32 --lr 0.05 --threads 1 --seed 11 --epochs 1 --no-progress)
  echo "cluster: hosts $GNET_CLUSTER_HOSTS at $GNET_CLUSTER_ADDRS; mpirun $GNET_CLUSTER_MPIRUN"

  # C's negative control: node2 really cannot write the run directories.
  ! "$GNET_CLUSTER_ON" node2 "touch $tmp/runs/probe" 2>/dev/null && [ ! -e runs/probe ]
  check $? "node2 sees $tmp/runs read-only (a write from node2 fails)"

  # A, B, C: 2 hosts x 1 rank, 2 hosts x 2 ranks
  for cfg in "1 2 hosts1" "2 4 hosts2"; do
    read -r per np hf <<<"$cfg"
    name=x${per}_np$np
    start=$SECONDS
    across "$hf" "$np" "${common[@]}" --max-steps 5 --out "runs/$name" >"$name.out" 2>&1
    rc=$?
    check $rc "2 hosts x $per rank(s): 5 steps over TCP in $((SECONDS - start)) s (rc $rc)"
    [ $rc -eq 0 ] || { tail -n 20 "$name.out"; continue; }
    "$py" "$ref/compare_updates.py" init.h5 "runs/$name/checkpoint.h5" "np${np}.h5" --tol 1e-4
    check $? "2 hosts x $per rank(s) take the same steps as $np ranks on one host"
    if "$py" "$ref/same_weights.py" "runs/$name/checkpoint.h5" "np${np}.h5" >/dev/null; then
      echo "   (bit-identical to $np ranks on one host)"
    elif [ "$np" = 2 ]; then
      check 1 "2 ranks: bit-identical to one host (a+b is exact)"
    fi
    # B: one line per rank, in rank order, each once, with its host and local rank
    want=$(for r in $(seq 0 $((np - 1))); do
      echo "rank $r of $np: host node$((r / per + 1)), local rank $((r % per)) of $per, cpu (1 threads), mpi communicator"
    done)
    [ "$(grep '^rank [0-9]* of ' "$name.out")" = "$want" ] &&
      [ "$(grep '^rank [0-9]* of ' "runs/$name/log.txt")" = "$want" ]
    rc=$?
    check $rc "2 hosts x $per: every rank's host, local rank and device once, on stdout and in log.txt"
    [ $rc -eq 0 ] || { echo "want:"; echo "$want"; echo "got:"; grep '^rank' "$name.out"; }
    # C: rank 0 (node1) wrote it all; node2 could not have written anything
    for f in config.ini log.txt metrics.jsonl checkpoint.h5; do [ -s "runs/$name/$f" ] || false; done &&
      [ "$(ls "runs/$name" | wc -l)" -eq 4 ] && grep -q '"final": true' "runs/$name/metrics.jsonl"
    check $? "2 hosts x $per: only rank 0 wrote the run directory, and it is complete"
  done
  grep -q "^rank 0 of 4: host $(cat hostname.txt), local rank 0 of 4," np4.out
  check $? "on one host the 4 ranks are local ranks 0-3 of $(cat hostname.txt)"

  # D: kill -9 of rank 3 on node2; then node2 lost whole (its orted and ranks)
  for what in rank node; do
    across hosts2 4 --device cpu --synthetic 100000 --batch-size 32 --threads 1 --no-progress \
      --comm-timeout 10 >"kill_$what.out" 2>&1 &
    job=$!
    for _ in $(seq 300); do grep -q "^rank 3 of 4" "kill_$what.out" && break; sleep 0.1; done
    sleep 2 # training now
    victims=
    for p in $(ip netns pids "$GNET_CLUSTER_NS_2"); do
      if [ $what = node ]; then
        victims+=" $p"
      elif [ "$(cat "/proc/$p/comm" 2>/dev/null)" = gnet_dist ] &&
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=3; then
        victims+=" $p"
      fi
    done
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    [ -n "$victims" ] && kill -9 $victims
    wait $job
    rc=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    # mpirun can exit while its own host's ranks are still dying (seen in CI when the lost
    # daemon was reported as a failed start): give them until --comm-timeout ends, then say.
    for _ in $(seq 100); do
      left=$(for n in 1 2; do ns=GNET_CLUSTER_NS_$n; for p in $(ip netns pids "${!ns}"); do
        [ "$(cat "/proc/$p/comm" 2>/dev/null)" = gnet_dist ] && echo "node$n:$p"; done; done)
      [ -z "$left" ] && break
      sleep 0.1
    done
    lms=$((($(date +%s%N) - start) / 1000000))
    if [ $what = rank ]; then
      said=$(grep -m1 "process rank 3 with PID [0-9]* on node node2 exited on signal 9" "kill_$what.out")
    else
      # Open MPI says one of two things, by which it notices first: the lost connection to
      # node2's daemon (naming node2), or the remote shell that started it exiting.
      said=$(grep -m1 -e "Remote daemon: .* on node node2" -e "ORTE was unable to reliably start one or more daemons" \
        "kill_$what.out" | sed 's/^ *//')
    fi
    [ -n "$victims" ] && [ $rc -ne 0 ] && [ $ms -le 10000 ] && [ -n "$said" ] && [ -z "$left" ]
    check $? "kill -9 of the $what on node2 (pids$victims): the job ended in $ms ms (--comm-timeout 10 s), rc $rc: ${said:-no line naming it}; ${left:+still running after $lms ms: }${left:-no rank left after $lms ms}"
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -9 ${left//node?:/} 2>/dev/null
    [ -n "$said" ] || tail -n 30 "kill_$what.out"
  done

  # E: stopped on 2 hosts, resumed on 1 (node1 alone: shared memory); and the other way
  mom=(--momentum 0.9 --max-steps 3)
  across hosts1 2 "${common[@]}" "${mom[@]}" --out runs/r21 >r21a.out 2>&1
  check $? "E: 3 steps on 2 hosts"
  timeout 90 mpirun --timeout 60 -np 2 "$dist" "${common[@]}" --momentum 0.9 --max-steps 6 \
    --out runs/r21 --resume runs/r21 >r21b.out 2>&1
  check $? "E: resumed on 1 host to step 6"
  timeout 90 mpirun --timeout 60 -np 2 "$dist" "${common[@]}" "${mom[@]}" --out runs/r12 >r12a.out 2>&1
  check $? "E: 3 steps on 1 host"
  across hosts1 2 "${common[@]}" --momentum 0.9 --max-steps 6 --out runs/r12 --resume runs/r12 >r12b.out 2>&1
  check $? "E: resumed on 2 hosts to step 6"
  for r in r21 r12; do
    grep -q "^resumed runs/$r" "runs/$r/log.txt" && "$py" "$ref/same_weights.py" "runs/$r/checkpoint.h5" straight6.h5
    check $? "E: $r (${r:1:1} host(s), then ${r:2:1}) ends where an uninterrupted 6-step run does"
  done
  [ $fail -eq 0 ] && echo "cluster_mpi: all passed"
  exit $fail
fi

# --- on this machine: the data and the one-host references, then the cluster part ---
dist=$(realpath "$1") prepare=$(realpath "$2") ref=$(realpath "$3")
py=${GNET_PYTHON:-/usr/bin/python3}
why=$("$cluster" --check)
[ $? -eq 0 ] || { echo "SKIP: the test cluster needs network namespaces: ${why#cluster: }"; exit 77; }
# shellcheck source=/dev/null  # (lib.sh sets tmp and idx, the real Fashion-MNIST)
source "$here/../lib.sh"
need_idx
# The first 1,282 training and 321 test images of the real Fashion-MNIST -> 4 shards (as
# dist_test.sh: on random data an untrained net's ReLUs sit on their decision boundaries).
# shellcheck disable=SC2154
"$py" - "$idx" "$tmp/idx" <<'PY'
import gzip, os, struct, sys
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
for name, n in (("train", 1282), ("t10k", 321)):
    img = gzip.open(f"{src}/{name}-images-idx3-ubyte.gz").read()[16:16 + n * 784]
    lab = gzip.open(f"{src}/{name}-labels-idx1-ubyte.gz").read()[8:8 + n]
    with gzip.open(f"{d}/{name}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + img)
    with gzip.open(f"{d}/{name}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + lab)
PY
"$prepare" --src "$tmp/idx" --out "$tmp/data" --shards 4 --seed 3 >/dev/null || { echo "FAIL: gnet_prepare"; exit 1; }
cd "$tmp" || exit 1
hostname >hostname.txt
common=(--device cpu --data data --batch-size 32 --lr 0.05 --threads 1 --seed 11 --epochs 1 --no-progress)
one() { local np=$1; shift; timeout 90 mpirun --timeout 60 -np "$np" "$dist" "$@"; }
one 1 "${common[@]}" --lr 0 --max-steps 1 --save init.h5 >/dev/null &&
  one 2 "${common[@]}" --max-steps 5 --save np2.h5 >np2.out &&
  one 4 "${common[@]}" --max-steps 5 --save np4.h5 >np4.out &&
  one 2 "${common[@]}" --momentum 0.9 --max-steps 6 --save straight6.h5 >/dev/null
check $? "the one-host references (5 steps on 2 and 4 ranks, 6 with momentum on 2)"
[ $fail -eq 0 ] || exit 1
mkdir runs
# (timeout: SIGTERM to cluster.sh, whose trap tears the cluster down, well before ctest's
# TIMEOUT, whose SIGKILL no trap sees)
timeout -k 20 420 "$cluster" --readonly "node2:$tmp/runs" -- "$here/mpi_test.sh" --inside "$tmp" "$dist" "$ref"
rc=$?
[ $rc -eq 124 ] && echo "FAIL: the cluster part did not end within 420 s"
exit $rc
