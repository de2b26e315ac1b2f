#!/usr/bin/env bash
# The Slurm workflow on a real single-node Slurm cluster started here (munged, slurmctld,
# slurmd as root; configs, state and logs in a temp dir; ports that are free; stopped by PID
# at exit, also on failure), with the CPU backend at 28x28 on a subset of Fashion-MNIST:
#  A. scripts/slurm/train.sbatch on 2 ranks (sbatch --wait): exit 0, "on cpu (2 ranks)", and
#     a run directory with config.ini, log.txt and a metrics.jsonl ending in the final record;
#  B. scripts/sweep.sh --slurm: a job array of 2 runs (sweep.sbatch), each with its final
#     record, tabulated by scripts/summarize.py;
#  C. a run sent SIGUSR1 mid-training (scancel --signal=USR1): exits 3, requeues itself,
#     resumes from its checkpoint (the job output and log.txt say so) and completes all its
#     epochs, each recorded once;
#  D. a job whose gnet_dist is missing (GNET_BIN) fails with exit 1 and a line naming it;
#  E. scripts/tune.py --slurm: a tiny tuned group, each rung's trials one job array of 2-rank
#     jobs (sbatch --wait), makes the same decisions from the same evaluations as the same
#     group run locally with mpirun; a rerun submits nothing.
# Skipped (77) only when the Slurm or munge daemons are not installed (Debian: slurm-wlm,
# munge, which scripts/install_deps.sh installs).
# Every wait has a timeout, together well under ctest's TIMEOUT (600 s), so that the cleanup
# always runs (ctest's own timeout kills with SIGKILL, which no trap sees); it takes 1-2 min.
# usage: slurm_test.sh GNET_DIST SOURCE_DIR   (GNET_KEEP_TMP=1 keeps the temp dir and logs)
set -euo pipefail
dist=$(realpath "$1")
src=$(realpath "$2")
py=${GNET_PYTHON:-/usr/bin/python3}
data=/usr/share/datasets/fashion-mnist

for b in munged slurmctld slurmd sbatch srun scontrol squeue sinfo scancel; do
  command -v "$b" >/dev/null || { echo "SKIP: $b not installed (Debian packages slurm-wlm, munge)"; exit 77; }
done
[ -e "$data/train-images-idx3-ubyte.gz" ] || { echo "FAIL: $data not installed (dataset-fashion-mnist)"; exit 1; }

tmp=$(mktemp -d /tmp/gnet-slurm-test.XXXXXX)
chmod 755 "$tmp"
D=$tmp/cluster
mkdir -p "$D"/{munge,state,spool,run,log} "$tmp/runs"
pids=()

