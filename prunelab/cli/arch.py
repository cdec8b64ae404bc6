"""prunelab arch: an architecture's spec, widths, params and MACs."""
from __future__ import annotations

import json

from ..errors import PrunelabError
from .common import positive_float, spec_from


def add_parsers(sub) -> None:
    p = sub.add_parser("arch", help="show an architecture: spec, per-layer widths, params, MACs",
                       description="Print an architecture's spec, its per-layer widths, params and MACs "
                                   "(multiply-accumulates of conv and linear layers, for one image).",
                       epilog="Example: prunelab arch resnet56-B --dataset cifar10")
    p.add_argument("name", nargs="?", help="architecture or preset name (e.g. vgg16, resnet56-B), or a spec .json file")
    p.add_argument("--dataset", default="cifar10", help="dataset whose model definitions to use (default: cifar10)")
    p.add_argument("--head", help="CIFAR VGG head: mlp or linear")
    p.add_argument("--width", type=positive_float, default=1.0, help="width multiplier (CIFAR-style models)")
    p.add_argument("--json", action="store_true", help="print one JSON object (params, macs, spec, layers)")
    p.add_argument("--list", action="store_true", help="list every known name for the dataset")
    p.add_argument("--uniform-params", type=positive_float, metavar="N", help="the uniformly scaled net of N params "
                   "(N < 1: that fraction of the base's), within 2%%")
    p.add_argument("--guided-params", type=positive_float, metavar="N", help="the net of N params guided by --pattern")
    p.add_argument("--pattern", help="a pattern file (prunelab pattern) for --guided-params")


def cmd_arch(args) -> int:
    from ..arch import build, known_names, prunable_widths
    from ..measure import count

    if args.name is not None and not args.name.strip():
        raise PrunelabError("an empty architecture name (use --list to see the names)")
    if args.list or args.name is None:
        for n in known_names(args.dataset):
            print(n)
        return 0
    from .models import searched_arch

    spec = searched_arch(args, spec_from(args.name, args.dataset, args.head, args.width))
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


COMMANDS = {"arch": cmd_arch}
