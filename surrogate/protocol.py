"""The training protocol (conf/train/*.yaml) as a validated value: epochs, batches, the lr schedule.

Every bad value is refused with one line naming the ``train.`` key and what is allowed; the lr of an
epoch is a pure function of the spec, so a resumed run replays the schedule exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from surrogate.losses import LOSS_WEIGHTS

SCHEDULES = ("geometric", "cosine")


@dataclass(frozen=True)
class TrainSpec:
    """The training protocol (conf/train/*.yaml)."""

    epochs: int = 1000
    lr: float = 1e-3
    lr_final: float = 1e-3
    batch_size: int = 10
    times_per_sample: int | None = None
    checkpoint_every: int = 50
    scaler_floor: float = 1e-3
    average_last: int = 0  # the model returned is the mean of the weights after the last K epochs (0: off)
    warmup: float = 0.0  # linear warm-up of the lr over the first round(warmup * epochs) epochs (0: off, the paper)
    schedule: str = "geometric"  # decay from lr to lr_final after the warm-up: geometric (the paper) or cosine
    loss_weights: str = "uniform"  # uniform: the MSE of the scaled fields (the paper); eps: weighted as eps (losses)
    clip_grad: float | None = None  # each step's gradient rescaled to this global 2-norm at most (None: off, the paper)
    lbfgs_iters: int = 0  # full-batch L-BFGS iterations after the Adam epochs (0: off, the paper; surrogate.lbfgs)

    def __post_init__(self):
        def integer(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def number(v) -> bool:
            return isinstance(v, int | float) and not isinstance(v, bool)

        for key in ("epochs", "batch_size", "checkpoint_every"):
            if not (integer(getattr(self, key)) and getattr(self, key) >= 1):
                raise ValueError(f"train.{key}={getattr(self, key)!r}: must be an integer >= 1")
        for key in ("lr", "lr_final"):
            if not (number(getattr(self, key)) and getattr(self, key) > 0):
                raise ValueError(f"train.{key}={getattr(self, key)!r}: must be a number > 0")
        if not (number(self.scaler_floor) and self.scaler_floor >= 0):
            raise ValueError(f"train.scaler_floor={self.scaler_floor!r}: must be a number >= 0")
        t = self.times_per_sample
        if t is not None and not (integer(t) and t >= 1):
            raise ValueError(f"train.times_per_sample={t!r}: must be an integer >= 1 or null (all)")
        k = self.average_last
        if not (integer(k) and 0 <= k <= self.epochs):
            raise ValueError(f"train.average_last={k!r}: must be an integer in [0, train.epochs={self.epochs}]")
        if not (integer(self.lbfgs_iters) and self.lbfgs_iters >= 0):
            raise ValueError(f"train.lbfgs_iters={self.lbfgs_iters!r}: must be an integer >= 0 (0: off)")
        if self.lbfgs_iters and k:
            raise ValueError(
                f"train.lbfgs_iters={self.lbfgs_iters} with train.average_last={k}: the L-BFGS phase refines one "
                "model, not an average of iterates; set one of them to 0"
            )
        if not (number(self.warmup) and 0 <= self.warmup < 1):
            raise ValueError(f"train.warmup={self.warmup!r}: must be a fraction of the epochs in [0, 1)")
        if self.clip_grad is not None and not (number(self.clip_grad) and self.clip_grad > 0):
            raise ValueError(f"train.clip_grad={self.clip_grad!r}: must be a number > 0 or null (off)")
        if self.loss_weights not in LOSS_WEIGHTS:
            raise ValueError(f"train.loss_weights={self.loss_weights!r}: allowed: {', '.join(LOSS_WEIGHTS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"train.schedule={self.schedule!r}: allowed: {', '.join(SCHEDULES)}")

    @property
    def warmup_epochs(self) -> int:
        return round(self.warmup * self.epochs)

    def lr_at(self, epoch: int) -> float:
        """The lr of ``epoch``: a linear warm-up to lr over K = round(warmup * epochs) epochs (lr/K, 2 lr/K,
        .., lr), then a geometric or cosine decay from lr to lr_final at the last epoch; constant if they agree."""
        w = self.warmup_epochs
        if epoch < w:
            return self.lr * (epoch + 1) / w
        span = self.epochs - 1 - max(w - 1, 0)  # the decay runs from the warm-up's last epoch to the last
        s = (epoch - max(w - 1, 0)) / span if span > 0 else 0.0
        if self.schedule == "cosine":
            return self.lr_final + (self.lr - self.lr_final) * (1 + math.cos(math.pi * s)) / 2
        return self.lr * (self.lr_final / self.lr) ** s
