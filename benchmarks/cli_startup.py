"""How long the command line takes to answer --help, --version and a command's --help, against
`python -c "import torch"` on the same machine in the same run (medians of N tries each).

    python benchmarks/cli_startup.py [--tries 7]

The figures in docs/performance.md come from this script; they hold as ratios only."""
import argparse
import statistics
import subprocess
import sys
import time


def median_seconds(cmd: list[str], tries: int) -> float:
    times = []
    for _ in range(tries):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=7)
    args = ap.parse_args()
    py = sys.executable
    torch_s = median_seconds([py, "-c", "import torch"], args.tries)
    print(f"python -c 'import torch': {torch_s:.3f} s (median of {args.tries})")
    for argv in (["--help"], ["--version"], ["run", "--help"], ["experiments"]):
        s = median_seconds([py, "-m", "prunelab", *argv], args.tries)
        print(f"prunelab {' '.join(argv):14} {s:.3f} s  = {s / torch_s:.2f} x import torch")


if __name__ == "__main__":
    main()
