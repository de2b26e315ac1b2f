#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs the whole test suite with ctest.
# usage: scripts/run_tests.sh [--sanitize]   (--sanitize: AddressSanitizer + UBSan build)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
build=build
flags=()
if [ "${1:-}" = "--sanitize" ]; then
  build=build-asan
  # No CUDA here: its code cannot run without a GPU, and the normal build compiles it.
  flags=(-DGNET_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGNET_CUDA=OFF)
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  # Ranks that mpirun starts keep Open MPI's process-lifetime allocations (made inside the
  # MCA components it dlopens, built without frame pointers): only full unwinding finds the
  # libraries in their stacks that tests/lsan.supp names, and it costs ~1.5 s of CPU a
  # process, so mpirun gives it to its ranks alone (mca_base_env_list); a process started
  # without mpirun keeps the fast unwinder, with which it has nothing to suppress.
  export OMPI_MCA_mca_base_env_list="LSAN_OPTIONS=fast_unwind_on_malloc=0:$LSAN_OPTIONS"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # libhdf5's own overreads on damaged files, replayed by the fuzz corpora (tests/asan.supp);
  # a malloc of the terabytes a damaged file claims returns NULL, as in production.
  export ASAN_OPTIONS="suppressions=$PWD/tests/asan.supp:allocator_may_return_null=1"
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
# Under the sanitizers, the tests of the Python report scripts, of the tuner and of the Slurm
# wrappers are left out: they run gnet_dist only in ways other tests already run it; so are the longest
# trainings (train: 3 epochs on 2,000 images; vs_pytorch_96), whose code paths the shorter
# runs of fault, dist, cli and vs_pytorch_28 cover under the sanitizers, and the numeric
# comparisons with PyTorch of the noise scale, LARS, AdamW/LAMB and clipping (noise, lars,
# adam, clip), whose code runs under the sanitizers in resume_state (both on two ranks,
# resumed), test_optim and the ops tests; resume, resume_adam, outputs and config train as
# fault and resume_state do, only with other options; the cluster tests run the same
# gnet_dist over TCP. Why: CI's time budget (docs/reliability.md).
skip=()
[ "$build" = build-asan ] && skip=(-E '^(slurm|study|report|tune_logic|tune_e2e|tune_report|train|vs_pytorch_96|noise|lars|adam|resume_adam|clip|resume|outputs|config|cluster_mpi|cluster_slurm)$')
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "${skip[@]}"