# Stops what this test started: first the jobs (so that no slurmstepd or rank outlives the
# cluster), then slurmd, slurmctld, munged by their PIDs; then, as a last resort, any process
# still carrying this cluster's SLURM_CONF in its environment (a job step the cancel missed).
cleanup() {
  local rc=$?
  set +e
  stop_slurm "$D"
  local conf=$D/slurm.conf p
  export -n SLURM_CONF
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = $$ ] && continue
    grep -qzx "SLURM_CONF=$conf" "$p/environ" 2>/dev/null && kill -KILL "$pid" 2>/dev/null && echo "killed leftover pid $pid"
  done
  if [ $rc -ne 0 ] || [ -n "${GNET_KEEP_TMP:-}" ]; then
    echo "--- logs (kept in $tmp) ---"
    tail -n 20 "$D"/log/*.log "$tmp"/*.out 2>/dev/null
  else
    rm -rf "$tmp"
  fi
  exit $rc
}
trap cleanup EXIT
# shellcheck source=tests/slurm_lib.sh
source "$(dirname "$0")/slurm_lib.sh"

fail() {
  echo "FAIL: $*"
  exit 1
}
ok() { echo "ok: $*"; }

# A TCP port nobody uses now (the race with another process taking it is accepted: the
# daemons would then fail to start and the test would say so). Without ss (iproute2), a
# port nothing answers on counts as free.
port_used() {
  if command -v ss >/dev/null; then
    [ -n "$(ss -Htan "sport = :$1")" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    port_used "$p" || { echo "$p"; return; }
  done
  fail "no free TCP port found"
}

# --- the cluster ---
host=$(hostname -s)
cpus=$(nproc)
mem=$(($(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024 * 8 / 10))
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$((ctld_port + 1))
write_slurm_conf "$D" gnettest "$host(127.0.0.1)" "$ctld_port" "$slurmd_port" slurmd \
  "NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem State=UNKNOWN" \
  "PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP"
export SLURM_CONF=$D/slurm.conf
start_munge_ctld "$D"
slurmd -D -N "$host" >"$D/log/slurmd.out" 2>&1 &
pids+=($!)
state=
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
  state=$(timeout 5 sinfo -h -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || fail "the node is '$state', not idle, 30 s after starting slurmctld and slurmd"
ok "single-node cluster up (node $host, $cpus CPUs, ports $ctld_port/$slurmd_port)"

# Open MPI refuses root unless told; the jobs inherit this environment (sbatch --export=ALL).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export GNET_BIN=$dist GNET_ROOT=$src
cd "$tmp"
tiny=(--device cpu --idx "$data" --train-limit 512 --test-limit 256 --batch-size 64 --lr 0.05)
ranks=2
[ "$cpus" -ge 2 ] || ranks=1


# --- A: one training job ---
start=$(date +%s)
timeout 90 sbatch --wait --quiet --ntasks="$ranks" --output="$tmp/a.out" \
  "$src/scripts/slurm/train.sbatch" runs/a "${tiny[@]}" --epochs 2 ||
  fail "A: sbatch --wait train.sbatch exited with $?"
grep -q "on cpu ($ranks ranks)" "$tmp/a.out" || fail "A: no 'on cpu ($ranks ranks)' in the job's output"
for f in config.ini log.txt metrics.jsonl checkpoint.h5; do
  [ -s "runs/a/$f" ] || fail "A: runs/a/$f missing or empty"
done
check_run runs/a 2 "$ranks" || fail "A: runs/a/metrics.jsonl"
ok "A: train.sbatch on $ranks ranks finished in $(($(date +%s) - start)) s with its final record"

# --- B: a sweep as a job array, then its table ---
start=$(date +%s)
timeout 120 "$src/scripts/sweep.sh" --slurm --batch 32,64 --lr 0.05 --epochs 1 \
  --sbatch --wait --sbatch --quiet --sbatch --ntasks="$ranks" --sbatch --output="$tmp/b_%a.out" \
  sweep -- --device cpu --idx "$data" --train-limit 256 --test-limit 128 >"$tmp/b.log" 2>&1 ||
  { cat "$tmp/b.log"; fail "B: sweep.sh --slurm exited with an error"; }
for r in bs32_lr0.05_e1 bs64_lr0.05_e1; do
  check_run "sweep/$r" 1 "$ranks" || fail "B: sweep/$r/metrics.jsonl"
done
"$py" "$src/scripts/summarize.py" sweep >"$tmp/b.md" || fail "B: summarize.py sweep exited with $?"
python3 "$src/scripts/summarize.py" sweep | cmp -s - "$tmp/b.md" || fail "B: summarize.py differs between $py and python3"
grep -q '^| batch | lr | epochs | loss | train acc | test acc | examples/s | wall |' "$tmp/b.md" &&
  [ "$(grep -cE '^\| (32|64) \| 0\.05 \| 1 \| [0-9]\.[0-9]{3} \| [01]\.[0-9]{3} \| [01]\.[0-9]{3} \| [0-9]+\.[0-9] \| [0-9]+m[0-5][0-9]s \|' "$tmp/b.md")" -eq 2 ] ||
  { cat "$tmp/b.md"; fail "B: the sweep's table lacks its header or its 2 rows"; }
ok "B: a 2-run sweep as a job array in $(($(date +%s) - start)) s, tabulated:"
cat "$tmp/b.md"

# --- C: SIGUSR1 mid-run -> exit 3, requeue, resume, completion ---
start=$(date +%s)
epochs=12
job=$(sbatch --parsable --ntasks="$ranks" --output="$tmp/c.out" \
  "$src/scripts/slurm/train.sbatch" runs/c "${tiny[@]}" --epochs $epochs) || fail "C: sbatch failed"
# Signal once the run is under way (2 epochs recorded) and well before it ends.
recorded() { cat runs/c/metrics.jsonl 2>/dev/null | grep -c '"epoch"' || true; }
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
  [ "$(recorded)" -ge 2 ] && break
  sleep 0.25
done
[ "$(recorded)" -ge 2 ] || fail "C: no 2 epochs recorded within 60 s"
timeout 10 scancel --signal=USR1 "$job" || fail "C: scancel --signal=USR1 $job"
state=
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
  state=$(timeout 5 scontrol show job "$job" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case $state in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 1
done
[ "$state" = COMPLETED ] || fail "C: job $job is $state, not COMPLETED (120 s after USR1)"
restarts=$(timeout 5 scontrol show job "$job" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p')
[ "$restarts" = 1 ] || fail "C: job $job restarted $restarts times, expected once"
grep -q "Exited with exit code 3" "$tmp/c.out" && grep -q "stopped with a checkpoint in runs/c; requeueing job $job" "$tmp/c.out" ||
  fail "C: the job's output does not show an exit with code 3 and a requeue"
grep -q "resuming runs/c from runs/c/checkpoint.h5" "$tmp/c.out" ||
  fail "C: the job's output does not show the resume"
check_run runs/c $epochs "$ranks" || fail "C: runs/c/metrics.jsonl"
grep -q "^resumed runs/c" runs/c/log.txt || fail "C: runs/c/log.txt does not show the resume"
ok "C: USR1 -> exit 3 -> requeue -> resume -> $epochs epochs complete, in $(($(date +%s) - start)) s"

# --- D: a job that cannot find gnet_dist fails with a line naming it ---
rc=0
GNET_BIN=$tmp/no/gnet_dist timeout 60 sbatch --wait --quiet --output="$tmp/d.out" \
  "$src/scripts/slurm/train.sbatch" runs/d "${tiny[@]}" || rc=$?
[ $rc -eq 1 ] && grep -qF "error: gnet_dist not found or not executable: $tmp/no/gnet_dist (build it, or set GNET_BIN)" "$tmp/d.out" ||
  fail "D: a missing GNET_BIN: sbatch --wait exited with $rc; output: $(cat "$tmp/d.out")"
ok "D: a missing gnet_dist: exit 1, $(grep -m1 error "$tmp/d.out")"


# --- E: the tuner's rungs as job arrays, against the same group run locally ---
start=$(date +%s)
cat >"$tmp/tiny.ini" <<EOF
[train]
device = cpu
idx = $data
train-limit = 512
test-limit = 256
momentum = 0.9
weight-init = he
EOF
echo "tiny 64 0.005,0.01,0.02" >"$tmp/study.txt"
tune=("$py" "$src/scripts/tune.py" --np "$ranks" --eta 2 --rungs 2 --min-epochs 2 --min-steps 8
      --target 0.99 --extensions 0 "$tmp/study.txt")
timeout 240 "${tune[@]}" --slurm --sbatch --quiet --sbatch --ntasks="$ranks" \
  --sbatch --output="$tmp/e_%A_%a.out" tune_slurm -- --threads 1 >"$tmp/e.log" 2>&1 ||
  { cat "$tmp/e.log"; fail "E: tune.py --slurm exited with an error"; }
grep -q "sbatch --wait --array=0-2 " "$tmp/e.log" || fail "E: rung 0 was not one array of 3 tasks"
timeout 120 "${tune[@]}" tune_local -- --threads 1 --no-progress >"$tmp/e_local.log" 2>&1 ||
  { cat "$tmp/e_local.log"; fail "E: tune.py (local) exited with an error"; }
cmp -s tune_slurm/tiny/bs0064/decisions.jsonl tune_local/tiny/bs0064/decisions.jsonl ||
  { cat tune_slurm/tiny/bs0064/decisions.jsonl tune_local/tiny/bs0064/decisions.jsonl;
    fail "E: Slurm and local runs of the group decided differently"; }
timeout 60 "${tune[@]}" --slurm tune_slurm -- --threads 1 >"$tmp/e2.log" 2>&1 &&
  ! grep -q "sbatch" "$tmp/e2.log" || fail "E: a rerun of the finished group submitted jobs"
ok "E: tune.py --slurm: the same decisions as locally, in $(($(date +%s) - start)) s"

echo "slurm_test: all passed"
