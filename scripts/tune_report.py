#!/usr/bin/python3
"""Reports a tuned batch-size study (scripts/tune.py): per (method, batch) the best trial's
steps to the target, the best learning rate, the compute; the regimes of the steps curve,
McCandlish et al.'s fit and the first study's measured B_simple beside it; a GPU projection.

usage: scripts/tune_report.py [--fixed STUDY_DIR] [--fixed-method KEY] [--target ACC]
                              [--into FILE.md [--img DIR]] TUNE_RECORDS

TUNE_RECORDS: a TUNE_DIR of scripts/tune.py, or the records it exported (--export): one
METHOD/bsBBBB directory a group, with decisions.jsonl, summary.json once decided, and each
trial's lrLR/metrics.jsonl. --fixed: the first study's run directories (docs/runs/study): its
--fixed-method runs (default mom: one lr rule for every batch) are drawn beside the tuned
curve, and its B_simple (scripts/study.py's predicted critical batch) goes beside the fit.

Steps to target: the group winner's first evaluation at the target (its final record's
target_step); "not reached" groups show their cap. Per doubling of the batch, the ratio of
steps S(2B)/S(B) names the regime: <= 0.6 perfect scaling (0.5 exactly), 0.6-0.95
diminishing returns, >= 0.95 (or not reached) no further gain; the maximal useful batch is
the largest measured batch reached with a ratio below 0.95 from its half that is followed
by a ratio >= 0.95 or a miss. McCandlish's S = S_min (1 + B_noise / B) (equivalently
(S/S_min - 1)(E/E_min - 1) = 1 with E = S B, B_crit = E_min / S_min = B_noise) is fitted by
least squares in log S to the reached groups of a method (at least 3). Compute: the sum of
the trials' final wall_s (cumulative over resumes; time lost to a kill after a checkpoint
is not in it).

Without --into the Markdown goes to stdout; --into FILE replaces what lies between the lines
"<!-- tune_report.py: begin -->" and "<!-- tune_report.py: end -->" in FILE, and writes the
plots (tuned_steps_to_target, tuned_best_lr; PNG and SVG) into --img (default: FILE's
directory/img), every file under a temporary name first. Needs matplotlib for --into.
Exit status: 0, or 1 with one line "tune_report.py: error: ..." on bad input.
"""
import argparse
import glob
import json
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study  # noqa: E402  (the first study's reader: runs, targets, B_simple)
from study import duration, scaling_model, table  # noqa: E402
from summarize import InputError, pyplot, run_cli, save_figures  # noqa: E402

PROG = "tune_report.py"
NAMES = {"mom": "momentum 0.9, tuned lr", "lamb": "LAMB, tuned lr", "lars": "LARS, tuned lr",
         "agc": "momentum 0.9 + AGC, tuned lr"}
BEGIN, END = "<!-- tune_report.py: begin -->", "<!-- tune_report.py: end -->"
PLOTS = ("tuned_steps_to_target", "tuned_best_lr")
PERFECT, NO_GAIN = 0.6, 0.95


