#!/usr/bin/env bash
# scripts/summarize.py and scripts/plot_metrics.py on hand-made run directories (tests/report):
# sweep/bs64_lr0.05_e25 finished (one --eval-every record in it, which the table skips), shaped
# like the reference's batch-64 row (its final record
# is that row, extra keys included); sweep/bs128_lr0.1_e10 unfinished (2 of 10 epochs and a
# half-written third line); maxsteps/ ended by --max-steps before an epoch (a final record
# with null metrics); bad/ with a malformed line 2.
#  A. the sweep's table equals tests/report/expected.md (the reference row to the character,
#     the unfinished run marked), under /usr/bin/python3 and under the python3 on PATH;
#  B. run directories given one by one keep their order; -o writes the same table, no temp left;
#  C. bad input: one error line naming FILE:LINE (malformed line) or the path, exit 1, no output;
#  D. the plot: PNG and SVG from a sweep (a real PNG, the runs in the SVG's legend), no temp left;
#     one run without -o writes RUN_DIR/curves.*; errors as in C;
#  E. scripts/sweep.sh locally with the real gnet_dist (2 tiny synthetic runs): run directories
#     named from the grid, final records, a table and a plot from them; run again, the finished
#     runs are skipped; another grid in the same directory and a bad grid line are refused;
#     a run with a checkpoint is continued with --resume and without the command line's --init.
# usage: report_test.sh SOURCE_DIR GNET_DIST
set -euo pipefail
src=$(realpath "$1")
dist=$(realpath "$2")
fix=$src/tests/report
py=${GNET_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# A
interpreters=("$py")
command -v python3 >/dev/null && interpreters+=("$(command -v python3)")
for p in "${interpreters[@]}"; do
  "$p" "$src/scripts/summarize.py" "$fix/sweep" >"$tmp/a.md" || fail "A: summarize.py under $p exited with $?"
  diff -u "$fix/expected.md" "$tmp/a.md" || fail "A: the sweep's table under $p differs from expected.md"
  ok "A: sweep table as expected under $p ($("$p" --version 2>&1))"
done
grep -qxF '| 64 | 0.05 | 25 | 0.101 | 0.961 | 0.913 | 1961.3 | 14m57s | 1 | cpu | bs64_lr0.05_e25 |' "$tmp/a.md" ||
  fail "A: no reference row"
grep -qF '| 128 | 0.1 | 2/10 (unfinished) | 0.600 |' "$tmp/a.md" || fail "A: the unfinished run is not marked"

# B
"$py" "$src/scripts/summarize.py" "$fix/sweep/bs128_lr0.1_e10" "$fix/sweep/bs64_lr0.05_e25" >"$tmp/b.md"
sed -n 3p "$tmp/b.md" | grep -q '^| 128 |' && sed -n 4p "$tmp/b.md" | grep -q '^| 64 |' ||
  fail "B: run directories given one by one are not in the given order"
mkdir "$tmp/out"
"$py" "$src/scripts/summarize.py" -o "$tmp/out/table.md" "$fix/sweep" >"$tmp/b.stdout"
[ ! -s "$tmp/b.stdout" ] && cmp -s "$tmp/out/table.md" "$fix/expected.md" ||
  fail "B: -o did not write the table (or also printed it)"
[ "$(ls "$tmp/out")" = table.md ] || fail "B: -o left files behind: $(ls "$tmp/out")"
ok "B: given order kept; -o writes the table atomically"
"$py" "$src/scripts/summarize.py" "$fix/maxsteps" | grep -qxF '| 64 | 0.05 | 0/10 | - | - | - | 300.5 | 0m03s | 1 | cpu | maxsteps |' ||
  fail "B: a run ended by --max-steps before its first epoch (null metrics) is not shown as 0/10 with dashes"
ok "B: a final record with null metrics (--max-steps) shows as 0/10 with dashes"

# C: each bad input -> exit 1, exactly one stderr line that names the culprit, no stdout.
expect_error() { # what, expected substring, command...
  local what=$1 want=$2 rc=0
  shift 2
  "$@" >"$tmp/c.out" 2>"$tmp/c.err" || rc=$?
  [ $rc -eq 1 ] || fail "C: $what: exit $rc, expected 1"
  [ ! -s "$tmp/c.out" ] || fail "C: $what: printed output: $(head -c 200 "$tmp/c.out")"
  [ "$(wc -l <"$tmp/c.err")" -eq 1 ] && grep -qF -- "$want" "$tmp/c.err" ||
    fail "C: $what: stderr is not one line with '$want': $(cat "$tmp/c.err")"
  ok "C: $what: $(cat "$tmp/c.err")"
}
expect_error "malformed line" "summarize.py: error: $fix/bad/metrics.jsonl:2: not valid JSON" \
  "$py" "$src/scripts/summarize.py" "$fix/sweep" "$fix/bad"
expect_error "missing directory" "summarize.py: error: $tmp/nope: not a directory" \
  "$py" "$src/scripts/summarize.py" "$tmp/nope"
mkdir "$tmp/empty"
expect_error "directory without runs" "$tmp/empty: no metrics.jsonl" \
  "$py" "$src/scripts/summarize.py" "$tmp/empty"
mkdir "$tmp/norec" && echo '{"epoch": 1, "loss": 1.0}' >"$tmp/norec/metrics.jsonl"
expect_error "record without its numbers" "$tmp/norec/metrics.jsonl:1: 'train_acc' missing" \
  "$py" "$src/scripts/summarize.py" "$tmp/norec"
expect_error "unknown option" "summarize.py: error: --bogus: unknown option" \
  "$py" "$src/scripts/summarize.py" --bogus "$fix/sweep"

# D
expect_error "plot into a missing directory" "plot_metrics.py: error: $tmp/plot/curves.png: No such file" \
  "$py" "$src/scripts/plot_metrics.py" -o "$tmp/plot/curves" "$fix/sweep"
mkdir "$tmp/plot"
"$py" "$src/scripts/plot_metrics.py" -o "$tmp/plot/curves" "$fix/sweep" >"$tmp/d.out" ||
  fail "D: plot_metrics.py exited with $?"
[ "$(ls "$tmp/plot" | tr '\n' ' ')" = "curves.png curves.svg " ] || fail "D: files written: $(ls "$tmp/plot")"
"$py" - "$tmp/plot/curves.png" <<'PY' || fail "D: curves.png is not a PNG of a sensible size"
import struct, sys
head = open(sys.argv[1], "rb").read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
w, h = struct.unpack(">II", head[16:24])
assert 600 <= w <= 2000 and 300 <= h <= 1200, (w, h)
PY
for want in "<svg" "batch 64, lr 0.05" "batch 128, lr 0.1 (unfinished)" "train loss" "test acc" "epoch"; do
  grep -qF "$want" "$tmp/plot/curves.svg" || fail "D: curves.svg lacks '$want'"
done
cp -r "$fix/sweep/bs64_lr0.05_e25" "$tmp/one"
"$py" "$src/scripts/plot_metrics.py" "$tmp/one" >/dev/null && [ -s "$tmp/one/curves.png" ] && [ -s "$tmp/one/curves.svg" ] ||
  fail "D: one run without -o did not write RUN_DIR/curves.png and .svg"
ok "D: PNG and SVG of the sweep, and of one run by default"
expect_error "plot: malformed line" "plot_metrics.py: error: $fix/bad/metrics.jsonl:2:" \
  "$py" "$src/scripts/plot_metrics.py" -o "$tmp/plot/bad" "$fix/bad"
expect_error "plot: a run without epoch records" "plot_metrics.py: error: $fix/maxsteps/metrics.jsonl: no epoch records to draw" \
  "$py" "$src/scripts/plot_metrics.py" -o "$tmp/plot/none" "$fix/maxsteps"
expect_error "plot: several runs without -o" "plot_metrics.py: error: several runs: give the output with -o PREFIX" \
  "$py" "$src/scripts/plot_metrics.py" "$fix/sweep"
[ "$(ls "$tmp/plot" | tr '\n' ' ')" = "curves.png curves.svg " ] || fail "D: failed plots left files: $(ls "$tmp/plot")"

# E
sweep=(--batch 16,32 --lr 0.05 --epochs 2 "$tmp/sw" -- --device cpu --synthetic 64 --test-limit 32 --threads 1 --no-progress)
GNET_BIN=$dist timeout 300 "$src/scripts/sweep.sh" "${sweep[@]}" >"$tmp/e.log" 2>&1 ||
  { cat "$tmp/e.log"; fail "E: sweep.sh exited with an error"; }
[ "$(cd "$tmp/sw" && ls | tr '\n' ' ')" = "bs16_lr0.05_e2 bs32_lr0.05_e2 grid.txt " ] ||
  fail "E: sweep directory holds: $(ls "$tmp/sw")"
"$py" "$src/scripts/summarize.py" "$tmp/sw" >"$tmp/e.md"
[ "$(grep -cE '^\| (16|32) \| 0\.05 \| 2 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9]+m[0-9]{2}s \| 1 \| cpu \| bs(16|32)_lr0\.05_e2 \|$' "$tmp/e.md")" -eq 2 ] ||
  { cat "$tmp/e.md"; fail "E: the local sweep's table lacks its 2 finished rows"; }
"$py" "$src/scripts/plot_metrics.py" -o "$tmp/sw/curves" "$tmp/sw" >/dev/null && [ -s "$tmp/sw/curves.png" ] ||
  fail "E: no plot of the local sweep"
GNET_BIN=$dist timeout 60 "$src/scripts/sweep.sh" "${sweep[@]}" >"$tmp/e2.log" 2>&1 &&
  [ "$(grep -c 'finished already' "$tmp/e2.log")" -eq 2 ] ||
  { cat "$tmp/e2.log"; fail "E: running the sweep again did not skip its 2 finished runs"; }
expect_error "sweep: another grid in the same directory" "sweep.sh: error: $tmp/sw/grid.txt: this sweep directory holds another grid" \
  env GNET_BIN="$dist" "$src/scripts/sweep.sh" --batch 64 --lr 0.05 --epochs 2 "$tmp/sw"
printf '16 0.05 2\n# a comment\n\n32 fast 2\n' >"$tmp/grid.txt"
expect_error "sweep: a bad grid line" "sweep.sh: error: $tmp/grid.txt:4: expected 'BATCH LR EPOCHS' or a config file (.ini), got '32 fast 2'" \
  env GNET_BIN="$dist" "$src/scripts/sweep.sh" --grid "$tmp/grid.txt" "$tmp/sw2"
[ ! -e "$tmp/sw2" ] || fail "E: a refused grid left $tmp/sw2 behind"
ok "E: a local sweep of 2 runs, its table and plot; rerun skips finished runs"
# A run with a checkpoint is continued with --resume, without the command line's --init
# (gnet_dist refuses the two together; the starting point belongs to the first attempt).
mkdir -p "$tmp/sw3/bs16_lr0.05_e2" && : >"$tmp/sw3/bs16_lr0.05_e2/checkpoint.h5"
GNET_BIN=$dist "$src/scripts/sweep.sh" --dry-run --batch 16,32 --lr 0.05 --epochs 2 "$tmp/sw3" -- --init "$tmp/w.h5" \
  --synthetic 64 >"$tmp/e3.log" 2>&1 || { cat "$tmp/e3.log"; fail "E: sweep.sh --dry-run with --init"; }
grep -F -- "--batch-size 16" "$tmp/e3.log" | grep -F -- "--resume $tmp/sw3/bs16_lr0.05_e2" | grep -vqF -- "--init" &&
  grep -F -- "--batch-size 32" "$tmp/e3.log" | grep -F -- "--init $tmp/w.h5" | grep -vqF -- "--resume" ||
  { cat "$tmp/e3.log"; fail "E: --init is kept for a new run and dropped for one resumed"; }
ok "E: a resumed run drops the command line's --init, a new one keeps it"

echo "report_test: all passed"
