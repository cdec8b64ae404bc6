"""``prunelab runs --verify``: every file of a store checked against its checksum (or, without one,
its format), without loading weights or training; what the next run would do about each damage."""
from __future__ import annotations

from pathlib import Path

from ..train.checkpoints import CHECKPOINT, PREVIOUS
from .store import INIT, MODEL, RESULT, SETTINGS


CONSEQUENCE = {
    SETTINGS: "written again from the experiment's settings when a grid next uses the run",
    RESULT: "the run is trained again", MODEL: "the run is trained again",
    INIT: "its initial weights are made again from its settings",
    CHECKPOINT: "training resumes from the previous checkpoint", PREVIOUS: "the previous checkpoint is not used",
}


def verify_store(root: Path) -> tuple[int, list[tuple[Path, str, str]]]:
    """Check the checksum (or, for files without one, the format) of every file of a store without
    loading weights: (files checked, [(file, what is wrong, what the next run does about it)])."""
    from ..fileio import verify_file

    checked, problems = 0, []
    if not root.is_dir():
        return 0, []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        if d.name == "pruned":
            for f in sorted(d.glob("*.pt")) + sorted(d.glob("*.json")):
                checked += 1
                if (why := verify_file(f)) is not None:
                    problems.append((f, why, f"prune step {f.stem} runs again, and so do the runs that start from "
                                             "its model"))
            continue
        for name in (SETTINGS, RESULT, MODEL, INIT, CHECKPOINT, PREVIOUS):
            f = d / name
            if f.is_file():
                checked += 1
                if (why := verify_file(f)) is not None:
                    problems.append((f, why, CONSEQUENCE[name]))
    return checked, problems
