#!/usr/bin/env bash
# The GPU check of the CUDA backend, in two halves (docs/performance.md, section "GPU"):
#
#   scripts/gpu_check.sh --bundle    here (Debian 12, CUDA toolkit, no GPU): Release CUDA build
#                                    in build-gpu/, then .gpu_bundle/gnet-gpu.tar.xz with the
#                                    binaries, the non-CUDA shared libraries they load (ldd) and
#                                    the Fashion-MNIST IDX files
#   scripts/gpu_check.sh --run [S]   there (one H100/H200, no MPI/HDF5/oneDNN packages, no
#                                    network), S the device call's timeout_s (default 560): unpack,
#                                    find cuDNN/cuBLAS/NCCL (PyTorch's nvidia-* pip packages), then,
#                                    the likeliest to fail first, each piece with its own time cap:
#                                      0. what ran: the machine, the bundle's source commit, the
#                                         libraries each binary loads there, gnet_dist --version
#                                      1. test_cuda_ops: every op and the whole model, CUDA vs CPU
#                                      2. gnet_dist --device cuda --comm nccl, one process, 30 steps
#                                      3. gnet_gpu_ops_bench fp32: every op of the step on GoogLeNet's
#                                         96x96 shapes at batch 64, error vs the CPU and GPU time
#                                         (a Markdown table), with the cuDNN plan lines
#                                      4. training-step benchmark, gnet vs PyTorch, batch 1024/256/64
#                                         (the one that matters most first) at 96x96, fp32 / tf32 /
#                                         bf16, both cuDNN algorithm preferences, median of 3 samples
#                                      5. gnet_gpu_ops_bench bf16
#                                      6. one epoch on the real data at 96x96
#                                    then a summary (each piece's exit status and time), always
#                                    last: every cap keeps the kill grace and the summary's time
#   scripts/gpu_check.sh --dry-run   here: --bundle, unpack into a temp dir, check that every
#                                    binary resolves its libraries from the bundle + the CUDA
#                                    toolkit, run what runs without a GPU (test_cuda_ops and the
#                                    two GPU benchmarks must skip with 77, the per-op harness with a
#                                    CPU in the GPU's place, the PyTorch benchmark on the CPU with
#                                    a tiny batch, the CPU fallback of gnet_dist), the cuDNN plan
#                                    lines of the shared pure code (test_cudnn_pick), then --run
#                                    itself with a short budget (every GPU piece fails here): at
#                                    most 8 files under $OUT, the summary last
#
# The GPU session runs (device tool): command "scripts/gpu_check.sh --run 560", carry
# [".gpu_bundle"], timeout_s 560 (the same number: the script fits itself in it). Output goes to
# stdout and, when $OUT is set, under $OUT (4 files; the device tool returns at most 8):
# gpu_check.log (all of it), logs.tar (one NAME.log per piece and bench.log, appended as each
# piece ends), bench.md (the table) and bench.jsonl (every benchmark's JSON line).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle_dir="$root/.gpu_bundle"
tarball="$bundle_dir/gnet-gpu.tar.xz"
build="$root/build-gpu"
data_src=${GNET_FMNIST:-/usr/share/datasets/fashion-mnist}
bins=(gnet_dist libgnet_cuda.so tests/test_cuda_ops gnet_gpu_step_bench gnet_gpu_ops_bench)
# Loaded from the target system, never bundled: glibc's own libraries, and the CUDA libraries
# (the driver's libcuda, and the toolkit's / PyTorch's runtime, cuBLAS, cuDNN, NCCL).
system_libs='^(linux-vdso|ld-linux|libc|libm|libpthread|libdl|librt|libresolv|libutil)\.so'
cuda_libs='^(libcuda|libcudart|libcublas|libcublasLt|libcudnn[a-z_]*|libnccl)\.so'
# Bundled apart, used there only when the system has none (its own is then at least as new
# as what its other libraries need).
cxx_libs='^(libstdc\+\+|libgcc_s)\.so'

say() { printf '%s\n' "$*"; }
die() { printf 'gpu_check.sh: %s\n' "$*" >&2; exit 1; }

# ---------- --bundle (here) ----------

