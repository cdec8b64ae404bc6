"""Same-machine speed-up of prunelab's engine over the reference-style loop (issue 5's targets).

    python benchmarks/compare_reference.py --data DIR --arch vgg19 resnet56 preresnet164 densenet40 \
        --repeats 3 --iters 20 --json

For each architecture, runs ``benchmarks/reference_style.py`` and ``benchmarks/train_throughput.py``
in each setting (default: fp32, bf16, bf16 + channels_last, and that + torch.compile) as separate processes, interleaved,
``--repeats`` times; reports the median images/s of each and the ratio to the reference-style
median. One process at a time, so the measurements do not share the cores.
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = {"fp32": ["--precision", "fp32"], "bf16": ["--precision", "bf16"],
            "bf16+cl": ["--precision", "bf16", "--channels-last"],
            "fp32+cl": ["--precision", "fp32", "--channels-last"],
            "bf16+cl+compile": ["--precision", "bf16", "--channels-last", "--compile"]}


def run(cmd: list[str]) -> float:
    out = subprocess.run([sys.executable, *cmd, "--json"], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["img_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--arch", nargs="+", default=["vgg19", "resnet56", "preresnet164", "densenet40"])
    ap.add_argument("--settings", nargs="+", default=["fp32", "bf16", "bf16+cl", "bf16+cl+compile"], choices=list(SETTINGS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    common = ["--data", args.data, "--iters", str(args.iters)]
    rows = []
    for arch in args.arch:
        samples: dict[str, list[float]] = {"reference-style": [], **{s: [] for s in args.settings}}
        for _ in range(args.repeats):
            samples["reference-style"].append(run([str(HERE / "reference_style.py"), "--arch", arch, *common]))
            for s in args.settings:
                samples[s].append(run([str(HERE / "train_throughput.py"), "--arch", arch, *common, *SETTINGS[s]]))
        med = {k: statistics.median(v) for k, v in samples.items()}
        ref = med["reference-style"]
        row = {"arch": arch, "img_s": {k: round(v, 1) for k, v in med.items()}, "samples": samples,
               "speedup": {s: round(med[s] / ref, 2) for s in args.settings}}
        rows.append(row)
        if not args.json:
            print(arch, "reference-style", round(ref, 1), " ".join(f"{s} {med[s]:.1f} ({med[s] / ref:.2f}x)"
                                                                    for s in args.settings), flush=True)
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
