"""Training losses: MSE on the scaled fields, plus the optional Euler time regularisation.

The Euler residual (the paper's eq. 21) is computed in physical units, after undoing the scaling, on
consecutive snapshots t and t + dt with the trapezoidal rule:

    r = (u(t + dt) - u(t)) / dt - (v(t) + v(t + dt)) / 2

The trapezoidal pairing is second order in dt, so the exact data nearly satisfy it (residual ~1e-4
of sigma_v^2 on the presets, reported in every metrics.json); the paper's forward pairing
``(u(t + dt) - u(t)) / dt - v(t)`` is first order and leaves ~3% on the exact data, so it pulls a
converged model away from the truth. It enters the loss as ``lambda * mean(r^2) / sigma_v^2``,
where sigma_v is the global standard deviation of the training velocities, so that lambda is
dimensionless and comparable to the scaled MSE terms.
"""

from __future__ import annotations

import torch

from surrogate.metrics import ErrorSpec
from surrogate.scaling import Scaler

LOSS_WEIGHTS = ("uniform", "eps")
EPS_FLOOR = ErrorSpec.active_threshold  # eps's default active threshold (conf/metrics/default.yaml)


def mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error of scaled fields; ``weight`` (broadcast to them): a weighted mean."""
    if weight is None:
        return torch.mean((pred - target) ** 2)
    return torch.mean(weight * (pred - target) ** 2)


def eps_weights(ref: torch.Tensor, scale: torch.Tensor, floor: float = EPS_FLOOR) -> torch.Tensor:
    """Per-point weights (N, NT, *space) that turn the MSE of scaled fields into the mean square of
    eps's summand, |M - U| / max_x|U(p)(t)|: a point's scaled error times its scale is its physical
    error, divided by its snapshot's peak. The peak is floored at ``floor`` max_(t,x)|U(p)|, as eps
    leaves out the snapshots below it (the wave has not arrived): they still count, at the floor's weight.
    Normalised to mean 1, so that the loss keeps the plain MSE's magnitude against the Euler term."""
    axes = tuple(range(2, ref.dim()))
    peak_t = ref.abs().amax(dim=axes)
    peak = peak_t.amax(dim=1, keepdim=True)
    a = torch.maximum(peak_t, floor * peak)
    a = torch.where(a > 0, a, torch.ones_like(a))  # a sample that is zero throughout
    w = (scale.unsqueeze(0) / a.reshape(*a.shape, *[1] * len(axes))) ** 2
    return w / w.mean()


def physical(scaled: torch.Tensor, scaler: Scaler, t_idx: torch.Tensor | None) -> torch.Tensor:
    """Undo the scaling of (N, K, *space) predictions at times ``t_idx`` (N, K), or all times."""
    if t_idx is None:
        return scaler.inverse(scaled)
    return scaled * scaler.scale[t_idx] + scaler.mean[t_idx]


def euler_residual(
    u_now: torch.Tensor,
    u_next: torch.Tensor,
    v_now: torch.Tensor,
    v_next: torch.Tensor,
    dt: float,
    v_sigma: float,
) -> torch.Tensor:
    """``mean(((u_next - u_now)/dt - (v_now + v_next)/2)^2) / v_sigma^2`` on physical fields."""
    r = (u_next - u_now) / dt - 0.5 * (v_now + v_next)
    return torch.mean(r * r) / (v_sigma * v_sigma)


def euler_residual_series(u, v, dt: float, v_sigma: float) -> float:
    """The residual of whole series (N, NT, *space) (arrays or tensors), over every snapshot pair."""
    u, v = torch.as_tensor(u, dtype=torch.float64), torch.as_tensor(v, dtype=torch.float64)
    return float(euler_residual(u[:, :-1], u[:, 1:], v[:, :-1], v[:, 1:], dt, v_sigma))
