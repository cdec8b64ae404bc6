"""Run settings, the run store, prune steps, experiment grids."""
from .settings import RunSettings
from .store import RunStore, execute

__all__ = ["RunSettings", "RunStore", "execute"]
