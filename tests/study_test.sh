#!/usr/bin/env bash
# scripts/study.py on hand-made run directories (tests/study/study, 4096 training images):
#   sgd_bs0032, sgd_bs0064   plain SGD; eval records every half epoch with gns fields (the
#                            first B_simple values negative, null or absent); target 0.8 at
#                            step 384 (epoch 3) and 224 (epoch 3.5)
#   sgd_bs0128               6 epochs; 0.8 only at epoch 5, so "not reached" within 4 epochs
#   mom_bs0032..mom_bs0128   momentum, lr-scale linear (peak lr 0.1 x B/256); bs0128 is
#                            unfinished (2 of 4 epochs, no final record, a half-written line)
#   lars_bs1024              epoch records only (as older gnet_dist wrote them: no eval
#                            records, no test_loss, no gns); 0.8 at epoch 3 = step 12, 7.5 s
# and tests/study/bad (line 2 malformed).
#  A. --target 0.8 --budget-epochs 4 -o DIR: study.md equals tests/study/expected.md (steps,
#     images, time to target, accuracies, B_simple, the critical batch 118, the reference
#     tables, the projection); the exact rows checked below are the ones worked out by hand;
#     without -o the same Markdown (less the plot links) goes to stdout;
#  B. the budget: without it sgd_bs0128 reaches 0.8 at step 160; an unreachable target;
#  C. the projection: a model, batch x P table, skipped cells, the 'soonest' sentence;
#  D. the plots: PNG and SVG of each, a real PNG, the method names in the SVGs, no temp left;
#  E. method names: --method KEY=NAME, an unknown prefix shows as itself;
#  F. bad input: one error line naming FILE:LINE (or the option, the path), exit 1, nothing
#     written; --help.
# usage: study_test.sh SOURCE_DIR
set -euo pipefail
src=$(realpath "$1")
fix=$src/tests/study
py=${GNET_PYTHON:-/usr/bin/python3}
study=("$py" "$src/scripts/study.py")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
has_line() { grep -qxF -- "$2" "$1" || fail "$3: no line '$2' in $1"; }

# A
"${study[@]}" --target 0.8 --budget-epochs 4 -o "$tmp/out" "$fix/study" >"$tmp/a.out" ||
  fail "A: study.py exited with $?"
diff -u "$fix/expected.md" "$tmp/out/study.md" || fail "A: study.md differs from expected.md"
md=$tmp/out/study.md
has_line "$md" '| plain SGD, lr 0.05 | 32 | 0.05 | 4/4 | 384 | 12,288 | 19.2 s | 0.840 | 0.840 | 130 | 110 | 627.2 |' "A: sgd 32"
has_line "$md" '| plain SGD, lr 0.05 | 128 | 0.05 | 6/6 | not reached | - | - | 0.750 | 0.750 | 170 | 155 | 896.0 |' "A: sgd 128 (budget)"
has_line "$md" '| momentum 0.9 + linear scaling + warmup | 64 | 0.025 | 4/4 | 160 | 10,240 | 12.8 s | 0.860 | 0.860 | 155 | 140 | 784.0 |' "A: mom 64 (peak lr)"
has_line "$md" '| momentum 0.9 + linear scaling + warmup | 128 | 0.05 | 2/4 (unfinished) | 80 | 10,240 | 11.2 s | 0.820 | 0.820 | 150 | 130 | 914.3 |' "A: unfinished run"
has_line "$md" '| LARS | 1024 | 2 | 6/6 | 12 | 12,288 | 7.50 s | 0.840 | 0.840 | - | - | 1,600.0 |' "A: epoch records only"
has_line "$md" 'Predicted critical batch: about 118, the median B_simple over the second half of the batch-32 runs (sgd_bs0032, mom_bs0032).' "A: critical batch"
has_line "$md" '| 128 | 0.05 | 2/4 (unfinished) | 0.895 | 0.780 | 0.770 | 914.3 |' "A: reference table"
ok "A: study.md as expected (steps, images and time to target, accuracies, B_simple)"
"${study[@]}" --target 0.8 --budget-epochs 4 "$fix/study" >"$tmp/a.md" || fail "A: stdout mode exited with $?"
sed '/^!\[/,+1d' "$fix/expected.md" | diff -u - "$tmp/a.md" || fail "A: stdout differs from expected.md less the plot links"
ok "A: without -o the same Markdown on stdout"

