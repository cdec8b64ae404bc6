"""Convolution ceiling of this machine: GFLOP/s of one large 3x3 convolution, forward and backward.

    python benchmarks/conv_ceiling.py --json

A batch-64, 256 -> 256 channel, 16x16 3x3 convolution (the shape of VGG's middle layers) timed in
fp32 and bf16, NCHW and channels_last, forward alone and forward + backward (median of repeats
after warm-up). The best figure per precision is the ceiling that the training-throughput
table's achieved GFLOP/s are compared with.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def gflops(precision: str, channels_last: bool, backward: bool, args) -> float:
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    x = torch.randn(args.batch, args.channels, args.size, args.size, dtype=dtype, requires_grad=backward)
    w = torch.randn(args.channels, args.channels, 3, 3, dtype=dtype, requires_grad=backward)
    if channels_last:
        x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(backward)
        w = w.detach().contiguous(memory_format=torch.channels_last).requires_grad_(backward)
    macs = args.batch * args.channels * args.channels * 9 * args.size * args.size
    times = []
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        y = F.conv2d(x, w, padding=1)
        if backward:
            y.backward(torch.ones_like(y))
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    flops = 2 * macs * (3 if backward else 1)
    return flops / statistics.median(times) / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for precision in ("fp32", "bf16"):
        for cl in (False, True):
            for bwd in (False, True):
                rows.append({"precision": precision, "channels_last": cl, "pass": "fwd+bwd" if bwd else "fwd",
                             "gflop_s": round(gflops(precision, cl, bwd, args), 1),
                             "threads": torch.get_num_threads()})
    for r in rows:
        print(json.dumps(r) if args.json else
              f"{r['precision']} {'channels_last' if r['channels_last'] else 'NCHW'} {r['pass']}: {r['gflop_s']} GFLOP/s")


if __name__ == "__main__":
    main()
