#!/usr/bin/python3
"""Compares the updates two runs made to the same initial weights.

usage: compare_updates.py INIT.h5 A.h5 B.h5 [--tol 1e-4]

Error = ||(a - init) - (b - init)||_2 / ||b - init||_2 over the whole parameter set as one
vector. (The L2 norm, because float32 summation order can flip an individual ReLU or max-pool
decision whose effect on a handful of weights the max-norm would report as the error of the
whole update; the worst single element is printed too, for information.) Exits 1 when the
error exceeds --tol or the reference update is zero (a run that did not train cannot be
"equal")."""
import argparse
import sys

import h5py
import numpy as np


def params(path):
    with h5py.File(path, "r") as f:
        return {k: f[k][()].astype(np.float64) for k in f if isinstance(f[k], h5py.Dataset)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("init")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    p0, pa, pb = params(args.init), params(args.a), params(args.b)
    if set(p0) != set(pa) or set(p0) != set(pb):
        print("parameter names differ", file=sys.stderr)
        return 1
    diff = np.concatenate([((pa[k] - p0[k]) - (pb[k] - p0[k])).ravel() for k in sorted(p0)])
    ref = np.concatenate([(pb[k] - p0[k]).ravel() for k in sorted(p0)])
    if not ref.any():
        print("the reference run did not change the weights", file=sys.stderr)
        return 1
    err = np.linalg.norm(diff) / np.linalg.norm(ref)
    worst = np.abs(diff).max() / np.abs(ref).max()
    print(f"update relative error {err:.3g} (L2; max-norm {worst:.3g}) ({args.a} vs {args.b})")
    return 0 if err <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
