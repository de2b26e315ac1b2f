#!/usr/bin/python3
"""Times the PyTorch reference training step of the d2l GoogLeNet, the baseline gnet's own
step is compared with: on the CPU (bench/step_vs_pytorch.sh) or on a GPU (scripts/gpu_check.sh).

usage: torch_bench.py [--batch 64] [--resize 96] [--threads 2] [--steps 10] [--warmup 2]
                      [--samples 1] [--device cpu|cuda] [--precision fp32|tf32|bf16]
                      [--cudnn-deterministic 0|1|both]

One step = forward + cross-entropy (mean) + backward + torch.optim.SGD step (lr 0.05, no
momentum, as d2l's train_ch6), eager, net in train mode, Xavier init, on one fixed random
batch (torch.rand(N,1,R,R), random labels; seed 0). The warmup steps are not timed.
Precision (cuda): fp32 = TF32 off in cuDNN and cuBLAS (PyTorch's cuDNN default allows it,
so it is switched off explicitly, as gnet's fp32 does); tf32 = allowed in both; set through
fp32_precision ("ieee" / "tf32") on PyTorch >= 2.9, through allow_tf32 before, and read back
into the JSON line ("torch_fp32_math": the API and the conv and matmul settings); bf16 =
torch.autocast(bfloat16) around forward and loss, fp32 weights and gradients (AMP): its
activations between layers are stored in bf16 (gnet's bf16 keeps them in fp32).
On the CPU only fp32 is accepted.
cuDNN's algorithms (cuda): torch.backends.cudnn.benchmark stays False (heuristics, as gnet
chooses), and torch.backends.cudnn.deterministic is False (PyTorch's default; 0), True (1),
or each in turn in this one process (both: False first, each after its own warmup, since the
algorithms are chosen again under the new setting).
Prints one line of JSON per deterministic setting:
  {"impl": "pytorch", "device", "precision", "cudnn_deterministic", "batch", "resize",
   "threads", "img_per_s", "step_ms", "samples_img_per_s", "peak_rss_mb", "torch",
   "torch_fp32_math"[, "peak_gpu_mb"]}
A sample is --steps timed steps (the GPU synchronised before and after); img_per_s and step_ms
are the median over --samples samples (one sample of a few steps is noisy), each sample's
img/s listed in samples_img_per_s. peak_rss_mb is the process's peak RSS (getrusage
ru_maxrss / 1024), peak_gpu_mb PyTorch's peak allocated GPU memory (so far in the process).
"""
import argparse
import contextlib
import json
import os
import resource
import statistics
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
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--cudnn-deterministic", choices=("0", "1", "both"), default="0")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="fp32")
    args = ap.parse_args(argv)
    if min(args.batch, args.resize, args.threads, args.steps, args.samples) < 1 or args.warmup < 0:
        ap.error("--batch, --resize, --threads, --steps and --samples must be >= 1, --warmup >= 0")
    if args.device == "cpu" and args.precision != "fp32":
        ap.error("--precision tf32/bf16 needs --device cuda")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device")
    return args


def _has_fp32_precision():
    """PyTorch >= 2.9 sets TF32 through fp32_precision ("ieee" / "tf32"), which replaces the
    allow_tf32 flags (mixing the two raises); 1.13 (Debian's) has only allow_tf32."""
    return hasattr(getattr(torch.backends.cudnn, "conv", None), "fp32_precision")


def set_precision(args):
    """The math of the step; returns the autocast context the forward runs in."""
    if args.device != "cuda":
        return contextlib.nullcontext()
    tf32 = args.precision == "tf32"
    if _has_fp32_precision():
        mode = "tf32" if tf32 else "ieee"
        torch.backends.cudnn.conv.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
    else:
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    if args.precision == "bf16":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def precision_used():
    """What PyTorch reports it uses for fp32 convolutions and matmuls, read back after
    set_precision (the JSON line's "torch_fp32_math"), by whichever API this PyTorch has."""
    if _has_fp32_precision():
        return {"api": "fp32_precision", "cudnn_conv": torch.backends.cudnn.conv.fp32_precision,
                "matmul": torch.backends.cuda.matmul.fp32_precision}
    return {"api": "allow_tf32", "cudnn_conv": "tf32" if torch.backends.cudnn.allow_tf32 else "ieee",
            "matmul": "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"}


def sync(args):
    if args.device == "cuda":
        torch.cuda.synchronize()


def timed_samples(args, step):
    """Seconds per step of each of args.samples samples of args.steps steps."""
    each = []
    for _ in range(args.samples):
        sync(args)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            loss = step()
        loss.item()  # waits for the last step (eager CPU: already done)
        sync(args)
        each.append((time.perf_counter() - t0) / args.steps)
    return each


def result(args, deterministic, each):
    dt = statistics.median(each)
    out = {
        "impl": "pytorch",
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "precision": args.precision,
        "cudnn_deterministic": deterministic,
        "batch": args.batch,
        "resize": args.resize,
        "threads": args.threads,
        "img_per_s": round(args.batch / dt, 2),
        "step_ms": round(1000.0 * dt, 3),
        "samples_img_per_s": [round(args.batch / t, 2) for t in each],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "torch": torch.__version__,
        "torch_fp32_math": precision_used(),
    }
    if args.device == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    autocast = set_precision(args)
    torch.backends.cudnn.benchmark = False
    net = googlenet.xavier_init(googlenet.make_net(), args.seed).train().to(args.device)
    opt = torch.optim.SGD(net.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    x = torch.rand(args.batch, 1, args.resize, args.resize, generator=g).to(args.device)
    y = torch.randint(0, 10, (args.batch,), generator=g).to(args.device)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        return loss

    settings = {"0": [False], "1": [True], "both": [False, True]}[args.cudnn_deterministic]
    for deterministic in settings:
        torch.backends.cudnn.deterministic = deterministic
        for _ in range(args.warmup):
            step()
        print(json.dumps(result(args, deterministic, timed_samples(args, step))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
