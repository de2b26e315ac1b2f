#!/usr/bin/python3
"""Draws the reference's training curves of gnet_dist run directories: train loss, train
accuracy and test accuracy against the epoch, several runs overlaid (one colour per run,
one line style per curve), as PNG and SVG.

usage: scripts/plot_metrics.py [-o PREFIX] [--title TEXT] RUN_DIR|SWEEP_DIR...

Writes PREFIX.png and PREFIX.svg (each atomically); PREFIX defaults to RUN_DIR/curves for
one run and must be given for several. Runs are read as scripts/summarize.py reads them
(metrics.jsonl, config.ini; a sweep directory stands for its runs); a run without its final
record is drawn up to its last epoch and marked "unfinished" in the legend.
Needs matplotlib (Debian: python3-matplotlib, with /usr/bin/python3).
Exit status: 0, or 1 with one line "plot_metrics.py: error: ..." on bad input.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import InputError, expand, pyplot, run_cli  # noqa: E402  (the same reading of run dirs)

PROG = "plot_metrics.py"
CURVES = (("loss", "train loss", "-"), ("train_acc", "train acc", "--"),
          ("test_acc", "test acc", "-."))


def label(run):
    text = f"batch {run['batch']}, lr {run['lr']:g}" if run["batch"] and run["lr"] else run["name"]
    return text if run["final"] else text + " (unfinished)"


def plot(runs, prefix, title):
    plt = pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    run_handles = []
    for i, run in enumerate(runs):
        colour = colours[i % len(colours)]
        x = [r["epoch"] for r in run["epochs_rec"]]
        for key, _, style in CURVES:
            ax.plot(x, [r[key] for r in run["epochs_rec"]], style, color=colour,
                    marker="." if len(x) < 30 else None)
        run_handles.append(Line2D([], [], color=colour, label=label(run)))
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    # Two legends right of the axes, where they hide no curve: the runs by colour, the
    # curves by line style.
    curve_handles = [Line2D([], [], color="black", linestyle=s, label=n) for _, n, s in CURVES]
    first = ax.legend(handles=run_handles, loc="upper left", bbox_to_anchor=(1.02, 1),
                      fontsize="small", title="run", title_fontsize="small")
    ax.add_artist(first)
    second = ax.legend(handles=curve_handles, loc="lower left", bbox_to_anchor=(1.02, 0),
                       fontsize="small")
    outs = []
    for ext in ("png", "svg"):
        path = f"{prefix}.{ext}"
        tmp = f"{prefix}.tmp.{os.getpid()}.{ext}"
        try:
            fig.savefig(tmp, dpi=120, bbox_inches="tight", bbox_extra_artists=[first, second])
            os.replace(tmp, path)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise InputError(f"{path}: {e.strerror}") from None
        outs.append(path)
    plt.close(fig)
    return outs


def main(argv):
    prefix, title, paths = None, None, []
    args = iter(argv)
    for a in args:
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a in ("-o", "--title"):
            value = next(args, None)
            if value is None:
                raise InputError(f"{a}: needs a value")
            if a == "-o":
                prefix = value
            else:
                title = value
        elif a.startswith("-"):
            raise InputError(f"{a}: unknown option (usage: {PROG} [-o PREFIX] [--title TEXT] RUN_DIR...)")
        else:
            paths.append(a)
    if not paths:
        raise InputError(f"no run directory given (usage: {PROG} [-o PREFIX] RUN_DIR...)")
    runs = expand(paths)
    for run in runs:
        if not run["epochs_rec"]:
            raise InputError(f"{os.path.join(run['dir'], 'metrics.jsonl')}: no epoch records to draw")
    if prefix is None:
        if len(runs) > 1:
            raise InputError("several runs: give the output with -o PREFIX")
        prefix = os.path.join(runs[0]["dir"], "curves")
    for path in plot(runs, prefix, title):
        print(path)
    return 0


if __name__ == "__main__":
    run_cli(PROG, main)
