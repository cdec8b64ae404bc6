"""Pruning at initialisation (SNIP, GraSP, SynFlow) and the shuffled-mask control: each score on a
hand-made net against an independent computation of its paper's formula; the control keeps the
method's per-layer densities; a tiny experiment reports each method against its shuffled control."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from prunelab.methods import PruneData, get
from prunelab.methods.at_init import keep_top


def _net(seed=0):
    g = torch.Generator().manual_seed(seed)
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    m.arch_spec = SimpleNamespace(in_channels=1, input_size=2)
    xs = [torch.randn(5, 1, 2, 2, generator=g) for _ in range(2)]
    ys = [torch.randint(0, 2, (5,), generator=g) for _ in range(2)]
    return m, xs, ys


def _forward(ws, x):
    """The net's forward with its two weights as free tensors (biases from the module)."""
    return F.linear(torch.relu(F.linear(x.flatten(1), ws[0], _net()[0][1].bias)), ws[1], _net()[0][3].bias)


def test_snip_is_the_summed_gradient_times_weight_in_absolute_value():
    from prunelab.methods.snip import snip_scores

    m, xs, ys = _net()
    ws = [m[1].weight.detach().clone().requires_grad_(True), m[3].weight.detach().clone().requires_grad_(True)]
    total = [torch.zeros_like(w, dtype=torch.float64) for w in ws]
    for x, y in zip(xs, ys):
        for t, g, w in zip(total, torch.autograd.grad(F.cross_entropy(_forward(ws, x), y), ws), ws):
            t += (g * w).detach().double()
    got = snip_scores(m, {"1.weight": m[1].weight, "3.weight": m[3].weight}, zip(xs, ys))
    for t, k in zip(total, ("1.weight", "3.weight")):
        assert torch.allclose(got[k], t.abs(), rtol=1e-5, atol=1e-7)


def test_grasp_is_minus_weight_times_hessian_gradient_product():
    from prunelab.methods.grasp import TEMPERATURE, grasp_scores

    m, xs, ys = _net()
    sizes = [m[1].weight.numel(), m[3].weight.numel()]
    flat0 = torch.cat([m[1].weight.detach().flatten(), m[3].weight.detach().flatten()]).double()

    def loss(flat, x, y):  # the explicit Hessian of the tempered loss, float64
        w1, w2 = flat[:sizes[0]].view(3, 4), flat[sizes[0]:].view(2, 3)
        h = torch.relu(x.flatten(1).double() @ w1.T + m[1].bias.double())
        return F.cross_entropy((h @ w2.T + m[3].bias.double()) / TEMPERATURE, y)

    g = sum(torch.autograd.functional.jacobian(lambda f: loss(f, x, y), flat0) for x, y in zip(xs, ys))
    hg = sum(torch.autograd.functional.hessian(lambda f: loss(f, x, y), flat0) @ g for x, y in zip(xs, ys))
    expected = -flat0 * hg
    got = grasp_scores(m, {"1.weight": m[1].weight, "3.weight": m[3].weight}, zip(xs, ys))
    got = torch.cat([got["1.weight"].flatten(), got["3.weight"].flatten()])
    # float32 products of O(1) weights through a T = 200 tempered loss: compare at float32's resolution
    assert torch.allclose(got, expected, rtol=1e-3, atol=1e-4 * float(expected.abs().max()))


def test_synflow_scores_are_weight_times_the_synaptic_flow_through_it():
    from prunelab.methods.synflow import synflow_masks

    m, _, _ = _net()
    a1, a2 = m[1].weight.detach().abs().double(), m[3].weight.detach().abs().double()
    b1 = m[1].bias.detach().abs().double()
    # R = 1^T |W2| relu(|W1| 1 + |b1|) + ...: dR/dW2[i, j] = h_j, dR/dW1[j, k] = (1^T |W2|)_j (h_j > 0)
    h = a1.sum(dim=1) + b1
    s1 = a1 * a2.sum(dim=0)[:, None]
    s2 = a2 * h[None, :]
    expected = keep_top({"1.weight": s1, "3.weight": s2}, 0.5)
    got = synflow_masks(m, ["1.weight", "3.weight"], 0.5, rounds=1)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert sum(int(v.sum()) for v in got.values()) == 9  # half of 18 weights, one global ranking
    more = synflow_masks(m, ["1.weight", "3.weight"], 0.5, rounds=10)
    assert sum(int(v.sum()) for v in more.values()) == 9


def test_the_shuffled_control_keeps_the_methods_per_layer_densities():
    import prunelab
    from prunelab.data import DataSettings, load

    model = prunelab.build(prunelab.spec("vgg11", "fashion-mnist", width=0.125), seed=0)
    data = PruneData("fashion-mnist", 0, data=load(DataSettings("fashion-mnist", train_subset=128, test_subset=64,
                                                                 augment=False)))
    snip, shuffled = get("snip"), get("shuffled")
    a = snip.prune(prunelab.build(model.arch_spec, seed=0), snip.params({"target": 0.8, "images": 64}), data).model.masks
    b = shuffled.prune(prunelab.build(model.arch_spec, seed=0), shuffled.params(
        {"of": {"method": "snip", "images": 64}, "target": 0.8}), data).model.masks
    assert a.keys() == b.keys()
    assert abs(sum(int(m.sum()) for m in a.values()) / sum(m.numel() for m in a.values()) - 0.2) < 1e-3
    for k in a:
        assert abs(int(a[k].sum()) - int(b[k].sum())) <= 1  # the layer's density (rounded)
    assert any(not torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(prunelab.errors.PrunelabError, match="shuffles an unstructured method's masks"):
        shuffled.prune(model, shuffled.params({"of": {"method": "l1-norm"}, "target": 0.5}), data)
