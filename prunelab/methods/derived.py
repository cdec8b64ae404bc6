"""Methods derived from another method (``of``): the same large model, a different pruned model.

``uniform`` (paper Section 5): the uniformly scaled architecture with the params (or MACs) of the
one the inner method found: trained from scratch only. ``random-widths``: the inner method's
widths (and input selection counts) with randomly chosen channels of the large model: a
fine-tunable control for the inner method's channel choice. Of an unstructured method (e.g.
``magnitude``): ``uniform`` keeps the same overall density in every masked layer (its largest
weights), ``random-widths`` random weights at the inner method's density per layer (one level:
earlier masks of iterative pruning are not kept). A derived method is of its inner method's kind.

The large model is the inner method's own (its training hooks and identity, via
``train_method``), so a wrapper and its inner method share one baseline run per seed. YAML:
``prune: {method: uniform, of: {method: slimming, lam: 1.0e-4}, by: params}`` with ``targets``
per model (forwarded to the inner method).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..arch import ArchSpec, build
from ..arch.layers import ChannelSelection
from ..errors import PrunelabError
from ..prune import prune_channels
from ..prune.criteria import units_of
from ..search import channels, size, sparsify, sparsity_pattern, uniform
from ..search.fit import BY
from . import get, register
from .base import Method, PruneData, PruneResult


@dataclass(frozen=True)
class Params:
    of: dict = field(default_factory=dict)  # the inner method: {method: NAME, ...its parameters}
    target: Any = None  # forwarded to the inner method (when it has a target)


@dataclass(frozen=True)
class UniformParams(Params):
    by: str = "params"  # match the inner method's params or macs


class Derived(Method):
    """A method whose large model and found architecture are another method's (``of``)."""

    kind = "structured"
    Params = Params
    suffix = ""
    search = True

    @classmethod
    def source_label(cls, label: str) -> str | None:
        return label[: -len(cls.suffix) - 1] if label.endswith(f"-{cls.suffix}") else None

    def inner(self, params: Params) -> tuple[Method, Any]:
        if not params.of:
            raise PrunelabError(f"{self.name}: 'of' must name the inner method, e.g. of: {{method: slimming}}")
        of = dict(params.of)
        ref = of.pop("method", "l1-norm")  # as in a prune: entry
        m = get(ref)
        if isinstance(m, Derived):
            raise PrunelabError(f"{self.name}: the inner method '{ref}' is itself derived; name the method it wraps")
        if "target" in of:
            raise PrunelabError(f"{self.name}: give the target beside 'of' (or per model), not inside it")
        if m.has_target() and params.target is not None:
            of["target"] = params.target
        elif params.target is not None:
            raise PrunelabError(f"{self.name}: the inner method '{ref}' takes no target")
        return m, m.params(of, f"{self.name}: of ({ref})")

    def params(self, mapping: dict | None = None, where: str | None = None):
        p = super().params(mapping, where)
        self.kind = self.inner(p)[0].kind  # structured or unstructured, as the inner method
        return p

    def check(self, params: Params) -> None:
        self.inner(params)

    def train_method(self, base: ArchSpec, params) -> tuple[dict | None, ArchSpec]:
        m, ip = self.inner(params)
        return m.train_method(base, ip)

    def check_setting(self, base: ArchSpec, params) -> None:
        m, ip = self.inner(params)
        m.check_base(base)
        m.check_setting(base, ip)

    def prune_source(self, params) -> str:
        m, ip = self.inner(params)
        return m.prune_source(ip)

    def code(self, params) -> str | None:
        m, ip = self.inner(params)
        return m.code(ip)

    def describe(self, params) -> str:
        m, ip = self.inner(params)
        by = getattr(params, "by", "params")
        return f"{self.name}({m.describe(ip)}" + (f", by={by}" if by != "params" else "") + ")"

    def label(self, base: ArchSpec, params, dataset: str) -> str:
        m, ip = self.inner(params)
        return f"{m.label(base, ip, dataset)}-{self.suffix}"

    def inner_planned(self, base: ArchSpec, params, dataset: str) -> ArchSpec | None:
        m, ip = self.inner(params)
        m.check_base(base)
        return m.planned_spec(base, ip, dataset)

    def found(self, model, params, data: PruneData) -> PruneResult:
        """The inner method's prune result on this large model."""
        m, ip = self.inner(params)
        return m.prune(model, ip, data)


