"""Plug-in methods (``module:attribute`` or an entry point): what of their code a result stands on,
and how an error inside their code is reported.

- ``code_id(method)``: for a method whose class is defined outside prunelab, the ``version`` it
  declares or else the SHA-256 of its module's source; it enters the identity of the prune steps
  (and, for training hooks, the large model's run) that the method's code computed, so a result of
  other code is never silently reused. Built-in methods return None: prunelab's version covers them.
- ``guarded(method, where)``: an exception raised inside plug-in code becomes a ``PluginError``
  whose message names the method, the step and the error (exit 2, one line), and which carries the
  traceback frames of the plug-in's own code only (printed above that line), not prunelab's.
"""
from __future__ import annotations

import contextlib
import hashlib
import inspect
import traceback
from pathlib import Path


from ..errors import PrunelabError, first_line

_PRUNELAB = Path(__file__).resolve().parents[1]


class PluginError(PrunelabError):
    """An exception inside a plug-in's code: ``frames`` is the traceback of the plug-in's own frames."""

    def __init__(self, message: str, frames: str = ""):
        super().__init__(message)
        self.frames = frames

    def __reduce__(self):  # picklable: a distributed run raises it on every rank
        return type(self), (str(self), self.frames)


def source_file(method) -> Path | None:
    """The source file of an out-of-package method's class (None for prunelab's own)."""
    try:
        path = Path(inspect.getfile(type(method))).resolve()
    except (TypeError, OSError):
        return None
    return None if _PRUNELAB in path.parents else path


def code_id(method) -> str | None:
    """What identifies an out-of-package method's code: its declared ``version``, else
    ``sha256:<digest of its module's source file>``; None for a built-in method."""
    path = source_file(method)
    if path is None:
        return None
    version = getattr(method, "version", None)
    if version is not None:
        return f"version:{version}"
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _own(path: str, folder: Path) -> bool:
    """A frame of the plug-in's own code: a file in the folder of its method's module."""
    p = Path(path).resolve()
    return folder in p.parents


@contextlib.contextmanager
def guarded(method, where: str):
    """Report an exception raised inside ``method``'s plug-in code as a ``PluginError``."""
    try:
        yield
    except PrunelabError:
        raise
    except Exception as e:  # noqa: BLE001 (anything plug-in code raises)
        src = source_file(method)
        frames = [f for f in traceback.extract_tb(e.__traceback__) if src is not None and _own(f.filename, src.parent)]
        if src is None or not frames:
            raise  # prunelab's own code (or torch's): a bug, with its full traceback
        text = "".join(traceback.format_list(frames))
        raise PluginError(f"method '{method.name}' raised {type(e).__name__} in {where}: {first_line(e, 300)}",
                          text) from e
