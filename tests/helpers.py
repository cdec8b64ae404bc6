"""Shared test helpers."""
import torch
from torch import nn


def randomise_bn(model, seed=0, bias_scale=1.0):
    """Random BN affine parameters and running statistics (so equivalence tests see real BNs)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * bias_scale
            m.running_mean = torch.randn(n, generator=g) * bias_scale
            m.running_var = torch.rand(n, generator=g) + 0.5
    return model
