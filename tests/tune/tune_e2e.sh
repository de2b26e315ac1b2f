#!/usr/bin/env bash
# scripts/tune.py end to end on real gnet_dist trials (2 ranks, 1,024 training images, 4 lrs,
# rungs at steps 8 and 16): the trials' configs hold what the tuner sets, the pruned trials
# stopped at their rung, the winner went on; a rerun runs nothing and changes nothing; a
# study killed with -9 in the middle (as a session's end kills it) and run again makes the
# same decisions from the same records as one that was never stopped; --status, --export
# (no checkpoints) and a study resumed from its export (the kept trials run again from step
# 0, repeating their records), and a rerun with other settings refused. The decisions themselves are
# checked on fixtures in test_tune.py.
#
# usage: tune_e2e.sh GNET_DIST SOURCE_DIR
bin=$1 src=$2
source "$src/tests/lib.sh"
need_idx
py=${GNET_PYTHON:-python3}
export GNET_BIN=$bin

cat >"$tmp/tiny.ini" <<EOF
[train]
idx = $idx
train-limit = 1024
test-limit = 500
momentum = 0.9
weight-init = he
EOF
echo "tiny 64 0.0025,0.005,0.01,0.02" >"$tmp/study.txt"
settings=(--np 2 --eta 2 --rungs 2 --evals-per-rung 2 --min-epochs 1 --min-steps 16 --target 0.3)
tune() { "$py" "$src/scripts/tune.py" "${settings[@]}" "$tmp/study.txt" "$@"; }
trial=(-- --threads 1 --no-progress)

tune "$tmp/a" "${trial[@]}" >"$tmp/a.out" 2>&1
rc=$?
[ $rc -eq 0 ] && [ -f "$tmp/a/tiny/bs0064/summary.json" ]
check $? "a tuned group: exit 0 and its summary (rc $rc)"
g=$tmp/a/tiny/bs0064
grep -q "^batch-size = 64$" "$g/lr0.005.ini" && grep -q "^eval-every = 4$" "$g/lr0.005.ini" &&
  grep -q "^warmup-steps = 4$" "$g/lr0.005.ini" && grep -q "^target-acc = 0.3$" "$g/lr0.005.ini" &&
  grep -q "^weight-init = he$" "$g/lr0.005.ini"
check $? "a trial's config: the base config's options and the tuner's (batch, eval every u, warmup u, target)"

# Every trial's record against the decisions: the pruned ones ended at their rung's step (or
# earlier, at the target or diverged), the winner went to the cap or the target.
"$py" - "$g" <<'PY'
import json, os, sys
g = sys.argv[1]
dec = [json.loads(l) for l in open(os.path.join(g, "decisions.jsonl"))]
summary = json.load(open(os.path.join(g, "summary.json")))
def final(lr):
    recs = [json.loads(l) for l in open(os.path.join(g, "lr%g" % lr, "metrics.jsonl"))]
    return [r for r in recs if r.get("final")][-1]
ok = dec[0]["kind"] == "rung" and dec[0]["ran"] == [0.0025, 0.005, 0.01, 0.02]
ok = ok and len(dec[0]["kept"]) == 2 and dec[0]["step"] <= 8
for r in dec:
    for lr in r.get("pruned", []):
        f = final(lr)
        ok = ok and (f["steps"] == r["step"] or f.get("target_reached") or f.get("diverged"))
w = final(summary["winner"])
ok = ok and (w["steps"] == 16 or w.get("target_reached") is True)
ok = ok and summary["reached"] == bool(w.get("target_reached"))
sys.exit(0 if ok else print(dec, summary) or 1)
PY
check $? "the pruned trials stopped at their rung, the winner went on (decisions and records agree)"

cp "$g/decisions.jsonl" "$tmp/a.decisions"
tune "$tmp/a" "${trial[@]}" >"$tmp/a2.out" 2>&1
rc=$?
[ $rc -eq 0 ] && ! grep -q " to step " "$tmp/a2.out" && cmp -s "$g/decisions.jsonl" "$tmp/a.decisions"
check $? "a rerun of a finished study runs no trial and changes no decision (rc $rc)"

# Killed with -9 (the tuner and its trials) as soon as the second trial has started.
setsid "$py" "$src/scripts/tune.py" "${settings[@]}" "$tmp/study.txt" "$tmp/b" "${trial[@]}" \
  >"$tmp/b.out" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -e "$tmp/b/tiny/bs0064/lr0.005/log.txt" ] && break
  sleep 0.1
