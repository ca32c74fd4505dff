"""The paper's regularisations (section 5) as one object each: BN, E (Euler), SL (shared layers).

Built from ``conf/reg/*.yaml`` by its ``_target_``. The object owns the one check of what may be
combined (the paper excludes BN & E), the label its table column carries, and the loss term E adds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from surrogate.losses import euler_residual


@dataclass(frozen=True)
class Regularization:
    """``batch_norm``: BN after every hidden layer; ``shared``: SL, one trunk for u and v;
    ``euler``: weight of the Euler residual (0: off); ``order``: the column in the paper's tables."""

    name: str
    label: str
    batch_norm: bool = False
    shared: bool = False
    euler: float = 0.0
    order: int = 0

    def __post_init__(self):
        for key in ("batch_norm", "shared"):
            if not isinstance(getattr(self, key), bool):
                raise ValueError(f"reg.{key}={getattr(self, key)!r}: must be true or false")
        if not isinstance(self.euler, int | float) or isinstance(self.euler, bool) or self.euler < 0:
            raise ValueError(f"reg.euler={self.euler!r}: must be a number >= 0 (0: no Euler term)")
        if self.batch_norm and self.euler > 0:
            raise ValueError(
                f"reg={self.name}: batch_norm with euler > 0 is not allowed (the paper excludes "
                "BN & E: batch normalisation makes the Euler finite differences wrong)"
            )
        object.__setattr__(self, "euler", float(self.euler))

    @property
    def uses_euler(self) -> bool:
        return self.euler > 0

    def loss_term(
        self,
        u_now: torch.Tensor,
        u_next: torch.Tensor,
        v_now: torch.Tensor,
        v_next: torch.Tensor,
        dt: float,
        sigma: float,
    ) -> torch.Tensor:
        """E's contribution: euler x the trapezoidal residual / sigma_v^2 (physical units)."""
        return self.euler * euler_residual(u_now, u_next, v_now, v_next, dt, sigma)
