"""Executing a planned grid: scheduling (reuse, resume, wait for other workers), prune steps and
the training calls, with a progress bar in units of training compute. Several processes may run one
grid on one store; broken store files are made again by the step that made them."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..arch import ArchSpec
from ..data import DataSettings
from ..errors import Busy, PrunelabError
from ..progress import progress_bar
from ..protocol import regime
from ..train import resolve_device
from ..train import distributed as ddp
from .plan import Grid, PlannedRun, distinct, resolve_run, run_cost, run_macs, waits_for
from .prune_step import PruneStep, remove_product, run_prune_step
from .store import Broken, RunStore, execute_run
from .together import execute_together


def prune_for(step: PruneStep, store: RunStore, data_settings: DataSettings, planned: ArchSpec | None, *,
              data=None, data_dir=None, device: str = "auto") -> dict:
    """Run one prune step of a grid (once; see ``run_prune_step``): a data-dependent method reads
    the grid's training data (``data`` if loaded, else loaded from ``data_dir`` on first use)."""
    from ..data import load as load_data
    from ..methods import PruneData

    pdata = PruneData(data_settings.dataset, step.seed, data=data, loader=lambda: load_data(data_settings, data_dir),
                      device=resolve_device(device))
    return run_prune_step(step, store, pdata, planned)


@dataclass
class GridOutcome:
    trained: list[str] = field(default_factory=list)  # run ids trained by this process
    reused: list[str] = field(default_factory=list)  # finished before, or by another worker
    pruned: list[str] = field(default_factory=list)  # prune steps run by this process


def run_grid(grid: Grid, store: RunStore, *, data_dir=None, device: str = "auto", progress: bool = True,
             together: bool = False, force: bool = False, poll: float = 2.0) -> GridOutcome:
    """Execute every run (reusing finished ones, resuming partial ones), prune steps included.

    Several processes may run one grid on one store: a run (or prune step) another worker holds
    is skipped and revisited, a run waits for the large model and prune step it depends on, and
    every worker returns once the whole grid is finished. Broken store files are set aside and
    made again by the step that made them. ``force`` retrains every run (one worker only).

    ``together``: first train each set of new random-init runs that differ only in their seed
    (a baseline's seeds, a Scratch-E arm's seeds, ...) at once with ``prunelab.train.multi``; runs
    with training hooks or masks are trained one by one.

    Under torchrun this runs on rank 0 (it chooses the runs, with the same locks as any worker);
    each run it trains is announced to the other ranks, which train it with it (DDP).
    """
    from ..data import load as load_data

    if together and ddp.active():
        raise PrunelabError("--together trains several runs in one process; it cannot be combined with torchrun")

    if grid.sections.transfer is not None:
        grid.sections.transfer.check_data()
    data = load_data(grid.data, data_dir)
    for r in grid.runs:
        resolve_run(grid, r, store)
    outcome = GridOutcome()
    bar = None
    todo = [r for r in distinct(grid.runs) if force or r.settings is None or store.status(r.settings) != "finished"]
    if progress and todo:
        # progress in units of training compute (images x forward MACs), so the ETA is honest
        bar = progress_bar(total=sum(run_cost(grid, r, data) for r in todo), unit="", unit_scale=True,
                           bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]")
    if together and not force:
        _train_together(grid, store, todo, data, device, bar, outcome)
    todo_ids = {id(r) for r in todo}
    pending = list(range(len(grid.runs)))
    while pending:
        waiting = []
        for i in pending:
            r = grid.runs[i]
            if bar is not None:
                bar.set_description(f"run {i + 1}/{len(grid.runs)} {r.arch} {r.regime} seed {r.seed}")
            try:
                redo = force and (r.settings is None or r.settings.run_id() not in outcome.trained)
                done = _advance(grid, store, r, data, device, bar, redo, outcome, data_dir)
            except Busy:
                done = None
            if done is None:
                waiting.append(i)
                continue
            run_id = r.settings.run_id()
            if done == "trained":
                outcome.trained.append(run_id)
            elif run_id not in outcome.trained + outcome.reused:
                outcome.reused.append(run_id)
                if bar is not None and id(r) in todo_ids:  # another worker trained it
                    bar.update(run_cost(grid, r, data))
        if waiting and len(waiting) == len(pending):  # everything left is another worker's: wait
            if bar is not None:
                bar.set_description(f"waiting for {len(waiting)} runs of other workers")
            ddp.tick()  # under torchrun: the other ranks wait with rank 0
            time.sleep(poll)
        pending = waiting
    if bar is not None:
        bar.close()
    return outcome


