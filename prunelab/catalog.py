"""Dataset names and the facts about them that both models and data need."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import PrunelabError


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    channels: int
    size: int  # side of the (square) network input
    classes: int
    style: str  # "cifar" (small images: CIFAR-style model definitions) or "imagenet"


DATASETS = {
    d.name: d
    for d in (
        DatasetInfo("cifar10", 3, 32, 10, "cifar"),
        DatasetInfo("cifar100", 3, 32, 100, "cifar"),
        DatasetInfo("fashion-mnist", 1, 28, 10, "cifar"),
        DatasetInfo("imagenet", 3, 224, 1000, "imagenet"),
        DatasetInfo("synthetic", 3, 32, 10, "cifar"),
    )
}


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise PrunelabError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")
