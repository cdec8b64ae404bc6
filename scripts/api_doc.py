"""Write docs/api.md from the docstrings and signatures of prunelab's public Python API.

    python scripts/api_doc.py            # (re)write docs/api.md
    python scripts/api_doc.py --check    # exit 1 if docs/api.md is not what the code says (CI: tests)
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (section, object path): what a pip user imports
API = [
    ("Pruning and counting any module", ["prunelab.api.prune", "prunelab.api.Pruned", "prunelab.measure.count"]),
    ("Experiments", ["prunelab.api.experiment", "prunelab.api.run", "prunelab.api.judge",
                     "prunelab.shipped.shipped", "prunelab.shipped.copy"]),
    ("Architectures as data", ["prunelab.arch.resolve", "prunelab.arch.build", "prunelab.arch.ArchSpec",
                               "prunelab.models_io.save", "prunelab.models_io.load"]),
    ("Methods and families", ["prunelab.methods.get", "prunelab.methods.base.Method", "prunelab.methods.PruneData",
                              "prunelab.arch.family.Family", "prunelab.arch.families.register"]),
    ("Training and tracking", ["prunelab.train.train", "prunelab.tracking.configure",
                               "prunelab.data.iterable.BatchesData"]),
]


def _obj(path: str):
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _signature(obj) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def render() -> str:
    out = ["# The Python API", "",
           "Generated from the docstrings by `python scripts/api_doc.py` (a test checks that this file is current).",
           "`import prunelab` gives `prunelab.prune`, `count`, `run`, `judge`, `experiment`, `spec` (= `arch.resolve`),",
           "`build`, `load` and `save` directly.", ""]
    for section, paths in API:
        out += [f"## {section}", ""]
        for path in paths:
            obj = _obj(path)
            kind = "class" if inspect.isclass(obj) else "def"
            out += [f"### `{path}`", "", "```python", f"{kind} {obj.__name__}{_signature(obj)}", "```", ""]
            doc = inspect.getdoc(obj) or "(no docstring)"
            out += [doc, ""]
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    target = ROOT / "docs" / "api.md"
    text = render()
    if "--check" in sys.argv:
        if not target.is_file() or target.read_text() != text:
            print("docs/api.md is not current: run python scripts/api_doc.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
