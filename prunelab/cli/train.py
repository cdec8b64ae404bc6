"""prunelab train: one model, resumable, into the run store."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import PrunelabError, check_seed, warn
from ..shipped import DOCS
from .common import add_data_args, add_logger_arg, spec_from


def add_parsers(sub) -> None:
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
                        f"on CPU after about a minute of compiling; see {DOCS}/performance.md)")
    p.add_argument("--sync-bn", action="store_true", default=None,
                   help="under torchrun: BatchNorm statistics over the global batch (SyncBatchNorm; CUDA only)")
    p.add_argument("--checkpoint-minutes", type=float,
                   help="also checkpoint within an epoch every N minutes (default 0: once per epoch)")
    p.add_argument("--no-augment", action="store_true", default=None, help="no data augmentation")
    p.add_argument("--force", action="store_true", help="retrain even if a finished run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_data_args(p)
    add_logger_arg(p)


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
    from ..data import DataSettings
    from ..runs import RunSettings
    from ..config import from_mapping, read_yaml
    from ..train import Recipe

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
    spec = spec_from(arch, dataset, pick("head"), 1.0 if pick("width") is None else pick("width"))
    seed = check_seed(pick("seed") or 0)
    init = {"kind": "random"}
    init_path = pick("init")
    if init_path:
        from ..fileio import file_sha256

        p = Path(init_path) / "model.pt" if Path(init_path).is_dir() else Path(init_path)
        init = {"kind": "inherit", "path": str(p.resolve()), "sha256": file_sha256(p)}
    from ..arch import build
    from ..measure import count

    count(build(spec, device="meta"))  # the architecture runs on the dataset's images (shapes only)
    for w in rec.questionable():
        warn(w)
    from ..train import distributed as ddp

    return RunSettings(arch=spec.to_dict(), data=ds, recipe=rec, seed=seed, init=init, processes=ddp.world()), cfg


def cmd_train(args) -> int:
    from ..runs import RunStore, execute

    from ..data import load as load_data
    from ..train import resolve_device

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
    print(f"{r['run_id']}: top-1 {100 * r['final_top1']:.2f}%  top-5 {100 * r['final_top5']:.2f}%  params {r['params']:,}  "
          f"MACs {r['macs']:,}  epochs {r['epochs']}  wall {r['wall_s']:.1f}s")
    print(f"result: {path / 'result.json'}")
    return 0


COMMANDS = {"train": cmd_train}
