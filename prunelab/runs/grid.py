"""Experiment grids, as one import (for code written against earlier releases): the experiment
file is ``runs/experiment.py``, planning ``runs/plan.py``, execution ``runs/execution.py``."""
from .execution import GridOutcome, grid_results, prune_for, run_grid
from .experiment import UNSET, Experiment, ModelEntry, ScratchB, imported, load_experiment
from .plan import Arm, Grid, PlannedRun, distinct, expected_epochs, plan, resolve_run, waits_for

__all__ = ["UNSET", "Arm", "Experiment", "Grid", "GridOutcome", "ModelEntry", "PlannedRun", "ScratchB", "distinct",
           "expected_epochs", "grid_results", "imported", "load_experiment", "plan", "prune_for", "resolve_run",
           "run_grid", "waits_for"]
