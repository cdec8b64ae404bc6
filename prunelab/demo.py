"""The main job: the paper's protocol end to end on Fashion-MNIST, sized for 2 CPU cores."""
from __future__ import annotations

from pathlib import Path

from .report import aggregate, markdown, plot, to_csv, verdict
from .fileio import atomic_write_text
from .runs import RunStore
from .runs.execution import grid_results, run_grid
from .runs.experiment import load_experiment
from .runs.plan import plan

DEMO_CONFIG = Path(__file__).parent / "configs" / "demo.yaml"


def run_demo(out: str | Path, store: str | Path | None = None, data_dir=None, device: str = "auto",
             config: str | Path = DEMO_CONFIG, progress: bool = True) -> tuple[str, list[dict]]:
    """Run (or resume) the demo grid; write report.md, report.csv and report.png into ``out``."""
    out = Path(out)
    exp = load_experiment(config)
    grid = plan(exp)
    st = RunStore(store or out / "runs")
    run_grid(grid, st, data_dir=data_dir, device=device, progress=progress)
    rows = aggregate(grid_results(grid, st))
    text = f"# {exp.name}\n\n{exp.description.strip()}\n\n" + markdown(rows)
    verdicts = [f"- {r['pruned']}: {verdict(r)}" for r in rows if verdict(r)]
    if verdicts:
        text += "\nVerdict on the paper's claim (Scratch-B is at least as good as Fine-tuned):\n\n" + "\n".join(verdicts) + "\n"
    atomic_write_text(out / "report.md", text)
    atomic_write_text(out / "report.csv", to_csv(rows))
    plot(rows, out / "report.png")
    return text, rows
