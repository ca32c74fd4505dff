"""The zone of interest Omega' as a structured grid of mesh nodes, and the ordered loop of its boundary.

Fields restricted to Omega' are stored as ``(H, W)`` arrays: row i is ``y[i]`` (bottom to top), column j
is ``x[j]`` (left to right). The boundary loop runs counter-clockwise from the bottom-left corner
``(-L'x, -L'y)``: bottom row left to right, right column upwards, top row right to left, left column
downwards; each node once, so ``B = 2 (H - 1) + 2 (W - 1)`` and the loop is periodic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fe.spec import MeshSpec, Physics


@dataclass(frozen=True)
class ZoneGrid:
    """Node coordinates of Omega' (``x`` has W entries, ``y`` has H) and its boundary loop."""

    x: np.ndarray
    y: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.y.size, self.x.size

    @property
    def boundary(self) -> np.ndarray:
        return boundary_loop(*self.shape)

    @staticmethod
    def of(physics: Physics, mesh: MeshSpec) -> ZoneGrid:
        """Nodes of the parent mesh inside Omega' (alignment is checked by ``spec.check_dataset``)."""
        (lx, ly), (zx, zy) = physics.domain, physics.zone
        hx, hy = 2 * lx / mesh.nx, 2 * ly / mesh.ny
        w, h = round(2 * zx / hx) + 1, round(2 * zy / hy) + 1
        return ZoneGrid(-zx + hx * np.arange(w), -zy + hy * np.arange(h))


def boundary_loop(rows: int, cols: int) -> np.ndarray:
    """(B, 2) grid indices (row, col) of the boundary of a ``rows x cols`` grid, counter-clockwise
    from (0, 0)."""
    if rows < 2 or cols < 2:
        raise ValueError(f"a boundary loop needs a grid of at least 2 x 2 nodes, got {rows} x {cols}")
    bottom = [(0, j) for j in range(cols - 1)]
    right = [(i, cols - 1) for i in range(rows - 1)]
    top = [(rows - 1, j) for j in range(cols - 1, 0, -1)]
    left = [(i, 0) for i in range(rows - 1, 0, -1)]
    return np.array(bottom + right + top + left, dtype=np.int64)


def boundary_trace(fields: np.ndarray, loop: np.ndarray) -> np.ndarray:
    """Values of ``fields[..., H, W]`` along the loop: ``(..., B)``."""
    return fields[..., loop[:, 0], loop[:, 1]]
