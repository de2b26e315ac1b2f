#!/usr/bin/env bash
# Checkpoints that resume exactly (CPU backend, same ranks and threads): a run interrupted by
# --max-steps, by kill -9 after a --checkpoint-every checkpoint, or by SIGUSR1 (mpirun
# forwards it) and then resumed ends with bit-identical parameters and momentum, and the
# same per-epoch metrics, as the uninterrupted run; the run directory (--out) holds the
# resolved config, the log and metrics.jsonl; bad resumptions are refused.
# usage: resume_test.sh GNET_DIST PYTHON SAME_WEIGHTS_PY
set -u
bin=$1 py=$2 same=$3
source "$(dirname "$0")/lib.sh"

if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  data=(--idx /usr/share/datasets/fashion-mnist --train-limit 512 --test-limit 256)
else
  data=(--synthetic 512)
fi
# Momentum, weight decay, warmup and a cosine schedule: every piece of state must survive.
common=("${data[@]}" --batch-size 16 --epochs 2 --lr 0.05 --momentum 0.9 --weight-decay 1e-4
        --lr-schedule cosine --warmup-epochs 1 --threads 1 --seed 5)

# The same per-epoch numbers (loss, accuracies, step) in two metrics.jsonl, one final record.
same_metrics() {
  "$py" - "$1" "$2" <<'PY'
import json, sys
def load(p):
    recs = [json.loads(l) for l in open(p)]
    epochs = [(r["epoch"], r["step"], r["loss"], r["train_acc"], r["test_acc"]) for r in recs if "epoch" in r]
    return epochs, sum(1 for r in recs if r.get("final"))
a, b = load(sys.argv[1]), load(sys.argv[2])
sys.exit(0 if a == b and a[1] == 1 and len(a[0]) == 2 else print(a, b) or 1)
PY
}

"$bin" "${common[@]}" --out "$tmp/straight" >"$tmp/straight.out" 2>&1
check $? "uninterrupted run"
for f in config.ini log.txt metrics.jsonl checkpoint.h5; do
  [ -s "$tmp/straight/$f" ]; check $? "--out holds $f"
done
"$bin" --config "$tmp/straight/config.ini" --dry-run >/dev/null 2>&1
check $? "config.ini reads back with --config"

# (1) --max-steps mid-epoch, then --resume DIR
"$bin" "${common[@]}" --out "$tmp/steps" --max-steps 21 >"$tmp/steps.out" 2>&1
check $? "run to --max-steps 21"
"$bin" "${common[@]}" --out "$tmp/steps" --resume "$tmp/steps" >"$tmp/steps2.out" 2>&1
check $? "resume after --max-steps"
grep -q "resumed $tmp/steps: epoch 1 after its step 21 (step 21 in all)" "$tmp/steps/log.txt"
check $? "the log says where it resumed"
"$py" "$same" "$tmp/straight/checkpoint.h5" "$tmp/steps/checkpoint.h5" >"$tmp/cmp1" 2>&1
check $? "max-steps + resume == uninterrupted, bitwise ($(cat "$tmp/cmp1"))"
same_metrics "$tmp/straight/metrics.jsonl" "$tmp/steps/metrics.jsonl"
check $? "max-steps + resume: the same epoch records"

