#!/usr/bin/python3
"""The gradient noise scale of one step, from PyTorch's per-example gradients, against the
values gnet_dist --noise-scale recorded (McCandlish et al. 2018, appendix A).

usage: noise_ref.py --ckpt INIT.h5 --idx DIR --rows N [--tol T]
                    [--check METRICS GROUPS]... [--mismatch METRICS GROUPS SCALE]...

The reference: the d2l GoogLeNet (float32, train mode; it has no batch norm, so a row's
gradient does not depend on the other rows) with the weights of INIT.h5; g_i = the gradient
of the cross-entropy of training row i alone (rows 0..N-1 in file order, idx_rows.py), in
float64 from here on; G = mean g_i. A grouping of the N rows into n micro-batches of b = N/n
rows each (GROUPS: "0|1|2|3" is four micro-batches of one row, "01|23" two of two, "02|13"
two of rows {0,2} and {1,3}) gives
    small = mean over the micro-batches of |mean of its g_i|^2,  big = |G|^2
    g2    = (B big - b small) / (B - b),   trace = (small - big) / (1/b - 1/B)   (B = N)
and, for b = 1, the textbook forms as a cross-check of the above:
    trace = sum_i |g_i - G|^2 / (N - 1),   g2 = |G|^2 - trace / N.

--check METRICS GROUPS: the eval record of step 1 in METRICS (a metrics.jsonl) must hold
gns_steps 1 (after one measured step the bias-corrected moving averages are that step's
raw estimates) and gns_trace, gns_g2 and b_simple within the tolerance of the reference for
GROUPS. --mismatch METRICS GROUPS SCALE: a negative control, the same comparison against
the reference for GROUPS times SCALE must FAIL (else the test could not fail); with SCALE
other than 1, both the trace and g2 must be told apart, each on its own.

Tolerance: relative error |gnet - ref| / |ref| <= T (default 1e-5) for the trace. Both
sides' gradients are float32 (gnet: oneDNN, torch: its own kernels), the same sums in other
orders: each element carries a rounding error of a few float32 ulps (~1e-7 relative) and
the occasional near-cancelling element more (vs_pytorch_28 allows 1e-4 of the max-norm per
tensor); a squared norm over 6M elements averages these out to ~1e-7 (measured: 1e-8 to
5e-8 for the trace), and gnet sums the squares in float64, so T = 1e-5 leaves two orders of
magnitude of margin while a real mistake (a wrong b, B, row grouping or scale) is off by
far more (the negative controls). g2 = (B big - b small)/(B - b) is a
difference: relative errors eps in big and small become eps * (B big + b small) /
|B big - b small| in g2, so g2's tolerance is T times that condition number (printed).
b_simple = trace/g2 gets the sum of both. Exits 0 when every check passes and every
mismatch fails, else 1.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import googlenet  # noqa: E402
import idx_rows  # noqa: E402


def per_example_grads(ckpt, idx, n):
    torch.set_num_threads(1)
    net = googlenet.make_net().train()
    googlenet.load_ckpt(net, ckpt)
    x, y = idx_rows.train_rows(idx, n)
    out = []
    for i in range(n):
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[i:i + 1]), y[i:i + 1]).backward()
        out.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]).double().numpy())
    return np.stack(out)


def parse_groups(text, n):
    groups = [[int(c) for c in part] for part in text.split("|")]
    flat = sorted(i for g in groups for i in g)
    if flat != list(range(n)) or len({len(g) for g in groups}) != 1:
        raise ValueError(f"groups '{text}': not a partition of rows 0..{n - 1} into equal parts")
    return groups


def estimates(g, groups):
    """(g2, trace, condition number of g2) for the grouping."""
    B = g.shape[0]
    b = len(groups[0])
    G = g.mean(axis=0)
    big = float(G @ G)
    small = float(np.mean([np.sum(g[grp].mean(axis=0) ** 2) for grp in groups]))
    g2 = (B * big - b * small) / (B - b)
    trace = (small - big) / (1.0 / b - 1.0 / B)
    if b == 1:  # the same numbers as the textbook's sample variance
        tr2 = float(np.sum((g - G) ** 2)) / (B - 1)
        g2b = big - tr2 / B
        assert abs(tr2 - trace) <= 1e-9 * abs(trace) and abs(g2b - g2) <= 1e-9 * abs(trace), (tr2, trace, g2b, g2)
    return g2, trace, (B * big + b * small) / abs(B * big - b * small)


def recorded(path):
    with open(path) as f:
        recs = [json.loads(line) for line in f]
    ev = [r for r in recs if r.get("eval") and r["step"] == 1]
    if len(ev) != 1:
        raise ValueError(f"{path}: {len(ev)} eval records of step 1 (want 1)")
    r = ev[0]
    if r.get("gns_steps") != 1:
        raise ValueError(f"{path}: gns_steps {r.get('gns_steps')} (want 1)")
    return r


def compare(g, path, groups_text, scale, tol):
    """Whether the record matches the reference (times scale); prints the errors."""
    rec = recorded(path)
    g2, trace, cond = estimates(g, parse_groups(groups_text, g.shape[0]))
    g2, trace = g2 * scale, trace * scale
    bs = trace / g2
    e_tr = abs(rec["gns_trace"] - trace) / abs(trace)
    e_g2 = abs(rec["gns_g2"] - g2) / abs(g2)
    e_bs = abs(rec["b_simple"] - bs) / abs(bs)
    t_g2 = tol * cond
    ok = e_tr <= tol and e_g2 <= t_g2 and e_bs <= tol + t_g2
    if scale != 1.0:  # a control must be told apart by the trace and by g2, each alone
        ok = e_tr <= tol or e_g2 <= t_g2
    print(f"{path} [{groups_text}{'' if scale == 1 else f' x{scale}'}]: "
          f"trace {rec['gns_trace']:.9g} vs {trace:.9g} (rel err {e_tr:.2e}, tol {tol:.0e}); "
          f"g2 {rec['gns_g2']:.9g} vs {g2:.9g} (rel err {e_g2:.2e}, tol {t_g2:.1e} = {tol:.0e} x cond {cond:.2f}); "
          f"b_simple {rec['b_simple']:.6g} vs {bs:.6g} (rel err {e_bs:.2e})")
    return ok


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--idx", required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--check", nargs=2, action="append", default=[], metavar=("METRICS", "GROUPS"))
    ap.add_argument("--mismatch", nargs=3, action="append", default=[],
                    metavar=("METRICS", "GROUPS", "SCALE"))
    args = ap.parse_args(argv)
    g = per_example_grads(args.ckpt, args.idx, args.rows)
    fail = 0
    for path, groups in args.check:
        if not compare(g, path, groups, 1.0, args.tol):
            print(f"FAIL: {path} [{groups}] differs from the reference")
            fail = 1
    for path, groups, scale in args.mismatch:
        if compare(g, path, groups, float(scale), args.tol):
            print(f"FAIL: negative control {path} [{groups} x{scale}] matched (the check cannot fail)")
            fail = 1
        else:
            print(f"ok: negative control {path} [{groups} x{scale}] is told apart")
    return fail


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
