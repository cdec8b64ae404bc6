"""prunelab from Python, as a notebook uses it: prune and count any ``nn.Module``; run or judge an
experiment given as a dict, a file or a shipped name, and get the report's rows back as data.

    import prunelab, torch, torchvision
    model = torchvision.models.resnet18(num_classes=10)
    x = torch.randn(1, 3, 32, 32)
    result = prunelab.prune(model, method="l1-norm", target=0.5, example_input=x)
    print(prunelab.count(result.model, example_input=x).params)
    rows = prunelab.run("small/l1-resnet20-fashion", store="runs")
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import PrunelabError, first_line


@dataclass
class Pruned:
    """What ``prune`` gives: the pruned module (``model``), the kept output channels per pruned
    layer (``kept``), the method's ``info``, and masks where the method is unstructured."""

    model: nn.Module
    kept: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    masks: dict | None = None


def prune(model: nn.Module, method: str = "l1-norm", target: Any = 0.5, example_input: torch.Tensor | None = None,
          data=None, seed: int = 0, dataset: str | None = None, **params) -> Pruned:
    """Prune ``model`` (left as it is) with ``method`` to ``target``.

    A prunelab model (built or loaded by prunelab) takes every method, its presets and per-stage
    targets (``dataset`` picks a preset's definition: by default the one the model's input and
    classes suggest, ``catalog.dataset_of``); ``data`` (a prunelab dataset, or any iterable of
    (images, labels) batches such as a DataLoader) feeds the data-dependent ones. Any other ``nn.Module`` is pruned through
    Torch-Pruning's dependency graph, traced on ``example_input``: each coupled group of conv
    output channels (a residual stream, a conv with its depthwise conv) keeps ``int(C * (1 -
    target))`` channels chosen by the method's filter score (``l1-norm``, ``l2-norm``, and the
    ``random`` and ``smallest`` controls); the classifier and grouped convs are not pruned."""
    from . import methods
    from .catalog import dataset_of
    from .methods import PruneData

    m = methods.get(method)
    if getattr(model, "arch_spec", None) is not None:
        p = m.params({**({"target": target} if m.has_target() else {}), **params})
        m.check_base(model.arch_spec)
        loader = None if data is None or hasattr(data, "batches") else data
        spec = model.arch_spec
        pdata = PruneData(dataset or dataset_of(spec), seed, data=_batches(loader) if loader is not None else data,
                          device=next(model.parameters()).device)
        r = methods.prune_checked(m, model, p, pdata, None, "pruning")
        return Pruned(r.model, r.kept, r.info, getattr(r.model, "masks", None))
    if example_input is None:
        raise PrunelabError("prune: give example_input (one input batch) to trace a module that is not a prunelab model")
    if not (hasattr(m, "score") and hasattr(m, "rule")):
        raise PrunelabError(f"prune: method '{method}' prunes prunelab models only; a plain nn.Module takes a filter "
                            "criterion (l1-norm, l2-norm, fpgm, random, smallest) — or build the model with prunelab")
    from .methods.l1_norm import L1Norm

    if isinstance(m, L1Norm) and type(m).filter_scores is not L1Norm.filter_scores:
        raise PrunelabError(f"prune: method '{method}' scores filters from the whole model or from data, which "
                            "prunelab models offer; a plain nn.Module takes a criterion of each conv's weights "
                            "(l1-norm, l2-norm, fpgm, random, smallest) — or build the model with prunelab")
    p = m.params({"target": target, **params})
    return _prune_module(model, m, p, example_input, seed)


