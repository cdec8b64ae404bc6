"""Sparse speed, honestly: masks alone make nothing faster.

    python benchmarks/sparse_speed.py --arch vgg19 --dataset cifar10 --json

1. Model level: the latency of a dense model and of the same model with 30/80/95% of its conv
   weights masked to zero (global magnitude pruning): dense kernels do the same work either way.
2. Kernel level, CPU: the matrix product of one conv layer (as an im2col GEMM) with torch's dense
   ``mm`` against ``torch.sparse`` CSR at the same sparsities: the only sparse kernel torch offers on
   a CPU for this product.
3. GPU (only with CUDA): the same GEMM in fp16 with 2:4 semi-structured sparsity
   (``torch.sparse.to_sparse_semi_structured``, Ampere and newer) against dense. Without a GPU this
   part says so and measures nothing.
All times are medians of repeated runs in this one process; report ratios, not absolute times.
"""
import argparse
import json
import statistics
import time
import warnings

import torch

from prunelab import methods
from prunelab.arch import build, resolve
from prunelab.measure import count
from prunelab.measure.latency import latency


def _median_ms(fn, repeats=20, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="vgg19")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta.*")
    out = {"model": [], "kernel_cpu": [], "gpu": None}
    dense = build(resolve(args.arch, args.dataset), seed=0).eval()
    t_dense = latency(dense, args.batch)["median_ms"]
    mag = methods.get("magnitude")
    for s in (0.3, 0.8, 0.95):
        r = mag.prune(build(resolve(args.arch, args.dataset), seed=0), mag.params({"target": s}),
                      methods.PruneData(args.dataset, 0))
        methods.check_result(mag, dense, r, None)
        c = count(r.model)
        t = latency(r.model.eval(), args.batch)["median_ms"]
        out["model"].append({"sparsity": s, "dense_ms": t_dense, "masked_ms": t, "speedup": t_dense / t,
                             "mac_ratio": c.macs / c.macs_nonzero})
    # the largest conv of the model as an im2col GEMM: (out, in*k*k) x (in*k*k, H*W*batch)
    conv = max((m for m in dense.modules() if isinstance(m, torch.nn.Conv2d)), key=lambda m: m.weight.numel())
    w = conv.weight.detach().flatten(1)
    cols = torch.randn(w.shape[1], 16 * 16 * 8)
    t_mm = _median_ms(lambda: w @ cols)
    for s in (0.5, 0.8, 0.95, 0.99):
        thre = w.abs().flatten().kthvalue(int(w.numel() * s)).values
        ws = torch.where(w.abs() > thre, w, torch.zeros_like(w)).to_sparse_csr()
        t_sp = _median_ms(lambda: ws @ cols)
        out["kernel_cpu"].append({"sparsity": s, "shape": list(w.shape), "dense_ms": t_mm, "csr_ms": t_sp,
                                  "speedup": t_mm / t_sp})
    if torch.cuda.is_available():
        from torch.sparse import to_sparse_semi_structured

        a = torch.randn(4096, 4096, dtype=torch.float16, device="cuda")
        a = a * torch.tensor([1, 1, 0, 0], dtype=torch.float16, device="cuda").repeat(4096, 1024)  # 2:4
        b = torch.randn(4096, 4096, dtype=torch.float16, device="cuda")
        sync = torch.cuda.synchronize
        t_d = _median_ms(lambda: (a @ b, sync()))
        a_s = to_sparse_semi_structured(a)
        t_s = _median_ms(lambda: (a_s @ b, sync()))
        out["gpu"] = {"device": torch.cuda.get_device_name(), "dense_ms": t_d, "semi_structured_ms": t_s,
                      "speedup": t_d / t_s}
    else:
        out["gpu"] = "no CUDA device: the 2:4 semi-structured kernel was not run"
    if args.json:
        print(json.dumps(out, indent=1))
        return
    for r in out["model"]:
        print(f"model {args.arch}, {r['sparsity']:.0%} masked: {r['masked_ms']:.1f} ms vs dense {r['dense_ms']:.1f} ms "
              f"(speed-up {r['speedup']:.2f}x; nonzero-MAC reduction {r['mac_ratio']:.2f}x)")
    for r in out["kernel_cpu"]:
        print(f"GEMM {r['shape']}, {r['sparsity']:.0%} sparse: CSR {r['csr_ms']:.2f} ms vs dense {r['dense_ms']:.2f} ms "
              f"(speed-up {r['speedup']:.2f}x)")
    print(f"GPU: {out['gpu']}")


if __name__ == "__main__":
    main()
