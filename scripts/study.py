#!/usr/bin/python3
"""Reports a batch-size study: how many steps, images and seconds each run took to reach a
target test accuracy, its best accuracy within an epoch budget, its gradient noise scale,
and what that would mean on GPU clusters (a model, not a measurement).

usage: scripts/study.py --target ACC [--budget-epochs N] [--method KEY=NAME ...]
                        [--step-ms-at B=MS --step-ms-at B=MS] [-o DIR] STUDY_DIR|RUN_DIR...

A STUDY_DIR holds run directories (scripts/sweep.sh --grid configs/study/grid.txt STUDY_DIR),
each named METHOD_bsBATCH after its config file (sgd_bs0032, lars_bs8192); a RUN_DIR given
directly is one run. Each run is read from metrics.jsonl (eval records, epoch records, the
final record; a run without the final record is "unfinished" and reported from what it has;
one whose final record says "diverged" is reported as diverged at that step)
and config.ini (batch-size, lr, lr-scale, base-batch, epochs).

Per run: the first evaluation (eval record or epoch-end evaluation) with test acc >= ACC,
its steps, images and training time (train_s; epoch records only: the sum of epoch_s), else
"not reached"; the final and best test acc; B_simple (McCandlish's simple noise scale) at the
last record having it and its median over the second half of the run (positive values);
img/s. With --budget-epochs N only evaluations up to epoch N count, for the target and the
accuracies. lr is the peak lr: lr x B/base-batch (lr-scale linear), x sqrt(B/base-batch)
(sqrt), else lr. The predicted critical batch is the median late B_simple of the runs at the
smallest batch that has any. Then the reference table (batch | lr | epochs | loss | train acc
| test acc | examples/s) per method, and each run that reached ACC projected onto 8, 64 and
512 GPUs: its steps x the step time of bench/scaling_model.py (step_time, with overlap) for
the global batch split over P GPUs (skipped below one image per GPU); --step-ms-at gives
that model's two (per-GPU batch, step ms) points (default: its own).

--method KEY=NAME names a method in tables and legends (built in: sgd, mom, lars; others show
as their key). Output: without -o the Markdown goes to stdout; -o DIR (created if missing)
writes DIR/study.md and three plots as PNG and SVG, steps_to_target (log-log, with perfect
scaling), best_acc (against the batch) and b_simple (over training, one panel per method),
all or nothing: each is written under a temporary name and renamed when all are done.
Needs matplotlib for -o (Debian: python3-matplotlib, with /usr/bin/python3).
Exit status: 0, or 1 with one line "study.py: error: FILE:LINE: ..." on bad input.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scaling_model  # noqa: E402  (the cluster step-time model)
# one reader of metrics.jsonl, one writer of the plots
from summarize import InputError, json_records, pyplot, run_cli, save_figures  # noqa: E402

PROG = "study.py"
METHODS = {"sgd": "plain SGD, lr 0.05", "mom": "momentum 0.9 + linear scaling + warmup",
           "lars": "LARS"}
GPUS = (8, 64, 512)
PLOTS = ("steps_to_target", "best_acc", "b_simple")
EVAL_KEYS = ("step", "images", "epoch", "test_acc", "train_s")
EPOCH_KEYS = ("epoch", "step", "loss", "train_acc", "test_acc", "img_per_s", "epoch_s")
FINAL_KEYS = ("epochs", "steps", "img_per_s", "wall_s")


# ---- reading runs ----
def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_record(where, rec, keys):
    for key in keys:
        if not is_number(rec.get(key)):
            raise InputError(f"{where}: '{key}' missing or not a number")
    if "b_simple" in rec and not (rec["b_simple"] is None or is_number(rec["b_simple"])):
        raise InputError(f"{where}: 'b_simple' is neither a number nor null")


def read_metrics(run_dir):
    """metrics.jsonl as (eval records, epoch records, final record or None) (summarize.py's
    json_records: a last line without its newline is still being written and is left out)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    evals, epochs, final = [], [], None
    for n, rec in json_records(path):
        if rec.get("final") is True:
            check_record(f"{path}:{n}", rec, FINAL_KEYS)
            final = rec
        elif rec.get("eval") is True:
            check_record(f"{path}:{n}", rec, EVAL_KEYS)
            evals.append(rec)
        elif "epoch" in rec:
            check_record(f"{path}:{n}", rec, EPOCH_KEYS)
            epochs.append(rec)
        else:
            raise InputError(f"{path}:{n}: neither an eval, an epoch nor the final record")
    return evals, epochs, final