def _prune_module(model: nn.Module, m, params, example_input: torch.Tensor, seed: int) -> Pruned:
    import torch_pruning as tp

    from .arch.torchvision_family import _groups
    from .prune import parse_target
    from .prune.selection import check_scores, select
    from .prune.targets import kept_count

    t = parse_target(params.target)
    if t.ratio is None:
        raise PrunelabError("prune: a plain nn.Module takes one ratio as its target (presets and per-stage ratios "
                            "name prunelab architectures)")
    work = copy.deepcopy(model).eval()
    try:
        with torch.no_grad():
            shape, last = _output(work, example_input)
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = tp.DependencyGraph().build_dependency(work, example_inputs=example_input)
            groups = _groups(work, graph, classifier=last)
    except Exception as e:  # Torch-Pruning's tracing fails in many types (a ZeroDivisionError on ShuffleNet)
        raise PrunelabError(f"prune: Torch-Pruning cannot trace the module on example_input "
                            f"({type(e).__name__}: {first_line(e)})")
    unknown = sorted(set(t.skip) - set(groups))
    if unknown:
        raise PrunelabError(f"prune: skip names '{unknown[0]}', not a prunable group (groups: {', '.join(list(groups)[:4])}, ...)")
    gen = torch.Generator().manual_seed(seed)
    kept = {}
    for root, conv in groups.items():  # every group's channels chosen on the unpruned weights, then removed
        if root in t.skip:
            continue
        keep = kept_count(conv.out_channels, t.ratio, t.round_to, root)
        if keep < conv.out_channels:
            kept[root] = select(check_scores(m.score(conv), conv.out_channels, f"layer '{root}'"), keep,
                                m.rule(params), gen)
    if not kept:
        raise PrunelabError(f"prune: target {t.ratio:g} prunes nothing (every group keeps all its channels)")
    try:
        for root, idx in kept.items():
            conv = work.get_submodule(root)
            drop = sorted(set(range(conv.out_channels)) - set(idx))
            graph.get_pruning_group(conv, tp.prune_conv_out_channels, idxs=drop).prune()
        with torch.no_grad():
            after = _output(work, example_input)[0]
    except Exception as e:
        raise PrunelabError(f"prune: Torch-Pruning cannot remove those channels ({type(e).__name__}: {first_line(e)})")
    if after != shape:  # the output layer must keep its outputs (classes): a pruned one is refused
        raise PrunelabError(f"prune: pruning changed the module's output from {tuple(shape)} to {tuple(after)}; "
                            "its output layer was taken for a prunable one (skip it: target={ratio: r, skip: [...]})")
    return Pruned(work.train(model.training), kept, {"groups": len(groups), "pruned_groups": len(kept)})


def _output(model: nn.Module, x: torch.Tensor):
    """(the output's shape, the conv or linear layer that ran last: the output layer)."""
    ran = []
    hooks = [m.register_forward_hook(lambda m, i, o: ran.append(m)) for m in model.modules()
             if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        out = model(x)
    finally:
        for h in hooks:
            h.remove()
    if not isinstance(out, torch.Tensor):
        raise PrunelabError("prune: a plain nn.Module must return one tensor on example_input")
    return out.shape, (ran[-1] if ran else None)


def _batches(loader):
    from .data.iterable import BatchesData

    return BatchesData(loader)


def experiment(obj, where: str = "experiment"):
    """An ``Experiment`` from a dict, a file's path or a shipped experiment's name, checked."""
    from .runs.experiment import Experiment, experiment_from_mapping, load_experiment

    if isinstance(obj, Experiment):
        return obj
    if isinstance(obj, dict):
        return experiment_from_mapping(obj, where, Path.cwd())
    if isinstance(obj, (str, Path)):
        return load_experiment(obj)
    raise PrunelabError(f"{where}: give a dict, a file's path or a shipped experiment's name, not {type(obj).__name__}")


def run(obj, store: str | Path | None = None, *, data_dir=None, device: str = "auto", progress: bool = False) -> list[dict]:
    """Run (or resume) every run of an experiment; returns the report's rows (one per pruned model:
    each arm's mean, std and n of top-1 as fractions, params and MACs), then, for an experiment with
    a ``transfer:`` section, the detection rows (``"task": "detection"``: each setting's mAP)."""
    from .report import aggregate
    from .report.transfer import transfer_rows
    from .runs import RunStore
    from .runs.execution import grid_results, run_grid
    from .runs.plan import plan

    grid = plan(experiment(obj))
    st = RunStore(store)
    run_grid(grid, st, data_dir=data_dir, device=device, progress=progress)
    results = grid_results(grid, st)
    return aggregate(results) + [{"task": "detection", **r} for r in transfer_rows(results)]


def judge(obj, method: str | None = None, params: dict | None = None, store: str | Path | None = None, *,
          baselines: tuple[str, ...] | None = None, uniform_regime: str = "scratch-e", latency_batch: int = 32,
          data_dir=None, device: str = "auto", progress: bool = False) -> list[dict]:
    """Judge a method (the experiment's ``prune``, or ``method`` with ``params``) against
    ``baselines`` (default: all of scratch-e, scratch-b, uniform, random); returns the verdict rows
    (difference of means, its 95% CI, the test's p-value per baseline, latency per arm)."""
    from .report.verdicts import judge_rows
    from .runs import RunStore
    from .runs.judge_grids import BASELINES, judge_plan, measure_latency, method_entry, run_judgement

    exp = experiment(obj)
    judgement = judge_plan(exp, method_entry(exp, method, params), BASELINES if baselines is None else tuple(baselines),
                           uniform_regime)
    results = run_judgement(judgement, RunStore(store), data_dir=data_dir, device=device, progress=progress)
    return judge_rows(results, measure_latency(results, latency_batch, device))
