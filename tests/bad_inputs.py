"""Bad and questionable command-line inputs for prunelab, one dict per case.

Each case: {"category", "argv" (without the leading 'prunelab'), "files" (relative name -> str or
bytes, created in the case's scratch folder first), "env", "pipe_head" (pipe stdout into `head -1`),
"expect" ("error": exit 2 + one stderr line; "warning": a 'warning:' line and success -- each
questionable input is pinned to the one outcome prunelab gives it, a refusal is an "error"; "ok"
-- beyond the brief, for a few controls -- valid input that should simply succeed without a
traceback), "why"}, plus one optional key beyond the brief: "copy" (relative
name -> fixture path, copied into the scratch folder first, e.g. a run folder to damage).
Pipe cases expect "warning" in the sense of "questionable but must end quietly": no traceback and
no BrokenPipeError message on stderr.

Placeholders (plain text substitution, so YAML braces in argv are safe):
  {root} the repository
  {tmp}  the case's own scratch folder (created empty; PRUNELAB_STORE defaults to {tmp}/store)
  {fix}  the shared fixtures built by fixtures.py: {fix}/model.pt (trained vgg11-w0.125,
         synthetic), {fix}/run (its run folder), {fix}/store (a finished 'tiny' grid),
         {fix}/resnet20.pt, {fix}/vgg16.pt, {fix}/tiny.yaml, {fix}/bad/*.pt (damaged model files),
         {fix}/tv/*.pth (torchvision-format ResNet-18 state_dicts: resnet18.pth and damaged ones)
tests/test_bad_input.py replays every case (in-process; pipes in a subprocess).
"""

# --- helpers: the valid templates, with single keys overridden -----------------------------------

_EXP_KEYS = {
    "name": "tiny",
    "dataset": "synthetic",
    "data": "{synthetic_size: [96, 64]}",
    "models": "[{arch: vgg11, width: 0.125, targets: [0.5]}]",
    "prune": "{method: l1-norm}",
    "seeds": "[0]",
    "recipe": "{epochs: 1, batch_size: 32, lr: 0.05}",
    "finetune": "{epochs: 1, lr: 0.001, schedule: constant}",
}


def exp(extra: str = "", **kw) -> str:
    """The valid 'tiny' experiment file with some top-level values replaced (None: key dropped)."""
    keys = {**_EXP_KEYS, **kw}
    return "".join(f"{k}: {v}\n" for k, v in keys.items() if v is not None) + extra


def model(**kw) -> str:
    """exp() with the one model entry's keys replaced (values as YAML text)."""
    m = {"arch": "vgg11", "width": "0.125", "targets": "[0.5]", **kw}
    return exp(models="[{" + ", ".join(f"{k}: {v}" for k, v in m.items() if v is not None) + "}]")


def recipe(**kw) -> str:
    r = {"epochs": "1", "batch_size": "32", "lr": "0.05", **kw}
    return exp(recipe="{" + ", ".join(f"{k}: {v}" for k, v in r.items() if v is not None) + "}")


_TCFG = {"arch": "vgg11", "width": "0.125", "dataset": "synthetic", "recipe": "{epochs: 1}"}


def tcfg(**kw) -> str:
    """A valid `train --config` file with some keys replaced."""
    keys = {**_TCFG, **kw}
    return "".join(f"{k}: {v}\n" for k, v in keys.items() if v is not None)


TRAIN = ["train", "--arch", "vgg11", "--width", "0.125", "--dataset", "synthetic", "--epochs", "1",
         "--quiet", "--device", "cpu"]
PLAN = ["plan", "{tmp}/e.yaml"]
RUN = ["run", "{tmp}/e.yaml", "--quiet", "--device", "cpu"]
TCONF = ["train", "--config", "{tmp}/t.yaml", "--quiet", "--device", "cpu"]
PRUNE = ["prune", "{fix}/model.pt", "--target", "0.5", "--out", "{tmp}/p.pt"]
EXPORT = ["export", "{fix}/model.pt", "--formats", "torchscript"]
DEMO = ["demo", "--config", "{fix}/tiny.yaml", "--quiet", "--device", "cpu"]
IMPORT = ["import-weights", "{fix}/tv/resnet18.pth", "--out", "{tmp}/m.pt"]
SPEC = ('{"format": 1, "family": "vgg", "name": "vgg11-w0.125", "in_channels": 3, "input_size": 32, '
        '"num_classes": 10, "layout": {"cfg": %s, "head": "linear", "hidden": 512}}')
SPEC_OK_CFG = '[8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64]'
GOOD_RESULT = ('{"run_id": "x", "final_top1": 0.5, "final_top5": 0.9, "seed": 0, "params": 10, "macs": 10, '
               '"epochs": 1, "labels": %s}')
ROLE = '{"experiment": "e", "dataset": "synthetic", "base": "vgg11", "group": "vgg11", "regime": "%s", ' \
       '"method": "l1-norm", "pruned": "vgg11-p0.5"}'


def C(category, argv, expect="error", why="", **kw):
    return {"category": category, "argv": list(argv), "expect": expect, "why": why, **kw}


CASES: list[dict] = []
add = CASES.append

# ================================ paths ===========================================================
F = {"afile": "I am a file\n"}
for flag_argv, what in ((TRAIN, "train --store"), (RUN, "run --store"), (DEMO, "demo --store")):
    files = {**F, "e.yaml": exp()} if flag_argv is RUN else F
    add(C("paths", flag_argv + ["--store", "{tmp}/afile"], files=files, why=f"{what}: a file where a folder is expected"))
    add(C("paths", flag_argv + ["--store", "/proc/prunelab-x"], files=files, why=f"{what}: unwritable place (/proc)"))
    add(C("paths", flag_argv + ["--store", "{tmp}/afile/sub"], files=files, why=f"{what}: parent is a file"))
add(C("paths", TRAIN + ["--store", "/sys/prunelab-x"], why="train --store: unwritable place (/sys)"))
add(C("paths", TRAIN + ["--store", "{tmp}/missing/parent/store"], expect="ok",
      why="train --store: missing parent folders (creating them is fine)"))
add(C("paths", TRAIN + ["--store", "{tmp}/" + "a" * 300], why="train --store: a path component longer than NAME_MAX"))
add(C("paths", TRAIN, env={"PRUNELAB_STORE": "{tmp}/afile"}, files=F, why="$PRUNELAB_STORE is a file"))
add(C("paths", TRAIN, env={"PRUNELAB_STORE": "/proc/prunelab-x"}, why="$PRUNELAB_STORE unwritable (/proc)"))
add(C("paths", TRAIN, env={"PRUNELAB_STORE": ""}, expect="warning",
      why="$PRUNELAB_STORE set but empty: runs land directly in the working directory instead of ./runs"))
add(C("paths", RUN, env={"PRUNELAB_STORE": "/proc/prunelab-x"}, files={"e.yaml": exp()},
      why="run: $PRUNELAB_STORE unwritable"))
add(C("paths", ["runs", "{tmp}/afile"], files=F, why="runs DIR: a file"))
add(C("paths", ["runs"], env={"PRUNELAB_STORE": "{tmp}/afile"}, files=F, why="runs: $PRUNELAB_STORE is a file"))
add(C("paths", ["runs", "{tmp}/nonexistent"], why="runs DIR: missing folder"))
add(C("paths", ["runs", "{fix}/run"], expect="warning", why="runs DIR: a run folder, not a store (lists nothing)"))
add(C("paths", ["plan", "{tmp}/e.yaml", "--store", "{tmp}/afile"], files={**F, "e.yaml": exp()}, expect="error",
      why="plan --store: a file where the store folder is expected"))
