#!/usr/bin/env bash
# What a run reports: progress lines within the epoch when stdout is not a terminal (every
# 10%, none with --no-progress), metrics.jsonl records with every documented key, and the
# --trace timeline of two ranks (valid trace-event JSON per rank, every span kind, all-reduce
# spans on their own track that overlap backward); the error paths of --out and --trace, and
# a stop with nowhere to save. Then what a refused start leaves behind, which is nothing:
# every check (options, data on every rank, the checkpoint to start from, the --save,
# --trace and --out targets) comes before --out is created; a start that fails after
# creating it removes what it created and nothing else; outputs are only ever new or
# replaced regular files (a FIFO, a device node, a directory or a link to one is refused up
# front, by type, as root too).
# usage: outputs_test.sh GNET_DIST PYTHON GNET_PREPARE
set -u
bin=$1 py=$2 prep=$3
source "$(dirname "$0")/lib.sh"
common=(--synthetic 640 --batch-size 16 --epochs 2 --threads 1 --test-limit 64)

"$bin" "${common[@]}" --out "$tmp/run" >"$tmp/run.out" 2>&1
check $? "a run with --out"
[ "$(grep -c '^  epoch 1/2: .*% (.*/40 steps), .* img/s, ETA ' "$tmp/run.out")" -eq 9 ]
check $? "nine progress lines in epoch 1 (10% to 90%)"
"$bin" "${common[@]}" --no-progress --max-steps 12 >"$tmp/quiet.out" 2>&1
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
assert recs[1]["step"] == 80 and recs[2]["steps"] == 80 and recs[0]["global_batch"] == 16
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
"$bin" --synthetic 6000 --batch-size 32 --epochs 1 --threads 1 >"$tmp/s.out" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q " 10% " "$tmp/s.out" 2>/dev/null && break; sleep 0.05; done
kill -USR1 $pid; wait $pid
rc=$?
[ $rc -eq 3 ] && grep -q "stopped by SIGUSR1 after step [0-9]*; no checkpoint written" "$tmp/s.out"
check $? "SIGUSR1 without --out/--save: exit 3, 'no checkpoint written' (rc $rc)"

# ---- Nothing written before everything is checked --------------------------------------
tiny=(--synthetic 64 --batch-size 16 --epochs 1 --threads 1 --test-limit 16 --no-progress --max-steps 2)
# The run is refused before training with exactly one error line containing NEEDLE, exit 1.
refused() { # NAME NEEDLE ARGS...
  local name=$1 needle=$2; shift 2
  timeout -k 5 120 "$bin" "${tiny[@]}" "$@" >"$tmp/$name.out" 2>&1
  local rc=$?
  [ $rc -eq 1 ] && [ "$(grep -c 'error' "$tmp/$name.out")" -eq 1 ] && grep -qF -- "$needle" "$tmp/$name.out" &&
    ! grep -q '^device:' "$tmp/$name.out" || { echo "  (rc $rc) $(cat "$tmp/$name.out")"; return 1; }
}
empty_dir() { [ -d "$1" ] && [ -z "$(ls -A "$1")" ]; }
"$bin" "${tiny[@]}" --save "$tmp/good.h5" >/dev/null 2>&1; check $? "a checkpoint to start from"
head -c $(($(stat -c %s "$tmp/good.h5") / 3)) "$tmp/good.h5" >"$tmp/cut.h5"

# (1) a damaged checkpoint to start from: no --out directory, not even its parents; one that
# existed before stays (empty)
refused c1 "$tmp/cut.h5" --init "$tmp/cut.h5" --out "$tmp/n1/a/b" --trace "$tmp/n1.json" &&
  [ ! -e "$tmp/n1" ] && [ ! -e "$tmp/n1.json" ]
check $? "--init of a damaged checkpoint: refused, --out and its parents not created, no --trace file"
refused c2 "$tmp/cut.h5" --resume "$tmp/cut.h5" --out "$tmp/n2" && [ ! -e "$tmp/n2" ]
check $? "--resume of a damaged checkpoint: refused, --out not created"
mkdir "$tmp/pre1"
refused c3 "$tmp/cut.h5" --init "$tmp/cut.h5" --out "$tmp/pre1" && empty_dir "$tmp/pre1"
check $? "--init of a damaged checkpoint into an existing empty --out: it stays, empty"
# (1) a start that fails after creating --out (no room for config.ini: a file-size limit of 0;
# the output goes through a pipe, which the limit does not cover) removes what it created
mkdir -p "$tmp/pre2/mine" && echo notes >"$tmp/pre2/notes.txt"
for out in "$tmp/n3/x/y" "$tmp/pre2/x" "$tmp/pre2"; do
  (ulimit -f 0; exec "$bin" "${tiny[@]}" --out "$out") 2>&1 | cat >"$tmp/c4.out"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 1 ] && grep -q "$out/config.ini" "$tmp/c4.out"; check $? "no room for config.ini in --out $out: exit 1, named (rc $rc)"
