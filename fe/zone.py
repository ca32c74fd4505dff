"""The zone of interest Omega' as a structured grid of mesh nodes, and its boundary nodes.

Fields restricted to Omega' are stored with the physical axes reversed: ``(H, W)`` in 2D (row i is
``y[i]``, bottom to top; column j is ``x[j]``), ``(D, H, W)`` in 3D (``z``, ``y``, ``x``).

The boundary in 2D is an ordered loop, counter-clockwise from the bottom-left corner ``(-L'x, -L'y)``:
bottom row left to right, right column upwards, top row right to left, left column downwards; each node
once, so ``B = 2 (H - 1) + 2 (W - 1)`` and the loop is periodic (boundary models convolve along it).
In 3D it is the set of surface nodes in C (row-major) order, ``B = DHW - (D-2)(H-2)(W-2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fe.spec import MeshSpec, Physics


@dataclass(frozen=True)
class ZoneGrid:
    """Node coordinates of Omega' per physical axis (``nodes[0]`` is x, then y[, z])."""

    nodes: tuple[np.ndarray, ...]

    @property
    def dim(self) -> int:
        return len(self.nodes)

    @property
    def x(self) -> np.ndarray:
        return self.nodes[0]

    @property
    def y(self) -> np.ndarray:
        return self.nodes[1]

    @property
    def origin(self) -> tuple[float, ...]:
        return tuple(float(c[0]) for c in self.nodes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape of a zone field: (H, W) or (D, H, W)."""
        return tuple(c.size for c in reversed(self.nodes))

    @property
    def boundary(self) -> np.ndarray:
        return boundary_loop(*self.shape) if self.dim == 2 else surface_nodes(self.shape)

    @staticmethod
    def of(physics: Physics, mesh: MeshSpec) -> ZoneGrid:
        """Nodes of the parent mesh inside Omega' (alignment is checked by ``spec.check_dataset``)."""
        nodes = []
        for half, zhalf, n in zip(physics.domain, physics.zone, mesh.cells(physics.dim), strict=True):
            h = 2 * half / n
            nodes.append(-zhalf + h * np.arange(round(2 * zhalf / h) + 1))
        return ZoneGrid(tuple(nodes))


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


def surface_nodes(shape: tuple[int, ...]) -> np.ndarray:
    """(B, d) indices of the nodes on the surface of a grid of ``shape``, in C order."""
    if min(shape) < 2:
        raise ValueError(f"a surface needs a grid of at least 2 nodes per axis, got {shape}")
    idx = np.indices(shape).reshape(len(shape), -1).T
    on = np.any((idx == 0) | (idx == np.array(shape) - 1), axis=1)
    return idx[on].astype(np.int64)


def boundary_trace(fields: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Values of ``fields[..., *zone]`` at the boundary nodes ``index`` (B, d): ``(..., B)``."""
    return fields[(Ellipsis, *index.T)]
