"""Any torchvision classification model as a prunelab architecture (family ``torchvision``).

Named ``torchvision:NAME`` (NAME from ``torchvision.models.list_models(module=torchvision.models)``),
built with ``weights=None`` (nothing is downloaded) for the dataset's classes; for inputs with other
than 3 channels the first 3-channel conv reads ``in_channels`` instead. The prunable widths are the
groups of Torch-Pruning's dependency graph over conv output channels (one per coupled group, e.g.
one residual stream, keyed by the group's first conv in module order; neither the classifier nor a
group that reaches a grouped, not depthwise, conv is one).
Layout: ``{"model": NAME, "widths": {group root: width}}`` with every group listed. ``build``
makes the full model, then removes the *last* channels of each narrowed group through the
dependency graph, so a surgery result (any kept channels) loads into the spec's model.
"""
from __future__ import annotations

import contextlib
import functools
import warnings

import torch
from torch import nn

from ..errors import PrunelabError, first_line
from .family import Family
from .vit import HeadAttention
from .units import Unit

PREFIX = "torchvision:"
# constructor arguments beyond num_classes: one output in training too (no auxiliary heads), no
# init of torchvision's own (prunelab initialises every model)
EXTRA = {"googlenet": {"aux_logits": False, "init_weights": False},
         "inception_v3": {"aux_logits": False, "init_weights": False}}
# vision transformers other than ViT: windowed attention and conv stages that no width of this
# family describes (torchvision's ViTs are pruned by their heads and MLP widths: see ``_vit_widths``)
TRANSFORMERS = ("swin_", "maxvit_")
VIT = "vit_"


@functools.lru_cache(maxsize=1)
def model_names() -> tuple[str, ...]:
    import torchvision  # imported on first use: it costs seconds at every start of the CLI

    return tuple(torchvision.models.list_models(module=torchvision.models))


def check_name(name: str) -> None:
    if name not in model_names():
        raise PrunelabError(f"unknown torchvision classification model '{name}' "
                            f"(known: {', '.join(n for n in model_names() if not n.startswith(TRANSFORMERS))})")
    if name.startswith(TRANSFORMERS):
        raise PrunelabError(f"{PREFIX}{name} is a windowed vision transformer; the torchvision family prunes the "
                            "conv channels of convolutional networks and the heads and MLP widths of vit_* models")


class TorchvisionAttention(HeadAttention):
    """``nn.MultiheadAttention``'s place in torchvision's ViT encoder blocks (called as
    ``attn(x, x, x, need_weights=False)``, returning ``(output, None)``) with removable heads: the same
    computation (``qkv`` in ``in_proj_weight``'s layout, ``proj`` = ``out_proj``; no attention dropout,
    torchvision's default)."""

    def forward(self, query, key=None, value=None, need_weights=False):
        return self.attend(query), None


def _vit_blocks(model: nn.Module):
    """(encoder block name, block) of a torchvision ViT."""
    return [(f"encoder.layers.{n}", blk) for n, blk in model.encoder.layers.named_children()]


def _vit_widths(model: nn.Module) -> dict[str, int]:
    """A torchvision ViT's prunable widths: every encoder block's heads and MLP hidden width."""
    out = {}
    for path, blk in _vit_blocks(model):
        out[f"{path}.self_attention"] = blk.self_attention.num_heads
        out[f"{path}.mlp.0"] = blk.mlp[0].out_features
    return out


def _narrow_vit(model: nn.Module, narrow: dict[str, int]) -> None:
    """Keep the first heads / MLP units of each narrowed ViT width (Torch-Pruning's linear cuts)."""
    import torch_pruning as tp

    for key, w in narrow.items():
        layer = model.get_submodule(key)
        if isinstance(layer, HeadAttention):
            layer.keep_heads(list(range(w)))
        else:
            mlp = model.get_submodule(key.rpartition(".")[0])
            drop = list(range(w, layer.out_features))
            tp.prune_linear_out_channels(mlp[0], drop)
            tp.prune_linear_in_channels(mlp[3], drop)


def _first_rgb_conv(model: nn.Module, name: str) -> tuple[nn.Module, str, nn.Conv2d]:
    for path, m in model.named_modules():
        if isinstance(m, nn.Conv2d) and m.in_channels == 3:
            parent, _, attr = path.rpartition(".")
            return model.get_submodule(parent), attr, m
    raise PrunelabError(f"{PREFIX}{name}: no conv reads 3 input channels, so none can read another number")


