#!/usr/bin/env bash
# Data-parallel scaling on this machine with CPU ranks: throughput of 1 rank x 1 thread vs
# 2 ranks x 1 thread at the same per-rank batch (so the global batch doubles), with and
# without overlapping the all-reduce with backward; efficiency = T(2) / (2 T(1)). Also the
# time of one all-reduce of the whole gradient buffer at 2 and 4 ranks.
# usage: bench/scaling.sh [BUILD_DIR] [PER_RANK_BATCH] [SIZE] [STEPS]
set -euo pipefail
build=${1:-build} per_rank=${2:-32} size=${3:-28} steps=${4:-30}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
dist="$build/gnet_dist"
[ -x "$dist" ] || { echo "scaling.sh: $dist not found (build first)" >&2; exit 2; }
once() { # NP EXTRA... -> examples/sec of the steps (the summary line)
  local np=$1; shift
  mpirun -np "$np" "$dist" --synthetic $((per_rank * np * (steps + 1))) --batch-size $((per_rank * np)) \
    --resize "$size" --threads 1 --epochs 1 --max-steps "$steps" "$@" |
    sed -n 's/^trained .* (\([0-9.]*\) examples\/sec.*/\1/p'
}
rate() { # the median of 3 runs: single runs on a shared 2-core machine vary by a few %
  { once "$@"; once "$@"; once "$@"; } | sort -n | sed -n 2p
}
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n), $(nproc) cores; per-rank batch $per_rank, ${size}x${size}, $steps steps, 1 thread per rank"
t1=$(rate 1)
printf '| config | img/s | efficiency T(2)/(2 T(1)) |\n|---|---|---|\n| 1 rank | %s | - |\n' "$t1"
for mode in "" "--no-overlap" "--bucket-mb 1" "--bucket-mb 25"; do
  t2=$(rate 2 $mode)
  awk -v m="${mode:-overlap}" -v a="$t1" -v b="$t2" 'BEGIN { printf "| 2 ranks, %s | %s | %.3f |\n", m, b, b / (2 * a) }'
done
echo
echo "All-reduce of the 5,977,530-float gradient buffer (MPI, shared memory):"
for np in 2 4; do mpirun -np "$np" "$build/gnet_allreduce_bench" --iters 20; done
