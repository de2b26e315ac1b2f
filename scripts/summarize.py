#!/usr/bin/env python3
"""Tabulates gnet_dist run directories (--out DIR) as the reference study's Markdown table.

usage: scripts/summarize.py [-o FILE] RUN_DIR|SWEEP_DIR...

A RUN_DIR holds metrics.jsonl (and config.ini); a SWEEP_DIR (scripts/sweep.sh) holds run
directories, tabulated sorted by batch, lr and epochs. One row per run, from its final
record; a run without one (still going, stopped, failed) shows its last epoch record and
"k/E (unfinished)" epochs; a run that diverged (exit code 4) says at which step. -o writes the table to FILE (atomically) instead of stdout.

Columns: batch | lr | epochs | loss | train acc | test acc | examples/s | wall, as the
reference prints them, then ranks | device | run. lr and epochs are the configured ones
(config.ini; "k/E" when --max-steps ended the run after k epochs), loss and accuracies the
last epoch's, examples/s the run's training throughput, wall its wall time (summed over
resumes) as XmYYs.
Exit status: 0, or 1 with one line "summarize.py: error: FILE:LINE: ..." on bad input.
Plain Python 3 standard library (any python3 runs it).
"""
import json
import os
import sys

PROG = "summarize.py"
HEADER = ("| batch | lr | epochs | loss | train acc | test acc | examples/s | wall "
          "| ranks | device | run |")
RULE = "|---|---|---|---|---|---|---|---|---|---|---|"


class InputError(Exception):
    """Bad input: the message names the file (and line)."""


def read_config(run_dir):
    """config.ini's key = value pairs (gnet_dist --out writes it), {} when absent."""
    path = os.path.join(run_dir, "config.ini")
    cfg = {}
    if not os.path.exists(path):
        return cfg
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in ";#[" or "=" not in line:
                continue
            key, value = line.split("=", 1)
            cfg[key.strip()] = value.split(" ;")[0].strip()
    return cfg


