#!/usr/bin/env bash
# Resumption with the study instruments' state: LARS's momentum, the noise scale's moving
# averages (--noise-scale), the training loss since the last eval record (--eval-every) and
# --target-acc. Two ranks, --optimizer lars --momentum 0.9 --noise-scale --eval-every 3
# --accum-steps 2, 96 rows in batches of 16 (6 steps an epoch), 2 epochs, a checkpoint every
# 4 steps. Interrupted (1) by --max-steps 5 (mid epoch 1, between eval records), (2) by
# SIGUSR1 once the first checkpoint exists, and (3) from the step-8 checkpoint after the run
# went on to step 10 (metrics.jsonl then holds an eval record and a final record beyond the
# checkpoint, as after a kill -9), each then resumed: the final checkpoint equals the
# uninterrupted run's bit for bit (parameters and momentum), and metrics.jsonl equals its
# line for line except the timing fields (train_s, wall_s, eval_s, img_per_s, epoch_s,
# target_train_s, target_wall_s). Resuming the LARS checkpoint with --optimizer sgd is
# refused: one error line, non-zero exit, the run directory untouched.
# --target-acc: 0.05 ends the run at its first evaluation (step 3) with target_reached true
# and target_step 3; 0.999 runs all epochs and says target_reached false; --resume of a
# directory whose run ended at the target ends again at once without another step; with
# another --target-acc it is refused (where the run ends belongs to the target).
# usage: resume_state_test.sh GNET_DIST PYTHON SAME_WEIGHTS_PY
set -u
bin=$1 py=$2 same=$3
source "$(dirname "$0")/lib.sh"
need_idx
np2() { timeout 120 mpirun -np 2 "$bin" "$@"; }

common=(--idx "$idx" --train-limit 96 --test-limit 64 --batch-size 16 --epochs 2 --threads 1
        --seed 5 --no-progress --optimizer lars --momentum 0.9 --weight-decay 5e-4 --lr 0.2
        --noise-scale --eval-every 3 --accum-steps 2 --checkpoint-every 4)

# The same records in two metrics.jsonl, line for line, but for the timing fields; the
# straight run's file must hold what this test is about (eval records with the noise scale).
same_metrics() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
TIMING = {"train_s", "wall_s", "eval_s", "img_per_s", "epoch_s", "target_train_s", "target_wall_s"}
def load(p):
    return [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in open(p)]
a, b = load(sys.argv[1]), load(sys.argv[2])
evals = [r for r in a if r.get("eval")]
if len(a) != len(b):
    sys.exit(print(f"{len(a)} vs {len(b)} records") or 1)
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        sys.exit(print(f"record {i + 1} differs:\n  {x}\n  {y}") or 1)
if [r["step"] for r in evals] != [3, 6, 9, 12] or any("gns_trace" not in r for r in evals):
    sys.exit(print(f"unexpected eval records {evals}") or 1)
print(f"{len(a)} records alike")
PY
}

np2 "${common[@]}" --out "$tmp/straight" >"$tmp/straight.out" 2>&1
check $? "np 2 uninterrupted"

# (1) --max-steps 5, then --resume DIR
np2 "${common[@]}" --out "$tmp/steps" --max-steps 5 >"$tmp/steps.out" 2>&1
check $? "np 2 to --max-steps 5"
np2 "${common[@]}" --out "$tmp/steps" --resume "$tmp/steps" >"$tmp/steps2.out" 2>&1
check $? "np 2 resume after --max-steps 5"
"$py" "$same" "$tmp/straight/checkpoint.h5" "$tmp/steps/checkpoint.h5" >"$tmp/cmp" 2>&1
check $? "max-steps 5 + resume == uninterrupted, bitwise ($(cat "$tmp/cmp"))"
same_metrics "$tmp/straight/metrics.jsonl" "$tmp/steps/metrics.jsonl" >"$tmp/cmp" 2>&1
check $? "max-steps 5 + resume: metrics.jsonl alike ($(cat "$tmp/cmp"))"

