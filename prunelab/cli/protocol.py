"""CLI verbs of the protocol: plan, run, report, demo, judge."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from .common import add_data_args, add_logger_arg, add_store_args, key_values, store_arg
from ..errors import PrunelabError, check_seed, one_line, warn
from ..fileio import writable_dir, writable_file
from ..shipped import DOCS


def add_parsers(sub) -> None:
    p = sub.add_parser("plan", help="dry run: list every run of an experiment file",
                       description="List every run an experiment file declares (with Scratch-B's budget "
                                   "rule and epochs) and its state in the store. Trains nothing.")
    p.add_argument("file", help="experiment YAML file, or a shipped experiment's name (prunelab experiments)")
    p.add_argument("--json", action="store_true", help="print a JSON list (arch, regime, seed, epochs, ...)")
    p.add_argument("--store", help="run store folder (default: $PRUNELAB_STORE or ./runs)")
    p.add_argument("--device", default="auto", help="the device whose speed the duration estimate uses")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="plan the runs as N processes train them (torchrun --nproc_per_node=N, a launcher's "
                        "tasks_per_node): with per-process BatchNorm their run ids name N (default 1)")

    p = sub.add_parser("run", help="run an experiment file (resumable)",
                       description="Execute every run of an experiment file through the run store: each "
                                   "seed's baseline once, then pruning and every regime. Rerunning resumes.")
    p.add_argument("file", help="experiment YAML file, or a shipped experiment's name (prunelab experiments)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--together", action="store_true",
                   help="train the seeds of each random-init arm at once (torch.func; for GPUs; no per-epoch "
                        "checkpoints inside such a group)")
    p.add_argument("--force", action="store_true",
                   help="retrain every run and redo every prune step of the file (start one worker only)")
    p.add_argument("--launcher", choices=["local", "submitit"], default="local",
                   help="local: this process runs the grid (default); submitit: each run and prune step is a job "
                        "(SLURM or this machine), submitted in dependency waves (pip install 'prunelab[cluster]')")
    p.add_argument("--cluster", choices=["slurm", "local", "debug"],
                   help="with --launcher submitit: slurm (default), local (one process per job on this machine) or "
                        "debug (the jobs in this process)")
    p.add_argument("--jobs-dir", help="with --launcher submitit: submitit's files and the jobs' logs "
                                      "(default: STORE/jobs)")
    p.add_argument("--launcher-param", action="append", default=[], metavar="KEY=VALUE",
                   help="with --launcher submitit: a setting of the file's launcher: section (partition, "
                        "gpus_per_node, timeout_min, cpus_per_task, mem_gb, parallel, ...), this one winning; "
                        "repeatable")
    add_data_args(p)
    add_logger_arg(p)

    p = sub.add_parser("report", help="aggregate finished runs into the paper's table and a plot",
                       description="Aggregate result.json files under DIR: Unpruned | Fine-tuned | Scratch-E | "
                                   "Scratch-B as mean ± std (n) per pruned model, sizes and compute.")
    add_store_args(p, "folder to search for result.json (a run store)")
    p.add_argument("--format", choices=["md", "csv", "json"],
                   help="md (default), csv or json (accuracies in JSON and CSV are fractions in [0, 1])")
    p.add_argument("--json", action="store_true", help="the same as --format json")
    p.add_argument("--plot", help="also write the PNG plot here")
    p.add_argument("--inits", action="store_true",
                   help="also show how each arm started: per weight its std at step 0 (over kept entries), the "
                        "mean BN scale, and the init kind")

    p = sub.add_parser("demo", help="the main job: the protocol on Fashion-MNIST in minutes",
                       description="Train a narrow VGG-11 on Fashion-MNIST, prune it with L1-norm filter pruning "
                                   "at two ratios, and compare Fine-tuned, Scratch-E and Scratch-B over 3 seeds. "
                                   "Writes report.md, report.csv and report.png into --out. Rerunning resumes.")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--config", help="another experiment file (or shipped experiment) to run as the demo")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_args(p)
    add_logger_arg(p)
    next(a for a in p._actions if a.dest == "store").help = "run store folder (default: $PRUNELAB_STORE or OUT/runs)"

    p = sub.add_parser("judge", help="judge a pruning method against Scratch-E/B, uniform and random baselines",
                       description="Run a method's Fine-tuned arm and its baselines (Scratch-E, Scratch-B, a "
                                   "uniform-width model of equal params, random channels at the method's widths) "
                                   "over the file's seeds, then print per baseline the difference of means, its "
                                   "95% CI and a t-test p-value (paired by seed where both arms come from one "
                                   "seed's large model, else Welch's), each arm's training compute and its "
                                   "measured latency beside its MAC reduction. Resumable, like run. See "
                                   f"{DOCS}/judge.md.",
                       epilog="Example: prunelab judge experiments/small/judge-fashion.yaml --method my_method:MyMethod")
    p.add_argument("file", help="experiment YAML file or a shipped experiment's name (its models, targets, data, "
                                "recipes and seeds)")
    p.add_argument("--method", help="the method to judge: a registered name, module:attribute or an entry point "
                                    "(default: the file's prune)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the judged method (value read as YAML); repeatable")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default: the file's)")
    p.add_argument("--baselines", help="comma-separated baselines to run (default: all of scratch-e, scratch-b, "
                                       "uniform, random)")
    p.add_argument("--uniform-regime", default="scratch-e",
                   help="how the uniform model trains: scratch-e (default) or scratch-b")
    p.add_argument("--latency-batch", type=int, default=32, metavar="N",
                   help="images per batch of the latency measurement (default: 32)")
    p.add_argument("--out", help="also write judge.md and judge.json into this folder")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_args(p)
    add_logger_arg(p)



def cmd_plan(args) -> int:
    from ..protocol import regime
    from ..runs import RunStore
    from ..runs.experiment import load_experiment
    from ..runs.plan import plan
    from .plan_rows import plan_rows, throughput
    from ..runs.store import provenance
    from ..train import resolve_device

    if args.processes < 1:
        raise PrunelabError(f"--processes must be a positive number of processes, got {args.processes}")
    grid = plan(load_experiment(args.file), processes=args.processes)
    if grid.sections.transfer is not None:
        grid.sections.transfer.check_data()
    store = RunStore(args.store)
    rows = plan_rows(grid, store)
    if args.json:
        print(json.dumps(rows))
        return 0
    shared = sum(bool(r.get("shared")) for r in rows)
    print(f"{grid.experiment.name}: {len(rows) - shared} runs" + (f" ({len(rows)} rows: {shared} runs are shared "
                                                                  "by several arms and counted once)" if shared else ""))
    print(f"{'state':9} {'regime':10} {'seed':>4} {'epochs':>6} {'TMACs':>8}  arch")
    several = len({r["method"] for r in rows if r["method"]}) > 1  # then name each arm's method and parameters
    for r in rows:
        extra = f"   [{r['method']}]" if several and r["method"] else ""
        if r.get("imported"):
            extra += f"   imported (sha256 {r['imported']['sha256'][:16]}…, evaluated: 0 epochs)"
        elif r.get("rule"):
            extra += f"   (Scratch-B: {r['rule']})"
        elif r.get("budget") and regime(r["regime"]).budget:
            b = r["budget"]
            cap = f", cap {b['cap']:g}" if b["cap"] else ""
            extra += f"   ({b['base_epochs']} x {b['mac_ratio']:.3f} MAC ratio{cap})"
        if r.get("task"):
            extra += f"   {r['task']} from {r['from']}"
        if r.get("shared"):
            extra += "   (the same run as above: counted once)"
        state = "waiting" if r["run_id"] is None else r["state"]
        epochs = "rule" if r["epochs"] is None else r["epochs"]
        seed = "all" if r.get("imported") else r["seed"]  # an imported baseline is shared by every seed
        print(f"{state:9} {r['regime']:10} {seed:>4} {epochs:>6} {r['train_macs'] / 1e12:>8.3f}  {r['arch']}{extra}")
    from ..runs.prune_step import code_changes

    for note in code_changes(store, [r.prune for r in grid.runs if r.prune is not None]):
        print(f"note: {note}")
    total = sum(r["train_macs"] for r in rows)
    left = sum(r["train_macs"] for r in rows if r["state"] != "finished")
    line = f"training compute: {total / 1e12:,.3f} TMACs in all, {left / 1e12:,.3f} TMACs to go"
    device = provenance(resolve_device(args.device))["device"]
    rate = throughput(store, device)
    if rate:
        line += f"; about {_duration(left / rate)} on this device ({device}, from its finished runs)"
    print(line)
    return 0


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_run(args) -> int:
    from ..runs import RunStore
    from ..runs.execution import grid_results, run_grid
    from ..runs.experiment import load_experiment
    from ..runs.plan import plan

    if args.launcher == "submitit":
        from ..runs.launch import require_submitit

        require_submitit()
        for flag, given in (("--force", args.force), ("--together", args.together)):
            if given:
                raise PrunelabError(f"{flag} works with --launcher local only")
    else:
        extra = [flag for flag, given in (("--cluster", args.cluster), ("--jobs-dir", args.jobs_dir),
                                          ("--launcher-param", args.launcher_param)) if given]
        if extra:
            raise PrunelabError(f"{', '.join(extra)}: only with --launcher submitit")
    if args.together and args.logger:
        raise PrunelabError("--logger does not reach runs trained --together (several runs in one loop); use one "
                            "of the two")
    exp = load_experiment(args.file)
    store = RunStore(args.store).writable()
    if args.launcher == "submitit":
        return _run_jobs(args, exp, store)
    from ..train import distributed as ddp

    grid = plan(exp, processes=ddp.world())
    if args.together:
        from ..train import resolve_device

        if resolve_device(args.device).type == "cpu":
            warn(f"--together brings no speed-up on a CPU ({DOCS}/performance.md: 0.91x-1.00x) and runs trained "
                 "together have no per-epoch checkpoints")
    done = run_grid(grid, store, data_dir=args.data, device=args.device, progress=not args.quiet,
                    together=args.together, force=args.force)
    ids = {r.prune.id for r in grid.runs if r.prune is not None}
    print(tables(grid_results(grid, store), store.root, ids))
    print(f"{grid.experiment.name}: {len(done.trained)} runs trained here, {len(done.reused)} reused "
          f"(finished before or by another worker)", file=sys.stderr)
    return 0


def _run_jobs(args, exp, store) -> int:
    """``run --launcher submitit``: the grid's runs and prune steps as jobs (runs/launch.py); each
    run is planned for its job's processes (``tasks_per_node``)."""
    from ..runs.execution import grid_results
    from ..runs.plan import plan
    from ..runs.launch import launch_grid, launcher_settings

    given = key_values(args.launcher_param, "--launcher-param")
    launcher_settings(given, "--launcher-param")
    launcher = launcher_settings({**exp.launcher, **given})
    grid = plan(exp, processes=launcher.tasks)
    done = launch_grid(grid, store, cluster=args.cluster or "slurm", jobs_dir=args.jobs_dir, launcher=launcher,
                       data_dir=args.data, device=args.device, progress=not args.quiet)
    ids = {r.prune.id for r in grid.runs if r.prune is not None}
    print(tables(grid_results(grid, store), store.root, ids))
    print(f"{grid.experiment.name}: {done.jobs} jobs in {done.waves} waves ({len(done.trained)} runs trained, "
          f"{len(done.pruned)} prune steps), {len(done.reused)} runs reused (finished before or by another "
          f"worker); logs in {done.jobs_dir}", file=sys.stderr)
    for failure in done.failures:
        print(f"prunelab run: error: {one_line(failure)}", file=sys.stderr)
    if done.failures and done.left:
        print(f"prunelab run: {done.left} runs not finished; fix the cause and run the same command again "
              "(finished runs are kept)", file=sys.stderr)
    return 1 if done.failures else 0


