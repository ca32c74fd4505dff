"""Late-epoch weight averaging: the equal-weight mean of the weights at the end of each of the last K
epochs (stochastic weight averaging with a constant or decaying lr, as in Izmailov et al. 2018).

Why: at the paper's constant lr of 1e-3 the last few Adam updates decide where a run stops, and a
run's error depends on that draw (README, "the final-epoch lottery"). The mean of the late iterates
lies nearer the centre of the region they wander in. Batch-norm running statistics are not linear in
the weights, so they are recomputed for the averaged weights on the training set
(as ``torch.optim.swa_utils.update_bn`` does).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class WeightAverage:
    """Running mean of a module's floating-point ``state_dict`` entries; integer buffers (BN's batch
    counters) keep their last value. Its state is plain tensors, so it travels in a checkpoint."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: dict[str, torch.Tensor] = {}

    def update(self, model: nn.Module) -> None:
        self.count += 1
        for key, value in model.state_dict().items():
            value = value.detach()
            if self.count == 1 or not value.is_floating_point():
                self.mean[key] = value.clone()
            else:
                self.mean[key] += (value - self.mean[key]) / self.count

    def apply(self, model: nn.Module) -> None:
        if self.count == 0:
            raise RuntimeError("no weights were averaged yet")
        model.load_state_dict(self.mean)

    def state(self) -> dict:
        return {"count": self.count, "mean": self.mean}

    @staticmethod
    def from_state(state: dict) -> WeightAverage:
        avg = WeightAverage()
        avg.count, avg.mean = int(state["count"]), dict(state["mean"])
        return avg


@torch.no_grad()
def refresh_batch_norm(model: nn.Module, forward_training_set: Callable[[], None]) -> None:
    """Recompute every BN layer's running mean and variance as the plain average over the batches
    that ``forward_training_set`` feeds through ``model`` (momentum None: a cumulative average)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = model.training
    model.train()
    forward_training_set()
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum
    model.train(was_training)
