"""The prunelab command line. Parsing and printing only; the work happens in the packages."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys

from .. import __version__
from ..errors import PrunelabError, one_line, warn, warning_lines

from ..shipped import PROJECT_URL

EPILOG = f"Bad input ends with one line on stderr and exit code 2. Docs: {PROJECT_URL}#readme"


class Parser(argparse.ArgumentParser):
    """argparse with prunelab's error policy: a usage error is one line (and exit code 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="prunelab",
        description="prunelab: train, prune and fairly compare pruned networks "
                    "(Fine-tuned vs Scratch-E vs Scratch-B), after 'Rethinking the Value of Network Pruning'.",
        epilog=EPILOG,
    )
    ap.add_argument("-V", "--version", action="version", version=f"prunelab {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=Parser)

    from . import arch, completion, curves, experiments, leaderboard, models, protocol, runs, train

    # the verbs on architectures, training and the store; on models; those of the protocol; the shipped
    # experiments and shell completion
    for group in (arch, train, runs, models, protocol, leaderboard, curves, experiments, completion):
        group.add_parsers(sub)
        COMMANDS.update(group.COMMANDS)
    return ap


def main(argv: list[str] | None = None) -> int:
    warning_lines()
    ap = build_parser()
    args = ap.parse_args(argv)
    args.root_parser = ap  # (prunelab completion reads the whole parser)
    if os.environ.get("PRUNELAB_STORE") == "":
        warn("$PRUNELAB_STORE is set but empty; the run store is ./runs")
    if not args.cmd:
        ap.print_help()
        return 0
    try:
        logging = contextlib.nullcontext()
        if getattr(args, "logger", None) or getattr(args, "log_every", 0):
            from ..tracking import configured

            logging = configured(args.logger, args.log_every)
        with logging:
            if args.cmd in DISTRIBUTED:
                from ..train import distributed as ddp

                if ddp.launched():
                    return _distributed(args)
            return COMMANDS[args.cmd](args) or 0
    except PrunelabError as e:
        frames = getattr(e, "frames", "")  # a plug-in's error: its own traceback frames, then the line
        if frames:
            print("Traceback of the plug-in's code (most recent call last):\n" + frames.rstrip(), file=sys.stderr)
        print(f"prunelab {args.cmd}{_rank_tag(args.cmd)}: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prunelab: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (e.g. `| head -1`) has what it wanted: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# --- several processes (torchrun) -------------------------------------------------------------

DISTRIBUTED = ("train", "run")  # commands that train with DDP when started by torchrun


def _rank_tag(cmd: str) -> str:
    """" (rank k)" in the error line of a process other than rank 0 of a torchrun group."""
    rank = os.environ.get("RANK", "0")
    return f" (rank {rank})" if cmd in DISTRIBUTED and rank not in ("", "0") and \
        os.environ.get("WORLD_SIZE", "1") not in ("", "1") else ""


def _distributed(args) -> int:
    """``torchrun --nproc_per_node=N -m prunelab train|run ...``: rank 0 runs the command and
    announces each run it trains; the other ranks follow (``runs.store.follow``) and train it
    with rank 0. Every rank ends with rank 0's exit code."""
    from ..train import distributed as ddp

    ddp.init()
    try:
        if not ddp.is_main():
            from ..runs.store import follow

            return follow()
        code = 2
        with ddp.leading():
            try:
                code = COMMANDS[args.cmd](args) or 0
            finally:
                ddp.end(code)
        return code
    finally:
        ddp.shutdown()


COMMANDS: dict = {}  # command -> function(args) -> exit code, filled by build_parser


def register(name: str, fn) -> None:
    COMMANDS[name] = fn
