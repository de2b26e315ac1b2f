#!/usr/bin/env python3
"""Tunes the learning rate of a batch-size study, per (method, global batch), by successive
halving (as Optuna's SuccessiveHalvingPruner and Ray Tune's ASHA do it), locally or on Slurm.

usage: scripts/tune.py [options] STUDY_FILE TUNE_DIR [-- gnet_dist options...]

STUDY_FILE: one group a line, "METHOD BATCH LR,LR,..." (# comments); METHOD's base config is
METHOD.ini next to STUDY_FILE (every option but the ones the tuner sets: batch-size, lr,
epochs, eval-every, target-acc, warmup-*, max-steps, checkpoint-*; constant lr after warmup,
so that a trial's path does not depend on how far it is run). Groups run in the file's order.

Per group: the step budget ("cap") is the larger of --min-epochs epochs and --min-steps steps,
rounded up to whole evaluation intervals u: rung k (0-based, of --rungs K) is at
m * u * eta^k steps (m = --evals-per-rung) and the last rung is the cap. Every trial (one lr)
is a resumable run directory TUNE_DIR/METHOD/bsBBBB/lrLR, evaluated every u steps, warmed
up linearly over u steps, ended by --target-acc at the first evaluation at the target.
At each rung the trials still in run to that rung's step (a trial that reached the target,
or diverged, has ended), then are ranked: first those that reached the target (by the step
they reached it at), then the others by test accuracy at the rung's step (equal accuracies,
as at chance on a plateau, by test loss; then the smaller lr first), diverged ones last; the
best ceil(n / eta) go on. Once a trial has reached the target at step t, the others only run
to the last multiple of u before t (they can only win by reaching it earlier), and they are
compared at that step. The group's winner is the first of the last ranking;
when its lr is the grid's smallest or largest, one more trial a grid factor beyond it runs
through the same rungs against it (up to --extensions times): it stops at the first rung
where it ranks below the winner, and replaces the winner if it ranks above it at the end.
A winner that has not reached the target at the cap then runs on alone to --overtime x cap.

Every decision is appended to the group's decisions.jsonl (which trials ran to which step,
their results, the ranking, which went on and why); a rerun of the same command reads them
back and never decides again, so a study stopped anywhere resumes without changing any
decision. TUNE_DIR/tune.json keeps the settings; a rerun with other settings is refused.
A trial whose run directory holds records but no checkpoint (killed before its first one,
or a TUNE_DIR restored from an --export, as a fresh checkout has it) is run again from step
0, and its evaluations must repeat the records exactly (else it stops, naming the step).

options:
  --np N               local: ranks per trial with mpirun (default 2; 1: no mpirun)
  --eta E              reduction factor (default 4: keep the best quarter)
  --rungs K            rungs per group (default 3)
  --evals-per-rung M   evaluations up to the first rung (default 2)
  --min-epochs N       the cap is at least N epochs (default 10)
  --min-steps N        ... and at least N steps (default 1200)
  --target A           the test accuracy to reach (default 0.87)
  --extensions N       at most N trials beyond the grid's edge per group (default 2)
  --overtime F         a winner that has not reached the target at the cap runs on alone to
                       F x cap (default 2; 1: never); may be raised on a study in progress
  --only METHOD[:BATCH]  (repeatable) run only these groups
  --max-rung K         this time, decide no further than rung K (0-based) of each group: a
                       pilot, or a session's share; a later run without it goes on
  --slurm              each rung's trials as one Slurm job array (sbatch --wait,
                       scripts/slurm/sweep.sbatch); --sbatch OPT (repeatable) adds sbatch options
  --status             print what is decided so far and run nothing
  --export DIR         copy the records of decided groups (no checkpoints) into DIR
  --dry-run            print the budgets and the first commands, run nothing
Options after "--" go to every trial (e.g. --threads 1 --no-progress); gnet_dist is $GNET_BIN,
else build/gnet_dist in this checkout. Exit status: 0 done; 1 error; 3 a trial was stopped by
a signal (rerun the same command to resume).
"""
import json
import math
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Options the tuner sets in every trial's config: a base config may not set them.
OWNED = {"batch-size", "lr", "epochs", "eval-every", "target-acc", "warmup-epochs",
         "warmup-steps", "max-steps", "checkpoint-epochs", "checkpoint-every", "lr-schedule",
         "lr-scale", "init", "resume", "out"}
