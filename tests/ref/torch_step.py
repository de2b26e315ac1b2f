#!/usr/bin/python3
"""One reference training step of the d2l GoogLeNet, for comparing gnet against PyTorch.

usage: torch_step.py --ckpt IN.h5 --batch BATCH.h5 --lr LR [--momentum M]
                     [--weight-decay WD] [--threads T] --out OUT.h5

IN.h5     a gnet checkpoint (see googlenet.py). When it has an /optimizer group and
          M > 0, those buffers are the SGD momentum buffers before the step (zeros are
          the same as PyTorch's "no buffer yet").
BATCH.h5  x: float32 [N,1,H,W]; y: int64 or int32 [N] (class indices 0..9)

Computes logits = net(x), loss = F.cross_entropy(logits, y) (mean over the batch),
loss.backward(), then one torch.optim.SGD(lr, momentum, weight_decay) step, all in
float32 (the reference's own precision), net in train mode. Writes OUT.h5:
  logits     float32 [N,10]
  loss       float64 scalar
  grad/KEY   float32, d loss / d param for every state_dict key (before weight decay)
  after/KEY  float32, the parameters after the step
  momentum/KEY  float32, the momentum buffers after the step (only when M > 0)
Exits non-zero with a message on any error.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import googlenet  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description="One PyTorch reference SGD step.")
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    return ap.parse_args(argv)


def read_batch(path):
    with h5py.File(path, "r") as f:
        for k in ("x", "y"):
            if k not in f or not isinstance(f[k], h5py.Dataset):
                raise KeyError(f"{path}: no dataset '{k}'")
        x, y = f["x"][()], f["y"][()]
    if x.ndim != 4 or x.shape[1] != 1 or x.dtype.kind != "f":
        raise ValueError(f"{path}: x must be float [N,1,H,W], found {x.dtype} {list(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0] or y.dtype.kind not in "iu":
        raise ValueError(f"{path}: y must be integer [{x.shape[0]}], found {y.dtype} "
                         f"{list(y.shape)}")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{path}: y has labels outside 0..9")
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return x, torch.from_numpy(y.astype(np.int64))


def step(args):
    torch.set_num_threads(args.threads)
    net = googlenet.make_net().train()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    with h5py.File(args.ckpt, "r") as f:
        use_buffers = args.momentum > 0 and googlenet.OPT_GROUP in f
    googlenet.load_ckpt(net, args.ckpt, opt if use_buffers else None)
    x, y = read_batch(args.batch)
    opt.zero_grad(set_to_none=True)
    logits = net(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    params = dict(net.named_parameters())
    grads = {k: p.grad.detach().clone() for k, p in params.items()}
    opt.step()
    write_out(args.out, net, opt, logits.detach(), loss.item(), grads, args.momentum > 0)


def write_out(path, net, opt, logits, loss, grads, with_momentum):
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("logits", data=logits.numpy().astype(np.float32))
            f.create_dataset("loss", data=np.float64(loss))
            g, a = f.create_group("grad"), f.create_group("after")
            m = f.create_group("momentum") if with_momentum else None
            for k, p in net.named_parameters():
                g.create_dataset(k, data=grads[k].numpy())
                a.create_dataset(k, data=p.detach().numpy())
                if m is not None:
                    m.create_dataset(k, data=opt.state[p]["momentum_buffer"].numpy())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def main(argv):
    args = parse_args(argv)
    try:
        step(args)
    except Exception as e:  # one line, non-zero exit
        print(f"torch_step.py: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
