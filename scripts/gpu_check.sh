#!/usr/bin/env bash
# The GPU check of the CUDA backend, in two halves (docs/performance.md, section "GPU"):
#
#   scripts/gpu_check.sh --bundle    here (Debian 12, CUDA toolkit, no GPU): Release CUDA build
#                                    in build-gpu/, then .gpu_bundle/gnet-gpu.tar.xz with the
#                                    binaries, the non-CUDA shared libraries they load (ldd) and
#                                    the Fashion-MNIST IDX files
#   scripts/gpu_check.sh --run       there (one H100/H200, no MPI/HDF5/oneDNN packages, no
#                                    network): unpack, find cuDNN/cuBLAS/NCCL (PyTorch's nvidia-*
#                                    pip packages), then
#                                      1. test_cuda_ops: every op and the whole model, CUDA vs CPU
#                                      2. gnet_dist --device cuda --comm nccl, one process, synthetic
#                                      3. training-step benchmark, gnet vs PyTorch, batch 64/256/1024
#                                         at 96x96, fp32 / tf32 / bf16 (a Markdown table)
#                                      4. one epoch on the real data at 96x96
#   scripts/gpu_check.sh --dry-run   here: --bundle, unpack into a temp dir, check that every
#                                    binary resolves its libraries from the bundle + the CUDA
#                                    toolkit, run what runs without a GPU (test_cuda_ops must
#                                    skip with 77, the PyTorch benchmark on the CPU with a tiny
#                                    batch, the CPU fallback of gnet_dist), print the GPU plan
#
# The GPU session runs (device tool): command "scripts/gpu_check.sh --run", carry [".gpu_bundle"].
# Output goes to stdout and, when $OUT is set, to $OUT/gpu_check.log and $OUT/bench.md.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle_dir="$root/.gpu_bundle"
tarball="$bundle_dir/gnet-gpu.tar.xz"
build="$root/build-gpu"
data_src=${GNET_FMNIST:-/usr/share/datasets/fashion-mnist}
bins=(gnet_dist tests/test_cuda_ops gnet_gpu_step_bench)
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
  cmake --build "$build" -j "${GNET_JOBS:-2}" --target gnet_dist test_cuda_ops gnet_gpu_step_bench \
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

# Seconds a command may take: at most $1, and never past the deadline minus $2 seconds kept
# for later steps (the whole --run must end within 8 minutes).
cap() {
  local left=$((deadline - SECONDS - ${2:-0}))
  [ "$left" -lt "$1" ] && echo $((left > 5 ? left : 5)) || echo "$1"
}

# timeout SECONDS CMD..., then SIGKILL 10 s after the SIGTERM: gnet_dist turns SIGTERM into
# a stop flag it only reads between steps, so a hang before them (NCCL init, a stream
# synchronise) would otherwise outlive its limit and the call.
timeout_k() { timeout -k 10 "$@"; }

bench_table() {
  local sizes=$1 steps=$2 reserve=$3 tb="$root/bench/torch_bench.py"
  say "| batch | precision | gnet img/s | PyTorch img/s | gnet / PyTorch |"
  say "|---|---|---|---|---|"
  for batch in $sizes; do
    for prec in fp32 tf32 bf16; do
      local gi="" ti="" ratio="n/a" out
      out=$(timeout_k "$(cap 120 "$reserve")" "${genv[@]}" "$g/bin/gnet_gpu_step_bench" --batch "$batch" --resize 96 \
              --steps "$steps" --precision "$prec" 2>&1) && gi=$(sed -n 's/.*"img_per_s":\([0-9.]*\).*/\1/p' <<<"$out")
      [ -n "$gi" ] || { gi="error"; say "gnet $batch $prec: $out" >&2; }
      out=$(timeout_k "$(cap 180 "$reserve")" "$python" "$tb" --device cuda --precision "$prec" --batch "$batch" --resize 96 \
              --steps "$steps" --warmup 3 2>&1) && ti=$(sed -n 's/.*"img_per_s": *\([0-9.]*\).*/\1/p' <<<"$out")
      [ -n "$ti" ] || { ti="error"; say "torch $batch $prec: $out" >&2; }
      if [[ $gi =~ ^[0-9.]+$ && $ti =~ ^[0-9.]+$ ]]; then ratio=$(awk -v a="$gi" -v b="$ti" 'BEGIN { printf "%.2fx", a / b }'); fi
      say "| $batch | $prec | $gi | $ti | $ratio |"
    done
  done
}

