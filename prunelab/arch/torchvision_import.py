"""Torchvision-format ImageNet checkpoints -> prunelab models (``prunelab import-weights``).

prunelab's ImageNet families are written in torchvision's module layout (ResNet: ``conv1``, ``bn1``,
``layer<s>.<b>.conv<j>``/``bn<j>``/``downsample.0|1``, ``fc``; VGG: ``features.<i>`` with conv [BN]
ReLU per width and one max-pool per ``M``, ``classifier.<i>`` as Linear-ReLU-Dropout twice then
Linear), so a checkpoint key maps to a prunelab key by rules, not by a table:

* the path components that wrappers add are dropped: ``module`` (DataParallel and
  DistributedDataParallel: ``module.conv1.weight``, or ``features.module.0.weight`` where the
  PyTorch ImageNet example wraps only a VGG's features), ``_orig_mod`` (torch.compile);
* the rest of the name is the prunelab name, and the keys and shapes the spec needs are read off
  the spec's own modules (built on the meta device), so every spec of these families, pruned ones
  included, has its mapping without a list of keys;
* a BatchNorm's ``num_batches_tracked`` may be missing (torchvision's original ImageNet files
  predate it): it is set to 0, as BatchNorm itself does when it loads such a file.

Anything else missing or left over, a shape that differs, a non-float or non-finite tensor is a
``PrunelabError`` naming the key. The spec is named (``arch``) or inferred: the known ImageNet
architecture whose keys and shapes the checkpoint matches exactly, when exactly one does.
"""
from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import nn

from ..errors import PrunelabError
from ..fileio import torch_load
from .families import build
from .names import known_names, resolve
from .spec import ArchSpec

WRAPPERS = ("module", "_orig_mod")  # path components that wrappers add
DATASET = "imagenet"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's state_dict: the file itself, or its ``state_dict`` / ``model`` entry (the
    layouts of torchvision's files and of the usual training scripts), wrappers' names dropped."""
    if Path(path).is_dir():
        raise PrunelabError(f"checkpoint {path} is a folder; give the checkpoint file")
    return state_dict_of(torch_load(path, "checkpoint", expect="a state_dict (a dictionary of tensors)"), path)


def state_dict_of(obj: dict, path: str | Path) -> dict[str, torch.Tensor]:
    """``read_state_dict`` of a checkpoint already loaded (``obj``, read from ``path``)."""
    if "spec" in obj and str(obj.get("format", "")).startswith("prunelab-model"):
        raise PrunelabError(f"{path} is already a prunelab model file (prune, export or train --init it directly)")
    for entry in ("state_dict", "model"):
        if isinstance(obj.get(entry), dict):
            obj = obj[entry]
            break
    if not obj:
        raise PrunelabError(f"checkpoint {path} holds no tensors")
    for k, v in obj.items():
        if not isinstance(k, str):
            raise PrunelabError(f"checkpoint {path}: key {str(k)[:80]!r} is not a name (a state_dict is needed)")
        if not isinstance(v, torch.Tensor):
            raise PrunelabError(f"checkpoint {path}: entry {k[:80]!r} ({type(v).__name__}) is not a tensor "
                                "(a state_dict, or a dict with a 'state_dict' or 'model' entry, is needed)")
    out = {}
    for key, v in obj.items():
        name = ".".join(p for p in key.split(".") if p not in WRAPPERS)
        if name in out:
            raise PrunelabError(f"checkpoint {path}: '{key}' and another key both name '{name}'")
        out[name] = v
    return out


@functools.lru_cache(maxsize=None)
def _expected(spec_json: str) -> dict[str, tuple[torch.Size, torch.dtype]]:
    model = build(ArchSpec.from_json(spec_json), device="meta")
    return {k: (v.shape, v.dtype) for k, v in model.state_dict().items()}


def expected(spec: ArchSpec) -> dict[str, tuple[torch.Size, torch.dtype]]:
    """Key -> (shape, dtype) of the state_dict of ``spec`` (read off its modules)."""
    return _expected(spec.to_json())


def _shape(s) -> str:
    return "x".join(map(str, s)) or "scalar"


def mismatch(sd: dict[str, torch.Tensor], spec: ArchSpec) -> str | None:
    """The first key (or shape) by which ``sd`` does not fit ``spec``, as a sentence; None if it fits."""
    want = expected(spec)
    for key, (shape, _) in want.items():
        if key not in sd:
            if key.endswith(".num_batches_tracked"):
                continue
            return f"missing key '{key}' (of {spec.name})"
        if sd[key].shape != shape:
            head = key in list(want)[-2:] and sd[key].shape[1:] == shape[1:]
            return (f"'{key}' has shape {_shape(sd[key].shape)}, {spec.name} needs {_shape(shape)}"
                    + (f" (a head for {sd[key].shape[0]} classes, not ImageNet's {shape[0]})" if head else ""))
    extra = [k for k in sd if k not in want]
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        return f"unexpected key '{extra[0]}'{more} ({spec.name} has no such tensor)"
    return None


def infer_spec(sd: dict[str, torch.Tensor], where: str = "checkpoint") -> ArchSpec:
    """The known ImageNet architecture the checkpoint's keys and shapes match exactly."""
    specs = [resolve(n, DATASET) for n in known_names(DATASET)]
    fits = [s for s in specs if mismatch(sd, s) is None]
    if len(fits) == 1:
        return fits[0]
    if fits:
        raise PrunelabError(f"{where} fits several architectures ({', '.join(s.name for s in fits)}); "
                            "pick one with --arch")

    def score(s):  # how many of the spec's tensors the checkpoint has, with their shapes
        return sum(k in sd and sd[k].shape == shape for k, (shape, _) in expected(s).items())

    best = max(specs, key=score)
    raise PrunelabError(f"{where} matches no ImageNet architecture prunelab knows; the closest, "
                        f"'{best.name}', differs: {mismatch(sd, best)}")


