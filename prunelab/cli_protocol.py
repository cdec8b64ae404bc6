"""CLI verbs beyond the foundation: prune, plan, run, report, demo, export, import-weights."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from .cli_common import add_data_args, spec_from
from .errors import PrunelabError, check_seed, one_line, warn
from .fileio import writable_dir, writable_file


def add_parsers(sub) -> None:
    p = sub.add_parser("prune", help="prune a trained model file with a method (into a smaller or masked one)",
                       description="Prune a trained model with a registered method (l1-norm, l2-norm, random, "
                                   "smallest, ... or module:attribute). Structured methods remove channels "
                                   "physically (Torch-Pruning surgery); unstructured ones write masks. The output "
                                   "model file holds the pruned architecture spec, its weights, masks and kept "
                                   "indices.",
                       epilog="Example: prunelab prune runs/<run>/model.pt --target resnet56-B --out r56b.pt")
    p.add_argument("model", help="model file (model.pt) or run folder")
    p.add_argument("--method", default="l1-norm", help="pruning method (default: l1-norm)")
    p.add_argument("--target", help="the method's target: a preset name (e.g. resnet56-A), a ratio in [0, 1), "
                                    "or YAML such as '{ratio: 0.7, skip: [layer1.0.conv1]}'")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a method parameter (value read as YAML); repeatable")
    p.add_argument("--selection", help="filter methods: largest | smallest | random (controls)")
    p.add_argument("--dataset", help="dataset of the presets (default: the run's, else guessed from the input)")
    p.add_argument("--data", help="data folder, for methods that read training images")
    p.add_argument("--seed", type=int, default=0, help="seed of random choices and of sampled training images")
    p.add_argument("--round-to", type=int, default=1, metavar="N",
                   help="with a ratio: round each layer's kept filters up to a multiple of N (e.g. 16)")
    p.add_argument("--out", required=True, help="output model file")

    p = sub.add_parser("plan", help="dry run: list every run of an experiment file",
                       description="List every run an experiment file declares (with Scratch-B's budget "
                                   "rule and epochs) and its state in the store. Trains nothing.")
    p.add_argument("file", help="experiment YAML file")
    p.add_argument("--json", action="store_true", help="print a JSON list (arch, regime, seed, epochs, ...)")
    p.add_argument("--store", help="run store folder (default: $PRUNELAB_STORE or ./runs)")
    p.add_argument("--device", default="auto", help="the device whose speed the duration estimate uses")
    p.add_argument("--processes", type=int, default=1, metavar="N",
                   help="plan the runs as N processes train them (torchrun --nproc_per_node=N, a launcher's "
                        "tasks_per_node): with per-process BatchNorm their run ids name N (default 1)")

    p = sub.add_parser("run", help="run an experiment file (resumable)",
                       description="Execute every run of an experiment file through the run store: each "
                                   "seed's baseline once, then pruning and every regime. Rerunning resumes.")
    p.add_argument("file", help="experiment YAML file")
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

    p = sub.add_parser("report", help="aggregate finished runs into the paper's table and a plot",
                       description="Aggregate result.json files under DIR: Unpruned | Fine-tuned | Scratch-E | "
                                   "Scratch-B as mean ± std (n) per pruned model, sizes and compute.")
    p.add_argument("dir", nargs="?", help="folder to search for result.json (default: the run store)")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.add_argument("--plot", help="also write the PNG plot here")
    p.add_argument("--inits", action="store_true",
                   help="also show how each arm started: per weight its std at step 0 (over kept entries), the "
                        "mean BN scale, and the init kind")

    p = sub.add_parser("pattern", help="kept ratio per layer or stage of pruned architectures (a pattern file)",
                       description="The kept channels of pruned architectures over their base's, per layer or per "
                                   "stage, averaged over the inputs: a pattern for guided pruning (method guided).",
                       epilog="Example: prunelab pattern runs/pruned/slimming-s*.pt --base vgg19 --level stage "
                              "--out vgg19-c10.json")
    p.add_argument("pruned", nargs="+", help="pruned model files (.pt), spec .json files or preset names")
    p.add_argument("--base", required=True, help="the unpruned architecture (name or spec .json)")
    p.add_argument("--dataset", default="cifar10", help="dataset of the names (default: cifar10)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier of the base name")
    p.add_argument("--level", choices=["layer", "stage"], default="layer")
    p.add_argument("--out", help="write the (mean) pattern as JSON here")
    p.add_argument("--plot", help="draw the patterns and their mean (PNG)")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="only the pruned files whose prune step had this method, seed or parameter (repeatable; "
                        "read from the .json beside each file), e.g. --where lam=0.02 --where target=0.7")

    p = sub.add_parser("demo", help="the main job: the protocol on Fashion-MNIST in minutes",
                       description="Train a narrow VGG-11 on Fashion-MNIST, prune it with L1-norm filter pruning "
                                   "at two ratios, and compare Fine-tuned, Scratch-E and Scratch-B over 3 seeds. "
                                   "Writes report.md, report.csv and report.png into --out. Rerunning resumes.")
    p.add_argument("--out", default="demo-out", help="output folder (default: demo-out)")
    p.add_argument("--config", help="another experiment file to run as the demo")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_args(p)

    p = sub.add_parser("export", help="export a model for inference (BN and selections folded)",
                       description="Fold channel selections into the next layer and BatchNorm into the "
                                   "preceding conv, then write TorchScript, torch.export and ONNX files.")
    p.add_argument("model", help="model file (model.pt) or run folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--formats", default="torchscript,export,onnx",
                   help="comma-separated: torchscript, export, onnx (ONNX needs pip install 'prunelab[export]')")

    p = sub.add_parser("import-weights", help="import a torchvision ImageNet checkpoint as a prunelab model file",
                       description="Load a torchvision-format state_dict (torchvision's ResNet-18/34/50/101/152 "
                                   "and VGG-11/13/16/19 with or without BN, or any prunelab ImageNet architecture "
                                   "in that layout; a bare state_dict or a dict with a 'state_dict' or 'model' "
                                   "entry) into the matching prunelab ImageNet spec, checking every key and "
                                   "shape, and write a prunelab model file (to prune, export or train --init).",
                       epilog="Example: prunelab import-weights resnet34-b627a593.pth --arch resnet34 --out r34.pt")
    p.add_argument("file", help="checkpoint file (read with torch.load(weights_only=True))")
    p.add_argument("--arch", help="prunelab ImageNet architecture (e.g. resnet34, vgg16-bn; torchvision's vgg11_bn "
                                  "is vgg11-bn-torchvision; default: the one the checkpoint's keys and shapes match)")
    p.add_argument("--out", required=True, help="output model file")

    p = sub.add_parser("judge", help="judge a pruning method against Scratch-E/B, uniform and random baselines",
                       description="Run a method's Fine-tuned arm and its baselines (Scratch-E, Scratch-B, a "
                                   "uniform-width model of equal params, random channels at the method's widths) "
                                   "over the file's seeds, then print per baseline the difference of means, its "
                                   "95% CI and a t-test p-value (paired by seed where both arms come from one "
                                   "seed's large model, else Welch's), each arm's training compute and its "
                                   "measured latency beside its MAC reduction. Resumable, like run. See docs/judge.md.",
                       epilog="Example: prunelab judge experiments/small/judge-fashion.yaml --method my_method:MyMethod")
    p.add_argument("file", help="experiment YAML file (its models, targets, data, recipes and seeds)")
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



def _guess_dataset(model_path: Path, spec) -> str:
    settings = (model_path if model_path.is_dir() else model_path.parent) / "settings.json"
    if settings.is_file():
        from .catalog import dataset_info
        from .fileio import read_json

        try:
            name = read_json(settings)["data"]["dataset"]
            dataset_info(name)
            return name
        except (PrunelabError, KeyError, TypeError):
            warn(f"{settings} is damaged; guessing the dataset from the model (or give --dataset)")
    if spec.input_size >= 128:
        return "imagenet"
    return "fashion-mnist" if spec.in_channels == 1 else ("cifar100" if spec.num_classes == 100 else "cifar10")


def _key_values(pairs: list[str], option: str) -> dict:
    """``KEY=VALUE`` options as a mapping, each value read as YAML."""
    out = {}
    for kv in pairs:
        key, eq, value = kv.partition("=")
        if not eq or not key:
            raise PrunelabError(f"{option} {kv!r} must be KEY=VALUE")
        out[key] = _yaml_value(value, f"{option} {key}")
    return out


def _yaml_value(text: str, what: str):
    """A command-line value: a number (1e-1 included), else YAML (a name, a list, a mapping)."""
    import math

    from .config import load_yaml_text

    try:
        v = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(v):
            raise PrunelabError(f"{what}: {text!r} is not a finite number")
        return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v
    return load_yaml_text(text, what)


def cmd_prune(args) -> int:
    from . import methods
    from .data import DataSettings
    from .data import load as load_data
    from .measure import count
    from .models_io import load, save

    method = methods.get(args.method)
    mapping = _key_values(args.param, "--param")
    if args.selection is not None:
        mapping["selection"] = args.selection
    if args.round_to != 1 and args.target is None:
        raise PrunelabError("--round-to applies to a ratio target: give --target RATIO")
    if args.target is not None:
        if "target" in mapping:
            raise PrunelabError("the target is given twice (--target and --param target=...); give one")
        target = _yaml_value(args.target, "--target")
        if args.round_to != 1:
            if not isinstance(target, (int, float)) or isinstance(target, bool):
                raise PrunelabError("--round-to applies to a ratio target, not to a preset")
            target = {"ratio": target, "round_to": args.round_to}
        mapping["target"] = target
    check_seed(args.seed, "--seed")
    if args.dataset is not None:
        from .catalog import dataset_info

        dataset_info(args.dataset)
    params = method.params(mapping, f"method '{method.name}'")
    writable_file(args.out, "--out")
    src = Path(args.model) / "model.pt" if Path(args.model).is_dir() else Path(args.model)
    if src.exists() and Path(args.out).resolve() == src.resolve():
        raise PrunelabError(f"--out {args.out} is the input model; write the pruned model to another file")
    model = load(args.model)
    dataset = args.dataset or _guess_dataset(Path(args.model), model.arch_spec)
    from .catalog import dataset_info

    info, spec = dataset_info(dataset), model.arch_spec
    if (info.channels, info.size, info.classes) != (spec.in_channels, spec.input_size, spec.num_classes) \
            and dataset != "synthetic":
        raise PrunelabError(f"the model takes {spec.in_channels}x{spec.input_size}x{spec.input_size} images and "
                            f"{spec.num_classes} classes; dataset '{dataset}' has {info.channels}x{info.size}x"
                            f"{info.size} and {info.classes}")
    data = methods.PruneData(dataset, args.seed, loader=lambda: load_data(DataSettings(dataset), args.data))
    planned = method.planned_spec(model.arch_spec, params, dataset) if method.kind == "structured" else None
    result = methods.prune_checked(method, model, params, data, planned, f"pruning {args.model}")
    pruned = result.model
    save(pruned, args.out, extra={"kept": result.kept, "info": result.info, "from": str(args.model),
                                  "method": {"name": method.name, "params": dataclasses.asdict(params)}})
    a, b = count(model), count(pruned)
    print(f"{model.arch_spec.name} -> {pruned.arch_spec.name} ({method.name}): params {a.params:,} -> "
          f"{b.params_nonzero:,} ({b.params_nonzero / a.params:.1%}), MACs {a.macs:,} -> {int(b.macs_nonzero):,} "
          f"({b.macs_nonzero / a.macs:.1%}){' nonzero (masked)' if result.masks else ''}")
    print(f"wrote {args.out}")
    return 0


def cmd_pattern(args) -> int:
    from .report import plot_pattern
    from .search import average, pattern_of, save_pattern

    for path, what in ((args.out, "--out"), (args.plot, "--plot")):
        if path is not None:
            writable_file(path, what)
    base = spec_from(args.base, args.dataset, width=args.width)
    refs = _where(args.pruned, args.where)
    each = [pattern_of(ref, base, args.level, args.dataset) for ref in refs]
    mean = average(each) if len(each) > 1 else each[0]
    print(f"{mean['source']} over {base.name} ({mean['level']} level, kept ratio)"
          if mean["level"] != "weights" else f"{mean['source']} (density of each masked weight)")
    ratios = mean["ratios"] if mean["level"] != "stage" else \
        {f"stage {i + 1} {kind}": r for kind, rs in mean["ratios"].items() for i, r in enumerate(rs)}
    for key, r in ratios.items():
        print(f"{key:32} {r:.3f}")
    if args.out:
        save_pattern(mean, args.out)
        print(f"pattern: {args.out}", file=sys.stderr)
    if args.plot:
        plot_pattern(each + ([mean] if len(each) > 1 else []), args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)
    return 0


def _where(refs: list[str], conditions: list[str]) -> list[str]:
    """The pruned files whose prune step matches every KEY=VALUE (method, seed, or a parameter of the
    method, its default included), from the .json written beside each pruned file."""
    from . import methods
    from .fileio import read_json

    wanted = _key_values(conditions, "--where")
    if not wanted:
        return refs
    kept = []
    for ref in refs:
        side = Path(ref).with_suffix(".json")
        if not ref.endswith(".pt") or not side.is_file():
            raise PrunelabError(f"--where reads the .json beside each pruned .pt file; {ref} has none")
        step = read_json(side).get("prune") or {}
        try:
            defaults = {f.name: f.default for f in dataclasses.fields(methods.get(step.get("method", "")).Params)
                        if f.default is not dataclasses.MISSING}
        except PrunelabError:  # a plug-in not importable here: its stored parameters only
            defaults = {}
        have = {**defaults, **(step.get("params") or {}), "method": step.get("method"), "seed": step.get("seed")}
        if all(k in have and isinstance(have[k], bool) == isinstance(v, bool) and have[k] == v  # (True is not 1)
               for k, v in wanted.items()):
            kept.append(ref)
    if not kept:
        raise PrunelabError(f"no pruned file of the {len(refs)} given matches --where {' '.join(conditions)}")
    print(f"{len(kept)} of {len(refs)} pruned files match --where {' '.join(conditions)}", file=sys.stderr)
    return kept


def searched_arch(args, spec):
    """``arch --uniform-params N`` / ``--guided-params N --pattern FILE``: that architecture instead
    (N below 1: that fraction of the base's params)."""
    from .search import guided, load_pattern, size, uniform

    n = args.uniform_params or args.guided_params
    if (args.guided_params is None) != (args.pattern is None) or (args.uniform_params and args.guided_params):
        raise PrunelabError("use --uniform-params N, or --guided-params N with --pattern FILE")
    if n is None:
        return spec
    target = n * size(spec) if n < 1 else n
    return uniform(spec, target) if args.uniform_params else guided(spec, load_pattern(args.pattern), target)


def cmd_export(args) -> int:
    from .export import export
    from .models_io import load

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats:
        raise PrunelabError("--formats names no format (torchscript, export, onnx)")
    writable_dir(args.out, "--out")
    files = export(load(args.model), args.out, formats=formats)
    for fmt, path in files.items():
        print(f"{fmt}: {path}")
    return 0


def cmd_import_weights(args) -> int:
    from .arch import build
    from .arch.torchvision_import import import_weights
    from .fileio import file_sha256
    from .measure import count
    from .models_io import save

    writable_file(args.out, "--out")
    src = Path(args.file)
    if src.exists() and Path(args.out).resolve() == src.resolve():
        raise PrunelabError(f"--out {args.out} is the input checkpoint; write the model to another file")
    spec = spec_from(args.arch, "imagenet") if args.arch is not None else None
    model = import_weights(src, spec)
    save(model, args.out, extra={"from": str(src), "from_sha256": file_sha256(src)})
    c = count(build(model.arch_spec, device="meta"))  # shapes suffice for counting
    print(f"{src} -> {model.arch_spec.name}{'' if spec else ' (inferred)'}: params {c.params:,}, MACs {c.macs:,}")
    print(f"wrote {args.out}")
    return 0


def cmd_plan(args) -> int:
    from .protocol import regime
    from .runs import RunStore
    from .runs.execution import throughput
    from .runs.experiment import load_experiment
    from .runs.plan import plan, plan_rows
    from .runs.store import provenance
    from .train import resolve_device

    if args.processes < 1:
        raise PrunelabError(f"--processes must be a positive number of processes, got {args.processes}")
    grid = plan(load_experiment(args.file), processes=args.processes)
    store = RunStore(args.store)
    rows = plan_rows(grid, store)
    if args.json:
        print(json.dumps(rows))
        return 0
    shared = sum(bool(r.get("shared")) for r in rows)
    print(f"{grid.experiment.name}: {len(rows) - shared} runs" + (f" ({len(rows)} rows: {shared} runs are shared "
                                                                  "by several arms and counted once)" if shared else ""))
    print(f"{'state':9} {'regime':10} {'seed':>4} {'epochs':>6}  arch")
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
        if r.get("shared"):
            extra += "   (the same run as above: counted once)"
        state = "waiting" if r["run_id"] is None else r["state"]
        epochs = "rule" if r["epochs"] is None else r["epochs"]
        seed = "all" if r.get("imported") else r["seed"]  # an imported baseline is shared by every seed
        print(f"{state:9} {r['regime']:10} {seed:>4} {epochs:>6}  {r['arch']}{extra}")
    from .runs.prune_step import code_changes

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
    from .report import aggregate, markdown
    from .runs import RunStore
    from .runs.execution import grid_results, run_grid
    from .runs.experiment import load_experiment
    from .runs.plan import plan

    if args.launcher == "submitit":
        from .runs.launch import require_submitit

        require_submitit()
        for flag, given in (("--force", args.force), ("--together", args.together)):
            if given:
                raise PrunelabError(f"{flag} works with --launcher local only")
    else:
        extra = [flag for flag, given in (("--cluster", args.cluster), ("--jobs-dir", args.jobs_dir),
                                          ("--launcher-param", args.launcher_param)) if given]
        if extra:
            raise PrunelabError(f"{', '.join(extra)}: only with --launcher submitit")
    exp = load_experiment(args.file)
    store = RunStore(args.store).writable()
    if args.launcher == "submitit":
        return _run_jobs(args, exp, store)
    from .train import distributed as ddp

    grid = plan(exp, processes=ddp.world())
    if args.together:
        from .train import resolve_device

        if resolve_device(args.device).type == "cpu":
            warn("--together brings no speed-up on a CPU (docs/performance.md: 0.91x-1.00x) and runs trained "
                 "together have no per-epoch checkpoints")
    done = run_grid(grid, store, data_dir=args.data, device=args.device, progress=not args.quiet,
                    together=args.together, force=args.force)
    from .report import load_prune_steps, prune_groups, prune_markdown

    ids = {r.prune.id for r in grid.runs if r.prune is not None}
    print(markdown(aggregate(grid_results(grid, store))) + prune_markdown(prune_groups(load_prune_steps(store.root, ids))))
    print(f"{grid.experiment.name}: {len(done.trained)} runs trained here, {len(done.reused)} reused "
          f"(finished before or by another worker)", file=sys.stderr)
    return 0


def _run_jobs(args, exp, store) -> int:
    """``run --launcher submitit``: the grid's runs and prune steps as jobs (runs/launch.py); each
    run is planned for its job's processes (``tasks_per_node``)."""
    from .report import aggregate, load_prune_steps, markdown, prune_groups, prune_markdown
    from .runs.execution import grid_results
    from .runs.plan import plan
    from .runs.launch import launch_grid, launcher_settings

    given = _key_values(args.launcher_param, "--launcher-param")
    launcher_settings(given, "--launcher-param")
    launcher = launcher_settings({**exp.launcher, **given})
    grid = plan(exp, processes=launcher.tasks)
    done = launch_grid(grid, store, cluster=args.cluster or "slurm", jobs_dir=args.jobs_dir, launcher=launcher,
                       data_dir=args.data, device=args.device, progress=not args.quiet)
    ids = {r.prune.id for r in grid.runs if r.prune is not None}
    print(markdown(aggregate(grid_results(grid, store))) + prune_markdown(prune_groups(load_prune_steps(store.root, ids))))
    print(f"{grid.experiment.name}: {done.jobs} jobs in {done.waves} waves ({len(done.trained)} runs trained, "
          f"{len(done.pruned)} prune steps), {len(done.reused)} runs reused (finished before or by another "
          f"worker); logs in {done.jobs_dir}", file=sys.stderr)
    for failure in done.failures:
        print(f"prunelab run: error: {one_line(failure)}", file=sys.stderr)
    if done.failures and done.left:
        print(f"prunelab run: {done.left} runs not finished; fix the cause and run the same command again "
              "(finished runs are kept)", file=sys.stderr)
    return 1 if done.failures else 0


def cmd_report(args) -> int:
    from .report import (aggregate, load_prune_steps, load_results, markdown, plot, plot_efficiency, plot_prune,
                         plot_sparsity, plot_weights, prune_groups, prune_markdown, to_csv, to_json, versions)
    from .runs import RunStore

    root = Path(args.dir) if args.dir else RunStore().root
    if args.plot is not None:
        writable_file(args.plot, "--plot")
        if Path(args.plot).suffix.lower() != ".png":
            warn(f"--plot {args.plot}: the plot is a PNG image whatever the file is called")
    skipped: list[str] = []
    rows = aggregate(load_results(root, skipped))
    for s in skipped:
        warn(f"skipped {s}")
    if not rows:
        warn(f"no finished runs with regime labels under {root}")
    if len(versions(rows)) > 1:
        warn(f"runs of several prunelab versions ({', '.join(versions(rows))}); their rows are kept apart")
    groups = prune_groups(load_prune_steps(root))
    print({"md": markdown, "csv": to_csv, "json": to_json}[args.format](rows), end="")
    if args.format == "md":
        print(prune_markdown(groups), end="")
        if args.inits:
            from .report.inits import inits_markdown

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
    from .demo import DEMO_CONFIG, run_demo
    from .runs import RunStore

    if args.config and not Path(args.config).is_file():
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
    from .report.judge import judge_rows, markdown
    from .runs import RunStore
    from .runs.experiment import load_experiment
    from .runs.judge import BASELINES, judge_plan, measure_latency, method_entry, run_judgement, write_outputs

    if args.out is not None:
        writable_dir(args.out, "--out")
    exp = load_experiment(args.file)
    if args.seeds:
        for s in args.seeds:
            check_seed(s, "--seeds")
        exp = dataclasses.replace(exp, seeds=list(dict.fromkeys(args.seeds)))
    entry = method_entry(exp, args.method, _key_values(args.param, "--param"))
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


COMMANDS = {"export": cmd_export, "prune": cmd_prune, "plan": cmd_plan, "run": cmd_run, "report": cmd_report,
            "demo": cmd_demo, "import-weights": cmd_import_weights, "judge": cmd_judge, "pattern": cmd_pattern}