def _full(name: str, in_channels: int, num_classes: int, input_size: int) -> nn.Module:
    """The full-width torchvision model (on the current default device), stem adapted; a ViT for
    ``input_size`` images, its attention layers with removable heads."""
    import torchvision

    check_name(name)
    extra = dict(EXTRA.get(name, {}))
    if name.startswith(VIT):
        patch = int(name.rsplit("_", 1)[1])
        if input_size % patch:
            raise PrunelabError(f"{PREFIX}{name} cuts {patch}px patches, which do not tile a {input_size}px input")
        extra["image_size"] = input_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = torchvision.models.get_model(name, weights=None, num_classes=num_classes, **extra)
    if name.startswith(VIT):
        for _, blk in _vit_blocks(model):
            mha = blk.self_attention
            blk.self_attention = TorchvisionAttention(mha.embed_dim, mha.num_heads, mha.head_dim).to(
                mha.in_proj_weight.device)
    if in_channels != 3:
        parent, attr, old = _first_rgb_conv(model, name)
        setattr(parent, attr, nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                                        old.dilation, old.groups, old.bias is not None, old.padding_mode,
                                        device=old.weight.device))
    return model


def _graph(model: nn.Module, spec_name: str, in_channels: int, size: int) -> tp.DependencyGraph:
    """Torch-Pruning's dependency graph of ``model`` traced on one image (in eval mode: BN at 1x1)."""
    import torch_pruning as tp

    was_training = model.training
    p = next(model.parameters())
    x = torch.zeros(1, in_channels, size, size, dtype=p.dtype, device=p.device)
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Torch-Pruning on parameters outside modules
            return tp.DependencyGraph().build_dependency(model.eval(), example_inputs=x)
    except (RuntimeError, ValueError, AssertionError, IndexError) as e:
        raise PrunelabError(f"{spec_name} cannot run on a {in_channels}x{size}x{size} input ({first_line(e)})")
    finally:
        model.train(was_training)


def _grouped(m: nn.Module) -> bool:
    """A grouped conv that is not depthwise (ResNeXt, RegNet): Torch-Pruning cannot remove arbitrary
    channels of it (the channels of one conv group must go together)."""
    return isinstance(m, nn.Conv2d) and 1 < m.groups < m.in_channels


def _groups(model: nn.Module, graph: tp.DependencyGraph, classifier: nn.Module | None = None) -> dict[str, nn.Conv2d]:
    """Group root name -> root conv: every coupled group of conv output channels, but the
    classifier's (by default the last conv or linear layer registered) and those that reach a
    grouped conv."""
    order = {m: (i, n) for i, (n, m) in enumerate(model.named_modules())}
    if classifier is None:
        classifier = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
    roots = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. Torch-Pruning's shape inference giving up on a reshape
        groups = list(graph.get_all_groups(ignored_layers=[classifier], root_module_types=[nn.Conv2d]))
    for group in groups:
        if any(_grouped(item.dep.target.module) for item in group):
            continue
        convs = [item.dep.target.module for item in group
                 if graph.is_out_channel_pruning_fn(item.dep.handler) and isinstance(item.dep.target.module, nn.Conv2d)]
        roots.append(min(convs, key=lambda m: order[m][0]))
    return {order[m][1]: m for m in sorted(roots, key=lambda m: order[m][0])}


def _guarded(make, spec_name: str, meta: bool):
    """``make()``, its failures (the model's or Torch-Pruning's) one line naming the model. With
    ``meta``, on the meta device (shapes only: no memory, no compute) where the model and
    Torch-Pruning can run there, else on the CPU (e.g. RegNet computes its widths with tensors)."""
    if meta:
        try:
            with torch.device("meta"):
                return make()
        except Exception:  # noqa: BLE001 - third-party code that needs real tensors: retry on the CPU
            pass
    try:
        with torch.device("cpu") if meta else contextlib.nullcontext():
            return make()
    except PrunelabError:
        raise
    except Exception as e:  # noqa: BLE001 - the model or Torch-Pruning failed: one line, not a traceback
        raise PrunelabError(f"{spec_name}: Torch-Pruning cannot trace or prune this model "
                            f"({type(e).__name__}: {first_line(e)})")


