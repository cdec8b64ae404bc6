"""How each arm starts: the init registry, and the record of the start every result.json keeps.

The rules come from the reference code of "Rethinking the Value of Network Pruning": masked scratch
runs draw N(0, sqrt(2 / n)) with n = nonzeros(mask) / in_channels (lottery-ticket/weight-level/
cifar_scratch_no_longer.py, cifar/weight-level/cifar_E.py, soft-filter-pruning/
pruning_resnet_scratch.py); slimming's scratch models start their BN scales at 0.5.
"""
import json
import math

import torch

import prunelab
from prunelab.cli import main
from prunelab.protocol import INITS, REGIMES, inits
from prunelab.runs.grid import load_experiment, plan, resolve_run
from prunelab.runs.store import RunStore, initial_model

LOTTERY = """
name: init-lottery
dataset: synthetic
data: {synthetic_size: [64, 32]}
models:
  - {arch: vgg11, width: 0.5, targets: [0.75]}
prune: {method: magnitude}
regimes: [winning-ticket, random-init]
seeds: [0]
recipe: {epochs: 1, batch_size: 32, lr: 0.05}
"""


def _grid(tmp_path, text, name="exp.yaml"):
    cfg = tmp_path / name
    cfg.write_text(text)
    store = RunStore(tmp_path / "store")
    assert main(["run", str(cfg), "--store", str(store.root), "--quiet", "--device", "cpu"]) == 0
    grid = plan(load_experiment(cfg))
    for r in grid.runs:
        resolve_run(grid, r, store)
    return grid, store


def test_every_regime_names_a_registered_init_kind():
    assert {r.init for r in REGIMES.values()} <= set(INITS)
    assert REGIMES["random-init"].init == REGIMES["scratch-e"].init == "random"
    assert REGIMES["winning-ticket"].init == "init" and REGIMES["finetune"].init == "inherit"
    assert all(d["source"] for d in inits.describe())


def test_lottery_random_init_is_scaled_to_the_kept_fan_and_the_ticket_is_the_saved_init(tmp_path, capsys):
    grid, store = _grid(tmp_path, LOTTERY)
    base, ticket, rnd = grid.runs
    init = prunelab.load(store.root / base.settings.run_id() / "init.pt")
    masks = prunelab.load(store.root / "pruned" / f"{ticket.prune.id}.pt").masks
    rec_t = store.result(ticket.settings)["init"]
    rec_r = store.result(rnd.settings)["init"]
    assert rec_t["kind"] == "init" and rec_r["kind"] == "random"
    worst = 0.0
    for name, m in masks.items():
        conv = init.get_submodule(name.rpartition(".")[0])
        want = math.sqrt(2 / (int(m.sum()) / conv.in_channels))  # the reference's n = nonzeros / in_channels
        worst = max(worst, abs(rec_r["std"][name] / want - 1))
        # the winning ticket's weights are the large model's init.pt at the kept positions
        assert rec_t["std"][name] == init.get_parameter(name).detach().double()[m].std().item()
    assert worst <= 0.10, worst
    # at 75% sparsity the dense He std is about half of the kept-fan one: the old rule is far outside 10%
    dense = {n: math.sqrt(2 / (init.get_parameter(n).shape[0] * 9)) for n in masks}
    assert all(rec_r["std"][n] / dense[n] > 1.5 for n in masks if masks[n].float().mean() < 0.4)
    # report --inits shows how each arm started
    assert main(["report", str(store.root), "--inits"]) == 0
    out = capsys.readouterr().out
    assert "Random init" in out and "features.0.weight" in out


def test_slimming_scratch_arms_start_their_bn_scales_at_gamma_init(tmp_path):
    text = (LOTTERY.replace("targets: [0.75]", "targets: [0.5]").replace("vgg11, width: 0.5", "vgg11, width: 0.125")
            .replace("{method: magnitude}", "{method: slimming, lam: 1.0e-4}")
            .replace("[winning-ticket, random-init]", "[finetune, scratch-e, scratch-b]")
            + "finetune: {epochs: 1, lr: 0.001, schedule: constant}\n")
    grid, store = _grid(tmp_path, text)
    recs = {r.regime: store.result(r.settings)["init"] for r in grid.runs}
    for regime in ("baseline", "scratch-e", "scratch-b"):
        assert recs[regime]["bn_gamma"] and set(recs[regime]["bn_gamma"].values()) == {0.5}, regime
    assert recs["scratch-e"]["kind"] == "random" and recs["finetune"]["kind"] == "inherit"
    sb = next(r for r in grid.runs if r.regime == "scratch-b")
    assert sb.settings.init == {"kind": "random", "state": {"method": "slimming", "params": {}}}
    # a gamma_init of another value reaches the scratch arms too
    text2 = text.replace("lam: 1.0e-4", "lam: 1.0e-4, gamma_init: 0.25")
    grid2 = plan(load_experiment(_write(tmp_path / "g.yaml", text2)))
    scratch = next(r for r in grid2.runs if r.regime == "scratch-e")
    assert scratch.settings is None  # found per seed; its init is known once the prune step has run
    assert main(["run", str(tmp_path / "g.yaml"), "--store", str(store.root), "--quiet", "--device", "cpu"]) == 0
    resolve_run(grid2, scratch, store)
    assert set(store.result(scratch.settings)["init"]["bn_gamma"].values()) == {0.25}


def _write(path, text):
    path.write_text(text)
    return path


def test_kept_fan_reinit_follows_the_reference_formula():
    model = prunelab.build(prunelab.spec("vgg11", "cifar10", width=0.5), seed=0)
    g = torch.Generator().manual_seed(0)
    model.masks = {n: torch.rand(p.shape, generator=g) < d
                   for (n, p), d in zip(model.named_parameters(), [0.1, 0.5, 0.9])
                   if n.endswith("weight") and p.dim() == 4}
    inits.kept_fan_reinit(model, 0)
    for name, m in model.masks.items():
        w = model.get_parameter(name)
        want = math.sqrt(2 / (int(m.sum()) / w.shape[1]))
        assert abs(w.detach()[m].std().item() / want - 1) < 0.1


def test_an_sfp_scratch_arm_draws_its_masked_convs_from_the_kept_fan(tmp_path):
    text = (LOTTERY.replace("vgg11, width: 0.5, targets: [0.75]", "resnet20, width: 0.5, targets: [0.5]")
            .replace("{method: magnitude}", "{method: sfp}").replace("[winning-ticket, random-init]", "[scratch-e]"))
    grid = plan(load_experiment(_write(tmp_path / "sfp.yaml", text)))
    store = RunStore(tmp_path / "store")
    assert main(["run", str(tmp_path / "sfp.yaml"), "--store", str(store.root), "--quiet", "--device", "cpu"]) == 0
    scratch = grid.runs[1]
    model = initial_model(scratch.settings, store)
    assert model.masks  # the stem and the blocks' last convs keep masks (half their filters)
    for name, m in model.masks.items():
        w = model.get_parameter(name).detach()
        want = math.sqrt(2 / (int(m.sum()) / w.shape[1]))
        assert abs(w[m].std().item() / want - 1) < 0.15, name  # (the dense init would be 1/sqrt(2) of it)
    rec = store.result(scratch.settings)["init"]
    assert rec["std"]["conv1.weight"] == model.conv1.weight.detach().double()[model.masks["conv1.weight"]].std().item()
    assert json.loads(json.dumps(rec)) == rec
