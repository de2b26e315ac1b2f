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
  flags=(-DGNET_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