build_gpu() {
  say "== Release CUDA build in $build"
  # Explicit OFFs: a cached sanitizer setting in build-gpu must not reach the bundle.
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGNET_CUDA=ON -DGNET_SANITIZE=OFF \
    -DGNET_FUZZ=OFF -DGNET_TSAN=OFF >/dev/null ||
    die "cmake failed (is the CUDA toolkit at /usr/local/cuda?)"
  cmake --build "$build" -j "${GNET_JOBS:-2}" --target gnet_dist test_cuda_ops gnet_gpu_step_bench gnet_gpu_ops_bench test_cudnn_pick \
    >"$build/gpu_check_build.log" 2>&1 || { tail -30 "$build/gpu_check_build.log"; die "build failed"; }
}

# The shared libraries a binary loads, as "name path" lines (ldd's resolution here).
deps() { ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }'; }

stage_libs() {
  local stage=$1 name path
  mkdir -p "$stage/lib/cxx"
  for b in "${bins[@]}"; do deps "$build/$b"; done | sort -u | while read -r name path; do
    if [[ $name =~ $system_libs || $name =~ $cuda_libs ]]; then continue; fi
    if [[ $name =~ $cxx_libs ]]; then cp -L "$path" "$stage/lib/cxx/$name"; else cp -L "$path" "$stage/lib/$name"; fi
  done
}

