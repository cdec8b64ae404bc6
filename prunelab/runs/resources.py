"""An experiment file's ``launcher:`` section: the resources of each job of ``prunelab run
--launcher submitit`` (``runs/launch.py`` submits them). Checked when the file is loaded."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..config import from_mapping
from ..errors import PrunelabError


@dataclass(frozen=True)
class Launcher:
    """An experiment file's ``launcher:`` section: the resources of each job (one run or prune step)."""

    partition: str | None = None  # SLURM partition
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    timeout_min: int = 1440  # a job past it is killed; the next `prunelab run` resumes its checkpoint
    nodes: int = 1
    tasks_per_node: int | None = None  # a run's processes (DDP); default: one per GPU (gpus_per_node), else 1
    gpus_per_node: int = 0
    cpus_per_task: int | None = None  # also the job's torch threads
    mem_gb: float | None = None
    parallel: int | None = None  # jobs at once (default: as the cluster schedules them; 1 with --cluster local)
    setup: list = field(default_factory=list)  # shell lines before each job (module load ..., source venv)
    sbatch: dict = field(default_factory=dict)  # other sbatch options, e.g. {exclude: node12}

    def check(self, where: str = "launcher") -> "Launcher":
        for key in ("partition", "account", "qos", "constraint"):
            v = getattr(self, key)
            if v is not None and not v.strip():
                raise PrunelabError(f"{where}: '{key}' is empty")
        for key, low in (("timeout_min", 1), ("nodes", 1), ("tasks_per_node", 1), ("gpus_per_node", 0),
                         ("cpus_per_task", 1), ("parallel", 1)):
            v = getattr(self, key)
            if v is not None and v < low:
                raise PrunelabError(f"{where}: '{key}' must be a whole number >= {low}, got {v}")
        if self.mem_gb is not None and not self.mem_gb > 0:
            raise PrunelabError(f"{where}: 'mem_gb' must be > 0, got {self.mem_gb}")
        if not all(isinstance(line, str) for line in self.setup):
            raise PrunelabError(f"{where}: 'setup' must list shell lines (text)")
        if not all(isinstance(k, str) and k for k in self.sbatch):
            raise PrunelabError(f"{where}: 'sbatch' must map option names to values")
        if self.nodes > 1:
            raise PrunelabError(f"{where}: a job trains one run on one node (its GPUs: gpus_per_node); use nodes: 1 "
                                "(the grid's runs still train in parallel, one job each)")
        if self.gpus_per_node > 1 and self.tasks_per_node not in (None, self.gpus_per_node):
            raise PrunelabError(f"{where}: a job trains with one process per GPU: tasks_per_node must be "
                                f"gpus_per_node ({self.gpus_per_node}) or left out, got {self.tasks_per_node}")
        return self

    @property
    def tasks(self) -> int:
        """The processes of a run's job (DDP over them when more than one)."""
        return self.tasks_per_node or max(1, self.gpus_per_node)

    def for_prune_steps(self) -> "Launcher":
        """A prune step's job: one process, on at most one GPU."""
        return replace(self, tasks_per_node=1, gpus_per_node=min(1, self.gpus_per_node))


def launcher_settings(mapping: dict | None, where: str = "launcher") -> Launcher:
    """A ``launcher:`` mapping, checked (unknown keys and wrong types are one-line errors)."""
    return from_mapping(Launcher, mapping or {}, where).check(where)
