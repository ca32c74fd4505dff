"""Standard scaling of parameters and fields, fitted on the training split only.

Fields are scaled per point (per time and grid node, as a standard scaler on flattened samples
does). Before the wave reaches Omega' every training sample is zero at a point, so its standard
deviation is zero: such points (std below ``floor * max std``) get the floored scale
``floor * max std`` instead, so their scaled targets are exactly zero and a prediction error there
is measured on the same footing as elsewhere, with a tiny physical amplitude.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Scaler:
    """``scaled = (x - mean) / scale`` with mean and scale broadcast over the leading sample axis."""

    mean: torch.Tensor
    scale: torch.Tensor

    @staticmethod
    def fit(x: torch.Tensor, floor: float = 1e-3) -> Scaler:
        """Per-feature statistics over axis 0 (samples); see the module note for the floor."""
        mean = x.mean(dim=0)
        std = x.std(dim=0, unbiased=False)
        scale = torch.clamp(std, min=floor * float(std.max()) if std.numel() else 0.0)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        return Scaler(mean, scale)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.mean

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Scaler:
        return Scaler(self.mean.to(device, dtype), self.scale.to(device, dtype))

    def state(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.cpu(), "scale": self.scale.cpu()}

    @staticmethod
    def from_state(state: dict[str, torch.Tensor]) -> Scaler:
        return Scaler(state["mean"], state["scale"])


@dataclass
class Scalers:
    params: Scaler
    u: Scaler
    v: Scaler
    v_sigma: float

    @staticmethod
    def fit(params: torch.Tensor, u: torch.Tensor, v: torch.Tensor, floor: float) -> Scalers:
        return Scalers(Scaler.fit(params, floor=0.0), Scaler.fit(u, floor), Scaler.fit(v, floor), float(v.std()))

    def to(self, device) -> Scalers:
        return Scalers(self.params.to(device), self.u.to(device), self.v.to(device), self.v_sigma)

    def state(self) -> dict:
        return {
            "params": self.params.state(),
            "u": self.u.state(),
            "v": self.v.state(),
            "v_sigma": self.v_sigma,
        }

    @staticmethod
    def from_state(state: dict) -> Scalers:
        return Scalers(
            Scaler.from_state(state["params"]),
            Scaler.from_state(state["u"]),
            Scaler.from_state(state["v"]),
            float(state["v_sigma"]),
        )
