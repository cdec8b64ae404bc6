"""Architectures as data: specs, model families, names and presets."""
from .families import build, linear_widths, prunable_widths, with_widths
from .names import known_names, resolve
from .spec import ArchSpec

__all__ = ["ArchSpec", "build", "known_names", "linear_widths", "prunable_widths", "resolve", "with_widths"]
