"""What every command group of the command line shares: the data/device/store options, how an
architecture argument (a name or a spec .json) becomes a spec, and KEY=VALUE options. (``cli.py``,
``cli_models.py`` and ``cli_protocol.py`` import it; none imports another's internals.)"""
from __future__ import annotations

import argparse

from ..errors import PrunelabError


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
    from ..arch import resolve, spec_file

    if name.endswith(".json"):
        if width != 1.0 or head is not None:
            raise PrunelabError("--width and --head apply to architecture names, not to a spec file")
        return spec_file(name)
    return resolve(name, dataset, head=head, width=width)


def key_values(pairs: list[str], option: str) -> dict:
    """``KEY=VALUE`` options as a mapping, each value read as YAML."""
    out = {}
    for kv in pairs:
        key, eq, value = kv.partition("=")
        if not eq or not key:
            raise PrunelabError(f"{option} {kv!r} must be KEY=VALUE")
        out[key] = yaml_value(value, f"{option} {key}")
    return out


def yaml_value(text: str, what: str):
    """A command-line value: a number (1e-1 included), else YAML (a name, a list, a mapping)."""
    import math

    from ..config import load_yaml_text

    try:
        v = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(v):
            raise PrunelabError(f"{what}: {text!r} is not a finite number")
        return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v
    return load_yaml_text(text, what)


def add_logger_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--logger", action="append", choices=["csv", "tensorboard", "mlflow"], metavar="KIND",
                   help="also log every trained run's metrics per epoch: csv (metrics.csv in its folder), tensorboard "
                        "(<run>/tb) or mlflow (default store: file:STORE/mlruns); repeatable")
    p.add_argument("--log-every", type=int, default=0, metavar="N",
                   help="with --logger: also log the train loss every N optimiser steps (default: per epoch only)")


def add_store_args(p: argparse.ArgumentParser, what: str = "run store folder") -> None:
    """The store as ``--store DIR`` (as in every command) or, as before, a positional ``DIR``."""
    p.add_argument("dir", nargs="?", help=f"{what} (the same as --store)")
    p.add_argument("--store", help=f"{what} (default: $PRUNELAB_STORE or ./runs)")


def store_arg(args) -> str | None:
    if args.dir and args.store and args.dir != args.store:
        raise PrunelabError(f"two stores given: {args.dir} and --store {args.store}")
    return args.dir or args.store
