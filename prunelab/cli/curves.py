"""prunelab curves: training curves of a store's runs (train loss, test accuracy; mean ± std over seeds)."""
from __future__ import annotations

from ..errors import PrunelabError
from .common import add_store_args, key_values, store_arg


def add_parsers(sub) -> None:
    p = sub.add_parser("curves", help="draw training curves: train loss and test accuracy per epoch, per arm",
                       description="Draw every run's per-epoch train loss and test top-1 (%) from a store, one colour "
                                   "per arm (experiment, pruned model, regime), the mean over seeds with a ± std band.",
                       epilog="Example: prunelab curves demo-out/runs --where experiment=demo --out curves.png")
    add_store_args(p)
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only runs whose label KEY is VALUE (experiment, regime, pruned, method, seed, arch, run_id); "
                        "repeatable")
    p.add_argument("--out", default="curves.png", help="the PNG to write (default: curves.png)")


def cmd_curves(args) -> int:
    from ..fileio import writable_file
    from ..report.curves import load_runs, plot_curves
    from ..runs import RunStore

    where = {k: str(v) for k, v in key_values(args.where, "--where").items()}
    writable_file(args.out, "--out")
    runs = load_runs(RunStore(store_arg(args)).root, where)
    if not runs:
        raise PrunelabError("no run with a training history matches" + (f" {args.where}" if args.where else ""))
    print(plot_curves(runs, args.out))
    return 0


COMMANDS = {"curves": cmd_curves}