def _advance(grid: Grid, store: RunStore, r: PlannedRun, data, device: str, bar, force: bool,
             outcome: GridOutcome, data_dir=None) -> str | None:
    """Bring one run to finished if this worker can now: "trained" (here) or "reused" (finished
    before or by another worker); None if it must wait for another worker."""
    for _ in range(3):  # a broken file is rebuilt by its own step, then this run is tried again
        try:
            gated = r.needs_prune  # (before resolving: a found random-init run stops needing it then)
            need = waits_for(grid, store, r)
            if need == "source":
                return None  # its source is another worker's (or a later level's), or broke and comes round
            if force and gated and r.prune.id not in outcome.pruned:
                remove_product(store, r.prune.id)
                for other in grid.runs:  # every run resolved from the old product is resolved again
                    if other.prune is not None and other.prune.id == r.prune.id and other.arm.planned is None:
                        other.settings = None
                need = "prune"
            if need == "prune":
                estimate = run_cost(grid, r, data)
                prune_for(r.prune, store, grid.data, r.arm.planned, data=data, device=device)
                outcome.pruned.append(r.prune.id)
                resolve_run(grid, r, store)
                if bar is not None:
                    bar.total += run_cost(grid, r, data) - estimate
            resolve_run(grid, r, store)
            if not force and store.result(r.settings) is not None:
                store.add_role(r.settings, r.labels)
                return "reused"
            macs = run_macs(grid, r)
            cb = (lambda n, m=macs: bar.update(n * m)) if bar is not None else None
            _, trained = execute_run(r.settings, store, device=device, progress=cb, data=data, force=force,
                                     save_init=r.transfer is None and not regime(r.regime).arm, data_dir=data_dir)
            store.add_role(r.settings, r.labels)
            return "trained" if trained else "reused"
        except Broken as b:
            src = r.source_settings
            if b.kind == "run" and src is not None and b.ident == src.run_id():  # make it again
                _, healed = execute_run(src, store, device=device, data=data, save_init=src is r.baseline,
                                        data_dir=data_dir)
                if healed and src.run_id() not in outcome.trained:  # a retrained run counts as trained here
                    outcome.trained.append(src.run_id())
            elif b.kind != "prune":
                raise
    raise PrunelabError(f"run {r.settings.run_id() if r.settings else r.arch}: its inputs broke again after "
                        "being rebuilt; check the store's disk")


def _train_together(grid: Grid, store: RunStore, todo: list[PlannedRun], data, device: str, bar,
                    outcome: GridOutcome) -> None:
    groups: dict[str, list[PlannedRun]] = {}
    for r in todo:
        s = r.settings
        if s is not None and s.init == {"kind": "random"} and s.method is None and not s.data.val_size \
                and store.status(s) == "new":
            key = str(sorted((k, str(v)) for k, v in s.identity().items() if k != "seed"))
            if s.run_id() not in [o.settings.run_id() for o in groups.get(key, [])]:  # arms may share a run
                groups.setdefault(key, []).append(r)
    for g in (g for g in groups.values() if len(g) > 1):
        if bar is not None:
            bar.set_description(f"{len(g)} runs together: {g[0].arch} {g[0].regime}")
        try:
            execute_together([r.settings for r in g], store, data=data, device=device,
                             save_init=not regime(g[0].regime).arm)
        except Busy:
            continue  # another worker has one of them: they train one by one
        outcome.trained += [r.settings.run_id() for r in g]
        if bar is not None:
            bar.update(sum(run_cost(grid, r, data) for r in g))


def grid_results(grid: Grid, store: RunStore) -> list[dict]:
    """The result.json of every finished run of the grid, labelled with its role here."""
    out = []
    for r in grid.runs:
        if resolve_run(grid, r, store):
            res = store.result(r.settings)
            if res is not None:
                out.append({**res, "labels": r.labels})
    return out
