#!/usr/bin/env bash
# Static analysis of src/ (docs/reliability.md): cppcheck (warning, portability, performance)
# and clang-tidy (.clang-tidy: bugprone-*, clang-analyzer-*, cert-err33-c) on the compile
# commands of a CPU build (build-tidy/). Fails on any finding, except the ones listed in
# scripts/static_checks.known (findings in files whose owners fix them; each entry is
# "FILE CHECK"), and on a listed entry that no longer occurs, so that the list only shrinks.
# The CUDA sources (src/core/backend_cuda*, src/core/cudnn_pick.c, *.cu, src/dist/comm_nccl.c, src/train/device_cuda.c)
# are left to cppcheck: clang-tidy needs their compile commands (cudnn.h's include path),
# which only a GNET_CUDA build has. First, the layout:
# every source and header of src/ as .clang-format writes it (100 columns; the option and
# network tables are kept one entry per line between clang-format off/on).
# usage: scripts/static_checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build-tidy -DGNET_CUDA=OFF -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
# The one generated header (the git version) that the sources include.
cmake --build build-tidy --target gnet_git_version >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t layout < <(find src -name '*.[ch]' -o -name '*.cu' | sort)
if ! clang-format --dry-run --Werror "${layout[@]}" 2>"$tmp/format"; then
  echo "FAIL: not formatted as .clang-format says (run clang-format -i on these):"
  grep -o '^src/[^:]*' "$tmp/format" | sort -u; exit 1
fi
echo "clang-format: ${#layout[@]} files formatted"
mapfile -t all < <(find src -name '*.c' | sort)
mapfile -t cpu < <(printf '%s\n' "${all[@]}" | grep -v -e '/backend_cuda' -e '/cudnn_pick\.c$' -e '/comm_nccl\.c$' -e '/device_cuda\.c$')

start=$SECONDS
# --library: what cppcheck cannot read from the headers (gnet_fatal is _Noreturn).
cppcheck --enable=warning,portability,performance --error-exitcode=1 --inline-suppr --std=c11 \
  --quiet -I src --library=scripts/cppcheck-gnet.cfg --suppress=missingIncludeSystem \
  -j "$(nproc)" "${all[@]}" 2>"$tmp/cppcheck" || true
echo "cppcheck: ${#all[@]} files, $((SECONDS - start)) s"

start=$SECONDS
printf '%s\n' "${cpu[@]}" |
  xargs -P "$(nproc)" -n 1 clang-tidy -p build-tidy --quiet >"$tmp/tidy" 2>&1 || true
echo "clang-tidy: ${#cpu[@]} files, $((SECONDS - start)) s"

# Each finding as "FILE CHECK<tab>its line" (cppcheck: "FILE:LINE:COL: severity: text [id]").
{
  sed -n 's|^\(src/[^:]*\):[0-9]*:[0-9]*: [a-z]*: .*\[\([A-Za-z0-9_]*\)\]$|\1 cppcheck-\2\t&|p' \
    "$tmp/cppcheck"
  sed -n "s|^$PWD/\(src/[^:]*\):[0-9]*:[0-9]*: [a-z]*: .*\[\([^],]*\).*\]$|\1 \2\t&|p" "$tmp/tidy"
} | sort -u >"$tmp/found"
if [ -s "$tmp/cppcheck" ] && [ "$(grep -c '\[' "$tmp/cppcheck")" -eq 0 ]; then
  echo "FAIL: cppcheck did not run cleanly:"; cat "$tmp/cppcheck"; exit 1
fi
# New findings fail; so does a known entry that no longer occurs.
awk -F'\t' -v known=scripts/static_checks.known '
  BEGIN { while ((getline l < known) > 0) if (l !~ /^(#|$)/) { want[l] = 1; left[l] = 1 } }
  { if ($1 in want) { n_known++; delete left[$1] } else { print "FAIL: new finding: " $2; bad = 1 } }
  END {
    for (k in left) { print "FAIL: \"" k "\" is in " known " but no longer found: remove it"; bad = 1 }
    printf "known findings left to their owners: %d\n", n_known
    if (!bad) print "static checks: clean"
    exit bad
  }' "$tmp/found"