# (2) kill -9 after the first --checkpoint-every checkpoint, then resume from it
"$bin" "${common[@]}" --out "$tmp/kill" --checkpoint-every 10 >"$tmp/kill.out" 2>&1 &
pid=$!
# Up to 120 s for the first checkpoint: a sanitizer build on a loaded machine had none by 15 s.
for _ in $(seq 2400); do [ -f "$tmp/kill/checkpoint.h5" ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
[ -f "$tmp/kill/checkpoint.h5" ]; check $? "a checkpoint within 120 s of the start (--checkpoint-every 10)"
ls "$tmp/kill"/*.tmp.* >/dev/null 2>&1
[ $? -ne 0 ]; check $? "no temporary file left by the killed run"
"$bin" "${common[@]}" --out "$tmp/kill" --resume "$tmp/kill/checkpoint.h5" >"$tmp/kill2.out" 2>&1
check $? "resume after kill -9"
"$py" "$same" "$tmp/straight/checkpoint.h5" "$tmp/kill/checkpoint.h5" >"$tmp/cmp2" 2>&1
check $? "kill -9 + resume == uninterrupted, bitwise ($(cat "$tmp/cmp2"))"

# (3) SIGUSR1 mid-epoch: the step finishes, the state is saved, exit code 3
usr1_run() { # DIR LAUNCHER...: starts the run, signals it at 30% of epoch 1, waits
  local dir=$1; shift
  "$@" "$bin" "${common[@]}" --out "$dir" >"$dir.out" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do grep -q " 30% " "$dir.out" 2>/dev/null && break; sleep 0.05; done
  kill -USR1 $pid
  wait $pid
}
usr1_run "$tmp/usr1"
[ $? -eq 3 ]; check $? "SIGUSR1: exit code 3"
grep -q "stopped by SIGUSR1 in epoch 1" "$tmp/usr1/log.txt"; check $? "SIGUSR1: the log says so"
"$bin" "${common[@]}" --out "$tmp/usr1" --resume "$tmp/usr1" >"$tmp/usr1b.out" 2>&1
check $? "resume after SIGUSR1"
"$py" "$same" "$tmp/straight/checkpoint.h5" "$tmp/usr1/checkpoint.h5" >"$tmp/cmp3" 2>&1
check $? "SIGUSR1 + resume == uninterrupted, bitwise ($(cat "$tmp/cmp3"))"
same_metrics "$tmp/straight/metrics.jsonl" "$tmp/usr1/metrics.jsonl"
check $? "SIGUSR1 + resume: the same epoch records"

# (4) two ranks: mpirun forwards SIGUSR1 to both; resumed on two ranks == two ranks straight
mpirun --timeout 300 -np 2 "$bin" "${common[@]}" --out "$tmp/np2" >"$tmp/np2.out" 2>&1
check $? "np 2 uninterrupted"
usr1_run "$tmp/np2u" mpirun --timeout 300 -np 2
[ $? -eq 3 ]; check $? "np 2 SIGUSR1: exit code 3"
cp -r "$tmp/np2u" "$tmp/np2to1"
mpirun --timeout 300 -np 2 "$bin" "${common[@]}" --out "$tmp/np2u" --resume "$tmp/np2u" >"$tmp/np2u2.out" 2>&1
check $? "np 2 resume"
# (4b) the way to continue on fewer (or more) GPUs: stopped on two ranks, resumed on one. The
# batches do not depend on the rank count, so the run continues where it stopped with the
# same samples; only the summation order differs, so the numbers agree closely, not bitwise.
"$bin" "${common[@]}" --out "$tmp/np2to1" --resume "$tmp/np2to1" >"$tmp/np2to1.out" 2>&1
check $? "stopped on 2 ranks, resumed on 1"
"$py" - "$tmp/np2/metrics.jsonl" "$tmp/np2to1/metrics.jsonl" <<'PY'
import json, sys
def epochs(p):
    return [r for r in map(json.loads, open(p)) if "epoch" in r and "eval" not in r]
a, b = epochs(sys.argv[1]), epochs(sys.argv[2])
ok = [r["step"] for r in a] == [r["step"] for r in b] and all(
    abs(x["loss"] - y["loss"]) <= 1e-3 * abs(x["loss"]) and abs(x["test_acc"] - y["test_acc"]) <= 0.02
    for x, y in zip(a, b))
print("2 ranks straight:", [(r["step"], round(r["loss"], 6), r["test_acc"]) for r in a])
print("2 ranks, then 1:", [(r["step"], round(r["loss"], 6), r["test_acc"]) for r in b])
sys.exit(0 if ok and len(a) == 2 else 1)
PY
check $? "... the same steps, epoch losses within 1e-3 (relative) and test acc within 0.02 of the 2-rank run"
"$py" "$same" "$tmp/np2/checkpoint.h5" "$tmp/np2u/checkpoint.h5" >"$tmp/cmp4" 2>&1
check $? "np 2: SIGUSR1 + resume == uninterrupted, bitwise ($(cat "$tmp/cmp4"))"

# (5) refusals, each naming what is wrong, exit 1, nothing written
"$bin" "${common[@]}" --out "$tmp/straight" >"$tmp/r1.out" 2>&1
[ $? -ne 0 ] && grep -q "already holds a run" "$tmp/r1.out"; check $? "--out over a finished run is refused"
"$bin" "${common[@]/16/32}" --resume "$tmp/straight" >"$tmp/r2.out" 2>&1
[ $? -ne 0 ] && grep -q "trained with --batch-size 16, this run asks for 32" "$tmp/r2.out"
check $? "--resume with another --batch-size is refused"
# A refused resume changes nothing in the run directory: config.ini keeps the options the run
# was made with (repeating the run from it would repeat the refused ones), log.txt and
# metrics.jsonl are not appended to, the checkpoint stays.
cp -r "$tmp/straight" "$tmp/straight.before"
for refusal in "--batch-size 16, this run asks for 32" "--seed 5, this run asks for 6" \
               "--label-smoothing 0, this run asks for 0.1" "$tmp/nothing"; do
  case $refusal in
    --batch*) args=("${common[@]/16/32}" --resume "$tmp/straight") ;;
    --seed*) args=("${common[@]}" --seed 6 --resume "$tmp/straight") ;;
    --label*) args=("${common[@]}" --label-smoothing 0.1 --resume "$tmp/straight") ;;
    *) args=("${common[@]}" --resume "$tmp/nothing") ;;
  esac
  "$bin" "${args[@]}" --out "$tmp/straight" --epochs 3 >"$tmp/r5.out" 2>&1
  rc=$?
  [ $rc -eq 1 ] && grep -qF -- "$refusal" "$tmp/r5.out" && diff -r "$tmp/straight" "$tmp/straight.before" >/dev/null
  check $? "--out DIR --resume with '$refusal': refused (rc $rc), DIR unchanged"
done
"$bin" "${common[@]}" --resume "$tmp/nothing" >"$tmp/r3.out" 2>&1
[ $? -ne 0 ] && grep -q "$tmp/nothing" "$tmp/r3.out"; check $? "--resume of a missing file is refused, naming it"
"$bin" "${common[@]}" --checkpoint-every 5 >"$tmp/r4.out" 2>&1
[ $? -eq 2 ] && grep -q "give --out DIR or --save FILE" "$tmp/r4.out"; check $? "--checkpoint-every without a destination is refused"

[ $fail -eq 0 ] && echo "resume_test: all passed"
exit $fail
