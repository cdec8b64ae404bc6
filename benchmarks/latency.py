"""Inference latency of a pruned model against its unpruned original.

    python benchmarks/latency.py --arch vgg19 --dataset cifar10 --ratio 0.7 --json

Both models are prepared for inference the same way (eval, BN folded into convs, selections
folded), then timed at each batch size, precision and memory layout (median of repeats after
warm-up). Prints ``speedup`` (unpruned time / pruned time), ``mac_ratio`` (unpruned MACs / pruned
MACs) and their quotient per configuration, and per batch size and precision a ``best`` row:
each model in its own fastest layout (a layout can favour one model and not the other, so this
is the fair figure).
"""
import argparse
import json

import torch

from prunelab.arch import build, resolve
from prunelab.export import for_inference
from prunelab.measure import count
from prunelab.measure.latency import latency
from prunelab.prune import Target, prune


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="vgg19")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--ratio", type=float, help="uniform L1-norm prune ratio of every prunable layer")
    ap.add_argument("--round-to", type=int, default=1, help="with --ratio: kept filters rounded up to a multiple")
    ap.add_argument("--preset", help="or a preset name (e.g. resnet56-B)")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--layouts", default="nchw,channels_last")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = build(resolve(args.arch, args.dataset), seed=0).eval()
    target = Target(preset=args.preset) if args.preset else Target(ratio=args.ratio, round_to=args.round_to)
    small, _ = prune(base, target, args.dataset)
    macs_full, macs_small = count(base).macs, count(small).macs
    full_inf, small_inf = for_inference(base), for_inference(small.eval())
    mac_ratio = macs_full / macs_small

    def row(b, p, layout, full_ms, pruned_ms):
        r = {"arch": args.arch, "pruned": small.arch_spec.name, "batch": b, "precision": p, "layout": layout,
             "full_ms": round(full_ms, 3), "pruned_ms": round(pruned_ms, 3), "speedup": round(full_ms / pruned_ms, 3),
             "mac_ratio": round(mac_ratio, 3), "speedup_over_mac_ratio": round(full_ms / pruned_ms / mac_ratio, 3),
             "threads": torch.get_num_threads()}
        print(json.dumps(r) if args.json else
              f"{r['arch']} -> {r['pruned']} bs {b} {p} {layout}: {r['full_ms']} ms -> {r['pruned_ms']} ms, "
              f"speedup {r['speedup']}x, MAC ratio {r['mac_ratio']}x ({r['speedup_over_mac_ratio']})", flush=True)

    for b in (int(v) for v in args.batches.split(",")):
        for p in args.precisions.split(","):
            fulls, smalls = [], []
            for layout in args.layouts.split(","):
                cl = {"nchw": False, "channels_last": True}[layout]
                fulls.append(latency(full_inf, b, precision=p, channels_last=cl, repeats=args.repeats)["median_ms"])
                smalls.append(latency(small_inf, b, precision=p, channels_last=cl, repeats=args.repeats)["median_ms"])
                row(b, p, layout, fulls[-1], smalls[-1])
            row(b, p, "best", min(fulls), min(smalls))


if __name__ == "__main__":
    main()
