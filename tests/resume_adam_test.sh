#!/usr/bin/env bash
# Resumption of --optimizer adamw and lamb: their exp_avg and exp_avg_sq (checkpoint groups
# /exp_avg, /exp_avg_sq) and the step count of the bias corrections. One rank, 48 rows in
# batches of 16 (3 steps an epoch), 2 epochs, weight decay 0.01: stopped by --max-steps 4
# (mid epoch 1) and resumed, the final checkpoint equals the uninterrupted run's bit for bit
# (parameters and both moments). Refused, with one error line naming the option and the run
# directory untouched: the AdamW checkpoint resumed with --optimizer lamb, with
# --optimizer sgd, and with another --adam-beta1, --adam-beta2 or --adam-eps.
# usage: resume_adam_test.sh GNET_DIST PYTHON SAME_WEIGHTS_PY
set -u
bin=$1 py=$2 same=$3
source "$(dirname "$0")/lib.sh"
need_idx

base=(--idx "$idx" --train-limit 48 --test-limit 32 --batch-size 16 --epochs 2 --threads 1
      --seed 5 --no-progress --weight-decay 0.01)
for opt in adamw lamb; do
  lr=0.001; [ $opt = lamb ] && lr=0.01
  args=("${base[@]}" --optimizer $opt --lr $lr)
  "$bin" "${args[@]}" --out "$tmp/$opt" >"$tmp/$opt.out" 2>&1
  check $? "$opt uninterrupted"
  "$bin" "${args[@]}" --out "$tmp/${opt}_cut" --max-steps 4 >"$tmp/${opt}_cut.out" 2>&1
  check $? "$opt to --max-steps 4"
  "$bin" "${args[@]}" --out "$tmp/${opt}_cut" --resume "$tmp/${opt}_cut" >"$tmp/${opt}_res.out" 2>&1
  check $? "$opt resumed"
  "$py" "$same" "$tmp/$opt/checkpoint.h5" "$tmp/${opt}_cut/checkpoint.h5" >"$tmp/cmp" 2>&1
  check $? "$opt: max-steps 4 + resume == uninterrupted, bitwise ($(cat "$tmp/cmp"))"
done
"$py" -c "import h5py,sys; f=h5py.File(sys.argv[1]); sys.exit(not ('exp_avg' in f and 'exp_avg_sq' in f and 'optimizer' not in f))" "$tmp/adamw/checkpoint.h5"
check $? "the AdamW checkpoint holds /exp_avg and /exp_avg_sq"

cp "$tmp/adamw/checkpoint.h5" "$tmp/before.h5"
refused() { # NEEDLE EXTRA...: resuming the AdamW run with EXTRA is refused naming NEEDLE
  local needle=$1; shift
  "$bin" "${base[@]}" --optimizer adamw --lr 0.001 "$@" --out "$tmp/adamw" --resume "$tmp/adamw" \
    >"$tmp/r.out" 2>"$tmp/r.err"
  local rc=$?
  [ $rc -ne 0 ] && [ "$(wc -l <"$tmp/r.err")" -eq 1 ] && grep -q -- "$needle" "$tmp/r.err" &&
    cmp -s "$tmp/before.h5" "$tmp/adamw/checkpoint.h5"
  check $? "resume with $* refused (rc $rc): $(cat "$tmp/r.err")"
}
refused "--optimizer adamw, this run asks for lamb" --optimizer lamb
refused "--optimizer adamw, this run asks for sgd" --optimizer sgd
refused "--adam-beta1 0.9, this run asks for 0.8" --adam-beta1 0.8
refused "--adam-beta2 0.999, this run asks for 0.99" --adam-beta2 0.99
refused "--adam-eps 1e-08, this run asks for 1e-06" --adam-eps 1e-6

[ $fail -eq 0 ] && echo "resume_adam_test: all passed"
exit $fail
