"""Reports: results -> tables (md, csv, json), plots and verdicts. Reads files only."""
from .plot import plot
from .table import aggregate, load_results, markdown, stats, to_csv, to_json, verdict

__all__ = ["aggregate", "load_results", "markdown", "plot", "stats", "to_csv", "to_json", "verdict"]
