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
    add_data_args(p)


def cmd_leaderboard(args) -> int:
    from ..fileio import atomic_write_text, writable_dir
    from ..report import leaderboard as lb
    from ..report.verdicts import judge_rows
    from ..runs import RunStore
    from ..runs.judge_grids import measure_latency
    from ..runs.leaderboard import load_leaderboard, run_leaderboard

    writable_dir(args.out, "--out")
    board = load_leaderboard(args.file)
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


COMMANDS = {"leaderboard": cmd_leaderboard}
