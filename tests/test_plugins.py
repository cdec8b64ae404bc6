"""Trusting what a plug-in method gives (issue 21): its output is checked before it is used, an
exception in its code is reported with its own frames and one line naming the method and the step,
and its code is part of what its results mean."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prunelab.cli import main

ROOT = Path(__file__).parents[1]
EXP = """
name: plug
dataset: synthetic
data: {synthetic_size: [64, 32]}
models:
  - {arch: vgg11, width: 0.125, targets: [0.5]}
prune: {method: MOD:Scored}
regimes: [finetune, scratch-e]
seeds: [0]
recipe: {epochs: 1, batch_size: 32, lr: 0.05}
finetune: {epochs: 1, lr: 0.001, schedule: constant}
"""
PLUGIN = '''
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from prunelab.methods.l1_norm import L1Norm
from prunelab.train import Hooks


@dataclass(frozen=True)
class Params:
    target: Any = None


def helper(conv):
    SCORE


class Boom(Hooks):
    def after_backward(self, model):
        raise RuntimeError("the hook broke")


class Scored(L1Norm):
    Params = Params

    def score(self, conv: nn.Conv2d) -> torch.Tensor:
        return helper(conv)

    def rule(self, params):
        return "largest"

    HOOKS
'''
SCORES = {
    "one too few": ("return conv.weight.detach().abs().sum(dim=(1, 2, 3))[:-1]", "7 scores for 8 channels"),
    "one NaN": ("s = conv.weight.detach().abs().sum(dim=(1, 2, 3)); s[3] = float('nan'); return s",
                "1 of 8 scores are NaN or infinite (channel 3: nan)"),
    "all NaN": ("return torch.full((conv.out_channels,), float('nan'))", "all scores are NaN or infinite"),
    "a matrix": ("return torch.ones(conv.out_channels, conv.out_channels)", "must be 1-D (one per channel), not of "
                                                                            "shape (8, 8)"),
    "a list": ("return [1.0] * conv.out_channels", "the scores must be a tensor, not list"),
}


def _plugin(tmp_path, name, score, hooks=""):
    (tmp_path / f"{name}.py").write_text(PLUGIN.replace("SCORE", score).replace("HOOKS", hooks))
    (tmp_path / "e.yaml").write_text(EXP.replace("MOD", name))


@pytest.mark.parametrize("case", list(SCORES))
def test_a_broken_scorer_is_one_line_naming_the_method_and_the_layer(tmp_path, monkeypatch, capsys, case):
    score, want = SCORES[case]
    name = "bad_" + case.replace(" ", "_")
    _plugin(tmp_path, name, score)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", str(tmp_path / "e.yaml"), "--store", str(tmp_path / "s"), "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert f"method '{name}:Scored' in prune step " in err[0] and "layer 'features.0'" in err[0] and want in err[0]
    assert not list((tmp_path / "s" / "pruned").glob("*.pt"))  # nothing pruned was written


def test_an_exception_in_plugin_code_shows_only_its_frames(tmp_path, monkeypatch, capsys):
    _plugin(tmp_path, "raising", "raise ValueError('no score for you')")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", str(tmp_path / "e.yaml"), "--store", str(tmp_path / "s"), "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[0].startswith("Traceback of the plug-in's code")
    assert "raising.py" in err and "in helper" in err and "in score" in err
    assert "prunelab/" not in err.replace("prunelab/methods/l1_norm", "")  # none of prunelab's internal frames
    assert lines[-1].startswith("prunelab run: error: method 'raising:Scored' raised ValueError in prune step ")
    assert lines[-1].endswith(": no score for you")


def test_an_exception_in_a_plugin_hook_names_the_run(tmp_path, monkeypatch, capsys):
    hooks = "def hooks(self, params):\n        return Boom()"
    _plugin(tmp_path, "hooked", "return conv.weight.detach().abs().sum(dim=(1, 2, 3))", hooks)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", str(tmp_path / "e.yaml"), "--store", str(tmp_path / "s"), "--quiet", "--device", "cpu"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "in after_backward" in "\n".join(lines) and "raise RuntimeError" in "\n".join(lines)
    assert lines[-1].startswith("prunelab run: error: method 'hooked:Scored' raised RuntimeError in a training hook "
                                "of run vgg11-w0.125-random-hooked_Scored-")
    assert lines[-1].endswith(": the hook broke")


def test_a_result_of_other_plugin_code_is_never_reused(tmp_path):
    """Editing the plug-in's scorer: `plan` shows its prune step and Fine-tuned run as new (and says
    why); Scratch-E of the planned architecture does not depend on the scorer and stays finished."""
    _plugin(tmp_path, "editable", "return conv.weight.detach().abs().sum(dim=(1, 2, 3))")
    env = {"PYTHONPATH": f"{ROOT}:{tmp_path}", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}

    def prunelab(*argv):
        r = subprocess.run([sys.executable, "-m", "prunelab", *argv], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        return r.stdout

    store = str(tmp_path / "s")
    prunelab("run", str(tmp_path / "e.yaml"), "--store", store, "--quiet", "--device", "cpu")
    before = {r["regime"]: r for r in json.loads(prunelab("plan", str(tmp_path / "e.yaml"), "--store", store,
                                                          "--json"))}
    assert all(r["state"] == "finished" for r in before.values())
    _plugin(tmp_path, "editable", "return -conv.weight.detach().abs().sum(dim=(1, 2, 3))")  # the rule inverted
    after = {r["regime"]: r for r in json.loads(prunelab("plan", str(tmp_path / "e.yaml"), "--store", store,
                                                         "--json"))}
    assert after["baseline"]["state"] == "finished" and after["scratch-e"]["state"] == "finished"
    assert after["finetune"]["state"] != "finished" and after["finetune"]["run_id"] != before["finetune"]["run_id"]
    text = prunelab("plan", str(tmp_path / "e.yaml"), "--store", store)
    assert "note: prune step editable_Scored-s0-" in text and "now runs code sha256:" in text
    # a method that declares a version is named by it: editing its code without a new version is on its author
    (tmp_path / "versioned.py").write_text(textwrap.dedent("""
        from editable import Scored

        class Versioned(Scored):
            version = "1.0"
    """))
    import prunelab.methods as methods
    sys.path.insert(0, str(tmp_path))
    try:
        assert methods.get("versioned:Versioned").code(None) == "version:1.0"
        assert methods.get("l1-norm").code(None) is None  # built in: prunelab's version covers it
    finally:
        sys.path.remove(str(tmp_path))


def test_bad_masks_and_kept_indices_are_refused(tmp_path):
    import torch

    from prunelab import methods
    from prunelab.arch import build, resolve
    from prunelab.errors import PrunelabError

    model = build(resolve("vgg11", "synthetic", width=0.125), seed=0)
    m = methods.get("magnitude")
    r = m.prune(model, m.params({"target": 0.5}), methods.PruneData("synthetic", 0))
    r.model.masks = {k: v.float() for k, v in r.model.masks.items()}  # 0/1 floats, not bools
    with pytest.raises(PrunelabError, match="the mask of 'features.0.weight' must be a bool tensor"):
        methods.check_result(m, model, r, None)
    l1 = methods.get("l1-norm")
    r = l1.prune(model, l1.params({"target": 0.5}), methods.PruneData("synthetic", 0))
    for bad, why in (([0, 0, 1, 2], "distinct"), ([0, 1, 2, 99], "distinct and in"), ([0.0, 1.0], "whole numbers")):
        r.kept["features.0"] = bad
        with pytest.raises(PrunelabError, match=f"kept of 'features.0'.*{why}"):
            methods.check_result(l1, model, r, None)
    assert torch.is_tensor(next(model.parameters()))


def test_the_guides_plugin_test_runs(tmp_path, monkeypatch):
    """docs/extending.md's pytest example, on its APoZ example method."""
    import re

    text = (ROOT / "docs" / "extending.md").read_text()
    module, test = re.findall(r"```python\n(.*?)```", text, re.S)[:2]
    assert "def test_my_method_prunes_half_of_the_filters" in test
    (tmp_path / "my_method.py").write_text(module)
    code = ("from prunelab.data import DataSettings, load\nfrom prunelab.measure import count\n"
            + test.replace("path/to/your/folder", str(tmp_path)))
    scope: dict = {}
    exec(compile(code, "extending.md", "exec"), scope)
    scope["test_my_method_prunes_half_of_the_filters"](monkeypatch)
