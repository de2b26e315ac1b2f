#!/usr/bin/python3
"""scripts/tune_report.py on fixture records: the table, the regimes and the maximal useful
batch, McCandlish's fit recovering known parameters, the section replaced between its markers
with the plots written, and bad input refused.

usage: test_tune_report.py SCRIPTS_DIR"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, sys.argv.pop(1))
import tune_report  # noqa: E402
from summarize import InputError  # noqa: E402


def write_group(root, method, batch, winner, target_step, cap=1000, lrs=(0.1, 0.2, 0.4)):
    g = os.path.join(root, method, "bs%04d" % batch)
    for lr in lrs:
        os.makedirs(os.path.join(g, "lr%g" % lr))
        final = {"final": True, "steps": target_step or cap, "wall_s": 360.0,
                 "target_reached": target_step is not None and lr == winner}
        with open(os.path.join(g, "lr%g" % lr, "metrics.jsonl"), "w") as f:
            f.write(json.dumps(final) + "\n")
    with open(os.path.join(g, "decisions.jsonl"), "w") as f:
        f.write(json.dumps({"kind": "rung", "rung": 0}) + "\n")
    with open(os.path.join(g, "summary.json"), "w") as f:
        json.dump({"winner": winner, "grid": list(lrs), "reached": target_step is not None,
                   "target_step": target_step, "best_acc": 0.88, "cap": cap}, f)


class Report(unittest.TestCase):
    def setUp(self):
        self.d = tempfile.TemporaryDirectory()
        self.root = self.d.name
        # steps 4000, 2000 (0.5: perfect), 1500 (0.75: diminishing), 1450 (0.97: no gain)
        for b, s in ((64, 4000), (128, 2000), (256, 1500), (512, 1450)):
            write_group(self.root, "mom", b, 0.2, s)
        write_group(self.root, "mom", 1024, 0.4, None)

    def tearDown(self):
        self.d.cleanup()

    def test_regimes_and_maximal_useful_batch(self):
        groups = [g for g in tune_report.load_groups(self.root) if g["method"] == "mom"]
        reg = tune_report.regimes(groups)
        self.assertEqual([(b, n) for b, _, n in reg],
                         [(128, "perfect scaling"), (256, "diminishing returns"),
                          (512, "no further gain"), (1024, "no further gain")])
        self.assertEqual(tune_report.max_useful(reg), 256)

    def test_fit_recovers_known_parameters(self):
        pts = [(b, 1000 * (1 + 300 / b)) for b in (32, 64, 128, 256, 512, 1024, 2048)]
        smin, bn, rms = tune_report.fit(pts)
        self.assertAlmostEqual(smin / 1000, 1, delta=0.02)
        self.assertAlmostEqual(bn / 300, 1, delta=0.03)
        self.assertLess(rms, 0.01)
        self.assertIsNone(tune_report.fit(pts[:2]))

    def test_table_rows(self):
        groups = tune_report.load_groups(self.root)
        rows = {r[1]: r for r in map(tune_report.group_row, groups)}
        self.assertEqual(rows["256"][3:6], ["0.2", "1,500", "384,000"])
        self.assertEqual(rows["1024"][3:5], ["0.4 (grid edge)", "not reached in 1,000"])
        self.assertIn("3 trials", rows["64"][7])

    def test_methods_side_by_side(self):
        write_group(self.root, "lamb", 1024, 0.01, 900, lrs=(0.005, 0.01, 0.02))
        text = tune_report.by_batch(tune_report.load_groups(self.root))
        self.assertIn("| 1024 | not in 1,000 (best 0.880) | 900 (lr 0.01) |", text)
        self.assertNotIn("| 512 |", text)

    def test_into_replaces_the_section_and_writes_the_plots(self):
        page = os.path.join(self.root, "page.md")
        with open(page, "w") as f:
            f.write("# kept\n%s\nold\n%s\nkept too\n" % (tune_report.BEGIN, tune_report.END))
        tune_report.main(["--into", page, self.root])
        with open(page) as f:
            text = f.read()
        self.assertTrue(text.startswith("# kept\n") and text.endswith("kept too\n"))
        self.assertNotIn("\nold\n", text)
        self.assertIn("Maximal useful batch as measured: 256.", text)
        for p in tune_report.PLOTS:
            self.assertTrue(os.path.exists(os.path.join(self.root, "img", p + ".png")))
        self.assertEqual([n for n in os.listdir(self.root) if ".tmp." in n], [])

    def test_bad_input(self):
        page = os.path.join(self.root, "nomarkers.md")
        with open(page, "w") as f:
            f.write("nothing\n")
        with self.assertRaisesRegex(InputError, "nomarkers.md: needs one line"):
            tune_report.main(["--into", page, self.root])
        with self.assertRaisesRegex(InputError, "no METHOD/bsBBBB group"):
            tune_report.main([os.path.join(self.root, "mom", "bs0064")])


if __name__ == "__main__":
    unittest.main(verbosity=2)
