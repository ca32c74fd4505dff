"""Training losses: MSE on the scaled fields, plus the optional Euler time regularisation.

The Euler residual (the paper's eq. 21 with a forward difference) is computed in physical units,
after undoing the scaling: ``r = (u(t + dt) - u(t)) / dt - v(t)``. It enters the loss as
``lambda * mean(r^2) / sigma_v^2``, where sigma_v is the global standard deviation of the training
velocities, so that lambda is dimensionless and comparable to the scaled MSE terms.
"""

from __future__ import annotations

import torch

from surrogate.scaling import Scaler


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred - target) ** 2)


def physical(scaled: torch.Tensor, scaler: Scaler, t_idx: torch.Tensor | None) -> torch.Tensor:
    """Undo the scaling of (N, K, *space) predictions at times ``t_idx`` (N, K), or all times."""
    if t_idx is None:
        return scaler.inverse(scaled)
    return scaled * scaler.scale[t_idx] + scaler.mean[t_idx]


def euler_residual(
    u_now: torch.Tensor, u_next: torch.Tensor, v_now: torch.Tensor, dt: float, v_sigma: float
) -> torch.Tensor:
    """``mean(((u_next - u_now)/dt - v_now)^2) / v_sigma^2`` on physical fields."""
    return torch.mean(((u_next - u_now) / dt - v_now) ** 2) / (v_sigma * v_sigma)
