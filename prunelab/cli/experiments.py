"""prunelab experiments: the experiment files shipped in the package, and --copy to edit one."""
from __future__ import annotations

import json


def add_parsers(sub) -> None:
    p = sub.add_parser("experiments", help="list the shipped experiment files (the paper's, the small ones, demo)",
                       description="List the experiment files that ship with prunelab, with a line each. Every "
                                   "command that takes an experiment file also takes one of these names "
                                   "(e.g. prunelab plan paper/table1-cifar10).",
                       epilog="Example: prunelab experiments --copy small/slimming-fashion my-experiments/")
    p.add_argument("--copy", nargs=2, metavar=("NAME", "DIR"), help="write shipped experiment NAME into DIR to edit")
    p.add_argument("--json", action="store_true", help="print a JSON list of {name, file, description}")


def cmd_experiments(args) -> int:
    from ..shipped import copy, description, shipped

    if args.copy:
        print(copy(*args.copy))
        return 0
    rows = [{"name": n, "file": str(f), "description": description(f)} for n, f in shipped().items()]
    if args.json:
        print(json.dumps(rows))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:{width}}  {r['description']}")
    return 0


COMMANDS = {"experiments": cmd_experiments}
