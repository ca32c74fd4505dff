"""The paper's 11 surrogates p -> (u, v), as two architecture families.

Each model predicts displacement u and velocity v. Without SL (shared layers) it holds two separate
networks; with SL one trunk feeds two heads, the trunk's parameters existing once. Two axes describe
a model: its *target*, the full field on Omega' ((H, W), or (D, H, W) in 3D) or the boundary loop of
Omega' (B, periodic; 2D only),
and how it treats *time*: as an input (``"input"``, the paper's "t" models: (p, t) -> one snapshot),
as output channels (``"channels"``, temporally global), or as a convolved grid axis (``"axis"``).

* :class:`FullyConnected`: FC t and FC t Boundary.
* :class:`ConvDecoder`: every convolutional model. A small MLP lifts the input to a coarse grid,
  decoder stages (linear resize, convolution, [BN], activation) double the resolution up to the
  target grid, and a last convolution gives the field. ``factors`` decomposes every convolution a
  priori (Conv2.5D: ``[[y, x], [t]]``, Conv2.5Db: ``[[y], [x], [t]]``, Conv1.5D Boundary:
  ``[[b], [t]]``); ``null`` keeps them dense (Conv2D, Conv3D, Conv2D Boundary, ...). On a 3D zone the
  same classes give the 4D models: Conv4D (dense over (t, z, y, x)), Conv3.5D (``[[z, y, x], [t]]``)
  and Conv3.5Db (``[[z], [y], [x], [t]]``), beyond what PyTorch's convolutions (at most 3D) offer.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from surrogate.activations import ELU
from surrogate.layers import Reshape, coarse_shape, conv_factory, conv_stage, mlp_block
from surrogate.targets import Target
from surrogate.targets import target as target_strategy

TIMES = ("input", "channels", "axis")


@dataclass(frozen=True)
class Geometry:
    """Sizes of the data the model predicts: NT snapshots, (H, W) zone grid ((D, H, W) when ``depth``
    is set: a 3D zone), B boundary nodes."""

    n_times: int
    height: int
    width: int
    n_boundary: int
    depth: int | None = None

    @property
    def field_axes(self) -> tuple[str, ...]:
        return ("y", "x") if self.depth is None else ("z", "y", "x")

    def size(self, axis: str) -> int:
        sizes = {"t": self.n_times, "z": self.depth, "y": self.height, "x": self.width, "b": self.n_boundary}
        if sizes.get(axis) is None:
            raise ValueError(f"axis {axis!r} is not an axis of this data (axes: t, {', '.join(self.field_axes)}, b)")
        return sizes[axis]


class TwoFieldSurrogate(nn.Module):
    """u and v networks built by :meth:`build`; the last ``n_head`` stages (``model.head_layers``)
    form the heads, the others the trunk that SL shares (section 4: the first layers)."""

    n_head = 1

    def __init__(
        self,
        *,
        name: str,
        label: str,
        target: str,
        time: str,
        geometry: Geometry,
        batch_norm: bool = False,
        shared: bool = False,
        activation: Callable[[], nn.Module] = ELU,
        head_layers: int | None = None,
    ):
        super().__init__()
        if head_layers is not None:
            if not (isinstance(head_layers, int) and head_layers >= 1):
                raise ValueError(f"model.head_layers={head_layers!r}: must be an integer >= 1 or null")
            self.n_head = head_layers
        if time not in TIMES:
            raise ValueError(f"model.time={time!r}: allowed {TIMES}")
        self.target: Target = target_strategy(target)  # raises on an unknown name
        self.name, self.label, self.time = name, label, time
        self.geometry, self.batch_norm, self.shared, self.activation = (
            geometry,
            batch_norm,
            shared,
            activation,
        )
        self.space_axes = self.target.axes(geometry)  # raises when the target does not fit the data
        self.space = tuple(geometry.size(a) for a in self.space_axes)
        nets = [self.build(), self.build()]
        split = len(nets[0]) - self.n_head
        if split < 1:
            raise ValueError(f"{name}: needs more than {self.n_head} stages to split a trunk from the heads")
        trunks = nets[:1] if shared else nets
        self.trunks = nn.ModuleList([nn.Sequential(*n[:split]) for n in trunks])
        self.heads = nn.ModuleList([nn.Sequential(*n[split:]) for n in nets])
        self.register_buffer("t_grid", torch.linspace(-1.0, 1.0, geometry.n_times))

    @property
    def time_sampled(self) -> bool:
        return self.time == "input"

    @property
    def n_inputs(self) -> int:
        """p = (omega, source position) in 2D or 3D, plus t for the time-input models."""
        return 1 + len(self.geometry.field_axes) + int(self.time_sampled)

    def build(self) -> list[nn.Module]:
        raise NotImplementedError

    def forward(self, p: torch.Tensor, t_idx: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scaled parameters (N, 1 + dim) -> scaled (u, v), each (N, K, *space): every snapshot (K = NT) or
        those of ``t_idx`` (N, K)."""
        n, nt = p.shape[0], self.geometry.n_times
        if self.time_sampled:
            idx = t_idx if t_idx is not None else torch.arange(nt, device=p.device).expand(n, nt)
            k = idx.shape[1]
            x = torch.cat([p.repeat_interleave(k, dim=0), self.t_grid[idx].reshape(-1, 1)], dim=1)
        else:
            x = p
        feats = [trunk(x) for trunk in self.trunks]
        outs = []
        for j, head in enumerate(self.heads):
            y = head(feats[0 if self.shared else j])
            y = y.reshape(n, -1, *self.space)
            if t_idx is not None and not self.time_sampled:
                y = torch.gather(y, 1, t_idx.reshape(n, -1, *[1] * len(self.space)).expand(-1, -1, *self.space))
            outs.append(y)
        return outs[0], outs[1]