make_bundle() {
  build_gpu
  local stage
  stage=$(mktemp -d)
  mkdir -p "$stage/gnet-gpu/bin" "$stage/gnet-gpu/data"
  for b in "${bins[@]}"; do cp "$build/$b" "$stage/gnet-gpu/bin/"; done
  stage_libs "$stage/gnet-gpu"
  cp "$data_src"/*-ubyte.gz "$stage/gnet-gpu/data/" 2>/dev/null || die "no Fashion-MNIST IDX files in $data_src"
  (cd "$root" && git rev-parse HEAD 2>/dev/null; git -C "$root" status --short -- src bench tests scripts) \
    >"$stage/gnet-gpu/SOURCE"
  mkdir -p "$bundle_dir"
  say "== packing $tarball"
  if ! tar -C "$stage" -cf - gnet-gpu | xz -T2 -6 >"$tarball.tmp"; then die "packing failed"; fi
  mv "$tarball.tmp" "$tarball"
  rm -rf "$stage"
  say "bundle: $(du -h "$tarball" | cut -f1) ($(tar -tJf "$tarball" | grep -c '/lib/') libraries)"
}

# ---------- --run (there) and the dry run (here) ----------

unpack() {
  [ -f "$tarball" ] || die "$tarball not found: run scripts/gpu_check.sh --bundle here first, and carry .gpu_bundle"
  work=$(mktemp -d)
  tar -C "$work" -xJf "$tarball" || die "cannot unpack $tarball"
  g="$work/gnet-gpu"
}

# Folders holding the CUDA libraries: PyTorch's nvidia-* pip packages, the toolkit, the driver.
cuda_lib_path() {
  local roots lib f
  roots=$("$python" -c 'import nvidia, sys; print("\n".join(nvidia.__path__))' 2>/dev/null)
  for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcudnn.so.9 libnccl.so.2; do
    # shellcheck disable=SC2086
    f=$(find $roots /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets -name "$lib" \
          2>/dev/null | head -1)
    if [ -n "$f" ]; then dirname "$f"; else say "warning: $lib not found" >&2; fi
  done | awk '!seen[$0]++' | paste -sd: -
}

# The library path of the bundle's binaries, as a command prefix: genv=(env LD_LIBRARY_PATH=...).
# Only gnet's commands get it: exported for the whole script, it would make the PyTorch
# baseline load the bundle's Debian libgomp, libz and libcrypto ahead of its own.
set_library_path() {
  local path="$g/lib"
  # (grep without -q reads all of ldconfig's output: no SIGPIPE to fail the pipefail pipeline)
  if ! ldconfig -p 2>/dev/null | grep 'libstdc++\.so\.6 ' >/dev/null; then path="$path:$g/lib/cxx"; fi
  path="$path:$(cuda_lib_path)"
  [ -d /usr/local/nvidia/lib64 ] && path="$path:/usr/local/nvidia/lib64"
  genv=(env "LD_LIBRARY_PATH=$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  say "gnet's ${genv[1]}"
}

# Every library of every binary is found: in the bundle, the CUDA folders, the system's glibc,
# or (libstdc++, libgcc_s) the system's own when set_library_path left the bundled ones out.
check_libs() {
  local b bad=0
  for b in "$g"/bin/*; do
    if "${genv[@]}" ldd "$b" | grep -E 'not found|version .* not found'; then
      say "FAIL: $(basename "$b") has unresolved libraries"; bad=1
    fi
    "${genv[@]}" ldd "$b" | awk '$2 == "=>" { print $1, $3 }' | while read -r name path; do
      if [[ $name =~ $system_libs || $name =~ $cuda_libs || $name =~ $cxx_libs || $path == "$g"/* ]]; then
        continue
      fi
      say "FAIL: $(basename "$b"): $name comes from $path, outside the bundle"
    done | grep . && bad=1
  done
  [ $bad = 0 ] && say "libraries: every binary resolves from the bundle + CUDA + glibc"
  return $bad
}

step() { say; say "## $*"; }

# timeout -k's grace: SIGKILL this long after a SIGTERM that is not obeyed.
kill_grace=10

# Seconds a command may take: at most $1, and never past the deadline minus $2 seconds kept
# for later pieces minus the kill grace (a command may outlive its cap by that much).
cap() {
  local left=$((deadline - SECONDS - ${2:-0} - kill_grace))
  [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"
}

# Whether $1 seconds are left before the deadline once $2 are kept for later pieces.
time_for() { [ $((deadline - SECONDS - ${2:-0} - kill_grace)) -ge "$1" ]; }

# timeout SECONDS CMD..., then SIGKILL 10 s after the SIGTERM: gnet_dist turns SIGTERM into
# a stop flag it only reads between steps, so a hang before them (NCCL init, a stream
# synchronise) would otherwise outlive its limit and the call.
timeout_k() { timeout -k "$kill_grace" "$@"; }

# Adds $logs/NAME to $res/logs.tar at once (one file for every log: the device tool returns
# at most 8; appended per piece, so a cut call keeps the logs of the pieces that ended).
keep_log() { tar -C "$logs" -rf "$res/logs.tar" "$1"; }

# piece NAME MAX RESERVE CMD...: CMD capped at MAX seconds (less when the deadline minus
# RESERVE is nearer), line-buffered (stdbuf -oL: a kill keeps what it printed), its output on
# stdout and in logs.tar's NAME.log; the exit status and time go to the summary. Skipped when
# fewer than 20 seconds are left for it.
piece() {
  local name=$1 max=$2 reserve=$3 t0=$SECONDS limit rc; shift 3
  if ! time_for 20 "$reserve"; then
    say "$name: skipped (no time left)"; summary+=("$name: skipped (no time left)"); return
  fi
  limit=$(cap "$max" "$reserve")
  timeout_k "$limit" stdbuf -oL -eL "$@" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  keep_log "$name.log"
  local what="exit $rc"
  [[ $rc == 124 || $rc == 137 ]] && what="TIMED OUT (exit $rc)"
  say "$name: $what after $((SECONDS - t0)) s (cap $limit s)"
  summary+=("$name: $what, $((SECONDS - t0)) s of its $limit s cap")
}

# ---------- the step benchmark (piece 4) ----------

# Samples per measurement (the table shows their median), and timed steps per sample by batch:
# a sample lasts about the same at every batch size.
bench_samples=3
steps_for() { case $1 in 64) echo 20 ;; 256) echo 10 ;; *) echo 5 ;; esac; }

# "median (spread)" of one JSON line: img_per_s (the median of the samples) and the spread of
# samples_img_per_s, (max - min) / median.
cell() {
  local med samples
  med=$(sed -n 's/.*"img_per_s": *\([0-9.]*\).*/\1/p' <<<"$1")
  samples=$(sed -n 's/.*"samples_img_per_s": *\[\([^]]*\)\].*/\1/p' <<<"$1")
  [ -n "$med" ] || { echo "error"; return; }
  awk -v m="$med" -v s="$samples" 'BEGIN {
    n = split(s, v, / *, */); lo = hi = v[1] + 0
    for (i = 2; i <= n; i++) { if (v[i] + 0 < lo) lo = v[i] + 0; if (v[i] + 0 > hi) hi = v[i] + 0 }
    printf "%.0f (%.1f%%)", m, (n > 1 && m > 0) ? 100 * (hi - lo) / m : 0 }'
}

# Records one result: cells[KEY] for the table, meds[KEY] for the ratios, the line in bench.jsonl.
record() {
  local key=$1 line=$2
  if [ -z "$line" ]; then cells[$key]="error"; return; fi
  printf '%s\n' "$line" >>"$res/bench.jsonl"
  cells[$key]=$(cell "$line")
  meds[$key]=$(sed -n 's/.*"img_per_s": *\([0-9.]*\).*/\1/p' <<<"$line")
}

