"""Specs, builders, presets, params/MACs (against literals and hand formulas)."""
import json

import pytest
import torch
import torch_pruning as tp

import prunelab
from prunelab.arch import ArchSpec, build, known_names, prunable_widths, resolve
from prunelab.cli import main
from prunelab.errors import PrunelabError
from prunelab.measure import count


def conv_macs(cin, cout, k, hw):
    return cin * cout * k * k * hw * hw


def test_spec_model_spec_round_trip():
    for ds in ("cifar10", "fashion-mnist"):
        for name in known_names(ds):
            spec = resolve(name, ds)
            again = ArchSpec.from_json(spec.to_json())
            assert again == spec
            model = build(again)
            assert model.arch_spec.to_dict() == spec.to_dict()
    spec = resolve("resnet50-2x", "imagenet")
    assert ArchSpec.from_dict(json.loads(spec.to_json())) == spec


def test_save_load_round_trip(tmp_path):
    spec = resolve("resnet20", "cifar10", width=0.5)
    m = build(spec, seed=1)
    prunelab.save(m, tmp_path / "m.pt")
    m2 = prunelab.load(tmp_path / "m.pt")
    assert m2.arch_spec == spec
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_every_name_on_every_dataset_through_the_cli(capsys):
    for ds in ("cifar10", "cifar100", "fashion-mnist", "imagenet"):
        for name in known_names(ds):
            assert main(["arch", name, "--dataset", ds, "--json"]) == 0
            out = json.loads(capsys.readouterr().out)
            assert out["params"] > 0 and out["macs"] > 0
            assert out["spec"]["name"] == name
            assert out["spec"]["num_classes"] == {"cifar100": 100, "imagenet": 1000}.get(ds, 10)


def test_cifar_names_are_case_sensitive_and_dataset_specific():
    with pytest.raises(PrunelabError, match="unknown architecture 'ResNet56'"):
        resolve("ResNet56", "cifar10")
    with pytest.raises(PrunelabError, match="unknown architecture 'resnet56-A' for dataset 'imagenet'"):
        resolve("resnet56-A", "imagenet")
    with pytest.raises(PrunelabError, match="unknown architecture 'resnet34-A' for dataset 'cifar10'"):
        resolve("resnet34-A", "cifar10")
    # vgg16 means different models on CIFAR and ImageNet
    assert resolve("vgg16", "cifar10").family == "vgg"
    assert resolve("vgg16", "imagenet").family == "vgg-imagenet"


def test_resnet56_params_and_macs_hand_formula():
    n, params, macs = 9, 0, 0
    params += 3 * 16 * 9 + 2 * 16
    macs += conv_macs(3, 16, 3, 32)
    cin, hw = 16, 32
    for s, w in enumerate((16, 32, 64)):
        for b in range(n):
            if s > 0 and b == 0:
                hw //= 2
            params += cin * w * 9 + 2 * w + w * w * 9 + 2 * w
            macs += conv_macs(cin, w, 3, hw) + conv_macs(w, w, 3, hw)
            cin = w
    params += 64 * 10 + 10
    macs += 64 * 10
    c = count(build(resolve("resnet56", "cifar10")))
    meta = count(build(resolve("resnet56", "cifar10"), device="meta"))
    assert (meta.params, meta.macs) == (c.params, c.macs)
    assert c.params == params == 853_018
    assert c.macs == macs == 125_485_696  # the paper's 1.25e8


def test_vgg16_cifar_and_vgg16_A_hand_formula():
    def vgg_counts(cfg):
        params = macs = 0
        cin, hw = 3, 32
        for v in cfg:
            if v == "M":
                hw //= 2
                continue
            params += cin * v * 9 + 2 * v
            macs += conv_macs(cin, v, 3, hw)
            cin = v
        params += cin * 512 + 512 + 2 * 512 + 512 * 10 + 10  # Linear-BN1d-ReLU-Linear head
        macs += cin * 512 + 512 * 10
        return params, macs

    full = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
    a = [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256]
    for name, cfg in (("vgg16", full), ("vgg16-A", a)):
        c = count(build(resolve(name, "cifar10")))
        assert (c.params, c.macs) == vgg_counts(cfg), name
    assert count(build(resolve("vgg16", "cifar10"))).macs == 313_463_808  # the paper's 3.13e8
    assert round(count(build(resolve("vgg16-A", "cifar10"))).macs / 1e8, 2) == 2.06  # the paper's 2.06e8


