"""CLI verbs beyond the foundation: prune, plan, run, report, demo, export."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import PrunelabError


def add_parsers(sub) -> None:
    from .cli import _add_data_args

    p = sub.add_parser("prune", help="prune a trained model file into a smaller one (with its spec)",
                       description="Score filters with a criterion, keep the best per layer, and remove the "
                                   "rest physically (Torch-Pruning surgery). Writes a model file holding the "
                                   "pruned architecture spec, its weights and the kept indices.",
                       epilog="Example: prunelab prune runs/<run>/model.pt --target resnet56-B --out r56b.pt")
    p.add_argument("model", help="model file (model.pt) or run folder")
    p.add_argument("--target", required=True,
                   help="a preset name (e.g. resnet56-A) or a ratio in [0, 1) of every prunable layer's filters")
    p.add_argument("--dataset", help="dataset of the presets (default: the run's, else guessed from the input)")
    p.add_argument("--criterion", default="l1-norm", help="filter score (l1-norm, l2-norm)")
    p.add_argument("--selection", default="largest", help="largest | smallest | random (controls)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random selection")
    p.add_argument("--round-to", type=int, default=1, metavar="N",
                   help="with a ratio: round each layer's kept filters up to a multiple of N (e.g. 16)")
    p.add_argument("--out", required=True, help="output model file")

    p = sub.add_parser("plan", help="dry run: list every run of an experiment file",
                       description="List every run an experiment file declares (with Scratch-B's budget "
                                   "rule and epochs) and its state in the store. Trains nothing.")
    p.add_argument("file", help="experiment YAML file")
    p.add_argument("--json", action="store_true", help="print a JSON list (arch, regime, seed, epochs, ...)")
    p.add_argument("--store", help="run store folder (default: $PRUNELAB_STORE or ./runs)")

    p = sub.add_parser("run", help="run an experiment file (resumable)",
                       description="Execute every run of an experiment file through the run store: each "
                                   "seed's baseline once, then pruning and every regime. Rerunning resumes.")
    p.add_argument("file", help="experiment YAML file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--together", action="store_true",
                   help="train the seeds of each random-init arm at once (torch.func; for GPUs; no per-epoch "
                        "checkpoints inside such a group)")
    _add_data_args(p)

    p = sub.add_parser("report", help="aggregate finished runs into the paper's table and a plot",
                       description="Aggregate result.json files under DIR: Unpruned | Fine-tuned | Scratch-E | "
                                   "Scratch-B as mean ± std (n) per pruned model, sizes and compute.")
    p.add_argument("dir", nargs="?", help="folder to search for result.json (default: the run store)")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.add_argument("--plot", help="also write the PNG plot here")

    p = sub.add_parser("demo", help="the main job: the protocol on Fashion-MNIST in minutes",
                       description="Train a narrow VGG-11 on Fashion-MNIST, prune it with L1-norm filter pruning "
                                   "at two ratios, and compare Fine-tuned, Scratch-E and Scratch-B over 3 seeds. "
                                   "Writes report.md, report.csv and report.png into --out. Rerunning resumes.")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--config", help="another experiment file to run as the demo")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_args(p)

    p = sub.add_parser("export", help="export a model for inference (BN and selections folded)",
                       description="Fold channel selections into the next layer and BatchNorm into the "
                                   "preceding conv, then write TorchScript, torch.export and ONNX files.")
    p.add_argument("model", help="model file (model.pt) or run folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--formats", default="torchscript,export,onnx",
                   help="comma-separated: torchscript, export, onnx (ONNX needs pip install 'prunelab[export]')")

    from .cli import register

    for name, fn in (("export", cmd_export), ("prune", cmd_prune), ("plan", cmd_plan), ("run", cmd_run), ("report", cmd_report),
                     ("demo", cmd_demo)):
        register(name, fn)


def _guess_dataset(model_path: Path, spec) -> str:
    settings = (model_path if model_path.is_dir() else model_path.parent) / "settings.json"
    if settings.is_file():
        return json.loads(settings.read_text())["data"]["dataset"]
    if spec.input_size >= 128:
        return "imagenet"
    return "fashion-mnist" if spec.in_channels == 1 else ("cifar100" if spec.num_classes == 100 else "cifar10")


def cmd_prune(args) -> int:
    from .measure import count
    from .models_io import load, save
    from .prune import parse_target, prune

    try:
        ratio = float(args.target)
    except ValueError:
        if args.round_to != 1:
            raise PrunelabError("--round-to applies to a ratio target, not to a preset")
        target = parse_target(args.target)
    else:
        target = parse_target({"ratio": ratio, "round_to": args.round_to})
    model = load(args.model)
    dataset = args.dataset or _guess_dataset(Path(args.model), model.arch_spec)
    pruned, kept = prune(model, target, dataset, args.criterion, args.selection, args.seed)
    save(pruned, args.out, extra={"kept": kept, "from": str(args.model)})
    a, b = count(model), count(pruned)
    print(f"{model.arch_spec.name} -> {pruned.arch_spec.name}: params {a.params:,} -> {b.params:,} "
          f"({b.params / a.params:.1%}), MACs {a.macs:,} -> {b.macs:,} ({b.macs / a.macs:.1%})")
    print(f"wrote {args.out}")
    return 0


def cmd_export(args) -> int:
    from .export import export
    from .models_io import load

    files = export(load(args.model), args.out, formats=[f.strip() for f in args.formats.split(",") if f.strip()])
    for fmt, path in files.items():
        print(f"{fmt}: {path}")
    return 0


def cmd_plan(args) -> int:
    from .runs import RunStore
    from .runs.grid import load_experiment, plan, plan_rows

    grid = plan(load_experiment(args.file))
    rows = plan_rows(grid, RunStore(args.store))
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{grid.experiment.name}: {len(rows)} runs")
    print(f"{'state':9} {'regime':10} {'seed':>4} {'epochs':>6}  arch")
    for r in rows:
        extra = ""
        if r["regime"] == "scratch-b":
            b = r["budget"]
            extra = f"   ({b['base_epochs']} x {b['mac_ratio']:.3f} MAC ratio{', cap %g' % b['cap'] if b['cap'] else ''})"
        print(f"{r['state']:9} {r['regime']:10} {r['seed']:>4} {r['epochs']:>6}  {r['arch']}{extra}")
    return 0


def cmd_run(args) -> int:
    from .report import aggregate, markdown
    from .runs import RunStore
    from .runs.grid import grid_results, load_experiment, plan, run_grid

    grid = plan(load_experiment(args.file))
    store = RunStore(args.store)
    run_grid(grid, store, data_dir=args.data, device=args.device, progress=not args.quiet, together=args.together)
    print(markdown(aggregate(grid_results(grid, store))))
    return 0


def cmd_report(args) -> int:
    from .report import aggregate, load_results, markdown, plot, to_csv, to_json
    from .runs import RunStore

    root = Path(args.dir) if args.dir else RunStore().root
    rows = aggregate(load_results(root))
    print({"md": markdown, "csv": to_csv, "json": to_json}[args.format](rows), end="")
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def cmd_demo(args) -> int:
    from .demo import DEMO_CONFIG, run_demo

    if args.config and not Path(args.config).is_file():
        raise PrunelabError(f"config file not found: {args.config}")
    text, _ = run_demo(args.out, store=args.store, data_dir=args.data, device=args.device,
                       config=args.config or DEMO_CONFIG, progress=not args.quiet)
    print(text)
    print(f"wrote {Path(args.out) / 'report.md'}, report.csv and report.png")
    return 0
