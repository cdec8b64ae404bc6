"""What ThiNet and regression pruning share: a predefined target reached layer pair by layer
pair, each consumer's inputs sampled from the model as pruned so far, the kept input weights
refit by least squares (prunelab.prune.reconstruct). A subclass says how it ``choose``s the kept
channels from the samples, how it refits, and whether it reconstructs the unpruned model's
responses (``reference``) or the current model's.
"""
from __future__ import annotations

from ..arch import ArchSpec, resolve
from ..measure import spec_macs
from ..prune import parse_target
from ..prune.reconstruct import REQUIRES, check_sampling, planned, prune_to_target
from .base import Method, PruneData, PruneResult


class ReconstructionMethod(Method):
    kind = "structured"
    requires = REQUIRES
    reference = False  # True: reconstruct the unpruned model's responses

    def refit(self, params) -> str:
        return "full"

    def choose(self, samples, weight, keep: int) -> list[int]:
        raise NotImplementedError

    def tune(self, params, data):
        """A training step between layers ((model, masks, step) -> None), or None."""
        return None

    def check(self, params) -> None:
        check_sampling(self.name, params)
        parse_target(params.target)

    def planned_spec(self, base: ArchSpec, params, dataset: str) -> ArchSpec | None:
        return planned(base, parse_target(params.target), dataset)

    def planned_macs(self, base: ArchSpec, params, dataset: str) -> float | None:
        """A preset with input selections (ResNet-50-2x): which channels are found per seed, but how
        many is fixed, and so are the MACs (Scratch-B's epochs are known before pruning)."""
        target = parse_target(params.target)
        if planned(base, target, dataset) is not None:
            return None
        return spec_macs(base.replace(layout=resolve(target.preset, dataset).layout).to_json())

    def label(self, base: ArchSpec, params, dataset: str) -> str:
        return parse_target(params.target).label(base)

    def prune(self, model, params, data: PruneData) -> PruneResult:
        self.check_base(model.arch_spec)
        pruned, kept, sels, info = prune_to_target(model, parse_target(params.target), data, self.choose,
                                                   self.refit(params), params, reference=self.reference,
                                                   tune=self.tune(params, data))
        return PruneResult(pruned, kept=kept, selections=sels, info=info)
