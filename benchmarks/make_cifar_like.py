"""Write a CIFAR-10-format folder (python pickles, random pixels) for throughput benchmarks.

Throughput does not depend on pixel values; use real CIFAR-10 for anything else.
Usage: python benchmarks/make_cifar_like.py DIR [--n 10000]
"""
import argparse
import pickle
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dir")
    ap.add_argument("--n", type=int, default=10000, help="images per training batch file (5 files)")
    args = ap.parse_args()
    d = Path(args.dir) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = args.n if name != "test_batch" else min(args.n, 10000)
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist()}
        with open(d / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    print(d)


if __name__ == "__main__":
    main()
