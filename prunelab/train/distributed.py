"""Several processes, one model: torch's DistributedDataParallel (DDP) under torchrun (or in a
submitit job of several tasks, whose environment ``runs/launch.py`` exports in torchrun's form).

``torchrun --nproc_per_node=N -m prunelab train|run ...`` starts N processes. ``init`` joins them
into one process group from torchrun's environment (gloo for CPU tensors, NCCL for CUDA tensors;
one device per process, ``LOCAL_RANK`` picks the CUDA device). Rank 0 makes every decision and
writes every file (run folders, checkpoints, locks, prune steps); the other ranks follow it
(``prunelab.runs.store.follow``) and train each run together with it. Training is the one loop,
``engine.train(..., distributed=True)``: the model wrapped in DDP, each rank on its shard of every
global batch.

Failures: what can fail on one rank only (a file rank 0 writes, data a rank loads) goes through
``on_rank0`` / ``everywhere``, which raise the same error on every rank ("collective" errors), so
all ranks leave a run together; anything else ends that process, and torchrun then stops the
others.
"""
from __future__ import annotations

import contextlib
import datetime
import gc
import os
import pickle
from typing import Any, Callable

import torch
import torch.distributed as dist

from ..errors import PrunelabError

_LEAD = {"on": False, "broken": False}  # rank 0 leads followers; broken: they are not listening


def launched() -> bool:
    """Started by torchrun (or its environment) with more than one process."""
    try:
        return "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def _cuda_index() -> int | None:
    """This process's CUDA device: ``LOCAL_RANK`` among the visible ones, or the only one visible
    (a scheduler that gives each task its own GPU); None where that does not identify one."""
    n = torch.cuda.device_count()
    if local_rank() < n:
        return local_rank()
    return 0 if n == 1 else None


def init() -> None:
    """Join the process group torchrun describes (``MASTER_ADDR``, ``RANK``, ``WORLD_SIZE``...).

    ``$PRUNELAB_DIST_TIMEOUT_MIN`` (default 60): how long a rank waits for the others at one
    collective (e.g. followers while rank 0 runs a prune step)."""
    if active():
        return
    if not dist.is_available():
        raise PrunelabError("this torch build has no torch.distributed: run without torchrun")
    try:
        minutes = float(os.environ.get("PRUNELAB_DIST_TIMEOUT_MIN", "60") or 60)
    except ValueError:
        raise PrunelabError("$PRUNELAB_DIST_TIMEOUT_MIN must be a number of minutes")
    cuda = torch.cuda.is_available()
    if cuda and _cuda_index() is not None:
        torch.cuda.set_device(_cuda_index())
    # CPU tensors (objects, flags, CPU training) over gloo, CUDA tensors over NCCL
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=minutes))


def shutdown() -> None:
    """Leave the process group (every rank, at the end): objects still holding it (DDP's reducer)
    are collected first, so that no backend thread outlives it into the interpreter's exit."""
    if dist.is_available() and dist.is_initialized():
        gc.collect()
        dist.destroy_process_group()
        gc.collect()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def local_device(device: torch.device) -> torch.device:
    """This process's device: ``cuda`` means ``cuda:LOCAL_RANK`` (one process per device)."""
    if device.type != "cuda" or not active():
        return device
    if _cuda_index() is None:
        raise PrunelabError(f"LOCAL_RANK {local_rank()} but {torch.cuda.device_count()} CUDA devices: start at most "
                            "one process per device (torchrun --nproc_per_node, or gpus_per_node of a job)")
    return torch.device("cuda", _cuda_index())


def local_batch(batch_size: int, world_size: int) -> int:
    """Each rank's share of a global batch (the recipe's batch size)."""
    if batch_size % world_size:
        raise PrunelabError(f"batch size {batch_size} is not divisible by the {world_size} processes: the global "
                            f"batch is split evenly (use a multiple of {world_size})")
    return batch_size // world_size


def shard(n: int, r: int, w: int) -> tuple[int, int]:
    """Rank ``r``'s contiguous part [lo, hi) of ``n`` items split into ``w`` near-equal parts."""
    return n * r // w, n * (r + 1) // w


# --- collectives --------------------------------------------------------------------------------

def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj: Any = None) -> Any:
    """Rank 0's ``obj`` on every rank (pickled)."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return obj if is_main() else box[0]


def all_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over the ranks, in place."""
    if active():
        dist.all_reduce(t)
    return t


def any_rank(flag: bool) -> bool:
    """True on every rank if it is true on one."""
    if not active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def rank0_says(flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (e.g. a decision taken by rank 0's clock)."""
    if not active():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    dist.broadcast(t, src=0)
    return bool(t.item())


def gather(obj: Any) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not active():
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(model: torch.nn.Module) -> None:
    """Rank 0's buffers (BN running statistics) on every rank."""
    if active():
        for b in model.buffers():
            dist.broadcast(b, src=0)


def collective(e: BaseException) -> bool:
    """Whether every rank raised ``e`` (so all of them left the collective work together)."""
    return bool(getattr(e, "prunelab_collective", False))


def mark(e: BaseException) -> BaseException:
    try:
        e.prunelab_collective = True
    except AttributeError:
        pass
    return e


def _portable(e: BaseException) -> BaseException:
    try:
        return pickle.loads(pickle.dumps(e))
    except Exception:  # an exception that does not survive pickling: its message does
        return PrunelabError(f"{type(e).__name__}: {e}")


def on_rank0(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on rank 0 only (e.g. a file write) and return its result on every rank; if it
    raised, every rank raises that error (marked collective)."""
    if not active():
        return fn()
    out, err = None, None
    if is_main():
        try:
            out = fn()
        except Exception as e:
            err = e
    msg = broadcast((out if err is None else None, None if err is None else _portable(err)))
    if err is not None:
        raise mark(err)
    if msg[1] is not None:
        raise mark(msg[1])
    return out if is_main() else msg[0]


def everywhere(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on every rank; if it failed on any, every rank raises (its own error, or one line
    naming the rank that failed), marked collective."""
    if not active():
        return fn()
    out, err = None, None
    try:
        out = fn()
    except Exception as e:
        err = e
    failed = [(r, m) for r, m in enumerate(gather(None if err is None else f"{err}")) if m is not None]
    if err is not None:
        raise mark(err)
    if failed:
        r, m = failed[0]
        raise mark(PrunelabError(f"rank {r}: {m}"))
    return out


# --- rank 0 leads, the others follow --------------------------------------------------------------

@contextlib.contextmanager
def leading():
    """Rank 0 runs a command while the other ranks wait in ``runs.store.follow`` for its orders."""
    _LEAD.update(on=active() and is_main(), broken=False)
    try:
        yield
    finally:
        _LEAD["on"] = False


def announce(message: tuple) -> None:
    """Rank 0 tells the followers what comes next (``("train", ...)``, ``("wait",)``)."""
    if _LEAD["on"]:
        broadcast(message)


def tick() -> None:
    """Rank 0 is waiting (for another worker's run): keep the followers' collective alive."""
    announce(("wait",))


def lost_followers() -> None:
    """Rank 0 failed alone inside a run: the followers are not listening for orders any more."""
    if _LEAD["on"]:
        _LEAD["broken"] = True


def end(code: int) -> None:
    """Rank 0 tells the followers to exit with ``code`` (not if they stopped listening)."""
    if _LEAD["on"] and not _LEAD["broken"]:
        broadcast(("end", code))
