"""Prune steps: a trained large model -> a pruned model file, once per (baseline run, method,
parameters, seed), kept in the store under ``pruned/``.

``pruned/<id>.pt`` is a model file (spec, inherited weights, masks) with the kept indices, the
method's info and the step's identity; ``pruned/<id>.json`` (written last: its presence means
the step is complete) summarises it — the found spec, params and MACs (dense and nonzero) — so
planning and budgets never load weights.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from ..arch import ArchSpec
from ..errors import PrunelabError
from ..fileio import atomic_write_json, read_json
from ..measure import count
from ..models_io import save as save_model
from .files import locked, remove_temporaries, set_aside
from .store import RunStore, info_path, load_finished, load_init, model_path


@dataclass(frozen=True)
class PruneStep:
    method: str
    params: dict  # the method's parameters, canonical (defaults left out), target included
    baseline: str  # run id of the trained large model
    seed: int
    code: str | None = None  # a plug-in method's code (Method.code); None for prunelab's own methods

    def identity(self) -> dict:
        d = {"method": self.method, "params": self.params, "from_run": self.baseline, "seed": self.seed}
        if self.code is not None:
            d["code"] = self.code
        return json.loads(json.dumps(d))

    @property
    def id(self) -> str:
        digest = hashlib.sha256(json.dumps(self.identity(), sort_keys=True, separators=(",", ":")).encode())
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', self.method)}-s{self.seed}-{digest.hexdigest()[:12]}"


def product(store: RunStore, step_id: str) -> dict | None:
    """The summary of a completed prune step, or None (a broken summary is set aside: the step reruns)."""
    if not step_id:
        return None
    p = info_path(store, step_id)
    if not p.is_file():
        return None
    try:
        summary = read_json(p)
        if not isinstance(summary, dict) or not {"spec", "macs", "macs_nonzero", "masked"} <= set(summary):
            raise PrunelabError("not a prune step summary")
        return summary
    except PrunelabError as e:
        set_aside([p, model_path(store, step_id)], f"prune step summary {p.name} could not be read ({e})")
        return None


def code_changes(store: RunStore, steps: list[PruneStep]) -> list[str]:
    """Why prune steps of plug-in methods are new although the store holds steps of the same
    settings: those ran other code of the method (``Method.code``). One line per step."""
    folder = store.root / "pruned"
    known: dict[str, set] = {}
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            ident = dict(read_json(p).get("prune") or {})
        except (PrunelabError, AttributeError):
            continue
        old = ident.pop("code", None)
        known.setdefault(json.dumps(ident, sort_keys=True), set()).add(old)
    out, seen = [], set()
    for step in steps:
        if step.code is None or step.id in seen or info_path(store, step.id).is_file():
            continue
        seen.add(step.id)
        ident = step.identity()
        ident.pop("code")
        others = known.get(json.dumps(ident, sort_keys=True), set()) - {step.code}
        if others:
            was = ", ".join(sorted("built-in" if o is None else o for o in others))
            out.append(f"prune step {step.id} is new: method '{step.method}' now runs code {step.code}, the store's "
                       f"step of the same settings ran {was}; its results and the runs after it are kept, not reused")
    return out


def remove_product(store: RunStore, step_id: str) -> None:
    """Delete a prune step's files (``--force``: the step runs again)."""
    with locked(store.root / "pruned", f".{step_id}.lock", what=f"prune step {step_id}"):
        for path in (info_path(store, step_id), model_path(store, step_id)):
            if path.exists():
                path.unlink()


def run_prune_step(step: PruneStep, store: RunStore, data, planned: ArchSpec | None = None) -> dict:
    """Prune the step's baseline model with its method (once); returns the step's summary.

    ``data``: a ``PruneData`` for data-dependent methods.
    """
    from .. import methods

    done = product(store, step.id)
    if done is not None:
        return done
    baseline_dir = store.root / step.baseline
    if not (baseline_dir / "result.json").is_file():
        raise PrunelabError(f"prune step {step.id}: its large model (run {step.baseline}) has not finished")
    method = methods.get(step.method)
    params = method.params(step.params)
    with locked(store.root / "pruned", f".{step.id}.lock", what=f"prune step {step.id}"):
        remove_temporaries(store.root / "pruned", (f"{step.id}.pt", f"{step.id}.json"))
        done = product(store, step.id)
        if done is not None:  # another worker finished it meanwhile
            return done
        base = load_finished(store, step.baseline) if method.prune_source(params) == "trained" \
            else load_init(store, step.baseline)
        base = base.to(getattr(data, "device", "cpu"))
        source = read_json(baseline_dir / "settings.json")
        parent = product(store, (source.get("init") or {}).get("masks") or "")
        result = methods.prune_checked(method, base, params, data, planned,
                                       f"prune step {step.id} (of run {step.baseline})")
        model = result.model
        save_model(model, model_path(store, step.id),
                   extra={"kept": result.kept, "selections": result.selections, "info": result.info,
                          "prune": step.identity()})
        c = count(model)
        summary = {
            "id": step.id, "prune": step.identity(), "spec": model.arch_spec.to_dict(),
            "from_arch": base.arch_spec.name, "dataset": source["data"]["dataset"],
            "level": (parent or {}).get("level", 0) + 1,
            "params": c.params, "macs": c.macs, "params_nonzero": c.params_nonzero, "macs_nonzero": c.macs_nonzero,
            "masked": bool(result.masks), "kept": {k: len(v) for k, v in result.kept.items()},
            "selected": {k: len(v) for k, v in result.selections.items()},
            "info": json.loads(json.dumps(result.info)),
        }
        atomic_write_json(info_path(store, step.id), summary, seal=True)
        return summary
