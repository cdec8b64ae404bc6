"""CLI verbs on models: prune, pattern, export, import-weights."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from .common import key_values, spec_from, yaml_value
from ..errors import PrunelabError, check_seed, warn
from ..fileio import writable_dir, writable_file


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
    p.add_argument("--device", default="auto", help="where the model is pruned: auto | cpu | cuda (default: auto)")
    p.add_argument("--round-to", type=int, default=1, metavar="N",
                   help="with a ratio: round each layer's kept filters up to a multiple of N (e.g. 16)")
    p.add_argument("--out", required=True, help="output model file")

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


def _guess_dataset(model_path: Path, spec) -> str:
    settings = (model_path if model_path.is_dir() else model_path.parent) / "settings.json"
    if settings.is_file():
        from ..catalog import dataset_info
        from ..fileio import read_json

        try:
            name = read_json(settings)["data"]["dataset"]
            dataset_info(name)
            return name
        except (PrunelabError, KeyError, TypeError):
            warn(f"{settings} is damaged; guessing the dataset from the model (or give --dataset)")
    from ..catalog import dataset_of

    return dataset_of(spec)


def cmd_prune(args) -> int:
    from .. import methods
    from ..data import DataSettings
    from ..data import load as load_data
    from ..measure import count
    from ..models_io import classifier, load, save

    method = methods.get(args.method)
    mapping = key_values(args.param, "--param")
    if args.selection is not None:
        mapping["selection"] = args.selection
    if args.round_to != 1 and args.target is None:
        raise PrunelabError("--round-to applies to a ratio target: give --target RATIO")
    if args.target is not None:
        if "target" in mapping:
            raise PrunelabError("the target is given twice (--target and --param target=...); give one")
        target = yaml_value(args.target, "--target")
        if args.round_to != 1:
            if not isinstance(target, (int, float)) or isinstance(target, bool):
                raise PrunelabError("--round-to applies to a ratio target, not to a preset")
            target = {"ratio": target, "round_to": args.round_to}
        mapping["target"] = target
    check_seed(args.seed, "--seed")
    if args.dataset is not None:
        from ..catalog import dataset_info

        dataset_info(args.dataset)
    params = method.params(mapping, f"method '{method.name}'")
    writable_file(args.out, "--out")
    src = Path(args.model) / "model.pt" if Path(args.model).is_dir() else Path(args.model)
    if src.exists() and Path(args.out).resolve() == src.resolve():
        raise PrunelabError(f"--out {args.out} is the input model; write the pruned model to another file")
    from ..train import resolve_device

    device = resolve_device(args.device)
    model = classifier(load(args.model), args.model).to(device)
    dataset = args.dataset or _guess_dataset(Path(args.model), model.arch_spec)
    from ..catalog import dataset_info

    info, spec = dataset_info(dataset), model.arch_spec
    if (info.channels, info.size, info.classes) != (spec.in_channels, spec.input_size, spec.num_classes) \
            and dataset != "synthetic":
        raise PrunelabError(f"the model takes {spec.in_channels}x{spec.input_size}x{spec.input_size} images and "
                            f"{spec.num_classes} classes; dataset '{dataset}' has {info.channels}x{info.size}x"
                            f"{info.size} and {info.classes}")
    data = methods.PruneData(dataset, args.seed, loader=lambda: load_data(DataSettings(dataset), args.data),
                             device=device)
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
    from ..report import plot_pattern
    from ..search import average, pattern_of, save_pattern

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
    from .. import methods
    from ..fileio import read_json

    wanted = key_values(conditions, "--where")
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
    from ..search import guided, load_pattern, size, uniform

    n = args.uniform_params or args.guided_params
    if (args.guided_params is None) != (args.pattern is None) or (args.uniform_params and args.guided_params):
        raise PrunelabError("use --uniform-params N, or --guided-params N with --pattern FILE")
    if n is None:
        return spec
    target = n * size(spec) if n < 1 else n
    return uniform(spec, target) if args.uniform_params else guided(spec, load_pattern(args.pattern), target)


def cmd_export(args) -> int:
    from ..export import export
    from ..models_io import classifier, load

    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if not formats:
        raise PrunelabError("--formats names no format (torchscript, export, onnx)")
    writable_dir(args.out, "--out")
    files = export(classifier(load(args.model), args.model), args.out, formats=formats)
    for fmt, path in files.items():
        print(f"{fmt}: {path}")
    return 0


def cmd_import_weights(args) -> int:
    from ..arch import build
    from ..arch.torchvision_import import import_weights
    from ..fileio import file_sha256
    from ..measure import count
    from ..models_io import save

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


COMMANDS = {"prune": cmd_prune, "pattern": cmd_pattern, "export": cmd_export, "import-weights": cmd_import_weights}
