#!/usr/bin/env python3
"""scripts/tune.py's decisions on fixtures: made-up learning curves stand in for trials, so
that which trials go on at each rung, where they are compared, the target's cap, the edge
extensions and a resume after a stop can be checked exactly (tests/tune/tune_e2e.sh runs
the same logic on real gnet_dist trials).

usage: test_tune.py SCRIPTS_DIR"""
import importlib.util
import json
import os
import sys
import tempfile
import unittest

spec = importlib.util.spec_from_file_location("tune", os.path.join(sys.argv.pop(1), "tune.py"))
tune = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tune)

S = dict(tune.DEFAULTS, eta=4, rungs=3, evals_per_rung=2)
# u 10, rungs 20, 80, 320 (cap0 320: min-steps)
B = tune.budget(64, 640, dict(S, min_epochs=1, min_steps=320))


class Curve:
    """A trial: test acc at each multiple of u = f(step), reaching the target or diverging
    at a step (None: never)."""

    def __init__(self, f, reach=None, diverge=None, loss=None):
        self.f, self.reach, self.diverge, self.loss = f, reach, diverge, loss


class Fake:
    """The oracle of tune.Group over Curves: remembers how far each trial ran, refuses
    results at steps it did not run to or that are not evaluations, and can stop (as a
    signal would) at its n-th run."""

    def __init__(self, curves, stop_at=None, ran=None):
        self.curves, self.calls, self.stop_at = curves, [], stop_at
        self.ran = {} if ran is None else ran  # a rerun finds the trials where they were

    def _end(self, lr):
        c = self.curves[lr]
        ends = [s for s in (c.reach, c.diverge) if s is not None]
        return min(ends) if ends else None

    def run_all(self, method, batch, lrs, step, limit):
        for lr in lrs:
            to = limit(step)
            end = self._end(lr)
            if self.ran.get(lr, 0) >= (to if end is None else min(to, end)):
                continue
            if self.stop_at is not None and len(self.calls) == self.stop_at:
                raise tune.Stopped("stopped")
            self.calls.append((lr, to))
            self.ran[lr] = to if end is None else min(to, end)

    def reached_step(self, method, batch, lr):
        c = self.curves[lr]
        return c.reach if c.reach is not None and self.ran.get(lr, 0) >= c.reach else None

    def result(self, method, batch, lr, step):
        c, ran = self.curves[lr], self.ran.get(lr, 0)
        if c.reach is not None and ran >= c.reach:
            return {"reached_step": c.reach}
        if c.diverge is not None and ran >= c.diverge:
            return {"diverged_step": c.diverge}
        step = ran if step is None else step
        assert step <= ran, "lr %g compared at step %d, run only to %d" % (lr, step, ran)
        assert step % B["u"] == 0, "step %d is not an evaluation" % step
        return {"acc": c.f(step), "loss": c.loss, "best_acc": c.f(ran)}


def flat(acc):
    return lambda step: acc


def group(curves, path=None, stop_at=None, settings=S, ran=None):
    fake = Fake(curves, stop_at, ran)
    grid = sorted(lr for lr in curves if lr != 3.2 or len(curves) == 1)
    return tune.Group("m", 64, grid, B, settings, fake, path), fake