# B
"${study[@]}" --target 0.8 "$fix/study" >"$tmp/b.md"
has_line "$tmp/b.md" '| plain SGD, lr 0.05 | 128 | 0.05 | 6/6 | 160 | 20,480 | 22.4 s | 0.830 | 0.830 | 170 | 155 | 896.0 |' "B: no budget"
grep -qF 'evaluations counted over the whole run.' "$tmp/b.md" || fail "B: no 'whole run' note"
"${study[@]}" --target 0.95 "$fix/study" >"$tmp/b2.md"
[ "$(grep -c '| not reached | - | - |' "$tmp/b2.md")" -eq 7 ] && grep -qxF 'No run reached the target: nothing to project.' "$tmp/b2.md" ||
  fail "B: an unreachable target is not 'not reached' everywhere"
ok "B: the budget decides what counts; an unreachable target"

# C
grep -qF 'A model, not a measurement' "$md" || fail "C: the projection does not say it is a model"
has_line "$md" '| method | batch | steps to target | P = 8 | P = 64 | P = 512 |' "C: projection header"
has_line "$md" '| plain SGD, lr 0.05 | 32 | 384 | 4.87 s | - | - |' "C: batch 32 (only P = 8 has a GPU batch >= 1)"
has_line "$md" '| LARS | 1024 | 12 | 649 ms | 217 ms | 308 ms |' "C: batch 1024"
has_line "$md" 'Soonest to the target (model): batch 1024 (LARS) on 64 GPUs, 217 ms (12 steps of 18.0 ms).' "C: soonest"
grep -qF '| plain SGD, lr 0.05 | 128 |' <(sed -n '/^### Projected/,$p' "$md") && fail "C: a run that missed the target is projected"
"${study[@]}" --target 0.8 --step-ms-at 64=20 --step-ms-at 1000=200 "$fix/study" >"$tmp/c.md"
grep -qF 'fitted to batch 64: 20.00 ms, batch 1000: 200.00 ms;' "$tmp/c.md" || fail "C: --step-ms-at is not used"
ok "C: projection table and the soonest sentence; --step-ms-at"

# D
[ "$(cd "$tmp/out" && ls | tr '\n' ' ')" = "b_simple.png b_simple.svg best_acc.png best_acc.svg steps_to_target.png steps_to_target.svg study.md " ] ||
  fail "D: -o wrote: $(ls "$tmp/out")"
[ "$(wc -l <"$tmp/a.out")" -eq 7 ] || fail "D: -o did not list the 7 files written"
for name in steps_to_target best_acc b_simple; do
  "$py" - "$tmp/out/$name.png" <<'PY' || fail "D: $name.png is not a PNG of a sensible size"
import struct, sys
head = open(sys.argv[1], "rb").read(24)
assert head[:8] == b"\x89PNG\r\n\x1a\n", head[:8]
w, h = struct.unpack(">II", head[16:24])
assert 400 <= w <= 2400 and 300 <= h <= 1200, (w, h)
PY
  grep -qF '<svg' "$tmp/out/$name.svg" || fail "D: $name.svg is not an SVG"
done
for want in "plain SGD, lr 0.05" "momentum 0.9 + linear scaling + warmup" "LARS" "perfect scaling" \
    "not reached (rows at the top, one per method)" "predicted critical batch 118"; do
  grep -qF "$want" "$tmp/out/steps_to_target.svg" || fail "D: steps_to_target.svg lacks '$want'"
done
for want in "LARS" "target 0.8" "best test acc (first 4 epochs)"; do
  grep -qF "$want" "$tmp/out/best_acc.svg" || fail "D: best_acc.svg lacks '$want'"
done
for want in "plain SGD, lr 0.05" "momentum 0.9 + linear scaling + warmup" "batch 128 (unfinished)" "B_simple"; do
  grep -qF "$want" "$tmp/out/b_simple.svg" || fail "D: b_simple.svg lacks '$want'"
done
ok "D: three plots as PNG and SVG"