def read_config(run_dir):
    """config.ini's key = value pairs as {key: (value, line)}, {} when absent."""
    path = os.path.join(run_dir, "config.ini")
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    cfg = {}
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if line and line[0] not in ";#[" and "=" in line:
            key, value = line.split("=", 1)
            cfg[key.strip()] = (value.split(" ;")[0].strip(), n)
    return cfg


def config_number(run_dir, cfg, key, cast, default=None):
    if key not in cfg:
        return default
    value, n = cfg[key]
    try:
        number = cast(value)
    except ValueError:
        number = None
    if number is None or not number > 0:
        raise InputError(f"{os.path.join(run_dir, 'config.ini')}:{n}: "
                         f"{key} = '{value}' is not a positive number")
    return number


def peak_lr(run_dir, cfg, batch, records):
    """The lr the run peaked at: config.ini's lr with lr-scale applied, else the records'."""
    lr = config_number(run_dir, cfg, "lr", float)
    if lr is None:
        lrs = [r["lr"] for r in records if is_number(r.get("lr"))]
        return max(lrs) if lrs else None
    base = config_number(run_dir, cfg, "base-batch", int, 256)
    scale = cfg.get("lr-scale", ("none", 0))[0]
    if scale == "linear":
        return lr * batch / base
    if scale == "sqrt":
        return lr * math.sqrt(batch / base)
    return lr


def point(rec, images, train_s):
    return {"step": rec["step"], "images": images, "epoch": rec["epoch"], "train_s": train_s,
            "test_acc": rec["test_acc"], "b_simple": rec.get("b_simple")}


def evaluations(evals, epochs, batch):
    """Every evaluation in step order: the eval records, and the epoch records at steps no
    eval record has (all of them for runs without --eval-every; images then = steps x batch,
    training time = the sum of epoch_s so far)."""
    points = [point(r, r["images"], r["train_s"]) for r in evals]
    seen = {p["step"] for p in points}
    train_s = 0.0
    for r in epochs:
        train_s += r["epoch_s"]
        if r["step"] not in seen:
            points.append(point(r, r["step"] * batch, train_s))
    return sorted(points, key=lambda p: p["step"])


def load_run(run_dir):
    evals, epochs, final = read_metrics(run_dir)
    cfg = read_config(run_dir)
    name = os.path.basename(os.path.normpath(run_dir))
    match = re.fullmatch(r"(.+)_bs0*(\d+)", name)
    records = evals + epochs + ([final] if final else [])
    batch = config_number(run_dir, cfg, "batch-size", int)
    batch = batch or next((r["global_batch"] for r in records if is_number(r.get("global_batch"))),
                          int(match.group(2)) if match else None)
    if not batch:
        raise InputError(f"{run_dir}: no batch size (config.ini batch-size, records or name)")
    done = final["epochs"] if final else (epochs[-1]["epoch"] if epochs else 0)
    return {"dir": run_dir, "name": name, "method": match.group(1) if match else name,
            "batch": batch, "lr": peak_lr(run_dir, cfg, batch, records),
            "epochs": config_number(run_dir, cfg, "epochs", int), "done": done,
            "epoch_recs": epochs, "final": final, "points": evaluations(evals, epochs, batch)}


