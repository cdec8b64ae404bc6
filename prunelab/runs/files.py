"""File-level helpers of the run store: operating-system locks (a dead worker releases its own),
leftovers of interrupted atomic writes, and broken files moved aside (never deleted)."""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from ..errors import Busy, PrunelabError, warn


@contextlib.contextmanager
def locked(d: Path, name: str = ".lock", wait: bool = True, what: str | None = None):
    """An exclusive lock on ``d/name``: waits for it, or raises ``Busy`` at once with ``wait=False``.

    These are the operating system's file locks (``fcntl.flock``): a worker that dies, however it
    dies, releases its locks (on NFSv4 when its lease expires), so a later worker takes the run
    over. The lock file names its holder (host, pid, since) for messages.
    """
    d.mkdir(parents=True, exist_ok=True)
    with open(d / name, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise Busy(f"{what or 'run ' + d.name} is being worked on by {holder}")
        except OSError as e:
            raise PrunelabError(f"cannot lock {d / name}: {e.strerror} (the store needs a filesystem with file "
                                "locks: a local disk or NFSv4)")
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        yield


def lock_held(d: Path, name: str = ".lock") -> bool:
    """Whether another process holds the lock ``d/name`` now (checked without writing anything)."""
    try:
        with open(d / name) as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes
    except BlockingIOError:
        return True
    except OSError:  # no lock file: nobody has worked on it
        return False
    return False


def remove_temporaries(d: Path, names: tuple[str, ...]) -> None:
    """Delete what interrupted atomic writes of these files left behind (call with their lock held)."""
    for name in names:
        for tmp in d.glob(f".{name}.*.tmp"):
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass


def set_aside(paths: list[Path], why: str) -> None:
    """Move broken files out of the way (kept for inspection, never deleted) with one warning."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved = []
    for p in paths:
        try:
            os.replace(p, p.with_name(f"{p.name}.broken-{stamp}"))
            moved.append(p.name)
        except FileNotFoundError:  # not there, or another worker moved it first
            pass
    if moved:
        warn(f"{paths[0].parent}: {why}; moved aside {', '.join(moved)} (suffix .broken-{stamp}); it will be rebuilt")
