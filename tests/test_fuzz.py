"""Generated bad input (Hypothesis): experiment files through `plan` and `train --config`, and argument
vectors for every command. Whatever comes in, prunelab answers with its own one-line error (exit 2)
or accepts the input — never a traceback. Checked in-process, with training replaced by a stop
signal so that accepted input costs nothing."""
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import prunelab
from prunelab.arch import build, resolve
from prunelab.cli import build_parser, main

SETTINGS = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 60)), deadline=None, suppress_health_check=list(HealthCheck), derandomize=not __import__("os").environ.get("FUZZ_RANDOM"))


class WouldTrain(Exception):
    """Raised where real work would start: the input was accepted."""


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    def stop(*a, **k):
        raise WouldTrain

    monkeypatch.chdir(tmp_path)  # generated paths (--out cpu, ...) land in the test's folder

    monkeypatch.setattr("prunelab.runs.store.train", stop)
    monkeypatch.setattr("prunelab.runs.execution.execute_together", stop)
    monkeypatch.setattr("prunelab.export.export", stop)


def outcome(capsys, argv) -> str:
    capsys.readouterr()  # what earlier examples printed
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: usage errors
        code = e.code
    except WouldTrain:
        return "accepted"
    out = capsys.readouterr()
    if code == 0:
        return "accepted"
    assert code == 2, (argv, code, out.err)
    lines = [ln for ln in out.err.splitlines() if ln.strip() and not ln.startswith("prunelab: warning:")]
    assert len(lines) == 1 and "Traceback" not in out.err, (argv, out.err)
    return "refused"


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**7), st.sampled_from([0, 1, 2, 64, 0.5, 0.0, -0.5, 1.5]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
    st.sampled_from(["vgg11", "resnet20", "resnet56-B", "l1-norm", "random", "step", "cosine", "fp32", "M"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)

TEMPLATE = {
    "name": "fuzz", "dataset": "synthetic", "data": {"synthetic_size": [64, 32]},
    "models": [{"arch": "vgg11", "width": 0.125, "targets": [0.5]}],
    "prune": {"method": "l1-norm"}, "seeds": [0],
    "recipe": {"epochs": 1, "batch_size": 32, "lr": 0.05},
    "finetune": {"epochs": 1, "lr": 0.001, "schedule": "constant"},
}
KEYS = [*TEMPLATE, "regimes", "scratch_b", "description", "extra"]


@st.composite
def experiments(draw):
    exp = yaml.safe_load(yaml.safe_dump(TEMPLATE))
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=3, unique=True)):
        exp[key] = draw(values)  # a top-level setting replaced by anything
    for where in draw(st.lists(st.sampled_from(["recipe", "data", "models", "prune", "finetune"]), max_size=2)):
        inner = exp.get(where)
        target = inner[0] if isinstance(inner, list) and inner and isinstance(inner[0], dict) else inner
        if isinstance(target, dict):  # a nested setting replaced or added
            target[draw(st.sampled_from(["epochs", "lr", "batch_size", "milestones", "arch", "targets", "width",
                                         "train_subset", "method", "selection", "momentum", "cap", "x"]))] = \
                draw(values)
    if draw(st.booleans()):
        exp.pop(draw(st.sampled_from(list(exp))), None)
    return exp


def _write(obj) -> str:
    d = Path(tempfile.mkdtemp(prefix="prunelab-fuzz-"))
    text = obj if isinstance(obj, str) else yaml.safe_dump(obj, allow_unicode=True)
    (d / "f.yaml").write_text(text)
    return str(d / "f.yaml")


@SETTINGS
@given(exp=experiments())
def test_generated_experiment_files_through_plan_and_run(exp, capsys, no_work, tmp_path):
    path = _write(exp)
    result = outcome(capsys, ["plan", path, "--store", str(tmp_path / "s")])
    if result == "accepted":  # a valid file: running it reaches training
        assert outcome(capsys, ["run", path, "--store", str(tmp_path / "s"), "--quiet", "--device", "cpu"]) \
            in ("accepted", "refused")


TRAIN_KEYS = ["arch", "dataset", "head", "width", "init", "seed", "train_subset", "val_size", "test_subset",
              "augment", "recipe", "zzz"]


@SETTINGS
@given(cfg=st.dictionaries(st.sampled_from(TRAIN_KEYS), values, max_size=4),
       recipe=st.dictionaries(st.sampled_from(["epochs", "lr", "batch_size", "milestones", "warmup_epochs",
                                               "warmup_lr", "gamma", "momentum", "schedule", "precision", "q"]),
                              values, max_size=3))
def test_generated_train_configs(cfg, recipe, capsys, no_work, tmp_path):
    base = {"arch": "vgg11", "width": 0.125, "dataset": "synthetic", "recipe": {"epochs": 1, **recipe}}
    path = _write({**base, **cfg})
    outcome(capsys, ["train", "--config", path, "--store", str(tmp_path / "s"), "--quiet", "--device", "cpu"])


def _options(command: str) -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices[command]
    return [o for a in sub._actions for o in a.option_strings if o not in ("-h", "--help")]


COMMANDS = ["arch", "train", "runs", "prune", "plan", "run", "report", "demo", "export", "import-weights", "pattern",
            "judge"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzzfiles")
    prunelab.save(build(resolve("vgg11", "synthetic", width=0.125), seed=0), d / "model.pt")
    (d / "binary.yaml").write_bytes(bytes(range(256)))
    (d / "text.pt").write_text("not a model")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "grid.yaml").write_text(yaml.safe_dump(TEMPLATE))
    (d / "folder").mkdir()
    return d


@SETTINGS
@given(command=st.sampled_from(COMMANDS), data=st.data())
def test_generated_argument_vectors(command, data, files, capsys, no_work, tmp_path):
    pool = ["", "-1", "0", "0.5", "1", "2", "nan", "inf", "-inf", "1e309", "vgg11", "resnet56-B", "resnet60002",
            "synthetic", "cifar10", "imagenet", "cpu", "tpu", "l1-norm", "nope:X", "{ratio: 2}", "[1, 2]",
            "/nonexistent/x", "/proc/version", str(files / "model.pt"), str(files / "binary.yaml"),
            str(files / "text.pt"), str(files / "list.yaml"), str(files / "grid.yaml"), str(files / "folder"),
            str(tmp_path / "new" / "out"), "a=b", "target=0.5"]
    tokens = data.draw(st.lists(st.one_of(st.sampled_from(_options(command)), st.sampled_from(pool),
                                          st.text(max_size=4)), max_size=6))
    quiet = ["--quiet"] if command in ("train", "run", "demo", "judge") else []
    outcome(capsys, [command, *tokens, *quiet])