done
kill -9 -- -"$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ ! -e "$tmp/b/tiny/bs0064/summary.json" ]
check $? "the killed study did not finish"
tune "$tmp/b" "${trial[@]}" >"$tmp/b2.out" 2>&1
rc=$?
[ $rc -eq 0 ] && cmp -s "$tmp/b/tiny/bs0064/decisions.jsonl" "$tmp/a.decisions"
check $? "killed with -9 and run again: the same decisions as the study never stopped (rc $rc)"
"$py" - "$tmp/a/tiny/bs0064" "$tmp/b/tiny/bs0064" <<'PY'
import glob, json, os, sys
def evals(g):
    out = {}
    for m in glob.glob(os.path.join(g, "lr*", "metrics.jsonl")):
        out[m.split(os.sep)[-2]] = [(r["step"], r["test_acc"]) for r in map(json.loads, open(m))
                                    if r.get("eval")]
    return out
a, b = evals(sys.argv[1]), evals(sys.argv[2])
sys.exit(0 if a == b and a else print(a, b) or 1)
PY
check $? "... and every trial's evaluations equal the unstopped study's"

tune "$tmp/a" --status >"$tmp/status.out" 2>&1 &&
  grep -q "^tiny/bs64: lrs 0.0025,0.005,0.01,0.02; cap 16 steps" "$tmp/status.out" &&
  grep -q "^  rung 0 at step [0-9]*: kept " "$tmp/status.out"
check $? "--status: the budget and the decisions"
tune "$tmp/a" --export "$tmp/export" >/dev/null 2>&1 &&
  [ -f "$tmp/export/tiny/bs0064/decisions.jsonl" ] &&
  [ -f "$tmp/export/tiny/bs0064/lr0.005/metrics.jsonl" ] &&
  [ -z "$(find "$tmp/export" -name '*.h5')" ]
check $? "--export: the records without checkpoints"

# A fresh checkout has the export, not the run directories: the export goes on as TUNE_DIR.
# Exported as rung 1 ran: its decisions cut to rung 0's, the winner's records to its first
# evaluation. The winner alone runs again from step 0, repeats that evaluation, and the study
# ends as before; a record that the rerun does not repeat stops the study, naming the trial
# and the step.
w=$("$py" -c 'import json,sys; print("lr%g" % json.load(open(sys.argv[1]))["winner"])' "$g/summary.json")
cut() { # SED_EXPR DIR: DIR as exported while rung 1 ran
  local e=$tmp/export/tiny/bs0064
  cp -r "$tmp/export" "$2" && rm "$2/tiny/bs0064/summary.json" &&
    head -1 "$e/decisions.jsonl" >"$2/tiny/bs0064/decisions.jsonl" &&
    head -1 "$e/$w/metrics.jsonl" | sed "$1" >"$2/tiny/bs0064/$w/metrics.jsonl"
}
cut "" "$tmp/r"
tune "$tmp/r" "${trial[@]}" >"$tmp/r.out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "bs64 $w to step" "$tmp/r.out" && ! grep " to step " "$tmp/r.out" | grep -vq "bs64 $w to step" &&
  cmp -s "$tmp/r/tiny/bs0064/decisions.jsonl" "$tmp/a.decisions" &&
  cmp -s "$tmp/r/tiny/bs0064/summary.json" "$g/summary.json"
check $? "resumed from its export: only the cut trial ran again, the same decisions and summary (rc $rc)"
cut 's/"test_acc": [0-9.]*/"test_acc": 0.999/' "$tmp/rd"
out=$(tune "$tmp/rd" "${trial[@]}" 2>&1 | grep "error")
[[ $out == *"$tmp/rd/tiny/bs0064/$w: run again from step 0, it differs from its records at step "* ]]
check $? "a record the rerun does not repeat stops the study, naming the trial and step: $out"

out=$("$py" "$src/scripts/tune.py" "${settings[@]}" --eta 3 "$tmp/study.txt" "$tmp/a" 2>&1)
rc=$?
[ $rc -eq 1 ] && [[ $out == *"tune.json: this study was tuned with other settings (eta 2, not 3)"* ]]
check $? "a rerun with another --eta is refused, naming the setting (rc $rc: $out)"
out=$("$py" "$src/scripts/tune.py" "$tmp/nothere.txt" "$tmp/none" 2>&1)
rc=$?
[ $rc -eq 1 ] && [ "$out" = "tune.py: error: $tmp/nothere.txt: no such study file" ] && [ ! -e "$tmp/none" ]
check $? "a missing study file: one line, exit 1, nothing made (rc $rc: $out)"

[ $fail -eq 0 ] && echo "tune_e2e: all passed"
exit $fail
