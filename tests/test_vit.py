"""Vision transformers through the method core: heads and MLP widths removed physically (the pruned
model computes what the large one computes with those heads and units zeroed), head scores from
each head's own weights, torchvision's ViT attention replaced by an equivalent one, and a small ViT
through `judge`."""
import copy

import pytest
import torch
from torch import nn

from prunelab.arch import ArchSpec, build, prunable_widths, resolve
from prunelab.arch.families import estimate
from prunelab.cli import main
from prunelab.methods import PruneData, get
from prunelab.prune import parse_target, prune, prune_channels

from helpers import judge_synthetic

EPS = torch.finfo(torch.float32).eps


def _small(heads=3, mlp=8, blocks=2):
    return ArchSpec.from_dict({"family": "vit", "name": "vit-test", "in_channels": 1, "input_size": 8,
                               "num_classes": 5, "layout": {"patch": 4, "dim": 12, "head_dim": 4,
                                                            "blocks": [{"heads": heads, "mlp": mlp}] * blocks}})


def _randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def _zeroed(model, kept):
    """A copy of ``model`` whose dropped heads' output columns and dropped MLP units' output columns
    are zero: what the pruned model computes, without removing anything."""
    z = copy.deepcopy(model)
    with torch.no_grad():
        for layer, idx in kept.items():
            m = z.get_submodule(layer)
            if hasattr(m, "keep_heads"):
                d = m.head_dim
                for h in set(range(m.num_heads)) - set(idx):
                    m.proj.weight[:, h * d:(h + 1) * d] = 0
            else:  # the MLP's second linear layer: fc2 (prunelab's ViT) or mlp.3 (torchvision's)
                out = z.get_submodule(layer[:-len("fc1")] + "fc2" if layer.endswith("fc1") else layer[:-1] + "3")
                out.weight[:, sorted(set(range(m.out_features)) - set(idx))] = 0
    return z


def test_removed_heads_and_mlp_units_compute_what_zeroed_ones_do():
    model = _randomised(build(_small(), seed=0)).eval()
    kept = {"blocks.0.attn": [0, 2], "blocks.0.mlp.fc1": [1, 2, 5, 7], "blocks.1.attn": [1], "blocks.1.mlp.fc1": [0, 3, 4]}
    pruned = prune_channels(model, kept, name="vit-test-pruned").eval()
    assert pruned.arch_spec.layout["blocks"] == [{"heads": 2, "mlp": 4}, {"heads": 1, "mlp": 3}]
    assert sum(p.numel() for p in pruned.parameters()) == estimate(pruned.arch_spec)[1]
    zeroed = _zeroed(model, kept)
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    want, got = zeroed(x), pruned(x)
    # float32 sums of a few dozen terms of magnitude ~ |want|: tolerance from eps and the magnitudes
    assert torch.allclose(got, want, rtol=0, atol=64 * EPS * float(want.detach().abs().max()))
    assert not torch.allclose(model(x), want, rtol=0, atol=1e-3)  # the dropped heads and units mattered


def test_a_heads_l1_score_is_the_sum_of_its_own_weights():
    model = _randomised(build(_small(), seed=0))
    attn = model.blocks[0].attn
    h, d, dim = 3, 4, 12
    want = []
    for head in range(h):
        rows = [s * h * d + head * d + j for s in range(3) for j in range(d)]
        cols = [head * d + j for j in range(d)]
        want.append(sum(abs(float(attn.qkv.weight[r, c])) for r in rows for c in range(dim)) +
                    sum(abs(float(attn.proj.weight[r, c])) for r in range(dim) for c in cols))
    got = get("l1-norm").score(attn)
    assert torch.allclose(got.double(), torch.tensor(want, dtype=torch.float64), rtol=16 * 4 * d * dim * EPS, atol=0)
    fc1 = model.blocks[0].mlp.fc1
    assert torch.equal(get("l1-norm").score(fc1), fc1.weight.detach().abs().sum(dim=1))


def test_l1_norm_prunes_a_vit_to_its_target_and_conv_criteria_refuse_it():
    spec = _small(heads=4, mlp=8)
    model = build(spec, seed=0)
    pruned, kept = prune(model, parse_target(0.5), "synthetic")
    assert pruned.arch_spec.layout["blocks"] == [{"heads": 2, "mlp": 4}] * 2
    for method in ("hrank", "chip", "taylor", "group-norm"):
        with pytest.raises(Exception, match="scores conv filters"):
            get(method).check_base(spec)
    for method in ("l1-norm", "l2-norm", "fpgm", "random"):
        meth = get(method)
        meth.check_base(spec)
        res = meth.prune(model, meth.params({"target": 0.5}), PruneData("synthetic"))
        assert res.spec.layout["blocks"] == [{"heads": 2, "mlp": 4}] * 2


