"""Training throughput of the real training path (data folder -> batched augmentation -> engine).

    python benchmarks/train_throughput.py --arch vgg16 --dataset cifar10 --data DIR --batch-size 64 \
        --iters 50 [--precision fp32|bf16|auto] [--channels-last] --json

Trains one warm-up epoch of ``--iters`` steps, then a measured epoch of ``--iters`` steps, through
``prunelab.train.train`` (the same loop every run uses). Prints images/s and achieved GFLOP/s
(training FLOPs = 3 x forward MACs x 2 per image).
"""
import argparse
import json
import time

import torch

from prunelab.arch import build, resolve
from prunelab.data import DataSettings, load
from prunelab.measure import count
from prunelab.train import Recipe, resolve_device, train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True)
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--data", help="data folder (CIFAR: holding cifar-10-batches-py/)")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"])
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (compile time excluded)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n = args.batch_size * args.iters
    data = load(DataSettings(args.dataset, train_subset=n, test_subset=args.batch_size), args.data)
    spec = resolve(args.arch, args.dataset, width=args.width)
    device = resolve_device(args.device)
    model = build(spec, seed=0).to(device)
    macs = count(model).macs
    recipe = Recipe(epochs=2, batch_size=args.batch_size, lr=0.01, precision=args.precision,
                    channels_last=args.channels_last, compile=args.compile, milestones=())
    t0 = time.perf_counter()
    r = train(model, data, recipe)
    total = time.perf_counter() - t0
    measured = r.history[1]
    img_s = measured["images"] / measured["seconds"]
    out = {
        "arch": spec.name, "dataset": args.dataset, "batch_size": args.batch_size, "iters": args.iters,
        "precision": args.precision, "channels_last": args.channels_last, "compile": args.compile, "device": str(device),
        "threads": torch.get_num_threads(), "img_s": round(img_s, 1), "forward_macs": macs,
        "train_gflop_s": round(img_s * macs * 3 * 2 / 1e9, 1), "wall_s": round(total, 1),
        "first_epoch_s": round(r.history[0]["seconds"], 1),  # includes compilation with --compile
        "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['arch']} bs {args.batch_size} {args.precision}: {out['img_s']} img/s, "
              f"{out['train_gflop_s']} GFLOP/s")


if __name__ == "__main__":
    main()
