#!/usr/bin/python3
"""PyTorch's label-smoothed cross-entropy on given logits, for comparing gnet's softmax_xent.

usage: xent_ref.py --in IN.h5 --label-smoothing EPS --out OUT.h5

IN.h5   logits: float32 [N,C]; y: int32 or int64 [N] (class indices 0..C-1)

Computes loss = torch.nn.CrossEntropyLoss(label_smoothing=EPS)(logits, y) (the mean over
the rows) and its gradient with respect to the logits by autograd, in float64 from the
float32 logits, so that the reference is PyTorch's definition without float32's rounding.
Writes OUT.h5:
  loss      float64 scalar
  dlogits   float64 [N,C]
Exits non-zero with a message on any error.
"""
import argparse
import sys

import h5py
import numpy as np
import torch


def parse_args(argv):
    ap = argparse.ArgumentParser(description="PyTorch's label-smoothed cross-entropy.")
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--label-smoothing", type=float, required=True)
    ap.add_argument("--out", required=True)
    return ap.parse_args(argv)


def xent(args):
    with h5py.File(args.inp, "r") as f:
        logits, y = f["logits"][()], f["y"][()]
    if logits.ndim != 2 or y.shape != (logits.shape[0],):
        raise ValueError(f"{args.inp}: logits must be [N,C] and y [N], found "
                         f"{list(logits.shape)} and {list(y.shape)}")
    z = torch.from_numpy(logits.astype(np.float64)).requires_grad_()
    loss = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)(
        z, torch.from_numpy(y.astype(np.int64)))
    loss.backward()
    with h5py.File(args.out, "w") as f:
        f.create_dataset("loss", data=np.float64(loss.item()))
        f.create_dataset("dlogits", data=z.grad.numpy())


if __name__ == "__main__":
    try:
        xent(parse_args(sys.argv[1:]))
    except Exception as e:  # one line, non-zero exit
        sys.exit(f"xent_ref.py: error: {type(e).__name__}: {e}")
