"""Progress bars (tqdm): lively on a terminal, sparse in a log file."""
from __future__ import annotations

import sys


def progress_bar(**kw):
    from tqdm.auto import tqdm

    kw.setdefault("mininterval", 0.5 if sys.stderr.isatty() else 20.0)
    kw.setdefault("dynamic_ncols", True)
    return tqdm(**kw)
