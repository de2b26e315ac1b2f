# shellcheck shell=bash
# What the Slurm tests share (tests/slurm_test.sh: one node on localhost;
# tests/cluster/slurm_test.sh: two hosts of the namespace cluster). Sourced, not run. The
# caller defines fail MESSAGE (exits) and a pids array; the daemons started here go into it.
#
# write_slurm_conf D CLUSTER CTLD_HOST CTLD_PORT SLURMD_PORT SLURMD LINE...
#   D: the test's Slurm directory (munge/, state/, spool/, run/, log/ in it); CTLD_HOST as
#   SlurmctldHost takes it ("name(address)"); SLURMD: the slurmd's file name and spool
#   subdirectory ("slurmd" and "" for one, "slurmd-%n" and "/%n" for one per node: give
#   "slurmd-%n /%n"); each LINE (the NodeName and PartitionName lines) is added as it is.
# cred_expire=5: a requeued job waits for its credential to expire before it may start again
# (120 s by default). sched_interval=2: the scheduler looks at pending (requeued, eligible
# again) jobs every 2 s instead of 60. MinJobAge=5: sbatch --wait polls after 2 s, then
# every 8 s, then 32 s, unless MinJobAge/2 is at most 2 s, when it polls every 2 s (sbatch.c,
# _job_wait): with the default 300, an array of 10 s took 42 s to return, and the tuner's
# rungs on Slurm waited ~30 s each. The records of finished jobs then go within a minute (the
# purge runs every 60 s): the tests read a job's state and restarts as it finishes.
write_slurm_conf() {
  local d=$1 name=$2 ctld=$3 ctld_port=$4 slurmd_port=$5 file spool
  read -r file spool <<<"$6"
  shift 6
  {
    cat <<EOF
ClusterName=$name
SlurmctldHost=$ctld
SlurmUser=$(id -un)
SlurmdUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock,cred_expire=5
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool$spool
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/$file.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/$file.log
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=5
EOF
    printf '%s\n' "$@"
  } >"$d/slurm.conf"
}

# start_munge_ctld D: a fresh munge key, munged on its own socket (waited for), slurmctld.
# SLURM_CONF must be exported already; the slurmd(s) are the caller's.
start_munge_ctld() {
  local d=$1
  head -c 1024 /dev/urandom >"$d/munge/munge.key"
  chmod 400 "$d/munge/munge.key"
  munged -F --force --socket="$d/munge/munge.sock" --key-file="$d/munge/munge.key" \
    --log-file="$d/log/munged.log" --pid-file="$d/munge/munged.pid" \
    --seed-file="$d/munge/munged.seed" >"$d/log/munged.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 40); do [ -S "$d/munge/munge.sock" ] && break; sleep 0.25; done
  [ -S "$d/munge/munge.sock" ] || fail "munged did not start (see $d/log/munged.log)"
  slurmctld -D -i >"$d/log/slurmctld.out" 2>&1 &
  pids+=($!)
}

# stop_slurm D: cancels every job of this user (when munged and SLURM_CONF are up) and waits
# up to 20 s for the queue to empty, then stops the daemons in pids, newest first (TERM, 5 s,
# KILL).
stop_slurm() {
  local d=$1 i pid
  if [ -S "$d/munge/munge.sock" ] && [ -n "${SLURM_CONF:-}" ]; then
    timeout 10 scancel --full --quiet --user="$(id -un)" 2>/dev/null
    local deadline=$((SECONDS + 20))
    while [ $SECONDS -lt $deadline ]; do
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    pid=${pids[i]}
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
}

# check_run RUN E R: RUN's metrics.jsonl (read with the caller's $py): every line a JSON
# object, epoch records 1..E in order, each once, and a last line that is the final record
# with E epochs and R ranks.
check_run() {
  "${py:?}" - "$1" "$2" "$3" <<'PY'
import json, sys
run, epochs, ranks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
recs = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
ep = [r["epoch"] for r in recs if "epoch" in r and not r.get("final")]
assert ep == list(range(1, epochs + 1)), f"{run}: epoch records {ep}, expected 1..{epochs}"
fin = recs[-1]
assert fin.get("final") is True, f"{run}: last record is not the final one: {fin}"
assert fin["epochs"] == epochs and fin["ranks"] == ranks and fin["device"] == "cpu", f"{run}: final {fin}"
assert 0 <= fin["test_acc"] <= 1 and fin["img_per_s"] > 0 and fin["wall_s"] > 0, f"{run}: final {fin}"
PY
}
