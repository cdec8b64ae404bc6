"""Training recipes: optimiser, schedule, precision. Frozen, hashable, validated."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import PrunelabError


MAX_EPOCHS = 100_000


@dataclass(frozen=True)
class Recipe:
    epochs: int  # 0: evaluate the initial model only (inherited or imported weights; see RunSettings.check)
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    schedule: str = "step"  # step | cosine | constant
    milestones: tuple = (0.5, 0.75)  # step schedule: fractions of the run (< 1) or epoch numbers
    gamma: float = 0.1
    warmup_epochs: int = 0  # epochs at warmup_lr before the schedule starts
    warmup_lr: float = 0.0
    precision: str = "fp32"  # fp32 | bf16 | auto (bf16 where the hardware supports it natively)
    channels_last: bool = False
    compile: bool = False  # torch.compile the model (measured slower on the 2-core CPU: off by default)
    eval_every: int = 0  # evaluate on the test set every N epochs (0: only at the end)
    sync_bn: bool = False  # torchrun (several processes): BatchNorm statistics over the global batch (CUDA only)
    # a mid-epoch checkpoint every this many minutes (0: per-epoch checkpoints only). It changes no
    # result (a resumed run equals an uninterrupted one), so it is not part of the run's identity.
    checkpoint_minutes: float = field(default=0.0, metadata={"identity": False})

    def check(self) -> None:
        def positive(name, integer=False, zero_ok=False):
            v = getattr(self, name)
            ok = isinstance(v, int) if integer else isinstance(v, (int, float))
            if isinstance(v, bool) or not ok or not math.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
                raise PrunelabError(f"recipe: '{name}' must be a {'whole' if integer else ''} number "
                                    f"{'>= 0' if zero_ok else '> 0'}, got {v!r}".replace("  ", " "))

        positive("epochs", integer=True, zero_ok=True)
        if self.epochs > MAX_EPOCHS:
            raise PrunelabError(f"recipe: {self.epochs} epochs is more than {MAX_EPOCHS:,}; is it a typo?")
        positive("batch_size", integer=True)
        positive("lr")
        positive("momentum", zero_ok=True)
        positive("weight_decay", zero_ok=True)
        positive("gamma")
        positive("warmup_epochs", integer=True, zero_ok=True)
        positive("warmup_lr", zero_ok=True)
        positive("eval_every", integer=True, zero_ok=True)
        positive("checkpoint_minutes", zero_ok=True)
        if self.momentum >= 1:
            raise PrunelabError(f"recipe: 'momentum' must be below 1, got {self.momentum}")
        if self.schedule not in ("step", "cosine", "constant"):
            raise PrunelabError(f"recipe: 'schedule' must be step, cosine or constant, got {self.schedule!r}")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise PrunelabError(f"recipe: 'precision' must be fp32, bf16 or auto, got {self.precision!r}")
        for m in self.milestones:
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not math.isfinite(m) or m <= 0:
                raise PrunelabError(f"recipe: milestone {m!r} must be a positive fraction or epoch")
            if m >= 1 and m != int(m):
                raise PrunelabError(f"recipe: milestone {m!r} must be a fraction below 1 or a whole epoch")
        if self.epochs and self.warmup_epochs >= self.epochs and self.warmup_lr == 0:
            raise PrunelabError(f"recipe: every one of the {self.epochs} epochs would train at learning rate 0 "
                                f"(warmup_epochs {self.warmup_epochs} at warmup_lr 0)")

    def questionable(self) -> list[str]:
        """Valid settings that are probably a mistake (the CLI prints each as a warning)."""
        out = []
        if self.epochs == 0:  # an evaluation: no schedule applies
            return out
        ms = [m if m >= 1 else _floor(m * self.epochs) for m in self.milestones]
        if self.schedule == "step" and list(self.milestones) != sorted(self.milestones, key=lambda m: m if m >= 1
                                                                         else m * self.epochs):
            out.append(f"recipe: milestones {list(self.milestones)} are not in increasing order")
        if self.schedule == "step" and any(m >= self.epochs for m in ms):
            out.append(f"recipe: a milestone of {list(self.milestones)} lies at or past the run's end "
                       f"({self.epochs} epochs): it never applies")
        if self.gamma > 1:
            out.append(f"recipe: gamma {self.gamma:g} > 1 raises the learning rate at every milestone")
        if self.eval_every > self.epochs:
            out.append(f"recipe: eval_every {self.eval_every} is longer than the run ({self.epochs} epochs)")
        return out

    def milestone_epochs(self) -> list[int]:
        """Epochs at which the step schedule multiplies the lr by gamma. A fraction f of the run is
        epoch int(f x epochs), as the reference computes it (network-slimming/main_B.py, l1-norm-
        pruning/main_B.py, weight-level/cifar_B.py: ``int(args.epochs * 0.5)``, ``int(args.epochs *
        0.75)``; 243 epochs: 121 and 182)."""
        return sorted(_floor(m * self.epochs) if m < 1 else int(m) for m in self.milestones)

    def lr_at(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return self.warmup_lr
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            span = max(1, self.epochs - self.warmup_epochs)
            t = (epoch - self.warmup_epochs) / span
            return 0.5 * self.lr * (1 + math.cos(math.pi * t))
        return self.lr * self.gamma ** sum(epoch >= m for m in self.milestone_epochs())

    def scaled(self, epochs: int) -> "Recipe":
        """The same recipe over another number of epochs (Scratch-B's budget). Fractions stay
        fractions; whole-epoch milestones stretch as the reference stretches them: equally spaced
        steps (30, 60, 90) keep equal stages of int(30 x epochs / self.epochs) epochs each — the SSS
        README's "each learning rate stage is expanded with a uniform ratio" (ResNet-32: 145 epochs,
        steps 43, 86, 129) and ImageNet main_B.py's ``step_size = int(args.epochs / 3)`` — and any
        other step m becomes int(m x epochs / self.epochs). (Those main_B.py decay every step_size
        epochs without end, so where 3 x step_size < epochs they decay a fourth time in the last
        epochs, e.g. at 132 of 134; prunelab keeps the schedule's number of steps.)"""
        if self.epochs == 0:  # (an evaluation has no schedule to scale)
            return _replace(self, epochs=epochs)
        whole = [m for m in self.milestones if m >= 1]
        uniform = len(whole) > 1 and all(int(m) == (k + 1) * int(whole[0]) for k, m in enumerate(whole))
        stage = _floor(whole[0] * epochs / self.epochs) if whole else 0
        ms, k = [], 0
        for m in self.milestones:
            if m < 1:
                ms.append(m)
            else:
                k += 1
                ms.append(k * stage if uniform else _floor(m * epochs / self.epochs))
        return _replace(self, epochs=epochs, milestones=tuple(ms))


def _floor(x: float) -> int:
    """int() of a product of a decimal fraction, robust to binary rounding (0.3 x 10 is
    3.0000000000000004 and 0.7 x 10 is 7.000000000000001 in floats; 0.29 x 100 is 28.999999999999996)."""
    return math.floor(x + 1e-9)


def _replace(r: Recipe, **kw) -> Recipe:
    from dataclasses import replace

    return replace(r, **kw)
