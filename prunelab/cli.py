"""The prunelab command line. Parsing and printing only; the work happens in the packages."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from . import __version__
from .cli_common import add_data_args as _add_data_args
from .cli_common import positive_float as _positive_float
from .cli_common import spec_from as _spec_from
from .errors import PrunelabError, check_seed, one_line, warn, warning_lines

EPILOG = "Bad input ends with one line on stderr and exit code 2. Docs: README.md."


class Parser(argparse.ArgumentParser):
    """argparse with prunelab's error policy: a usage error is one line (and exit code 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    ap = Parser(
        prog="prunelab",
        description="prunelab: train, prune and fairly compare pruned networks "
                    "(Fine-tuned vs Scratch-E vs Scratch-B), after 'Rethinking the Value of Network Pruning'.",
        epilog=EPILOG,
    )
    ap.add_argument("--version", action="version", version=f"prunelab {__version__}")
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("arch", help="show an architecture: spec, per-layer widths, params, MACs",
                       description="Print an architecture's spec, its per-layer widths, params and MACs "
                                   "(multiply-accumulates of conv and linear layers, for one image).",
                       epilog="Example: prunelab arch resnet56-B --dataset cifar10")
    p.add_argument("name", nargs="?", help="architecture or preset name (e.g. vgg16, resnet56-B), or a spec .json file")
    p.add_argument("--dataset", default="cifar10", help="dataset whose model definitions to use (default: cifar10)")
    p.add_argument("--head", help="CIFAR VGG head: mlp or linear")
    p.add_argument("--width", type=_positive_float, default=1.0, help="width multiplier (CIFAR-style models)")
    p.add_argument("--json", action="store_true", help="print one JSON object (params, macs, spec, layers)")
    p.add_argument("--list", action="store_true", help="list every known name for the dataset")
    p.add_argument("--uniform-params", type=_positive_float, metavar="N", help="the uniformly scaled net of N params "
                   "(N < 1: that fraction of the base's), within 2%%")
    p.add_argument("--guided-params", type=_positive_float, metavar="N", help="the net of N params guided by --pattern")
    p.add_argument("--pattern", help="a pattern file (prunelab pattern) for --guided-params")

    p = sub.add_parser("train", help="train one model (resumable; results go to the run store)",
                       description="Train one architecture from random init (or from --init weights) and "
                                   "write result.json into the run store. An identical command reuses the "
                                   "finished run or resumes an interrupted one.",
                       epilog="Example: prunelab train --arch vgg11 --width 0.25 --dataset fashion-mnist --epochs 2")
    p.add_argument("--config", help="YAML file with any of the options below (command-line flags win)")
    p.add_argument("--arch", help="architecture or preset name, or a spec .json file")
    p.add_argument("--dataset", help="cifar10 | cifar100 | fashion-mnist | imagenet | synthetic")
    p.add_argument("--head", help="CIFAR VGG head: mlp or linear")
    p.add_argument("--width", type=float, help="width multiplier (CIFAR-style models)")
    p.add_argument("--init", help="start from the weights of this model file or run folder")
    for name, typ, hlp in (
        ("--epochs", int, "epochs"), ("--batch-size", int, "batch size (default 64)"),
        ("--lr", float, "initial learning rate (default 0.1)"), ("--momentum", float, "SGD momentum (0.9)"),
        ("--weight-decay", float, "weight decay (1e-4)"), ("--gamma", float, "step schedule factor (0.1)"),
        ("--seed", int, "seed (0)"), ("--train-subset", int, "use N training images"),
        ("--val-size", int, "carve N validation images from the training set"),
        ("--test-subset", int, "evaluate on N test images"),
        ("--eval-every", int, "evaluate on the test set every N epochs (default: at the end)"),
    ):
        p.add_argument(name, type=typ, help=hlp)
    p.add_argument("--schedule", choices=["step", "cosine", "constant"], help="lr schedule (step)")
    p.add_argument("--milestones", help="comma-separated step milestones: fractions (<1) or epochs (0.5,0.75)")
    p.add_argument("--nesterov", action="store_true", default=None, help="Nesterov momentum")
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], help="fp32 | bf16 autocast | auto")
    p.add_argument("--channels-last", action="store_true", default=None, help="channels_last memory format")
    p.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the model (faster for ResNet/PreResNet/DenseNet in bf16 + channels_last "
                        "on CPU after about a minute of compiling; see docs/performance.md)")
    p.add_argument("--sync-bn", action="store_true", default=None,
                   help="under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm; CUDA only)")
    p.add_argument("--checkpoint-minutes", type=float,
                   help="also checkpoint within an epoch every N minutes (default 0: once per epoch)")
    p.add_argument("--no-augment", action="store_true", default=None, help="no data augmentation")
    p.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_args(p)

    p = sub.add_parser("runs", help="list the runs of a store and their state",
                       description="List runs (finished / partial / new) with their accuracy.")
    p.add_argument("dir", nargs="?", help="run store folder (default: $PRUNELAB_STORE or ./runs)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--verify", action="store_true",
                   help="check every file's checksum (no training) and say what would be redone; exit 1 if any "
                        "file is damaged")

    from . import cli_models, cli_protocol

    for group in (cli_models, cli_protocol):  # the verbs on models, then those of the protocol
        group.add_parsers(sub)
        COMMANDS.update(group.COMMANDS)
    return ap