gpu_run() {
  deadline=$((SECONDS + 460))
  python=${GNET_PYTHON:-python3}
  unpack
  set_library_path
  step "machine"
  nvidia-smi -L 2>&1 || true
  ldd --version 2>&1 | head -1
  "$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())' 2>&1
  check_libs
  step "1. CUDA ops and the whole model against the CPU backend (fp32, rel err <= 1e-4)"
  (cd "$g" && timeout_k "$(cap 240 300)" "${genv[@]}" bin/test_cuda_ops); say "test_cuda_ops: exit $?"
  step "2. single-rank NCCL through gnet_dist (synthetic, 96x96, 60 steps + evaluation)"
  timeout_k "$(cap 120 240)" "${genv[@]}" "$g/bin/gnet_dist" --device cuda --comm nccl --synthetic 3840 --batch-size 64 --resize 96 \
    --epochs 1 --no-progress; say "gnet_dist nccl: exit $?"
  step "3. training step, gnet vs PyTorch (eager, tests/ref/googlenet.py), 96x96, same GPU"
  bench_table "64 256 1024" 15 120 | tee "${OUT:-$work}/bench.md"
  step "4. one epoch of Fashion-MNIST at 96x96 (batch 250: divides 60000 and 10000)"
  timeout_k "$(cap 200)" "${genv[@]}" "$g/bin/gnet_dist" --idx "$g/data" --resize 96 --device cuda --epochs 1 --batch-size 250 \
    --no-progress; say "gnet_dist epoch: exit $?"
  rm -rf "$work"
}

dry_run() {
  local t0=$SECONDS
  make_bundle
  say "bundle built in $((SECONDS - t0)) s"
  local t1=$SECONDS
  python=${GNET_PYTHON:-/usr/bin/python3}
  unpack
  set_library_path
  local rc=0
  check_libs || rc=1
  step "test_cuda_ops without a GPU (must skip: 77)"
  "${genv[@]}" "$g/bin/test_cuda_ops"; local e=$?
  say "exit $e"; [ $e = 77 ] || rc=1
  step "gnet_gpu_step_bench without a GPU (must skip: 77)"
  "${genv[@]}" "$g/bin/gnet_gpu_step_bench" --batch 2; e=$?
  say "exit $e"; [ $e = 77 ] || rc=1
  step "gnet_dist --device cuda without a GPU (one error line, non-zero exit)"
  "${genv[@]}" "$g/bin/gnet_dist" --device cuda --synthetic 64; e=$?
  say "exit $e"; [ $e != 0 ] || rc=1
  step "gnet_dist --device auto from the bundle (CPU fallback, serial communicator, 2 steps)"
  "${genv[@]}" "$g/bin/gnet_dist" --device auto --synthetic 64 --batch-size 32 --epochs 1 --no-progress || rc=1
  step "PyTorch benchmark script on the CPU, tiny batch"
  "$python" "$root/bench/torch_bench.py" --device cpu --precision fp32 --batch 2 --resize 96 --steps 1 \
    --warmup 0 --threads 2 || rc=1
  step "what --run does on the GPU machine"
  sed -n '/^gpu_run()/,/^}/p' "$0" | grep -E 'step "|timeout|bench_table "' | sed 's/^ */  /'
  rm -rf "$work"
  say
  say "dry run (after the bundle) took $((SECONDS - t1)) s: $([ $rc = 0 ] && echo OK || echo FAILED)"
  return $rc
}

case "${1:-}" in
  --bundle) make_bundle ;;
  --run)
    if [ -n "${OUT:-}" ]; then gpu_run 2>&1 | tee "$OUT/gpu_check.log"; else gpu_run; fi ;;
  --dry-run) dry_run ;;
  *) die "usage: scripts/gpu_check.sh --bundle | --run | --dry-run" ;;
esac