def find_runs(paths):
    """RUN_DIRs as given; a directory without metrics.jsonl stands for its run directories."""
    dirs = []
    for p in paths:
        if not os.path.isdir(p):
            raise InputError(f"{p}: not a directory")
        if os.path.exists(os.path.join(p, "metrics.jsonl")):
            dirs.append(p)
            continue
        subs = sorted(os.path.join(p, d) for d in os.listdir(p)
                      if os.path.exists(os.path.join(p, d, "metrics.jsonl")))
        if not subs:
            raise InputError(f"{p}: no metrics.jsonl in it or in its subdirectories")
        dirs.extend(subs)
    return dirs


# ---- what a run shows ----
def analyse(run, target, budget):
    """Adds the run's results: target hit, accuracies within the budget, B_simple, img/s."""
    points = run["points"]
    counted = [p for p in points if budget is None or p["epoch"] <= budget + 1e-9]
    run["hit"] = next((p for p in counted if p["test_acc"] >= target), None)
    run["final_acc"] = counted[-1]["test_acc"] if counted else None
    run["best_acc"] = max((p["test_acc"] for p in counted), default=None)
    gns = [p for p in points if is_number(p["b_simple"])]
    run["bs_end"] = gns[-1]["b_simple"] if gns else None
    half = points[-1]["step"] / 2 if points else 0
    run["bs_late"] = [p["b_simple"] for p in gns if p["step"] >= half and p["b_simple"] > 0]
    run["img_s"] = throughput(run)


def throughput(run):
    if run["final"] and is_number(run["final"].get("img_per_s")):
        return run["final"]["img_per_s"]
    last = run["points"][-1] if run["points"] else None
    return last["images"] / last["train_s"] if last and last["train_s"] > 0 else None


def method_order(runs):
    keys = {r["method"] for r in runs}
    return [m for m in METHODS if m in keys] + sorted(keys - set(METHODS))


def order_runs(runs):
    methods = method_order(runs)
    runs.sort(key=lambda r: (methods.index(r["method"]), r["batch"]))
    for a, b in zip(runs, runs[1:]):
        if (a["method"], a["batch"]) == (b["method"], b["batch"]):
            raise InputError(f"{b['dir']}: method {b['method']} at batch {b['batch']} "
                             f"twice (also {a['dir']})")
    return runs


def critical_batch(runs):
    """(B_crit, batch, run names): the median late B_simple of the smallest batch's runs."""
    with_values = [r for r in runs if r["bs_late"]]
    if not with_values:
        return None
    batch = min(r["batch"] for r in with_values)
    group = [r for r in with_values if r["batch"] == batch]
    values = [v for r in group for v in r["bs_late"]]
    return statistics.median(values), batch, [r["name"] for r in group]


# ---- Markdown ----
def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def duration(s):
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 10:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s"
    s = int(round(s))
    return f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s // 60 % 60:02d}m"


def epochs_cell(run):
    text = f"{fmt(run['done'], 'g')}/{fmt(run['epochs'], 'd')}"
    if run["final"] and run["final"].get("diverged"):
        return text + f" (diverged at step {run['final'].get('diverged_step', 0):,})"
    return text if run["final"] else text + " (unfinished)"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows]) + "\n"


def run_row(run, names):
    hit = run["hit"]
    reached = [f"{hit['step']:,}", f"{hit['images']:,.0f}", duration(hit["train_s"])] if hit \
        else ["not reached", "-", "-"]
    bs_late = statistics.median(run["bs_late"]) if run["bs_late"] else None
    return ([names.get(run["method"], run["method"]), str(run["batch"]), fmt(run["lr"], "g"),
             epochs_cell(run)] + reached +
            [fmt(run["final_acc"], ".3f"), fmt(run["best_acc"], ".3f"),
             fmt(run["bs_end"], ",.0f"), fmt(bs_late, ",.0f"), fmt(run["img_s"], ",.1f")])


