"""What a surrogate predicts: the full field on Omega' (2D or 3D) or the trace on its boundary loop (2D).

One strategy object per target, looked up once by name (``model.target`` in conf/model/*.yaml); every
stage asks it what to learn from a split, which grid axes it predicts, and what boundary trace a
prediction hands to the FE submodel. Plain numpy: no torch, no DOLFINx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


class Split(Protocol):
    """The fields of a dataset split (``fe.dataset.Dataset`` is one)."""

    u: np.ndarray
    v: np.ndarray
    boundary_index: np.ndarray
    boundary_u: np.ndarray  # (N, NT, B): the fields on the loop
    boundary_v: np.ndarray


class Grid(Protocol):
    """The data's axes (``surrogate.models.Geometry`` is one)."""

    field_axes: tuple[str, ...]


@dataclass(frozen=True)
class Target:
    """Base: ``name`` as in the configs; :meth:`axes` gives the predicted grid axes on given data."""

    name: str
    full_field: bool

    def axes(self, grid: Grid) -> tuple[str, ...]:
        """The predicted grid axes on data of ``grid``'s dimension (``y, x``, ``z, y, x`` or ``b``)."""
        raise NotImplementedError

    def arrays(self, ds: Split) -> tuple[np.ndarray, np.ndarray]:
        """What a model of this target learns from a split: (u, v) of shape (N, NT, *space)."""
        raise NotImplementedError

    def trace(self, pred: np.ndarray, loop: np.ndarray) -> np.ndarray:
        """The boundary trace (..., B) of a prediction of this target."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class FieldTarget(Target):
    name: str = "field"
    full_field: bool = True

    def axes(self, grid: Grid) -> tuple[str, ...]:
        return tuple(grid.field_axes)

    def arrays(self, ds: Split) -> tuple[np.ndarray, np.ndarray]:
        return ds.u, ds.v

    def trace(self, pred: np.ndarray, loop: np.ndarray) -> np.ndarray:
        return pred[(Ellipsis, *loop.T)]  # the 2D loop or the 3D surface nodes


@dataclass(frozen=True)
class BoundaryTarget(Target):
    name: str = "boundary"
    full_field: bool = False

    def axes(self, grid: Grid) -> tuple[str, ...]:
        if len(grid.field_axes) != 2:
            raise ValueError(
                "model.target='boundary': the boundary models convolve along the periodic boundary loop "
                "of a 2D zone; a 3D zone's surface has no such loop (use a full-field model: conv4d, "
                "conv3_5d, conv3_5db, fc_t)"
            )
        return ("b",)

    def arrays(self, ds: Split) -> tuple[np.ndarray, np.ndarray]:
        return ds.boundary_u, ds.boundary_v

    def trace(self, pred: np.ndarray, loop: np.ndarray) -> np.ndarray:
        return pred  # a boundary model predicts the trace itself


TARGETS: dict[str, Target] = {t.name: t for t in (FieldTarget(), BoundaryTarget())}


def target(name: str | Target) -> Target:
    """The strategy named ``name`` (a ``Target`` passes through)."""
    if isinstance(name, Target):
        return name
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"model.target={name!r}: allowed {sorted(TARGETS)}") from None
