#!/usr/bin/python3
"""Reference SGD steps with gradient clipping in PyTorch (float32), for gnet_dist --clip-norm
and --clip agc.

usage: clip_ref.py --ckpt INIT.h5 --idx DIR --batch B --steps S --lr LR [--momentum M]
                   [--weight-decay WD] (--clip-norm C | --agc LAMBDA [--agc-classifier] |
                   --no-clip) --out OUT.h5

Loads the d2l GoogLeNet from INIT.h5 (train mode) and takes S steps of torch.optim.SGD;
step s uses training rows s*B .. (s+1)*B - 1 in file order (gnet_dist --idx DIR --no-shuffle
--train-limit S*B --batch-size B), loss = mean cross-entropy. Between backward and the step:
  --clip-norm C  torch.nn.utils.clip_grad_norm_(net.parameters(), C)
  --agc LAMBDA   adaptive gradient clipping as the NFNets code (deepmind-research nfnets,
                 optim.py / agc_optax.py; timm's adaptive_clip_grad in torch), per unit: an
                 output channel of a conv weight, a row of a linear weight, a whole bias;
                 max = LAMBDA * max(|W_u|, 1e-3); where |G_u| > max, G_u *= max / max(|G_u|,
                 1e-6); the final classifier (net[5], the last nn.Linear) is not clipped
                 (--agc-classifier clips it too: a deliberately wrong variant, for negative
                 controls).
Prints, per step, the gradient norm and the clip coefficient, or the units clipped, and exits
1 when a clipping option did not clip at every step (the comparison would prove nothing).
Writes the parameters after the last step to OUT.h5 (googlenet.save_ckpt)."""
import argparse
import os
import sys

import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import googlenet  # noqa: E402
import idx_rows  # noqa: E402


def unit_norms(x):
    """Each unit's L2 norm, shaped to broadcast over x (NFNets' unitwise_norm for OIHW/OI)."""
    if x.ndim <= 1:
        return x.norm()
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


@torch.no_grad()
def agc(params, lam):
    """Clips in place; returns (units clipped, units)."""
    clipped = units = 0
    for p in params:
        g = p.grad
        max_norm = unit_norms(p).clamp(min=1e-3) * lam
        g_norm = unit_norms(g)
        trigger = g_norm > max_norm
        g.copy_(torch.where(trigger, g * (max_norm / g_norm.clamp(min=1e-6)), g))
        clipped += int(trigger.sum())
        units += trigger.numel()
    return clipped, units


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--idx", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    kind = ap.add_mutually_exclusive_group(required=True)
    kind.add_argument("--clip-norm", type=float)
    kind.add_argument("--agc", type=float)
    kind.add_argument("--no-clip", action="store_true")
    ap.add_argument("--agc-classifier", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    net = googlenet.make_net().train()
    googlenet.load_ckpt(net, args.ckpt)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=args.momentum,
                          weight_decay=args.weight_decay)
    clipped_params = list(net.parameters()) if args.agc_classifier else \
        [p for name, p in net.named_parameters() if not name.startswith("5.")]
    x, y = idx_rows.train_rows(args.idx, args.batch * args.steps)
    every_step = True
    for s in range(args.steps):
        rows = slice(s * args.batch, (s + 1) * args.batch)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[rows]), y[rows]).backward()
        if args.clip_norm is not None:
            total = float(torch.nn.utils.clip_grad_norm_(net.parameters(), args.clip_norm))
            coef = min(1.0, args.clip_norm / (total + 1e-6))
            print(f"clip_ref: step {s + 1}: gradient norm {total:.6g}, clip coefficient {coef:.6g}")
            every_step &= coef < 1.0
        elif args.agc is not None:
            n, units = agc(clipped_params, args.agc)
            print(f"clip_ref: step {s + 1}: {n} of {units} units clipped")
            every_step &= n > 0
        opt.step()
    googlenet.save_ckpt(net, args.out)
    if not args.no_clip and not every_step:
        print("clip_ref: clipping did not act at every step", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