def decisions(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


class Budget(unittest.TestCase):
    def test_rungs_in_steps(self):
        # batch 256 of 60,000: 10 epochs are 2,350 steps, more than --min-steps 1200
        b = tune.budget(256, 60000, dict(tune.DEFAULTS))
        self.assertEqual((b["u"], b["rungs"], b["epochs"]), (74, [148, 592, 2368], 11))
        # batch 8192: the step budget wins (1,200 > 80 steps)
        b = tune.budget(8192, 60000, dict(tune.DEFAULTS), drop_last=True)
        self.assertEqual((b["steps_per_epoch"], b["u"], b["rungs"][-1], b["epochs"]),
                         (7, 38, 1216, 174))
        self.assertEqual(B["rungs"], [20, 80, 320])


class Halving(unittest.TestCase):
    def test_keeps_the_best_quarter_at_each_rung(self):
        # 5 trials: ceil(5/4) = 2 go on from rung 0, ceil(2/4) = 1 from rung 1; the curves
        # cross, so rung 1's ranking is not rung 0's
        curves = {0.1: Curve(flat(0.3)), 0.2: Curve(lambda s: 0.5 if s <= 20 else 0.6),
                  0.4: Curve(lambda s: 0.45 if s <= 20 else 0.8), 0.8: Curve(flat(0.2)),
                  1.6: Curve(flat(0.1))}
        g, fake = group(curves)
        summary = g.tune()
        rungs = [r for r in g.recorded if r["kind"] == "rung"]
        self.assertEqual([r["kept"] for r in rungs], [[0.2, 0.4], [0.4], [0.4]])
        self.assertEqual([r["step"] for r in rungs], [20, 80, 320])
        self.assertEqual(rungs[0]["pruned"], [0.1, 0.8, 1.6])
        # every trial ran only as far as its last rung; the winner, short of the target at
        # the cap, on to 2 x cap (--overtime 2)
        self.assertEqual(fake.ran, {0.1: 20, 0.2: 80, 0.4: 640, 0.8: 20, 1.6: 20})
        self.assertEqual((summary["winner"], summary["reached"]), (0.4, False))

    def test_diverged_last_ties_by_loss_then_to_the_smaller_lr(self):
        curves = {0.1: Curve(flat(0.5)), 0.2: Curve(flat(0.5)), 0.4: Curve(flat(0.9), diverge=15),
                  0.8: Curve(flat(0.1), loss=2.30), 1.6: Curve(flat(0.1), loss=2.29)}
        g, _ = group(curves)
        first = g._rung(0, [0.1, 0.2, 0.4, 0.8, 1.6], 0)
        self.assertEqual(first["ranking"], [0.1, 0.2, 1.6, 0.8, 0.4])
        self.assertEqual(first["kept"], [0.1, 0.2])

    def test_a_reached_target_caps_the_others(self):
        # 0.2 reaches the target at step 55 (an epoch-end evaluation between two of u's):
        # from then on the others run only to step 50 and are compared there; no rung 2
        curves = {0.1: Curve(lambda s: s / 100), 0.2: Curve(flat(0.7), reach=55),
                  0.4: Curve(lambda s: 0.6 if s <= 20 else 0.7), 0.8: Curve(flat(0.2)),
                  1.6: Curve(flat(0.1))}
        g, fake = group(curves)
        summary = g.tune()
        rungs = [r for r in g.recorded if r["kind"] == "rung"]
        self.assertEqual(len(rungs), 2)
        self.assertEqual((rungs[1]["step"], rungs[1]["best_t"], rungs[1]["kept"]),
                         (50, 55, [0.2]))
        # 0.4 ran after 0.2 in rung 1 (the trials run in their rank's order): capped at 50
        # while it ran, not 80
        self.assertEqual(fake.ran[0.4], 50)
        self.assertEqual((summary["winner"], summary["target_step"],
                          summary["target_images"]), (0.2, 55, 55 * 64))

    def test_target_in_the_first_rung_ends_the_group(self):
        curves = {0.1: Curve(flat(0.3)), 0.2: Curve(flat(0.3), reach=12),
                  0.4: Curve(flat(0.3), reach=18), 0.8: Curve(flat(0.3))}
        g, fake = group(curves)
        summary = g.tune()
        self.assertEqual([r["kind"] for r in g.recorded], ["rung"])
        # 0.4 would reach it at 18, but ran only to 10 (after 0.2), where it is compared
        self.assertEqual(g.recorded[0]["ranking"], [0.2, 0.1, 0.4, 0.8])
        # the trials after 0.2 were only run to step 10, the one before it to 20
        self.assertEqual(fake.ran, {0.1: 20, 0.2: 12, 0.4: 10, 0.8: 10})
        self.assertEqual(summary["target_step"], 12)


    def test_max_rung_stops_before_deciding_further(self):
        curves = {lr: Curve(flat(lr)) for lr in (0.1, 0.2, 0.4, 0.8, 1.6)}
        ran = {}
        g, fake = group(curves, ran=ran)
        self.assertIsNone(g.tune(max_rung=0))
        self.assertEqual(([r["rung"] for r in g.recorded], max(ran.values())), ([0], 20))


class Overtime(unittest.TestCase):
    def test_a_winner_short_of_the_target_runs_on_alone(self):
        # 0.2 wins at the cap without the target, then reaches it at step 500 of 2 x 320
        curves = {0.1: Curve(flat(0.3)), 0.2: Curve(lambda s: 0.5 + s / 10000, reach=500),
                  0.4: Curve(flat(0.01)), 0.8: Curve(flat(0.001))}
        g, fake = group(curves, settings=dict(S, extensions=0))
        summary = g.tune()
        self.assertEqual([r["kind"] for r in g.recorded], ["rung"] * 3 + ["overtime"])
        self.assertEqual((g.recorded[-1]["lr"], fake.ran[0.2]), (0.2, 500))
        self.assertEqual((summary["target_step"], summary["cap"], summary["rung_cap"]),
                         (500, 640, 320))
        self.assertEqual(fake.ran[0.1], 20)

    def test_none_when_the_target_was_reached_or_with_overtime_1(self):
        curves = {0.1: Curve(flat(0.3)), 0.2: Curve(flat(0.5), reach=100),
                  0.4: Curve(flat(0.01)), 0.8: Curve(flat(0.001))}
        g, _ = group(curves)
        g.tune()
        self.assertNotIn("overtime", [r["kind"] for r in g.recorded])
        curves[0.2] = Curve(flat(0.5))
        g, fake = group(curves, settings=dict(S, overtime=1, extensions=0))
        self.assertEqual(g.tune()["cap"], 320)
        self.assertEqual(fake.ran[0.2], 320)


class Extensions(unittest.TestCase):
    def test_a_winner_at_the_top_edge_gets_a_trial_beyond(self):
        # the accuracy grows with the lr up to 3.2: the winner moves twice (0.8, 1.6, 3.2)
        # and then stops at --extensions 2
        curves = {lr: Curve(flat(min(lr, 3.2) / 4)) for lr in (0.1, 0.2, 0.4, 0.8, 1.6, 3.2)}
        g, fake = group({lr: curves[lr] for lr in (0.1, 0.2, 0.4, 0.8)})
        fake.curves = curves
        summary = g.tune()
        ext = [r for r in g.recorded if r["kind"] == "extension"]
        self.assertEqual([(r["lr"], r["against"], r["won"]) for r in ext],
                         [(1.6, 0.8, True), (3.2, 1.6, True)])
        self.assertEqual(summary["winner"], 3.2)
        self.assertEqual(summary["grid"], [0.1, 0.2, 0.4, 0.8, 1.6, 3.2])

    def test_an_extension_that_ranks_below_stops_at_its_first_rung(self):
        curves = {0.1: Curve(flat(0.9)), 0.2: Curve(flat(0.5)), 0.4: Curve(flat(0.4)),
                  0.8: Curve(flat(0.3)), 0.05: Curve(flat(0.2))}
        g, fake = group({lr: curves[lr] for lr in (0.1, 0.2, 0.4, 0.8)})
        fake.curves = curves
        summary = g.tune()
        ext = [r for r in g.recorded if r["kind"] == "extension"]
        self.assertEqual([(r["lr"], r["won"], r["last"]["step"]) for r in ext],
                         [(0.05, False, 20)])
        self.assertEqual(fake.ran[0.05], 20)
        self.assertEqual(summary["winner"], 0.1)


class Resume(unittest.TestCase):
    CURVES = {0.1: Curve(flat(0.3)), 0.2: Curve(lambda s: 0.5 if s <= 20 else 0.6),
              0.4: Curve(lambda s: 0.45 if s <= 20 else 0.8), 0.8: Curve(flat(0.2)),
              1.6: Curve(flat(0.85)), 3.2: Curve(flat(0.1))}

    def test_a_stop_anywhere_changes_no_decision(self):
        with tempfile.TemporaryDirectory() as d:
            whole = os.path.join(d, "whole.jsonl")
            group(self.CURVES, whole)[0].tune()
            g, fake = group(self.CURVES)
            g.tune()
            calls = len(fake.calls) + 2
            for stop in range(calls):
                path, ran = os.path.join(d, "stopped%d.jsonl" % stop), {}
                try:
                    group(self.CURVES, path, stop_at=stop, ran=ran)[0].tune()
                except tune.Stopped:
                    pass
                group(self.CURVES, path, ran=ran)[0].tune()
                self.assertEqual(decisions(path), decisions(whole), "stopped at run %d" % stop)

    def test_recorded_decisions_are_read_back_not_made_again(self):
        # after rung 0 is recorded the curves change (as a rerun of a trial could not make
        # them: they are deterministic): rung 0's decision stands
        with tempfile.TemporaryDirectory() as d:
            path, ran = os.path.join(d, "decisions.jsonl"), {}
            try:
                group(self.CURVES, path, stop_at=5, ran=ran)[0].tune()
            except tune.Stopped:
                pass
            self.assertEqual(decisions(path)[0]["kept"], [1.6, 0.2])
            other = dict(self.CURVES)
            other[0.1] = Curve(flat(0.99))
            g, _ = group(other, path, ran=ran)
            g.tune()
            self.assertEqual(g.recorded[0]["kept"], [1.6, 0.2])

    def test_one_tuner_per_study(self):
        with tempfile.TemporaryDirectory() as d:
            held = tune.lock(d)
            with self.assertRaisesRegex(tune.TuneError, "another tune.py is running"):
                tune.lock(d)
            held.close()
            tune.lock(d).close()

    def test_a_trial_stopped_by_a_signal(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertFalse(tune.stopped_by_signal(d))
            with open(os.path.join(d, "log.txt"), "w") as f:
                f.write("epoch 1/4 ...\nstopped by SIGTERM in epoch 2 after its step 3\n")
            self.assertTrue(tune.stopped_by_signal(d))

    def test_a_trial_run_again_must_repeat_its_records(self):
        def recs(d, evals, final=False):
            with open(os.path.join(d, "metrics.jsonl"), "w") as f:
                for step, acc in evals:
                    f.write(json.dumps(dict(eval=True, step=step, train_loss=2.3,
                                            test_loss=2.2, test_acc=acc, wall_s=step)) + "\n")
                if final:
                    f.write(json.dumps(dict(final=True, steps=evals[-1][0])) + "\n")
        with tempfile.TemporaryDirectory() as d:
            recs(d, [(4, 0.1), (8, 0.2)])
            old = tune.evaluations(d)
            recs(d, [(4, 0.1), (8, 0.2), (12, 0.3)], final=True)  # further: compared to 8
            tune.check_replay(d, old)
            recs(d, [(4, 0.1)])  # stopped sooner: compared to 4
            tune.check_replay(d, old)
            tune.check_replay(d, [])  # nothing recorded before
            recs(d, [(4, 0.1), (8, 0.25)])
            with self.assertRaisesRegex(tune.TuneError, "differs from its records at step 8"):
                tune.check_replay(d, old)
            recs(d, [(4, 0.1), (6, 0.2), (8, 0.2)])
            with self.assertRaisesRegex(tune.TuneError, "evaluated at other steps"):
                tune.check_replay(d, old)

    def test_other_settings_are_refused(self):
        with tempfile.TemporaryDirectory() as d:
            tune.check_settings(d, S)
            tune.check_settings(d, dict(S))
            with self.assertRaisesRegex(tune.TuneError, "eta 4, not 3"):
                tune.check_settings(d, dict(S, eta=3))


class Inputs(unittest.TestCase):
    def write(self, d, name, text):
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        return os.path.join(d, name)

    def test_study_file(self):
        with tempfile.TemporaryDirectory() as d:
            p = self.write(d, "s.txt", "# groups\nmom 256 0.1,0.2  # two lrs\n\nlars 1024 1,2,4\n")
            self.assertEqual(tune.read_study(p), [("mom", 256, [0.1, 0.2]),
                                                  ("lars", 1024, [1.0, 2.0, 4.0])])
            for bad in ("mom 256\n", "mom x 0.1,0.2\n", "mom 256 0.1\n", "mom 256 0.1,0.1\n",
                        "mom 256 0.1,-1\n", "# nothing\n"):
                p = self.write(d, "bad.txt", bad)
                with self.assertRaisesRegex(tune.TuneError, "bad.txt"):
                    tune.read_study(p)

    def test_base_config_may_not_set_what_the_tuner_sets(self):
        with tempfile.TemporaryDirectory() as d:
            self.write(d, "m.ini", "; c\n[train]\nmomentum = 0.9\n")
            self.assertEqual(tune.base_config(d, "m"), [("momentum", "0.9")])
            self.write(d, "m.ini", "[train]\nlr = 0.1\n")
            with self.assertRaisesRegex(tune.TuneError, r"m.ini:2: lr is set by tune.py"):
                tune.base_config(d, "m")
            with self.assertRaisesRegex(tune.TuneError, "method 'x' does not exist"):
                tune.base_config(d, "x")

    def test_options(self):
        s, study, tdir, extra = tune.parse_args(["--eta", "3", "a", "b", "--", "--threads", "1"])
        self.assertEqual((s["eta"], study, tdir, extra), (3, "a", "b", ["--threads", "1"]))
        for bad, msg in ((["--eta", "1", "a", "b"], "--eta: 1 is out of range"),
                         (["--rungs", "x", "a", "b"], "--rungs: 'x' is not an integer"),
                         (["--bogus", "a", "b"], "--bogus: unknown option"),
                         (["a"], "give STUDY_FILE and TUNE_DIR")):
            with self.assertRaisesRegex(tune.TuneError, msg):
                tune.parse_args(bad)


if __name__ == "__main__":
    unittest.main(verbosity=2)