def main(argv: list[str] | None = None) -> int:
    warning_lines()
    ap = build_parser()
    args = ap.parse_args(argv)
    if os.environ.get("PRUNELAB_STORE") == "":
        warn("$PRUNELAB_STORE is set but empty; the run store is ./runs")
    if not args.cmd:
        ap.print_help()
        return 0
    try:
        if args.cmd in DISTRIBUTED:
            from .train import distributed as ddp

            if ddp.launched():
                return _distributed(args)
        return COMMANDS[args.cmd](args) or 0
    except PrunelabError as e:
        frames = getattr(e, "frames", "")  # a plug-in's error: its own traceback frames, then the line
        if frames:
            print("Traceback of the plug-in's code (most recent call last):\n" + frames.rstrip(), file=sys.stderr)
        print(f"prunelab {args.cmd}{_rank_tag(args.cmd)}: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("prunelab: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (e.g. `| head -1`) has what it wanted: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


# --- several processes (torchrun) -------------------------------------------------------------

DISTRIBUTED = ("train", "run")  # commands that train with DDP when started by torchrun


def _rank_tag(cmd: str) -> str:
    """" (rank k)" in the error line of a process other than rank 0 of a torchrun group."""
    rank = os.environ.get("RANK", "0")
    return f" (rank {rank})" if cmd in DISTRIBUTED and rank not in ("", "0") and \
        os.environ.get("WORLD_SIZE", "1") not in ("", "1") else ""


def _distributed(args) -> int:
    """``torchrun --nproc_per_node=N -m prunelab train|run ...``: rank 0 runs the command and
    announces each run it trains; the other ranks follow (``runs.store.follow``) and train it
    with rank 0. Every rank ends with rank 0's exit code."""
    from .train import distributed as ddp

    ddp.init()
    try:
        if not ddp.is_main():
            from .runs.store import follow

            return follow()
        code = 2
        with ddp.leading():
            try:
                code = COMMANDS[args.cmd](args) or 0
            finally:
                ddp.end(code)
        return code
    finally:
        ddp.shutdown()


# --- arch -------------------------------------------------------------------------------------

def cmd_arch(args) -> int:
    from .arch import build, known_names, prunable_widths
    from .measure import count

    if args.name is not None and not args.name.strip():
        raise PrunelabError("an empty architecture name (use --list to see the names)")
    if args.list or args.name is None:
        for n in known_names(args.dataset):
            print(n)
        return 0
    from .cli_models import searched_arch

    spec = searched_arch(args, _spec_from(args.name, args.dataset, args.head, args.width))
    c = count(build(spec, device="meta"))  # shapes suffice for counting
    if args.json:
        print(json.dumps({"name": spec.name, "dataset": args.dataset, "params": c.params, "macs": c.macs,
                          "widths": prunable_widths(spec), "spec": spec.to_dict(),
                          "layers": c.to_dict()["layers"]}))
        return 0
    print(f"{spec.name}  ({spec.family}, {args.dataset}: {spec.in_channels}x{spec.input_size}x{spec.input_size}, "
          f"{spec.num_classes} classes)")
    print(f"params {c.params:,} ({c.params / 1e6:.2f}M)   MACs {c.macs:,} ({c.macs / 1e6:.2f}M)")
    print(f"{'layer':32} {'shape':>22} {'params':>12} {'MACs':>14}")
    for lc in c.layers:
        print(f"{lc.name:32} {'x'.join(map(str, lc.shape)):>22} {lc.params:>12,} {lc.macs:>14,}")
    print("spec: " + spec.to_json())
    return 0


# --- train ------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class TrainFile:
    """The keys of a `prunelab train --config FILE` YAML file (command-line flags win)."""

    arch: str | None = None
    dataset: str | None = None
    head: str | None = None
    width: float | None = None
    init: str | None = None
    seed: int | None = None
    data: str | None = None
    device: str | None = None
    store: str | None = None
    train_subset: int | None = None
    val_size: int | None = None
    test_subset: int | None = None
    augment: bool | None = None
    recipe: dict | None = None


def train_settings(args):
    """RunSettings (and the init path) from a config file plus command-line overrides."""
    from .data import DataSettings
    from .runs import RunSettings
    from .config import from_mapping, read_yaml
    from .train import Recipe

    cfg = dataclasses.asdict(from_mapping(TrainFile, read_yaml(args.config), str(args.config))) if args.config else {}
    recipe = dict(cfg.get("recipe") or {})
    for key in ("epochs", "batch_size", "lr", "momentum", "weight_decay", "gamma", "schedule", "nesterov",
                "precision", "channels_last", "compile", "eval_every", "sync_bn", "checkpoint_minutes"):
        v = getattr(args, key)
        if v is not None:
            recipe[key] = v
    if args.milestones:
        try:
            recipe["milestones"] = [float(m) if "." in m else int(m) for m in args.milestones.split(",")]
        except ValueError:
            raise PrunelabError(f"--milestones must be comma-separated numbers, got {args.milestones!r}")
    if "epochs" not in recipe:
        raise PrunelabError("the number of epochs is required (--epochs N or recipe: {epochs: N})")
    rec = from_mapping(Recipe, recipe, "recipe")
    rec.check()
    pick = lambda key: getattr(args, key) if getattr(args, key, None) is not None else cfg.get(key)  # noqa: E731
    dataset = pick("dataset")
    if not dataset:
        raise PrunelabError("a dataset is required (--dataset NAME)")
    data = {"dataset": dataset}
    for key in ("train_subset", "val_size", "test_subset"):
        if pick(key) is not None:
            data[key] = pick(key)
    if args.no_augment or cfg.get("augment") is False:
        data["augment"] = False
    ds = from_mapping(DataSettings, data, "data")
    ds.check()
    arch = pick("arch")
    if not arch:
        raise PrunelabError("an architecture is required (--arch NAME)")
    spec = _spec_from(arch, dataset, pick("head"), 1.0 if pick("width") is None else pick("width"))
    seed = check_seed(pick("seed") or 0)
    init = {"kind": "random"}
    init_path = pick("init")
    if init_path:
        from .fileio import file_sha256

        p = Path(init_path) / "model.pt" if Path(init_path).is_dir() else Path(init_path)
        init = {"kind": "inherit", "path": str(p.resolve()), "sha256": file_sha256(p)}
    from .arch import build
    from .measure import count

    count(build(spec, device="meta"))  # the architecture runs on the dataset's images (shapes only)
    for w in rec.questionable():
        warn(w)
    from .train import distributed as ddp

    return RunSettings(arch=spec.to_dict(), data=ds, recipe=rec, seed=seed, init=init, processes=ddp.world()), cfg


def cmd_train(args) -> int:
    from .runs import RunStore, execute

    from .data import load as load_data
    from .train import resolve_device

    settings, cfg = train_settings(args)
    device = args.device if args.device != "auto" else (cfg.get("device") or "auto")
    resolve_device(device)
    data = load_data(settings.data, args.data or cfg.get("data"))
    store = RunStore(args.store or cfg.get("store")).writable()
    state = store.status(settings)
    if args.force:
        state = "new"
    path = store.path(settings)
    print({"finished": "reusing finished run", "partial": "resuming run", "new": "starting run"}[state] + f" {path}")
    r = execute(settings, store, data=data, device=device, force=args.force, progress=not args.quiet,
                save_init=settings.init == {"kind": "random"}, data_dir=args.data or cfg.get("data"))
    print(f"{r['run_id']}: top-1 {r['final_top1']:.4f}  top-5 {r['final_top5']:.4f}  params {r['params']:,}  "
          f"MACs {r['macs']:,}  epochs {r['epochs']}  wall {r['wall_s']:.1f}s")
    print(f"result: {path / 'result.json'}")
    return 0


# --- runs -------------------------------------------------------------------------------------

def cmd_runs(args) -> int:
    from .fileio import read_json
    from .runs import RunStore
    from .runs.store import run_state

    store = RunStore(args.dir)
    if not store.root.is_dir():
        raise PrunelabError(f"no run store at {store.root}" + (" (it is a file)" if store.root.exists() else ""))
    if (store.root / "settings.json").is_file():
        warn(f"{store.root} is a run folder, not a store; give the folder that holds the runs")
    if args.verify:
        return _verify(store.root, args.json)
    rows = []
    for d in sorted(p for p in store.root.iterdir() if (p / "settings.json").is_file()):
        try:
            s = read_json(d / "settings.json")
            state = run_state(d)
            r = read_json(d / "result.json") if state == "finished" else {}
            acc = r.get("final_top1")
            rows.append({"run_id": d.name, "state": state, "arch": s["arch"]["name"],
                         "regime": (s.get("labels") or {}).get("regime", "train"), "seed": s.get("seed"),
                         "epochs": s["recipe"]["epochs"],
                         "final_top1": float(acc) if isinstance(acc, (int, float)) else None})
        except (PrunelabError, KeyError, TypeError, AttributeError, ValueError) as e:
            warn(f"skipped {d.name}: its settings.json or result.json is damaged ({type(e).__name__})")
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print(f"no runs in {store.root}")
        return 0
    print(f"{'state':9} {'top-1':>7}  {'epochs':>6}  run")
    for r in rows:
        acc = f"{r['final_top1']:.4f}" if r["final_top1"] is not None else "-"
        print(f"{r['state']:9} {acc:>7}  {r['epochs']!s:>6}  {r['run_id']}")
    return 0


def _verify(root, as_json: bool) -> int:
    from .runs.verify import verify_store

    checked, problems = verify_store(root)
    if as_json:
        print(json.dumps({"checked": checked, "damaged": [{"file": str(f), "problem": why, "then": then}
                                                          for f, why, then in problems]}))
    else:
        for f, why, then in problems:
            print(f"damaged  {f.relative_to(root)}: {one_line(why)}; {then}")
        print(f"{checked} files checked, {len(problems)} damaged" + ("" if problems else ": the store is intact"))
    return 1 if problems else 0


COMMANDS = {"arch": cmd_arch, "train": cmd_train, "runs": cmd_runs}


def register(name: str, fn) -> None:
    COMMANDS[name] = fn


if __name__ == "__main__":
    sys.exit(main())
