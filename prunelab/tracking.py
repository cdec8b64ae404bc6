"""Experiment tracking: ``--logger csv|tensorboard|mlflow`` (repeatable) on run, train, judge and demo.

Each trained run gets one writer per logger, opened when its training starts and closed when it
ends, tagged with the run's id, experiment, method, regime, seed and architecture; it receives
every epoch's metrics (train loss and top-1, learning rate, seconds, validation and test top-1 where
evaluated), with ``--log-every N`` the train loss every N optimiser steps too, and at the end
the run's result. Every run also keeps ``metrics.jsonl`` (always).

- ``csv``: ``metrics.csv`` in the run's folder (rewritten from the run's history each epoch, so a
  resumed run's file has every epoch once);
- ``tensorboard``: event files in ``<run>/tb`` (``pip install 'prunelab[tracking]'``);
- ``mlflow``: an MLflow run per prunelab run, in ``$MLFLOW_TRACKING_URI`` or by default the local
  store ``file:<store>/mlruns`` (MLflow experiment = the prunelab experiment); a resumed run logs
  into the same MLflow run (``<run>/mlflow.json``) (``pip install 'prunelab[tracking]'``).

The choice travels in ``$PRUNELAB_LOGGER`` (comma-separated), so jobs a launcher starts log too."""
from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import os
from pathlib import Path

from .errors import PrunelabError, warn
from .fileio import atomic_write_text

KINDS = ("csv", "tensorboard", "mlflow")
ENV = "PRUNELAB_LOGGER"
EVERY = "PRUNELAB_LOG_EVERY"  # also log the train loss every N optimiser steps (0: per epoch only)
NEEDS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # the module each one imports


def configure(kinds: list[str] | None, every: int = 0) -> None:
    """Check the loggers asked for (a missing package is one line naming the extra, before any work)
    and make them this process's and its children's."""
    kinds = list(dict.fromkeys(kinds or []))
    for k in kinds:
        if k not in KINDS:
            raise PrunelabError(f"unknown logger '{k}' (known: {', '.join(KINDS)})")
        if k in NEEDS and importlib.util.find_spec(NEEDS[k]) is None:
            raise PrunelabError(f"--logger {k} needs the '{NEEDS[k]}' package: pip install 'prunelab[tracking]'")
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise PrunelabError(f"--log-every must be a whole number of steps >= 0, got {every!r}")
    if every and not kinds:
        raise PrunelabError("--log-every needs a --logger to log to")
    if kinds:
        os.environ[ENV] = ",".join(kinds)
    else:
        os.environ.pop(ENV, None)
    os.environ[EVERY] = str(every)


@contextlib.contextmanager
def configured(kinds: list[str] | None, every: int = 0):
    """``configure`` for the length of one command; the environment as it was afterwards (a command
    called from Python, e.g. by a test, leaves no logger behind)."""
    before = {k: os.environ.get(k) for k in (ENV, EVERY, "MLFLOW_ALLOW_FILE_STORE")}
    try:
        configure(kinds, every)
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def active() -> list[str]:
    return [k for k in os.environ.get(ENV, "").split(",") if k in KINDS]


def _tags(settings) -> dict[str, str]:
    labels = settings.labels or {}
    method = labels.get("method") or (settings.method or {}).get("name") or ""
    return {"run_id": settings.run_id(), "experiment": labels.get("experiment", ""), "method": method,
            "regime": labels.get("regime", "train"), "seed": str(settings.seed), "arch": settings.arch.get("name", ""),
            "pruned": labels.get("pruned") or ""}


