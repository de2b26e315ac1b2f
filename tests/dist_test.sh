#!/usr/bin/env bash
# Distributed data parallel on CPU ranks (mpirun, oversubscribed on a small machine):
#  A. after 5 steps of global batch 32 over 4 shards, the weights of -np 2 and -np 4 (with
#     and without overlap) and of -np 2 --accum-steps 2 equal one process's (the rank counts
#     also with shuffling off);
#  B. the test accuracy rank 0 prints equals a single-rank --eval of the saved weights;
#  C. replicas start identical even when the ranks' seeds differ (broadcast);
#  D. kill -9 of one rank mid-epoch ends every process within 30 s, non-zero exit;
#  E. a rank that cannot open its shard stops all ranks with that rank's error;
#  F. a global batch not divisible by the ranks is refused.
# usage: dist_test.sh GNET_DIST GNET_PREPARE COMPARE_UPDATES_PY
set -u
dist=$1 prepare=$2 compare=$3
py=${GNET_PYTHON:-/usr/bin/python3}
source "$(dirname "$0")/lib.sh"
mpi() { local np=$1; shift; timeout 120 mpirun -np "$np" "$@"; }

# The first 1,282 training and 321 test images of the real Fashion-MNIST as IDX files -> 4
# prepared shards. (Real images: on random noise an untrained net sits so close to ReLU
# decision boundaries that float32 summation order alone moves the update by ~1e-4.)
need_idx
real=$idx
"$py" - "$real" "$tmp/idx" <<'PY'
import gzip, os, struct, sys
src, d = sys.argv[1], sys.argv[2]
os.makedirs(d)
for name, n in (("train", 1282), ("t10k", 321)):
    img = gzip.open(f"{src}/{name}-images-idx3-ubyte.gz").read()[16:16 + n * 784]
    lab = gzip.open(f"{src}/{name}-labels-idx1-ubyte.gz").read()[8:8 + n]
    with gzip.open(f"{d}/{name}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + img)
    with gzip.open(f"{d}/{name}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + lab)
PY
"$prepare" --src "$tmp/idx" --out "$tmp/data" --shards 4 --seed 3 >/dev/null || { echo "FAIL: gnet_prepare"; exit 1; }

# Plain SGD, as the reference trains. (With momentum 0.9, an early ReLU flip caused by float32
# summation order is amplified over the 5 steps to ~1e-3 of the update on some batches;
# momentum's arithmetic itself is checked against PyTorch in vs_pytorch_*.)
common=(--data "$tmp/data" --batch-size 32 --lr 0.05 --threads 1 --seed 11 --epochs 1)
# A: the initial weights (lr 0 leaves them unchanged), then the runs to compare.
mpi 1 "$dist" "${common[@]}" --lr 0 --max-steps 1 --save "$tmp/init.h5" >/dev/null
for shuffle in "" "--no-shuffle"; do
  tag=${shuffle:+noshuf}; tag=${tag:-shuf}
  mpi 1 "$dist" "${common[@]}" $shuffle --max-steps 5 --save "$tmp/np1_$tag.h5" >/dev/null
  check $? "np 1 ($tag)"
  # Overlap and accumulation do not depend on the order of the rows: with file order, the
  # rank counts alone.
  cfgs=("2" "4")
  [ -z "$shuffle" ] && cfgs+=("2 --no-overlap" "4 --no-overlap" "2 --accum-steps 2" "1 --accum-steps 4")
  for cfg in "${cfgs[@]}"; do
    read -r np extra <<<"$cfg"
    out="$tmp/np${np}_${tag}_${extra// /}.h5"
    mpi "$np" "$dist" "${common[@]}" $shuffle $extra --max-steps 5 --save "$out" >/dev/null
    check $? "np $np $extra ($tag) ran"
    "$py" "$compare" "$tmp/init.h5" "$out" "$tmp/np1_$tag.h5" --tol 1e-4
    check $? "np $np $extra ($tag) equals np 1"
  done
done

# B: epoch metrics of a 2-rank run vs a single-rank evaluation of its weights.
mpi 2 "$dist" "${common[@]}" --save "$tmp/b.h5" >"$tmp/b.log"
check $? "np 2 one epoch"
acc2=$(sed -n 's/.*test acc \([0-9.]*\),.*/\1/p' "$tmp/b.log")
grep -q "on cpu (2 ranks)" "$tmp/b.log"; check $? "epoch line says 'on cpu (2 ranks)'"
acc1=$(mpi 1 "$dist" --data "$tmp/data" --batch-size 32 --threads 1 --eval "$tmp/b.h5" | sed -n 's/.*test acc \([0-9.]*\) on.*/\1/p')
awk -v a="$acc2" -v b="$acc1" 'BEGIN { exit !(a != "" && b != "" && a - b < 0.0006 && b - a < 0.0006) }'
check $? "test acc of np 2 ($acc2) equals single-rank eval ($acc1)"

# C: different seeds per rank (MPMD); the replica check after the broadcast must pass.
timeout 120 mpirun -np 1 "$dist" "${common[@]}" --seed 1 --lr 0 --max-steps 1 : \
  -np 1 "$dist" "${common[@]}" --seed 2 --lr 0 --max-steps 1 >"$tmp/c.log" 2>&1
check $? "ranks with different seeds start from identical weights"

# D: kill -9 one rank mid-epoch.
timeout 120 mpirun -np 4 "$dist" --synthetic 200000 --batch-size 64 --threads 1 --epochs 100 \
  >"$tmp/d.log" 2>&1 &
job=$!
sleep 4
# (anchored: the rank processes, not the timeout/mpirun lines that also name gnet_dist)
victim=$(pgrep -f "^[^ ]*gnet_dist --synthetic 200000" | sed -n 2p)
start=$(date +%s)
[ -n "$victim" ] && kill -9 "$victim"
wait $job; rc=$?
took=$(( $(date +%s) - start ))
[ -n "$victim" ] && [ $rc -ne 0 ] && [ $took -le 30 ] && ! pgrep -f "^[^ ]*gnet_dist --synthetic 200000" >/dev/null
check $? "kill -9 of rank pid $victim: job ended in ${took}s with rc $rc"

# E: rank 2's shard is missing.
cp -r "$tmp/data" "$tmp/broken"
rm "$tmp/broken/train-00002-of-00004.h5"
start=$(date +%s)
mpi 4 "$dist" --data "$tmp/broken" --batch-size 32 --threads 1 --epochs 1 >"$tmp/e.out" 2>"$tmp/e.err"
rc=$?
took=$(( $(date +%s) - start ))
[ $rc -ne 0 ] && [ $took -le 30 ] && grep -q "\[rank 2\].*train-00002-of-00004.h5" "$tmp/e.err"
check $? "missing shard of rank 2 stops the job (rc $rc, ${took}s): $(grep -m1 'rank 2' "$tmp/e.err")"
# A failure every rank agreed on ends with MPI_Finalize and exit code 1 on every rank, not
# MPI_Abort: no abort banner (nor ORTE_ERROR_LOG) after gnet's line; with mpirun -q (which
# drops mpirun's own report of a non-zero exit) exactly gnet's one line, the same each time.
mpi 4 "$dist" --data "$tmp/broken" --batch-size 32 --threads 1 --epochs 1 >"$tmp/e0.out" 2>&1
rc0=$?
for i in 1 2 3; do
  timeout 120 mpirun -q -np 4 "$dist" --data "$tmp/broken" --batch-size 32 --threads 1 --epochs 1 >"$tmp/e$i.out" 2>&1
  echo "rc=$?" >>"$tmp/e$i.out"
done
[ $rc0 -eq 1 ] && ! grep -q 'MPI_ABORT\|ORTE_ERROR_LOG' "$tmp/e0.out" && [ "$(wc -l <"$tmp/e1.out")" -eq 2 ] &&
  grep -qx 'rc=1' "$tmp/e1.out" && cmp -s "$tmp/e1.out" "$tmp/e2.out" && cmp -s "$tmp/e1.out" "$tmp/e3.out"
check $? "an agreed start-up failure: exit 1, no MPI abort banner; with mpirun -q one line, the same three times"

# F: batch not divisible by the ranks.
mpi 4 "$dist" --data "$tmp/data" --batch-size 30 --threads 1 >/dev/null 2>"$tmp/f.err"
rc=$?
[ $rc -ne 0 ] && [ "$(grep -c 'not divisible' "$tmp/f.err")" -eq 1 ]
check $? "batch 30 on 4 ranks refused: $(head -n1 "$tmp/f.err")"

[ $fail -eq 0 ] && echo "dist_test: all passed"
exit $fail
