"""What a surrogate predicts: the full field on Omega' or the trace on its boundary loop.

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


@dataclass(frozen=True)
class Target:
    """Base: ``name`` as in the configs, ``space_axes`` the predicted grid axes (``y, x`` or ``b``)."""

    name: str
    space_axes: tuple[str, ...]
    full_field: bool

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
    space_axes: tuple[str, ...] = ("y", "x")
    full_field: bool = True

    def arrays(self, ds: Split) -> tuple[np.ndarray, np.ndarray]:
        return ds.u, ds.v

    def trace(self, pred: np.ndarray, loop: np.ndarray) -> np.ndarray:
        return pred[..., loop[:, 0], loop[:, 1]]


@dataclass(frozen=True)
class BoundaryTarget(Target):
    name: str = "boundary"
    space_axes: tuple[str, ...] = ("b",)
    full_field: bool = False

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
