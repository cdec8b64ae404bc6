"""Counting (params, MACs; dense and nonzero) and, later, latency."""
from .counting import Count, LayerCount, count, spec_macs

__all__ = ["Count", "LayerCount", "count", "spec_macs"]