class FullyConnected(TwoFieldSurrogate):
    """MLP (p, t) -> one snapshot of the target (spatially global, temporally sampled)."""

    def __init__(self, *, hidden: Sequence[int], **kw):
        if kw.get("time") != "input":
            raise ValueError(f"{kw.get('name')}: a fully connected model takes t as input (model.time='input')")
        self.hidden = list(hidden)
        super().__init__(**kw)

    def build(self) -> list[nn.Module]:
        sizes = [self.n_inputs, *self.hidden]
        blocks: list[nn.Module] = [
            mlp_block(a, b, self.batch_norm, self.activation) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        return [*blocks, nn.Linear(sizes[-1], math.prod(self.space))]


class ConvDecoder(TwoFieldSurrogate):
    """Lift MLP -> decoder stages doubling the grid -> output convolution (dense or decomposed)."""

    n_head = 2  # the last decoder stage and the output convolution

    def __init__(
        self,
        *,
        widths: Sequence[int],
        lift: int = 32,
        kernel: int = 3,
        factors: Sequence[Sequence[str]] | None = None,
        rank_ratio: float = 0.5,
        nonlinear: bool = False,
        width_unit: str = "channels",
        **kw,
    ):
        if len(widths) < 2:
            raise ValueError(f"model.widths={list(widths)}: needs at least two widths (one decoder stage)")
        if width_unit not in ("channels", "time"):
            raise ValueError(f"model.width_unit={width_unit!r}: allowed 'channels' or 'time'")
        if any(not w > 0 for w in widths):
            raise ValueError(f"model.widths={list(widths)}: every width must be > 0")
        if width_unit == "channels" and any(float(w) != int(w) for w in widths):
            raise ValueError(f"model.widths={list(widths)}: channel counts must be integers (width_unit=channels)")
        if width_unit == "time":  # the NT snapshots travel as channels through every stage
            nt = kw["geometry"].n_times
            widths = [max(1, round(w * nt)) for w in widths]
        self.width_unit = width_unit
        self.widths, self.lift, self.kernel = [int(w) for w in widths], lift, kernel
        if factors is not None and not (isinstance(rank_ratio, int | float) and rank_ratio > 0):
            raise ValueError(f"model.rank_ratio={rank_ratio!r}: must be > 0 (rank r = round(rank_ratio * C_out))")
        self.factors, self.rank_ratio, self.nonlinear = factors, rank_ratio, nonlinear
        super().__init__(**kw)

    @property
    def grid_axes(self) -> tuple[str, ...]:
        return (("t",) if self.time == "axis" else ()) + self.space_axes

    def build(self) -> list[nn.Module]:
        axes = self.grid_axes
        periodic = [a == "b" for a in axes]
        shapes = coarse_shape([self.geometry.size(a) for a in axes], periodic, len(self.widths) - 1)
        groups = None
        if self.factors is not None:
            groups = [[axes.index(a) for a in g] for g in self.factors]
            if sorted(i for g in groups for i in g) != list(range(len(axes))):
                raise ValueError(f"{self.name}: model.factors={self.factors} must partition the axes {axes}")
        conv = conv_factory(
            [self.kernel] * len(axes), groups, self.rank_ratio, periodic, self.nonlinear, self.activation
        )
        c0 = self.widths[0]
        lift = nn.Sequential(
            mlp_block(self.n_inputs, self.lift, self.batch_norm, self.activation),
            mlp_block(self.lift, c0 * math.prod(shapes[0]), self.batch_norm, self.activation),
            Reshape(c0, *shapes[0]),
        )
        stages = [
            conv_stage(
                shapes[i],
                shapes[i + 1],
                self.widths[i],
                self.widths[i + 1],
                conv,
                periodic,
                self.batch_norm,
                self.activation,
            )
            for i in range(len(self.widths) - 1)
        ]
        out_channels = self.geometry.n_times if self.time == "channels" else 1
        head = conv_stage(shapes[-1], shapes[-1], self.widths[-1], out_channels, conv, periodic, False, None)
        return [lift, *stages, head]


def n_parameters(model: nn.Module) -> int:
    """Trainable parameters (a shared trunk counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