add(C("paths", ["plan", "{tmp}"], why="plan FILE: a folder given as the experiment file"))
add(C("paths", ["plan", "{tmp}/nope.yaml"], why="plan FILE: missing"))
add(C("paths", ["run", "{tmp}"], why="run FILE: a folder given as the experiment file"))
add(C("paths", ["train", "--config", "{tmp}", "--quiet"], why="train --config: a folder"))
add(C("paths", ["demo", "--config", "{tmp}", "--quiet"], why="demo --config: a folder"))
# prune --out
add(C("paths", PRUNE[:-1] + ["{tmp}/adir"], files={"adir/keep": "x"}, why="prune --out: an existing folder"))
add(C("paths", PRUNE[:-1] + ["/proc/prunelab-x.pt"], why="prune --out: unwritable (/proc)"))
add(C("paths", PRUNE[:-1] + ["/sys/prunelab-x.pt"], why="prune --out: unwritable (/sys)"))
add(C("paths", PRUNE[:-1] + ["{tmp}/afile/p.pt"], files=F, why="prune --out: parent is a file"))
add(C("paths", PRUNE[:-1] + ["{tmp}/missing/deep/p.pt"], expect="ok", why="prune --out: missing parent folders"))
add(C("paths", PRUNE[:-1] + [""], why="prune --out '': empty path"))
add(C("paths", ["prune", "{tmp}/m.pt", "--target", "0.5", "--out", "{tmp}/m.pt"], copy={"m.pt": "{fix}/model.pt"},
      expect="error", why="prune --out: the same file as the input (overwrites the trained model)"))
add(C("paths", ["prune", "{tmp}", "--target", "0.5", "--out", "{tmp}/p.pt"], why="prune MODEL: a folder without model.pt"))
add(C("paths", ["prune", "{tmp}/nope.pt", "--target", "0.5", "--out", "{tmp}/p.pt"], why="prune MODEL: missing file"))
# report --plot / dir
add(C("paths", ["report", "{fix}/store", "--plot", "{tmp}/adir"], files={"adir/keep": "x"}, why="report --plot: an existing folder"))
add(C("paths", ["report", "{fix}/store", "--plot", "/proc/prunelab-x.png"], why="report --plot: unwritable (/proc)"))
add(C("paths", ["report", "{fix}/store", "--plot", "/sys/prunelab-x.png"], why="report --plot: unwritable (/sys)"))
add(C("paths", ["report", "{fix}/store", "--plot", "{tmp}/afile/x.png"], files=F, why="report --plot: parent is a file"))
add(C("paths", ["report", "{fix}/store", "--plot", "{tmp}/missing/x.png"], expect="ok", why="report --plot: missing parent"))
add(C("paths", ["report", "{fix}/store", "--plot", "{tmp}/x.txt"], expect="warning",
      why="report --plot: not a .png name (PNG bytes written to .txt)"))
add(C("paths", ["report", "{fix}/store", "--plot", ""], why="report --plot '': empty path"))
add(C("paths", ["report", "{tmp}/afile"], files=F, why="report DIR: a file"))
add(C("paths", ["report", "{tmp}/nonexistent"], why="report DIR: missing"))
add(C("paths", ["report"], env={"PRUNELAB_STORE": "{tmp}/afile"}, files=F, why="report: $PRUNELAB_STORE is a file"))
add(C("paths", ["report", "{tmp}/empty", "--plot", "{tmp}/x.png"], files={"empty/.keep": ""}, expect="warning",
      why="report: a folder without any result.json (empty table and empty plot written, rc 0?)"))
add(C("paths", ["report", "/proc"], expect="warning", why="report /proc: walks a pseudo file system (hang? errors?)"))
# demo --out
add(C("paths", DEMO + ["--out", "{tmp}/afile"], files=F, why="demo --out: a file"))
add(C("paths", DEMO + ["--out", "/proc/prunelab-x"], why="demo --out: unwritable (/proc)"))
add(C("paths", DEMO + ["--out", "/sys/prunelab-x"], why="demo --out: unwritable (/sys)"))
add(C("paths", DEMO + ["--out", "{tmp}/afile/sub"], files=F, why="demo --out: parent is a file"))
add(C("paths", DEMO + ["--out", "{tmp}/missing/deep/out"], expect="ok", why="demo --out: missing parents"))
add(C("paths", DEMO + ["--out", "/proc/prunelab-x", "--store", "{tmp}/s"],
      why="demo --out unwritable while --store is fine: fails only after all training?"))
add(C("paths", DEMO + ["--out", "{tmp}/o"], env={"PRUNELAB_STORE": "/proc/prunelab-x"},
      why="demo: $PRUNELAB_STORE unwritable (help says demo honours it; does it?)"))
add(C("paths", DEMO + ["--out", ""], expect="error", why="demo --out '': writes report files into the cwd"))
add(C("paths", ["demo", "--config", "{tmp}/nope.yaml", "--quiet"], why="demo --config: missing file"))
# export --out
add(C("paths", EXPORT + ["--out", "{tmp}/afile"], files=F, why="export --out: a file"))
add(C("paths", EXPORT + ["--out", "/proc/prunelab-x"], why="export --out: unwritable (/proc)"))
add(C("paths", EXPORT + ["--out", "/sys/prunelab-x"], why="export --out: unwritable (/sys)"))
add(C("paths", EXPORT + ["--out", "{tmp}/afile/sub"], files=F, why="export --out: parent is a file"))
add(C("paths", EXPORT + ["--out", "{tmp}/missing/deep"], expect="ok", why="export --out: missing parents"))
add(C("paths", ["export", "{tmp}", "--out", "{tmp}/o"], why="export MODEL: a folder without model.pt"))
add(C("paths", ["train", "--arch", "vgg11", "--dataset", "fashion-mnist", "--epochs", "1", "--data", "{tmp}/afile",
                "--quiet", "--device", "cpu"], files=F, why="--data: a file, not a folder"))
add(C("paths", ["train", "--arch", "vgg11", "--dataset", "cifar10", "--epochs", "1", "--quiet", "--device", "cpu"],
      env={"PRUNELAB_DATA": "/proc"}, why="$PRUNELAB_DATA without the dataset"))

# ================================ numbers =========================================================
for w in ("nan", "inf", "-inf", "0", "-1", "1e-9", "1e308"):
    add(C("numbers", ["arch", "vgg11", "--width", w], why=f"arch --width {w}"))
for w in ("nan", "inf", "-inf", "0", "-1", "1e-9"):
    add(C("numbers", TRAIN + ["--width", w], why=f"train --width {w}"))
add(C("numbers", ["arch", "vgg11", "--width", "1000"], expect="error", why="arch --width 1000: absurdly wide"))
for name in ("resnet60002", "preresnet99999", "densenet99997", "resnet99999999999999999992"):
    add(C("numbers", ["arch", name], why=f"absurd depth: {name} (hang? memory?)"))
for flag, vals in (("--lr", ("nan", "inf", "-inf", "0", "-0.1")), ("--momentum", ("nan", "inf", "-1", "1", "1.5")),
                   ("--weight-decay", ("nan", "inf", "-inf", "-1")), ("--gamma", ("nan", "inf", "0", "-1"))):
    for v in vals:
        add(C("numbers", TRAIN + [flag, v], why=f"train {flag} {v}"))
add(C("numbers", TRAIN + ["--gamma", "5"], expect="warning", why="train --gamma 5: the step schedule raises the lr"))
for ms in ("nan", "inf", "0.5,nan", "-1", "0", "1e3", "0.5,,0.75", "2,1", "5"):
    add(C("numbers", TRAIN + ["--milestones", ms], expect="warning" if ms in ("2,1", "5") else "error",
          why=f"train --milestones {ms}" + (" (beyond the run: never applies)" if ms in ("5",) else "")))
