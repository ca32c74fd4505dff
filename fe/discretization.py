"""P1 discretisation of the scalar wave equation on a rectangle.

Builds the mesh and the Lagrange P1 space with DOLFINx and exports what the time steppers need as
plain arrays: stiffness rows (owned rows, local columns including ghosts), the lumped mass, the
Dirichlet dofs on the rectangle's boundary and the dof coordinates. Works on any communicator: on
``COMM_SELF`` every rank holds the whole mesh (sample-parallel mode); on ``COMM_WORLD`` the mesh
is partitioned and ghost values are refreshed with :meth:`Discretization.scatter_forward`.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpi4py import MPI

import dolfinx_solver  # noqa: F401  (must precede dolfinx: orders MPI ahead of the bindings)
import numpy as np
import scipy.sparse as sp
import ufl
from dolfinx import fem, la, mesh


@dataclass(frozen=True)
class Rectangle:
    """The box ``[x0, x1] x [y0, y1]`` meshed with ``nx x ny`` squares, each cut into two triangles."""

    x0: float
    x1: float
    y0: float
    y1: float
    nx: int
    ny: int

    @property
    def hx(self) -> float:
        return (self.x1 - self.x0) / self.nx

    @property
    def hy(self) -> float:
        return (self.y1 - self.y0) / self.ny


class Discretization:
    """Mesh, P1 space and assembled operators of ``(1/c^2) u_tt - lap u = f`` on a rectangle.

    Attributes (numpy, local to this rank):
        n_owned, n_local: owned dofs and owned + ghost dofs.
        coords: (n_local, 2) dof coordinates.
        stiffness: CSR (n_owned, n_local) rows of K = (grad u, grad w).
        lumped_mass: (n_owned,) row sums of the consistent mass matrix.
        boundary_dofs: local indices (owned and ghost) of the dofs on the rectangle's boundary.
    """

    def __init__(self, comm: MPI.Comm, rect: Rectangle):
        if rect.nx < 1 or rect.ny < 1:
            raise ValueError(f"mesh cell counts must be positive, got nx={rect.nx}, ny={rect.ny}")
        self.comm = comm
        self.rect = rect
        # The 'right' diagonal makes every square the same pair of triangles, so a sub-rectangle
        # meshed with the same spacing reproduces the parent's cells exactly (the submodel needs it).
        self.mesh = mesh.create_rectangle(
            comm,
            [np.array([rect.x0, rect.y0]), np.array([rect.x1, rect.y1])],
            [rect.nx, rect.ny],
            mesh.CellType.triangle,
            diagonal=mesh.DiagonalType.right,
        )
        self.V = fem.functionspace(self.mesh, ("Lagrange", 1))
        u, w = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self._stiffness_form = fem.form(ufl.inner(ufl.grad(u), ufl.grad(w)) * ufl.dx)
        self._mass_form = fem.form(u * w * ufl.dx)
        self.stiffness = self._assemble_csr(self._stiffness_form)
        # Block vectors live on the matrix column map: in parallel an owned row can reach dofs that
        # are not ghosts of the function space (cells touching it only at a vertex). Owned dofs are
        # numbered alike in both maps; coordinates and marks reach the extra ghosts by a scatter.
        self.index_map = self._column_map
        self.n_owned = self.index_map.size_local
        self.n_local = self.n_owned + self.index_map.num_ghosts
        self.coords = self.extend(self.V.tabulate_dof_coordinates()[: self.n_owned, :2])

        lumped = fem.assemble_vector(fem.form(w * ufl.dx))
        lumped.scatter_reverse(la.InsertMode.add)
        self.lumped_mass = lumped.array[: self.n_owned].copy()
        self.boundary_dofs = np.flatnonzero(self._on_boundary(self.coords))

    def _on_boundary(self, xy: np.ndarray) -> np.ndarray:
        r, tol = self.rect, 1e-10 * max(self.rect.hx, self.rect.hy)
        return (
            (np.abs(xy[:, 0] - r.x0) < tol)
            | (np.abs(xy[:, 0] - r.x1) < tol)
            | (np.abs(xy[:, 1] - r.y0) < tol)
            | (np.abs(xy[:, 1] - r.y1) < tol)
        )

    def extend(self, owned: np.ndarray, index_map=None) -> np.ndarray:
        """Owned rows ``(n_owned, k)`` extended to owned + ghost rows of ``index_map`` (default: the
        block-vector map) by a forward scatter. Collective."""
        vec = la.vector(self.index_map if index_map is None else index_map, bs=owned.shape[1])
        arr = vec.array.reshape(-1, owned.shape[1])
        arr[: self.n_owned] = owned
        vec.scatter_forward()
        return arr.copy()

    def space_dofs(self, dofs: np.ndarray) -> np.ndarray:
        """Dofs given on the block-vector map, renumbered on the function space's map (ghosts
        included), as DOLFINx's own assemblers expect. Collective."""
        mark = np.zeros((self.n_owned, 1))
        mark[dofs[dofs < self.n_owned]] = 1.0
        return np.flatnonzero(self.extend(mark, self.V.dofmap.index_map)[:, 0] > 0.5).astype(np.int32)

    def _assemble_csr(self, form: fem.Form) -> sp.csr_matrix:
        """Assemble a bilinear form into the stiffness sparsity (one column map for every matrix);
        return the owned rows with local (owned + ghost) columns."""
        A = fem.create_matrix(self._stiffness_form)
        fem.assemble_matrix(A, form)
        A.scatter_reverse()
        self._column_map = A.index_map(1)
        return A.to_scipy(ghosted=False).copy()

    def mass_matrix(self) -> sp.csr_matrix:
        """Consistent mass matrix rows (owned rows, local columns)."""
        return self._assemble_csr(self._mass_form)

    @property
    def free_owned(self) -> np.ndarray:
        """(n_owned,) bool: owned dofs not on the rectangle's boundary."""
        mask = np.ones(self.n_owned, dtype=bool)
        mask[self.boundary_dofs[self.boundary_dofs < self.n_owned]] = False
        return mask

    def block_vector(self, n_samples: int) -> la.Vector:
        """A distributed block of ``n_samples`` fields: ``array.reshape(n_local, n_samples)``."""
        return la.vector(self.index_map, bs=n_samples)

    def grid_index(self, origin: tuple[float, float], rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
        """Owned dofs lying on the node grid ``origin + (j hx, i hy)``, ``0 <= i < rows, 0 <= j < cols``.

        Returns (dofs, ij) in row-major grid order, ``ij[k] = (i, j)`` the grid row (y) and column (x)
        of ``dofs[k]``.
        P1 dofs of a rectangle mesh sit exactly on the vertices, so rounding is exact.
        """
        xy = self.coords[: self.n_owned]
        fi = (xy[:, 1] - origin[1]) / self.rect.hy
        fj = (xy[:, 0] - origin[0]) / self.rect.hx
        i, j = np.rint(fi).astype(np.int64), np.rint(fj).astype(np.int64)
        on_grid = (np.abs(fi - i) < 1e-8) & (np.abs(fj - j) < 1e-8)
        inside = np.flatnonzero(on_grid & (i >= 0) & (i < rows) & (j >= 0) & (j < cols))
        dofs = inside[np.argsort(i[inside] * cols + j[inside], kind="stable")]
        return dofs, np.stack([i[dofs], j[dofs]], axis=1)

    def gather_grid(self, ij: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
        """Collective: owned grid values ``values[..., k]`` at ``ij[k]`` assembled into a
        ``(..., rows * cols)`` array in row-major grid order on rank 0 (``None`` elsewhere)."""
        parts = self.comm.gather((ij, values), root=0) if self.comm.size > 1 else [(ij, values)]
        if self.comm.rank != 0:
            return None
        rows, cols = shape
        if len(parts) == 1 and ij.shape[0] == rows * cols:
            return values  # serial: the dofs are already in grid order
        out = np.zeros((*values.shape[:-1], rows * cols), dtype=values.dtype)
        for ij_r, val_r in parts:
            out[..., ij_r[:, 0] * cols + ij_r[:, 1]] = val_r
        return out