def runs_section(runs, names, target, budget):
    unfinished = sum(1 for r in runs if not r["final"])
    within = f"within the first {budget:g} epochs" if budget else "over the whole run"
    header = ["method", "batch", "lr", "epochs", "steps to target", "images to target",
              "time to target", "final test acc", "best test acc", "B_simple end",
              "B_simple 2nd half", "img/s"]
    rows = [run_row(r, names) for r in runs]
    return (f"{len(runs)} runs ({unfinished} unfinished); target test acc {target:g}, "
            f"evaluations counted {within}.\n\n" + table(header, rows) +
            "\nlr: the peak lr (lr-scale applied). Time to target: training time up to that "
            "evaluation (evaluations excluded). B_simple: McCandlish's simple noise scale at the "
            "last record having it, and the median of its positive values over the second half "
            "of the run. img/s: training images per second over the run.\n")


def critical_sentence(crit):
    if crit is None:
        return "No run recorded a positive B_simple: no predicted critical batch.\n"
    value, batch, names = crit
    return (f"Predicted critical batch: about {value:,.0f}, the median B_simple over the second "
            f"half of the batch-{batch} runs ({', '.join(names)}).\n")


def reference_row(run):
    last = run["final"] if run["final"] and not run["final"].get("diverged") else \
        (run["epoch_recs"][-1] if run["epoch_recs"] else {})
    return [str(run["batch"]), fmt(run["lr"], "g"), epochs_cell(run),
            fmt(last.get("loss"), ".3f"), fmt(last.get("train_acc"), ".3f"),
            fmt(last.get("test_acc"), ".3f"), fmt(last.get("img_per_s"), ".1f")]


def reference_section(runs, names):
    header = ["batch", "lr", "epochs", "loss", "train acc", "test acc", "examples/s"]
    parts = []
    for method in method_order(runs):
        rows = [reference_row(r) for r in runs if r["method"] == method]
        parts.append(f"#### {names.get(method, method)}\n\n" + table(header, rows))
    return "\n".join(parts)


def projection_rows(runs, names, points):
    """The table rows of the runs that reached the target, and the soonest
    (seconds, run, P, steps) of all."""
    rows, best = [], None
    for run in (r for r in runs if r["hit"]):
        steps = run["hit"]["step"]
        cells = [names.get(run["method"], run["method"]), str(run["batch"]), f"{steps:,}"]
        for p in GPUS:
            if run["batch"] < p:  # below one image per GPU
                cells.append("-")
                continue
            t = steps * scaling_model.step_time(run["batch"], p, points=points)
            cells.append(duration(t))
            if best is None or t < best[0]:
                best = (t, run, p, steps)
        rows.append(cells)
    return rows, best


def projection_section(runs, names, points):
    t0, rate = scaling_model.fit(points)
    intro = ("A model, not a measurement: each run's measured steps to the target times the "
             "step time bench/scaling_model.py models for its global batch split over P GPUs "
             f"(per-GPU compute t_c(b) = {t0 * 1e3:.2f} ms + b / {rate:,.0f} img/s, fitted to "
             + ", ".join(f"batch {b:g}: {t * 1e3:.2f} ms" for b, t in points) +
             "; ring all-reduce overlapped with backward, NVLink within 8 GPUs, InfiniBand "
             "beyond).\n\n")
    rows, best = projection_rows(runs, names, points)
    if best is None:
        return intro + "No run reached the target: nothing to project.\n"
    t, run, p, steps = best
    header = ["method", "batch", "steps to target"] + [f"P = {p}" for p in GPUS]
    return (intro + table(header, rows) + "\n-: fewer than one image per GPU.\n\n"
            f"Soonest to the target (model): batch {run['batch']} "
            f"({names.get(run['method'], run['method'])}) on {p} GPUs, {duration(t)} "
            f"({steps:,} steps of {t / steps * 1e3:.1f} ms).\n")


def markdown(runs, names, target, budget, points, plots):
    parts = [f"## Batch-size study: steps to test acc {target:g}\n",
             runs_section(runs, names, target, budget), critical_sentence(critical_batch(runs))]
    if plots:
        parts.append(" ".join(f"![{p.replace('_', ' ')}]({p}.svg)" for p in plots) + "\n")
    parts += ["### Reference tables\n", reference_section(runs, names),
              "### Projected time to the target on GPU clusters\n",
              projection_section(runs, names, points)]
    return "\n".join(parts)


