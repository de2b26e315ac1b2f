#!/usr/bin/python3
"""Projected data-parallel scaling of gnet (docs/scaling.md): ring all-reduce cost model.

usage: scaling_model.py [--step-ms-at B=MS ...] [--params 5977530] [--inter-gbs GB/S]
                        [--inter-alpha-us US]

Per-GPU compute time for a per-GPU batch b is modelled as t_c(b) = t0 + b / R, fitted to two
(batch, step time) points (--step-ms-at, defaults: the reference run's published GPU
throughputs, 64 -> 1961.3 img/s and 1000 -> 2897.8 img/s; replace them with measured gnet
figures when a GPU has been benchmarked). Backward is taken as 2/3 of t_c.

Ring all-reduce of S bytes over P GPUs: T = 2 (P-1)/P * S / busbw + 2 (P-1) * alpha, with
busbw 450 GB/s and alpha 5 us inside an 8-GPU NVLink node (P <= 8), 45 GB/s per GPU and
alpha 10 us across nodes (InfiniBand NDR, P > 8) — published figures, not measurements;
--inter-gbs/--inter-alpha-us replace the across-node link (e.g. the TCP point measured
between two hosts of the test cluster, bench/tcp_allreduce.sh: docs/scaling.md).
Without overlap the step is t_c + T; with overlap (buckets all-reduced during backward) it is
t_c + max(0, T - t_bwd) + T_last, where T_last is the all-reduce of the last bucket (4 MB),
which can only start when backward ends. Efficiency = t_c / step.
"""
import argparse

# (per-GPU batch, seconds per step): the reference run's published GPU throughputs.
DEFAULT_POINTS = [(64, 64 / 1961.3), (1000, 1000 / 2897.8)]
PARAMS = 5977530
BUCKET_MB = 4.0
INTER = (45e9, 10e-6)  # across nodes: bus bandwidth (B/s), latency per hop (s)


def fit(points):
    (b1, t1), (b2, t2) = points
    rate = (b2 - b1) / (t2 - t1)
    return t1 - b1 / rate, rate


def allreduce_s(nbytes, p, inter=INTER):
    if p == 1:
        return 0.0
    busbw, alpha = (450e9, 5e-6) if p <= 8 else inter
    return 2 * (p - 1) / p * nbytes / busbw + 2 * (p - 1) * alpha


def step_s(tc, p, nbytes, bucket_bytes, overlap=True, inter=INTER):
    """Seconds per step on p GPUs, each computing for tc seconds, with nbytes of gradients."""
    t = allreduce_s(nbytes, p, inter)
    if not overlap:
        return tc + t
    t_last = allreduce_s(min(nbytes, bucket_bytes), p, inter)
    return tc + max(0.0, t - 2 / 3 * tc) + t_last


def step_time(global_batch, p, overlap=True, points=DEFAULT_POINTS, params=PARAMS,
              bucket_mb=BUCKET_MB):
    """Modelled seconds per step of global_batch images split over p GPUs."""
    t0, rate = fit(points)
    return step_s(t0 + global_batch / p / rate, p, 4 * params, bucket_mb * 1e6, overlap)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--step-ms-at", action="append", default=None,
                    help="B=MS: measured step time MS (ms) at per-GPU batch B; give two")
    ap.add_argument("--params", type=int, default=PARAMS)
    ap.add_argument("--bucket-mb", type=float, default=BUCKET_MB)
    ap.add_argument("--inter-gbs", type=float, default=INTER[0] / 1e9,
                    help="across-node all-reduce bus bandwidth, GB/s (default 45: IB NDR)")
    ap.add_argument("--inter-alpha-us", type=float, default=INTER[1] * 1e6,
                    help="across-node latency per ring hop, us (default 10)")
    args = ap.parse_args()
    if args.inter_gbs <= 0 or args.inter_alpha_us < 0:
        ap.error("--inter-gbs must be > 0 and --inter-alpha-us >= 0")
    inter = (args.inter_gbs * 1e9, args.inter_alpha_us * 1e-6)
    if args.step_ms_at:
        pts = [tuple(float(x) for x in s.split("=")) for s in args.step_ms_at]
        pts = [(b, ms / 1e3) for b, ms in pts]
    else:
        pts = DEFAULT_POINTS
    t0, rate = fit(pts)
    nbytes = 4 * args.params
    gpus = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    print(f"t_c(b) = {t0 * 1e3:.2f} ms + b / {rate:.0f} img/s; gradients {nbytes / 1e6:.1f} MB\n")
    for overlap in (False, True):
        print(f"Scaling efficiency, {'with' if overlap else 'without'} overlap:\n")
        print("| per-GPU batch | " + " | ".join(str(p) for p in gpus) + " |")
        print("|---" * (len(gpus) + 1) + "|")
        for b in (32, 64, 128, 256, 512):
            tc = t0 + b / rate
            row = []
            for p in gpus:
                step = step_s(tc, p, nbytes, args.bucket_mb * 1e6, overlap, inter)
                row.append(f"{tc / step:.2f}")
            print(f"| {b} | " + " | ".join(row) + " |")
        print()


if __name__ == "__main__":
    main()