# gnet at one batch and precision, algorithm preference $3 (GNET_CUDNN_DETERMINISTIC).
bench_gnet() {
  local batch=$1 prec=$2 det=$3 key="gnet|$2|$3|$1" out
  if ! time_for 20 "$bench_reserve"; then cells[$key]="no time"; return; fi
  out=$(timeout_k "$(cap 60 "$bench_reserve")" stdbuf -oL "${genv[@]}" "GNET_CUDNN_DETERMINISTIC=$det" \
        "$g/bin/gnet_gpu_step_bench" --batch "$batch" --resize 96 --precision "$prec" \
        --steps "$(steps_for "$batch")" --warmup 3 --samples "$bench_samples" 2>&1)
  printf '%s\n' "$out" >>"$logs/bench.log"
  record "$key" "$(grep '"impl":"gnet"' <<<"$out")"
  [ "${cells[$key]}" = error ] && say "gnet batch $batch $prec deterministic=$det: $out" >&2
}

# PyTorch at one batch and precision, cudnn.deterministic False then True in one process.
bench_torch() {
  local batch=$1 prec=$2 out det
  if ! time_for 30 "$bench_reserve"; then cells["torch|$prec|0|$batch"]="no time"; cells["torch|$prec|1|$batch"]="no time"; return; fi
  out=$(timeout_k "$(cap 150 "$bench_reserve")" "$python" -u "$root/bench/torch_bench.py" --device cuda \
        --precision "$prec" --batch "$batch" --resize 96 --steps "$(steps_for "$batch")" --warmup 3 \
        --samples "$bench_samples" --cudnn-deterministic both 2>&1)
  printf '%s\n' "$out" >>"$logs/bench.log"
  for det in 0 1; do
    local want=false; [ $det = 1 ] && want=true
    record "torch|$prec|$det|$batch" "$(grep "\"cudnn_deterministic\": $want" <<<"$out")"
  done
  [ "${cells["torch|$prec|0|$batch"]}" = error ] && say "torch batch $batch $prec: $out" >&2
}

# What each row measures (docs/performance.md, "GPU"): implementation, math, storage.
label() {
  case $1 in
    gnet\|fp32) echo "gnet fp32 (FMA math, no TF32)" ;;
    gnet\|tf32) echo "gnet tf32 (fp32 data, TF32 math)" ;;
    gnet\|bf16) echo "gnet bf16 math (fp32 activations)" ;;
    torch\|fp32) echo "PyTorch fp32 (TF32 off)" ;;
    torch\|tf32) echo "PyTorch tf32 (allow_tf32 on)" ;;
    torch\|bf16) echo "PyTorch autocast bf16 (bf16 activations)" ;;
  esac
}

algos() {
  case $1 in
    gnet\|1) echo "deterministic preferred (gnet's default)" ;;
    gnet\|0) echo "best-ranked, any (GNET_CUDNN_DETERMINISTIC=0)" ;;
    torch\|0) echo "cudnn.deterministic=False (PyTorch's default)" ;;
    torch\|1) echo "cudnn.deterministic=True" ;;
  esac
}

ratio() {
  local a=${meds[$1]:-} b=${meds[$2]:-}
  if [[ $a =~ ^[0-9.]+$ && $b =~ ^[0-9.]+$ ]]; then awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2fx", a / b }'; else echo "n/a"; fi
}

bench_report() {
  local sizes=$1 prec impl det b row
  say "Images per second, median of $bench_samples samples (spread: (max - min) / median); cuDNN benchmark mode off on both sides."
  say
  say "| implementation and math | cuDNN algorithms |$(for b in $sizes; do printf ' batch %s |' "$b"; done)"
  say "|---|---|$(for b in $sizes; do printf -- '---|'; done)"
  for prec in fp32 tf32 bf16; do
    for impl in gnet torch; do
      for det in $([ $impl = gnet ] && echo 1 0 || echo 0 1); do # each side's default first
        row="| $(label "$impl|$prec") | $(algos "$impl|$det") |"
        for b in $sizes; do row="$row ${cells["$impl|$prec|$det|$b"]:-not run} |"; done
        say "$row"
      done
    done
  done
  say
  say "gnet / PyTorch (medians):"
  say
  say "| precision | compared |$(for b in $sizes; do printf ' batch %s |' "$b"; done)"
  say "|---|---|$(for b in $sizes; do printf -- '---|'; done)"
  local cmp gd td what
  for prec in fp32 tf32 bf16; do
    for cmp in "1 1 both deterministic" "0 0 both best-ranked (any)" "1 0 each side's default"; do
      read -r gd td what <<<"$cmp"
      row="| $prec | $what |"
      for b in $sizes; do row="$row $(ratio "gnet|$prec|$gd|$b" "torch|$prec|$td|$b") |"; done
      say "$row"
    done
  done
}

