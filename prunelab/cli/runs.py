"""prunelab runs: a store's runs and their state; --verify checks every file."""
from __future__ import annotations

import json

from ..errors import PrunelabError, one_line, warn
from .common import add_store_args, store_arg


def add_parsers(sub) -> None:
    p = sub.add_parser("runs", help="list the runs of a store and their state",
                       description="List runs (finished / partial / new) with their accuracy.")
    add_store_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--verify", action="store_true",
                   help="check every file's checksum (no training) and say what would be redone; exit 1 if any "
                        "file is damaged")


def cmd_runs(args) -> int:
    from ..fileio import read_json
    from ..runs import RunStore
    from ..runs.store import run_state

    store = RunStore(store_arg(args))
    if not store.root.is_dir():
        raise PrunelabError(f"no run store at {store.root}" + (" (it is a file)" if store.root.exists() else ""))
    if (store.root / "settings.json").is_file():
        warn(f"{store.root} is a run folder, not a store; give the folder that holds the runs")
    if args.verify:
        return _verify(store.root, args.json)
    rows = []
    for d in sorted(p for p in store.root.iterdir() if (p / "settings.json").is_file()):
        try:
            s = read_json(d / "settings.json")
            state = run_state(d)
            r = read_json(d / "result.json") if state == "finished" else {}
            acc = r.get("final_top1")
            rows.append({"run_id": d.name, "state": state, "arch": s["arch"]["name"],
                         "regime": (s.get("labels") or {}).get("regime", "train"), "seed": s.get("seed"),
                         "epochs": s["recipe"]["epochs"],
                         "final_top1": float(acc) if isinstance(acc, (int, float)) else None})
        except (PrunelabError, KeyError, TypeError, AttributeError, ValueError) as e:
            warn(f"skipped {d.name}: its settings.json or result.json is damaged ({type(e).__name__})")
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no runs in {store.root}")
        return 0
    print(f"{'state':9} {'top-1 %':>7}  {'epochs':>6}  run")
    for r in rows:
        acc = f"{100 * r['final_top1']:.2f}" if r["final_top1"] is not None else "-"
        print(f"{r['state']:9} {acc:>7}  {r['epochs']!s:>6}  {r['run_id']}")
    return 0


def _verify(root, as_json: bool) -> int:
    from ..runs.verify import verify_store

    checked, problems = verify_store(root)
    if as_json:
        print(json.dumps({"checked": checked, "damaged": [{"file": str(f), "problem": why, "then": then}
                                                          for f, why, then in problems]}))
    else:
        for f, why, then in problems:
            print(f"damaged  {f.relative_to(root)}: {one_line(why)}; {then}")
        print(f"{checked} files checked, {len(problems)} damaged" + ("" if problems else ": the store is intact"))
    return 1 if problems else 0


COMMANDS = {"runs": cmd_runs}