def test_round_to_leaves_head_counts_alone_and_masks_must_reach_the_linear_layers(tmp_path, capsys):
    spec = _small(heads=4, mlp=16)
    from prunelab.prune import target_widths
    widths = target_widths(spec, parse_target({"ratio": 0.5, "round_to": 8}), "synthetic")
    assert widths["blocks.0.attn"] == 2 and widths["blocks.0.mlp.fc1"] == 8
    cfg = tmp_path / "mag.yaml"
    cfg.write_text("""
name: mag-vit
dataset: synthetic
data: {synthetic_size: [64, 32], augment: false}
models: [{arch: vit2, width: 0.5, targets: [0.5]}]
prune: {method: magnitude}
seeds: [0]
recipe: {epochs: 1, batch_size: 32, lr: 0.01}
""")
    assert main(["plan", str(cfg)]) == 2
    assert "use prunable: conv+linear" in capsys.readouterr().err
    cfg.write_text(cfg.read_text().replace("{method: magnitude}", "{method: magnitude, prunable: conv+linear}"))
    assert main(["plan", str(cfg)]) == 0


def test_a_plug_in_scores_conv_filters_unless_it_says_otherwise():
    from prunelab.methods.l1_norm import L1Norm

    class Mine(L1Norm):  # defined outside prunelab: a plug-in
        name = "mine"

    class Any(L1Norm):
        name = "any"
        conv_filters = False

    with pytest.raises(Exception, match="declares conv_filters = False"):
        Mine().check_base(_small())
    Any().check_base(_small())
    Mine().check_base(resolve("resnet20", "synthetic"))


def test_torchvision_vit_attention_is_multihead_attention_and_loses_whole_heads():
    """vit_b_16 at 32 px: torchvision's nn.MultiheadAttention replaced by prunelab's head attention
    computes the same; l1-norm at 0.5 keeps 6 of 12 heads and 1536 of 3072 MLP units per block."""
    from prunelab.arch.torchvision_family import TorchvisionAttention

    mha = nn.MultiheadAttention(24, 4, batch_first=True)
    ours = TorchvisionAttention(24, 4, 6)
    with torch.no_grad():
        ours.qkv.weight.copy_(mha.in_proj_weight)
        ours.qkv.bias.copy_(mha.in_proj_bias)
        ours.proj.weight.copy_(mha.out_proj.weight)
        ours.proj.bias.copy_(mha.out_proj.bias)
    x = torch.randn(3, 7, 24, generator=torch.Generator().manual_seed(0))
    want = mha(x, x, x, need_weights=False)[0]
    got, none = ours(x, x, x, need_weights=False)
    assert none is None and torch.allclose(got, want, rtol=0, atol=64 * EPS * float(want.abs().max()))

    spec = resolve("torchvision:vit_b_16", "cifar10")
    widths = prunable_widths(spec)
    assert len(widths) == 24 and widths["encoder.layers.encoder_layer_0.self_attention"] == 12
    model = _randomised(build(spec, seed=0), 2).eval()
    with torch.no_grad():  # weights of a trained net's size: the blocks' outputs stay of order 1
        for p in model.parameters():
            p.mul_(0.1)
    pruned, kept = prune(model, parse_target(0.5), "cifar10")
    w = pruned.arch_spec.layout["widths"]
    assert w["encoder.layers.encoder_layer_11.self_attention"] == 6 and w["encoder.layers.encoder_layer_11.mlp.0"] == 1536
    assert sum(p.numel() for p in pruned.parameters()) == estimate(pruned.arch_spec)[1]
    first = {k: v for k, v in kept.items() if k.startswith("encoder.layers.encoder_layer_0.")}
    zeroed, one = _zeroed(model, first), prune_channels(model, first)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    want = zeroed(x)
    # 13 residual blocks of sums over 768-3072 terms in float32: tolerance from eps and the output's size
    assert torch.allclose(one.eval()(x), want, rtol=0, atol=4096 * EPS * float(want.abs().max()))
    assert not torch.allclose(model(x), want, rtol=0, atol=1e-3 * float(want.abs().max()))  # the cut heads mattered
    with pytest.raises(Exception, match="do not tile a 28px input"):
        resolve("torchvision:vit_b_16", "fashion-mnist")


def test_a_small_vit_goes_through_judge(tmp_path, capsys):
    """vit2 at half width (2 heads of 32, MLP 128) on synthetic images: heads and MLP widths pruned by
    l1-norm, fine-tuned, trained from scratch, uniform and random arms, by the one engine."""
    row, cfg = judge_synthetic(tmp_path, capsys, "vit2", width=0.5, epochs=2)  # 1 epoch: Scratch-B's would be 1 too
    assert row["model"] == "vit2-w0.5"
    assert row["arms"]["finetune"]["params"] < 0.75 * row["arms"]["unpruned"]["params"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(cfg.read_text().replace("{method: l1-norm}", "{method: hrank}"))
    assert main(["judge", str(bad), "--store", str(tmp_path / "store"), "--quiet"]) == 2
    assert "scores conv filters" in capsys.readouterr().err