def read_jsonl(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: {e}") from None


def load_group(gdir):
    """One group's decisions, summary (None while undecided) and trials."""
    m = re.fullmatch(r"bs0*(\d+)", os.path.basename(gdir))
    method = os.path.basename(os.path.dirname(gdir))
    trials = {}
    for mpath in sorted(glob.glob(os.path.join(gdir, "lr*", "metrics.jsonl"))):
        lr = float(os.path.basename(os.path.dirname(mpath))[2:])
        finals = [r for r in read_jsonl(mpath) if r.get("final")]
        trials[lr] = finals[-1] if finals else None
    spath = os.path.join(gdir, "summary.json")
    summary = None
    if os.path.exists(spath):
        try:
            with open(spath) as f:
                summary = json.load(f)
        except (OSError, ValueError) as e:
            raise InputError(f"{spath}: {e}") from None
    dpath = os.path.join(gdir, "decisions.jsonl")
    return {"method": method, "batch": int(m.group(1)), "summary": summary, "trials": trials,
            "decisions": read_jsonl(dpath) if os.path.exists(dpath) else []}


def load_groups(root):
    dirs = sorted(glob.glob(os.path.join(root, "*", "bs[0-9]*")))
    groups = [load_group(d) for d in dirs if os.path.isdir(d)]
    if not groups:
        raise InputError(f"{root}: no METHOD/bsBBBB group directories in it")
    order = {k: i for i, k in enumerate(NAMES)}
    groups.sort(key=lambda g: (order.get(g["method"], len(order)), g["method"], g["batch"]))
    return groups


def wall_s(group):
    return sum(f["wall_s"] for f in group["trials"].values() if f and f.get("wall_s"))


def images_run(group):
    return sum(f["steps"] * group["batch"] for f in group["trials"].values() if f)


def steps(group):
    s = group["summary"]
    return s["target_step"] if s and s["reached"] else None


# --- the curve ----------------------------------------------------------------------------

def regimes(groups):
    """[(batch, ratio S(B)/S(B/2) or None (a miss), regime)] for one method's decided groups."""
    done = [g for g in groups if g["summary"]]
    out = []
    for a, b in zip(done, done[1:]):
        if b["batch"] != 2 * a["batch"] or steps(a) is None:
            continue
        r = steps(b) / steps(a) if steps(b) is not None else None
        name = ("no further gain" if r is None or r >= NO_GAIN else
                "perfect scaling" if r <= PERFECT else "diminishing returns")
        out.append((b["batch"], r, name))
    return out


def max_useful(reg):
    """The largest batch reached with a ratio < NO_GAIN that the next doubling does not beat."""
    for (b, r, _), (_, r2, _) in zip(reg, reg[1:]):
        if r is not None and r < NO_GAIN and (r2 is None or r2 >= NO_GAIN):
            return b
    return None


def fit(points):
    """McCandlish: (S_min, B_noise, rms of log residuals) over [(B, S)], by a 1-D search."""
    if len(points) < 3:
        return None

    def at(bn):
        logs = [math.log(s) - math.log(1 + bn / b) for b, s in points]
        smin = math.exp(sum(logs) / len(logs))
        rms = math.sqrt(sum((math.log(s) - math.log(smin * (1 + bn / b))) ** 2
                            for b, s in points) / len(points))
        return rms, smin, bn
    grid = [10 ** (k / 200) for k in range(-200, 1401)]  # 0.1 .. 1e7
    rms, smin, bn = min(at(bn) for bn in grid)
    return smin, bn, rms


# --- Markdown ------------------------------------------------------------------------------

def group_row(g):
    s, name = g["summary"], NAMES.get(g["method"], g["method"])
    lrs = ", ".join("%g" % lr for lr in sorted(g["trials"]))
    cost = f"{len(g['trials'])} trials, {images_run(g) / 1e6:.2f}M images, {wall_s(g) / 3600:.2f} h"
    if not s:
        rungs = [d["rung"] for d in g["decisions"] if d["kind"] == "rung"]
        state = f"in progress ({len(rungs)} rung(s) decided)"
        return [name, str(g["batch"]), lrs, "-", state, "-", "-", cost]
    t = s["target_step"]
    edge = " (grid edge)" if s["winner"] in (min(s["grid"]), max(s["grid"])) else ""
    return [name, str(g["batch"]), lrs, "%g%s" % (s["winner"], edge),
            f"{t:,}" if t is not None else f"not reached in {s['cap']:,}",
            f"{t * g['batch']:,}" if t is not None else "-",
            study.fmt(s.get("best_acc"), ".4f"), cost]


def fixed_points(fixed_dir, method, target):
    """[(B, steps or None)] of the first study's runs of method (one lr rule), and B_crit."""
    if not fixed_dir:
        return [], None
    runs = [study.load_run(d) for d in study.find_runs([fixed_dir])]
    for r in runs:
        study.analyse(r, target, None)
    crit = study.critical_batch(runs)
    mine = sorted((r for r in runs if r["method"] == method), key=lambda r: r["batch"])
    return [(r["batch"], r["hit"]["step"] if r["hit"] else None) for r in mine], crit


def method_section(method, groups, crit):
    name = NAMES.get(method, method)
    reg = regimes(groups)
    lines = [f"### {name}\n"]
    if reg:
        lines.append("Per doubling of the batch, S(B)/S(B/2): " + "; ".join(
            f"{b}: {'miss' if r is None else f'{r:.2f}'} ({n})" for b, r, n in reg) + ".\n")
        mu = max_useful(reg)
        lines.append(f"Maximal useful batch as measured: {mu}.\n" if mu else
                     "Maximal useful batch: not located by the measured batches.\n")
    pts = [(g["batch"], steps(g)) for g in groups if steps(g) is not None]
    f = fit(pts)
    if f:
        smin, bn, rms = f
        crit_text = (f"; the first study's B_simple (median over the second half of its "
                     f"batch-{crit[1]} runs) is {crit[0]:,.0f}" if crit else "")
        lines.append(f"McCandlish fit over {len(pts)} reached batches: S_min = {smin:,.0f} "
                     f"steps, E_min = {smin * bn:,.0f} images, B_crit = E_min/S_min = "
                     f"{bn:,.0f} (rms of the log residuals {rms:.3f}){crit_text}.\n")
    else:
        lines.append(f"McCandlish fit: needs 3 reached batches, has {len(pts)}.\n")
    return "\n".join(lines)


def by_batch(groups):
    """Where several methods were tuned at one batch: a row per batch, a column per method."""
    methods = list(dict.fromkeys(g["method"] for g in groups))
    at = {}
    for g in groups:
        if g["summary"]:
            at.setdefault(g["batch"], {})[g["method"]] = g
    rows = []
    for b in sorted(at):
        if len(at[b]) < 2:
            continue
        cells = [str(b)]
        for m in methods:
            g = at[b].get(m)
            cells.append("-" if g is None else f"{steps(g):,} (lr {g['summary']['winner']:g})"
                         if steps(g) else f"not in {g['summary']['cap']:,} "
                         f"(best {study.fmt(g['summary'].get('best_acc'), '.3f')})")
        rows.append(cells)
    if not rows:
        return ""
    return ("### The methods side by side\n\nSteps to the target of each method's best trial "
            "at the batches tuned for more than one method:\n\n" +
            table(["batch"] + [NAMES.get(m, m) for m in methods], rows))


def projection(groups):
    rows = []
    for g in groups:
        t = steps(g)
        if t is None:
            continue
        cells = [NAMES.get(g["method"], g["method"]), str(g["batch"]), f"{t:,}"]
        for p in study.GPUS:
            cells.append("-" if g["batch"] < p else
                         duration(t * scaling_model.step_time(g["batch"], p)))
        rows.append(cells)
    if not rows:
        return "No group has reached the target yet: nothing to project.\n"
    return ("A model, not a measurement: the tuned steps to the target times "
            "bench/scaling_model.py's step time for the global batch over P GPUs (its "
            "default points; see docs/scaling.md).\n\n" +
            table(["method", "batch", "steps to target"] + [f"P = {p}" for p in study.GPUS],
                  rows) + "\n-: fewer than one image per GPU.\n")


def markdown(groups, fixed, crit, target, plots):
    decided = [g for g in groups if g["summary"]]
    total = sum(wall_s(g) for g in groups)
    text = [f"{len(decided)} of {len(groups)} groups decided; target test acc {target:g}; "
            f"compute so far {total / 3600:.1f} h (the trials' wall time on the 2-core "
            "machine, shared with other work: seconds are not benchmarks).\n",
            table(["method", "batch", "lrs tried", "best lr", "steps to target",
                   "images to target", "best test acc", "cost"],
                  [group_row(g) for g in groups])]
    if fixed:
        text.append("\nThe first study's one rule (momentum 0.9, 0.025 per 256 images scaled "
                    "linearly, 10 epochs), steps to the target: " + "; ".join(
                        f"{b}: {s:,}" if s else f"{b}: not reached" for b, s in fixed) + ".\n")
    if crit:
        text.append(f"The first study's measured B_simple (the median over the second half of "
                    f"its batch-{crit[1]} runs): {crit[0]:,.0f}.\n")
    for method in dict.fromkeys(g["method"] for g in groups):
        text.append(method_section(method, [g for g in groups if g["method"] == method], crit))
    side = by_batch(groups)
    if side:
        text.append(side)
    text.append("### GPU projection with the tuned steps\n\n" + projection(groups))
    for p in plots:
        text.append(f"![{p}](img/{p}.png)\n")
    return "\n".join(text)


# --- plots ---------------------------------------------------------------------------------

def figures(groups, fixed):
    plt = pyplot()
    figs = {}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    methods = list(dict.fromkeys(g["method"] for g in groups))
    for m in methods:
        mine = [g for g in groups if g["method"] == m and g["summary"]]
        hit = [(g["batch"], steps(g)) for g in mine if steps(g) is not None]
        miss = [(g["batch"], g["summary"]["cap"]) for g in mine if steps(g) is None]
        line, = ax.plot([b for b, _ in hit], [s for _, s in hit], "o-", label=NAMES.get(m, m))
        if miss:
            ax.plot([b for b, _ in miss], [s for _, s in miss], "^", mfc="none",
                    color=line.get_color(), label=f"{NAMES.get(m, m)}: not reached (cap)")
        f = fit(hit)
        if f:
            xs = [2 ** (k / 4) for k in range(16, 57)]
            ax.plot(xs, [f[0] * (1 + f[1] / x) for x in xs], ":", color=line.get_color(),
                    label=f"fit: S_min {f[0]:,.0f}, B_crit {f[1]:,.0f}")
    hits = [(b, s) for b, s in fixed if s]
    if hits:
        ax.plot([b for b, _ in hits], [s for _, s in hits], "s--", color="grey",
                label="first study: one lr rule")
    ref = min(((g["batch"], steps(g)) for g in groups if steps(g)), default=None)
    if ref:
        xs = [ref[0] * 2 ** k for k in range(0, 9)]
        ax.plot(xs, [ref[1] * ref[0] / x for x in xs], "k-", lw=0.6, label="perfect scaling")
    ax.set(xscale="log", yscale="log", xlabel="global batch", ylabel="steps to target")
    ax.legend(fontsize=7)
    figs["tuned_steps_to_target"] = fig
    fig, ax = plt.subplots(figsize=(7, 4))
    for m in methods:
        mine = [g for g in groups if g["method"] == m and g["summary"]]
        ax.plot([g["batch"] for g in mine], [g["summary"]["winner"] for g in mine], "o-",
                label=NAMES.get(m, m))
    ax.set(xscale="log", yscale="log", xlabel="global batch", ylabel="best lr")
    ax.legend(fontsize=7)
    figs["tuned_best_lr"] = fig
    return figs


def write_into(path, img_dir, text, figs):
    try:
        with open(path, encoding="utf-8") as f:
            page = f.read()
    except OSError as e:
        raise InputError(f"{path}: {e.strerror}") from None
    if page.count(BEGIN) != 1 or page.count(END) != 1 or page.index(BEGIN) > page.index(END):
        raise InputError(f"{path}: needs one line '{BEGIN}' and, after it, one '{END}'")
    head, rest = page.split(BEGIN)
    tail = rest.split(END)[1]
    suffix = f".tmp.{os.getpid()}"
    tmps = [(path + suffix, path)]
    try:
        os.makedirs(img_dir, exist_ok=True)
        with open(tmps[0][0], "w", encoding="utf-8") as f:
            f.write(head + BEGIN + "\n" + text + "\n" + END + tail)
        save_figures(figs, img_dir, suffix, tmps)
    except OSError as e:
        for tmp, _ in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise InputError(f"{e.filename or path}: {e.strerror}") from None
    for tmp, final in tmps:
        os.replace(tmp, final)


def main(argv):
    ap = argparse.ArgumentParser(prog=PROG)
    ap.add_argument("--fixed")
    ap.add_argument("--fixed-method", default="mom")
    ap.add_argument("--target", type=float, default=0.87)
    ap.add_argument("--into")
    ap.add_argument("--img")
    ap.add_argument("records")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.records):
        raise InputError(f"{a.records}: not a directory")
    groups = load_groups(a.records)
    fixed, crit = fixed_points(a.fixed, a.fixed_method, a.target)
    if not a.into:
        sys.stdout.write(markdown(groups, fixed, crit, a.target, []))
        return 0
    figs = figures(groups, fixed)
    write_into(a.into, a.img or os.path.join(os.path.dirname(a.into) or ".", "img"),
               markdown(groups, fixed, crit, a.target, PLOTS), figs)
    return 0


if __name__ == "__main__":
    run_cli(PROG, main)
