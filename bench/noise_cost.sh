#!/usr/bin/env bash
# What --noise-scale costs: gnet_dist's training step with and without it, same invocation,
# same machine, on synthetic data (the measurement does not depend on the data). Runs
# alternate (off, on, off, on, ...) so that drifts in machine load hit both sides; each
# run's training rate comes from its final record (metrics.jsonl's img_per_s: start-up,
# evaluation and checkpoints excluded). Prints one table row per configuration: the median step time of each
# side and the overhead of measuring.
# usage: bench/noise_cost.sh [BUILD_DIR] [REPEATS]        (defaults: build, 3)
#   env NP (ranks, default 2), THREADS (per rank, default 1), STEPS (default 20),
#   CONFIGS (default "64:1 256:1 1024:1 256:2": global batch:accum-steps)
set -euo pipefail
build=${1:-build}
repeats=${2:-3}
np=${NP:-2}
threads=${THREADS:-1}
steps=${STEPS:-20}
configs=${CONFIGS:-"64:1 256:1 1024:1 256:2"}
bin=$build/gnet_dist
[ -x "$bin" ] || { echo "noise_cost.sh: $bin not found (build first: cmake --build $build)" >&2; exit 2; }
launch=()
[ "$np" -eq 1 ] || launch=(mpirun -np "$np")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Seconds per step of one run: BATCH ACCUM [extra options...]
step_s() {
  local batch=$1 accum=$2 out
  shift 2
  rm -rf "$tmp/run"
  out=$("${launch[@]}" "$bin" --synthetic $((batch * steps)) --batch-size "$batch" --accum-steps "$accum" \
          --max-steps "$steps" --threads "$threads" --no-progress --out "$tmp/run" "$@" 2>&1) ||
    { echo "noise_cost.sh: gnet_dist failed:" >&2; echo "$out" >&2; exit 1; }
  sed -n 's/^{"final": true.*"img_per_s": \([0-9.]*\).*/\1/p' "$tmp/run/metrics.jsonl" |
    awk -v B="$batch" '{ printf "%.6f\n", B / $1 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $(nproc) cores, $np ranks x $threads threads, $steps steps, $repeats repeats"
printf '| global batch | accum | step ms off | step ms on | overhead |\n|---|---|---|---|---|\n'
for c in $configs; do
  batch=${c%%:*} accum=${c##*:}
  off=() on=()
  for _ in $(seq "$repeats"); do
    off+=("$(step_s "$batch" "$accum")")
    on+=("$(step_s "$batch" "$accum" --noise-scale)")
  done
  a=$(printf '%s\n' "${off[@]}" | median)
  b=$(printf '%s\n' "${on[@]}" | median)
  awk -v B="$batch" -v K="$accum" -v a="$a" -v b="$b" \
    'BEGIN { printf "| %d | %d | %.1f | %.1f | %+.1f%% |\n", B, K, a * 1e3, b * 1e3, (b / a - 1) * 100 }'
done
