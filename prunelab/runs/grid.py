"""Experiment grids, as one import (for code written against earlier releases): the experiment
file is ``runs/experiment.py``, planning ``runs/plan.py``, execution ``runs/execution.py``."""
from .execution import GridOutcome, grid_results, prune_for, run_grid, throughput
from .experiment import UNSET, Experiment, ModelEntry, ScratchB, imported, load_experiment
from .plan import Arm, Grid, PlannedRun, distinct, expected_epochs, plan, plan_rows, resolve_run, rule, waits_for

__all__ = ["UNSET", "Arm", "Experiment", "Grid", "GridOutcome", "ModelEntry", "PlannedRun", "ScratchB", "distinct",
           "expected_epochs", "grid_results", "imported", "load_experiment", "plan", "plan_rows", "prune_for",
           "resolve_run", "rule", "run_grid", "throughput", "waits_for"]
