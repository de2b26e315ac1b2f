# Shared by the batch scripts in this directory and by scripts/sweep.sh; sourced, not run.
# Slurm copies a batch script into its spool directory before running it, so the batch
# scripts find this file through $GNET_ROOT (default: the directory sbatch was run in, which
# is then expected to be the gnet checkout).

# Errors name the script that sourced this file (GNET_JOB_PROG).
gnet_job_die() {
  echo "${GNET_JOB_PROG:-gnet job}: error: $*" >&2
  exit 1
}

# The gnet_dist to run: $GNET_BIN, else build/gnet_dist under $1 (a checkout).
gnet_job_bin() {
  local bin=${GNET_BIN:-$1/build/gnet_dist}
  [ -x "$bin" ] || gnet_job_die "gnet_dist not found or not executable: $bin (build it, or set GNET_BIN)"
  echo "$bin"
}

# True when RUN_DIR's metrics.jsonl holds the record gnet_dist writes at the end of a run.
# With MAX_STEPS ($2, a --max-steps the run is given now): only when that record is of a run
# that got at least that far, or that ended by itself (target reached, diverged). A run
# stopped by a smaller --max-steps (a tuner's earlier rung) is not finished: it resumes.
gnet_job_finished() {
  local final
  [ -f "$1/metrics.jsonl" ] || return 1
  final=$(grep '"final": *true' "$1/metrics.jsonl" | tail -n 1)
  [ -n "$final" ] || return 1
  [ -n "${2:-}" ] || return 0
  [[ $final == *'"target_reached": true'* || $final == *'"diverged": true'* ]] && return 0
  [[ $final =~ \"steps\":\ *([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge "$2" ]
}

# The value of the last --max-steps N (or --max-steps=N) in ARGS, or nothing.
gnet_job_max_steps() {
  local m=
  while [ $# -gt 0 ]; do
    case $1 in
      --max-steps) [ $# -ge 2 ] && m=$2 && shift ;;
      --max-steps=*) m=${1#--max-steps=} ;;
    esac
    shift
  done
  echo "$m"
}

# The options that continue RUN_DIR: --out RUN_DIR, and --resume RUN_DIR when an earlier
# attempt (preempted, timed out, stopped by a signal) left a checkpoint there. Sets the
# array GNET_JOB_OUT_ARGS and says on stdout what it chose, so that the job's log shows it.
gnet_job_out_args() {
  local run_dir=$1
  GNET_JOB_OUT_ARGS=(--out "$run_dir")
  if [ -e "$run_dir/checkpoint.h5" ]; then
    GNET_JOB_OUT_ARGS+=(--resume "$run_dir")
    echo "${GNET_JOB_PROG:-gnet job}: resuming $run_dir from $run_dir/checkpoint.h5"
  else
    echo "${GNET_JOB_PROG:-gnet job}: starting $run_dir"
  fi
}

# ARGS without --init FILE (or --init=FILE) when gnet_job_out_args chose --resume: a requeued
# or re-run job continues its checkpoint, and gnet_dist refuses --init with --resume (the
# starting point belongs to the first attempt only). Sets the array GNET_JOB_ARGS.
gnet_job_args() {
  GNET_JOB_ARGS=()
  local resuming=0 a
  [[ " ${GNET_JOB_OUT_ARGS[*]} " == *" --resume "* ]] && resuming=1
  while [ $# -gt 0 ]; do
    a=$1; shift
    if [ $resuming = 1 ] && [ "$a" = --init ] && [ $# -gt 0 ]; then shift; continue; fi
    if [ $resuming = 1 ] && [[ $a == --init=* ]]; then continue; fi
    GNET_JOB_ARGS+=("$a")
  done
}

# One grid entry (a line of a grid file, see scripts/sweep.sh): sets GNET_GRID_NAME (the
# run directory's name) and the array GNET_GRID_ARGS (gnet_dist options). $2 names the line
# in errors (FILE:LINE).
gnet_grid_entry() {
  local line=$1 where=$2 b lr e rest
  read -r b lr e rest <<<"$line"
  if [ -z "$lr" ] && [[ $b == *.ini ]]; then
    [ -f "$b" ] || gnet_job_die "$where: config file not found: $b"
    GNET_GRID_NAME=$(basename "$b" .ini)
    GNET_GRID_ARGS=(--config "$b")
  elif [[ $b =~ ^[0-9]+$ && $lr =~ ^[0-9.eE+-]+$ && $e =~ ^[0-9]+$ && -z $rest ]]; then
    GNET_GRID_NAME=bs${b}_lr${lr}_e${e}
    GNET_GRID_ARGS=(--batch-size "$b" --lr "$lr" --epochs "$e")
  else
    gnet_job_die "$where: expected 'BATCH LR EPOCHS' or a config file (.ini), got '$line'"
  fi
}

# The entries of a grid file on stdin, one a line, without comments (#) and blank lines,
# each printed as LINENO<TAB>ENTRY so that errors can name the file's line.
gnet_grid_lines() {
  awk '{ sub(/#.*/, ""); gsub(/^[ \t]+|[ \t]+$/, "") } $0 != "" { print NR "\t" $0 }'
}

# gnet_job_run RUN_DIR [gnet_dist options...]: inside a Slurm batch job, runs gnet_dist on
# every task of the allocation into RUN_DIR (continuing it if an earlier attempt left a
# checkpoint), and requeues the job when gnet_dist stopped on a signal (exit code 3).
gnet_job_run() {
  local run_dir=$1
  shift
  [ -n "${SLURM_JOB_ID:-}" ] || gnet_job_die "not inside a Slurm job: submit the script with sbatch"
  local bin
  bin=$(gnet_job_bin "${GNET_ROOT:-$SLURM_SUBMIT_DIR}")
  local max_steps
  max_steps=$(gnet_job_max_steps "$@")
  if gnet_job_finished "$run_dir" "$max_steps"; then
    echo "${GNET_JOB_PROG:-gnet job}: $run_dir is already finished (its metrics.jsonl has the final record${max_steps:+ for --max-steps $max_steps})"
    return 0
  fi
  # Slurm gives each task --cpus-per-task cores (1 when not asked for). gnet_dist's own
  # default, all cores of the node split by its ranks there, would oversubscribe a shared
  # node. srun (22.05 and later) no longer takes --cpus-per-task from the batch
  # allocation, so it is passed on explicitly. --threads comes first: the caller's own
  # --threads, later on the line, wins.
  # gnet_dist --out creates RUN_DIR but not its parents.
  mkdir -p "$(dirname "$run_dir")"
  local threads=${SLURM_CPUS_PER_TASK:-1}
  export OMP_NUM_THREADS=$threads
  gnet_job_out_args "$run_dir"
  gnet_job_args "$@"
  echo "${GNET_JOB_PROG:-gnet job}: job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NUM_NODES:-1} node(s), ${SLURM_NTASKS:-1} rank(s) x $threads thread(s): $bin"
  # No --kill-on-bad-exit: ranks that stop on a signal exit 3 at slightly different times,
  # and killing the slower ones could cut rank 0 off while it writes the checkpoint; a rank
  # that fails makes gnet_dist abort the whole job by itself.
  local rc=0
  srun --mpi=pmix --cpus-per-task="$threads" "$bin" --threads "$threads" "${GNET_JOB_ARGS[@]}" --no-progress \
    "${GNET_JOB_OUT_ARGS[@]}" || rc=$?
  case $rc in
    0)
      # srun can also return 0 for a step cancelled while it launched: trust the record.
      gnet_job_finished "$run_dir" "$max_steps" ||
        gnet_job_die "srun returned 0 but $run_dir/metrics.jsonl has no final record (step cancelled?)"
      echo "${GNET_JOB_PROG:-gnet job}: $run_dir finished"
      ;;
    3)
      # Stopped by --signal (or scancel --signal) with a checkpoint: go back to the queue;
      # the next start resumes from it. Requeueing cancels this script, so nothing after
      # the requeue runs unless it failed (e.g. the job was submitted with --no-requeue).
      echo "${GNET_JOB_PROG:-gnet job}: stopped with a checkpoint in $run_dir; requeueing job ${SLURM_JOB_ID}"
      scontrol requeue "$SLURM_JOB_ID" || echo "${GNET_JOB_PROG:-gnet job}: error: scontrol requeue failed; resubmit to continue $run_dir" >&2
      exit 3
      ;;
    *) gnet_job_die "gnet_dist exited with code $rc (see the lines above and $run_dir/log.txt)" ;;
  esac
}
