"""`prunelab import-weights`: torchvision-format checkpoints into prunelab ImageNet specs.

Numerical equivalence on torchvision's own ResNet-18 (through the CLI, the model file and a
prune), ResNet-34 (from its file) and VGG-16-BN (in memory: 138M parameters are too many to write
in a test); the key and shape mapping of every supported torchvision classifier, built on the meta
device; the checkpoint layouts of common training scripts; bad checkpoints (one line naming the
key, exit 2).
"""
import pytest
import torch
import torchvision
from torch import nn

import prunelab
from helpers import randomise_bn, shapes_only_state_dict
from prunelab.arch import resolve
from prunelab.arch.torchvision_import import import_weights, infer_spec, mismatch, read_state_dict, to_model
from prunelab.cli import main
from prunelab.errors import PrunelabError

# torchvision constructor -> the prunelab ImageNet architecture with its layout
SUPPORTED = {
    "resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50", "resnet101": "resnet101",
    "resnet152": "resnet152", "vgg11": "vgg11", "vgg13": "vgg13", "vgg16": "vgg16", "vgg19": "vgg19",
    "vgg11_bn": "vgg11-bn-torchvision", "vgg13_bn": "vgg13-bn", "vgg16_bn": "vgg16-bn", "vgg19_bn": "vgg19-bn",
}


def torchvision_model(name, seed=0):
    """A torchvision classifier, random weights and random BN statistics, in eval mode."""
    torch.manual_seed(seed)
    return randomise_bn(getattr(torchvision.models, name)(weights=None), seed=seed + 1, bias_scale=0.1).eval()


def assert_same_outputs(ours, theirs, seed=0):
    """Equal outputs on a random 64x64 batch, up to float32 rounding: one eps of the output's scale
    per conv/linear layer (the same operations run in both; only kernels may differ)."""
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        want, got = theirs(x), ours.eval()(x)
    layers = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in theirs.modules())
    tol = layers * torch.finfo(torch.float32).eps * want.abs().max().item()
    assert want.abs().max() > 0 and want.std() > 0  # a meaningful comparison
    torch.testing.assert_close(got, want, rtol=0, atol=tol)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_torchvision_resnet18_through_the_cli(capsys, tmp_path):
    tv = torchvision_model("resnet18")
    torch.save(tv.state_dict(), tmp_path / "resnet18.pth")  # torchvision's own file layout
    code, out, err = run(capsys, "import-weights", tmp_path / "resnet18.pth", "--out", tmp_path / "m.pt")
    assert code == 0, err
    assert f"-> resnet18 (inferred): params {sum(p.numel() for p in tv.parameters()):,}" in out
    assert {"format", "spec", "state_dict"} <= set(torch.load(tmp_path / "m.pt", weights_only=True))
    model = prunelab.load(tmp_path / "m.pt")  # the model file of `prune` and `train`
    assert model.arch_spec == resolve("resnet18", "imagenet")
    assert_same_outputs(model, tv)
    code, out, err = run(capsys, "prune", tmp_path / "m.pt", "--target", "0.5", "--out", tmp_path / "p.pt")
    assert code == 0 and "resnet18 -> resnet18-p0.5 (l1-norm)" in out, err


def test_torchvision_resnet34_gives_identical_outputs(tmp_path):
    tv = torchvision_model("resnet34")
    torch.save(tv.state_dict(), tmp_path / "resnet34.pth")
    assert_same_outputs(import_weights(tmp_path / "resnet34.pth", "resnet34"), tv)


def test_torchvision_vgg16_bn_gives_identical_outputs():
    tv = torchvision_model("vgg16_bn")
    sd = tv.state_dict()
    assert infer_spec(sd).name == "vgg16-bn"
    assert_same_outputs(to_model(sd, resolve("vgg16-bn", "imagenet")), tv)


def test_every_supported_torchvision_classifier_maps_by_rule():
    for tv_name, name in SUPPORTED.items():
        sd = shapes_only_state_dict(tv_name)
        spec = infer_spec(sd, tv_name)
        assert spec.name == name and spec == resolve(name, "imagenet"), tv_name
        assert mismatch(sd, spec) is None
        old = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}  # files before torch 0.4.1
        assert mismatch(old, spec) is None
    # prunelab's vgg11-bn is Network Slimming's, not torchvision's vgg11_bn
    assert mismatch(shapes_only_state_dict("vgg11_bn"), resolve("vgg11-bn", "imagenet")) == \
        "missing key 'classifier.1.weight' (of vgg11-bn)"


@pytest.mark.parametrize("layout", ["bare", "state_dict", "model", "module.", "_orig_mod.module.", "no_nbt",
                                    "features.module."])