def tables(results: list[dict], root, prune_ids=None) -> str:
    """The report's tables of a grid's (or a store's) results: the classification table, the prune
    steps and the detection transfer's table."""
    from ..report import aggregate, load_prune_steps, markdown, prune_groups, prune_markdown
    from ..report.transfer import transfer_markdown, transfer_rows

    return (markdown(aggregate(results)) + prune_markdown(prune_groups(load_prune_steps(root, prune_ids)))
            + transfer_markdown(transfer_rows(results)))


def cmd_report(args) -> int:
    from ..report import (aggregate, load_prune_steps, load_results, markdown, plot, plot_efficiency, plot_prune,
                         plot_sparsity, plot_weights, prune_groups, prune_markdown, to_csv, to_json, versions)
    from ..runs import RunStore

    if args.json and args.format not in (None, "json"):
        raise PrunelabError(f"--json and --format {args.format} ask for two formats; give one")
    args.format = "json" if args.json else (args.format or "md")
    store = store_arg(args)
    root = Path(store) if store else RunStore().root
    if args.plot is not None:
        writable_file(args.plot, "--plot")
        if Path(args.plot).suffix.lower() != ".png":
            warn(f"--plot {args.plot}: the plot is a PNG image whatever the file is called")
    skipped: list[str] = []
    results = load_results(root, skipped)
    rows = aggregate(results)
    for s in skipped:
        warn(f"skipped {s}")
    if not rows:
        warn(f"no finished runs with regime labels under {root}")
    if len(versions(rows)) > 1:
        warn(f"runs of several prunelab versions ({', '.join(versions(rows))}); their rows are kept apart")
    groups = prune_groups(load_prune_steps(root))
    from ..report.transfer import transfer_markdown, transfer_rows

    detection = transfer_rows(results)
    if args.format == "json":  # (the detection rows after the classification rows, marked "task": "detection")
        print(to_json(rows + [{"task": "detection", **r} for r in detection]), end="")
    else:
        print({"md": markdown, "csv": to_csv}[args.format](rows), end="")
    if args.format == "md":
        print(prune_markdown(groups), end="")
        print(transfer_markdown(detection), end="")
        if args.inits:
            from ..report.inits import inits_markdown

            print(inits_markdown(rows), end="")
    if args.plot is not None:
        plot(rows, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
        stem = Path(args.plot).with_name(Path(args.plot).stem)
        for extra in (plot_prune(groups, f"{stem}-prune.png"), plot_sparsity(rows, f"{stem}-sparsity.png"),
                      plot_weights(rows, root, f"{stem}-weights.png"), plot_efficiency(rows, f"{stem}-params.png")):
            if extra:
                print(f"plot: {extra}", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    from ..demo import DEMO_CONFIG, run_demo
    from ..runs import RunStore

    if args.config:
        from ..shipped import experiment_path

        args.config = experiment_path(args.config)
        if not args.config.is_file():
            raise PrunelabError(f"config file not found: {args.config}")
    writable_dir(args.out, "--out")
    store = args.store or os.environ.get("PRUNELAB_STORE") or Path(args.out) / "runs"
    RunStore(store).writable()
    text, _ = run_demo(args.out, store=store, data_dir=args.data, device=args.device,
                       config=args.config or DEMO_CONFIG, progress=not args.quiet)
    print(text)
    print(f"wrote {Path(args.out) / 'report.md'}, report.csv and report.png")
    return 0


def cmd_judge(args) -> int:
    from ..report.verdicts import judge_rows, markdown
    from ..runs import RunStore
    from ..runs.experiment import load_experiment
    from ..runs.judge_grids import BASELINES, judge_plan, measure_latency, method_entry, run_judgement, write_outputs

    if args.out is not None:
        writable_dir(args.out, "--out")
    exp = load_experiment(args.file)
    if args.seeds:
        for s in args.seeds:
            check_seed(s, "--seeds")
        exp = dataclasses.replace(exp, seeds=list(dict.fromkeys(args.seeds)))
    entry = method_entry(exp, args.method, key_values(args.param, "--param"))
    baselines = BASELINES if args.baselines is None else tuple(b.strip() for b in args.baselines.split(",")
                                                                 if b.strip())
    judgement = judge_plan(exp, entry, baselines, args.uniform_regime)
    store = RunStore(args.store).writable()
    results = run_judgement(judgement, store, data_dir=args.data, device=args.device, progress=not args.quiet)
    rows = judge_rows(results, measure_latency(results, args.latency_batch, args.device))
    text = markdown(rows)
    print(json.dumps(rows, indent=2) if args.json else text, end="" if args.json else "\n")
    if args.out is not None:
        write_outputs(args.out, text, rows)
        print(f"wrote {Path(args.out) / 'judge.md'} and judge.json", file=sys.stderr)
    return 0


COMMANDS = {"plan": cmd_plan, "run": cmd_run, "report": cmd_report, "demo": cmd_demo, "judge": cmd_judge}
