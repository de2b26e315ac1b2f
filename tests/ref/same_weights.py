#!/usr/bin/python3
"""Exits 0 when two gnet checkpoints hold bit-identical parameters and momentum buffers
(every dataset at the root and in the optimizer's state groups: /optimizer, /exp_avg,
/exp_avg_sq), else prints the first difference and
exits 1. usage: same_weights.py A.h5 B.h5"""
import sys

import h5py
import numpy as np


def tensors(f):
    out = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
    for group in ("optimizer", "exp_avg", "exp_avg_sq"):
        if group in f:
            out.update({group + "/" + k: v[()] for k, v in f[group].items()})
    return out


def main():
    with h5py.File(sys.argv[1], "r") as fa, h5py.File(sys.argv[2], "r") as fb:
        a, b = tensors(fa), tensors(fb)
    if a.keys() != b.keys():
        print(f"different tensors: {sorted(a.keys() ^ b.keys())[:5]}")
        return 1
    for k in sorted(a):
        if a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes():
            n = np.count_nonzero(a[k] != b[k]) if a[k].shape == b[k].shape else -1
            print(f"{k}: {n} element(s) differ")
            return 1
    print(f"identical: {len(a)} tensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
