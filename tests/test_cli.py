"""Bad input: one line on stderr naming the problem, exit code 2, nothing half-written."""
import json
import subprocess
import sys

import pytest

from prunelab.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


BAD = [
    (["arch", "resnet57"], "unknown architecture 'resnet57'"),
    (["arch", "vgg16", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["arch", "resnet56-Z"], "unknown architecture 'resnet56-Z'"),
    (["arch", "missing.json"], "spec file not found"),
    (["train", "--arch", "vgg16", "--dataset", "cifar10", "--epochs", "1"], "no data folder given"),
    (["train", "--arch", "vgg16", "--dataset", "cifar10", "--epochs", "1", "--data", "/nonexistent"], "lacks data_batch_1"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "-1"], "'epochs' must be"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "0"], "0 epochs would only evaluate a randomly"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "1", "--lr", "-1"], "'lr' must be"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "1", "--momentum", "1.5"], "'momentum' must be below 1"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "1", "--batch-size", "0"], "'batch_size' must be"),
    (["train", "--arch", "nope", "--dataset", "synthetic", "--epochs", "1"], "unknown architecture 'nope'"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic"], "number of epochs is required"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "1", "--init", "/no/such.pt"], "file not found"),
    (["train", "--arch", "vgg16", "--dataset", "synthetic", "--epochs", "1", "--device", "tpu"], "unknown device 'tpu'"),
    (["runs", "/no/such/store"], "no run store at"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, *argv, *(["--store", str(tmp_path / "s")] if argv[0] == "train" else []))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    assert not list((tmp_path / "s").glob("*/result.json"))


def test_config_files_are_validated(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    for text, message in [
        ("arch: vgg11\ndataset: synthetic\nrecipe: {epochs: 1, lrr: 0.1}\n", "unknown key 'lrr'"),
        ("arch: vgg11\ndataset: synthetic\nrecipe: {epochs: 'ten'}\n", "'epochs' must be of type int"),
        ("arch: vgg11\ndatset: synthetic\n", "unknown key 'datset'"),
        ("arch: [vgg11\n", "not valid YAML"),
    ]:
        cfg.write_text(text)
        code, _, err = run(capsys, "train", "--config", str(cfg))
        assert code == 2 and message in err, text


def test_wrong_checkpoint_is_refused(capsys, tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    code, _, err = run(capsys, "train", "--arch", "vgg11", "--dataset", "synthetic", "--epochs", "1",
                       "--init", str(tmp_path / "junk.pt"), "--store", str(tmp_path / "s"))
    assert code == 2 and "cannot load model file" in err


def test_inherit_checkpoint_of_another_architecture(capsys, tmp_path):
    import prunelab

    m = prunelab.build(prunelab.spec("resnet20", "synthetic", width=0.25))
    prunelab.save(m, tmp_path / "r20.pt")
    code, _, err = run(capsys, "train", "--arch", "vgg11", "--width", "0.125", "--dataset", "synthetic", "--epochs",
                       "1", "--init", str(tmp_path / "r20.pt"), "--store", str(tmp_path / "s"), "--quiet")
    assert code == 2 and "holds architecture 'resnet20-w0.25', not 'vgg11-w0.125'" in err


def test_train_runs_list_and_help(capsys, tmp_path):
    store = str(tmp_path / "s")
    args = ["train", "--arch", "vgg11", "--width", "0.125", "--dataset", "synthetic", "--epochs", "1",
            "--store", store, "--quiet", "--seed", "2"]
    code, out, err = run(capsys, *args)
    assert code == 0 and "top-1" in out and "starting run" in out
    code, out, err = run(capsys, *args)
    assert "reusing finished run" in out
    code, out, _ = run(capsys, "runs", store, "--json")
    rows = json.loads(out)
    assert len(rows) == 1 and rows[0]["state"] == "finished" and rows[0]["seed"] == 2
    res = subprocess.run([sys.executable, "-m", "prunelab", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "arch" in res.stdout and "train" in res.stdout and "runs" in res.stdout


def test_argparse_errors_exit_2():
    res = subprocess.run([sys.executable, "-m", "prunelab", "arch", "vgg16", "--width", "-2"], capture_output=True,
                         text=True)
    assert res.returncode == 2 and "must be > 0" in res.stderr and "Traceback" not in res.stderr


def test_config_top_level_types(capsys, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("arch: vgg11\ndataset: synthetic\nseed: 'one'\nrecipe: {epochs: 1}\n")
    code, _, err = run(capsys, "train", "--config", str(cfg))
    assert code == 2 and "'seed' must be of type" in err
    code, _, err = run(capsys, "train", "--arch", "vgg11", "--dataset", "synthetic", "--epochs", "1", "--seed", "-3")
    assert code == 2 and "seed must be an integer in [0, 2**63)" in err
