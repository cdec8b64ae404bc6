"""A run's complete settings. Their canonical JSON (plus the prunelab version) names the run."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from .. import __version__
from ..data import DataSettings
from ..train import Recipe


@dataclass(frozen=True)
class RunSettings:
    arch: dict  # an ArchSpec as a dict
    data: DataSettings
    recipe: Recipe
    seed: int = 0
    init: dict = field(default_factory=lambda: {"kind": "random"})  # or {"kind": "inherit", ...}
    method: dict | None = None  # a training-time method hook: {"name": ..., parameters...}
    labels: dict = field(default_factory=dict)  # regime, pruned model, budget rule: for reports

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def run_id(self) -> str:
        canon = json.dumps({"settings": self.to_dict(), "prunelab": __version__}, sort_keys=True,
                           separators=(",", ":"))
        digest = hashlib.sha256(canon.encode()).hexdigest()[:12]
        name = self.arch.get("name", self.arch["family"])
        regime = self.labels.get("regime", "train")
        return f"{name}-{regime}-s{self.seed}-{digest}"

    @classmethod
    def from_dict(cls, d: dict) -> "RunSettings":
        from .config import from_mapping

        return cls(
            arch=d["arch"],
            data=from_mapping(DataSettings, d["data"], "data"),
            recipe=from_mapping(Recipe, d["recipe"], "recipe"),
            seed=d.get("seed", 0),
            init=d.get("init", {"kind": "random"}),
            method=d.get("method"),
            labels=d.get("labels", {}),
        )
