"""Adding a model family is one module exporting a ``Family`` plus one ``register`` line.

This file is that module for a toy family (a stack of conv-BN-ReLU layers, global pool, linear
head) and the test that it is built, trained, pruned by L1-norm and counted like any other."""
import pytest
import torch
from torch import nn

from prunelab.arch import ArchSpec, build, prunable_widths
from prunelab.arch.family import Family
from prunelab.arch.families import FAMILIES, estimate, register
from prunelab.arch.units import Unit
from prunelab.errors import PrunelabError


# --- the family: one module ------------------------------------------------------------------
class ToyNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        layers, c = [], spec.in_channels
        for w in spec.layout["widths"]:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, spec.num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def validate(spec):
    w = spec.layout.get("widths")
    if set(spec.layout) != {"widths"} or not isinstance(w, list) or not w \
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in w):
        raise PrunelabError(f"{spec.name}: a toy layout is {{'widths': [positive widths]}}")


def widths(spec):
    return {f"features.{3 * i}": w for i, w in enumerate(spec.layout["widths"])}


def set_widths(layout, new):
    for name, k in new.items():
        layout["widths"][int(name.split(".")[1]) // 3] = k


def size(spec):  # (conv and linear layers, parameters)
    c, params = spec.in_channels, 0
    for w in spec.layout["widths"]:
        params, c = params + c * w * 9 + 2 * w, w
    return len(spec.layout["widths"]) + 1, params + c * spec.num_classes + spec.num_classes


def units(spec):
    for i, name in enumerate(widths(spec)):
        yield Unit(name, ("widths", i), 0, i, "conv")


def scale(spec, sc, clamp):  # every width w -> sc(w): width multipliers, uniform nets
    return {"widths": [sc(w) for w in spec.layout["widths"]]}


TOY = Family("toy", ToyNet, validate, widths, set_widths, size, units=units, scale=scale)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def toy():
    register(TOY)  # the registration line
    yield TOY
    FAMILIES.pop("toy")


def test_a_toy_family_is_trained_pruned_by_l1_norm_and_counted(toy):
    from prunelab import methods
    from prunelab.data import DataSettings, load
    from prunelab.measure import count
    from prunelab.methods import PruneData
    from prunelab.search import uniform
    from prunelab.train import Recipe, train

    spec = ArchSpec.from_dict({"family": "toy", "name": "toy8-16", "layout": {"widths": [8, 16]}})
    model = build(spec, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    result = train(model, load(DataSettings("synthetic", synthetic_size=(64, 32))), Recipe(epochs=1, batch_size=32))
    assert result.epochs == 1 and 0 <= result.final_top1 <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # it trained

    l1 = methods.get("l1-norm")
    pruned = l1.prune(model, l1.params({"target": 0.5}), PruneData("synthetic")).model
    assert prunable_widths(pruned.arch_spec) == {"features.0": 4, "features.3": 8}
    # the kept filters are the largest by L1 norm, with their weights
    norms = model.features[0].weight.detach().abs().sum((1, 2, 3))
    keep = sorted(torch.topk(norms, 4).indices.tolist())
    assert torch.equal(pruned.features[0].weight, model.features[0].weight[keep])

    full, small = count(model), count(pruned)
    assert (full.params, small.params) == (estimate(spec)[1], estimate(pruned.arch_spec)[1])
    macs = 32 * 32 * 9 * (3 * 4 + 4 * 8) + 8 * 10  # the convs' multiply-adds and the head's
    assert small.macs == macs and full.macs > macs
    # its units serve architecture search: a uniform net of about half the parameters
    half = uniform(spec, full.params / 2)
    assert abs(estimate(half)[1] / (full.params / 2) - 1) <= 0.02


def test_a_method_refuses_a_family_without_what_it_requires(toy):
    from prunelab import methods

    spec = ArchSpec.from_dict({"family": "toy", "name": "toy8", "layout": {"widths": [8]}})
    with pytest.raises(PrunelabError, match="slimming.* needs BatchNorm groups to slim, which vgg.*not 'toy8' "
                                            r"\(toy\)"):
        methods.get("slimming").check_base(spec)
    with pytest.raises(PrunelabError, match="needs the consumer of each pruned conv"):
        methods.get("thinet").check_base(spec)


def test_a_family_without_a_size_estimate_cannot_be_registered():
    with pytest.raises(PrunelabError, match="model family 'nosize' has no 'estimate' \\(its size guard\\)"):
        Family("nosize", ToyNet, validate, widths, set_widths, None)
    with pytest.raises(PrunelabError, match="already registered"):
        register(Family("vgg", ToyNet, validate, widths, set_widths, size))
    with pytest.raises(PrunelabError, match="unknown model family 'toy'"):
        build(ArchSpec("toy", "toy8", {"widths": [8]}))  # registered only by the fixture
