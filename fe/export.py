"""Export one sample's full-domain displacement over time for ParaView (the paper's Figure 1)."""

from __future__ import annotations

from pathlib import Path

from mpi4py import MPI

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
from dolfinx import fem, io

from fe.solver import ParentSolver


def export_sample(job, params: np.ndarray, path: str | Path, comm: MPI.Comm = MPI.COMM_WORLD) -> Path:
    """Collective. Solve one sample on ``comm`` and write u at every snapshot to an XDMF file."""
    parent = ParentSolver(comm, job.physics, job.mesh, job.solver, job.scheme)
    grid, frames = parent.full_fields(params)
    path = Path(path)
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    u = fem.Function(parent.disc.V, name="u")
    n = parent.disc.n_owned
    with io.XDMFFile(comm, str(path), "w") as xdmf:
        xdmf.write_mesh(parent.disc.mesh)
        for t, frame in zip(grid.times, frames, strict=True):
            u.x.array[:n] = frame
            u.x.scatter_forward()
            xdmf.write_function(u, float(t))
    return path
