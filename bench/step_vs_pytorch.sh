#!/usr/bin/env bash
# Times the training step (forward + loss + backward + SGD) of gnet and of the reference
# PyTorch model in the same invocation, same threads and batch, at 28x28 and 96x96, and
# prints img/s, peak RSS and the ratios. Each side runs in its own process.
# usage: bench/step_vs_pytorch.sh [BUILD_DIR] [THREADS] [BATCH]   (defaults: build, all cores, 64)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}
threads=${2:-$(nproc)}
batch=${3:-64}
python=${GNET_PYTHON:-/usr/bin/python3}
bench="$build/gnet_step_bench"
[ -x "$bench" ] || { echo "step_vs_pytorch.sh: $bench not found (build first: cmake --build $build)" >&2; exit 2; }

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(uname -n) $(nproc) cores, batch $batch, $threads threads"
printf '| size | steps | gnet img/s | torch img/s | speed ratio | gnet RSS MB | torch RSS MB | RSS ratio |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for size in 28 96; do
  if [ "$size" = 28 ]; then steps=20; else steps=6; fi
  g=$("$bench" --batch "$batch" --resize "$size" --threads "$threads" --steps "$steps" --warmup 2)
  t=$(OMP_NUM_THREADS=$threads "$python" "$here/torch_bench.py" --batch "$batch" --resize "$size" \
        --threads "$threads" --steps "$steps" --warmup 2)
  gi=$(echo "$g" | field img_per_s); ti=$(echo "$t" | field img_per_s)
  gr=$(echo "$g" | field peak_rss_mb); tr=$(echo "$t" | field peak_rss_mb)
  awk -v s="$size" -v n="$steps" -v gi="$gi" -v ti="$ti" -v gr="$gr" -v tr="$tr" \
    'BEGIN { printf "| %s | %s | %.1f | %.1f | %.2fx | %.0f | %.0f | %.2f |\n", s, n, gi, ti, gi/ti, gr, tr, gr/tr }'
done
