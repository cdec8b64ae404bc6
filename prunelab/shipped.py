"""The experiment files that ship inside the package: the paper's (``paper/...``), the small
CPU-sized ones behind docs/results.md (``small/...``) and the demo (``demo``). Every command that
takes an experiment file also takes one of these names; ``prunelab experiments`` lists them and
``--copy`` writes one out to edit. Imports no torch (the command line's listing is instant)."""
from __future__ import annotations

import shutil
from pathlib import Path

from .errors import PrunelabError

HERE = Path(__file__).parent
ROOTS = {"paper": HERE / "experiments" / "paper", "small": HERE / "experiments" / "small"}
DEMO = HERE / "configs" / "demo.yaml"
PROJECT_URL = "https://github.com/prunelab/prunelab"
DOCS = f"{PROJECT_URL}/blob/main/docs"  # the docs a pip user has not got as files


def shipped() -> dict[str, Path]:
    """{name: file}: ``demo``, ``paper/<stem>`` and ``small/<stem>`` for every shipped YAML file."""
    out = {"demo": DEMO}
    for group, root in ROOTS.items():
        for f in sorted(root.glob("*.yaml")):
            out[f"{group}/{f.stem}"] = f
    return out


def description(path: Path) -> str:
    """The file's ``description:`` (else its first comment line), on one line."""
    from .config import read_yaml

    try:
        d = read_yaml(path)
    except PrunelabError:
        d = {}
    text = d.get("description") if isinstance(d, dict) else None
    if not text:
        lines = [ln.lstrip("# ").strip() for ln in path.read_text().splitlines() if ln.startswith("#")]
        text = lines[0] if lines else ""
    return " ".join(str(text).split())


def _name(ref: str) -> str:
    ref = ref.strip().removesuffix(".yaml").removesuffix(".yml")
    return ref.removeprefix("experiments/")


def experiment_path(ref: str | Path) -> Path:
    """An experiment file: ``ref`` itself where it exists, else the shipped file of that name
    (``paper/table1-cifar10``, ``small/slimming-fashion``, ``demo``; ``.yaml`` optional)."""
    path = Path(ref)
    if isinstance(ref, Path) or path.is_file():
        return path
    found = shipped().get(_name(str(ref)))
    if found is not None:
        return found
    if not str(ref).endswith((".yaml", ".yml")):  # a name, not a file's path
        raise PrunelabError(f"no experiment file or shipped experiment named '{ref}' (list them: prunelab experiments)")
    return path  # a file that is not there: the reader names it


def _companions(src: Path) -> list[Path]:
    """The files a shipped experiment names beside itself (a model's architecture as a spec .json)."""
    from .config import read_yaml

    d = read_yaml(src)
    models = d.get("models") if isinstance(d, dict) else None
    names = [m.get("arch") for m in models or [] if isinstance(m, dict)]
    return [src.parent / n for n in names if isinstance(n, str) and n.endswith(".json") and (src.parent / n).is_file()]


def copy(name: str, folder: str | Path) -> Path:
    """Write the shipped experiment ``name`` (and the spec files it names beside itself) into
    ``folder`` (created); returns the new file. An existing file is not overwritten."""
    src = shipped().get(_name(name))
    if src is None:
        raise PrunelabError(f"no shipped experiment named '{name}' (list them: prunelab experiments)")
    folder = Path(folder)
    files = [src, *_companions(src)]
    taken = [folder / f.name for f in files if (folder / f.name).exists()]
    if taken:
        raise PrunelabError(f"--copy: {taken[0]} exists; remove it or copy elsewhere")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(f, folder / f.name)
    except OSError as e:
        raise PrunelabError(f"--copy: cannot write into {folder} ({e.strerror or e})")
    return folder / src.name