@register("uniform")
class Uniform(Derived):
    """The uniformly scaled base with the params (or MACs) of the inner method's pruned model."""

    Params = UniformParams
    inherits = False  # a uniform net has no inherited weights: scratch regimes only
    tickets = False
    suffix = "uniform"
    efficiency_plot = True
    pairs_with_source = True

    def check(self, params: UniformParams) -> None:
        if params.by not in BY:
            raise PrunelabError(f"{self.name}: by must be params or macs, not {params.by!r}")
        super().check(params)

    def make(self, base: ArchSpec, pruned: ArchSpec, params: UniformParams) -> ArchSpec:
        return uniform(base, size(pruned, params.by), params.by, name=f"{pruned.name}-{self.suffix}")

    def planned_spec(self, base: ArchSpec, params: Params, dataset: str) -> ArchSpec | None:
        planned = self.inner_planned(base, params, dataset)
        return None if planned is None else self.make(base, planned, params)

    def prune(self, model, params: Params, data: PruneData) -> PruneResult:
        found = self.found(model, params, data)
        if found.masks:  # unstructured: the same overall density in every masked layer (largest weights)
            flat = {k: _density(found.masks) for k in found.masks}
            return _masked(found, sparsify(found.model, {**sparsity_pattern(found.masks), "ratios": flat}))
        pruned = found.spec
        spec = self.make(model.arch_spec, pruned, params)
        info = {"of": pruned.name, "of_" + params.by: size(pruned, params.by), params.by: size(spec, params.by)}
        return PruneResult(build(spec).to(next(model.parameters()).device), info=info)


@register("random-widths")
class RandomWidths(Derived):
    """The inner method's widths and selection counts, with random channels of the large model."""

    suffix = "randw"

    def planned_spec(self, base: ArchSpec, params: Params, dataset: str) -> ArchSpec | None:
        planned = self.inner_planned(base, params, dataset)
        if planned is None or any(n is not None and k != n for k, n in channels(planned).values()):
            return None  # selections are found per seed (random indices differ from the planned ones)
        return planned

    def prune(self, model, params: Params, data: PruneData) -> PruneResult:
        found = self.found(model, params, data)
        gen = data.generator(offset=7919)
        if found.masks:  # unstructured: random masks with the inner method's density per layer
            return _masked(found, sparsify(found.model, sparsity_pattern(found.masks), "random", gen))
        kept = {layer: _random(model.get_submodule(layer), len(idx), gen) for layer, idx in found.kept.items()}
        sels = {path: _random(model.get_submodule(path).select, len(idx), gen)
                for path, idx in found.selections.items()}
        pruned = prune_channels(model, kept, name=found.spec.name, selections=sels)
        if _counts(pruned.arch_spec) != _counts(found.spec):
            raise PrunelabError(f"random-widths: the result of '{self.inner(params)[0].name}' is not described by kept "
                                "channels and selections alone (e.g. removed blocks)")
        return PruneResult(pruned, kept=kept, selections=sels, info={"of": found.spec.name})


@register("shuffled")
class Shuffled(RandomWidths):
    """An unstructured method's mask shuffled within each layer: the same per-layer densities, the
    kept positions drawn at random (the layerwise-shuffle sanity check of pruning at initialisation,
    Frankle et al. 2021; Su et al. 2020). Its rows are compared with the method's own."""

    suffix = "shuffled"
    search = False
    pairs_with_source = True

    def check(self, params: Params) -> None:
        if self.inner(params)[0].kind != "unstructured":
            raise PrunelabError(f"{self.name}: shuffles an unstructured method's masks; "
                                f"'{self.inner(params)[0].name}' removes channels (use random-widths)")


def _counts(spec: ArchSpec) -> dict[str, int]:
    return {k: c[0] for k, c in channels(spec).items()}


def _random(module, k: int, gen: torch.Generator) -> list[int]:
    n = module.num_channels if isinstance(module, ChannelSelection) else units_of(module)
    return sorted(torch.randperm(n, generator=gen)[:k].tolist())


def _masked(found: PruneResult, masks: dict) -> PruneResult:
    """The inner method's masked model with other masks (of the same weights)."""
    found.model.masks = masks
    return PruneResult(found.model, info={"of_sparsity": found.info.get("sparsity"), "sparsity": 1 - _density(masks),
                                          "kept": {k: int(m.sum()) for k, m in masks.items()}})


def _density(masks: dict) -> float:
    return sum(int(m.sum()) for m in masks.values()) / sum(m.numel() for m in masks.values())