def test_checkpoint_layouts(tmp_path, layout):
    arch = "vgg11" if layout == "features.module." else "resnet18"
    sd = shapes_only_state_dict(arch, fill=0.5)
    body = {k: v for k, v in sd.items() if layout != "no_nbt" or not k.endswith("num_batches_tracked")}
    if layout == "features.module.":  # the PyTorch ImageNet example wraps a VGG's features in DataParallel
        body = {k.replace("features.", layout): v for k, v in body.items()}
    elif layout.endswith("."):
        body = {layout + k: v for k, v in body.items()}
    obj = {"epoch": 90, "arch": arch, layout: body} if layout in ("state_dict", "model") else body
    torch.save(obj, tmp_path / "c.pth")
    found = read_state_dict(tmp_path / "c.pth")
    assert sorted(found) == sorted(k for k in sd if layout != "no_nbt" or not k.endswith("num_batches_tracked"))
    assert infer_spec(found).name == arch
    if layout == "no_nbt":
        state = import_weights(tmp_path / "c.pth", "resnet18").state_dict()
        assert state["layer4.1.bn2.running_var"].eq(0.5).all() and state["fc.weight"].is_contiguous()
        assert int(state["bn1.num_batches_tracked"]) == 0


def _bad_files(tmp):
    sd = shapes_only_state_dict("resnet18")
    files = {
        "missing": {k: v for k, v in sd.items() if k != "layer2.0.downsample.0.weight"},
        "extra": {**sd, "layer5.0.conv1.weight": torch.zeros(1)},
        "shape": {**sd, "layer3.1.conv2.weight": torch.zeros(256, 256, 1, 1)},
        "head10": {**sd, "fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)},
        "nan": {**sd, "layer1.0.bn1.running_var": torch.full((64,), float("nan"))},
        "int": {**sd, "conv1.weight": torch.zeros(64, 3, 7, 7, dtype=torch.int64)},
        "entry": {**sd, "epoch": 3},
        "good": sd,
    }
    for name, obj in files.items():
        torch.save(obj, tmp / f"{name}.pth")
    (tmp / "text.pth").write_text("conv1.weight: 1 2 3\n")
    torch.save([1, 2], tmp / "list.pth")
    torch.save({}, tmp / "empty.pth")


BAD = [
    ("missing.pth", "resnet18", "missing key 'layer2.0.downsample.0.weight' (of resnet18)"),
    ("extra.pth", "resnet18", "unexpected key 'layer5.0.conv1.weight' (resnet18 has no such tensor)"),
    ("shape.pth", "resnet18", "'layer3.1.conv2.weight' has shape 256x256x1x1, resnet18 needs 256x256x3x3"),
    ("head10.pth", None, "'fc.weight' has shape 10x512, resnet18 needs 1000x512 (a head for 10 classes"),
    ("nan.pth", "resnet18", "'layer1.0.bn1.running_var' contains NaN or infinity"),
    ("int.pth", "resnet18", "'conv1.weight' holds int64 values, resnet18 needs float32"),
    ("entry.pth", "resnet18", "entry 'epoch' (int) is not a tensor"),
    ("text.pth", "resnet18", "not a file written by torch.save"),
    ("list.pth", None, "is not a state_dict (a dictionary of tensors)"),
    ("empty.pth", None, "holds no tensors"),
    ("good.pth", "resnet34", "missing key 'layer1.2.conv1.weight' (of resnet34); the file matches 'resnet18' "
                             "(--arch resnet18)"),
    ("good.pth", "vgg16-bn", "missing key 'features.0.weight' (of vgg16-bn)"),
    ("good.pth", "resnet56", "unknown architecture 'resnet56' for dataset 'imagenet'"),
    ("missing.pth", None, "matches no ImageNet architecture prunelab knows; the closest, 'resnet18', differs: "
                          "missing key 'layer2.0.downsample.0.weight'"),
]


@pytest.mark.parametrize("file,arch,message", BAD, ids=[f"{f}-{a}" for f, a, _ in BAD])
def test_bad_checkpoints_are_one_line_naming_the_key(capsys, tmp_path, file, arch, message):
    _bad_files(tmp_path)
    code, out, err = run(capsys, "import-weights", tmp_path / file, *(["--arch", arch] if arch else []),
                         "--out", tmp_path / "m.pt")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert not (tmp_path / "m.pt").exists()


def test_the_output_is_not_the_input(capsys, tmp_path):
    _bad_files(tmp_path)
    code, _, err = run(capsys, "import-weights", tmp_path / "good.pth", "--out", tmp_path / "good.pth")
    assert code == 2 and "is the input checkpoint" in err
    prunelab.save(prunelab.build(prunelab.spec("vgg11", "cifar10", width=0.125)), tmp_path / "p.pt")
    with pytest.raises(PrunelabError, match="already a prunelab model file"):
        import_weights(tmp_path / "p.pt")
