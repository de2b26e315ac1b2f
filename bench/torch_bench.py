#!/usr/bin/python3
"""Times the PyTorch reference training step of the d2l GoogLeNet on the CPU, the baseline
gnet's own step is compared with.

usage: torch_bench.py [--batch 64] [--resize 96] [--threads 2] [--steps 10] [--warmup 2]

One step = forward + cross-entropy (mean) + backward + torch.optim.SGD step (lr 0.05, no
momentum, as d2l's train_ch6), eager float32, net in train mode, Xavier init, on one fixed
random batch (torch.rand(N,1,R,R), random labels; seed 0). The warmup steps are not timed.
Prints one line of JSON:
  {"impl": "pytorch", "batch", "resize", "threads", "img_per_s", "step_ms", "peak_rss_mb"}
step_ms is the mean over the timed steps; peak_rss_mb is the process's peak RSS
(getrusage ru_maxrss / 1024).
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import googlenet  # noqa: E402


def parse_args(argv):
    ap = argparse.ArgumentParser(description="Time the PyTorch reference training step.")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--resize", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.batch < 1 or args.resize < 1 or args.threads < 1 or args.steps < 1 or args.warmup < 0:
        ap.error("--batch, --resize, --threads and --steps must be >= 1, --warmup >= 0")
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    net = googlenet.xavier_init(googlenet.make_net(), args.seed).train()
    opt = torch.optim.SGD(net.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.rand(args.batch, 1, args.resize, args.resize, generator=g)
    y = torch.randint(0, 10, (args.batch,), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    loss.item()  # eager CPU: already done, but make the end of the work explicit
    dt = time.perf_counter() - t0
    print(json.dumps({
        "impl": "pytorch",
        "batch": args.batch,
        "resize": args.resize,
        "threads": args.threads,
        "img_per_s": round(args.batch * args.steps / dt, 2),
        "step_ms": round(1000.0 * dt / args.steps, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
