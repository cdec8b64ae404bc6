"""The later structured criteria (FPGM, Taylor, HRank, CHIP, DepGraph's group norm): each one's
filter scores on a hand-made layer against an independent computation of its paper's formula,
and each one prunes a prunelab model through the method core."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import prunelab
from prunelab.methods import PruneData, get


class Batches:
    """PruneData's source: fixed batches of hand-made images."""

    def __init__(self, xs, ys):
        self.xs, self.ys = xs, ys

    def batches(self, split, batch_size, train=False, gen=None, **kw):
        yield from zip(self.xs, self.ys)


def _layer(seed=0):
    """conv (3 -> 5, 3x3) -> BN (hand-set) -> ReLU -> conv (5 -> 4) -> pool -> linear (4 -> 3)."""
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1, bias=False), nn.BatchNorm2d(5), nn.ReLU(),
                      nn.Conv2d(5, 4, 3, padding=1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        m[0].weight.copy_(torch.randn(5, 3, 3, 3, generator=g))
        m[0].weight[3] = 0.01 * m[0].weight[0]  # a near-copy direction, tiny
        m[1].weight.copy_(torch.tensor([1.0, 0.5, 2.0, 1.5, 0.8]))
        m[1].bias.copy_(torch.tensor([0.1, -0.3, 0.0, 0.2, -0.1]))
        m[1].running_mean.copy_(torch.randn(5, generator=g) * 0.1)
        m[1].running_var.copy_(torch.rand(5, generator=g) + 0.5)
        m[3].weight.copy_(torch.randn(4, 5, 3, 3, generator=g))
    xs = [torch.randn(4, 3, 6, 6, generator=g) for _ in range(2)]
    xs[0][:, :, 3:] = 0  # low-rank images: maps of several ranks
    ys = [torch.randint(0, 3, (4,), generator=g) for _ in range(2)]
    return m, PruneData("fashion-mnist", 0, data=Batches(xs, ys)), xs, ys


def _maps(m, x):
    """The first conv's post-BN-ReLU maps, by hand (eval-mode BN)."""
    bn = m[1]
    z = F.conv2d(x, m[0].weight, padding=1)
    z = (z - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
    return torch.relu(z * bn.weight[:, None, None] + bn.bias[:, None, None]).detach()


def _scores(method, m, data, **params):
    meth = get(method)
    return meth.filter_scores(m, ["0"], data, meth.params({"target": 0.5, **params}))["0"].double()


def test_fpgm_is_each_filters_summed_distance_to_the_others():
    m, *_ = _layer()
    w = m[0].weight.detach().flatten(1).tolist()
    expected = [sum(math.dist(a, b) for b in w) for a in w]
    got = get("fpgm").score(m[0]).double()
    assert got.tolist() == pytest.approx(expected, rel=1e-6)  # float32 weights, float64 sums
    assert int(got.argmin()) == 3  # the tiny filter nearest the median


def test_hrank_is_the_mean_rank_of_each_filters_feature_maps():
    m, data, xs, _ = _layer()
    maps = torch.cat([_maps(m, x) for x in xs]).numpy()
    expected = [np.mean([np.linalg.matrix_rank(maps[n, c]) for n in range(len(maps))]) for c in range(5)]
    got = _scores("hrank", m, data, images=8, batch_size=4)
    assert got.tolist() == expected  # ranks are whole numbers: exact
    assert len(set(expected)) > 1


def test_chip_is_the_mean_nuclear_norm_drop_without_the_channel():
    m, data, xs, _ = _layer()
    maps = torch.cat([_maps(m, x) for x in xs]).double().numpy()
    expected = []
    for c in range(5):
        drops = []
        for a in maps.reshape(len(maps), 5, -1):
            b = a.copy()
            b[c] = 0
            drops.append(np.linalg.norm(a, "nuc") - np.linalg.norm(b, "nuc"))
        expected.append(np.mean(drops))
    got = _scores("chip", m, data, images=8, batch_size=4)
    # float32 maps; the Gram route loses sqrt(eps64 * largest eigenvalue) per small singular value
    scale = max(np.linalg.norm(a, 2) for a in maps.reshape(len(maps), 5, -1))
    assert np.allclose(got.numpy(), expected, rtol=0, atol=5 * 5 * scale * math.sqrt(np.finfo(np.float64).eps))


def test_chip_takes_the_smaller_gram_matrix_on_either_side():
    """C x C Gram matrices when C <= HW, HW x HW rank-one downdates when HW < C: the same drops."""
    from prunelab.methods.chip import independence
    g = torch.Generator().manual_seed(3)
    for shape in [(3, 4, 3, 3), (3, 9, 2, 2), (2, 12, 1, 1)]:
        maps = torch.relu(torch.randn(*shape, generator=g))
        a = maps.reshape(shape[0], shape[1], -1).double().numpy()
        expected = []
        for img in a:
            row = []
            for c in range(shape[1]):
                b = img.copy()
                b[c] = 0
                row.append(np.linalg.norm(img, "nuc") - np.linalg.norm(b, "nuc"))
            expected.append(row)
        scale = max(np.linalg.norm(img, 2) for img in a)
        tol = 5 * max(shape[1:2] + (shape[2] * shape[3],)) * scale * math.sqrt(np.finfo(np.float64).eps)
        assert np.allclose(independence(maps).numpy(), expected, rtol=0, atol=tol)


def test_taylor_is_the_mean_squared_first_order_change_per_filter():
    m, data, xs, ys = _layer()
    expected = torch.zeros(5, dtype=torch.float64)
    m.eval()
    for x, y in zip(xs, ys):
        w = m[0].weight.detach().clone().requires_grad_(True)
        z = F.conv2d(x, w, padding=1)
        out = m[6](m[5](m[4](m[3](m[2](m[1](z))))))
        (g,) = torch.autograd.grad(F.cross_entropy(out, y), w)
        expected += (g * w).detach().double().sum(dim=(1, 2, 3)) ** 2
    expected /= len(xs)
    got = _scores("taylor", m, data, images=8, batch_size=4)
    assert torch.allclose(got, expected, rtol=1e-4, atol=0)  # float32 gradients, the same graph


def test_group_norm_is_the_coupled_groups_squared_norms():
    m, data, *_ = _layer()
    w1 = m[0].weight.detach().double().pow(2).sum(dim=(1, 2, 3))
    gamma = m[1].weight.detach().double() ** 2
    w2 = m[3].weight.detach().double().pow(2).sum(dim=(0, 2, 3))
    meth = get("group-norm")
    from prunelab.methods.group_norm import group_norm_scores

    got = group_norm_scores(m, ["0"], torch.zeros(1, 3, 6, 6))["0"].double()
    # Torch-Pruning's group reduction: the mean over the group's 3 layers (the paper's sum, / 3)
    assert torch.allclose(got, (w1 + gamma + w2) / 3, rtol=1e-5, atol=0)
    assert meth.rule(meth.params({"target": 0.5})) == "largest"


@pytest.mark.parametrize("method", ["fpgm", "taylor", "hrank", "chip", "group-norm"])
def test_each_later_criterion_prunes_a_prunelab_model_to_its_target(method):
    from prunelab.data import DataSettings, load

    model = prunelab.build(prunelab.spec("resnet20", "fashion-mnist", width=0.25), seed=0)
    data = load(DataSettings("fashion-mnist", train_subset=128, test_subset=64, augment=False))
    meth = get(method)
    params = meth.params({"target": 0.5, **({"images": 64, "batch_size": 32} if method in ("taylor", "hrank", "chip")
                                             else {})})
    r = meth.prune(model, params, PruneData("fashion-mnist", 0, data=data))
    assert r.model.arch_spec == meth.planned_spec(model.arch_spec, params, "fashion-mnist")
    assert all(len(k) == len(set(k)) for k in r.kept.values())


def test_criteria_of_the_whole_model_refuse_a_plain_module_and_fpgm_prunes_one():
    from prunelab.errors import PrunelabError

    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
    for method in ("taylor", "hrank", "chip", "group-norm"):
        with pytest.raises(PrunelabError, match="scores filters from the whole model or from data"):
            prunelab.prune(net, method, 0.5, example_input=torch.zeros(1, 1, 10, 10))
    assert prunelab.prune(net, "fpgm", 0.5, example_input=torch.zeros(1, 1, 10, 10)).model[0].out_channels == 2
