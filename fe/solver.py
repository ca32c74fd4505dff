"""The full-domain FE model: u = 0 on the boundary, zero initial state, a point source per sample.

Built once per (physics, mesh, scheme, time grid); :meth:`ParentSolver.solve` advances a block of
parameter vectors together and returns u and v on the zone grid at every snapshot.
"""

from __future__ import annotations

import time

from mpi4py import MPI

import numpy as np

from fe.discretization import Box, Discretization
from fe.source import point_sources
from fe.spec import MeshSpec, Physics, SolverSpec, SpecError
from fe.timestepping import TimeGrid, integrate, time_grid
from fe.zone import ZoneGrid


def zone_fields(stepper, grid: TimeGrid, zone_idx: np.ndarray, shape: tuple[int, ...]):
    """Collective. Run a started stepper (recording the zone's dofs) over ``grid``; return u and v as
    ``(b, NT, *shape)`` on rank 0 (``None`` elsewhere)."""
    b, nt = stepper.b, grid.n_snapshots
    # (b, NT, zone dofs): each snapshot's small transpose happens while it is in cache.
    u = np.empty((b, nt, stepper.record.size))
    v = np.empty_like(u)

    def keep(k: int, uk: np.ndarray, vk: np.ndarray) -> None:
        u[:, k], v[:, k] = uk.T, vk.T

    integrate(stepper, grid, keep)
    out = [stepper.disc.gather_grid(zone_idx, f, shape) for f in (u, v)]
    return tuple(None if f is None else f.reshape(b, nt, *shape) for f in out)


class ParentSolver:
    """FE model of the whole domain Omega; ``comm`` decides who holds the mesh (see Discretization)."""

    def __init__(self, comm: MPI.Comm, physics: Physics, mesh: MeshSpec, solver: SolverSpec, scheme):
        self.physics, self.scheme = physics, scheme
        self.disc = Discretization(comm, Box.centred(physics.domain, mesh.cells(physics.dim)))
        self.dt_crit = scheme.critical_dt(self.disc, physics.c)
        if scheme.explicit and solver.dt is not None and solver.dt > self.dt_crit * (1 + 1e-12):
            raise SpecError(
                "solver.dt",
                solver.dt,
                f"above the CFL limit dt_crit={self.dt_crit:.6g} of the "
                "explicit scheme on this mesh; lower it, or set dt: null and use solver.cfl",
            )
        self.grid: TimeGrid = time_grid(physics.t_final, solver.n_snapshots, solver.cfl * self.dt_crit, solver.dt)
        self.zone = ZoneGrid.of(physics, mesh)
        self.zone_dofs, self.zone_idx = self.disc.grid_index(self.zone.origin, self.zone.shape)
        self.solve_seconds = 0.0

    def solve(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        """Collective. u, v of shape ``(b, NT, *zone)`` on rank 0 for parameters ``(b, 1 + dim)``."""
        params = np.atleast_2d(params)
        b = params.shape[0]
        start = time.perf_counter()
        stepper = self.scheme.stepper(
            self.disc,
            self.physics.c,
            self.grid.dt,
            b,
            self.disc.boundary_dofs,
            point_sources(self.disc, params),
            record=self.zone_dofs,
        )
        stepper.start()
        fields = zone_fields(stepper, self.grid, self.zone_idx, self.zone.shape)
        self.solve_seconds += time.perf_counter() - start
        return fields

    def full_fields(self, params: np.ndarray) -> tuple[TimeGrid, list[np.ndarray]]:
        """Collective. One sample's displacement on all owned dofs at every snapshot (for export)."""
        stepper = self.scheme.stepper(
            self.disc,
            self.physics.c,
            self.grid.dt,
            1,
            self.disc.boundary_dofs,
            point_sources(self.disc, np.atleast_2d(params)),
        )
        stepper.start()
        frames: list[np.ndarray] = []
        integrate(stepper, self.grid, lambda k, uk, vk: frames.append(uk[:, 0].copy()))
        return self.grid, frames
