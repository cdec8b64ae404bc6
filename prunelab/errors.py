"""User-facing errors and warnings.

Bad input is a ``PrunelabError``: the CLI prints it as one line and exits with code 2. Valid but
questionable input, and files prunelab repaired on its own, are reported through ``warn``: the
CLI prints each as one ``prunelab: warning: ...`` line; library users see ordinary ``logging``
records of the logger "prunelab".
"""
import logging

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
