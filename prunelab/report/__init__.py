"""Reports: results -> tables (md, csv, json), plots and verdicts. Reads files only."""
from .plot import plot
from .table import (aggregate, compare, columns, load_results, markdown, stats, to_csv, to_json, verdict, verdicts,
                    versions)

__all__ = ["aggregate", "columns", "compare", "load_results", "markdown", "plot", "stats", "to_csv", "to_json",
           "verdict", "verdicts", "versions"]
