"""Architectures as data: specs, model families, names and presets."""
from .families import build, prunable_widths, with_widths
from .names import known_names, resolve
from .spec import ArchSpec

__all__ = ["ArchSpec", "build", "known_names", "prunable_widths", "resolve", "with_widths"]
