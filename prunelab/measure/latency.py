"""Inference latency: warm-up, then the median of repeated timed forward passes."""
from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn


@torch.inference_mode()
def latency(model: nn.Module, batch: int, input_shape: tuple[int, int, int] | None = None,
            precision: str = "fp32", channels_last: bool = False, warmup: int = 5, repeats: int = 20) -> dict:
    """Median forward time of ``model`` on a batch (eval mode, no autograd).

    ``precision``: fp32, or bf16 (a bf16 copy of the model on a bf16 input, as an inference
    deployment runs it: autocast would re-cast every weight on every call). Returns milliseconds
    per batch and images/s.
    """
    spec = getattr(model, "arch_spec", None)
    shape = input_shape or (spec.in_channels, spec.input_size, spec.input_size)
    device = next(model.parameters()).device
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"latency precision must be fp32 or bf16, not {precision!r}")
    model = copy.deepcopy(model).eval()  # the caller's model keeps its dtype and memory format
    x = torch.randn(batch, *shape, device=device)
    if precision == "bf16":
        model, x = model.to(torch.bfloat16), x.to(torch.bfloat16)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(warmup + repeats):
        sync()
        t0 = time.perf_counter()
        model(x)
        sync()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    ms = 1000 * statistics.median(times)
    return {"batch": batch, "precision": precision, "channels_last": channels_last, "median_ms": ms,
            "img_s": batch / ms * 1000, "repeats": repeats}