for e in ("0", "-1"):
    add(C("numbers", TRAIN[:8] + [e] + TRAIN[9:], why=f"train --epochs {e}"))
add(C("numbers", TRAIN[:8] + ["100000000000000000000"] + TRAIN[9:], expect="error",
      why="train --epochs 1e20: huge (overflow? hang?)"))
for b in ("0", "-1"):
    add(C("numbers", TRAIN + ["--batch-size", b], why=f"train --batch-size {b}"))
add(C("numbers", ["train", "--arch", "vgg16", "--width", "0.125", "--dataset", "synthetic", "--epochs", "1",
                  "--batch-size", "1", "--train-subset", "8", "--quiet", "--device", "cpu"],
      expect="error", why="batch size 1 with BatchNorm1d (vgg16's mlp head)"))
add(C("numbers", TRAIN + ["--train-subset", "1"], expect="error",
      why="train subset of one image: smaller than a batch (0 steps)"))
add(C("numbers", TRAIN + ["--train-subset", "10", "--batch-size", "64"], expect="warning",
      why="train subset smaller than one batch"))
for flag, v in (("--train-subset", "0"), ("--train-subset", "-5"), ("--train-subset", "1000000000"),
                ("--test-subset", "0"), ("--test-subset", "1000000000"), ("--val-size", "-1"),
                ("--val-size", "512"), ("--seed", "-1"), ("--seed", "18446744073709551617"), ("--eval-every", "-1")):
    add(C("numbers", TRAIN + [flag, v], why=f"train {flag} {v}"))
add(C("numbers", TRAIN + ["--eval-every", "1000"], expect="warning", why="train --eval-every beyond the run"))
# YAML numbers (plan validates the whole grid without training)
for key, v in (("lr", ".nan"), ("lr", ".inf"), ("lr", "-.inf"), ("momentum", ".nan"), ("weight_decay", ".inf"),
               ("weight_decay", ".nan"), ("gamma", ".nan"), ("gamma", ".inf"), ("warmup_lr", ".nan"),
               ("warmup_lr", ".inf"), ("warmup_epochs", "-1"), ("milestones", "[.nan]"), ("milestones", "[.inf]"),
               ("milestones", "[-.inf]"), ("epochs", ".inf"), ("batch_size", ".nan")):
    add(C("numbers", PLAN, files={"e.yaml": recipe(**{key: v})}, why=f"YAML recipe {key}: {v}"))
add(C("numbers", RUN, files={"e.yaml": recipe(milestones="[.nan]", schedule="step")},
      why="YAML recipe milestones [.nan] through run (training)"))
add(C("numbers", RUN, files={"e.yaml": recipe(milestones="[.inf]")}, why="YAML milestones [.inf] through run"))
add(C("numbers", RUN, files={"e.yaml": recipe(warmup_epochs="5", warmup_lr="0")}, expect="error",
      why="warm-up longer than the run with warmup_lr 0: the model never trains"))
add(C("numbers", PLAN, files={"e.yaml": recipe(epochs="1000000000000")}, expect="error",
      why="YAML recipe epochs 1e12 (Scratch-B budgets overflow?)"))
for key, v in (("lr", ".nan"), ("epochs", "-1"), ("momentum", ".inf")):
    add(C("numbers", PLAN, files={"e.yaml": exp(finetune=f"{{epochs: 1, {key}: {v}}}" if key != "epochs" else "{epochs: -1}")},
          why=f"YAML finetune {key}: {v}"))
for v in (".nan", ".inf", "0", "-1", "1e-9"):
    add(C("numbers", PLAN, files={"e.yaml": model(width=v)}, why=f"YAML models[0].width: {v}"))
for v in ("[.nan]", "[.inf]", "[-.inf]", "[-0.5]", "[1.0]", "[1.5]", "[0.9999]"):
    add(C("numbers", PLAN, files={"e.yaml": model(targets=v)}, why=f"YAML targets: {v}"))
for v in (".nan", ".inf", "-.inf", "0", "0.5", "-1"):
    add(C("numbers", PLAN, files={"e.yaml": exp(scratch_b=f"{{cap: {v}}}")}, why=f"YAML scratch_b cap: {v}"))
for v in ("[0, 0]", "[-1, 64]", "[.nan, 64]", "[96]", "[1, 1]"):
    add(C("numbers", RUN, files={"e.yaml": exp(data=f"{{synthetic_size: {v}}}")},
          expect="error", why=f"YAML data synthetic_size: {v}"))
for key, v in (("train_subset", ".nan"), ("train_subset", "0"), ("test_subset", "-1"), ("val_size", "1000000")):
    add(C("numbers", PLAN, files={"e.yaml": exp(data=f"{{synthetic_size: [96, 64], {key}: {v}}}")},
          why=f"YAML data {key}: {v}"))
add(C("numbers", TCONF, files={"t.yaml": tcfg(width=".nan")}, why="train --config width: .nan"))
add(C("numbers", TCONF, files={"t.yaml": tcfg(recipe="{epochs: 1, lr: .inf}")}, why="train --config recipe lr: .inf"))
add(C("numbers", TCONF, files={"t.yaml": tcfg(seed="-3")}, why="train --config seed: -3"))
add(C("numbers", TCONF, files={"t.yaml": tcfg(recipe="{epochs: 1, warmup_epochs: 3, warmup_lr: 0}")},
      expect="error", why="train --config: warm-up longer than the run at warmup_lr 0 (nothing learns)"))
# prune numbers
for t in (".nan", ".inf", "-0.1", "1", "0.9999", "1e400"):
    add(C("numbers", PRUNE[:3] + [t] + PRUNE[4:], why=f"prune --target {t}"))
add(C("numbers", PRUNE[:3] + ["0"] + PRUNE[4:], expect="error", why="prune --target 0: ratio 0 prunes nothing"))
for r in ("0", "-1", "1000000"):
    add(C("numbers", PRUNE + ["--round-to", r], expect="error", why=f"prune --round-to {r}"))
add(C("numbers", PRUNE[:3] + ["{ratio: .nan}"] + PRUNE[4:], why="prune --target '{ratio: .nan}'"))
add(C("numbers", ["prune", "{fix}/resnet20.pt", "--target", "{stages: [.nan, 0.1, 0.1]}", "--out", "{tmp}/p.pt"],
      why="prune --target stages with NaN"))
add(C("numbers", PRUNE + ["--seed", "-1"], why="prune --seed -1"))
add(C("numbers", PRUNE + ["--seed", "99999999999999999999999"], why="prune --seed beyond 64 bits"))
add(C("numbers", ["prune", "{fix}/model.pt", "--method", "random", "--target", "0.5", "--seed",
                  "99999999999999999999999", "--out", "{tmp}/p.pt"], why="prune --method random with a >64-bit seed"))
add(C("numbers", ["prune", "{fix}/model.pt", "--param", "target=.nan", "--out", "{tmp}/p.pt"], why="prune --param target=.nan"))

# ================================ shapes ==========================================================
add(C("shapes", PLAN, files={"e.yaml": exp(seeds="0")}, why="seeds: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": exp(seeds="[]")}, why="seeds: []"))
add(C("shapes", PLAN, files={"e.yaml": exp(seeds="[0, 0]")}, why="seeds: repeated"))
add(C("shapes", PLAN, files={"e.yaml": exp(seeds="[0.5]")}, why="seeds: a float"))
add(C("shapes", PLAN, files={"e.yaml": exp(seeds="[true]")}, why="seeds: a bool"))
add(C("shapes", PLAN, files={"e.yaml": exp(regimes="[]")}, why="regimes: []"))
add(C("shapes", PLAN, files={"e.yaml": exp(regimes="finetune")}, why="regimes: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": exp(regimes="[Finetune]")}, why="regimes: wrong case"))
add(C("shapes", PLAN, files={"e.yaml": exp(models="{arch: vgg11, width: 0.125, targets: [0.5]}")}, why="models: a mapping, not a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(models="vgg11")}, why="models: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": exp(models="[]")}, why="models: []"))
add(C("shapes", PLAN, files={"e.yaml": exp(models="[vgg11]")}, why="models: a list of names, not mappings"))
add(C("shapes", PLAN, files={"e.yaml": exp(models="[[{arch: vgg11}]]")}, why="models: nested one list too deep"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="0.5")}, why="targets: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[]")}, why="targets: []"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[0]")}, expect="error", why="targets: [0] (ratio 0 prunes nothing)"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[0.5, 0.5]")}, expect="warning", why="targets: a repeated target"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[[0.5]]")}, why="targets: a list inside the list"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[{ratio: 0.5, skip: features.0}]")}, why="skip: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[{ratio: 0.5, skip: [nosuchlayer]}]")}, why="skip names no layer"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="resnet20", width="0.5", targets="[{stages: 0.5}]")}, why="stages: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="resnet20", width="0.5", targets="[{stages: []}]")}, why="stages: []"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="resnet20", width="0.5", targets="[{stages: [0.5]}]")},
      why="stages: fewer ratios than stages"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="resnet20", width="0.5", targets="[{stages: [0.1, 0.1, 0.1, 0.1, 0.1]}]")},
      expect="error", why="stages: more ratios than stages (extra ignored?)"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[{stages: [0.5, 0.5, 0.5]}]")}, why="stages on a VGG"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[{ratio: 0.5, stages: [0.5]}]")}, why="both ratio and stages"))
add(C("shapes", PLAN, files={"e.yaml": model(targets="[{ratio: 0.5, round_to: 2.5}]")}, why="round_to: a float"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="{name: vgg11}")}, why="arch: a mapping"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="[vgg11]")}, why="arch: a list"))
add(C("shapes", PLAN, files={"e.yaml": recipe(milestones="0.5")}, why="milestones: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": recipe(milestones="[[0.5]]")}, why="milestones: nested list"))
add(C("shapes", PLAN, files={"e.yaml": recipe(milestones="'0.5,0.75'")}, why="milestones: a string"))
add(C("shapes", PLAN, files={"e.yaml": exp(recipe="[epochs, 1]")}, why="recipe: a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(recipe="{epochs: {n: 1}}")}, why="recipe epochs: a mapping"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="l1-norm")}, why="prune: a string, not a mapping"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="[]")}, why="prune: []"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="[[{method: l1-norm}]]")}, why="prune: nested list"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="{method: {name: l1-norm}}")}, why="prune method: a mapping"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="{method: null}")}, why="prune method: null"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="{method: l1-norm, selection: [largest]}")}, why="selection: a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(prune="[{method: l1-norm}, {method: l1-norm}]")}, expect="warning",
      why="prune: the same method twice"))
add(C("shapes", PLAN, files={"e.yaml": exp(data="[96, 64]")}, why="data: a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(data="{synthetic_size: [[96, 64]]}")}, why="synthetic_size: nested"))
add(C("shapes", PLAN, files={"e.yaml": exp(data="{synthetic_size: 96}")}, why="synthetic_size: a scalar"))
add(C("shapes", PLAN, files={"e.yaml": exp(scratch_b="[2]")}, why="scratch_b: a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(name="123")}, expect="error", why="name: a number"))
add(C("shapes", PLAN, files={"e.yaml": exp(name="null")}, why="name: null"))
add(C("shapes", PLAN, files={"e.yaml": exp(dataset="[synthetic]")}, why="dataset: a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(description="[a, b]")}, why="description: a list"))
add(C("shapes", PLAN, files={"e.yaml": exp(extra="seeds: [1]\n")}, expect="error",
      why="duplicate top-level key 'seeds' (the last one silently wins)"))
add(C("shapes", PLAN, files={"e.yaml": exp(extra="recipe: {epochs: 3}\n")}, expect="error",
      why="duplicate top-level key 'recipe' (the first, complete recipe is silently dropped)"))
add(C("shapes", PLAN, files={"e.yaml": exp(recipe="{epochs: 1, epochs: 200}")}, expect="error",
      why="duplicate key inside a flow mapping"))
add(C("shapes", TCONF, files={"t.yaml": tcfg() + "arch: resnet20\n"}, expect="error", why="train --config: duplicate 'arch'"))
add(C("shapes", PLAN, files={"e.yaml": ""}, why="an empty YAML file"))
add(C("shapes", PLAN, files={"e.yaml": "# only a comment\n"}, why="a YAML file with only a comment"))
add(C("shapes", PLAN, files={"e.yaml": "- name: tiny\n- dataset: synthetic\n"}, why="top level is a list"))
add(C("shapes", PLAN, files={"e.yaml": "42\n"}, why="top level is a scalar"))
add(C("shapes", PLAN, files={"e.yaml": "---\nname: a\n---\nname: b\n"}, why="a multi-document YAML file"))
add(C("shapes", PLAN, files={"e.yaml": bytes(range(256)) * 4}, why="a binary file given as YAML"))
add(C("shapes", PLAN, files={"e.yaml": b"name: t\xe9st\ndataset: synthetic\n"}, why="Latin-1 (non-UTF-8) YAML"))
add(C("shapes", PLAN, files={"e.yaml": "\ufeff" + exp()}, expect="ok", why="YAML with a UTF-8 BOM (valid)"))
add(C("shapes", PLAN, files={"e.yaml": exp().replace("name: tiny", "name:\ttiny\n\tdataset: x")}, why="tab indentation"))
add(C("shapes", PLAN, files={"e.yaml": "!!python/object/apply:os.system ['echo pwned']\n"},
      why="a python tag (safe_load must refuse)"))
add(C("shapes", PLAN, files={"e.yaml": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"},
      why="billion-laughs style aliases with unknown keys"))
add(C("shapes", PLAN, files={"e.yaml": exp(recipe="&r {epochs: 1, lr: 0.05}", finetune="*r")}, expect="ok",
      why="finetune aliased to the recipe (valid YAML)"))
add(C("shapes", TCONF, files={"t.yaml": "- arch: vgg11\n"}, why="train --config: top level is a list"))
add(C("shapes", TCONF, files={"t.yaml": ""}, why="train --config: empty file"))
add(C("shapes", TCONF, files={"t.yaml": bytes(range(256))}, why="train --config: binary file"))
add(C("shapes", TCONF, files={"t.yaml": tcfg(recipe="[1]")}, why="train --config: recipe a list"))
add(C("shapes", TCONF, files={"t.yaml": tcfg(recipe="{epochs: 1, milestones: 0.5}")}, why="train --config: milestones scalar"))
add(C("shapes", TCONF, files={"t.yaml": tcfg(recipe="{epochs: 1, lr: '0.1'}")}, why="train --config: lr a string"))
add(C("shapes", TCONF, files={"t.yaml": tcfg(augment="'no'")}, why="train --config: augment a string"))
add(C("shapes", TCONF, files={"t.yaml": tcfg(arch="[vgg11]")}, why="train --config: arch a list"))
add(C("shapes", TCONF, files={"t.yaml": tcfg(init="123")}, why="train --config: init a number"))
add(C("shapes", ["prune", "{fix}/resnet20.pt", "--target", "{stages: 0.5}", "--out", "{tmp}/p.pt"], why="prune --target stages scalar"))
add(C("shapes", PRUNE[:3] + ["{ratio: 0.5, skip: features.0}"] + PRUNE[4:], why="prune --target skip scalar"))
add(C("shapes", PRUNE[:3] + ["[0.5]"] + PRUNE[4:], why="prune --target a list"))
add(C("shapes", PRUNE[:3] + ["{ratio: 0.5, extra: 1}"] + PRUNE[4:], why="prune --target unknown key"))
add(C("shapes", PRUNE[:3] + ["{ratio: [0.5]"] + PRUNE[4:], why="prune --target unclosed YAML"))
add(C("shapes", PRUNE[:3] + ["''"] + PRUNE[4:], why="prune --target empty string"))
add(C("shapes", PRUNE[:3] + ["null"] + PRUNE[4:], why="prune --target null"))
add(C("shapes", PRUNE[:3] + ["true"] + PRUNE[4:], why="prune --target true"))
add(C("shapes", ["prune", "{fix}/model.pt", "--out", "{tmp}/p.pt"], why="prune without --target (l1-norm needs one)"))
add(C("shapes", PRUNE + ["--param", "noequals"], why="prune --param without '='"))
add(C("shapes", PRUNE + ["--param", "=1"], why="prune --param with empty key"))
add(C("shapes", PRUNE + ["--param", "bogus=1"], why="prune --param unknown key"))
add(C("shapes", PRUNE + ["--param", "selection=[largest]"], why="prune --param selection a list"))
add(C("shapes", PRUNE + ["--param", "target=0.3"], expect="error", why="prune --param target given twice (--target too)"))

# ================================ files ===========================================================
for name, why in (("no_spec", "a model file without 'spec'"), ("no_state", "a model file without 'state_dict'"),
                  ("no_format", "spec + state_dict but no 'format'"), ("list", "a torch file holding a list"),
                  ("tensor", "a torch file holding a tensor"), ("empty_dict", "a torch file holding {}"),
                  ("bare_state_dict", "a bare state_dict"), ("spec_str", "'spec' is a string"),
                  ("spec_bad_layout", "spec layout cfg is a string"), ("spec_bad_family", "unknown family"),
                  ("state_empty", "empty state_dict"), ("state_list", "state_dict is a list"),
                  ("bad_mask", "a mask of the wrong shape"), ("mask_list", "masks is a list"),
                  ("spec_other_arch", "spec of another architecture than the weights"),
                  ("text", "a text file as a model file"), ("empty", "an empty model file"),
                  ("garbage", "random bytes"), ("pickle_obj", "a pickled non-tensor object (weights_only must refuse)"),
                  ("truncated", "a truncated model file")):
    add(C("files", ["prune", f"{{fix}}/bad/{name}.pt", "--target", "0.5", "--out", "{tmp}/p.pt"], why=f"prune: {why}"))
for name in ("no_spec", "list", "text", "spec_bad_layout", "state_list", "garbage", "mask_list"):
    add(C("files", ["export", f"{{fix}}/bad/{name}.pt", "--out", "{tmp}/o", "--formats", "torchscript"], why=f"export: {name}.pt"))
add(C("files", ["export", "{fix}/bad/nan_weights.pt", "--out", "{tmp}/o", "--formats", "torchscript"], expect="error",
      why="export: NaN weights"))
add(C("files", ["prune", "{fix}/bad/nan_weights.pt", "--target", "0.5", "--out", "{tmp}/p.pt"], expect="error",
      why="prune: NaN weights (L1 norm of NaN: ranking meaningless)"))
for name in ("text", "list", "spec_bad_layout"):
    add(C("files", TRAIN + ["--init", f"{{fix}}/bad/{name}.pt"], why=f"train --init {name}.pt"))
add(C("files", TRAIN + ["--init", "{fix}/resnet20.pt"], why="train --init: a model of another architecture"))
add(C("files", TRAIN + ["--init", "{tmp}"], why="train --init: a folder without model.pt"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": "{not json"}, why="arch: a malformed spec .json"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": "[1, 2]"}, why="arch: spec .json holds a list"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": ""}, why="arch: empty spec .json"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": bytes(range(256))}, why="arch: binary spec .json"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": '{"family": "vgg"}'}, why="arch: spec without layout"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": SPEC % '"abc"'}, why="arch: spec cfg a string"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": SPEC % '[0, "M", 16]'}, why="arch: spec with a 0-wide conv"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": SPEC % '[-8, "M", 16]'}, why="arch: spec with a negative width"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": SPEC % '[8.5, "M", 16]'}, why="arch: spec with a fractional width"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": SPEC % '["M", "M", "M", "M", "M", "M", 8]'},
      why="arch: spec pooling a 32x32 input below 1x1"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": (SPEC % SPEC_OK_CFG).replace('"input_size": 32', '"input_size": 1')},
      why="arch: spec input_size 1 for a 4-pool VGG"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json": (SPEC % SPEC_OK_CFG).replace('"head": "linear"', '"head": "xyz"')},
      why="arch: spec with an unknown head"))
add(C("files", ["arch", "{tmp}/s.json"], files={"s.json/x": "x"}, why="arch: a folder named s.json"))
add(C("files", TRAIN[:2] + ["{tmp}/s.json"] + TRAIN[5:], files={"s.json": "{not json"}, why="train --arch: malformed spec .json"))
add(C("files", TRAIN[:2] + ["{tmp}/s.json"] + TRAIN[5:], files={"s.json": SPEC % '[-8, "M", 16]'}, why="train --arch: spec negative width"))
# report folders with foreign / malformed result.json
R = "r/x/result.json"
add(C("files", ["report", "{tmp}/r"], files={R: "{not json"}, expect="warning", why="report: malformed result.json"))
add(C("files", ["report", "{tmp}/r"], files={R: '{"foo": 1}'}, expect="warning", why="report: a foreign result.json"))
add(C("files", ["report", "{tmp}/r"], files={R: "[1, 2]"}, expect="warning", why="report: result.json holds a list"))
add(C("files", ["report", "{tmp}/r"], files={R: bytes(range(256))}, expect="warning", why="report: binary result.json"))
add(C("files", ["report", "{tmp}/r"], files={"r/x/result.json/y": "x"}, expect="warning", why="report: result.json is a folder"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT % '"baseline-string"'}, expect="warning",
      why="report: 'labels' is a string"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT.replace('"final_top1": 0.5', '"final_top1": NaN') % (ROLE % "finetune")},
      expect="warning", why="report: final_top1 NaN"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT.replace('"final_top1": 0.5', '"final_top1": true') % (ROLE % "finetune")},
      expect="warning", why="report: final_top1 true (a bool)"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT.replace('"final_top1": 0.5', '"final_top1": 97.5') % (ROLE % "finetune")},
      expect="warning", why="report: final_top1 97.5 (a percentage, not a fraction)"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT.replace('"seed": 0', '"seed": "zero"') % (ROLE % "finetune"),
                                            "r/y/result.json": GOOD_RESULT % (ROLE % "finetune")},
      expect="warning", why="report: seeds of mixed types (str vs int)"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT % (ROLE % "finetune").replace('"regime"', '"budget": 5, "regime"')},
      expect="warning", why="report: labels.budget not a mapping"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT % (ROLE % "finetune"), "r/x/roles.json": "{bad"},
      expect="warning", why="report: malformed roles.json"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT % (ROLE % "finetune"), "r/x/roles.json": '{"a": 1}'},
      expect="warning", why="report: roles.json a mapping (run silently dropped?)"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT % (ROLE % "finetune"), "r/x/roles.json": '[1, "x"]'},
      expect="warning", why="report: roles.json holds non-mappings"))
add(C("files", ["report", "{tmp}/r", "--plot", "{tmp}/p.png"],
      files={R: GOOD_RESULT.replace('"final_top1": 0.5', '"final_top1": NaN') % (ROLE % "finetune")},
      expect="warning", why="report --plot with a NaN accuracy"))
add(C("files", ["report", "{tmp}/r", "--format", "csv"], files={R: GOOD_RESULT % (ROLE % "finetune").replace('"pruned": "vgg11-p0.5"', '"pruned": null')},
      expect="warning", why="report csv: labels.pruned null"))
add(C("files", ["runs", "{tmp}/st"], files={"st/a/settings.json": "{bad"}, why="runs: malformed settings.json", expect="warning"))
add(C("files", ["runs", "{tmp}/st"], files={"st/a/settings.json": "[1]"}, why="runs: settings.json a list", expect="warning"))
add(C("files", ["runs", "{tmp}/st"], files={"st/a/settings.json": '{"arch": "vgg11"}'}, why="runs: settings arch a string", expect="warning"))
add(C("files", ["runs", "{tmp}/st"], files={"st/a/settings.json": "{}", "st/a/result.json": "[1]"}, why="runs: result.json a list", expect="warning"))
add(C("files", ["runs", "{tmp}/st"], files={"st/a/settings.json": "{}", "st/a/result.json": '{"final_top1": "high"}'},
      why="runs: final_top1 a string", expect="warning"))
add(C("files", ["prune", "{tmp}/run", "--target", "0.5", "--out", "{tmp}/p.pt"], copy={"run": "{fix}/run"},
      files={"run/settings.json": "{bad"}, why="prune RUN: a run folder with malformed settings.json", expect="warning"))
add(C("files", ["prune", "{tmp}/run", "--target", "0.5", "--out", "{tmp}/p.pt"], copy={"run": "{fix}/run"},
      files={"run/settings.json": "[]"}, why="prune RUN: settings.json a list", expect="warning"))
add(C("files", ["prune", "{tmp}/run", "--target", "0.5", "--out", "{tmp}/p.pt"], copy={"run": "{fix}/run"},
      files={"run/settings.json": '{"data": {"dataset": "nope"}}'}, why="prune RUN: settings.json names an unknown dataset", expect="warning"))
add(C("files", ["runs", "{tmp}/st", "--json"], copy={"st": "{fix}/store"}, files={"st/extra/settings.json": "{bad"},
      why="runs --json: one malformed settings.json among good runs", expect="warning"))
add(C("files", ["plan", "{fix}/tiny.yaml", "--store", "{tmp}/st"], copy={"st": "{fix}/store"},
      files={"st/pruned/garbage.json": "{bad"}, expect="ok",
      why="plan over a store with junk in pruned/ (not one of its steps: ignored)"))

# ================================ pipes ===========================================================
for argv in (["arch", "resnet110"], ["arch", "--list"], ["arch", "preresnet164"], ["arch", "resnet1202"],
             ["arch", "--list", "--dataset", "imagenet"], ["arch", "resnet110", "--json"],
             ["plan", "{root}/experiments/paper/table1-cifar10.yaml"],
             ["plan", "{root}/experiments/paper/table1-cifar10.yaml", "--json"],
             ["report", "{fix}/store", "--format", "csv"], ["runs", "{fix}/store"], ["--help"], ["train", "--help"]):
    add(C("pipes", argv, pipe_head=True, expect="warning",
          why=f"`prunelab {' '.join(argv)} | head -1`: must not print a BrokenPipeError traceback"))

# ================================ other ===========================================================
add(C("other", ["arch", ""], why="arch '': an empty name (lists every name instead?)"))
add(C("other", ["arch", "VGG11"], why="arch: wrong case"))
add(C("other", ["arch", "resnet57"], why="arch: a depth not of the form 6n+2"))
add(C("other", ["arch", "resnet56", "--head", "mlp"], expect="error", why="--head on a ResNet (ignored?)"))
add(C("other", ["arch", "vgg11", "--head", "bogus"], why="--head unknown"))
add(C("other", ["arch", "vgg16", "--dataset", "imagenet", "--width", "0.5"], expect="error",
      why="--width on an ImageNet model (ignored?)"))
add(C("other", ["arch", "vgg11", "--dataset", "nope"], why="unknown dataset"))
add(C("other", ["arch", "--list", "--dataset", "nope"], why="--list with unknown dataset"))
add(C("other", ["arch", "a" * 5000], why="a 5000-character name"))
add(C("other", ["arch", "vgg11\n--json"], why="a name with a newline"))
add(C("other", ["bogus"], why="unknown command (argparse)"))
add(C("other", ["train"], why="train without anything"))
add(C("other", TRAIN[:-1] + ["tpu"], why="--device tpu"))
add(C("other", TRAIN[:-1] + ["cuda:99"], why="--device cuda:99 (no such GPU)"))
add(C("other", TRAIN[:-1] + [""], why="--device ''"))
add(C("other", ["train", "--arch", "vgg11", "--dataset", "imagenet", "--epochs", "1", "--data", "{tmp}", "--quiet"],
      why="a CIFAR-only name on imagenet / empty data folder"))
add(C("other", ["prune", "{fix}/model.pt", "--method", "nope", "--target", "0.5", "--out", "{tmp}/p.pt"], why="unknown method"))
add(C("other", ["prune", "{fix}/model.pt", "--method", "os:system", "--target", "0.5", "--out", "{tmp}/p.pt"],
      why="--method os:system (an importable non-Method)"))
add(C("other", ["prune", "{fix}/model.pt", "--method", "nosuchmodule_xyz:M", "--target", "0.5", "--out", "{tmp}/p.pt"],
      why="--method from a missing module"))
add(C("other", ["prune", "{fix}/model.pt", "--method", ":", "--target", "0.5", "--out", "{tmp}/p.pt"], why="--method ':'"))
add(C("other", ["prune", "{fix}/model.pt", "--method", "prunelab.methods.base:Method", "--target", "0.5", "--out", "{tmp}/p.pt"],
      why="--method the abstract base class"))
add(C("other", ["prune", "{fix}/model.pt", "--method", "brokenplugin:M", "--target", "0.5", "--out", "{tmp}/p.pt"],
      files={"brokenplugin.py": "raise RuntimeError('boom at import')\n"}, env={"PYTHONPATH": "{tmp}"},
      why="--method whose module raises at import"))
add(C("other", PRUNE + ["--selection", "bogus"], why="--selection unknown"))
add(C("other", ["prune", "{fix}/model.pt", "--target", "resnet56-A", "--out", "{tmp}/p.pt"], why="a preset of another base"))
add(C("other", PRUNE + ["--dataset", "imagenet"], why="--dataset imagenet for a CIFAR-style model"))
add(C("other", PRUNE + ["--dataset", "nope"], why="--dataset unknown"))
add(C("other", PRUNE + ["--round-to", "8", "--target", "resnet56-A"], why="--round-to with a preset"))
add(C("other", ["export", "{fix}/model.pt", "--out", "{tmp}/o", "--formats", ""], why="export --formats '' (writes nothing, rc 0?)"))
add(C("other", ["export", "{fix}/model.pt", "--out", "{tmp}/o", "--formats", ",,,"], why="export --formats ',,,'"))
add(C("other", ["export", "{fix}/model.pt", "--out", "{tmp}/o", "--formats", "bogus"], why="export --formats unknown"))
add(C("other", ["export", "{fix}/model.pt", "--out", "{tmp}/o", "--formats", "torchscript,TorchScript"],
      why="export --formats wrong case"))
add(C("other", ["export", "{fix}/model.pt", "--out", "{tmp}/o", "--formats", "torchscript,bogus"],
      why="export --formats: a bad format after a good one (half-written output?)"))
add(C("other", PLAN, files={"e.yaml": exp(dataset="nope")}, why="YAML dataset unknown"))
add(C("other", PLAN, files={"e.yaml": exp(extra="bogus: 1\n")}, why="YAML unknown top-level key"))
add(C("other", PLAN, files={"e.yaml": exp(prune="{method: l1-norm, target: 0.5}")}, why="target in prune, not per model"))
add(C("other", PLAN, files={"e.yaml": exp(prune="{criterion: l1-norm}")}, why="old key 'criterion'"))
add(C("other", PLAN, files={"e.yaml": model(arch="vgg11", head="bogus")}, why="models head unknown"))
add(C("other", PLAN, files={"e.yaml": exp(regimes="[finetune, finetune]")}, why="regimes repeated"))
add(C("other", ["run", "{tmp}/e.yaml", "--quiet", "--device", "cpu", "--together"], files={"e.yaml": exp(seeds="[0, 1]")},
      expect="warning", why="run --together on a CPU"))
add(C("other", PLAN, files={"e.yaml": exp(dataset="fashion-mnist")},
      why="synthetic_size on fashion-mnist (a key of another dataset, silently ignored?)"))
add(C("other", ["report", "{fix}/store", "--format", "xml"], why="report --format unknown (argparse)"))
add(C("other", ["demo", "--quiet", "--device", "cpu", "--data", "{tmp}/nodata", "--out", "{tmp}/o"],
      why="demo --data a missing folder"))

# ================================ added after the first pass ======================================
add(C("numbers", ["arch", "preresnet99992"], why="absurd depth: preresnet99992 (a valid 9n+2 name)"))
add(C("numbers", TCONF, files={"t.yaml": tcfg(width="0")}, why="train --config width: 0 (falls back to 1.0?)"))
add(C("numbers", TRAIN + ["--lr", "1e30"], why="train --lr 1e30: diverges (one-line TrainingDiverged?)"))
add(C("numbers", PLAN, files={"e.yaml": exp(scratch_b="{cap: abc}")}, why="YAML scratch_b cap: a string"))
add(C("shapes", RUN, files={"e.yaml": exp(data="{synthetic_size: [[96, 64]]}")},
      why="synthetic_size nested, through run (plan accepts it)"))
add(C("shapes", PRUNE[:3] + [""] + PRUNE[4:], why="prune --target '' (an empty argument)"))
add(C("files", ["report", "{tmp}/r"], files={R: GOOD_RESULT.replace('"final_top1": 0.5', '"final_top1": -5') % (ROLE % "finetune")},
      expect="warning", why="report: final_top1 negative"))
BIG = exp(seeds="[" + ", ".join(map(str, range(600))) + "]")
for argv in (["arch", "resnet1202", "--json"], PLAN, PLAN + ["--json"]):
    add(C("pipes", argv, pipe_head=True, files={"e.yaml": BIG} if argv[0] == "plan" else {}, expect="warning",
          why=f"`prunelab {' '.join(argv)} | head -1` with more than 64 KiB of output (deterministic EPIPE)"))

# import-weights (torchvision-format checkpoints)
add(C("other", IMPORT, expect="ok", why="import-weights: a good ResNet-18 state_dict, architecture inferred (control)"))
add(C("paths", ["import-weights", "{tmp}/nope.pth", "--out", "{tmp}/m.pt"], why="import-weights FILE: missing"))
add(C("paths", ["import-weights", "{tmp}", "--out", "{tmp}/m.pt"], why="import-weights FILE: a folder"))
add(C("paths", IMPORT[:-1] + ["{tmp}/adir"], files={"adir/keep": "x"}, why="import-weights --out: an existing folder"))
add(C("paths", IMPORT[:-1] + ["/proc/prunelab-x.pt"], why="import-weights --out: unwritable (/proc)"))
add(C("paths", IMPORT[:-1] + ["{tmp}/afile/m.pt"], files=F, why="import-weights --out: parent is a file"))
add(C("paths", IMPORT[:-1] + [""], why="import-weights --out '': empty path"))
add(C("paths", ["import-weights", "{tmp}/c.pth", "--out", "{tmp}/c.pth"], copy={"c.pth": "{fix}/tv/resnet18.pth"},
      why="import-weights --out: the input checkpoint itself"))
for name, why in (("missing_key", "a state_dict without fc.bias"), ("extra_key", "a state_dict with an extra tensor"),
                  ("wrong_shape", "conv1.weight of the wrong shape"), ("nan", "NaN weights"),
                  ("not_tensors", "a 'state_dict' entry holding a string"), ("text", "a text file")):
    add(C("files", IMPORT[:1] + [f"{{fix}}/tv/{name}.pth", "--arch", "resnet18"] + IMPORT[2:], why=f"import-weights: {why}"))
add(C("files", IMPORT[:1] + ["{fix}/tv/missing_key.pth"] + IMPORT[2:], why="import-weights: a key missing, arch inferred"))
for name in ("list", "empty_dict", "garbage", "empty", "pickle_obj", "truncated"):
    add(C("files", IMPORT[:1] + [f"{{fix}}/bad/{name}.pt"] + IMPORT[2:], why=f"import-weights: {name}.pt"))
add(C("files", IMPORT[:1] + ["{fix}/model.pt"] + IMPORT[2:], why="import-weights: already a prunelab model file"))
for arch, why in (("resnet34", "the wrong architecture"), ("vgg16-bn", "another family"),
                  ("resnet56", "a CIFAR-only name"), ("", "an empty name"), ("ResNet18", "wrong case")):
    add(C("other", IMPORT + ["--arch", arch], why=f"import-weights --arch: {why}"))
add(C("other", IMPORT + ["--arch", "{tmp}/s.json"], files={"s.json": "{not json"}, why="import-weights --arch: a malformed spec .json"))

# run --launcher submitit: the grid's runs and prune steps as jobs (tests/test_launcher.py runs a grid)
SUB = RUN + ["--launcher", "submitit", "--cluster", "local"]
E = {"e.yaml": exp()}
add(C("other", RUN + ["--launcher", "slurm"], files=E, why="launcher: run --launcher slurm (an unknown launcher)"))
add(C("other", RUN + ["--launcher", "submitit", "--cluster", "pbs"], files=E, why="launcher: run --cluster pbs (unknown)"))
add(C("other", RUN + ["--cluster", "local"], files=E, why="launcher: run --cluster without --launcher submitit"))
add(C("other", RUN + ["--jobs-dir", "{tmp}/j"], files=E, why="launcher: run --jobs-dir without --launcher submitit"))
add(C("other", SUB + ["--force"], files=E, why="launcher: run --launcher submitit --force (one worker only)"))
add(C("other", SUB + ["--launcher-param", "partition"], files=E, why="launcher: --launcher-param without =VALUE"))
add(C("other", SUB + ["--launcher-param", "partiton=gpu"], files=E, why="launcher: --launcher-param, a misspelt key"))
add(C("other", RUN, files={"e.yaml": exp(launcher="{partiton: gpu}")}, why="launcher: section with a misspelt key"))
add(C("other", PLAN, files={"e.yaml": exp(launcher="[gpu]")}, why="launcher: section a list, not a mapping (plan)"))
add(C("other", SUB, files={"e.yaml": exp(launcher="{partition: ''}")}, why="launcher: an empty partition"))
add(C("numbers", SUB, files={"e.yaml": exp(launcher="{timeout_min: 0}")}, why="launcher: timeout_min 0"))
add(C("numbers", SUB, files={"e.yaml": exp(launcher="{nodes: 2}")}, why="launcher: nodes 2 (a run's job is one node)"))
add(C("numbers", SUB, files={"e.yaml": exp(launcher="{gpus_per_node: 2, tasks_per_node: 4}")},
      why="launcher: tasks_per_node 4 with gpus_per_node 2 (one process per GPU)"))
add(C("numbers", SUB, files={"e.yaml": exp(launcher="{cpus_per_task: true}")}, why="launcher: cpus_per_task true"))
add(C("numbers", SUB, files={"e.yaml": exp(launcher="{mem_gb: -4}")}, why="launcher: mem_gb negative"))
add(C("numbers", SUB, files={"e.yaml": exp(launcher="{parallel: 0}")}, why="launcher: parallel 0"))
add(C("other", SUB + ["--device", "cuda"], files=E, why="launcher: --device cuda, the jobs ask for no GPU"))
add(C("paths", SUB + ["--jobs-dir", "{tmp}/afile"], files={**F, **E}, why="launcher: run --jobs-dir, a file"))
add(C("paths", SUB + ["--jobs-dir", "/proc/prunelab-x"], files=E, why="launcher: run --jobs-dir unwritable (/proc)"))

# pattern (kept ratios of pruned architectures, for guided pruning)
PAT = ["pattern", "vgg16-A", "--base", "vgg16"]
add(C("other", PAT, expect="ok", why="pattern: a preset over its base (control)"))
add(C("paths", PAT + ["--out", "{tmp}"], why="pattern --out: a folder where a file is expected"))
add(C("paths", PAT + ["--out", "{tmp}/afile/p.json"], files=F, why="pattern --out: parent is a file"))
add(C("paths", PAT + ["--plot", "/proc/prunelab-x/p.png"], why="pattern --plot: unwritable place (/proc)"))
add(C("files", ["pattern", "{tmp}/missing.pt", "--base", "vgg16"], why="pattern: a pruned model file that does not exist"))
add(C("files", ["pattern", "{tmp}/t.pt", "--base", "vgg16"], files={"t.pt": "not a model\n"},
      why="pattern: a text file as a pruned model file"))
add(C("files", ["pattern", "{tmp}/s.json", "--base", "vgg16"], files={"s.json": "{not json"}, why="pattern: a malformed spec .json"))
add(C("shapes", ["pattern", "resnet56-B", "--base", "vgg16"], why="pattern: a pruned net of another family than its base"))
add(C("shapes", PAT[:1] + ["vgg16"] + PAT[2:], expect="ok", why="pattern: the base itself (all ratios 1; control)"))
for w in ("nan", "-1", "0", "inf"):
    add(C("numbers", PAT + ["--width", w], why=f"pattern --width {w}"))
add(C("other", PAT + ["--level", "block"], why="pattern --level: an unknown level"))
for where, why in (("lam", "no =VALUE"), ("=1", "no key"), ("lam=0.02", "a preset name has no prune step to match")):
    add(C("shapes", PAT + ["--where", where], why=f"pattern --where: {why}"))
add(C("files", ["pattern", "{fix}/model.pt", "--base", "vgg11", "--width", "0.125", "--where", "lam=0"],
      why="pattern --where: a model file without its prune step's .json beside it"))
add(C("pipes", PAT, pipe_head=True, expect="warning", why="`prunelab pattern vgg16-A --base vgg16 | head -1`"))

# judge (a method against its baselines): every bad option is refused before any training
JUDGE = ["judge", "{tmp}/e.yaml", "--quiet", "--device", "cpu"]
add(C("files", ["judge", "{tmp}/missing.yaml"], why="judge: the experiment file does not exist"))
add(C("files", JUDGE, files={"e.yaml": b"\x00\x01\x02\xff"}, why="judge: a binary file as the experiment file"))
add(C("other", JUDGE + ["--method", "no-such-method"], files=E, why="judge --method: an unknown method"))
add(C("other", JUDGE + ["--method", "nosuchmodule:Thing"], files=E, why="judge --method: module:attribute not importable"))
add(C("shapes", JUDGE + ["--param", "target"], files=E, why="judge --param without =VALUE"))
add(C("shapes", JUDGE + ["--param", "bogus=1"], files=E, why="judge --param: an unknown parameter of the method"))
add(C("shapes", JUDGE + ["--baselines", "scratch-e,bogus"], files=E, why="judge --baselines: an unknown baseline"))
add(C("shapes", JUDGE + ["--baselines", ","], files=E, why="judge --baselines: names none"))
add(C("other", JUDGE + ["--uniform-regime", "finetune"], files=E, why="judge --uniform-regime: not a scratch regime"))
for n in ("0", "-3", "nan"):
    add(C("numbers", JUDGE + ["--latency-batch", n], files=E, why=f"judge --latency-batch {n}"))
add(C("numbers", JUDGE + ["--seeds", "a"], files=E, why="judge --seeds: not a number"))
add(C("paths", JUDGE + ["--out", "{tmp}/afile"], files={**F, **E}, why="judge --out: a file where a folder is expected"))
add(C("paths", JUDGE + ["--store", "/proc/prunelab-x"], files=E, why="judge --store: unwritable place (/proc)"))
add(C("shapes", JUDGE, files={"e.yaml": exp(regimes="[finetune]")}, expect="ok",
      why="judge: a file with its own regimes (judge runs its own arms; control, trains a tiny grid)"))

# an architecture given as a spec .json in an experiment file (relative to the experiment file)
add(C("files", PLAN, files={"e.yaml": model(arch="missing.json", width=None)}, why="models.arch: a spec file that does not exist"))
add(C("files", PLAN, files={"e.yaml": model(arch="s.json", width=None), "s.json": "{not json"},
      why="models.arch: a malformed spec file"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="s.json", width=None), "s.json": SPEC % SPEC_OK_CFG},
      expect="ok", why="models.arch: a spec file for the dataset's inputs (control)"))
add(C("shapes", PLAN, files={"e.yaml": model(arch="s.json"), "s.json": SPEC % SPEC_OK_CFG},
      why="models.arch: a spec file with a width multiplier"))
add(C("shapes", PLAN, files={"e.yaml": exp(dataset="fashion-mnist", models="[{arch: s.json, targets: [0.5]}]"),
                             "s.json": SPEC % SPEC_OK_CFG},
      why="models.arch: a spec file made for 3-channel 32px inputs in a Fashion-MNIST experiment"))

# a per-regime recipe that contradicts the regime's budget (issue 20)
REG = exp(regimes="[finetune, scratch-e, scratch-b]")
add(C("numbers", PLAN, files={"e.yaml": REG + "recipes: {scratch-b: {epochs: 7}}\n"},
      why="recipes.scratch-b.epochs: overrides Scratch-B's MAC-ratio budget"))
add(C("numbers", PLAN, files={"e.yaml": REG + "recipes: {scratch-e: {epochs: 3}}\n"},
      why="recipes.scratch-e.epochs: not the large model's epochs"))
add(C("numbers", PLAN, files={"e.yaml": REG + "recipes: {scratch-e: {epochs: 1, milestones: [0.5]}}\n"},
      expect="ok", why="recipes.scratch-e: the large model's epochs, another schedule (control)"))
add(C("numbers", PLAN, files={"e.yaml": exp(prune="{method: thinet, layer_epochs: -1}")},
      why="thinet layer_epochs: negative"))
add(C("shapes", ["report", "{fix}/store", "--inits"], expect="ok", why="report --inits on a finished grid (control)"))