def to_model(sd: dict[str, torch.Tensor], spec: ArchSpec, where: str = "checkpoint") -> nn.Module:
    """The prunelab model of ``spec`` holding the checkpoint's tensors (float32, contiguous)."""
    problem = mismatch(sd, spec)
    if problem is not None:
        hint = ""
        try:
            other = infer_spec(sd, where)
            hint = f"; the file matches '{other.name}' (--arch {other.name})"
        except PrunelabError:
            pass
        raise PrunelabError(f"{where}: {problem}{hint}")
    state = {}
    for key, (shape, dtype) in expected(spec).items():
        v = sd.get(key)
        if v is None:  # num_batches_tracked (see the module's docstring)
            state[key] = torch.zeros(shape, dtype=dtype)
            continue
        if v.is_floating_point() != dtype.is_floating_point or v.is_complex():
            raise PrunelabError(f"{where}: '{key}' holds {str(v.dtype)[6:]} values, {spec.name} needs "
                                f"{str(dtype)[6:]}")
        v = v.detach().to(device="cpu", dtype=dtype).contiguous()
        if v.is_floating_point() and v.numel() and not torch.isfinite(torch.stack(torch.aminmax(v))).all():
            raise PrunelabError(f"{where}: '{key}' contains NaN or infinity")
        state[key] = v
    model = build(spec, device="meta")
    model.load_state_dict(state, assign=True)  # strict: every key, checked above
    return model


def import_weights(path: str | Path, arch: str | ArchSpec | None = None) -> nn.Module:
    """A prunelab ImageNet model holding a torchvision-format checkpoint's weights.

    ``arch``: a prunelab ImageNet architecture name or spec; None infers it from the checkpoint.
    """
    sd = read_state_dict(path)
    where = f"checkpoint {path}"
    if arch is None:
        spec = infer_spec(sd, where)
    else:
        spec = arch if isinstance(arch, ArchSpec) else resolve(arch, DATASET)
    return to_model(sd, spec, where)
