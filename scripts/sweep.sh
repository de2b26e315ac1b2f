#!/usr/bin/env bash
# Runs a grid of gnet_dist trainings, each into its own run directory under SWEEP_DIR:
# locally one after another, or as one Slurm job array (--slurm, scripts/slurm/sweep.sbatch).
#
# usage: scripts/sweep.sh [options] SWEEP_DIR [-- gnet_dist options...]
#   --batch LIST --lr LIST --epochs LIST   the grid is every combination of these
#                        comma-separated lists (run directories bsB_lrLR_eE)
#   --grid FILE          or a grid file: one run a line, "BATCH LR EPOCHS" or a config
#                        file (its run directory: the file's name without .ini); # comments
#   --np N               local: N ranks per run with mpirun (default: one process)
#   --slurm              submit the grid as one Slurm job array instead of running it
#   --parallel K         with --slurm: at most K runs at a time (--array=0-N%K)
#   --sbatch OPT         (repeatable) an option for sbatch, e.g. --sbatch --ntasks-per-node=2
#                        --sbatch --time=2:00:00 --sbatch --wait
#   --dry-run            print what would run, run nothing
# Options after "--" go to every run (the data, --resize, ...); each run's grid values come
# after them and win. The grid is kept as SWEEP_DIR/grid.txt; running the same sweep again
# skips finished runs and resumes stopped ones (those with a checkpoint), locally as on Slurm.
# Then: scripts/summarize.py SWEEP_DIR, scripts/plot_metrics.py -o PREFIX SWEEP_DIR.
# gnet_dist: $GNET_BIN, else build/gnet_dist in this checkout.
# Exit status: 0 all runs finished (or were submitted); 1 a run failed or bad input; 3 a run
# was stopped by a signal (rerun to resume it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
GNET_JOB_PROG=sweep.sh
source "$root/scripts/slurm/gnet_job.sh"
die() { gnet_job_die "$@"; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

batches= lrs= epochs= grid= np=1 slurm=0 dry=0 sweep= parallel=
sbatch_opts=()
need() { [ $# -ge 2 ] || die "$1: needs a value"; }
while [ $# -gt 0 ]; do
  case $1 in
    --batch) need "$@"; batches=$2; shift 2 ;;
    --lr) need "$@"; lrs=$2; shift 2 ;;
    --epochs) need "$@"; epochs=$2; shift 2 ;;
    --grid) need "$@"; grid=$2; shift 2 ;;
    --np) need "$@"; np=$2; shift 2 ;;
    --slurm) slurm=1; shift ;;
    --parallel) need "$@"; parallel=$2; shift 2 ;;
    --sbatch) need "$@"; sbatch_opts+=("$2"); shift 2 ;;
    --dry-run) dry=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "$1: unknown option (see --help)" ;;
    *) [ -z "$sweep" ] || die "$1: one SWEEP_DIR only (gnet_dist options go after --)"; sweep=$1; shift ;;
  esac
done
extra=("$@")
[ -n "$sweep" ] || die "no SWEEP_DIR given (see --help)"
[[ $np =~ ^[1-9][0-9]*$ ]] || die "--np: '$np' is not a positive integer"
[ -z "$parallel" ] || [[ $parallel =~ ^[1-9][0-9]*$ ]] || die "--parallel: '$parallel' is not a positive integer"
[ -z "$parallel" ] || [ $slurm -eq 1 ] || die "--parallel: only with --slurm (locally the runs go one after another)"

# The grid, as the text of grid.txt.
if [ -n "$grid" ]; then
  [ -z "$batches$lrs$epochs" ] || die "--grid and --batch/--lr/--epochs exclude each other"
  [ -f "$grid" ] || die "--grid: $grid: no such file"
  text=$(cat "$grid")
