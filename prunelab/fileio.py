"""Atomic file writes and safe checkpoint loading: a kill never leaves a half-written file."""
from __future__ import annotations

import io
import json
import os
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import PrunelabError


def atomic_write_bytes(path: str | os.PathLike, data: bytes, previous: str | os.PathLike | None = None) -> None:
    """Write ``path`` so that a reader sees the old or the new file, never a part of one.

    With ``previous``, the old file is kept under that name (renamed just before the new file
    takes its place).
    """
    path = Path(path)
    if path.is_dir():
        raise PrunelabError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise PrunelabError(f"cannot write {path}: {e.strerror or e}")
    try:
        with os.fdopen(fd, "wb") as f:
            delay = float(os.environ.get("PRUNELAB_TEST_WRITE_DELAY", "0") or 0)
            if delay:  # tests use this to kill a process in the middle of a write
                f.write(data[: len(data) // 2])
                f.flush()
                time.sleep(delay)
                f.write(data[len(data) // 2:])
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise PrunelabError(f"cannot write {path}: {e.strerror or e}")
        raise


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_torch_save(path, obj, previous=None) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue(), previous)


def torch_load(path: str | os.PathLike, what: str = "checkpoint", expect: str = "a prunelab checkpoint") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no code runs), or fail with one line (a file
    that holds no dictionary: "<what> <path> is not <expect>")."""
    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's unpickler warns before failing; the error says it
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not zipfile.is_zipfile(path):
            first = "not a file written by torch.save"
        raise PrunelabError(f"cannot load {what} {path}: {first[:200]}")
    if not isinstance(obj, dict):
        raise PrunelabError(f"{what} {path} is not {expect}")
    return obj


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:  # ValueError: bad JSON and bad UTF-8 alike
        raise PrunelabError(f"cannot read {path}: {e}")


def writable_dir(path, what: str) -> Path:
    """Check before any work that ``path`` is (or can be made) a folder we can write to."""
    if not str(path).strip():
        raise PrunelabError(f"{what}: an empty path")
    path = Path(path)
    for p in [path, *path.parents]:
        try:
            present = p.exists()
        except OSError as e:
            raise PrunelabError(f"{what} {path}: {e.strerror or e}")
        if present:
            if not p.is_dir():
                raise PrunelabError(f"{what} {path}: {p} is a file, not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise PrunelabError(f"{what} {path}: {p} is not writable")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".prunelab-write-test-")
        probe.close()
    except OSError as e:
        raise PrunelabError(f"{what} {path}: cannot write there ({e.strerror or e})")
    return path


def writable_file(path, what: str) -> Path:
    """Check before any work that a file can be written at ``path`` (its folder is made if needed)."""
    if not str(path).strip():
        raise PrunelabError(f"{what}: an empty path")
    path = Path(path)
    if path.is_dir():
        raise PrunelabError(f"{what} {path} is a folder; give a file name")
    writable_dir(path.parent if str(path.parent) else Path("."), f"{what} {path}: folder")
    return path


def file_sha256(path) -> str:
    import hashlib

    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"file not found: {path}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
