"""What every command group of the command line shares: the data/device/store options and how
an architecture argument (a name or a spec .json) becomes a spec. (``cli.py`` and
``cli_protocol.py`` both import it; neither imports the other's internals.)"""
from __future__ import annotations

import argparse

from .errors import PrunelabError


def add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="data folder (default: $PRUNELAB_DATA; Fashion-MNIST: Debian's package)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    p.add_argument("--store", help="run store folder (default: $PRUNELAB_STORE or ./runs)")


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0: {s}")
    return v


def spec_from(name: str, dataset: str, head=None, width=1.0):
    """A name for the dataset, or a spec .json file as it is (whatever dataset it was made for)."""
    from .arch import resolve, spec_file

    if name.endswith(".json"):
        if width != 1.0 or head is not None:
            raise PrunelabError("--width and --head apply to architecture names, not to a spec file")
        return spec_file(name)
    return resolve(name, dataset, head=head, width=width)
