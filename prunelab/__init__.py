"""prunelab: an honest laboratory for network-pruning research.

Public API::

    import prunelab
    spec = prunelab.spec("resnet56-B", "cifar10")      # a named architecture as data
    model = prunelab.build(spec, seed=0)               # random init of that spec
    print(prunelab.count(model).macs)                  # params / MACs
    small = prunelab.prune(model, "l1-norm", target=0.5).model   # any nn.Module: example_input=x
    rows = prunelab.run("small/l1-resnet20-fashion")   # an experiment: a dict, a file or a shipped name
    model = prunelab.load("runs/<run>/model.pt")       # a trained (or pruned) model with its spec
"""
__version__ = "0.3.0"

# the names below load on first use (PEP 562), so that `prunelab --help` and `--version` import no torch
_LAZY = {"ArchSpec": ("arch", "ArchSpec"), "spec": ("arch", "resolve"), "build": ("arch", "build"),
         "count": ("api", "count"), "prune": ("prune", None), "run": ("api", "run"), "judge": ("api", "judge"),
         "experiment": ("api", "experiment"), "load": ("models_io", "load"), "save": ("models_io", "save")}
__all__ = ["ArchSpec", "__version__", "build", "count", "experiment", "judge", "load", "prune", "run", "save", "spec"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(f"{__name__}.{module}")  # prune: the package, callable (prune/__init__.py)
        value = value if attr is None else getattr(value, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prunelab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