# ---- plots ----
def colours_for(runs):
    import matplotlib.pyplot as plt
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {m: cycle[i % len(cycle)] for i, m in enumerate(method_order(runs))}


def batch_axis(ax, runs):
    batches = sorted({r["batch"] for r in runs})
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, labels=[str(b) for b in batches])
    ax.minorticks_off()
    ax.set_xlabel("global batch")
    ax.grid(True, alpha=0.3)


def side_legend(ax):
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1))


def plot_steps(ax, runs, names, colours, target, crit):
    for i, method in enumerate(method_order(runs)):
        group = [r for r in runs if r["method"] == method]
        hit = [r for r in group if r["hit"]]
        ax.plot([r["batch"] for r in hit], [r["hit"]["step"] for r in hit], "-o",
                color=colours[method], label=names.get(method, method))
        # One row per method along the top edge, so that methods missing at the same batch
        # stay apart.
        missed = [r["batch"] for r in group if not r["hit"]]
        ax.plot(missed, [0.97 - 0.045 * i] * len(missed), "^", color=colours[method],
                mfc="none", ms=9, transform=ax.get_xaxis_transform())
    reached = [r for r in runs if r["hit"]]
    batch_axis(ax, runs)
    if reached:
        b0 = min(r["batch"] for r in reached)
        s0 = min(r["hit"]["step"] for r in reached if r["batch"] == b0)
        xs = [b0, max(r["batch"] for r in runs)]
        ax.plot(xs, [s0 * b0 / x for x in xs], ":", color="grey", label="perfect scaling")
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no run reached the target", ha="center", transform=ax.transAxes)
        ax.set_yticks([])
    if crit:
        ax.axvline(crit[0], color="grey", linestyle="--",
                   label=f"predicted critical batch {crit[0]:,.0f}")
    if any(not r["hit"] for r in runs):
        ax.plot([], [], "^", color="grey", mfc="none",
                label="not reached (rows at the top, one per method)")
    ax.set_ylabel(f"steps to test acc {target:g}")
    side_legend(ax)


def plot_acc(ax, runs, names, colours, target, budget):
    for method in method_order(runs):
        group = [r for r in runs if r["method"] == method and r["best_acc"] is not None]
        ax.plot([r["batch"] for r in group], [r["best_acc"] for r in group], "-o",
                color=colours[method], label=names.get(method, method))
    ax.axhline(target, color="grey", linestyle="--", label=f"target {target:g}")
    batch_axis(ax, runs)
    ax.set_ylabel(f"best test acc{f' (first {budget:g} epochs)' if budget else ''}")
    side_legend(ax)


def plot_noise(axes, runs, names, crit):
    import matplotlib.pyplot as plt
    batches = sorted({r["batch"] for r in runs})
    cmap = plt.get_cmap("viridis")
    for ax, method in zip(axes, noise_methods(runs)):
        for run in (r for r in runs if r["method"] == method):
            pts = [p for p in run["points"] if is_number(p["b_simple"]) and p["b_simple"] > 0]
            colour = cmap(batches.index(run["batch"]) / max(1, len(batches) - 1))
            label = f"batch {run['batch']}" + ("" if run["final"] else " (unfinished)")
            ax.plot([p["epoch"] for p in pts], [p["b_simple"] for p in pts], "-", marker=".",
                    color=colour, label=label)
        if crit:
            ax.axhline(crit[0], color="grey", linestyle="--",
                       label=f"predicted critical batch {crit[0]:,.0f}")
        ax.set_yscale("log")
        ax.set_title(names.get(method, method), fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        # Below the panel: inside, the legend of eight batches hides the curves.
        ax.legend(fontsize="x-small", ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    axes[0].set_ylabel("B_simple")


def noise_methods(runs):
    return [m for m in method_order(runs)
            if any(is_number(p["b_simple"]) and p["b_simple"] > 0
                   for r in runs if r["method"] == m for p in r["points"])]


def figures(runs, names, target, budget, crit):
    """The three plots as {name: figure}."""
    plt = pyplot()
    colours = colours_for(runs)
    figs = {}
    figs["steps_to_target"], ax = plt.subplots(figsize=(6.4, 4.4))
    plot_steps(ax, runs, names, colours, target, crit)
    figs["best_acc"], ax = plt.subplots(figsize=(6.4, 4.4))
    plot_acc(ax, runs, names, colours, target, budget)
    panels = max(1, len(noise_methods(runs)))
    figs["b_simple"], axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.0),
                                          sharey=True, squeeze=False)
    if noise_methods(runs):
        plot_noise(list(axes[0]), runs, names, crit)
    else:
        axes[0][0].text(0.5, 0.5, "no B_simple in these runs", ha="center")
        axes[0][0].set_axis_off()
    return figs