DEFAULTS = {"np": 2, "eta": 4, "rungs": 3, "evals_per_rung": 2, "min_epochs": 10,
            "min_steps": 1200, "target": 0.87, "extensions": 2, "overtime": 2}
# The settings that decide what a trial is and which go on: a resumed study must keep them.
# (--overtime only adds a decision after the last one: it may change.)
DECIDING = ("eta", "rungs", "evals_per_rung", "min_epochs", "min_steps", "target",
            "extensions")


class TuneError(Exception):
    """Bad input or a failed trial: one line, exit 1."""


class Stopped(Exception):
    """A trial stopped by a signal with a checkpoint: exit 3, rerun to resume."""


# --- budgets -----------------------------------------------------------------------------

def budget(batch, train_images, s, drop_last=False):
    """The group's steps: u (evaluation interval and warmup), the rung steps, epochs."""
    spe = train_images // batch if drop_last else -(-train_images // batch)
    cap0 = max(s["min_epochs"] * spe, s["min_steps"])
    first = s["evals_per_rung"] * s["eta"] ** (s["rungs"] - 1)
    u = -(-cap0 // first)
    rungs = [s["evals_per_rung"] * u * s["eta"] ** k for k in range(s["rungs"])]
    return {"u": u, "rungs": rungs, "cap": rungs[-1], "steps_per_epoch": spe,
            "epochs": -(-rungs[-1] // spe)}


def lr_name(lr):
    return "lr%g" % lr


# --- ranking and the decisions of one group ------------------------------------------------

def rank_key(res, lr):
    """Smaller is better: reached (by step), then test acc at the step compared (equal
    accuracies, as on the plateau at chance, by test loss), diverged last."""
    if res.get("reached_step") is not None:
        return (0, res["reached_step"], 0, lr)
    if res.get("diverged_step") is not None:
        return (2, -res["diverged_step"], 0, lr)
    loss = res.get("loss")
    return (1, -res["acc"], math.inf if loss is None else loss, lr)


def beats(a, b):
    """Result a ranks strictly above result b (the lr does not count)."""
    return rank_key(a, 0)[:3] < rank_key(b, 0)[:3]


class Group:
    """One (method, batch): its grid, budget, and decisions (read back, appended to)."""

    def __init__(self, method, batch, grid, bud, settings, oracle, path):
        self.method, self.batch, self.grid = method, batch, sorted(grid)
        self.b, self.s, self.oracle, self.path = bud, settings, oracle, path
        self.recorded = []
        if path and os.path.exists(path):
            with open(path) as f:
                self.recorded = [json.loads(line) for line in f if line.strip()]
        self.next_record = 0
        self.best_t = None  # the smallest step at which a trial reached the target

    def _decide(self, kind, compute):
        """The next decision of this kind: read back when recorded, else computed and saved."""
        if self.next_record < len(self.recorded):
            rec = self.recorded[self.next_record]
            if rec.get("kind") != kind:
                raise TuneError("%s: record %d is '%s', expected '%s' (settings changed?)" %
                                (self.path, self.next_record + 1, rec.get("kind"), kind))
        else:
            rec = dict(kind=kind, **compute())
            if self.path:
                with open(self.path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
            self.recorded.append(rec)
        self.next_record += 1
        if rec.get("best_t") is not None:
            self.best_t = rec["best_t"]
        return rec

    def _before(self, t):
        """The last evaluation interval's end before step t (epoch-end evaluations may reach
        the target between two of them)."""
        return self.b["u"] * ((t - 1) // self.b["u"])

    def _limit(self, step, lrs=()):
        """A rung's step, capped before the best target step so far (of the decided rungs,
        and of the trials in lrs that have reached it meanwhile)."""
        ts = [self.oracle.reached_step(self.method, self.batch, lr) for lr in lrs]
        ts = [t for t in ts + [self.best_t] if t is not None]
        return min([step] + [self._before(t) for t in ts])

    def _run(self, lrs, step):
        """Runs the trials to step (one after another, each capped as the targets reached by
        those before it say; or all at once) and returns (the step they are compared at,
        their results there, the best target step)."""
        self.oracle.run_all(self.method, self.batch, lrs, step, lambda s: self._limit(s, lrs))
        reached = [self.oracle.reached_step(self.method, self.batch, lr) for lr in lrs]
        ts = [t for t in reached if t is not None] + ([self.best_t] if self.best_t else [])
        best_t = min(ts) if ts else None
        cmp = step if best_t is None else min(step, self._before(best_t))
        res = {lr_name(lr): self.oracle.result(self.method, self.batch, lr, cmp) for lr in lrs}
        return cmp, res, best_t

    def _rung(self, k, alive, prev):
        step = self._limit(self.b["rungs"][k])
        if step <= prev:
            return None

        def compute():
            cmp, res, best_t = self._run(alive, step)
            order = sorted(alive, key=lambda lr: rank_key(res[lr_name(lr)], lr))
            last = k == len(self.b["rungs"]) - 1
            keep = order[:1] if last else order[:math.ceil(len(order) / self.s["eta"])]
            why = ("the winner: first of the last rung's ranking" if last else
                   "the best ceil(%d/%g) by target step, then test acc (and loss) at step %d" %
                   (len(order), self.s["eta"], cmp))
            return dict(rung=k, step=cmp, ran=alive, results=res, ranking=order, kept=keep,
                        pruned=order[len(keep):], best_t=best_t, why=why)
        return self._decide("rung", compute)

    def _extend(self, n, winner, lr):
        """Extension n: trial lr against the winner at every rung; the decision says who won."""
        def compute():
            prev, last = 0, None
            for rung in self.b["rungs"]:
                step = self._limit(rung)
                if step <= prev:
                    break
                cmp, res, best_t = self._run([lr], step)
                self.best_t, prev = best_t, cmp
                last = dict(step=cmp, result=res[lr_name(lr)],
                            winner_result=self.oracle.result(self.method, self.batch, winner,
                                                             cmp))
                # below the winner, or ended (reached, diverged): nothing more to learn
                if beats(last["winner_result"], last["result"]) or "acc" not in last["result"]:
                    break
            won = last is not None and beats(last["result"], last["winner_result"])
            return dict(extension=n, lr=lr, against=winner, won=won, best_t=self.best_t,
                        last=last, why="the winner %g was at the grid's edge" % winner)
        return self._decide("extension", compute)

    def tune(self, max_rung=None):
        """Runs (or reads back) every decision; returns the group's summary record (None when
        stopped after rung max_rung, before the group is decided)."""
        alive, prev, winner = list(self.grid), 0, None
        for k in range(len(self.b["rungs"])):
            if max_rung is not None and k > max_rung:
                return None
            rec = self._rung(k, alive, prev)
            if rec is None:
                break
            alive, prev = rec["kept"], rec["step"]
            winner = alive[0]
        grid = list(self.grid)
        factor = grid[1] / grid[0] if len(grid) > 1 else 2.0
        for n in range(self.s["extensions"]):
            if winner not in (grid[0], grid[-1]):
                break
            lr = float("%.6g" % (winner / factor if winner == grid[0] else winner * factor))
            rec = self._extend(n, winner, lr)
            grid = sorted(grid + [lr])
            if not rec["won"]:
                break
            winner = lr
        cap = self.b["cap"]
        if self.s["overtime"] > 1 and self.oracle.reached_step(self.method, self.batch,
                                                               winner) is None:
            cap = self._overtime(winner)["factor"] * self.b["cap"]
        return self._summary(winner, grid, cap)

    def _overtime(self, winner):
        """The winner alone runs on to --overtime x cap when it did not reach the target
        within the cap (the steps the curve needs are not known before)."""
        def compute():
            cmp, res, best_t = self._run([winner], self.s["overtime"] * self.b["cap"])
            return dict(lr=winner, step=cmp, result=res[lr_name(winner)], best_t=best_t,
                        factor=self.s["overtime"],
                        why="the winner had not reached the target at the cap")
        return self._decide("overtime", compute)

    def _summary(self, winner, grid, cap):
        res = self.oracle.result(self.method, self.batch, winner, None)
        t = res.get("reached_step")
        return dict(method=self.method, batch=self.batch, grid=grid, winner=winner,
                    reached=t is not None, target_step=t,
                    target_images=t * self.batch if t is not None else None,
                    best_acc=res.get("best_acc"), cap=cap, rung_cap=self.b["cap"],
                    u=self.b["u"])


# --- trials as run directories -------------------------------------------------------------

def read_records(run):
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def final_record(run):
    finals = [r for r in read_records(run) if r.get("final")]
    return finals[-1] if finals else None


def trial_done(run, step):
    """The trial needs no more steps to answer for step: ended by itself, or got that far."""
    f = final_record(run)
    return f is not None and (f.get("target_reached") is True or f.get("diverged") is True
                              or f["steps"] >= step)


def trial_result(run, step):
    """What a trial shows at step (None: its end): reached_step, diverged_step, acc at step."""
    recs = read_records(run)
    f = final_record(run)
    if f is None:
        raise TuneError("%s: no final record (the trial has not run)" % run)
    evals = [r for r in recs if r.get("eval")]
    res = {"best_acc": max([r["test_acc"] for r in evals if r.get("test_acc") is not None],
                           default=None)}
    if f.get("target_reached"):
        res["reached_step"] = f["target_step"]
        return res
    if f.get("diverged"):
        res["diverged_step"] = f["diverged_step"]
        return res
    if step == 0:  # compared before any step (a target reached in the first interval)
        res["acc"] = 0.0
        return res
    at = [r for r in evals if r["step"] == (f["steps"] if step is None else step)]
    if not at:
        raise TuneError("%s: no evaluation at step %s (its last step is %d)" %
                        (run, step, f["steps"]))
    res["acc"] = at[-1]["test_acc"] if at[-1]["test_acc"] is not None else 0.0
    res["loss"] = at[-1].get("test_loss")
    return res


def evaluations(run):
    """What a trial's evaluations say, as compared when it is run again (no timings)."""
    return [(r["step"], r.get("train_loss"), r.get("test_loss"), r.get("test_acc"))
            for r in read_records(run) if r.get("eval")]


def check_replay(run, old):
    """A trial run again from step 0 must repeat the evaluations recorded before (gnet_dist
    is bitwise deterministic): a difference means another binary, data or config, and the
    decisions taken on the old records would not hold."""
    new = evaluations(run)
    upto = min(old[-1][0], new[-1][0]) if old and new else 0
    a = [e for e in old if e[0] <= upto]
    b = [e for e in new if e[0] <= upto]
    if [e[0] for e in a] != [e[0] for e in b]:
        raise TuneError("%s: run again from step 0, it evaluated at other steps than its "
                        "records (%d evaluations to step %d, now %d)" % (run, len(a), upto,
                                                                        len(b)))
    for x, y in zip(a, b):
        if x != y:
            raise TuneError("%s: run again from step 0, it differs from its records at step %d"
                            " (train loss, test loss, test acc: %s, now %s); another binary, "
                            "data or config?" % (run, x[0], list(x[1:]), list(y[1:])))


def stopped_by_signal(run):
    """The trial's log ends saying a signal stopped it with a checkpoint."""
    try:
        with open(os.path.join(run, "log.txt")) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    return bool(lines) and lines[-1].startswith("stopped by SIG")


def lock(tune_dir):
    """An exclusive lock on TUNE_DIR for this process's life: two tuners on one study would
    run the same trial twice at once."""
    import fcntl
    os.makedirs(tune_dir, exist_ok=True)
    f = open(os.path.join(tune_dir, ".lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise TuneError("%s: another tune.py is running on this study" % tune_dir) from None
    return f


class Runner:
    """Trials as gnet_dist runs: their configs, and running them locally or on Slurm."""

    def __init__(self, tune_dir, study_dir, settings, opts, extra):
        self.dir, self.study_dir, self.s, self.o, self.extra = (tune_dir, study_dir, settings,
                                                                opts, extra)
        self.bin = os.environ.get("GNET_BIN", os.path.join(ROOT, "build", "gnet_dist"))
        self.budgets = {}

    def group_dir(self, method, batch):
        return os.path.join(self.dir, method, "bs%04d" % batch)

    def run_dir(self, method, batch, lr):
        return os.path.join(self.group_dir(method, batch), lr_name(lr))

    def write_config(self, method, batch, lr):
        """TUNE_DIR/METHOD/bsB/lrLR.ini: the base config plus the tuner's keys."""
        b = self.budgets[(method, batch)]
        path = self.run_dir(method, batch, lr) + ".ini"
        text = ("; scripts/tune.py trial: %s at batch %d, lr %g (cap %d steps, rungs %s)\n"
                % (method, batch, lr, b["cap"], b["rungs"]) + "[train]\n" +
                "".join("%s = %s\n" % kv for kv in base_config(self.study_dir, method)) +
                "batch-size = %d\nlr = %g\nepochs = %d\neval-every = %d\nwarmup-steps = %d\n"
                "target-acc = %g\ncheckpoint-epochs = 1\n"
                % (batch, lr, b["epochs"], b["u"], b["u"], self.s["target"]))
        if os.path.exists(path):
            with open(path) as f:
                if f.read() != text:
                    raise TuneError("%s: holds another trial's config (base config or settings"
                                    " changed?); use a new TUNE_DIR" % path)
            return path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        return path

    def result(self, method, batch, lr, step):
        return trial_result(self.run_dir(method, batch, lr), step)

    def reached_step(self, method, batch, lr):
        f = final_record(self.run_dir(method, batch, lr))
        return f.get("target_step") if f and f.get("target_reached") else None

    def run_all(self, method, batch, lrs, step, limit):
        if self.o["slurm"]:
            return self._slurm(method, batch, lrs, step)
        for lr in lrs:
            self._local(method, batch, lr, limit(step))

    def _steps_args(self, method, batch, step):
        """--max-steps, and --epochs beyond the config's when an overtime needs them (the lr is
        constant after warmup: the epochs only bound the run)."""
        b = self.budgets[(method, batch)]
        epochs = -(-step // b["steps_per_epoch"])
        return ["--max-steps", str(step)] + (["--epochs", str(epochs)] if epochs > b["epochs"]
                                             else [])

    def _out_args(self, run):
        """gnet_dist's --out (and --resume), and the evaluations the run must repeat: a run
        directory without a checkpoint (killed before its first one, or records restored from
        an --export in a fresh checkout) is run again from step 0."""
        if os.path.exists(os.path.join(run, "checkpoint.h5")):
            return ["--out", run, "--resume", run], []
        old = []
        if os.path.exists(run):
            old = evaluations(run)
            shutil.rmtree(run)
        return ["--out", run], old

    def _local(self, method, batch, lr, step):
        run = self.run_dir(method, batch, lr)
        if trial_done(run, step):
            return
        ini = self.write_config(method, batch, lr)
        launch = ["mpirun", "-np", str(self.o["np"])] if self.o["np"] > 1 else []
        out, old = self._out_args(run)
        cmd = (launch + [self.bin, "--config", ini] + self.extra +
               self._steps_args(method, batch, step) + out)
        print("tune.py: %s/bs%d %s to step %d: %s" % (method, batch, lr_name(lr), step,
                                                     " ".join(cmd)), flush=True)
        rc = subprocess.call(cmd)
        check_replay(run, old)
        if rc == 3 or (rc != 0 and stopped_by_signal(run)):
            # (mpirun itself, signalled too, may exit 1 after its ranks stopped with exit 3)
            raise Stopped("%s stopped with a checkpoint; rerun the same command to resume" % run)
        if rc not in (0, 4) or not trial_done(run, step):
            raise TuneError("%s: gnet_dist exited with code %d (see %s/log.txt)" % (run, rc, run))

    def _slurm(self, method, batch, lrs, step):
        todo = [lr for lr in lrs if not trial_done(self.run_dir(method, batch, lr), step)]
        if not todo:
            return
        gdir = self.group_dir(method, batch)
        grid = os.path.join(gdir, "step%d.txt" % step)
        with open(grid + ".tmp", "w") as f:
            f.write("".join(self.write_config(method, batch, lr) + "\n" for lr in todo))
        os.replace(grid + ".tmp", grid)
        olds = {lr: self._out_args(self.run_dir(method, batch, lr))[1] for lr in todo}
        cmd = (["sbatch", "--wait", "--array=0-%d" % (len(todo) - 1)] + self.o["sbatch"] +
               [os.path.join(ROOT, "scripts", "slurm", "sweep.sbatch"), grid, gdir] +
               self.extra + self._steps_args(method, batch, step))
        print("tune.py: %s/bs%d: %d trials to step %d: %s" % (method, batch, len(todo), step,
                                                             " ".join(cmd)), flush=True)
        rc = subprocess.call(cmd, env=dict(os.environ, GNET_ROOT=ROOT))
        for lr in todo:
            check_replay(self.run_dir(method, batch, lr), olds[lr])
        left = [lr_name(lr) for lr in todo if not trial_done(self.run_dir(method, batch, lr),
                                                              step)]
        if left:
            raise TuneError("%s: sbatch exited with code %d and %s did not get to step %d "
                            "(see the job's output files)" % (gdir, rc, ", ".join(left), step))


# --- the study file, settings, and the command --------------------------------------------

def base_config(study_dir, method):
    """METHOD.ini's key = value pairs, refusing the keys the tuner owns."""
    path = os.path.join(study_dir, method + ".ini")
    if not os.path.exists(path):
        raise TuneError("%s: the base config of method '%s' does not exist" % (path, method))
    pairs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line[0] in ";#" or line == "[train]":
                continue
            key, eq, value = line.partition("=")
            if not eq:
                raise TuneError("%s:%d: not a 'key = value' line" % (path, n))
            if key.strip() in OWNED:
                raise TuneError("%s:%d: %s is set by tune.py for every trial" %
                                (path, n, key.strip()))
            pairs.append((key.strip(), value.strip()))
    return pairs


def read_study(path):
    """The groups: [(method, batch, [lr...])] in the file's order."""
    if not os.path.exists(path):
        raise TuneError("%s: no such study file" % path)
    groups = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            words = line.split("#")[0].split()
            if not words:
                continue
            try:
                method, batch, lrs = words
                batch = int(batch)
                grid = [float(x) for x in lrs.split(",")]
            except ValueError:
                raise TuneError("%s:%d: expected 'METHOD BATCH LR,LR,...', got '%s'" %
                                (path, n, line.strip())) from None
            if batch < 1 or len(grid) < 2 or min(grid) <= 0 or len(set(grid)) != len(grid):
                raise TuneError("%s:%d: a batch >= 1 and at least 2 different positive lrs" %
                                (path, n))
            groups.append((method, batch, grid))
    if not groups:
        raise TuneError("%s: no groups in it" % path)
    return groups


def train_images(runner, method):
    """(training images an epoch: train-limit, else Fashion-MNIST's; drop-last)."""
    cmd = [runner.bin, "--config", os.path.join(runner.study_dir, method + ".ini"), "--dry-run"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise TuneError("%s: %s (build it, or set GNET_BIN)" % (runner.bin, e)) from None
    if out.returncode != 0:
        raise TuneError("%s: %s" % (cmd[2], (out.stderr.strip() or "--dry-run failed")
                                    .splitlines()[-1]))
    opts = dict(line.split(" = ", 1) for line in out.stdout.splitlines() if " = " in line)
    return (min(int(opts.get("train-limit", 60000)), 60000), opts.get("drop-last") == "true")


def check_settings(tune_dir, settings):
    path = os.path.join(tune_dir, "tune.json")
    mine = {k: settings[k] for k in DECIDING}
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        diff = [k for k in DECIDING if old.get(k) != mine[k]]
        if diff:
            raise TuneError("%s: this study was tuned with other settings (%s); use a new "
                            "TUNE_DIR" % (path, ", ".join("%s %s, not %s" % (k, old.get(k),
                                                                          mine[k])
                                                           for k in diff)))
        return
    os.makedirs(tune_dir, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(mine, f, indent=1)
    os.replace(path + ".tmp", path)


def parse_args(argv):
    s = dict(DEFAULTS, slurm=False, sbatch=[], only=[], status=False, dry_run=False,
             export=None, max_rung=None)
    pos, extra = [], []
    ints = {"--np": "np", "--rungs": "rungs", "--evals-per-rung": "evals_per_rung",
            "--min-epochs": "min_epochs", "--min-steps": "min_steps",
            "--extensions": "extensions", "--max-rung": "max_rung", "--overtime": "overtime"}
    reals = {"--eta": "eta", "--target": "target"}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            extra = argv[i + 1:]
            break
        if a in ints or a in reals or a in ("--only", "--sbatch", "--export"):
            if i + 1 >= len(argv):
                raise TuneError("%s: needs a value" % a)
            v = argv[i + 1]
            i += 2
            if a in ("--only", "--sbatch"):
                s[a[2:]].append(v)
            elif a == "--export":
                s["export"] = v
            else:
                s[(ints.get(a) or reals[a])] = check_number(a, v, a in ints)
            continue
        flags = {"--slurm": "slurm", "--status": "status", "--dry-run": "dry_run"}
        if a in flags:
            s[flags[a]] = True
        elif a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        elif a.startswith("-"):
            raise TuneError("%s: unknown option (see --help)" % a)
        else:
            pos.append(a)
        i += 1
    if len(pos) != 2:
        raise TuneError("give STUDY_FILE and TUNE_DIR (see --help)")
    if s["eta"] == int(s["eta"]):
        s["eta"] = int(s["eta"])
    return s, pos[0], pos[1], extra


def check_number(opt, text, integer):
    try:
        v = int(text) if integer else float(text)
    except ValueError:
        raise TuneError("%s: '%s' is not %s" % (opt, text, "an integer" if integer else
                                                "a number")) from None
    ok = {"--eta": v > 1, "--target": 0 < v <= 1, "--extensions": v >= 0,
          "--max-rung": v >= 0}.get(opt, v >= 1)
    if not ok:
        raise TuneError("%s: %s is out of range" % (opt, text))
    return v


def selected(groups, only):
    if not only:
        return groups
    return [g for g in groups if g[0] in only or "%s:%d" % (g[0], g[1]) in only]


def export(runner, groups, dest):
    """The records of every group with a decision (decided, or a pilot's or a session's
    share: the report marks those in progress), without checkpoints, into dest (with
    tune.json, the settings they were decided with)."""
    os.makedirs(dest, exist_ok=True)
    shutil.copy2(os.path.join(runner.dir, "tune.json"), os.path.join(dest, "tune.json"))
    for method, batch, _ in groups:
        src = runner.group_dir(method, batch)
        if not os.path.exists(os.path.join(src, "decisions.jsonl")):
            continue
        out = os.path.join(dest, method, "bs%04d" % batch)
        for root, _, files in os.walk(src):
            for name in files:
                if name.endswith((".h5", ".tmp")) or name.startswith("checkpoint"):
                    continue
                rel = os.path.relpath(os.path.join(root, name), src)
                os.makedirs(os.path.dirname(os.path.join(out, rel)), exist_ok=True)
                shutil.copy2(os.path.join(root, name), os.path.join(out, rel))
        print("tune.py: exported %s" % out)


def main(argv):
    s, study, tune_dir, extra = parse_args(argv)
    groups = selected(read_study(study), s["only"])
    if not groups:
        raise TuneError("--only %s: no such group in %s" % (",".join(s["only"]), study))
    runner = Runner(tune_dir, os.path.dirname(os.path.abspath(study)), s, s, extra)
    images = {m: train_images(runner, m) for m in sorted({g[0] for g in groups})}
    for method, batch, _ in groups:
        base_config(runner.study_dir, method)
        runner.budgets[(method, batch)] = budget(batch, images[method][0], s,
                                                 images[method][1])
    if s["export"]:
        return export(runner, groups, s["export"])
    if s["dry_run"] or s["status"]:
        return show(runner, groups, s)
    held = lock(tune_dir)  # noqa: F841  (held until exit)
    check_settings(tune_dir, s)
    for method, batch, grid in groups:
        b = runner.budgets[(method, batch)]
        path = os.path.join(runner.group_dir(method, batch), "decisions.jsonl")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        summary = Group(method, batch, grid, b, s, runner, path).tune(s["max_rung"])
        if summary is None:
            print("tune.py: %s/bs%d: decided up to rung %d (--max-rung)" % (method, batch,
                                                                          s["max_rung"]))
            continue
        with open(os.path.join(runner.group_dir(method, batch), "summary.json.tmp"), "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(os.path.join(runner.group_dir(method, batch), "summary.json.tmp"),
                   os.path.join(runner.group_dir(method, batch), "summary.json"))
        print("tune.py: %s/bs%d: winner lr %g, %s" % (
            method, batch, summary["winner"],
            "target at step %d" % summary["target_step"] if summary["reached"] else
            "target not reached in %d steps (best test acc %.4f)" % (b["cap"],
                                                                     summary["best_acc"])),
              flush=True)
    return 0


def describe(r):
    """One line for a decisions.jsonl record, as --status prints it."""
    if r["kind"] == "rung":
        return "rung %d at step %d: kept %s, pruned %s" % (r["rung"], r["step"], r["kept"],
                                                           r["pruned"])
    if r["kind"] == "extension":
        return "extension %g vs %g: %s" % (r["lr"], r["against"], "won" if r["won"] else "lost")
    return "overtime x%g for %g to step %d: %s" % (
        r["factor"], r["lr"], r["step"], "target at step %d" % r["best_t"]
        if r["best_t"] is not None else "target not reached")


def show(runner, groups, s):
    for method, batch, grid in groups:
        b = runner.budgets[(method, batch)]
        gdir = runner.group_dir(method, batch)
        print("%s/bs%d: lrs %s; cap %d steps (%d epochs of %d steps), rungs %s, eval and "
              "warmup every %d steps" % (method, batch, ",".join("%g" % x for x in grid),
                                         b["cap"], b["epochs"], b["steps_per_epoch"],
                                         b["rungs"], b["u"]))
        path = os.path.join(gdir, "decisions.jsonl")
        if s["status"] and os.path.exists(path):
            with open(path) as f:
                for line in f:
                    r = json.loads(line)
                    print("  %s" % describe(r))
        if s["dry_run"]:
            print("  first: %s" % " ".join(
                ["--config", runner.run_dir(method, batch, grid[0]) + ".ini"] + runner.extra +
                ["--max-steps", str(b["rungs"][0]), "--out", runner.run_dir(method, batch,
                                                                             grid[0])]))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except TuneError as e:
        print("tune.py: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except Stopped as e:
        print("tune.py: %s" % e, file=sys.stderr)
        sys.exit(3)
