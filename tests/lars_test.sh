#!/usr/bin/env bash
# --optimizer lars against PyTorch (tests/ref/lars_ref.py: Lightning Bolts' LARS restated in
# torch, float32): two steps of global batch 8 on training rows 0..15 (--no-shuffle
# --train-limit 16, one epoch) from the same initial weights, momentum 0.9, weight decay 5e-4,
# eta 0.001, lr 0.5. gnet's update must equal torch's within 1e-5 (compare_updates.py: L2 of
# the update difference / L2 of torch's update) on 1 rank, 2 ranks, 1 rank --accum-steps 2,
# 2 ranks x accum 2, and with --nesterov. Negative controls that must fail at the same
# tolerance: gnet against a torch LARS that also scales the biases (1-D tensors), and gnet's
# Nesterov run against the plain-momentum reference.
# (Init seed 5: with seed 3 an element of one ReLU input in block 4 sits at 2.4e-7 of its
# layer's RMS after step 1 and flips between float32 summation orders, moving the second
# update by 1.2e-3; lars_ref.py prints the smallest such margin of the chosen weights.)
# usage: lars_test.sh GNET_DIST PYTHON REF_DIR
set -u
bin=$1 py=$2 ref=$3
source "$(dirname "$0")/lib.sh"
need_idx

common=(--idx "$idx" --train-limit 16 --test-limit 8 --batch-size 8 --threads 1 --no-shuffle
        --no-progress --epochs 1)
hyper=(--momentum 0.9 --weight-decay 5e-4 --lr 0.5)
"$bin" "${common[@]}" --lr 0 --max-steps 1 --seed 5 --save "$tmp/init.h5" >/dev/null
check $? "initial weights"

refargs=(--ckpt "$tmp/init.h5" --idx "$idx" --batch 8 --steps 2 --eta 0.001 "${hyper[@]}")
"$py" "$ref/lars_ref.py" "${refargs[@]}" --out "$tmp/torch.h5" &&
  "$py" "$ref/lars_ref.py" "${refargs[@]}" --nesterov --out "$tmp/torch_nesterov.h5" &&
  "$py" "$ref/lars_ref.py" "${refargs[@]}" --lars-biases --out "$tmp/torch_biases.h5"
check $? "torch references"

run() { # NAME NP EXTRA...
  local name=$1 np=$2; shift 2
  timeout 120 mpirun -np "$np" "$bin" "${common[@]}" "${hyper[@]}" --optimizer lars --lars-eta 0.001 \
    --init "$tmp/init.h5" "$@" --save "$tmp/$name.h5" >"$tmp/$name.log" 2>&1
  check $? "gnet $name ran"
}
same() { # NAME REF: the update of NAME equals REF's within 1e-5
  "$py" "$ref/compare_updates.py" "$tmp/init.h5" "$tmp/$1.h5" "$tmp/$2.h5" --tol 1e-5 >"$tmp/cmp" 2>&1
  local rc=$?
  echo "   $(cat "$tmp/cmp")"
  return $rc
}
run np1 1
run np2 2
run accum2 1 --accum-steps 2
run np2_accum2 2 --accum-steps 2
run nesterov 1 --nesterov
for name in np1 np2 accum2 np2_accum2; do
  same "$name" torch; check $? "LARS $name == torch within 1e-5"
done
same nesterov torch_nesterov; check $? "LARS --nesterov == torch within 1e-5"
! same np1 torch_biases; check $? "negative control: torch with trust ratio on the biases differs"
! same nesterov torch; check $? "negative control: Nesterov vs plain momentum differs"

[ $fail -eq 0 ] && echo "lars_test: all passed"
exit $fail