done
[ ! -e "$tmp/n3" ]; check $? "... the directories it created are gone"
[ "$(cd "$tmp/pre2" && ls -A | tr '\n' ' ')" = "mine notes.txt " ] && [ "$(cat "$tmp/pre2/notes.txt")" = notes ]
check $? "... what was there before stays, untouched ($(ls -A "$tmp/pre2" | tr '\n' ' '))"
# (1) two ranks, rank 1's data missing: the ranks agree on it before rank 0 creates --out
"$py" - "$tmp/idx" <<'PY'
import gzip, os, random, struct, sys
d = sys.argv[1]; os.makedirs(d); random.seed(1)
for name, n in (("train", 64), ("t10k", 32)):
    with gzip.open(f"{d}/{name}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + bytes(random.randrange(256) for _ in range(n * 784)))
    with gzip.open(f"{d}/{name}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(random.randrange(10) for _ in range(n)))
PY
"$prep" --src "$tmp/idx" --out "$tmp/data" --shards 2 >/dev/null && rm "$tmp/data/train-00001-of-00002.h5"
for trial in 1 2 3; do
  mpirun --timeout 120 -np 2 "$bin" --data "$tmp/data" --batch-size 16 --epochs 1 --threads 1 --no-progress \
    --out "$tmp/n4" >"$tmp/c5.out" 2>&1
  rc=$?
  [ $rc -ne 0 ] && grep -q "train-00001-of-00002.h5" "$tmp/c5.out" && [ ! -e "$tmp/n4" ]
  check $? "np 2 with rank 1's shard missing: refused naming it, --out not created (trial $trial, rc $rc)"
done

# (6) outputs are new or regular files: anything else is refused up front, by its type, and
# stays as it was (a device node of our own stands for /dev/null: as root, the permission
# checks of old would have let gnet replace it)
mkfifo "$tmp/fifo" && mkdir "$tmp/adir" && ln -s "$tmp/fifo" "$tmp/to_fifo" && ln -s "$tmp/adir" "$tmp/to_dir"
node=$tmp/fifo
if mknod "$tmp/null" c 1 3 2>/dev/null; then node=$tmp/null; fi
for target in "$tmp/fifo" "$node" "$tmp/adir" "$tmp/to_fifo" "$tmp/to_dir"; do
  kind=$(stat -L -c %F "$target")
  refused c6 "--save $target: is " --save "$target" --out "$tmp/n6" && [ ! -e "$tmp/n6" ]
  check $? "--save onto $(basename "$target") ($kind): refused, --out not created"
  refused c7 "--trace $target: is " --trace "$target"
  check $? "--trace onto $(basename "$target"): refused before training"
done
[ -p "$tmp/fifo" ] && [ -d "$tmp/adir" ] && [ -L "$tmp/to_fifo" ] && { [ "$node" = "$tmp/fifo" ] || [ -c "$node" ]; }
check $? "... each still what it was"
refused c8 "--out $tmp/fifo: $tmp/fifo is a FIFO, not a directory" --out "$tmp/fifo"
check $? "--out onto a FIFO: refused"
for f in config.ini log.txt metrics.jsonl checkpoint.h5; do
  mkdir "$tmp/o-$f" && mkfifo "$tmp/o-$f/$f"
  refused c9 "$tmp/o-$f/$f: is a FIFO" --out "$tmp/o-$f" && [ "$(ls -A "$tmp/o-$f")" = "$f" ] && [ -p "$tmp/o-$f/$f" ]
  check $? "--out whose $f is a FIFO: refused, nothing else created in it"
done
mkdir -p "$tmp/o-link" && ln -s "$node" "$tmp/o-link/metrics.jsonl"
refused c10 "metrics.jsonl: is a symbolic link to a" --out "$tmp/o-link" && [ "$(ls -A "$tmp/o-link")" = metrics.jsonl ]
check $? "--out whose metrics.jsonl links to a device: refused"

# (7) --trace is checked at the start, like --save: a missing directory refuses the run
# before training, before --out is created, and a resumed run's checkpoint and log stay
refused c11 "--trace $tmp/missing/t.json: directory $tmp/missing does not exist" \
  --trace "$tmp/missing/t.json" --out "$tmp/n7" && [ ! -e "$tmp/n7" ] && [ ! -e "$tmp/missing" ]
check $? "--trace into a missing directory: refused before training, --out not created"
"$bin" "${tiny[@]}" --out "$tmp/r7" >/dev/null 2>&1 && cp -r "$tmp/r7" "$tmp/r7.before"
refused c12 "$tmp/missing/t.json" --out "$tmp/r7" --resume "$tmp/r7" --max-steps 4 --trace "$tmp/missing/t.json" &&
  diff -r "$tmp/r7" "$tmp/r7.before" >/dev/null
check $? "--trace into a missing directory on --resume: refused, the run directory unchanged"
# (8) an over-long name is refused before anything is created (it used to leave new/)
long=$(printf '%0300d' 0)
refused c13 "is too long (300 bytes; the limit is 255)" --out "$tmp/r8/new/$long" && [ ! -e "$tmp/r8" ]
check $? "--out with a 300-byte name: refused up front, its new parents not created"
refused c14 "is too long" --save "$tmp/r9/$long.h5" --out "$tmp/r9/run" && [ ! -e "$tmp/r9" ]
check $? "--save with a 300-byte name: refused up front, --out not created"
# --save, --trace and --out's files may go into the --out directory the run creates
"$bin" "${tiny[@]}" --out "$tmp/n8/run" --save "$tmp/n8/run/s.h5" --trace "$tmp/n8/run/t.json" >/dev/null 2>&1 &&
  [ -s "$tmp/n8/run/s.h5" ] && [ -s "$tmp/n8/run/t.json" ] && [ ! -e "$tmp/n8/run/checkpoint.h5" ]
check $? "--save and --trace inside a new --out directory"

[ $fail -eq 0 ] && echo "outputs_test: all passed"
exit $fail
