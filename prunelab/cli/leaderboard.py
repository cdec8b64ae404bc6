"""prunelab leaderboard: many methods judged against the same baselines (runs/leaderboard.py)."""
from __future__ import annotations

import sys
from pathlib import Path

from ..shipped import DOCS
from .common import add_data_args


def add_parsers(sub) -> None:
    p = sub.add_parser("leaderboard", help="judge many methods against the same baselines, in one table",
                       description="Run `judge` for every method of a leaderboard file (an experiment file with a "
                                   "`leaderboard: {methods: [...]}` section) through the run store — the large "
                                   "models and the baselines of a predefined target train once for all methods — "
                                   "and write leaderboard.md, .csv and .png: per method its Fine-tuned accuracy, "
                                   "params, MACs and latency, its difference from Scratch-E, Scratch-B, uniform width "
                                   "and random channels with 95% CIs and Holm-corrected p-values, and a verdict. "
                                   f"Resumable. See {DOCS}/leaderboard.md.",
                       epilog="Example: prunelab leaderboard small/leaderboard-fashion --out leaderboard-out")
    p.add_argument("file", help="leaderboard YAML file, or a shipped one's name (small/leaderboard-fashion)")
    p.add_argument("--out", default="leaderboard-out", help="folder for leaderboard.md/.csv/.png (default: "
                                                            "leaderboard-out)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plan", action="store_true", help="train nothing: per method, the runs it adds to the store "
                                                       "(the shared ones counted once, under the first method) and "
                                                       "their training compute")
    add_data_args(p)


def cmd_leaderboard(args) -> int:
    from ..fileio import atomic_write_text, writable_dir
    from ..report import leaderboard as lb
    from ..report.verdicts import judge_rows
    from ..runs import RunStore
    from ..runs.judge_grids import measure_latency
    from ..runs.leaderboard import load_leaderboard, run_leaderboard

    board = load_leaderboard(args.file)
    if args.plan:
        return _plan(board, RunStore(args.store))
    writable_dir(args.out, "--out")
    store = RunStore(args.store).writable()
    results = run_leaderboard(board, store, data_dir=args.data, device=args.device, progress=not args.quiet)
    rows = judge_rows(results, measure_latency(results, board.section.latency_batch, args.device))
    table = lb.board_rows(rows)
    baselines = list(board.section.baselines)
    out = Path(args.out)
    text = lb.markdown(table, baselines, f"Leaderboard: {board.experiment.name}")
    atomic_write_text(out / "leaderboard.md", text)
    atomic_write_text(out / "leaderboard.csv", lb.to_csv(table, baselines))
    lb.plot(table, baselines, out / "leaderboard.png")
    print(text)
    print(f"wrote {out / 'leaderboard.md'}, leaderboard.csv and leaderboard.png", file=sys.stderr)
    return 0


def _plan(board, store) -> int:
    """Per method: its runs not already counted under an earlier method (the large models and the
    shared baselines appear under the first), how many are finished, and their training compute."""
    from .plan_rows import plan_rows

    seen: set[str] = set()
    total = left = 0.0
    print(f"{board.experiment.name}: {len(board.judgements)} methods")
    names = [j.name.split(": ", 1)[-1] for j in board.judgements]
    w = max(len(n) for n in names + ["method"])
    print(f"{'method':{w}} {'runs':>5} {'finished':>8} {'TMACs':>9} {'to go':>9}")
    for name, j in zip(names, board.judgements):
        runs = []
        for grid, _ in j.parts.values():
            for r in plan_rows(grid, store):
                if r["run_id"] is None or r["run_id"] not in seen:
                    seen.add(r["run_id"])
                    runs.append(r)
        macs = sum(r["train_macs"] for r in runs)
        todo = sum(r["train_macs"] for r in runs if r["state"] != "finished")
        total, left = total + macs, left + todo
        done = sum(r["state"] == "finished" for r in runs)
        print(f"{name:{w}} {len(runs):>5} {done:>8} {macs / 1e12:>9.3f} {todo / 1e12:>9.3f}")
    print(f"training compute: {total / 1e12:,.3f} TMACs in all, {left / 1e12:,.3f} TMACs to go")
    return 0


COMMANDS = {"leaderboard": cmd_leaderboard}
