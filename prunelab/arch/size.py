"""The size guard: each family estimates a spec's number of conv and linear layers and its
parameters (exact up to BN buffers and small terms) from the spec alone (``Family.estimate``). Specs
beyond the limits are refused before building, so an absurd name or a typo in a spec file is a
one-line error instead of minutes of building and a memory error. The limits can be raised with
$PRUNELAB_MAX_LAYERS and $PRUNELAB_MAX_PARAMS."""
from __future__ import annotations

import os

from ..errors import PrunelabError

MAX_LAYERS = 5000  # ResNet-1202 has 1,203 conv and linear layers
MAX_PARAMS = 2_000_000_000  # VGG-16 (ImageNet) has 138 M


def conv_params(cin, cout, k, bn=True, bias=False):
    """A k x k conv's weights (and bias), with its BatchNorm's scale and shift."""
    return cin * cout * k * k + (cout if bias else 0) + (2 * cout if bn else 0)


def _limit(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        v = int(float(raw))
    except (ValueError, OverflowError):
        raise PrunelabError(f"${name} must be a finite number, got {raw!r}")
    if v < 1:
        raise PrunelabError(f"${name} must be positive, got {raw!r}")
    return v


def max_layers() -> int:
    return _limit("PRUNELAB_MAX_LAYERS", MAX_LAYERS)


def check_size(spec, estimate) -> None:
    """Refuse specs beyond the layer and parameter limits, before building: ``estimate`` is the
    family's (spec -> (layers, params))."""
    layers, params = estimate(spec)
    limit, max_params = max_layers(), _limit("PRUNELAB_MAX_PARAMS", MAX_PARAMS)
    if layers > limit:
        raise PrunelabError(f"{spec.name} has {layers:,} conv/linear layers, above the limit of {limit:,} "
                            "(raise it with PRUNELAB_MAX_LAYERS=N if you mean it)")
    if params > max_params:
        raise PrunelabError(f"{spec.name} has about {params:,} parameters, above the limit of {max_params:,} "
                            "(raise it with PRUNELAB_MAX_PARAMS=N if you mean it)")
