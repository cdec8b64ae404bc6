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
    train_images: int = 0  # size of the full training set (for compute estimates before loading)


DATASETS = {
    d.name: d
    for d in (
        DatasetInfo("cifar10", 3, 32, 10, "cifar", 50_000),
        DatasetInfo("cifar100", 3, 32, 100, "cifar", 50_000),
        DatasetInfo("fashion-mnist", 1, 28, 10, "cifar", 60_000),
        DatasetInfo("imagenet", 3, 224, 1000, "imagenet", 1_281_167),
        DatasetInfo("synthetic", 3, 32, 10, "cifar", 0),  # its size is a setting
    )
}


def dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise PrunelabError(f"unknown dataset '{name}' (known: {', '.join(DATASETS)})")


def dataset_of(spec) -> str:
    """The dataset an architecture spec is most likely for (by its input and classes), where
    nothing says which: presets are defined per dataset."""
    if spec.input_size >= 128:
        return "imagenet"
    return "fashion-mnist" if spec.in_channels == 1 else ("cifar100" if spec.num_classes == 100 else "cifar10")