@functools.lru_cache(maxsize=64)
def full_widths(name: str, in_channels: int, input_size: int, num_classes: int) -> dict[str, int]:
    """Group root -> full width (traced once per model and input, on the meta device where it can)."""
    check_name(name)

    def make():
        model = _full(name, in_channels, num_classes, input_size)
        if name.startswith(VIT):
            return _vit_widths(model)
        groups = _groups(model, _graph(model, PREFIX + name, in_channels, input_size))
        return {n: m.out_channels for n, m in groups.items()}

    return _guarded(make, PREFIX + name, meta=True)


def _table(spec) -> dict[str, int]:
    return full_widths(spec.layout["model"], spec.in_channels, spec.input_size, spec.num_classes)


def full(spec) -> dict[str, int]:
    """Group root -> the full (unpruned) width of ``spec``'s model."""
    return dict(_table(spec))


@functools.lru_cache(maxsize=4096)
def estimate(spec) -> tuple[int, int]:
    """(conv and linear layers, parameters) of a validated spec: exact, from a shapes-only model."""
    with torch.device("meta"):
        model = TorchvisionModel(spec)
    return (sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()),
            sum(p.numel() for p in model.parameters()))


def layout(name: str, in_channels: int, input_size: int, num_classes: int) -> dict:
    """The full-width layout of torchvision model ``name``."""
    return {"model": name, "widths": dict(full_widths(name, in_channels, input_size, num_classes))}


def validate(spec) -> None:
    L = spec.layout
    if set(L) != {"model", "widths"}:
        raise PrunelabError(f"{spec.name}: a torchvision layout has exactly the keys 'model' and 'widths'")
    if not isinstance(L["model"], str):
        raise PrunelabError(f"{spec.name}: layout 'model' must be a torchvision model name")
    check_name(L["model"])
    full, widths = _table(spec), L["widths"]
    if not isinstance(widths, dict):
        raise PrunelabError(f"{spec.name}: layout 'widths' must map group roots to widths")
    for k, w in widths.items():
        if k not in full:
            raise PrunelabError(f"{spec.name}: '{k}' is not a prunable group of {L['model']} "
                                f"(groups: {', '.join(list(full)[:6])}, ...)")
        if isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= full[k]:
            raise PrunelabError(f"{spec.name}: group '{k}' has width {w!r}; it must be an integer in [1, {full[k]}]")
    missing = [k for k in full if k not in widths]
    if missing:
        raise PrunelabError(f"{spec.name}: layout 'widths' lacks group '{missing[0]}' ({len(missing)} missing)")


def widths(spec) -> dict[str, int]:
    return {k: spec.layout["widths"][k] for k in _table(spec)}


def set_widths(layout: dict, new: dict[str, int]) -> None:
    layout["widths"].update(new)


def TorchvisionModel(spec) -> nn.Module:
    """The torchvision model of ``spec``: full width, then each narrowed group's last channels removed
    through the dependency graph. Built on the default device (``build``'s); asked for the meta
    device, it is built on the CPU and moved there where the model or Torch-Pruning needs data."""
    import torch_pruning as tp

    def make():
        model = _full(spec.layout["model"], spec.in_channels, spec.num_classes, spec.input_size)
        full = _table(spec)
        narrow = {k: w for k, w in spec.layout["widths"].items() if w < full[k]}
        if narrow and spec.layout["model"].startswith(VIT):
            _narrow_vit(model, narrow)
        elif narrow:
            graph = _graph(model, spec.name, spec.in_channels, spec.input_size)
            for root, w in narrow.items():
                group = graph.get_pruning_group(model.get_submodule(root), tp.prune_conv_out_channels,
                                                idxs=list(range(w, full[root])))
                group.prune()
        return model.to(device)

    device = torch.empty(0).device
    return _guarded(make, spec.name, meta=device.type == "meta")


def units(spec):
    """One stage: the dependency groups in module order."""
    count: dict[str, int] = {}
    for key in widths(spec):
        role = "heads" if key.endswith(".self_attention") else "mlp" if spec.layout["model"].startswith(VIT) else "conv"
        count[role] = count.get(role, 0) + 1
        yield Unit(key, ("widths", key), 0, count[role] - 1, role)


def scale(spec, sc, clamp: bool) -> dict:
    """Every group's width; ``clamp`` also keeps each within its full width."""
    L, full_ = spec.to_dict()["layout"], full(spec)
    L["widths"] = {k: min(sc(w), full_[k]) if clamp else sc(w) for k, w in L["widths"].items()}
    return L


FAMILY = Family("torchvision", TorchvisionModel, validate, widths, set_widths, estimate, units=units, scale=scale)
