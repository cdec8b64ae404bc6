"""Building blocks shared by the model families."""
from __future__ import annotations

import torch
from torch import nn


class ChannelSelection(nn.Module):
    """Reads a subset of a stream's channels.

    Selecting every channel is free (the module returns its input); otherwise it is a single
    ``index_select`` along the channel dimension.
    """

    def __init__(self, num_channels: int, indices: list[int] | None = None):
        super().__init__()
        self.num_channels = num_channels
        if indices is None:
            self.register_buffer("indices", None)
        else:
            self.register_buffer("indices", torch.tensor(indices, dtype=torch.long))

    @property
    def out_channels(self) -> int:
        return self.num_channels if self.indices is None else int(self.indices.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.indices is None:
            return x
        return x.index_select(1, self.indices)

    def extra_repr(self) -> str:
        return f"{self.num_channels} -> {self.out_channels}"


class PreActHead(nn.Module):
    """The head of pre-activation nets: BN -> channel selection -> ReLU -> global pool -> FC."""

    SELECT_CONSUMER = "fc"  # the layer that reads self.select's output

    def __init__(self, channels: int, indices: list[int] | None, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.select = ChannelSelection(channels, indices)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.select.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.select(self.bn(x)))).flatten(1))


def init_weights(model: nn.Module) -> None:
    """One initialisation for every family: He (fan-out) convs, BN 1/0, Linear N(0, 0.01); a model may
    refine it with its own ``init_own_weights()`` (the ViT: Xavier-uniform linear layers)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
    own = getattr(model, "init_own_weights", None)  # a family whose layers need another rule (arch/vit.py)
    if callable(own):
        own()


def conv_bn_relu(cin: int, cout: int, bias: bool = False, bn: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, bias=bias)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers
