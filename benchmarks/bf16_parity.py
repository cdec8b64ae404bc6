"""bf16 autocast vs fp32: final accuracy of small models on Fashion-MNIST, several seeds.

    python benchmarks/bf16_parity.py --store runs-parity [--channels-last] [--compile]

Trains each (model, precision, seed) through the run store (reused when rerun) and prints a
markdown table of mean ± std per model and precision, with |difference| and pooled std.
``--channels-last`` / ``--compile`` apply to the bf16 arm (the fast setting of docs/performance.md).
"""
import argparse
import statistics

from prunelab.arch import resolve
from prunelab.data import DataSettings
from prunelab.runs import RunSettings, RunStore, execute
from prunelab.train import Recipe

MODELS = [("vgg11", 0.25), ("resnet20", 0.5)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="runs-parity")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--train-subset", type=int, default=10000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--channels-last", action="store_true", help="bf16 arm in channels_last")
    ap.add_argument("--compile", action="store_true", help="bf16 arm with torch.compile")
    args = ap.parse_args()
    fast = {"channels_last": args.channels_last, "compile": args.compile}
    arm = "bf16" + "".join(f" + {k.replace('_', ' ')}" for k, v in fast.items() if v)
    store = RunStore(args.store)
    data = DataSettings("fashion-mnist", train_subset=args.train_subset, augment=False)
    print(f"| model | fp32 top-1 (%) | {arm} top-1 (%) | abs. difference (points) | pooled std (points) |")
    print("|---|---|---|---|---|")
    for name, width in MODELS:
        spec = resolve(name, "fashion-mnist", width=width)
        accs = {}
        for precision in ("fp32", "bf16"):
            recipe = Recipe(epochs=args.epochs, batch_size=64, lr=0.05, precision=precision,
                            **(fast if precision == "bf16" else {}))
            accs[precision] = [
                100 * execute(RunSettings(arch=spec.to_dict(), data=data, recipe=recipe, seed=s,
                                          labels={"regime": f"parity-{precision}"}), store,
                              device=args.device)["final_top1"]
                for s in range(args.seeds)
            ]
        m32, m16 = statistics.fmean(accs["fp32"]), statistics.fmean(accs["bf16"])
        s32, s16 = statistics.stdev(accs["fp32"]), statistics.stdev(accs["bf16"])
        pooled = ((s32 ** 2 + s16 ** 2) / 2) ** 0.5
        print(f"| {spec.name} | {m32:.2f} ± {s32:.2f} | {m16:.2f} ± {s16:.2f} | {abs(m16 - m32):.2f} | {pooled:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