# ---- output ----
def write_all(out_dir, text, figs):
    """DIR/study.md and the plots: each to a temporary name first, renamed when all exist."""
    created = not os.path.isdir(out_dir)
    tmps = []
    try:
        os.makedirs(out_dir, exist_ok=True)
        suffix = f".tmp.{os.getpid()}"
        tmps.append((os.path.join(out_dir, "study.md" + suffix), os.path.join(out_dir, "study.md")))
        with open(tmps[-1][0], "w", encoding="utf-8") as f:
            f.write(text)
        save_figures(figs, out_dir, suffix, tmps)
    except OSError as e:
        for tmp, _ in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if created and os.path.isdir(out_dir) and not os.listdir(out_dir):
            os.rmdir(out_dir)
        raise InputError(f"{e.filename or out_dir}: {e.strerror}") from None
    for tmp, final in tmps:
        os.replace(tmp, final)
    return [final for _, final in tmps]


# ---- command line ----
class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise InputError(f"{message} (see --help)")


def key_value(text, option, cast):
    key, sep, value = text.partition("=")
    try:
        if not sep or not key:
            raise ValueError
        return cast[0](key), cast[1](value)
    except ValueError:
        raise InputError(f"{option}: '{text}' is not KEY=VALUE of the right kinds") from None


def parse(argv):
    ap = Parser(prog=PROG, add_help=False, allow_abbrev=False)
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--target", type=float)
    ap.add_argument("--budget-epochs", type=float)
    ap.add_argument("--method", action="append", default=[])
    ap.add_argument("--step-ms-at", action="append", default=[])
    ap.add_argument("-o", dest="out")
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    if args.help:
        return args
    if args.target is None or not 0 < args.target <= 1:
        raise InputError("--target: give the target test accuracy, in (0, 1]")
    if args.budget_epochs is not None and not args.budget_epochs > 0:
        raise InputError("--budget-epochs: must be positive")
    args.names = {**METHODS, **dict(key_value(m, "--method", (str, str)) for m in args.method)}
    args.points = step_points(args.step_ms_at)
    if not args.paths:
        raise InputError("no study or run directory given (see --help)")
    return args


def step_points(texts):
    if not texts:
        return scaling_model.DEFAULT_POINTS
    points = [key_value(t, "--step-ms-at", (float, float)) for t in texts]
    if len(points) != 2 or points[0][0] == points[1][0] or min(min(p) for p in points) <= 0:
        raise InputError("--step-ms-at: give two B=MS points at different positive batches")
    return [(b, ms / 1e3) for b, ms in points]


def main(argv):
    args = parse(argv)
    if args.help:
        print(__doc__.strip())
        return 0
    runs = order_runs([load_run(d) for d in find_runs(args.paths)])
    for run in runs:
        analyse(run, args.target, args.budget_epochs)
    plots = PLOTS if args.out else ()
    text = markdown(runs, args.names, args.target, args.budget_epochs, args.points, plots)
    if not args.out:
        sys.stdout.write(text)
        return 0
    figs = figures(runs, args.names, args.target, args.budget_epochs, critical_batch(runs))
    for path in write_all(args.out, text, figs):
        print(path)
    return 0


if __name__ == "__main__":
    run_cli(PROG, main)
