"""What a pruning method is: parameters, a kind, optional training hooks, and ``prune``.

A method never trains. It may shape the training of the large model through ``hooks`` (a
sparsity regulariser, its own optimiser, per-epoch zeroing), and it turns a trained model into a
pruned one with ``prune``. The protocol (baseline -> prune -> Fine-tuned / Scratch-E / Scratch-B
over seeds) is the same for every method.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..arch import ArchSpec
from ..arch.families import non_conv_layers, require
from ..config import canonical, from_mapping
from ..errors import PrunelabError
from ..train import Hooks

KINDS = ("structured", "unstructured")


@dataclass(frozen=True)
class NoParams:
    """A method without parameters."""


@dataclass
class PruneResult:
    """What ``Method.prune`` returns.

    ``model``: the pruned model with its inherited weights; ``model.arch_spec`` is the pruned
    architecture (physically smaller for structured methods) and ``model.masks`` holds the masks of
    unstructured methods ({parameter name: bool tensor, True = kept}).
    ``kept``: kept output channels per pruned layer, where the method removed filters.
    ``selections``: kept input channels per block, where the method selected a stream's channels.
    ``info``: a small JSON-able dict for the report (thresholds, where a floor acted, ...).
    """

    model: nn.Module
    kept: dict[str, list[int]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    selections: dict[str, list[int]] = field(default_factory=dict)

    @property
    def spec(self) -> ArchSpec:
        return self.model.arch_spec

    @property
    def masks(self) -> dict[str, torch.Tensor] | None:
        return getattr(self.model, "masks", None) or None


class PruneData:
    """What a data-dependent method may read: seeded batches of training images.

    ``dataset`` names the dataset (presets are per dataset); ``seed`` seeds ``generator()`` and
    ``batches()``, so a prune step is reproducible. The data is loaded on first use only.
    """

    def __init__(self, dataset: str, seed: int = 0, data: Any = None, loader: Callable[[], Any] | None = None,
                 device: str | torch.device = "cpu"):
        self.dataset, self.seed, self.device = dataset, seed, torch.device(device)
        self._data, self._loader = data, loader

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed + offset)

    @property
    def data(self):
        if self._data is None:
            if self._loader is None:
                raise PrunelabError(f"this method needs training data of '{self.dataset}' (pass --data DIR)")
            self._data = self._loader()
        return self._data

    def train(self, model: nn.Module, recipe, masks: dict[str, torch.Tensor] | None = None, offset: int = 0) -> None:
        """Train ``model`` (on ``self.device``) in place on this data with the one training loop, seeded
        by the step's seed (+ ``offset``); masked weights stay exactly zero. For methods that train
        between their steps (ThiNet's brief fine-tuning after each layer), never a loop of their own."""
        from ..train import train

        train(model, self.data, recipe, seed=self.seed + offset, masks=masks, test=False)

    def batches(self, images: int, batch_size: int = 128) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """About ``images`` training images (whole batches, at least one), in a seeded random order,
        on ``self.device`` (where the model to prune is)."""
        seen = 0
        for x, y in self.data.batches("train", batch_size, train=True, gen=self.generator(1)):
            yield x.to(self.device), y.to(self.device)
            seen += len(y)
            if seen >= images:
                return


class Method:
    """A pruning method. Subclass it, set ``Params`` (a frozen dataclass), ``kind`` and what you
    need of ``hooks`` / ``planned_spec`` / ``label``, implement ``prune``, and register it.

    - ``Params``: its parameters, validated from YAML/CLI (unknown keys and wrong types are
      errors). A ``target`` field, when present, is filled from each model entry's ``targets``.
    - ``train_fields``: the Params fields that shape the large model's training (through
      ``hooks``, which sees only these); they are part of the large model's run identity, the
      other fields only of the prune step's.
    - ``planned_spec``: the pruned architecture when it is known before training (predefined
      targets); None when pruning finds it (then each seed's architecture comes from its prune step).
    """

    name: str = ""
    kind: str = "structured"
    Params: type = NoParams
    train_fields: tuple[str, ...] = ()
    # the train fields that set the large model's initial state (``initial_state``): scratch arms of
    # its pruned architectures start in that state too (slimming: the BN scales' gamma_init)
    state_fields: tuple[str, ...] = ()
    inherits: bool = True  # False: the method gives no pruned weights (only scratch regimes apply)
    tickets: bool = True  # False: its pruned model is no subset of the large one's (no winning ticket)
    # how reports show its rows: ``search``: an architecture to compare pruned ones with (uniform,
    # guided, random widths): its rows are a line of their own, named after the method, in the
    # parameter-efficiency plot; ``efficiency_plot``: its rows call for that plot (uniform, guided)
    search: bool = False
    efficiency_plot: bool = False
    # ``pairs_with_source``: each row is compared with the row of the architecture it derives from
    # (uniform: the pruned one of equal params), whose label ``source_label`` gives
    pairs_with_source: bool = False
    # what a large model's family must offer (capabilities of arch/family.py: "bn_groups", "consumer", ...)
    requires: tuple[str, ...] = ()
    # its prune step reads training images (a detection transfer's Prune-D refuses it: it would score a
    # detection backbone on classification images)
    reads_data: bool = False
    families: tuple[str, ...] | None = None  # or, for a plug-in, the family names it can prune (None: any)
    # its scores read conv filters' feature maps or gradients (refused where a prunable width is not a
    # conv's filters: a ViT's heads and MLP widths). None: False for prunelab's own methods, True for a
    # plug-in (which may declare False when it scores any layer, e.g. through ``prune.criteria.filters``)
    conv_filters: bool | None = None

    # --- parameters ----------------------------------------------------------------------
    def params(self, mapping: dict | None = None, where: str | None = None):
        from .plugin import guarded

        p = from_mapping(self.Params, dict(mapping or {}), where or f"method '{self.name}'")
        with guarded(self, "checking its parameters"):
            self.check(p)
        return p

    def check(self, params) -> None:
        """Check parameter values (types are already checked); raise PrunelabError."""

    def check_base(self, base: ArchSpec) -> None:
        """Refuse, before any training, a large model this method cannot prune."""
        require(base, self.requires, f"method '{self.name}'")
        own = type(self).__module__.startswith("prunelab.")
        conv_only = self.conv_filters if self.conv_filters is not None else not own
        if conv_only and (other := non_conv_layers(base)):
            why = "" if own or self.conv_filters else " (a plug-in that scores any layer declares conv_filters = False)"
            raise PrunelabError(f"method '{self.name}' scores conv filters; '{base.name}' also prunes '{other[0]}', "
                                f"which is not a conv{why} (l1-norm, l2-norm, fpgm, smallest and random score any "
                                "layer)")

    def check_setting(self, base: ArchSpec, params) -> None:
        """Refuse, before any training, parameters this method cannot apply to ``base`` (planning calls
        it for every target's parameters, after ``check_base``)."""
        if self.families is not None and base.family not in self.families:
            raise PrunelabError(f"method '{self.name}' prunes {', '.join(self.families)} models, not "
                                f"'{base.name}' ({base.family})")

    @classmethod
    def source_label(cls, label: str) -> str | None:
        """The label of the architecture a row of this method derives from (``pairs_with_source``)."""
        return None

    def has_target(self) -> bool:
        return any(f.name == "target" for f in dataclasses.fields(self.Params))

    def train_params(self, params) -> dict:
        """The training fields that differ from their defaults (ints of float fields as floats):
        the large model's identity."""
        full = canonical(params)
        return {k: full[k] for k in self.train_fields if k in full}

    def train_view(self, train_params: dict) -> SimpleNamespace:
        """What ``hooks`` sees: the training fields only (defaults filled in)."""
        defaults = {f.name: f.default for f in dataclasses.fields(self.Params) if f.default is not dataclasses.MISSING}
        return SimpleNamespace(**{k: train_params.get(k, defaults.get(k)) for k in self.train_fields})

    def describe(self, params) -> str:
        """The method and its parameters that are not the target and differ from their defaults,
        e.g. ``l1-norm(selection=random)``: one report row per distinct value."""
        rest = {k: v for k, v in canonical(params).items() if k != "target"}
        code = self.code(params)  # a plug-in's code: results of other code are other rows
        return self.name + (f"({', '.join(f'{k}={v}' for k, v in rest.items())})" if rest else "") + \
            (f" @{code}" if code else "")

    # --- the large model's training ------------------------------------------------------
    def train_spec(self, base: ArchSpec, params) -> ArchSpec:
        """The large model's architecture under this method (e.g. with branch scales); ``params``
        holds the ``train_fields`` only."""
        return base

    def train_method(self, base: ArchSpec, params) -> tuple[dict | None, ArchSpec]:
        """The method that shapes the large model's training (``{"name", "params"}``: its run
        identity; None: the plain baseline) and the large model's architecture. A method derived
        from another (``methods/derived.py``) reports the other's, so both share one large model."""
        tp = self.train_params(params)
        view = self.train_view(tp)
        large = self.train_spec(base, view)
        shaped = self.hooks(view) is not None or large != base
        code = self.code(params)
        return ({"name": self.name, "params": tp, **({"code": code} if code else {})} if shaped else None), large

    def code(self, params) -> str | None:
        """What identifies the code this method runs, where prunelab's version does not (a plug-in's
        declared ``version`` or the hash of its module's source; ``methods/plugin.py``): part of the
        identity of its prune steps and of a large model its hooks trained. None: built in."""
        from .plugin import code_id

        return code_id(self)

    def hooks(self, params) -> Hooks | None:
        """Hooks for training the large model (None: the plain baseline is used). ``params``
        holds the ``train_fields`` only."""
        return None

    def initial_state(self, model: nn.Module, params) -> None:
        """Put a freshly initialised model in the method's initial state (``state_fields``; its
        hooks' ``prepare`` does it for the large model, ``protocol.inits`` for the scratch arms)."""

    # --- pruning ---------------------------------------------------------------------------
    def prune_source(self, params) -> str:
        """Which weights of the large model ``prune`` sees: ``trained`` (its final weights) or
        ``init`` (its initial weights, a control for where a mask comes from)."""
        return "trained"

    def planned_spec(self, base: ArchSpec, params, dataset: str) -> ArchSpec | None:
        return None

    def planned_macs(self, base: ArchSpec, params, dataset: str) -> float | None:
        """The MACs Scratch-B's budget uses, where the spec's do not tell them: a planned model's
        effective MACs when masks make them lower than its spec's, or the MACs of an architecture
        found per seed whose size is fixed beforehand (``regression``'s ResNet-50-2x: which input
        channels are found, not how many); None: the planned spec's MACs, or unknown until found."""
        return None

    def masked(self, params) -> bool:
        """Whether the pruned model carries masks (then scratch arms take them from the prune step)."""
        return self.kind == "unstructured"

    def label(self, base: ArchSpec, params, dataset: str) -> str:
        """The pruned model's name in tables."""
        planned = self.planned_spec(base, params, dataset)
        if planned is not None:
            return planned.name
        target = getattr(params, "target", None)
        return f"{base.name}-{self.name}" + (f"-{target:g}" if isinstance(target, float) else
                                             f"-{target}" if target is not None else "")

    def prune(self, model: nn.Module, params, data: PruneData) -> PruneResult:
        raise NotImplementedError


def _check_kept(method: Method, base: nn.Module, what: str, layer: str, idx) -> None:
    """Kept indices of one layer (or block input): distinct whole numbers in range."""
    where = f"method '{method.name}': {what} of '{layer}'"
    try:
        sub = base.get_submodule(layer)
    except AttributeError:
        raise PrunelabError(f"{where}: the model has no layer '{layer}'")
    n = getattr(getattr(sub, "select", None), "num_channels", None) if what == "selections" else \
        getattr(sub, "out_channels", getattr(sub, "out_features", getattr(sub, "out_units", None)))
    if not isinstance(idx, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
        raise PrunelabError(f"{where}: must be a list of channel indices (whole numbers)")
    if len(set(idx)) != len(idx) or (idx and (min(idx) < 0 or (n is not None and max(idx) >= n))):
        raise PrunelabError(f"{where}: the indices must be distinct and in [0, {n})")


def check_result(method: Method, base: nn.Module, result: PruneResult, planned: ArchSpec | None) -> None:
    """A method's result must be a built model of a valid spec (the planned one, if any)."""
    if not isinstance(result, PruneResult):
        raise PrunelabError(f"method '{method.name}' returned {type(result).__name__}, not a PruneResult")
    spec = getattr(result.model, "arch_spec", None)
    if not isinstance(spec, ArchSpec):
        raise PrunelabError(f"method '{method.name}': the pruned model has no architecture spec")
    if planned is not None and spec != planned:
        raise PrunelabError(f"method '{method.name}' produced '{spec.name}', not the planned '{planned.name}'")
    if method.kind == "unstructured" and not result.masks:
        raise PrunelabError(f"method '{method.name}' is unstructured but returned no masks")
    for what, found in (("kept", result.kept), ("selections", result.selections)):
        for layer, idx in (found or {}).items():
            _check_kept(method, base, what, layer, idx)
    for name, m in (result.masks or {}).items():
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            raise PrunelabError(f"method '{method.name}': the mask of '{name}' must be a bool tensor (True = kept), "
                                f"not {getattr(m, 'dtype', type(m).__name__)}")
    if result.masks:
        from ..masks import apply_masks, check_masks

        result.model.masks = check_masks(result.model, result.masks, f"method '{method.name}'")
        apply_masks(result.model)  # masked weights are zero, whatever the method left in them
    try:
        json.dumps(result.info)
    except TypeError as e:
        raise PrunelabError(f"method '{method.name}': its info must be JSON data ({e})")


def prune_checked(method: Method, model: nn.Module, params, data: PruneData, planned: ArchSpec | None,
                  where: str) -> PruneResult:
    """``method.prune`` as every caller runs it: an exception inside plug-in code is reported with
    the plug-in's own frames (``plugin.guarded``), any error names the method and the step
    (``where``), and the result is checked (``check_result``) before anything uses it."""
    from .plugin import PluginError, guarded

    try:
        with guarded(method, where):
            result = method.prune(model, params, data)
        check_result(method, model, result, planned)
    except PluginError:
        raise
    except PrunelabError as e:
        msg = str(e)
        if msg.startswith(f"method '{method.name}'"):
            raise
        raise PrunelabError(f"method '{method.name}' in {where}: {msg}") from e
    return result
