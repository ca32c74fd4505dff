"""Adam with an optional per-layer learning rate scaled by fan-in.

Adam moves every weight by about lr per step whatever the size of its gradient, so the change of a unit's
input per step grows with the number of inputs it sums (its fan-in). A model with wide dense kernels
(Conv3D: 3x3x3 x 32 = 864 inputs per output) therefore diverges at a peak lr its decomposed children
(largest fan-in 288) train well at (README, "The quick protocol"). With ``lr_fan_in`` = F0, a weight of
fan-in F > F0 steps at lr F0 / F, the others at lr: one protocol lr then serves every model, and models
whose fan-ins are all <= F0 train exactly as without it.
"""

from __future__ import annotations

import torch
from torch import nn

FUSED_ADAM = ("cpu", "cuda")  # devices with a fused Adam kernel in torch >= 2.4


def fan_in(p: torch.Tensor) -> int:
    """Inputs summed per output by a weight (out, in, *kernel): in x prod(kernel); 1 for biases and scales."""
    return p[0].numel() if p.ndim >= 2 else 1


def lr_scales(model: nn.Module, lr_fan_in: int | None) -> list[tuple[float, list[nn.Parameter]]]:
    """The model's parameters grouped by lr multiplier min(1, lr_fan_in / fan-in), largest first, each
    group in the model's parameter order; one group of multiplier 1 when ``lr_fan_in`` is None."""
    groups: dict[float, list[nn.Parameter]] = {}
    for p in model.parameters():
        scale = 1.0 if lr_fan_in is None else min(1.0, lr_fan_in / fan_in(p))
        groups.setdefault(scale, []).append(p)
    return sorted(groups.items(), key=lambda kv: -kv[0])


def adam(model: nn.Module, lr: float, lr_fan_in: int | None, device: torch.device) -> torch.optim.Adam:
    """Adam over ``model`` with one param group per lr multiplier (its ``lr_scale``; ``set_lr`` applies it).
    Fused (one kernel for every tensor: 3-5x faster than the per-parameter loop) where the device has it."""
    groups = [{"params": ps, "lr": lr * s, "lr_scale": s} for s, ps in lr_scales(model, lr_fan_in)]
    return torch.optim.Adam(groups, lr=lr, fused=device.type in FUSED_ADAM)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The protocol's lr for this epoch, times each group's multiplier (1 in checkpoints made before it)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