class Writers:
    """The writers of one run (none where no logger is active, or where ``enabled`` is false: a
    torchrun rank other than 0). A context: set ``result`` to the run's result before it ends; the
    writers close with it (without it, the run is marked failed)."""

    def __init__(self, run_dir: Path, settings, store_root: Path, enabled: bool = True):
        self.run_dir, self.writers, self.result = Path(run_dir), [], None
        for kind in active() if enabled else ():
            try:
                self.writers.append(_MAKERS[kind](self.run_dir, settings, Path(store_root)))
            except Exception as e:  # a tracking backend never stops training: say so once, go on
                warn(f"--logger {kind}: cannot log run {settings.run_id()} ({type(e).__name__}: {e})")

    def epoch(self, log: dict, history: list[dict]) -> None:
        for w in self.writers:
            w.epoch(log, history)

    def step_hook(self):
        """The training loop's per-step callback where ``--log-every N`` asks for one (else None)."""
        try:
            every = int(os.environ.get(EVERY, "0") or 0)
        except ValueError:
            every = 0
        if not every or not self.writers:
            return None

        def on_step(step: int, loss, lr: float) -> None:
            if step % every == 0:
                metrics = {"step_train_loss": float(loss.detach()), "step_lr": float(lr)}
                for w in self.writers:
                    w.step(step, metrics)

        return on_step

    def close(self, result: dict | None = None) -> None:
        for w in self.writers:
            w.close(result)

    def __enter__(self) -> "Writers":
        return self

    def __exit__(self, *exc) -> None:
        self.close(self.result)


class _CSV:
    def __init__(self, run_dir, settings, store_root):
        self.path = run_dir / "metrics.csv"

    def epoch(self, log, history):
        keys = list(dict.fromkeys(k for h in history for k in h))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(history)
        atomic_write_text(self.path, buf.getvalue())

    def step(self, step, metrics):  # appended (a run resumed within an epoch may repeat a few steps)
        path = self.path.with_name("metrics-steps.csv")
        new = not path.is_file()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["step", *metrics])
            if new:
                w.writeheader()
            w.writerow({"step": step, **metrics})

    def close(self, result):
        pass


class _TensorBoard:
    def __init__(self, run_dir, settings, store_root):
        from torch.utils.tensorboard import SummaryWriter

        self.w = SummaryWriter(str(run_dir / "tb"))
        self.w.add_text("run", json.dumps(_tags(settings)), 0)

    def epoch(self, log, history):
        for k, v in log.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.w.add_scalar(k, v, log["epoch"])
        self.w.flush()

    def step(self, step, metrics):
        for k, v in metrics.items():
            self.w.add_scalar(k, v, step)

    def close(self, result):
        self.w.close()


class _MLflow:
    def __init__(self, run_dir, settings, store_root):
        from mlflow.tracking import MlflowClient

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:  # the local file store (MLflow 3 keeps it in maintenance and asks to opt in to it)
            uri = (store_root.resolve() / "mlruns").as_uri()
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        self.file = run_dir / "mlflow.json"
        known = json.loads(self.file.read_text()) if self.file.is_file() else {}
        if known.get("tracking_uri") == uri and known.get("run_id"):
            try:  # a resumed run logs into its MLflow run, if that run is still in the store
                self.client.update_run(known["run_id"], status="RUNNING")
                self.run_id = known["run_id"]
                return
            except Exception:
                pass
        tags = _tags(settings)
        name = tags["experiment"] or "prunelab"
        exp = self.client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp is not None else self.client.create_experiment(name)
        run = self.client.create_run(exp_id, tags=tags, run_name=tags["run_id"])
        self.run_id = run.info.run_id
        recipe = settings.recipe
        for k, v in (recipe if isinstance(recipe, dict) else vars(recipe)).items():
            self.client.log_param(self.run_id, f"recipe.{k}", v)
        atomic_write_text(self.file, json.dumps({"tracking_uri": uri, "run_id": self.run_id}))

    def epoch(self, log, history):
        for k, v in log.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self.client.log_metric(self.run_id, k, float(v), step=int(log["epoch"]))

    def step(self, step, metrics):
        for k, v in metrics.items():
            self.client.log_metric(self.run_id, k, v, step=step)

    def close(self, result):
        for k in ("final_top1", "final_top5", "params", "macs"):
            if result and isinstance(result.get(k), (int, float)):
                self.client.log_metric(self.run_id, k, float(result[k]))
        self.client.set_terminated(self.run_id, status="FINISHED" if result else "FAILED")


_MAKERS = {"csv": _CSV, "tensorboard": _TensorBoard, "mlflow": _MLflow}