# Piece 4: batch-major in the order given (the batch that matters most first), then precision;
# gnet with both algorithm preferences, PyTorch with both in one process. Each measurement is
# skipped once the time kept for the later pieces would be touched.
bench_table() {
  local sizes=$1 batch prec t0=$SECONDS
  declare -gA cells=() meds=()
  : >"$res/bench.jsonl"
  for batch in $sizes; do
    for prec in fp32 tf32 bf16; do
      bench_gnet "$batch" "$prec" 1
      bench_gnet "$batch" "$prec" 0
      bench_torch "$batch" "$prec"
      say "  batch $batch $prec: gnet ${cells["gnet|$prec|1|$batch"]} / ${cells["gnet|$prec|0|$batch"]}, PyTorch ${cells["torch|$prec|0|$batch"]} / ${cells["torch|$prec|1|$batch"]} ($((SECONDS - t0)) s)"
    done
  done
  say
  bench_report "$sizes" | tee "$res/bench.md"
  [ -f "$logs/bench.log" ] && keep_log bench.log
  summary+=("bench: $((SECONDS - t0)) s, $(grep -c . "$res/bench.jsonl") results (of $(( $(wc -w <<<"$sizes") * 12 ))) in bench.jsonl")
}

# ---------- --run ----------

# The libraries that decide what runs, as each binary loads them there.
loaded_libs() {
  local b
  for b in "$g"/bin/*; do
    say "$(basename "$b"):"
    "${genv[@]}" ldd "$b" | grep -E 'lib(cudnn|cublas|cudart|nccl|event|stdc\+\+)[^ ]*\.so' | sed 's/ (0x[0-9a-f]*)$//'
  done
}

# What ran: the machine, the bundle's source, the libraries as loaded there, the versions.
machine() {
  nvidia-smi -L 2>&1 || true
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv 2>&1 || true
  grep -E '^(PRETTY_NAME|VERSION_ID)=' /etc/os-release 2>&1
  ldd --version 2>&1 | head -1
  say "bundle source (git HEAD, then uncommitted changes):"; cat "$g/SOURCE"
  "$python" -c 'import torch; n = torch.cuda.nccl.version() if torch.cuda.is_available() else None; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "nccl", n)' 2>&1
  say "gnet_dist --version as loaded here:"; "${genv[@]}" "$g/bin/gnet_dist" --version 2>&1
  loaded_libs
  check_libs
}

# Each piece's status, the failing ops, and the step table again (the end of the log is what
# a truncated view shows): always the last section.
run_summary() {
  step "summary ($SECONDS s of the call's $budget s)"
  printf '%s\n' "${summary[@]}"
  local f
  for f in "$logs"/ops-*.log; do
    [ -f "$f" ] || continue
    say "$(basename "$f" .log): $(tail -n 1 "$f")"
    grep -F '**FAIL**' "$f" | head -20
  done
  [ -f "$res/bench.md" ] && { say; cat "$res/bench.md"; }
}

# The call's budget ($1: the device call's timeout_s), less the summary's time; every cap
# also keeps the kill grace (cap).
summary_s=15
gpu_run() {
  budget=${1:-560}
  [[ $budget =~ ^[0-9]+$ ]] && [ "$budget" -ge 60 ] || die "--run SECONDS: the call's timeout_s, at least 60 (not '$budget')"
  deadline=$((SECONDS + budget - summary_s))
  python=${GNET_PYTHON:-python3}
  summary=()
  unpack
  res=${OUT:-$work/out}
  logs=$work/logs
  mkdir -p "$res" "$logs"
  cd "$g" || die "cannot enter $g"
  say "budget: $budget s (the summary keeps $summary_s s, each cap the $kill_grace s kill grace)"
  set_library_path
  # Each piece's RESERVE keeps time for those after it, so that a hang costs its own piece,
  # not the rest: the benchmark's batch 1024 comes right after the correctness pieces.
  step "0. what ran: machine, bundle source, libraries as loaded here"
  machine 2>&1 | tee "$logs/machine.log"
  summary+=("libraries: $([ "${PIPESTATUS[0]}" = 0 ] && echo "all resolved" || echo "SOME UNRESOLVED (machine.log)")")
  keep_log machine.log
  step "1. CUDA ops and the whole model against the CPU backend (fp32, rel err <= 1e-4; CUDA_LAUNCH_BLOCKING=1: a fault names its op)"
  piece test_cuda_ops 150 330 "${genv[@]}" CUDA_LAUNCH_BLOCKING=1 bin/test_cuda_ops
  step "2. gnet_dist on the GPU: single-rank NCCL (NCCL_DEBUG=WARN), 1920 synthetic images at 96x96, 30 steps + evaluation"
  piece gnet_dist 90 300 "${genv[@]}" NCCL_DEBUG=WARN GNET_CUDNN_PLANS=1 bin/gnet_dist --device cuda --comm nccl \
    --synthetic 1920 --batch-size 64 --resize 96 --epochs 1 --no-progress
  step "3. every op of the step, CUDA vs CPU, batch 64 at 96x96, fp32 (error and GPU time per call; cuDNN plan lines)"
  piece ops-fp32 75 240 "${genv[@]}" GNET_CUDNN_PLANS=1 bin/gnet_gpu_ops_bench --batch 64 --resize 96 --precision fp32
  step "4. training step, gnet vs PyTorch (eager, tests/ref/googlenet.py), 96x96, same GPU"
  bench_reserve=$((60 + 90))
  bench_table "1024 256 64"
  step "5. the same per-op table in bf16 (cuDNN plan lines: any bf16 -> fp32 fallback)"
  piece ops-bf16 60 90 "${genv[@]}" GNET_CUDNN_PLANS=1 bin/gnet_gpu_ops_bench --batch 64 --resize 96 --precision bf16
  step "6. one epoch of Fashion-MNIST at 96x96 (batch 250: divides 60000 and 10000)"
  piece epoch 150 0 "${genv[@]}" bin/gnet_dist --idx "$g/data" --resize 96 --device cuda --epochs 1 \
    --batch-size 250 --no-progress
  run_summary
  cd / && rm -rf "$work"
}

# ---------- --dry-run (here) ----------

# expect_exit WANT WHAT CMD...: runs CMD, prints its exit status; a status other than WANT
# ("!0": any but 0) fails the dry run.
expect_exit() {
  local want=$1 what=$2 e; shift 2
  step "$what"
  "$@"; e=$?
  say "exit $e"
  if [[ $want == '!0' && $e != 0 ]] || [[ $e == "$want" ]]; then return 0; fi
  say "FAIL: expected exit $want"; return 1
}

# What the GPU binaries do without a GPU: skip (77) or one error line.
dry_no_gpu() {
  local rc=0
  expect_exit 77 "test_cuda_ops without a GPU (must skip: 77)" "${genv[@]}" "$g/bin/test_cuda_ops" || rc=1
  expect_exit 77 "gnet_gpu_step_bench without a GPU (must skip: 77)" \
    "${genv[@]}" GNET_CUDNN_DETERMINISTIC=0 "$g/bin/gnet_gpu_step_bench" --batch 2 || rc=1
  expect_exit 77 "gnet_gpu_ops_bench without a GPU (must skip: 77)" "${genv[@]}" "$g/bin/gnet_gpu_ops_bench" --batch 2 || rc=1
  expect_exit '!0' "gnet_dist --device cuda without a GPU (one error line, non-zero exit)" \
    "${genv[@]}" "$g/bin/gnet_dist" --device cuda --synthetic 64 || rc=1
  return $rc
}

# What runs on the CPU from the bundle: the trainer's fallback, the per-op harness.
dry_cpu() {
  local rc=0 e
  expect_exit 0 "gnet_dist --device auto from the bundle (CPU fallback, serial communicator, 2 steps)" \
    "${genv[@]}" "$g/bin/gnet_dist" --device auto --synthetic 64 --batch-size 32 --epochs 1 --no-progress || rc=1
  step "gnet_gpu_ops_bench --cpu-vs-cpu from the bundle (every op of the step at batch 2, a CPU in the GPU's place)"
  "${genv[@]}" "$g/bin/gnet_gpu_ops_bench" --cpu-vs-cpu --batch 2 --target-ms 0.2 >"$work/ops.md"; e=$?
  tail -n 1 "$work/ops.md"
  say "exit $e"; [ $e = 0 ] || rc=1
  return $rc
}

# The PyTorch benchmark on the CPU (tiny), and --run's table assembled from its real lines
# (PyTorch's cells only; gnet's stay "not run").
dry_torch() {
  local out det
  step "PyTorch benchmark script on the CPU (batch 2, 1 step a sample, both cudnn.deterministic settings) and the table"
  out=$("$python" "$root/bench/torch_bench.py" --device cpu --precision fp32 --batch 2 --resize 96 --steps 1 \
          --warmup 0 --threads 2 --samples "$bench_samples" --cudnn-deterministic both) || return 1
  say "$out"
  res=$work
  declare -gA cells=() meds=()
  for det in 0 1; do
    local want=false; [ $det = 1 ] && want=true
    record "torch|fp32|$det|2" "$(grep "\"cudnn_deterministic\": $want" <<<"$out")"
  done
  bench_report 2
  [[ ${cells["torch|fp32|1|2"]} =~ ^[0-9]+\ \( ]] || { say "FAIL: the table did not parse the lines"; return 1; }
}

# The cuDNN plan lines: the planner's pure code (src/core/cudnn_pick.c, shared with the CUDA
# backend) on hand-made candidate lists; the real lines need cuDNN on a GPU.
dry_plans() {
  step "cuDNN plan lines from the shared pure code (test_cudnn_pick plan_lines; on the GPU: GNET_CUDNN_PLANS=1)"
  "$build/tests/test_cudnn_pick" plan_lines
}

# --run itself here with a 120 s budget from the command line (every GPU piece fails at
# once): at most 8 files under $OUT, what the budget allowed, the summary the last section.
dry_gpu_run() {
  local out log rc=0 n
  step "--run 120 here (no GPU: every GPU piece fails): files under \$OUT, the budget, the summary last"
  out=$(mktemp -d)
  OUT=$out GNET_PYTHON=$python "$0" --run 120 >"$out.log" 2>&1
  n=$(find "$out" -type f | wc -l)
  say "files under \$OUT: $n ($(cd "$out" && find . -type f | sed 's|^\./||' | sort | paste -sd' ' -)); logs.tar: $(tar -tf "$out/logs.tar" 2>/dev/null | paste -sd' ' -)"
  [ "$n" -le 8 ] || { say "FAIL: $n files under \$OUT (the device tool returns at most 8)"; rc=1; }
  grep -q '^budget: 120 s' "$out.log" || { say "FAIL: the budget of the command line was not taken"; rc=1; }
  log=$(awk '/^## /{last=$0} END{print last}' "$out.log")
  [[ $log == "## summary"* ]] || { say "FAIL: the last section is '$log', not the summary"; rc=1; }
  say "last section: $log"
  sed -n '/^## summary/,$p' "$out.log" | head -20
  rm -rf "$out" "$out.log"
  return $rc
}

dry_run() {
  local t0=$SECONDS
  make_bundle
  say "bundle built in $((SECONDS - t0)) s"
  local t1=$SECONDS rc=0
  python=${GNET_PYTHON:-/usr/bin/python3}
  unpack
  set_library_path
  check_libs || rc=1
  dry_no_gpu || rc=1
  dry_cpu || rc=1
  dry_torch || rc=1
  dry_plans || rc=1
  step "what --run does on the GPU machine (each piece: name, cap s, seconds kept for later ones)"
  sed -n '/^gpu_run()/,/^}/p' "$0" | grep -E 'step "|piece |bench_table "' | sed 's/^ */  /'
  rm -rf "$work"
  dry_gpu_run || rc=1
  say
  say "dry run (after the bundle) took $((SECONDS - t1)) s: $([ $rc = 0 ] && echo OK || echo FAILED)"
  return $rc
}

case "${1:-}" in
  --bundle) make_bundle ;;
  --run)
    if [ -n "${OUT:-}" ]; then gpu_run "${2:-}" 2>&1 | tee "$OUT/gpu_check.log"; else gpu_run "${2:-}"; fi ;;
  --dry-run) dry_run ;;
  *) die "usage: scripts/gpu_check.sh --bundle | --run [SECONDS] | --dry-run" ;;
esac