def json_records(path):
    """(line number, record) for each line of the JSON-lines file PATH. A last line without
    its newline is a record being written by a running job and is left out; any other line
    that is not a JSON object is an error naming the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")[:-1]
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: {getattr(e, 'strerror', None) or e}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise InputError(f"{path}:{n}: not valid JSON ({e})") from None
        if not isinstance(rec, dict):
            raise InputError(f"{path}:{n}: not a JSON object")
        yield n, rec


def read_metrics(run_dir):
    """The records of RUN_DIR/metrics.jsonl: (epoch records, final record or None).

    Evaluation records ("eval": true, from --eval-every) are skipped: the table is per epoch
    (scripts/study.py reads them)."""
    path = os.path.join(run_dir, "metrics.jsonl")
    epochs, final = [], None
    for n, rec in json_records(path):
        if rec.get("eval") is True:
            continue
        if rec.get("final") is True:
            final = rec
        elif "epoch" in rec:
            epochs.append(rec)
        else:
            raise InputError(f"{path}:{n}: neither an epoch record nor the final record")
        # A final record after no complete epoch (--max-steps) has null metrics.
        for key in ("loss", "train_acc", "test_acc", "img_per_s", "wall_s"):
            value = rec.get(key)
            if not (isinstance(value, (int, float)) or value is None and rec is final
                    and key not in ("img_per_s", "wall_s")):
                raise InputError(f"{path}:{n}: '{key}' missing or not a number")
    return epochs, final


def load_run(run_dir):
    """One run as a dict: its records, configuration and the values of its table row."""
    epochs, final = read_metrics(run_dir)
    cfg = read_config(run_dir)
    last = final or (epochs[-1] if epochs else None)
    src = last or {}

    def pick(key, cfg_key=None, cast=float):
        # config.ini says what was asked for; the records say what ran.
        if cfg_key and cfg.get(cfg_key) not in (None, ""):
            try:
                return cast(cfg[cfg_key])
            except ValueError:
                raise InputError(f"{os.path.join(run_dir, 'config.ini')}: "
                                 f"{cfg_key} = '{cfg[cfg_key]}' is not a number") from None
        return src.get(key)

    return {
        "dir": run_dir,
        "name": os.path.basename(os.path.normpath(run_dir)),
        "epochs_rec": epochs,
        "final": final,
        "last": last,
        "batch": pick("global_batch", "batch-size", int),
        "lr": pick("lr", "lr", float),
        "epochs": pick("epochs", "epochs", int),
        "ranks": src.get("ranks"),
        "device": src.get("device"),
    }


def wall(seconds):
    s = int(round(seconds))
    return f"{s // 60}m{s % 60:02d}s"


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def row(run):
    last = run["last"] or {}
    if run["final"]:
        # Fewer epochs than configured: stopped by --max-steps.
        done = run["final"].get("epochs")
        epochs = fmt(run["epochs"], "d")
        if isinstance(done, int) and run["epochs"] is not None and done != run["epochs"]:
            epochs = f"{done}/{run['epochs']}"
        if run["final"].get("diverged"):
            epochs += f" (diverged at step {run['final'].get('diverged_step', 0)})"
    else:
        done = len(run["epochs_rec"]) and run["epochs_rec"][-1]["epoch"]
        epochs = f"{done}/{fmt(run['epochs'], 'd')} (unfinished)"
    cells = [fmt(run["batch"], "d"), fmt(run["lr"], "g"), epochs,
             fmt(last.get("loss"), ".3f"), fmt(last.get("train_acc"), ".3f"),
             fmt(last.get("test_acc"), ".3f"), fmt(last.get("img_per_s"), ".1f"),
             wall(last["wall_s"]) if last else "-",
             fmt(run["ranks"], "d"), run["device"] or "-", run["name"]]
    return "| " + " | ".join(cells) + " |"


def expand(paths):
    """RUN_DIRs as given; a directory without metrics.jsonl is a sweep: its run
    directories, sorted by (batch, lr, epochs)."""
    runs = []
    for p in paths:
        if not os.path.isdir(p):
            raise InputError(f"{p}: not a directory")
        if os.path.exists(os.path.join(p, "metrics.jsonl")):
            runs.append(load_run(p))
            continue
        subs = sorted(os.path.join(p, d) for d in os.listdir(p)
                      if os.path.exists(os.path.join(p, d, "metrics.jsonl")))
        if not subs:
            raise InputError(f"{p}: no metrics.jsonl in it or in its subdirectories")
        found = [load_run(s) for s in subs]
        found.sort(key=lambda r: (r["batch"] or 0, r["lr"] or 0, r["epochs"] or 0, r["name"]))
        runs.extend(found)
    return runs


def table(runs):
    return "\n".join([HEADER, RULE] + [row(r) for r in runs]) + "\n"


def save_figures(figs, out_dir, suffix, tmps):
    """Each figure as OUT_DIR/NAME.png and .svg, written under a temporary name (appended to
    tmps as (temporary, final) for the caller to rename or remove)."""
    for name, fig in figs.items():
        for ext in ("png", "svg"):
            final = os.path.join(out_dir, f"{name}.{ext}")
            tmps.append((f"{final}{suffix}.{ext}", final))
            # No date: the same runs give the same files (diffable in git).
            meta = {"Date": None} if ext == "svg" else {}
            fig.savefig(tmps[-1][0], dpi=120, bbox_inches="tight", metadata=meta)


def write_atomic(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise InputError(f"{path}: {e.strerror}") from None


def main(argv):
    out, paths = None, []
    args = iter(argv)
    for a in args:
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a == "-o":
            out = next(args, None)
            if out is None:
                raise InputError("-o: needs a file name")
        elif a.startswith("-"):
            raise InputError(f"{a}: unknown option (usage: {PROG} [-o FILE] RUN_DIR...)")
        else:
            paths.append(a)
    if not paths:
        raise InputError(f"no run directory given (usage: {PROG} [-o FILE] RUN_DIR...)")
    text = table(expand(paths))
    if out:
        write_atomic(out, text)
    else:
        sys.stdout.write(text)
    return 0


def pyplot():
    """matplotlib.pyplot set up for files (no display), or an InputError saying how to get it."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("matplotlib is not installed for this python "
                         f"({sys.executable}); Debian: apt-get install python3-matplotlib, "
                         "then run with /usr/bin/python3") from None
    matplotlib.use("Agg")  # files only: no display needed
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text in the SVG (smaller, searchable)
    matplotlib.rcParams["svg.hashsalt"] = "gnet"  # fixed ids: the same runs, the same SVG
    import matplotlib.pyplot as plt
    return plt


def run_cli(prog, main):
    """Each script's entry: bad input is one line naming the file and exit status 1."""
    try:
        sys.exit(main(sys.argv[1:]))
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_cli(PROG, main)
