"""Inference latency of a pruned model against its unpruned original.

    python benchmarks/latency.py --arch vgg19 --dataset cifar10 --ratio 0.7 --json

Both models are prepared for inference the same way (eval, BN folded into convs, selections
folded), then timed at each batch size and precision (median of repeats after warm-up).
Prints ``speedup`` (unpruned time / pruned time), ``mac_ratio`` (unpruned MACs / pruned MACs) and
their quotient per configuration.
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
    ap.add_argument("--preset", help="or a preset name (e.g. resnet56-B)")
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--precisions", default="fp32,bf16")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = build(resolve(args.arch, args.dataset), seed=0).eval()
    target = Target(preset=args.preset) if args.preset else Target(ratio=args.ratio)
    small, _ = prune(base, target, args.dataset)
    macs_full, macs_small = count(base).macs, count(small).macs
    full_inf, small_inf = for_inference(base), for_inference(small.eval())
    rows = []
    for b in (int(v) for v in args.batches.split(",")):
        for p in args.precisions.split(","):
            t_full = latency(full_inf, b, precision=p, channels_last=args.channels_last, repeats=args.repeats)
            t_small = latency(small_inf, b, precision=p, channels_last=args.channels_last, repeats=args.repeats)
            speedup = t_full["median_ms"] / t_small["median_ms"]
            rows.append({"arch": args.arch, "pruned": small.arch_spec.name, "batch": b, "precision": p,
                         "channels_last": args.channels_last, "full_ms": round(t_full["median_ms"], 3),
                         "pruned_ms": round(t_small["median_ms"], 3), "speedup": round(speedup, 3),
                         "mac_ratio": round(macs_full / macs_small, 3),
                         "speedup_over_mac_ratio": round(speedup / (macs_full / macs_small), 3),
                         "threads": torch.get_num_threads()})
    if args.json:
        for r in rows:
            print(json.dumps(r))
    else:
        for r in rows:
            print(f"{r['arch']} -> {r['pruned']} bs {r['batch']} {r['precision']}: {r['full_ms']} ms -> "
                  f"{r['pruned_ms']} ms, speedup {r['speedup']}x, MAC ratio {r['mac_ratio']}x")


if __name__ == "__main__":
    main()
