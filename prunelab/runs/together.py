"""Several randomly initialised runs that differ only in their seed, trained at once
(``prunelab.train.multi``; ``prunelab run --together``), each written to its folder as
``store.execute`` would write it."""
from __future__ import annotations

import contextlib

from ..arch import ArchSpec, build
from ..errors import Busy, PrunelabError
from ..models_io import save as save_model
from ..protocol import inits
from ..train import resolve_device
from .files import locked, remove_temporaries
from .settings import RunSettings
from .outcome import finish, write_settings
from .store import INIT, OWN_FILES, RunStore, run_state


def execute_together(group: list[RunSettings], store: RunStore, *, data, device: str = "auto",
                     save_init: bool = False) -> list[dict]:
    """Train several randomly initialised runs that differ only in their seed at once
    (``prunelab.train.multi``) and write each one's folder as ``execute`` would.

    Runs with a method's training hooks or masks cannot be trained together (refused with one
    line, never silently dropped). Runs trained together have no per-epoch checkpoints: a killed
    group starts over.
    """
    from ..train.multi import train_many

    base = {k: v for k, v in group[0].identity().items() if k != "seed"}
    for s in group:
        if s.method is not None:
            raise PrunelabError(f"run {s.run_id()} has training hooks of method '{s.method['name']}': "
                                "it cannot be trained together with others")
        if s.init != {"kind": "random"}:
            raise PrunelabError("runs trained together must be random-init runs without masks")
        if {k: v for k, v in s.identity().items() if k != "seed"} != base:
            raise PrunelabError("runs trained together must differ only in their seed")
        if s.data.val_size:
            raise PrunelabError("runs with a validation split cannot be trained together")
    dev = resolve_device(device)
    spec = ArchSpec.from_dict(group[0].arch)
    dirs = [store.path(s) for s in group]
    models = [build(spec, seed=s.seed) for s in group]
    starts = [inits.record(m, "random") for m in models]
    with contextlib.ExitStack() as stack:
        for d, s in zip(dirs, group):
            stack.enter_context(locked(d, wait=False))
            if run_state(d) != "new":  # another worker got there first: train them one by one instead
                raise Busy(f"run {d.name} is no longer new")
        for d, s, m in zip(dirs, group, models):
            remove_temporaries(d, OWN_FILES)
            write_settings(d, s)
            if save_init and not (d / INIT).exists():
                save_model(m, d / INIT)
        models = [m.to(dev) for m in models]
        results = train_many(models, data, [s.recipe for s in group], [s.seed for s in group])
        return [finish(d, s, m, r, dev, st) for d, s, m, r, st in zip(dirs, group, models, results, starts)]