def test_torchvision_literals():
    # figures published by torchvision for its resnet50 / vgg16 / resnet34 (params; GFLOPS = GMACs there)
    r50 = count(build(resolve("resnet50", "imagenet"), device="meta"))  # shapes suffice to count
    assert r50.params == 25_557_032
    assert round(r50.macs / 1e9, 2) == 4.09
    r34 = count(build(resolve("resnet34", "imagenet"), device="meta"))
    assert r34.params == 21_797_672
    assert round(r34.macs / 1e9, 2) == 3.66
    v16 = count(build(resolve("vgg16", "imagenet"), device="meta"))
    assert v16.params == 138_357_544
    assert round(v16.macs / 1e9, 2) == 15.47


@pytest.mark.parametrize("name,ds", [("vgg16", "cifar10"), ("vgg19", "cifar100"), ("vgg16-A", "cifar10"),
                                     ("resnet50", "imagenet"), ("vgg16-thinet-gap", "imagenet")])
def test_agrees_with_torch_pruning_within_one_percent(name, ds):
    spec = resolve(name, ds)
    model = build(spec).eval()
    c = count(model)
    tp_macs, tp_params = tp.utils.count_ops_and_params(model, torch.zeros(1, 3, spec.input_size, spec.input_size))
    assert tp_params == c.params
    assert abs(c.macs - tp_macs) / tp_macs < 0.01  # TP also counts BN / pooling ops


