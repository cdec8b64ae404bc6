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

import sys as _sys  # noqa: E402 (both built in: the package still imports no torch)
import types as _types  # noqa: E402

# the names below load on first use (PEP 562), so that `prunelab --help` and `--version` import no torch
_LAZY = {"ArchSpec": ("arch", "ArchSpec"), "spec": ("arch", "resolve"), "build": ("arch", "build"),
         "count": ("measure", "count"), "run": ("api", "run"), "judge": ("api", "judge"),
         "experiment": ("api", "experiment"), "load": ("models_io", "load"), "save": ("models_io", "save")}
__all__ = ["ArchSpec", "__version__", "build", "count", "experiment", "judge", "load", "prune", "run", "save", "spec"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prunelab' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Prune:
    """``prunelab.prune``: called, the Python API's ``prunelab.api.prune`` (``prunelab.prune(model,
    method="l1-norm", target=0.5, example_input=x)``); otherwise the pruning-mechanics package
    ``prunelab/prune/`` (``prunelab.prune.criteria``, ...), whose name it shares."""

    def __call__(self, *args, **kwargs):
        import importlib

        return importlib.import_module(f"{__name__}.api").prune(*args, **kwargs)

    def __getattr__(self, name):
        import importlib

        return getattr(importlib.import_module(f"{__name__}.prune"), name)

    def __repr__(self):
        return "<prunelab.prune: the API function and the package prunelab/prune/>"

    def __dir__(self):
        import importlib

        return sorted(set(dir(importlib.import_module(f"{__name__}.prune"))) | {"__call__"})

    @property
    def __signature__(self):
        import importlib
        import inspect

        return inspect.signature(importlib.import_module(f"{__name__}.api").prune)

    @property
    def __doc__(self):
        import importlib

        return importlib.import_module(f"{__name__}.api").prune.__doc__


class _Package(_types.ModuleType):
    def __setattr__(self, name, value):
        if name == "prune" and isinstance(value, _types.ModuleType):  # importing the subpackage keeps the
            return  # entry (anything else set here, e.g. by a test's monkeypatch, is set)
        super().__setattr__(name, value)


prune = _Prune()
_sys.modules[__name__].__class__ = _Package
