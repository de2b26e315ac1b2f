#!/usr/bin/env bash
# Builds the libFuzzer harnesses (build-fuzz/, clang, GNET_FUZZ=ON) and runs each one in turn
# on a working copy of its committed corpus, for as long as docs/reliability.md says:
#   tests/fuzz/run_fuzzers.sh [SECONDS [RUNS [HARNESS...]]]   (default 600 s, 1000000 runs, all)
# A finding stops that harness with the input saved as build-fuzz/findings/<harness>/crash-*
# (or leak-*, oom-*); add it to tests/fuzz/corpus/<harness>/ as crash-<what> once fixed or
# suppressed. FUZZ_FORK=N keeps going after findings instead (libFuzzer's -fork=N, N jobs at a
# time, with -ignore_crashes), for harnesses whose findings are libhdf5's own; triage every
# artifact after.
# Logs: build-fuzz/findings/<harness>.log (the last lines have the executions, cov: and ft:).
# FUZZ_NICE (default 15): the fuzzers' niceness; lower it to share the cores equally with a
# training run that is itself niced.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-600}
runs=${2:-1000000}
shift $(( $# > 2 ? 2 : $# ))
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(idx manifest shard ckpt cli)
CC=clang cmake -S . -B build-fuzz -DGNET_FUZZ=ON -DGNET_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j 2 --target "${harnesses[@]/#/fuzz_}" >/dev/null
# HDF5's own leaks on malformed files are suppressed narrowly there (docs/reliability.md).
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan_fuzz.supp:print_suppressions=0"
# allocator_may_return_null: libhdf5 mallocs whatever size a damaged file claims (terabytes)
# and handles the NULL, as it gets it in production; gnet checks every allocation too.
export ASAN_OPTIONS="suppressions=$PWD/tests/asan.supp:allocator_may_return_null=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fork=()
[ "${FUZZ_FORK:-0}" != 0 ] && fork=(-fork="$FUZZ_FORK" -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
status=0
for h in "${harnesses[@]}"; do
  out=build-fuzz/findings/$h
  work=build-fuzz/corpus/$h
  mkdir -p "$out" "$work"
  cp -n tests/fuzz/corpus/"$h"/* "$work"/
  echo "fuzz_$h: up to $secs s / $runs runs"
  start=$(date +%s)
  # -close_fd_mask=3: the parsers' error lines are the expected output, not news.
  if ! nice -n "${FUZZ_NICE:-15}" build-fuzz/tests/fuzz/fuzz_"$h" -max_total_time="$secs" -runs="$runs" \
       -rss_limit_mb=2048 -timeout=10 -close_fd_mask=3 -print_final_stats=1 \
       -artifact_prefix="$out/" "${fork[@]}" "$work" >"$out.log" 2>&1; then
    status=1
    echo "fuzz_$h: FINDING, see $out.log and $out/"
  fi
  echo "fuzz_$h: $(( $(date +%s) - start )) s; $(grep -E '^#[0-9]+' "$out.log" | tail -1)"
  ls "$out" | sed 's/^/  artifact: /'
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$out.log" || true
done
exit $status
