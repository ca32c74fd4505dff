"""P1 discretisation of the scalar wave equation on a box (a rectangle in 2D, a cuboid in 3D).

Builds the mesh and the Lagrange P1 space with DOLFINx and exports what the time steppers need as
plain arrays: stiffness rows (owned rows, local columns including ghosts), the lumped mass, the
Dirichlet dofs on the box's boundary and the dof coordinates. One code path for 2D and 3D. Works on any communicator: on
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
class Box:
    """The box ``[lo_0, hi_0] x .. x [lo_d-1, hi_d-1]`` (physical axes x, y[, z]) with ``cells[a]`` cells
    along axis a: squares cut into two triangles (2D) or cubes cut into six tetrahedra (3D), every
    cell of the grid cut alike."""

    lo: tuple[float, ...]
    hi: tuple[float, ...]
    cells: tuple[int, ...]

    @property
    def dim(self) -> int:
        return len(self.cells)

    @property
    def h(self) -> tuple[float, ...]:
        return tuple((b - a) / n for a, b, n in zip(self.lo, self.hi, self.cells, strict=True))

    @staticmethod
    def centred(half: tuple[float, ...], cells: tuple[int, ...]) -> Box:
        """``[-half_0, half_0] x ..``."""
        return Box(tuple(-v for v in half), tuple(half), tuple(cells))


class Discretization:
    """Mesh, P1 space and assembled operators of ``(1/c^2) u_tt - lap u = f`` on a box.

    Attributes (numpy, local to this rank):
        n_owned, n_local: owned dofs and owned + ghost dofs.
        coords: (n_local, dim) dof coordinates.
        stiffness: CSR (n_owned, n_local) rows of K = (grad u, grad w).
        lumped_mass: (n_owned,) row sums of the consistent mass matrix.
        boundary_dofs: local indices (owned and ghost) of the dofs on the box's boundary.
    """

    def __init__(self, comm: MPI.Comm, box: Box):
        if box.dim not in (2, 3) or min(box.cells) < 1:
            raise ValueError(f"mesh: expected 2 or 3 positive cell counts, got {box.cells}")
        self.comm, self.box, self.dim = comm, box, box.dim
        corners = [np.array(box.lo, dtype=float), np.array(box.hi, dtype=float)]
        # Every square (cube) of the grid is cut into the same triangles (tetrahedra), so a sub-box
        # meshed with the same spacing reproduces the parent's cells exactly (the submodel needs it).
        if box.dim == 2:
            self.mesh = mesh.create_rectangle(
                comm, corners, list(box.cells), mesh.CellType.triangle, diagonal=mesh.DiagonalType.right
            )
        else:
            self.mesh = mesh.create_box(comm, corners, list(box.cells), mesh.CellType.tetrahedron)
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
        self.coords = self.extend(self.V.tabulate_dof_coordinates()[: self.n_owned, : box.dim])

        lumped = fem.assemble_vector(fem.form(w * ufl.dx))
        lumped.scatter_reverse(la.InsertMode.add)
        self.lumped_mass = lumped.array[: self.n_owned].copy()
        self.boundary_dofs = np.flatnonzero(self._on_boundary(self.coords))

    def _on_boundary(self, xyz: np.ndarray) -> np.ndarray:
        b, tol = self.box, 1e-10 * max(self.box.h)
        near = [np.abs(xyz[:, a] - e) < tol for a in range(b.dim) for e in (b.lo[a], b.hi[a])]
        return np.logical_or.reduce(near)

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
        """(n_owned,) bool: owned dofs not on the box's boundary."""
        mask = np.ones(self.n_owned, dtype=bool)
        mask[self.boundary_dofs[self.boundary_dofs < self.n_owned]] = False
        return mask

    def block_vector(self, n_samples: int) -> la.Vector:
        """A distributed block of ``n_samples`` fields: ``array.reshape(n_local, n_samples)``."""
        return la.vector(self.index_map, bs=n_samples)

    def grid_index(self, origin: tuple[float, ...], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Owned dofs lying on the node grid ``origin + k h`` (physical axes x, y[, z]) of array
        ``shape`` (axes reversed: (H, W) or (D, H, W)).

        Returns (dofs, idx) in C order of the grid, ``idx[k]`` the array index of ``dofs[k]``.
        P1 dofs of a box mesh sit exactly on the vertices, so rounding is exact.
        """
        idx, exact = self.node_index(np.arange(self.n_owned), origin)
        inside = np.flatnonzero(exact & np.all((idx >= 0) & (idx < np.array(shape)), axis=1))
        flat = np.ravel_multi_index(tuple(idx[inside].T), shape)
        dofs = inside[np.argsort(flat, kind="stable")]
        return dofs, idx[dofs]

    def node_index(self, dofs: np.ndarray, origin: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Array-order grid indices (k, dim) of local ``dofs`` on the grid ``origin + k h`` (rounded),
        and whether each dof lies exactly on a grid node."""
        pos = [(self.coords[dofs, a] - origin[a]) / self.box.h[a] for a in range(self.dim)]
        idx = np.stack([np.rint(p).astype(np.int64) for p in reversed(pos)], axis=1)
        return idx, np.all([np.abs(p - np.rint(p)) < 1e-8 for p in pos], axis=0)

    def gather_grid(self, idx: np.ndarray, values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
        """Collective: owned grid values ``values[..., k]`` at array index ``idx[k]`` assembled into a
        ``(..., prod(shape))`` array in C order of the grid on rank 0 (``None`` elsewhere)."""
        parts = self.comm.gather((idx, values), root=0) if self.comm.size > 1 else [(idx, values)]
        if self.comm.rank != 0:
            return None
        size = int(np.prod(shape))
        if len(parts) == 1 and idx.shape[0] == size:
            return values  # serial: the dofs are already in grid order
        out = np.zeros((*values.shape[:-1], size), dtype=values.dtype)
        for idx_r, val_r in parts:
            out[..., np.ravel_multi_index(tuple(idx_r.T), shape)] = val_r
        return out
