"""Issue 5's equivalences: selection layer, BN folding, exported files, the multi-run trainer."""
import importlib.util

import pytest
import torch
from torch import nn

from helpers import randomise_bn
from prunelab.arch import ArchSpec, build, resolve
from prunelab.arch.layers import ChannelSelection
from prunelab.data import DataSettings, load
from prunelab.export import export, fold_selections, for_inference
from prunelab.measure.latency import latency
from prunelab.train import Recipe, train
from prunelab.train.multi import train_many


def selected_preresnet():
    d = resolve("preresnet110", "cifar10", width=0.5).to_dict()
    d["layout"]["blocks"][0][1][0] = [0, 2, 5, 7, 9]
    d["layout"]["blocks"][2][3][0] = 40
    d["layout"]["final_select"] = [1, 3, 4, 100, 120]
    return randomise_bn(build(ArchSpec.from_dict(d), seed=0), bias_scale=0.1).eval()


def test_selection_layer_identity_partial_and_folded():
    x = torch.randn(2, 6, 4, 4)
    ident = ChannelSelection(6, None)
    assert ident(x) is x  # free when it selects everything
    part = ChannelSelection(6, [0, 3, 5])
    assert torch.equal(part(x), x[:, [0, 3, 5]])
    model = selected_preresnet().double()  # float64: equivalence of structure, not of rounding
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        want = model(x)
        folded = fold_selections(__import__("copy").deepcopy(model))
        assert all(m.indices is None for m in folded.modules() if isinstance(m, ChannelSelection))
        assert (folded(x) - want).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["vgg16", "resnet56", "densenet-bc100"])
def test_bn_folding_equivalence(name):
    model = randomise_bn(build(resolve(name, "cifar10", width=0.5), seed=1), bias_scale=0.1).eval().double()
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    inf = for_inference(model)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in inf.modules())
    assert n_bn < sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    with torch.no_grad():
        assert (inf(x) - model(x)).abs().max().item() <= 1e-5
    if name != "densenet-bc100":  # conv -> BN everywhere: every BN folds (pre-activation BNs cannot)
        assert n_bn == 0


def test_exported_files_match_the_model(tmp_path):
    model = selected_preresnet()
    formats = ["torchscript", "export"]
    if importlib.util.find_spec("onnxscript") and importlib.util.find_spec("onnxruntime"):
        formats.append("onnx")
    files = export(model, tmp_path, formats=formats)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
        scale = want.abs().max().item()  # float32 files: compare relative to the output's scale
        ts = torch.jit.load(str(files["torchscript"]))
        assert (ts(x) - want).abs().max().item() <= 1e-5 * scale
        ep = torch.export.load(str(files["export"])).module()
        assert (ep(x) - want).abs().max().item() <= 1e-5 * scale
    if "onnx" in files:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(files["onnx"]), providers=["CPUExecutionProvider"])
        got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        assert abs(got - want.numpy()).max() <= 1e-5 * scale
    assert not list(tmp_path.glob(".*.tmp"))