else
  [ -n "$batches" ] && [ -n "$lrs" ] && [ -n "$epochs" ] || die "give --grid FILE, or all of --batch, --lr and --epochs"
  text="# scripts/sweep.sh --batch $batches --lr $lrs --epochs $epochs"
  IFS=, read -ra bl <<<"$batches"
  IFS=, read -ra ll <<<"$lrs"
  IFS=, read -ra el <<<"$epochs"
  for b in "${bl[@]}"; do for l in "${ll[@]}"; do for e in "${el[@]}"; do
    text+=$'\n'"$b $l $e"
  done; done; done
fi

# Check every entry (a typo fails here, not in array task 17) and list the run names.
entries=()
names=()
while IFS=$'\t' read -r lineno entry; do
  gnet_grid_entry "$entry" "${grid:-grid}:$lineno"
  for n in "${names[@]}"; do [ "$n" != "$GNET_GRID_NAME" ] || die "${grid:-grid}:$lineno: run $n appears twice"; done
  entries+=("$entry")
  names+=("$GNET_GRID_NAME")
done < <(printf '%s\n' "$text" | gnet_grid_lines)
[ ${#entries[@]} -gt 0 ] || die "${grid:-the grid}: no runs in it"

# SWEEP_DIR/grid.txt: the array tasks read their entry from it, so an existing sweep may
# only be run again with the same grid.
if [ $dry -eq 0 ]; then
  mkdir -p "$sweep"
  if [ -e "$sweep/grid.txt" ]; then
    printf '%s\n' "$text" | cmp -s - "$sweep/grid.txt" ||
      die "$sweep/grid.txt: this sweep directory holds another grid (use a new SWEEP_DIR)"
  else
    printf '%s\n' "$text" >"$sweep/grid.txt.tmp.$$"
    mv "$sweep/grid.txt.tmp.$$" "$sweep/grid.txt"
  fi
fi

if [ $slurm -eq 1 ]; then
  cmd=(sbatch --array=0-$((${#entries[@]} - 1))${parallel:+%$parallel} "${sbatch_opts[@]}" "$root/scripts/slurm/sweep.sbatch"
       "$sweep/grid.txt" "$sweep" "${extra[@]}")
  echo "sweep.sh: ${#entries[@]} runs as a job array: ${names[*]}"
  if [ $dry -eq 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
    exit 0
  fi
  # The batch script sources gnet_job.sh from GNET_ROOT (the job inherits this environment).
  GNET_ROOT=$root exec "${cmd[@]}"
fi

[ ${#sbatch_opts[@]} -eq 0 ] || die "--sbatch: only with --slurm"
bin=$(gnet_job_bin "$root")
launch=()
[ "$np" -eq 1 ] || launch=(mpirun -np "$np")
failed=()
for i in "${!entries[@]}"; do
  gnet_grid_entry "${entries[i]}" "grid"
  run=$sweep/$GNET_GRID_NAME
  if gnet_job_finished "$run" "$(gnet_job_max_steps "${extra[@]}")"; then
    echo "sweep.sh: $run: finished already"
    continue
  fi
  echo "sweep.sh: run $((i + 1))/${#entries[@]}: $run"
  gnet_job_out_args "$run"
  gnet_job_args "${extra[@]}" "${GNET_GRID_ARGS[@]}"
  cmd=("${launch[@]}" "$bin" "${GNET_JOB_ARGS[@]}" "${GNET_JOB_OUT_ARGS[@]}")
  if [ $dry -eq 1 ]; then
    printf '%q ' "${cmd[@]}"
    echo
    continue
  fi
  rc=0
  "${cmd[@]}" || rc=$?
  case $rc in
    0) ;;
    3)
      echo "sweep.sh: $run stopped with a checkpoint; run the same command again to resume the sweep" >&2
      exit 3
      ;;
    *)
      echo "sweep.sh: error: $run: gnet_dist exited with code $rc; going on with the next run" >&2
      failed+=("$run")
      ;;
  esac
done
[ ${#failed[@]} -eq 0 ] || die "${#failed[@]} run(s) failed: ${failed[*]}"
[ $dry -eq 1 ] || echo "sweep.sh: done; scripts/summarize.py $sweep"
