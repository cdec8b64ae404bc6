"""prunelab: an honest laboratory for network-pruning research.

Public API::

    import prunelab
    spec = prunelab.spec("resnet56-B", "cifar10")      # a named architecture as data
    model = prunelab.build(spec, seed=0)               # random init of that spec
    print(prunelab.count(model).macs)                  # params / MACs
    model = prunelab.load("runs/<run>/model.pt")       # a trained (or pruned) model with its spec
"""
__version__ = "0.3.0"

from .arch import ArchSpec, resolve as spec  # noqa: E402
from .arch import build  # noqa: E402
from .measure import count  # noqa: E402
from .models_io import load, save  # noqa: E402

__all__ = ["ArchSpec", "__version__", "build", "count", "load", "save", "spec"]
