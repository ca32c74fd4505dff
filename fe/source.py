"""The point source ``delta(x_s)`` at an arbitrary point (2D or 3D), assembled from the P1 basis.

``<delta_s, w_i> = phi_i(x_s)``: the load vector of a Dirac at a point is the value of every basis
function there. The point need not be a vertex: we find a cell containing it (bounding-box tree +
exact collision), pull it back to the reference cell and tabulate the basis. Under MPI exactly
one rank (the lowest that found a cell, ghosts included) contributes, and a reverse scatter moves the
weights to the owners of the dofs, so the result is identical however the mesh is partitioned.
"""

from __future__ import annotations

from mpi4py import MPI

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
from dolfinx import geometry, la

from fe.discretization import Discretization
from fe.timestepping import PointSources


def point_weights(disc: Discretization, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Collective. The matrix ``B[i, k] = phi_i(points[k])`` on owned rows, as COO (rows, cols, vals).

    Raises ValueError naming the points outside the mesh.
    """
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    n_pts = points.shape[0]
    msh, comm = disc.mesh, disc.comm
    xyz = np.zeros((n_pts, 3))
    xyz[:, : disc.dim] = points
    tree = geometry.bb_tree(msh, msh.topology.dim)
    cells = geometry.compute_colliding_cells(msh, geometry.compute_collisions_points(tree, xyz), xyz)
    found = np.array([cells.links(k).size > 0 for k in range(n_pts)], dtype=bool)
    mine = np.where(found, comm.rank, comm.size).astype(np.int32)
    owner = np.empty_like(mine)
    comm.Allreduce(mine, owner, op=MPI.MIN)
    if np.any(owner == comm.size):
        bad = points[owner == comm.size]
        raise ValueError(f"point source(s) outside the mesh: {bad.tolist()}")

    # Cell dofs are numbered on the function space's map; owned rows are numbered alike everywhere.
    vec = la.vector(disc.V.dofmap.index_map, bs=n_pts)
    arr = vec.array.reshape(-1, n_pts)
    cmap = msh.geometry.cmaps[0]
    x_dofs = msh.geometry.dofmaps[0]
    element = disc.V.element.basix_element
    for k in np.flatnonzero(owner == comm.rank):
        cell = cells.links(k)[0]
        ref = cmap.pull_back(points[k : k + 1], msh.geometry.x[x_dofs[cell], : disc.dim])
        phi = element.tabulate(0, ref)[0, 0, :, 0]
        arr[disc.V.dofmap.cell_dofs(cell), k] += phi
    vec.scatter_reverse(la.InsertMode.add)
    owned = arr[: disc.n_owned]
    rows, cols = np.nonzero(owned)
    return rows.astype(np.int64), cols.astype(np.int64), owned[rows, cols].copy()


def point_sources(disc: Discretization, params: np.ndarray) -> PointSources:
    """Collective. Sources ``sin(omega t) delta(x_s)`` for a block of parameters (omega, xs, ys[, zs])."""
    params = np.atleast_2d(params)
    if params.shape[1] != 1 + disc.dim:
        raise ValueError(f"parameters of shape {params.shape}: expected (b, {1 + disc.dim}) on a {disc.dim}D mesh")
    rows, cols, vals = point_weights(disc, params[:, 1:])
    return PointSources(rows, cols, vals, params[:, 0].copy())
