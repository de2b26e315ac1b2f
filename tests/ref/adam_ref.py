#!/usr/bin/python3
"""Reference AdamW and LAMB steps in PyTorch (float32), for comparing gnet_dist --optimizer
adamw and --optimizer lamb.

usage: adam_ref.py --optimizer adamw|lamb|adam-l2|lamb-biases --ckpt INIT.h5 --idx DIR
                   --batch B --steps S --lr LR [--weight-decay WD] [--beta1 B1]
                   [--beta2 B2] [--eps EPS] --out OUT.h5

Loads the d2l GoogLeNet from INIT.h5 (train mode, float32) and takes S steps; step s uses
training rows s*B .. (s+1)*B - 1 in file order (what gnet_dist --idx DIR --no-shuffle
--train-limit S*B --batch-size B --epochs 1 trains on), loss = mean cross-entropy of the
batch. The optimizers:
  adamw        torch.optim.AdamW(lr, betas=(B1, B2), eps, weight_decay=WD), amsgrad off.
  lamb         LAMB (You et al. 2019, Algorithm 2, phi = identity), stated below in torch:
               for each parameter p with gradient g, t the 1-based step:
                 m = B1 m + (1 - B1) g;  v = B2 v + (1 - B2) g^2      (both from zero)
                 r = (m / (1 - B1^t)) / (sqrt(v) / sqrt(1 - B2^t) + EPS)
                 weights (p.ndim > 1): u = r + WD p; trust = |p| / |u|, or 1 if either is 0
                 biases (p.ndim == 1): u = r; trust = 1         (no decay, no trust ratio)
                 p -= LR trust u
Deliberately wrong variants, for negative controls:
  adam-l2      torch.optim.Adam(weight_decay=WD): the decay added to the gradient (coupled,
               L2), not AdamW's decoupled p *= 1 - LR WD.
  lamb-biases  LAMB with the trust ratio and the decay on the biases too.
Writes the parameters after the last step to OUT.h5 as a gnet checkpoint
(googlenet.save_ckpt), for compare_updates.py."""
import argparse
import math
import os
import sys

import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import googlenet  # noqa: E402
import idx_rows  # noqa: E402


class LAMB(torch.optim.Optimizer):
    """LAMB as the module docstring states it."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 lamb_biases=False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        lamb_biases=lamb_biases)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            wd, eps = group["weight_decay"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                r = (m / (1 - b1 ** t)) / (v.sqrt() / math.sqrt(1 - b2 ** t) + eps)
                adapt = p.ndim > 1 or group["lamb_biases"]
                u = r.add(p, alpha=wd) if adapt else r
                trust = 1.0
                if adapt:
                    w_norm, u_norm = torch.norm(p).item(), torch.norm(u).item()
                    if w_norm > 0 and u_norm > 0:
                        trust = w_norm / u_norm
                p.add_(u, alpha=-group["lr"] * trust)


def make_optimizer(args, params):
    betas = (args.beta1, args.beta2)
    kw = dict(lr=args.lr, betas=betas, eps=args.eps, weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return torch.optim.AdamW(params, amsgrad=False, **kw)
    if args.optimizer == "adam-l2":
        return torch.optim.Adam(params, amsgrad=False, **kw)
    return LAMB(params, lamb_biases=args.optimizer == "lamb-biases", **kw)


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--optimizer", required=True,
                    choices=["adamw", "lamb", "adam-l2", "lamb-biases"])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--idx", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    net = googlenet.make_net().train()
    googlenet.load_ckpt(net, args.ckpt)
    opt = make_optimizer(args, net.parameters())
    x, y = idx_rows.train_rows(args.idx, args.batch * args.steps)
    for s in range(args.steps):
        rows = slice(s * args.batch, (s + 1) * args.batch)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[rows]), y[rows]).backward()
        opt.step()
    googlenet.save_ckpt(net, args.out)
    print(f"adam_ref: {args.optimizer}, {args.steps} step(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
