"""prunelab leaderboard: Holm's correction, the verdicts, and a tiny leaderboard run twice (the
second run trains nothing; the large models and scratch baselines of one target are one set of runs
for every method)."""
import subprocess
import sys

import pytest
import yaml

from prunelab.report.leaderboard import holm, verdict


def test_holm_matches_its_definition_on_a_worked_case():
    # sorted p: 0.01, 0.02, 0.03, 0.5 -> 4 x 0.01, max(0.04, 3 x 0.02), max(0.06, 2 x 0.03), max(0.06, 1 x 0.5)
    assert holm([0.03, 0.5, 0.01, 0.02]) == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone
    assert holm([]) == []


def _c(diff, p_holm):
    return {"diff": diff, "p_holm": p_holm}


def test_verdicts_use_the_corrected_p_values():
    assert verdict({"scratch-b": _c(1, 0.01), "random": _c(1, 0.02)}) == "beats all baselines"
    assert verdict({"scratch-b": _c(-1, 0.01), "random": _c(1, 0.01)}) == "worse than Scratch-B"
    assert verdict({"scratch-b": _c(1, 0.2), "random": _c(1, 0.01)}) == "no better than scratch (beats random channels)"
    assert verdict({"scratch-b": _c(1, 0.2), "random": _c(-1, 0.3)}) == "not distinguishable from any baseline"
    assert verdict({"scratch-b": _c(1, 0.01), "uniform": _c(1, 0.3)}) == "beats Scratch-B; not uniform"
    assert verdict({"scratch-b": {"diff": 1, "p_holm": None}}).startswith("cannot be judged")


BOARD = {
    "name": "lb-tiny", "dataset": "fashion-mnist", "data": {"train_subset": 256, "test_subset": 128, "augment": False},
    "models": [{"arch": "vgg11", "width": 0.125, "targets": [0.5]}], "seeds": [0, 1],
    "recipe": {"epochs": 1, "batch_size": 64, "lr": 0.05}, "finetune": {"epochs": 1, "lr": 0.001, "schedule": "constant"},
    "leaderboard": {"methods": [{"method": "l1-norm"}, {"method": "fpgm"}, {"method": "hrank", "images": 64}],
                    "baselines": ["scratch-b", "random"]},
}


def _leaderboard(tmp_path, *more):
    f = tmp_path / "lb.yaml"
    f.write_text(yaml.safe_dump(BOARD))
    p = subprocess.run([sys.executable, "-m", "prunelab", "leaderboard", str(f), "--store", str(tmp_path / "store"),
                        "--out", str(tmp_path / "out"), "--quiet", *more], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p


def _plan_lines(tmp_path) -> dict[str, list[str]]:
    out = _leaderboard(tmp_path, "--plan").stdout.splitlines()
    return {line.split()[0]: line.split()[1:] for line in out[2:-1]}


def test_a_tiny_leaderboard_writes_its_table_and_resumes_without_training(tmp_path):
    # planned first: the large models and shared baselines under the first method, each other method's
    # Fine-tuned runs only; nothing finished yet
    planned = _plan_lines(tmp_path)
    assert [v[:2] for v in planned.values()] == [["8", "0"], ["2", "0"], ["2", "0"]]
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())
    _leaderboard(tmp_path)
    text = (tmp_path / "out" / "leaderboard.md").read_text()
    for m in ("| l1-norm |", "| fpgm |", "| hrank(images=64) |"):
        assert m in text
    assert "3 methods, 6 comparisons" in text and "Holm" in text
    csv = (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()
    assert len(csv) == 4 and "scratch-b_p_holm" in csv[0] and "random_p_holm" in csv[0]
    assert (tmp_path / "out" / "leaderboard.png").stat().st_size > 10_000
    runs = sorted(p.name for p in (tmp_path / "store").iterdir() if (p / "result.json").is_file())
    # 2 large models, Scratch-B x 2 and random channels x 2 (one draw at the target's widths, shared by
    # the 3 methods of one predefined target), 3 x 2 Fine-tuned
    assert len(runs) == 2 + 2 + 2 + 3 * 2
    stamps = {r: (tmp_path / "store" / r / "result.json").stat().st_mtime_ns for r in runs}
    _leaderboard(tmp_path)
    assert {r: (tmp_path / "store" / r / "result.json").stat().st_mtime_ns for r in runs} == stamps
    assert all(v[0] == v[1] and v[3] == "0.000" for v in _plan_lines(tmp_path).values())  # all finished


def test_a_leaderboard_file_names_its_problems_in_one_line(tmp_path):
    for change, msg in (({"leaderboard": None}, "needs a 'leaderboard:' section"),
                        ({"leaderboard": {"methods": []}}, "leaderboard.methods must list methods"),
                        ({"leaderboard": {"methods": [{"method": "fpgm"}, {"method": "fpgm"}]}}, "lists 'fpgm' twice"),
                        ({"prune": {"method": "fpgm"}}, "not 'prune'")):
        f = tmp_path / "bad.yaml"
        f.write_text(yaml.safe_dump({**BOARD, **change}))
        p = subprocess.run([sys.executable, "-m", "prunelab", "leaderboard", str(f), "--store", str(tmp_path / "s"),
                            "--out", str(tmp_path / "o")], capture_output=True, text=True)
        assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and msg in p.stderr, p.stderr