# (2) SIGUSR1 (mpirun forwards it) once the step-4 checkpoint exists: exit 3, then resume
# (mpirun itself in the background: a wrapper would take the signal instead of forwarding it)
mpirun --timeout 120 -np 2 "$bin" "${common[@]}" --out "$tmp/usr1" >"$tmp/usr1.out" 2>&1 &
pid=$!
for _ in $(seq 1200); do [ -f "$tmp/usr1/checkpoint.h5" ] && break; sleep 0.05; done
kill -USR1 $pid
wait $pid
rc=$?
[ $rc -eq 3 ] && grep -q "stopped by SIGUSR1" "$tmp/usr1/log.txt"
check $? "np 2 SIGUSR1: exit code 3 ($rc): $(grep -m1 'stopped by' "$tmp/usr1/log.txt")"
np2 "${common[@]}" --out "$tmp/usr1" --resume "$tmp/usr1" >"$tmp/usr1b.out" 2>&1
check $? "np 2 resume after SIGUSR1"
"$py" "$same" "$tmp/straight/checkpoint.h5" "$tmp/usr1/checkpoint.h5" >"$tmp/cmp" 2>&1
check $? "SIGUSR1 + resume == uninterrupted, bitwise ($(cat "$tmp/cmp"))"
same_metrics "$tmp/straight/metrics.jsonl" "$tmp/usr1/metrics.jsonl" >"$tmp/cmp" 2>&1
check $? "SIGUSR1 + resume: metrics.jsonl alike ($(cat "$tmp/cmp"))"

# (3) the step-8 checkpoint, with metrics.jsonl already holding step 9's eval record and
# step 10's final record (a run killed after writing them): the resume drops them
np2 "${common[@]}" --out "$tmp/late" --max-steps 8 >"$tmp/late.out" 2>&1
check $? "np 2 to --max-steps 8"
cp "$tmp/late/checkpoint.h5" "$tmp/step8.h5"
np2 "${common[@]}" --out "$tmp/late" --resume "$tmp/late" --max-steps 10 >"$tmp/late2.out" 2>&1
check $? "np 2 on to --max-steps 10"
grep -q '"eval": true, "step": 9,' "$tmp/late/metrics.jsonl" && [ "$(grep -c '"final": true' "$tmp/late/metrics.jsonl")" -eq 1 ]
check $? "metrics.jsonl holds step 9's eval record and a final record"
cp "$tmp/step8.h5" "$tmp/late/checkpoint.h5"
np2 "${common[@]}" --out "$tmp/late" --resume "$tmp/late" >"$tmp/late3.out" 2>&1
check $? "np 2 resume from the step-8 checkpoint"
"$py" "$same" "$tmp/straight/checkpoint.h5" "$tmp/late/checkpoint.h5" >"$tmp/cmp" 2>&1
check $? "step-8 checkpoint + resume == uninterrupted, bitwise ($(cat "$tmp/cmp"))"
same_metrics "$tmp/straight/metrics.jsonl" "$tmp/late/metrics.jsonl" >"$tmp/cmp" 2>&1
check $? "step-8 checkpoint + resume: metrics.jsonl alike ($(cat "$tmp/cmp"))"

# (4) --optimizer sgd on a LARS checkpoint: refused, nothing written
cp "$tmp/straight/checkpoint.h5" "$tmp/before.h5"
cp "$tmp/straight/metrics.jsonl" "$tmp/before.jsonl"
args=("${common[@]}")
args[${#args[@]}]=--optimizer; args[${#args[@]}]=sgd # the later one wins
"$bin" "${args[@]}" --out "$tmp/straight" --resume "$tmp/straight" >"$tmp/sgd.out" 2>"$tmp/sgd.err"
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$tmp/sgd.err")" -eq 1 ] && grep -q -- "--optimizer lars, this run asks for sgd" "$tmp/sgd.err" &&
  cmp -s "$tmp/before.h5" "$tmp/straight/checkpoint.h5" && cmp -s "$tmp/before.jsonl" "$tmp/straight/metrics.jsonl"
check $? "--optimizer sgd on a LARS checkpoint refused (rc $rc): $(cat "$tmp/sgd.err")"

# (5) --target-acc, one rank
target=(--idx "$idx" --train-limit 96 --test-limit 64 --batch-size 16 --epochs 2 --threads 1
        --seed 5 --no-progress --lr 0.05 --eval-every 3)
# The last "eval" or "final" record of FILE as key=value lines (JSON values), and count=N.
fields() { # KIND(eval|final) FILE
  "$py" - "$1" "$2" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[2]) if json.loads(l).get(sys.argv[1])]
