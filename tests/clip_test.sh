#!/usr/bin/env bash
# Gradient clipping against PyTorch (tests/ref/clip_ref.py): three steps of global batch 8 on
# training rows 0..23 (--no-shuffle --train-limit 24, one epoch) from the same initial weights,
# SGD with momentum 0.9, weight decay 5e-4, lr 0.5, with --clip-norm 0.1 (torch's
# clip_grad_norm_) and with --clip agc (lambda 0.01, NFNets' AGC, the classifier unclipped).
# The reference exits 1 unless clipping acted at every step (the coefficient < 1, units
# clipped > 0), and gnet's step-1 line must report the units torch clipped. gnet's update
# must equal torch's within 1e-5 (compare_updates.py) on 1, 2 and 4 ranks, and the 2- and
# 4-rank updates one rank's within 1e-4 (dist_test.sh's tolerance). Negative controls at
# the same tolerance: torch without clipping, and torch AGC that also clips the classifier.
# Resumption: --max-steps 1, then --resume, equals the uninterrupted run bit for bit (both
# rules); resuming with another clipping is refused in one line naming the options.
# usage: clip_test.sh GNET_DIST PYTHON REF_DIR
set -u
bin=$1 py=$2 ref=$3
source "$(dirname "$0")/lib.sh"
need_idx

common=(--idx "$idx" --train-limit 24 --test-limit 8 --batch-size 8 --threads 1 --no-shuffle
        --no-progress --epochs 1)
hyper=(--momentum 0.9 --weight-decay 5e-4 --lr 0.5)
"$bin" "${common[@]}" --lr 0 --max-steps 1 --seed 5 --save "$tmp/init.h5" >/dev/null
check $? "initial weights"

refargs=(--ckpt "$tmp/init.h5" --idx "$idx" --batch 8 --steps 3 "${hyper[@]}")
"$py" "$ref/clip_ref.py" "${refargs[@]}" --clip-norm 0.1 --out "$tmp/torch_norm.h5" >"$tmp/ref_norm" &&
  "$py" "$ref/clip_ref.py" "${refargs[@]}" --agc 0.01 --out "$tmp/torch_agc.h5" >"$tmp/ref_agc" &&
  "$py" "$ref/clip_ref.py" "${refargs[@]}" --agc 0.01 --agc-classifier --out "$tmp/torch_agc_all.h5" >/dev/null &&
  "$py" "$ref/clip_ref.py" "${refargs[@]}" --no-clip --out "$tmp/torch_none.h5" >/dev/null
check $? "torch references, clipping at every step: $(tr '\n' ';' <"$tmp/ref_norm") $(tr '\n' ';' <"$tmp/ref_agc")"

same() { # NAME REF TOL: the update of NAME equals REF's within TOL
  "$py" "$ref/compare_updates.py" "$tmp/init.h5" "$tmp/$1.h5" "$tmp/$2.h5" --tol "$3" >"$tmp/cmp" 2>&1
  local rc=$?
  echo "   $(cat "$tmp/cmp")"
  return $rc
}
for rule in norm agc; do
  opts=(--clip-norm 0.1); [ $rule = agc ] && opts=(--clip agc)
  for np in 1 2 4; do
    timeout 120 mpirun -np $np "$bin" "${common[@]}" "${hyper[@]}" "${opts[@]}" --init "$tmp/init.h5" \
      --save "$tmp/${rule}_np$np.h5" >"$tmp/${rule}_np$np.log" 2>&1
    check $? "gnet ${opts[*]} on $np rank(s) ran"
    same "${rule}_np$np" "torch_$rule" 1e-5; check $? "${opts[*]}, $np rank(s) == torch within 1e-5"
  done
  for np in 2 4; do
    same "${rule}_np$np" "${rule}_np1" 1e-4; check $? "${opts[*]}: $np ranks == 1 rank within 1e-4"
  done
  ! same "${rule}_np1" torch_none 1e-5; check $? "negative control: ${opts[*]} differs from torch unclipped"
done
units=$(sed -n 's/^clip_ref: step 1: \([0-9]*\) of.*/\1/p' "$tmp/ref_agc")
grep -q -- "--clip agc at step 1: $units of 7337 units clipped" "$tmp/agc_np1.log"
check $? "gnet clipped torch's $units units at step 1: $(grep -- '--clip agc at step 1' "$tmp/agc_np1.log")"
! same agc_np1 torch_agc_all 1e-5; check $? "negative control: torch AGC clipping the classifier too differs"

# Resumption: bit for bit, and refused with another clipping.
for rule in norm agc; do
  opts=(--clip-norm 0.1); [ $rule = agc ] && opts=(--clip agc)
  run=("$bin" "${common[@]}" "${hyper[@]}" --seed 5 "${opts[@]}")
  "${run[@]}" --out "$tmp/straight_$rule" >/dev/null 2>&1 &&
    "${run[@]}" --out "$tmp/resumed_$rule" --max-steps 1 >/dev/null 2>&1 &&
    "${run[@]}" --out "$tmp/resumed_$rule" --resume "$tmp/resumed_$rule" >/dev/null 2>&1 &&
    "$py" "$ref/same_weights.py" "$tmp/straight_$rule/checkpoint.h5" "$tmp/resumed_$rule/checkpoint.h5" >"$tmp/cmp" 2>&1
  check $? "${opts[*]}: --max-steps 1 + --resume == uninterrupted, bitwise ($(cat "$tmp/cmp"))"
done
"$bin" "${common[@]}" "${hyper[@]}" --seed 5 --clip-norm 0.2 --out "$tmp/resumed_agc" --resume "$tmp/resumed_agc" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
  grep -q -- "trained with --clip agc --agc-lambda 0.01, this run asks for --clip-norm 0.2" "$tmp/err"
check $? "resuming an AGC run with --clip-norm 0.2 refused (rc $rc): $(cat "$tmp/err")"
"$bin" "${common[@]}" "${hyper[@]}" --seed 5 --out "$tmp/resumed_norm" --resume "$tmp/resumed_norm" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && grep -q -- "trained with --clip-norm 0.1, this run asks for --clip none" "$tmp/err"
check $? "resuming a --clip-norm run without clipping refused (rc $rc): $(cat "$tmp/err")"

[ $fail -eq 0 ] && echo "clip_test: all passed"
exit $fail
