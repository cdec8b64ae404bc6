"""Convolution speed of this machine: the ceiling, and each conv layer of an architecture.

    python benchmarks/conv_ceiling.py --json
    python benchmarks/conv_ceiling.py --arch vgg19 --precision bf16 --channels-last

Without ``--arch``: a batch-64, 256 -> 256 channel, 16x16 3x3 convolution (the shape of VGG's
middle layers) in fp32 and bf16, NCHW and channels_last, forward alone and forward + backward
(median of repeats after warm-up). The best figure per precision is the ceiling that the
training-throughput table's achieved GFLOP/s are compared with.

With ``--arch``: every conv layer of that network (its input shape at batch 64), forward and
backward (weight and input gradients) timed alone, in network order: where a training step's
convolution time goes, and how far each layer runs from the ceiling.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from prunelab.arch import build, resolve


def time_conv(conv: nn.Conv2d, x_shape, precision: str, channels_last: bool, args) -> dict:
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    input_grad = x_shape[1] != 3  # a network's first layer needs no input gradient
    x = torch.randn(x_shape, dtype=dtype).contiguous(memory_format=fmt).requires_grad_(input_grad)
    w = torch.randn(conv.weight.shape, dtype=dtype).contiguous(memory_format=fmt).requires_grad_()
    fwd, bwd = [], []
    for i in range(args.warmup + args.repeats):
        t0 = time.perf_counter()
        y = F.conv2d(x, w, None, conv.stride, conv.padding, conv.dilation, conv.groups)
        t1 = time.perf_counter()
        y.backward(torch.ones_like(y))
        t2 = time.perf_counter()
        if i >= args.warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    macs = y.numel() * w[0].numel()
    f, b = statistics.median(fwd), statistics.median(bwd)
    bwd_flops = 2 * macs * (2 if input_grad else 1)
    return {"fwd_ms": round(1e3 * f, 3), "bwd_ms": round(1e3 * b, 3), "fwd_gflop_s": round(2 * macs / f / 1e9, 1),
            "bwd_gflop_s": round(bwd_flops / b / 1e9, 1), "fwd_bwd_gflop_s": round((2 * macs + bwd_flops) / (f + b) / 1e9, 1),
            "mmacs": round(macs / 1e6, 1)}


def layer_shapes(arch: str, dataset: str, batch: int) -> list[tuple[str, nn.Conv2d, tuple]]:
    model = build(resolve(arch, dataset), seed=0).eval()
    spec = model.arch_spec
    out = []
    hooks = [m.register_forward_pre_hook(lambda m, inp, name=name: out.append((name, m, tuple(inp[0].shape))))
             for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(batch, spec.in_channels, spec.input_size, spec.input_size))
    for h in hooks:
        h.remove()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", help="time every conv layer of this architecture instead of the ceiling shape")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"], help="with --arch")
    ap.add_argument("--channels-last", action="store_true", help="with --arch")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    if args.arch:
        for name, conv, shape in layer_shapes(args.arch, args.dataset, args.batch):
            r = {"layer": name, "in": list(shape[1:]), "out_channels": conv.out_channels,
                 **time_conv(conv, shape, args.precision, args.channels_last, args)}
            rows.append(r)
            print(json.dumps(r) if args.json else
                  f"{name} {shape[1]}x{shape[2]}x{shape[3]} -> {conv.out_channels}: fwd {r['fwd_ms']} ms "
                  f"({r['fwd_gflop_s']} GFLOP/s), bwd {r['bwd_ms']} ms ({r['bwd_gflop_s']} GFLOP/s)", flush=True)
        total = sum(r["fwd_ms"] + r["bwd_ms"] for r in rows)
        print(json.dumps({"total_conv_ms": round(total, 1)}) if args.json else f"total conv time {total:.1f} ms")
        return
    conv = nn.Conv2d(256, 256, 3, padding=1, bias=False)
    for precision in ("fp32", "bf16"):
        for cl in (False, True):
            r = {"precision": precision, "channels_last": cl, **time_conv(conv, (args.batch, 256, 16, 16), precision, cl, args),
                 "threads": torch.get_num_threads()}
            print(json.dumps(r) if args.json else
                  f"{precision} {'channels_last' if cl else 'NCHW'}: fwd {r['fwd_gflop_s']} GFLOP/s, "
                  f"fwd+bwd {r['fwd_bwd_gflop_s']} GFLOP/s")


if __name__ == "__main__":
    main()
