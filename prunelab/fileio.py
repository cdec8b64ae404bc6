"""Atomic file writes and safe checkpoint loading: a kill never leaves a half-written file, and a
file that changed after it was written (a flipped byte on disk) is caught at load.

Checksums travel inside the file, so a file and its checksum are written in one atomic step:
- a torch file (``atomic_torch_save``) is a zip archive; its end record's comment holds
  ``prunelab-sha256:`` and the SHA-256 of every byte before the digest (``torch.load`` reads such
  a zip as any other);
- a sealed JSON object (``atomic_write_json(..., seal=True)``) holds ``"_sha256"``, the SHA-256 of
  its canonical JSON without that key.
``torch_load`` and ``read_json`` check a checksum wherever one is present (files without one, as
earlier releases wrote them, load as before); a mismatch is a ``Corrupt`` error, which the run store
treats as a broken file (set aside, made again). Files get the permissions the umask allows, as any
file a program creates.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

from .errors import PrunelabError

SEAL = b"prunelab-sha256:"
SEAL_KEY = "_sha256"
MISMATCH = "checksum mismatch (the file changed after it was written)"


class Corrupt(PrunelabError):
    """A file whose checksum does not match its content."""


def _read_umask() -> int:
    mask = os.umask(0)  # (the only way to read it; done once, at import, before any thread writes)
    os.umask(mask)
    return mask


UMASK = _read_umask()


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
        os.fchmod(fd, 0o666 & ~UMASK)  # (mkstemp makes 0600: collaborators sharing a store read it)
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


def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def atomic_write_json(path, obj, seal: bool = False) -> None:
    """Write JSON atomically; with ``seal`` (a dict), with its checksum (``read_json`` checks it)."""
    if seal:
        obj = {**{k: v for k, v in obj.items() if k != SEAL_KEY},
               SEAL_KEY: hashlib.sha256(_canonical({k: v for k, v in obj.items() if k != SEAL_KEY})).hexdigest()}
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def seal_zip(data: bytes) -> bytes:
    """A zip archive (as ``torch.save`` writes it) with its checksum in the end record's comment."""
    if len(data) < 22 or data[-22:-18] != b"PK\x05\x06" or data[-2:] != b"\0\0":
        return data  # not a plain zip without a comment: left as it is (unsealed)
    head = data[:-2] + struct.pack("<H", len(SEAL) + 64) + SEAL
    return head + hashlib.sha256(head).hexdigest().encode()


def check_zip(path, where: str) -> bool:
    """Whether the file carries a checksum (read in chunks, never whole into memory); raise
    ``Corrupt`` if it does not match."""
    n = len(SEAL) + 64
    size = os.path.getsize(path)
    if size < n + 22:
        return False
    with open(path, "rb") as f:
        f.seek(size - n)
        tail = f.read(n)
        if tail[:-64] != SEAL:
            return False
        h, left = hashlib.sha256(), size - 64
        f.seek(0)
        while left > 0:
            chunk = f.read(min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    if h.hexdigest().encode() != tail[-64:]:
        raise Corrupt(f"{where}: {MISMATCH}")
    return True


def atomic_torch_save(path, obj, previous=None) -> None:
    import torch  # here, not at import: the command line's help needs no torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, seal_zip(buf.getvalue()), previous)


def torch_load(path: str | os.PathLike, what: str = "checkpoint", expect: str = "a prunelab checkpoint") -> dict:
    """Load a checkpoint with ``weights_only=True`` (no code runs), or fail with one line (a file
    that holds no dictionary: "<what> <path> is not <expect>")."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"{what} not found: {path}")
    try:
        check_zip(path, f"{what} {path}")
    except OSError as e:
        raise PrunelabError(f"cannot read {what} {path}: {e.strerror or e}")
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
    """A JSON file; a sealed object's checksum is checked (``Corrupt`` if it does not match) and
    its key dropped."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:  # ValueError: bad JSON and bad UTF-8 alike
        raise PrunelabError(f"cannot read {path}: {e}")
    if isinstance(obj, dict) and SEAL_KEY in obj:
        digest = obj.pop(SEAL_KEY)
        if hashlib.sha256(_canonical(obj)).hexdigest() != digest:
            raise Corrupt(f"{path}: {MISMATCH}")
    return obj


def verify_file(path) -> str | None:
    """What is wrong with a store file, without loading its tensors (None: nothing, or no checksum
    to check and it parses). For ``prunelab runs --verify``."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            read_json(path)
            return None
        if not check_zip(path, str(path)) and not zipfile.is_zipfile(path):
            return f"{path}: not a zip archive written by torch.save"
        return None
    except Corrupt:
        return MISMATCH
    except PrunelabError as e:
        return str(e)
    except OSError as e:
        return f"{path}: {e.strerror or e}"


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
    path = Path(path)
    if not path.is_file():
        raise PrunelabError(f"file not found: {path}")
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def find_files(root: str | Path, match) -> list[Path]:
    """The files under ``root`` whose (folder, name) ``match``es, sorted, links to folders not
    followed; a folder that vanishes or cannot be read while it is walked (a process's folder under
    /proc, a run folder another worker is cleaning) is passed over."""
    return sorted(Path(d) / f for d, _, files in os.walk(root, onerror=lambda e: None) for f in files
                  if match(Path(d), f))
