"""User-facing errors and warnings.

Bad input is a ``PrunelabError``: the CLI prints it as one line and exits with code 2. Valid but
questionable input, and files prunelab repaired on its own, are reported through ``warn``: the
CLI prints each as one ``prunelab: warning: ...`` line; library users see ordinary ``logging``
records of the logger "prunelab".
"""
import logging
import sys

log = logging.getLogger("prunelab")


class PrunelabError(Exception):
    """Bad input (unknown name, missing data, nonsense number, wrong checkpoint...)."""


class TrainingDiverged(PrunelabError):
    """The loss became NaN or infinite."""


class Busy(PrunelabError):
    """Another process holds the lock of a run or step (a worker moves on to other work)."""


MAX_SEED = 2**63 - 1  # torch generators take seeds below 2**63


def check_seed(seed, what: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise PrunelabError(f"{what} must be an integer in [0, 2**63), got {seed!r}")
    return seed


def first_line(e: BaseException, limit: int = 160) -> str:
    """The first line of an exception's message (third-party errors can span pages), or its type."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:limit]


def warn(message: str) -> None:
    log.warning(message)


def one_line(text: str) -> str:
    """A message on one line: control characters (from user input too) shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class WarningLine(logging.Handler):
    """prunelab's warnings as single lines on stderr."""

    def emit(self, record):
        print(f"prunelab: warning: {one_line(record.getMessage())}", file=sys.stderr)


def warning_lines() -> None:
    """Print prunelab's warnings as ``prunelab: warning: ...`` lines (the command line, a job)."""
    if not any(isinstance(h, WarningLine) for h in log.handlers):
        log.addHandler(WarningLine(logging.WARNING))
        log.propagate = False
