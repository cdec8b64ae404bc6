import os

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNELAB_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("PRUNELAB_DATA", raising=False)
    yield


def fashion_available() -> bool:
    return os.path.isfile("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
