#!/usr/bin/env bash
# --noise-scale against PyTorch (tests/ref/noise_ref.py): one step of global batch 4 from the
# same initial weights on training rows 0..3 (--no-shuffle --train-limit 4), with the batch
# split into micro-batches of ONE row in three layouts (1 rank x --accum-steps 4, 2 ranks x
# accum 2 with and without --no-overlap, 4 ranks x accum 1) and of two rows in two (1 rank x accum 2: rows {0,1},{2,3};
# 2 ranks: rank 0 holds rows {0,2}, rank 1 {1,3}, sampler.h). The step-1 eval record's
# gns_trace and gns_g2 must equal the estimates from the per-example gradients (for b = 1:
# the unbiased sample variance trace sum|g_i - G|^2/3 and |G|^2 - trace/4), within the
# tolerances noise_ref.py justifies (1e-5 relative for the trace, that times g2's condition
# number for g2). Negative controls must fail: the reference scaled by 1.001 (told apart by
# the trace and by g2 each), b = 2's grouping against a b = 1 run, b = 1's against a b = 2
# run. One rank without accumulation: the "no second batch size" line once, no gns field in
# any record.
# usage: noise_test.sh GNET_DIST PYTHON NOISE_REF_PY
set -u
bin=$1 py=$2 ref=$3
source "$(dirname "$0")/lib.sh"
need_idx

common=(--idx "$idx" --train-limit 4 --test-limit 8 --batch-size 4 --threads 1 --no-shuffle
        --no-progress --epochs 1 --lr 0.05)
# The initial weights (seed 3's init; lr 0 leaves them as they are).
"$bin" "${common[@]}" --lr 0 --max-steps 1 --seed 3 --save "$tmp/init.h5" >/dev/null
check $? "initial weights"

run() { # NAME NP ACCUM [EXTRA]
  timeout 120 mpirun -np "$2" "$bin" "${common[@]}" --init "$tmp/init.h5" --max-steps 1 --eval-every 1 \
    --noise-scale --accum-steps "$3" ${4:-} --out "$tmp/$1" >"$tmp/$1.log" 2>&1
  check $? "np $2 x accum $3 ${4:+$4 }ran"
}
run b1_np1 1 4
run b1_np2 2 2
run b1_np2_seq 2 2 --no-overlap
run b1_np4 4 1
run b2_np1 1 2
run b2_np2 2 1

"$py" "$ref" --ckpt "$tmp/init.h5" --idx "$idx" --rows 4 --tol 1e-5 \
  --check "$tmp/b1_np1/metrics.jsonl" "0|1|2|3" \
  --check "$tmp/b1_np2/metrics.jsonl" "0|1|2|3" \
  --check "$tmp/b1_np2_seq/metrics.jsonl" "0|1|2|3" \
  --check "$tmp/b1_np4/metrics.jsonl" "0|1|2|3" \
  --check "$tmp/b2_np1/metrics.jsonl" "01|23" \
  --check "$tmp/b2_np2/metrics.jsonl" "02|13" \
  --mismatch "$tmp/b1_np1/metrics.jsonl" "0|1|2|3" 1.001 \
  --mismatch "$tmp/b1_np4/metrics.jsonl" "01|23" 1 \
  --mismatch "$tmp/b2_np2/metrics.jsonl" "0|1|2|3" 1
check $? "gns_trace and gns_g2 equal PyTorch's per-example estimates; the negative controls fail"

# One rank, no accumulation: nothing to compare, said once, nothing recorded.
"$bin" "${common[@]}" --init "$tmp/init.h5" --max-steps 1 --eval-every 1 --noise-scale \
  --out "$tmp/plain" >"$tmp/plain.log" 2>&1
check $? "np 1 without --accum-steps ran"
[ "$(grep -c 'no second batch size' "$tmp/plain.log")" -eq 1 ] && grep -q 'no second batch size' "$tmp/plain/log.txt"
check $? "np 1 without accumulation says so once: $(grep -m1 'no second batch' "$tmp/plain.log")"
[ "$(grep -c '"eval": true' "$tmp/plain/metrics.jsonl")" -eq 1 ] && ! grep -q 'gns_\|b_simple' "$tmp/plain/metrics.jsonl"
check $? "np 1 without accumulation: an eval record, no gns field in metrics.jsonl"

[ $fail -eq 0 ] && echo "noise_test: all passed"
exit $fail
