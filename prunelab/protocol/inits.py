"""How a run's model starts: one registry of initialisations. Each regime names its kind.

An init kind is one object: what a planned run records in its settings (``plan``: its identity)
and how the model is made from those settings when the run starts (``start``). The run store only
persists and loads files (``Sources``: pruned models, saved initial weights, settings); it does not
decide how a model starts. Where each rule comes from (the reference code of "Rethinking the Value
of Network Pruning", github.com/Eric-mingjie/rethinking-network-pruning, and the methods' papers):

- ``random``: a fresh init of the spec (``arch.build``: He fan-out convs, BN 1/0, Linear N(0, 0.01),
  as the reference models' ``_initialize_weights``). A masked model (unstructured pruning, SFP's
  masked convs, lottery tickets) redraws each masked weight with He's std from its *kept* fan,
  std = sqrt(2 / n), n = nonzeros(mask) / in_channels, then applies the mask — the reference's
  ``cifar/weight-level/cifar_E.py`` / ``cifar_B.py``, ``lottery-ticket/weight-level/
  cifar_scratch_no_longer.py``, ``lottery-ticket/l1-norm-pruning/main_scratch_mask.py`` and
  ``soft-filter-pruning/pruning_resnet_scratch.py`` all draw ``normal_(0, sqrt(2. / n))`` so. A
  masked linear weight (``prunable: conv+linear``) gets N(0, 0.01 / sqrt(density)), the same rule on
  the dense linear init's variance. Where the large model's training method has an initial state
  of its own (Network Slimming's BN scales at ``gamma_init`` 0.5, the reference's ``fill_(0.5)`` in
  ``network-slimming/models/*.py``, used by its scratch runs too), it is applied after the draw.
- ``inherit``: the pruned model's weights (Fine-tuned), or a model file.
- ``init``: the large model's own saved initial weights (its ``init.pt``), optionally after
  ``rewind`` iterations of its training, cut to the pruned architecture or under its masks (a
  winning ticket, Frankle & Carbin 2019; the reference's ``lottery_ticket.py``).
- ``weights``: imported weights (an experiment's ``models: [{weights: FILE}]``), named by sha256.

``record(model, kind)`` is what a run's result.json keeps of its start: the std of every conv and
linear weight over its kept entries, and the mean of every BatchNorm's scale, at step 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn

from ..arch import ArchSpec, build
from ..errors import PrunelabError
from ..masks import apply_masks, check_masks, masks_of
from ..prune import prune_channels


class Sources(Protocol):
    """What an init may read (the run store implements it)."""

    def pruned_model(self, step_id: str, spec: ArchSpec | None = None) -> nn.Module: ...

    def pruned_file(self, step_id: str) -> dict: ...

    def initial_weights(self, run_id: str) -> nn.Module: ...

    def run_settings(self, run_id: str) -> Any: ...

    def finished_model(self, run_id: str) -> nn.Module: ...

    def run_file(self, run_id: str) -> dict: ...


@dataclass(frozen=True)
class Origin:
    """What a planned run of a pruned architecture comes from (plan time)."""

    prune: str | None = None  # the prune step's id
    baseline: str | None = None  # the large model's run id
    masked: bool = False  # the pruned model carries masks
    rewind: int = 0  # for the large model's weights: iterations of its training replayed
    state: dict | None = None  # the training method's initial state: {"method": name, "params": {...}}


@dataclass(frozen=True)
class Init:
    name: str
    title: str
    source: str  # where the rule comes from (docs and ``report --inits``)
    plan: Callable[[Origin], dict]  # the ``init`` settings of a run
    start: Callable[..., nn.Module]  # (settings, spec, sources, data, device) -> the model before masks
    evaluable: bool = False  # 0 epochs is meaningful (the initial model is worth evaluating)


INITS: dict[str, Init] = {}


def register_init(init: Init) -> Init:
    INITS[init.name] = init
    return init


def get(kind: str) -> Init:
    """A registered kind, or ``module:attribute`` naming an ``Init`` (imported and registered on
    first use: so every process that starts such a run — a torchrun follower, a launcher's job —
    finds it from the run's settings alone)."""
    if kind not in INITS and isinstance(kind, str) and ":" in kind:
        from ..methods import import_object

        obj = import_object(kind, "init kind")
        if not isinstance(obj, Init):
            raise PrunelabError(f"init kind '{kind}' is not a prunelab Init")
        INITS[kind] = obj
    if kind not in INITS:
        raise PrunelabError(f"unknown init kind '{kind}' (known: {', '.join(INITS)}; or module:attribute)")
    return INITS[kind]


# --- the kinds ---------------------------------------------------------------------------------------

def _with(d: dict, o: Origin, masks: bool = True, state: bool = True) -> dict:
    if masks and o.masked:
        d["masks"] = o.prune
    if state and o.state:
        d["state"] = o.state
    return d


def _start_random(settings, spec: ArchSpec, sources: Sources, data=None, device="cpu") -> nn.Module:
    init = settings.init
    if init.get("masks"):  # same architecture as the large model: a draw other than its init
        model = build(spec, seed=(settings.seed * 1_000_003 + 4_242) % 2**63)
        model.masks = _masks(model, sources, init["masks"])
        kept_fan_reinit(model, settings.seed)
    else:
        model = build(spec, seed=settings.seed)
    if init.get("state"):
        apply_state(model, init["state"])
    return model


def _start_inherit(settings, spec: ArchSpec, sources: Sources, data=None, device="cpu") -> nn.Module:
    from ..fileio import file_sha256
    from ..models_io import load as load_model

    init = settings.init
    if "from_prune" in init:
        return sources.pruned_model(init["from_prune"], spec)
    path = Path(init["path"])
    if "sha256" in init and file_sha256(path) != init["sha256"]:
        raise PrunelabError(f"{path} changed since this run was defined (sha256 differs); use --force to restart")
    return load_model(path, expect=spec)


def _start_large(settings, spec: ArchSpec, sources: Sources, data=None, device="cpu") -> nn.Module:
    """The large model's own initial weights (run ``from_run``), or its weights after ``rewind``
    iterations of its training (replayed on this run's device: the data order is seeded), cut to the
    pruned architecture with the prune step's kept filters and selections (a structured winning
    ticket); masks are applied by ``start``."""
    from ..data import load as load_data
    from ..train import train

    model = sources.initial_weights(settings.init["from_run"])
    rewind = settings.init.get("rewind", 0)
    if rewind:
        large = sources.run_settings(settings.init["from_run"])
        if large.per_process_bn():
            raise PrunelabError(f"rewind: run {settings.init['from_run']} was trained by {large.processes} processes "
                                "with per-process BatchNorm; its first iterations cannot be replayed by one process "
                                "(use rewind: 0, or sync_bn for the large model)")
        if data is None or large.data != settings.data:
            data = load_data(large.data)
        model.to(device)
        train(model, data, large.recipe, seed=large.seed, hooks=method_hooks(large.method), max_steps=rewind)
        model.cpu()
    if model.arch_spec != spec:
        product = sources.pruned_file(settings.init["from_prune"])
        if not product.get("kept") and not product.get("selections"):
            raise PrunelabError(f"the pruned architecture '{spec.name}' is not a channel subset of the large model: "
                                "it has no winning ticket")
        model = prune_channels(model, product.get("kept") or {}, name=spec.name,
                               selections=product.get("selections") or {})
    if settings.init.get("masks"):
        model.masks = _masks(model, sources, settings.init["masks"])
    return model


def _start_weights(settings, spec: ArchSpec, sources: Sources, data=None, device="cpu") -> nn.Module:
    """Imported weights: the run is named by the file's sha256, the file is read from
    ``settings.weights_file`` (a moved file keeps the run)."""
    from ..fileio import file_sha256
    from ..models_io import load_weights

    path, sha = settings.weights_file, settings.init.get("sha256")
    if not path:
        raise PrunelabError(f"run {settings.run_id()} starts from imported weights (sha256 {sha}); name their "
                            "file in the experiment (models: [{weights: FILE}])")
    if file_sha256(path) != sha:
        raise PrunelabError(f"{path} is not the weights file this run was planned with (sha256 differs); plan "
                            "the experiment again")
    return load_weights(path, spec)


def _start_backbone(settings, spec: ArchSpec, sources: Sources, data=None, device="cpu") -> nn.Module:
    """A finished run's trained model, whose backbone another task takes on (detection: Prune-C takes
    the fine-tuned pruned classifier, Scratch-E/B the scratch-trained ones, Prune-D the unpruned)."""
    model = sources.finished_model(settings.init["from_run"])
    if model.arch_spec != spec:
        raise PrunelabError(f"run {settings.init['from_run']} holds architecture '{model.arch_spec.name}', not "
                            f"'{spec.name}'")
    return model


REF = "github.com/Eric-mingjie/rethinking-network-pruning"
register_init(Init(
    "random", "fresh random init", f"He fan-out convs, BN 1/0, Linear N(0, 0.01) ({REF}, models' _initialize_weights); "
    "masked weights: std sqrt(2 / (nonzeros / in_channels)) (cifar/weight-level/cifar_E.py, lottery-ticket/"
    "weight-level/cifar_scratch_no_longer.py, soft-filter-pruning/pruning_resnet_scratch.py); the training method's "
    "initial state (slimming: BN scales gamma_init, network-slimming/models/*.py)",
    lambda o: _with({"kind": "random"}, o), _start_random))
register_init(Init("inherit", "inherited (pruned) weights", "the prune step's model (Fine-tuned)",
                   lambda o: {"kind": "inherit", "from_prune": o.prune}, _start_inherit, evaluable=True))
register_init(Init(
    "init", "the large model's initial weights (winning ticket)",
    "the large model's init.pt under the mask or cut to the kept filters (Frankle & Carbin 2019; "
    f"{REF}, cifar/lottery-ticket/*/lottery_ticket.py, main_lottery.py); rewind: its weights after k iterations",
    lambda o: _with({"kind": "init", "from_run": o.baseline, "from_prune": o.prune, **({"rewind": o.rewind}
                                                                                       if o.rewind else {})},
                    o, state=False),
    _start_large))
register_init(Init("backbone", "a finished run's trained model (transfer)",
                   "the classifier a detector takes as backbone (the paper's Section 6: Prune-C, Prune-D, Scratch-E/B)",
                   lambda o: {"kind": "backbone", "from_run": o.baseline}, _start_backbone, evaluable=True))
register_init(Init("weights", "imported weights", "a model file or torchvision checkpoint, named by its sha256",
                   lambda o: {"kind": "weights"}, _start_weights, evaluable=True))


# --- shared pieces -------------------------------------------------------------------------------------

def _masks(model: nn.Module, sources: Sources, step: str) -> dict[str, torch.Tensor]:
    masks = masks_of(sources.pruned_model(step))
    if not masks:
        raise PrunelabError(f"pruned model {step} has no masks")
    return check_masks(model, masks, f"masks of {step}")


@torch.no_grad()
def kept_fan_reinit(model: nn.Module, seed: int) -> nn.Module:
    """Redraw each masked weight with He's std from its kept fan: for a conv, std = sqrt(2 / n) with
    n = nonzeros(mask) / in_channels (the reference's rule; n = fan_out x density); for a linear
    weight, N(0, 0.01 / sqrt(density)). Equal in law to the dense init at density 1."""
    gen = torch.Generator().manual_seed(seed + 7)
    params = dict(model.named_parameters())
    layers = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    for name, mask in (masks_of(model) or {}).items():
        if name not in layers:  # (a mask on a BN scale or a bias keeps that parameter's own init)
            continue
        w = params[name]
        kept = max(int(mask.sum()), 1)
        if w.dim() > 2:
            std = math.sqrt(2.0 / (kept / w.shape[1]))
        else:
            std = 0.01 / math.sqrt(kept / mask.numel())
        w.copy_(torch.randn(w.shape, generator=gen) * std)
    return model


def method_state(train_method: dict | None) -> dict | None:
    """The initial state a scratch arm takes from the method that shaped its large model's training
    (None where that method has none): ``{"method": name, "params": {its state fields}}``."""
    if train_method is None:
        return None
    from .. import methods

    m = methods.get(train_method["name"])
    if not m.state_fields:
        return None
    code = {"code": train_method["code"]} if train_method.get("code") else {}  # a plug-in's initial_state
    return {"method": train_method["name"],
            "params": {k: v for k, v in train_method.get("params", {}).items() if k in m.state_fields}, **code}


def apply_state(model: nn.Module, state: dict) -> None:
    from .. import methods

    m = methods.get(state["method"])
    m.initial_state(model, m.train_view(state.get("params", {})))


def method_hooks(method: dict | None):
    """The training hooks of a run's method (``RunSettings.method``; None without one)."""
    if method is None:
        return None
    from .. import methods

    m = methods.get(method["name"])
    return m.hooks(m.train_view(method.get("params", {})))


def start(settings, sources: Sources, data=None, device="cpu") -> nn.Module:
    """The model a run starts from, by its ``init`` settings (masks applied where it has them)."""
    spec = ArchSpec.from_dict(settings.arch)
    model = get(settings.init.get("kind")).start(settings, spec, sources, data, device)
    return apply_masks(model)


@torch.no_grad()
def record(model: nn.Module, kind: str) -> dict:
    """How a model starts, for result.json: ``{"kind", "std": {weight: std over its kept entries},
    "bn_gamma": {BN module: mean of its scale}}`` for every conv/linear weight and every BatchNorm."""
    masks = masks_of(model) or {}
    std, gamma = {}, {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = m.weight.detach().double().cpu()
            mask = masks.get(f"{name}.weight")
            kept = w[mask] if mask is not None else w.flatten()
            std[f"{name}.weight"] = kept.std().item() if kept.numel() > 1 else 0.0
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            gamma[name] = m.weight.detach().double().mean().item()
    return {"kind": kind, "std": std, "bn_gamma": gamma}


def describe() -> list[dict]:
    """Every init kind with its rule's source (docs, ``report --inits``)."""
    return [{"kind": i.name, "title": i.title, "source": i.source} for i in INITS.values()]
