"""Runs the prunelab command line in one process of a torchrun group, for tests/test_distributed.py.

Besides what prunelab does, it records (in $HARNESS_OUT, never in the store) for its rank: its pid
(``rank<r>.pid``, written first), its exit code (``rank<r>.exit``), the weights and buffers of every
model it trained (``rank<r>-<run folder>.pt``), and every write it attempted below $HARNESS_STORE
(``rank<r>.writes``, one line each), seen by a Python audit hook.
"""
import os
import sys

OUT = os.environ["HARNESS_OUT"]
STORE = os.path.realpath(os.environ["HARNESS_STORE"])
RANK = os.environ.get("RANK", "0")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
WRITE_EVENTS = {"os.rename", "os.remove", "os.mkdir", "os.rmdir", "os.truncate", "os.chmod", "os.link",
                "os.symlink", "shutil.rmtree", "os.utime", "os.chown"}
_busy = []


def _record(line: str) -> None:
    _busy.append(1)
    try:
        with open(os.path.join(OUT, f"rank{RANK}.writes"), "a") as f:
            f.write(line + "\n")
    finally:
        _busy.pop()


def _below_store(path) -> bool:
    if isinstance(path, int) or path is None:
        return False
    try:
        p = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return p == STORE or p.startswith(STORE + os.sep)


def _audit(event, args):
    if _busy:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
            (isinstance(flags, int) and flags & WRITE_FLAGS)
        if writes and _below_store(path):
            _record(f"open {mode} {path}")
    elif event in WRITE_EVENTS:
        for a in args[:2]:
            if _below_store(a):
                _record(f"{event} {a}")


def main() -> int:
    with open(os.path.join(OUT, f"rank{RANK}.pid"), "w") as f:
        f.write(str(os.getpid()))
    sys.addaudithook(_audit)
    import torch

    import prunelab.runs.store as store
    from prunelab.cli import main as prunelab_main

    trained = store.train

    def train(model, *args, **kw):
        r = trained(model, *args, **kw)
        name = os.path.basename(str(kw.get("run_dir") or "no-run-dir"))
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        _busy.append(1)
        try:
            torch.save(state, os.path.join(OUT, f"rank{RANK}-{name}.pt"))
        finally:
            _busy.pop()
        return r

    store.train = train
    code = prunelab_main(sys.argv[1:])
    with open(os.path.join(OUT, f"rank{RANK}.exit"), "w") as f:
        f.write(str(code))
    return code


if __name__ == "__main__":
    sys.exit(main())
