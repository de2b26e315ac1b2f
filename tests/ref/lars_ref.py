#!/usr/bin/python3
"""Reference LARS steps in PyTorch (float32), for comparing gnet_dist --optimizer lars.

usage: lars_ref.py --ckpt INIT.h5 --idx DIR --batch B --steps S --lr LR [--momentum M]
                   [--weight-decay WD] [--eta ETA] [--nesterov] [--lars-biases]
                   --out OUT.h5

Loads the d2l GoogLeNet from INIT.h5 (train mode, float32) and takes S steps; step s uses
training rows s*B .. (s+1)*B - 1 in file order (what gnet_dist --idx DIR --no-shuffle
--train-limit S*B --batch-size B --epochs 1 trains on), loss = mean cross-entropy of the
batch. The optimizer is PyTorch Lightning Bolts' LARS (pl_bolts.optimizers.lars.LARS,
trust_coefficient = ETA, eps = 1e-8, dampening 0), restated here:
  for each parameter p with gradient g:
    if p.ndim != 1 and |p| != 0 and |g| != 0:
        d = (g + WD p) * ETA |p| / (|g| + WD |p| + eps)
    else:
        d = g                                  (biases: no weight decay, no trust ratio)
    if M != 0: buf = d at the first step, else buf = M buf + d;  d = d + M buf (Nesterov) or buf
    p -= LR d
--lars-biases (a deliberately wrong variant, for negative controls): the trust ratio and
weight decay for one-dimensional tensors too. Writes the parameters after the last step to
OUT.h5 as a gnet checkpoint (googlenet.save_ckpt), for compare_updates.py, and prints the
smallest |input| of a ReLU over the steps relative to its layer's RMS: gnet's and torch's
float32 roundings differ by ~1e-7 of a layer's scale, so a pre-activation that close to zero
can flip between them, and at 28x28 (2x2 maps in block 4) one flipped element moves the next
step's update by ~1e-3 (seen: init seed 3, rows 0..15, lr 0.5: an element of 3.4.p1_1 at
2.4e-7 of its RMS flipped between gnet --accum-steps 2 and torch, 1.2e-3 off). A comparison
failing with a margin that small is a coincidence of the weights and rows, not a wrong
optimizer (another init seed avoids it).
"""
import argparse
import os
import sys

import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import googlenet  # noqa: E402
import idx_rows  # noqa: E402


class LARS(torch.optim.Optimizer):
    """Bolts' LARS (see the module docstring)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False,
                 trust_coefficient=0.001, eps=1e-8, lars_biases=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov,
                        trust_coefficient=trust_coefficient, eps=eps, lars_biases=lars_biases)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            wd, m = group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                p_norm = torch.norm(p.data)
                g_norm = torch.norm(p.grad.data)
                if (p.ndim != 1 or group["lars_biases"]) and p_norm != 0 and g_norm != 0:
                    lars_lr = p_norm / (g_norm + p_norm * wd + group["eps"])
                    lars_lr *= group["trust_coefficient"]
                    d_p = d_p.add(p, alpha=wd)
                    d_p *= lars_lr
                if m != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(m).add_(d_p)
                    d_p = d_p.add(buf, alpha=m) if group["nesterov"] else buf
                p.add_(d_p, alpha=-group["lr"])


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--idx", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--momentum", type=float, default=0.0)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--eta", type=float, default=0.001)
    ap.add_argument("--nesterov", action="store_true")
    ap.add_argument("--lars-biases", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    net = googlenet.make_net().train()
    googlenet.load_ckpt(net, args.ckpt)
    opt = LARS(net.parameters(), lr=args.lr, momentum=args.momentum,
               weight_decay=args.weight_decay, nesterov=args.nesterov,
               trust_coefficient=args.eta, lars_biases=args.lars_biases)
    x, y = idx_rows.train_rows(args.idx, args.batch * args.steps)
    margin = [float("inf"), "", 0]  # the smallest |ReLU input| / its layer's RMS: value, layer, step
    step_no = [0]

    def watch(name):
        def hook(mod, inp, out):
            z = out.detach()
            v = (z.abs().min() / z.pow(2).mean().sqrt()).item()
            if v < margin[0]:
                margin[:] = [v, name, step_no[0]]
        return hook

    for name, mod in net.named_modules():
        if isinstance(mod, torch.nn.Conv2d):  # every convolution feeds a ReLU
            mod.register_forward_hook(watch(name))
    for s in range(args.steps):
        step_no[0] = s + 1
        rows = slice(s * args.batch, (s + 1) * args.batch)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[rows]), y[rows]).backward()
        opt.step()
    googlenet.save_ckpt(net, args.out)
    print(f"lars_ref: {args.steps} step(s); smallest |ReLU input| / its layer's RMS {margin[0]:.3g} ({margin[1]}, step {margin[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