def test_masked_counts_are_density_scaled():
    model = build(resolve("vgg11", "cifar10", width=0.25))
    conv = model.features[0]
    with torch.no_grad():
        conv.weight[: conv.weight.shape[0] // 2] = 0  # half the filters
    c = count(model)
    first = c.layers[0]
    assert first.params_nonzero == conv.weight.numel() // 2
    assert first.macs_nonzero == pytest.approx(first.macs / 2)
    assert c.macs_nonzero == pytest.approx(c.macs - first.macs / 2)
    assert c.params_nonzero == c.params - conv.weight.numel() // 2


def test_l1_presets_follow_the_papers_rules():
    w = prunable_widths(resolve("resnet56-A", "cifar10"))
    # block first convs have ids 2, 4, ..., 54; skip 16, 20, 38, 54; p = 0.1 per stage
    ids = {f"layer{s + 1}.{b}.conv1": 2 + 2 * (9 * s + b) for s in range(3) for b in range(9)}
    for layer, i in ids.items():
        full = {1: 16, 2: 32, 3: 64}[int(layer[5])]
        expect = full if i in (16, 20, 38, 54) else {16: 14, 32: 28, 64: 57}[full]
        assert w[layer] == expect, layer
    wb = prunable_widths(resolve("resnet56-B", "cifar10"))
    stage1 = [wb[f"layer1.{b}.conv1"] for b in range(9)]
    assert stage1 == [6, 6, 6, 6, 6, 6, 6, 16, 16]  # ids 16 and 18 skipped, 16*(1-0.6) -> 6
    stage2 = [wb[f"layer2.{b}.conv1"] for b in range(9)]
    assert stage2 == [32, 22, 22, 22, 22, 22, 22, 32, 22]  # ids 20 and 34 skipped, 32*(1-0.3) -> 22
    w110 = prunable_widths(resolve("resnet110-A", "cifar10"))
    assert [w110[f"layer1.{b}.conv1"] for b in range(18)] == [8] * 17 + [16]
    assert all(w110[f"layer{s}.{b}.conv1"] == {2: 32, 3: 64}[s] for s in (2, 3) for b in range(18))
    w34 = prunable_widths(resolve("resnet34-B", "imagenet"))
    assert [w34[f"layer1.{b}.conv1"] for b in range(3)] == [64, 32, 32]  # id 2 skipped
    assert [w34[f"layer2.{b}.conv1"] for b in range(4)] == [128, 51, 51, 128]  # ids 8 and 14 skipped
    assert [w34[f"layer3.{b}.conv1"] for b in range(6)] == [256, 153, 153, 153, 153, 256]
    assert [w34[f"layer4.{b}.conv1"] for b in range(3)] == [512, 512, 512]


def test_imagenet_presets():
    cfg = resolve("vgg16-thinet-tiny", "imagenet").layout
    assert cfg["cfg"][-3:] == [128, 128, 256] and cfg["head"] == "gap"
    sss = resolve("resnet26-sss", "imagenet").layout["stages"]
    assert [sum(b["branch"] for b in st) for st in sss] == [0, 2, 5, 1]
    assert [st[0]["branch"] for st in sss] == [False, False, False, True]
    # depth = 2 + 3 x residual branches
    for name, depth in (("resnet26-sss", 26), ("resnet32-sss", 32), ("resnet41-sss", 41)):
        stages = resolve(name, "imagenet").layout["stages"]
        assert 2 + 3 * sum(b["branch"] for st in stages for b in st) == depth
    t30 = resolve("resnet50-thinet-30", "imagenet").layout["stages"]
    assert [st[0]["w"] for st in t30] == [[19, 19], [38, 38], [76, 76], [153, 153]]
    r2x = resolve("resnet50-2x", "imagenet").layout["stages"]
    assert r2x[0][0] == {"w": [64, 55], "select": 35, "branch": True}
    m = build(resolve("resnet50-2x", "imagenet"))
    assert m.layer1[0].conv1.in_channels == 35


def test_fashion_mnist_variants_forward():
    for name in known_names("fashion-mnist"):
        spec = resolve(name, "fashion-mnist", width=0.25) if not name.endswith(("-A", "-B")) else resolve(name, "fashion-mnist")
        m = build(spec).eval()
        assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_bad_specs_are_one_line_errors():
    spec = resolve("resnet20", "cifar10").to_dict()
    spec["layout"]["inner"][0][0] = 0
    with pytest.raises(PrunelabError, match="positive integer"):
        ArchSpec.from_dict(spec)
    with pytest.raises(PrunelabError, match="unknown key 'bogus'"):
        ArchSpec.from_dict({**resolve("resnet20", "cifar10").to_dict(), "bogus": 1})
    with pytest.raises(PrunelabError, match="unknown model family"):
        ArchSpec.from_dict({"family": "mlp", "layout": {}})
    with pytest.raises(PrunelabError, match="unknown dataset 'cifar11'"):
        resolve("vgg16", "cifar11")


def test_the_weight_level_vgg_has_conv_biases_as_the_reference():
    """cifar/weight-level/models/cifar/vgg.py: Conv2d(..., padding=1) keeps its bias; vgg19_bn there has
    20,040,522 params on CIFAR-10, prunelab's slimming-style vgg19 (no conv bias) 20,035,018."""
    import yaml
    from pathlib import Path

    biased, plain = resolve("vgg19-bias", "cifar10"), resolve("vgg19", "cifar10")
    assert count(build(biased, device="meta")).params == 20_040_522
    assert count(build(plain, device="meta")).params == 20_035_018
    model = build(biased, seed=0)
    assert all(m.bias is not None and not m.bias.any() for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    root = Path(__file__).parents[1] / "experiments" / "paper"
    for name, arch in (("unstructured-cifar10.yaml", "vgg19-bias"), ("unstructured-cifar100.yaml", "vgg19-bias"),
                       ("lottery-unstructured-cifar10.yaml", "vgg16-bias")):
        assert yaml.safe_load((root / name).read_text())["models"][0]["arch"] == arch
