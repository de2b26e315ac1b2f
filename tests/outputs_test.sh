#!/usr/bin/env bash
# What a run reports: progress lines within the epoch when stdout is not a terminal (every
# 10%, none with --no-progress), metrics.jsonl records with every documented key, and the
# --trace timeline of two ranks (valid trace-event JSON per rank, every span kind, all-reduce
# spans on their own track that overlap backward); the error paths of --out and --trace, and
# a stop with nowhere to save.
# usage: outputs_test.sh GNET_DIST PYTHON
set -u
bin=$1 py=$2
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if [ "$1" -ne 0 ]; then echo "FAIL: $2"; fail=1; else echo "ok: $2"; fi; }
common=(--synthetic 1280 --batch-size 32 --epochs 2 --threads 1 --test-limit 64)

"$bin" "${common[@]}" --out "$tmp/run" >"$tmp/run.out" 2>&1
check $? "a run with --out"
[ "$(grep -c '^  epoch 1/2: .*% (.*/40 steps), .* img/s, ETA ' "$tmp/run.out")" -eq 9 ]
check $? "nine progress lines in epoch 1 (10% to 90%)"
"$bin" "${common[@]}" --no-progress >"$tmp/quiet.out" 2>&1
! grep -q '^  epoch' "$tmp/quiet.out"; check $? "--no-progress prints none"
"$py" - "$tmp/run/metrics.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
epoch_keys = {"epoch", "epochs", "step", "loss", "train_acc", "test_loss", "test_acc", "img_per_s", "epoch_s",
              "wall_s", "lr", "ranks", "global_batch", "resize", "device"}
final_keys = {"final", "epochs", "steps", "loss", "train_acc", "test_acc", "img_per_s", "wall_s",
              "lr", "ranks", "global_batch", "resize", "device"}
assert [r.get("epoch") for r in recs[:2]] == [1, 2] and recs[2]["final"] is True, recs
assert all(set(r) == epoch_keys for r in recs[:2]) and set(recs[2]) == final_keys, recs
assert recs[1]["step"] == 80 and recs[2]["steps"] == 80 and recs[0]["global_batch"] == 32
assert 0 < recs[0]["wall_s"] < recs[1]["wall_s"] <= recs[2]["wall_s"], recs
PY
check $? "metrics.jsonl: two epoch records and a final one, with every key"

mpirun --timeout 300 -np 2 "$bin" "${common[@]}" --bucket-mb 1 --max-steps 6 --trace "$tmp/t.json" >"$tmp/t.out" 2>&1
check $? "np 2 with --trace"
"$py" - "$tmp/t.json" <<'PY'
import json, sys
for rank in (0, 1):
    events = json.load(open(f"{sys.argv[1]}.{rank}"))["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    names = {e["name"] for e in spans}
    want = {"data wait", "forward", "backward", "all-reduce wait", "optimizer", "all-reduce"}
    assert want <= names, (rank, names)
    assert all(e["pid"] == rank and e["dur"] >= 0 for e in spans)
    ar = [e for e in spans if e["name"] == "all-reduce"]
    assert all(e["tid"] == 1 and e["args"]["floats"] > 0 for e in ar)
    assert len(ar) >= 6 * 10, len(ar)  # 6 steps, buckets of ~1 MB over 23.9 MB
    back = [e for e in spans if e["name"] == "backward"]
    overlap = sum(1 for a in ar for b in back
                  if a["ts"] < b["ts"] + b["dur"] and a["ts"] + a["dur"] > b["ts"])
    assert overlap > 0, "no all-reduce overlaps backward"
PY
check $? "trace: one valid file per rank, every span, all-reduces overlapping backward"

# Error paths of the outputs: each a one-line error naming the path, exit 1
touch "$tmp/afile"
"$bin" "${common[@]}" --max-steps 2 --out "$tmp/afile/run" >"$tmp/e1.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/afile/run" "$tmp/e1.out"; check $? "--out under a regular file: refused, naming it (rc $rc)"
"$bin" "${common[@]}" --max-steps 2 --trace "$tmp/missing/t.json" >"$tmp/e2.out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "$tmp/missing/t.json" "$tmp/e2.out" && [ ! -e "$tmp/missing" ]
check $? "--trace into a missing directory: an error naming it, nothing written (rc $rc)"
# A stop with nowhere to save says so and still exits 3 (the run can only be restarted).
"$bin" --synthetic 60000 --batch-size 32 --epochs 1 --threads 1 >"$tmp/s.out" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q " 10% " "$tmp/s.out" 2>/dev/null && break; sleep 0.05; done
kill -USR1 $pid; wait $pid
rc=$?
[ $rc -eq 3 ] && grep -q "stopped by SIGUSR1 after step [0-9]*; no checkpoint written" "$tmp/s.out"
check $? "SIGUSR1 without --out/--save: exit 3, 'no checkpoint written' (rc $rc)"

[ $fail -eq 0 ] && echo "outputs_test: all passed"
exit $fail
