#!/usr/bin/env bash
# ThreadSanitizer over the code that runs threads (docs/reliability.md): test_loader (the
# prefetch thread, in memory and over HDF5 shards) and a 2-rank mpirun training on prepared
# shards (prefetch thread + MPI communication thread, all-reduce overlapped with backward).
# Builds build-tsan/ (GNET_TSAN=ON, CPU only). OpenMP (libgomp) is not built with TSan, so
# everything runs with one OpenMP thread; tests/tsan.supp holds the few suppressions for
# uninstrumented libraries (never gnet code). Any report fails the script.
# usage: scripts/tsan_tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build-tsan -DGNET_TSAN=ON -DGNET_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-tsan -j "$(nproc)" --target test_loader gnet_dist gnet_prepare >/dev/null
export OMP_NUM_THREADS=1
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=0:exitcode=66:second_deadlock_stack=1"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
run() { # NAME COMMAND...: fails on a non-zero exit (66: TSan reported) or any report
  local name=$1; shift
  local start=$SECONDS
  if "$@" >"$tmp/$name.log" 2>&1 && ! grep -q "WARNING: ThreadSanitizer" "$tmp/$name.log"; then
    echo "ok: $name ($((SECONDS - start)) s)"
  else
    echo "FAIL: $name"; grep -A40 "WARNING: ThreadSanitizer" "$tmp/$name.log" || tail -20 "$tmp/$name.log"
    fail=1
  fi
}
run test_loader build-tsan/tests/test_loader
run prepare build-tsan/gnet_prepare --src /usr/share/datasets/fashion-mnist --out "$tmp/data" --shards 2
run dist_np2 timeout 600 mpirun -np 2 build-tsan/gnet_dist --data "$tmp/data" --batch-size 32 \
  --threads 1 --epochs 1 --max-steps 6 --bucket-mb 1 --no-progress
exit $fail