def test_latency_measures_the_model(monkeypatch):
    """What latency measures: forward passes of the model on a batch of its input shape, warm-up
    excluded, their median. The clock is a stand-in (the k-th forward pass "takes" k/1024 s), so no
    wall-clock time is read: the figures live in benchmarks/ and docs/performance.md."""
    import prunelab.measure.latency as latency_module

    clock = {"t": 0.0, "passes": 0}

    def forward_takes_time(m, i, o):
        clock["passes"] += 1
        clock["t"] += clock["passes"] / 1024  # dyadic: the arithmetic below is exact

    monkeypatch.setattr(latency_module.time, "perf_counter", lambda: clock["t"])
    small = build(resolve("vgg11", "cifar10", width=0.125)).eval()
    seen = []
    small.register_forward_hook(lambda m, i, o: seen.append((tuple(i[0].shape), torch.is_grad_enabled())))
    small.register_forward_hook(forward_takes_time)
    a = latency(small, 8, repeats=5, warmup=2)  # the measured copy keeps the hooks: each call is seen
    # timed passes 3..7 take 3/1024 .. 7/1024 s: the median is the 5th pass's
    assert a["batch"] == 8 and a["repeats"] == 5 and a["median_ms"] == 1000 * 5 / 1024
    assert a["img_s"] == 8 / a["median_ms"] * 1000
    assert seen == [((8, 3, 32, 32), False)] * 7  # 2 warm-up + 5 timed passes, without autograd
    clock.update(t=0.0, passes=0)
    c = latency(small, 8, precision="bf16", channels_last=True, repeats=3, warmup=1)
    assert c["precision"] == "bf16" and c["median_ms"] == 1000 * 3 / 1024  # passes 2..4: the 3rd's
    w = next(small.parameters())  # the measured copy was converted, not the caller's model
    assert w.dtype == torch.float32 and w.is_contiguous()
    with pytest.raises(ValueError, match="fp32 or bf16"):
        latency(small, 8, precision="fp16")


def test_multi_run_trainer_matches_separate_runs():
    """The vectorised trainer is the same algorithm as ``train``: compared in float64, where the two
    kernels' different summation orders leave differences of a few float64 ulps of the values summed
    (magnified by 8 steps of training), so the bound below is far under any algorithmic difference
    (a missing weight decay of 5e-4 would move weights by ~1e-5 here)."""
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    spec = resolve("resnet20", "synthetic", width=0.25)
    recipes = [Recipe(epochs=2, batch_size=16, lr=0.05), Recipe(epochs=2, batch_size=16, lr=0.02, momentum=0.5),
               Recipe(epochs=2, batch_size=16, lr=0.05, weight_decay=5e-4), Recipe(epochs=2, batch_size=32, lr=0.05)]
    seeds = [0, 1, 2, 3]
    separate = []
    for r, s in zip(recipes, seeds):
        m = build(spec, seed=s).double()
        res = train(m, data, r, seed=s)
        separate.append((m.state_dict(), res.final_top1))
    many = [build(spec, seed=s).double() for s in seeds]
    results = train_many(many, data, recipes, seeds)  # 8 steps for the bs-16 group, 4 for bs 32
    eps = torch.finfo(torch.float64).eps
    for (ref, top1), m, res in zip(separate, many, results):
        sd = m.state_dict()
        assert sd.keys() == ref.keys()
        for k in ref:  # parameters and BN buffers (running mean/var, batch counter)
            if not ref[k].is_floating_point():
                assert torch.equal(sd[k], ref[k]), k
                continue
            scale = max(ref[k].abs().max().item(), 1.0)
            assert (sd[k] - ref[k]).abs().max().item() <= 1e6 * eps * scale, k  # 2.2e-10
        assert res.final_top1 == pytest.approx(top1, abs=1 / 256 + 1e-9)


def test_compiled_training_matches_eager():
    """recipe.compile trains the same model as eager (same data order, same updates up to float rounding)."""
    data = load(DataSettings("synthetic", synthetic_size=(64, 32)))
    spec = resolve("resnet20", "synthetic", width=0.25)
    eager, compiled = build(spec, seed=0), build(spec, seed=0)
    start = {k: v.clone() for k, v in eager.state_dict().items()}
    a = train(eager, data, Recipe(epochs=2, batch_size=16, lr=0.05, channels_last=True), seed=0)
    b = train(compiled, data, Recipe(epochs=2, batch_size=16, lr=0.05, channels_last=True, compile=True), seed=0)
    assert a.images_seen == b.images_seen == 128
    moved = 0
    for k, ref in eager.state_dict().items():
        got = compiled.state_dict()[k]
        torch.testing.assert_close(got, ref, rtol=1e-3, atol=2e-4, msg=k)  # fused kernels round differently
        moved += not torch.equal(got, start[k])
    assert moved > len(start) // 2  # the parameters of the compiled run are the model's and were trained
