"""Architectures as data: specs, model families, names and presets."""
from .families import build, linear_widths, prunable_widths, with_widths
from .names import known_names, resolve, spec_file
from .spec import ArchSpec

__all__ = ["ArchSpec", "build", "known_names", "linear_widths", "prunable_widths", "resolve", "spec_file",
           "with_widths"]
