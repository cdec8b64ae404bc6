"""Reports: results -> tables (md, csv, json), plots and verdicts. Reads files only."""
from .plot import plot, plot_efficiency, plot_pattern, plot_prune, plot_sparsity, plot_weights
from .stats import compare
from .prune_steps import load_prune_steps, prune_groups, prune_markdown
from .table import aggregate, columns, load_results, markdown, stats, to_csv, to_json, verdict, verdicts, versions

__all__ = ["aggregate", "columns", "compare", "load_prune_steps", "load_results", "markdown", "plot", "plot_efficiency", "plot_pattern", "plot_prune", "plot_sparsity", "plot_weights",
           "prune_groups", "prune_markdown", "stats", "to_csv", "to_json", "verdict", "verdicts", "versions"]