# E
mkdir "$tmp/e"
cp -r "$fix/study/sgd_bs0032" "$tmp/e/new_bs0032"
"${study[@]}" --target 0.8 "$tmp/e" >"$tmp/e0.md"
grep -qF '| new | 32 | 0.05 | 4/4 | 384 |' "$tmp/e0.md" || fail "E: an unknown prefix does not show as itself"
"${study[@]}" --target 0.8 --method new="my method" --method sgd=SGD "$tmp/e" "$fix/study/sgd_bs0064" >"$tmp/e.md"
grep -qF '| my method | 32 |' "$tmp/e.md" && grep -qF '| SGD | 64 |' "$tmp/e.md" && grep -qxF '#### my method' "$tmp/e.md" ||
  fail "E: --method does not name the methods"
ok "E: method names from --method, unknown prefixes as themselves"

# F: each bad input -> exit 1, exactly one stderr line that names the culprit, no stdout, no -o DIR.
expect_error() { # what, expected substring, study.py arguments...
  local what=$1 want=$2 rc=0
  shift 2
  "${study[@]}" "$@" >"$tmp/f.out" 2>"$tmp/f.err" || rc=$?
  [ $rc -eq 1 ] || fail "F: $what: exit $rc, expected 1"
  [ ! -s "$tmp/f.out" ] || fail "F: $what: printed output: $(head -c 200 "$tmp/f.out")"
  [ "$(wc -l <"$tmp/f.err")" -eq 1 ] && grep -qF -- "$want" "$tmp/f.err" ||
    fail "F: $what: stderr is not one line with '$want': $(cat "$tmp/f.err")"
  [ ! -e "$tmp/f_dir" ] || fail "F: $what: left $tmp/f_dir behind"
  ok "F: $what: $(cat "$tmp/f.err")"
}
expect_error "malformed line" "study.py: error: $fix/bad/sgd_bs0032/metrics.jsonl:2: not valid JSON" \
  --target 0.8 -o "$tmp/f_dir" "$fix/study" "$fix/bad"
mkdir -p "$tmp/norec/sgd_bs0032"
printf '{"eval": true, "step": 64, "images": 2048, "epoch": 0.5, "test_acc": 0.4}\n' >"$tmp/norec/sgd_bs0032/metrics.jsonl"
expect_error "record without its numbers" "study.py: error: $tmp/norec/sgd_bs0032/metrics.jsonl:1: 'train_s' missing or not a number" \
  --target 0.8 -o "$tmp/f_dir" "$tmp/norec"
cp -r "$fix/study/mom_bs0064" "$tmp/badcfg"
sed -i 's/^base-batch = 256/base-batch = two hundred/' "$tmp/badcfg/config.ini"
expect_error "bad config value" "study.py: error: $tmp/badcfg/config.ini:8: base-batch = 'two hundred' is not a positive number" \
  --target 0.8 -o "$tmp/f_dir" "$tmp/badcfg"
mkdir "$tmp/dup" && cp -r "$fix/study/sgd_bs0032" "$tmp/dup/"
expect_error "the same method and batch twice" "study.py: error: $tmp/dup/sgd_bs0032: method sgd at batch 32 twice (also $fix/study/sgd_bs0032)" \
  --target 0.8 "$fix/study" "$tmp/dup"
touch "$tmp/afile"
expect_error "-o names a file" "study.py: error: $tmp/afile: File exists" --target 0.8 -o "$tmp/afile" "$fix/study"
[ ! -s "$tmp/afile" ] || fail "F: -o onto a file wrote into it"
expect_error "missing directory" "study.py: error: $tmp/nope: not a directory" --target 0.8 "$tmp/nope"
mkdir "$tmp/empty"
expect_error "directory without runs" "$tmp/empty: no metrics.jsonl" --target 0.8 "$tmp/empty"
expect_error "no target" "study.py: error: --target:" "$fix/study"
expect_error "target out of range" "study.py: error: --target:" --target 88 "$fix/study"
expect_error "bad --method" "study.py: error: --method: 'sgd' is not KEY=VALUE" --target 0.8 --method sgd "$fix/study"
expect_error "one --step-ms-at" "study.py: error: --step-ms-at: give two" --target 0.8 --step-ms-at 64=30 "$fix/study"
expect_error "unknown option" "study.py: error: unrecognized arguments: --bogus" --target 0.8 --bogus "$fix/study"
"${study[@]}" --help >"$tmp/help.txt" && grep -qF 'usage: scripts/study.py --target ACC' "$tmp/help.txt" ||
  fail "F: --help prints no usage"
ok "F: --help"

echo "study_test: all passed"
