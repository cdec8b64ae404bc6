"""A run's complete settings. Their canonical JSON (plus the prunelab version) names the run.

Everything that changes a run's result is in its identity: the architecture (its whole spec,
name included), the data, the recipe, the seed, how the model is initialised (random, inherited
from a prune step, masked) and the method that shapes its training (with those parameters).
Cosmetic labels (experiment name, regime, a table's row label) are not: identical runs declared by several experiment files are one
run. Fields equal to their defaults are left out of the hash, so adding a field with a no-op
default renames no run (tests/test_methods.py pins a run id); fields marked
``metadata={"identity": False}`` (``Recipe.checkpoint_minutes``: how often a run is saved, not
what it computes) are never hashed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

from .. import __version__
from ..config import canonical  # noqa: F401 (re-exported: run identity is built on it)
from ..data import DataSettings
from ..errors import PrunelabError
from ..train import Recipe



@dataclass(frozen=True)
class RunSettings:
    arch: dict  # an ArchSpec as a dict
    data: DataSettings
    recipe: Recipe
    seed: int = 0
    init: dict = field(default_factory=lambda: {"kind": "random"})  # how it starts: see protocol/inits.py
    method: dict | None = None  # the method shaping the training: {"name": ..., "params": {...}}
    labels: dict = field(default_factory=dict, compare=False)  # cosmetic: not part of the identity
    # where an init of kind "weights" (imported weights, named by their sha256 in ``init``) is read
    # from: not part of the identity, so moving the file renames no run
    weights_file: str | None = field(default=None, compare=False)
    # the processes that train it (torchrun, a launcher's tasks_per_node): with BatchNorm over each
    # process's own images (sync_bn false) N processes compute another result than 1, so N > 1 is
    # part of the identity; with sync_bn (statistics over the global batch) or 0 epochs it is not
    processes: int = 1
    # another task than classification (``runs/transfer.py``): {"kind": "detection", "data": {...},
    # "detector": {...}}; None (classification) is left out of the identity, so no run is renamed
    task: dict | None = None

    def identity(self) -> dict:
        """What names the run (everything but the labels; defaults left out)."""
        d = {"arch": self.arch, "data": canonical(self.data), "recipe": canonical(self.recipe), "seed": self.seed}
        if self.init != {"kind": "random"}:
            d["init"] = self.init
        if self.method is not None:
            d["method"] = self.method
        if self.per_process_bn():
            d["processes"] = self.processes
        if self.task is not None:  # (where a set is read from, ``root``, is not what the run computes)
            d["task"] = {k: v for k, v in self.task.items() if k != "root"}
        return json.loads(json.dumps(d))

    def per_process_bn(self) -> bool:
        """Whether its processes normalise with their own images (a result of its process count)."""
        return self.processes > 1 and not self.recipe.sync_bn and self.recipe.epochs > 0

    def to_dict(self) -> dict:
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        if d["weights_file"] is None:  # (the files of runs without imported weights stay as they were)
            del d["weights_file"]
        if d["processes"] == 1:
            del d["processes"]
        if d["task"] is None:
            del d["task"]
        return d

    def check(self, where: str = "run") -> "RunSettings":
        """Refuse a run whose result would mean nothing (one line): 0 epochs evaluates the initial
        model, which is meaningful for inherited or imported weights only."""
        from ..protocol import inits

        kind = self.init.get("kind", "random")
        if self.recipe.epochs == 0 and not inits.get(kind).evaluable:
            what = "randomly initialised" if kind == "random" else f"{kind}-initialised"
            raise PrunelabError(f"{where}: 0 epochs would only evaluate a {what} model of "
                                f"{self.arch.get('name', 'this architecture')}, which means nothing; give "
                                "epochs >= 1 (0 epochs is for inherited or imported weights, e.g. "
                                "finetune: {epochs: 0})")
        return self

    def run_id(self) -> str:
        canon = json.dumps({"settings": self.identity(), "prunelab": __version__}, sort_keys=True,
                           separators=(",", ":"))
        digest = hashlib.sha256(canon.encode()).hexdigest()[:12]
        safe = r"[^A-Za-z0-9._-]+"  # folder names without ':' (torchvision:NAME, module:attribute) or spaces
        name = re.sub(safe, "_", self.arch.get("name", self.arch["family"]))
        kind = self.init.get("kind", "random") + ("-masked" if self.init.get("masks") else "")
        if self.task is not None:
            kind = f"{self.task['kind']}-{kind}"
        if self.per_process_bn():
            kind += f"-x{self.processes}"
        if self.method is not None:
            kind += "-" + re.sub(safe, "_", self.method["name"])
        return f"{name}-{kind}-e{self.recipe.epochs}-s{self.seed}-{digest}"

    @classmethod
    def from_dict(cls, d: dict) -> "RunSettings":
        from ..config import from_mapping

        return cls(
            arch=d["arch"],
            data=from_mapping(DataSettings, d["data"], "data"),
            recipe=from_mapping(Recipe, d["recipe"], "recipe"),
            seed=d.get("seed", 0),
            init=d.get("init", {"kind": "random"}),
            method=d.get("method"),
            labels=d.get("labels", {}),
            weights_file=d.get("weights_file"),
            processes=d.get("processes", 1),
            task=d.get("task"),
        )
