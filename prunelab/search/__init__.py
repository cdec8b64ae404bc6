"""Pruning as architecture search (paper Section 5), mechanics only: uniformly scaled architectures
of a given size, patterns of kept channels (per layer or per stage) taken from pruned
architectures, guided architectures built from a pattern (also on another depth or dataset of the
family), and per-layer sparsity patterns of masked models."""
from .fit import TOLERANCE, size, uniform
from .pattern import (average, guided, load_pattern, pattern, pattern_of, ratios_for, save_pattern, sparsify,
                      sparsity_pattern)
from .units import channels, units

__all__ = ["TOLERANCE", "average", "channels", "guided", "load_pattern", "pattern", "pattern_of", "ratios_for",
           "save_pattern", "size", "sparsify", "sparsity_pattern", "uniform", "units"]