for k, v in (recs[-1] if recs else {}).items():
    print(f"{k}={json.dumps(v)}")
print(f"count={len(recs)}")
PY
}
"$bin" "${target[@]}" --target-acc 0.05 --out "$tmp/low" >"$tmp/low.out" 2>&1
check $? "--target-acc 0.05 ran"
fields eval "$tmp/low/metrics.jsonl" >"$tmp/low.eval"
fields final "$tmp/low/metrics.jsonl" >"$tmp/low.final"
grep -qx 'count=1' "$tmp/low.eval" && grep -qx 'step=3' "$tmp/low.eval" &&
  grep -qx 'steps=3' "$tmp/low.final" && grep -qx 'target_reached=true' "$tmp/low.final" &&
  grep -qx 'target_step=3' "$tmp/low.final" && grep -qx 'target_images=48' "$tmp/low.final" &&
  grep -qx 'target_epoch=0.5' "$tmp/low.final" && grep -qx 'target_acc=0.05' "$tmp/low.final" &&
  grep -q "reached the target test acc 0.05 (.*) at step 3" "$tmp/low/log.txt" &&
  awk -F= '$1 == "test_acc" { exit !($2 >= 0.05) }' "$tmp/low.eval"
check $? "--target-acc 0.05: ends at the first evaluation (step 3, test acc $(sed -n 's/^test_acc=//p' "$tmp/low.eval")), target_reached true, target_step 3"
cp "$tmp/low/checkpoint.h5" "$tmp/low_before.h5"
"$bin" "${target[@]}" --target-acc 0.05 --out "$tmp/low" --resume "$tmp/low" >"$tmp/low2.out" 2>&1
check $? "--resume of a run ended by its target"
fields eval "$tmp/low/metrics.jsonl" >"$tmp/low2.eval"
fields final "$tmp/low/metrics.jsonl" >"$tmp/low2.final"
grep -q "trained 3 steps" "$tmp/low2.out" && ! grep -q "^epoch " "$tmp/low2.out" &&
  grep -qx 'count=1' "$tmp/low2.eval" && grep -qx 'count=1' "$tmp/low2.final" &&
  grep -qx 'steps=3' "$tmp/low2.final" && grep -qx 'target_reached=true' "$tmp/low2.final" &&
  grep -qx 'target_step=3' "$tmp/low2.final" &&
  "$py" "$same" "$tmp/low_before.h5" "$tmp/low/checkpoint.h5" >/dev/null
check $? "the resumed target run ends at once: no step, the same weights, one eval and one final record (target_step 3)"
cp "$tmp/low/checkpoint.h5" "$tmp/low_before3.h5"
"$bin" "${target[@]}" --target-acc 0.5 --out "$tmp/low" --resume "$tmp/low" >"$tmp/low3.out" 2>"$tmp/low3.err"
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$tmp/low3.err")" -eq 1 ] && grep -q -- "--target-acc 0.05, this run asks for 0.5" "$tmp/low3.err" &&
  cmp -s "$tmp/low_before3.h5" "$tmp/low/checkpoint.h5"
check $? "resuming it with another --target-acc is refused: one line ($(cat "$tmp/low3.err")), the checkpoint kept"
"$bin" "${target[@]}" --target-acc 0.999 --out "$tmp/high" >"$tmp/high.out" 2>&1
check $? "--target-acc 0.999 ran"
fields final "$tmp/high/metrics.jsonl" >"$tmp/high.final"
grep -qx 'steps=12' "$tmp/high.final" && grep -qx 'epochs=2' "$tmp/high.final" &&
  grep -qx 'target_reached=false' "$tmp/high.final" && grep -qx 'target_acc=0.999' "$tmp/high.final" &&
  ! grep -q '^target_step=' "$tmp/high.final" && [ "$(grep -c '"eval": true' "$tmp/high/metrics.jsonl")" -eq 4 ]
check $? "--target-acc 0.999: all 12 steps and 2 epochs, target_reached false"

[ $fail -eq 0 ] && echo "resume_state_test: all passed"
exit $fail
