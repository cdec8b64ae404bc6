"""Several runs at once (prunelab.train.multi.train_many) vs one after another.

    python benchmarks/multi_run.py --arch resnet20 --width 0.5 --runs 4 --device cpu --json

Both sides train the same K runs (seeds 0..K-1) for one epoch of ``--images`` synthetic images
through the real data path; prints images/s of all runs together for each way.
"""
import argparse
import json
import time

import torch

from prunelab.arch import build, resolve
from prunelab.data import DataSettings, load
from prunelab.train import Recipe, resolve_device, train
from prunelab.train.multi import train_many


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="resnet20")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=4)
    ap.add_argument("--images", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    device = resolve_device(args.device)
    data = load(DataSettings("synthetic", synthetic_size=(args.images, args.batch_size)))
    spec = resolve(args.arch, "synthetic", width=args.width)
    recipe = Recipe(epochs=1, batch_size=args.batch_size, lr=0.05)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(fn):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    # warm-up (kernel selection, allocator)
    train_many([build(spec, seed=0).to(device)], data, [recipe], [0])
    seq = timed(lambda: [train(build(spec, seed=s).to(device), data, recipe, seed=s) for s in range(args.runs)])
    models = [build(spec, seed=s).to(device) for s in range(args.runs)]
    many = timed(lambda: train_many(models, data, [recipe] * args.runs, list(range(args.runs))))
    total = args.runs * data.size("train")
    out = {"arch": spec.name, "runs": args.runs, "device": str(device), "threads": torch.get_num_threads(),
           "sequential_img_s": round(total / seq, 1), "together_img_s": round(total / many, 1),
           "gain": round(seq / many, 3)}
    print(json.dumps(out) if args.json else out)


if __name__ == "__main__":
    main()
