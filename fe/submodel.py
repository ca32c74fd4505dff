"""The FE submodel: the zone of interest Omega' alone, driven by boundary values on its boundary.

Its mesh has the parent's spacing (the same cut of every square or cube into simplices, so interior
rows of the operators coincide with the parent's), the same scheme and time step, zero initial state
and no source (the source lies outside Omega'). Dirichlet values on the boundary of Omega' come from a
trace (NT_trace, B) of u and v on its boundary nodes (the 2D loop, the 3D surface), given at the
trace times. Between trace
times the values are interpolated by cubic Hermite polynomials in time, which use both u and its
derivative v and are exact at the trace times: driven by the parent's own boundary values at every
solver step, the submodel reproduces the parent's zone fields to round-off.
"""

from __future__ import annotations

import time

from mpi4py import MPI

import numpy as np
from scipy.interpolate import CubicHermiteSpline

from fe.discretization import Box, Discretization
from fe.solver import zone_fields
from fe.spec import MeshSpec, Physics
from fe.timestepping import PointSources, TimeGrid
from fe.zone import ZoneGrid


class HermiteTrace:
    """Cubic Hermite interpolation in time of values ``u`` and derivatives ``v`` (NT, ...) at
    ``times`` (``scipy.interpolate.CubicHermiteSpline``); at a trace time the traced u and v are
    returned as they are, bit for bit, so exact boundary values reproduce the parent exactly."""

    def __init__(self, times: np.ndarray, u: np.ndarray, v: np.ndarray):
        if u.shape != v.shape or u.shape[0] != times.size:
            raise ValueError(f"trace shapes u{u.shape}, v{v.shape} do not match {times.size} times")
        self.times, self.u, self.v = np.asarray(times, dtype=float), u, v
        self.spline = CubicHermiteSpline(self.times, u, v, axis=0)
        self.rate = self.spline.derivative()

    def _node(self, t: float) -> int | None:
        k = int(np.argmin(np.abs(self.times - t)))
        return k if abs(self.times[k] - t) <= 1e-12 * max(1.0, abs(t)) else None

    def values(self, t: float) -> np.ndarray:
        """u(t); the trace itself at a trace time."""
        k = self._node(t)
        return self.u[k] if k is not None else self.spline(t)

    def rates(self, t: float) -> np.ndarray:
        """du/dt(t); the traced v itself at a trace time."""
        k = self._node(t)
        return self.v[k] if k is not None else self.rate(t)


class Submodel:
    """FE model of Omega' on ``comm``; :meth:`solve` advances a block of samples together."""

    def __init__(self, comm: MPI.Comm, physics: Physics, mesh: MeshSpec, grid: TimeGrid, scheme):
        self.physics, self.grid, self.scheme = physics, grid, scheme
        self.zone = ZoneGrid.of(physics, mesh)
        nodes = self.zone.nodes
        box = Box(tuple(c[0] for c in nodes), tuple(c[-1] for c in nodes), tuple(c.size - 1 for c in nodes))
        self.disc = Discretization(comm, box)
        self.zone_dofs, self.zone_idx = self.disc.grid_index(self.zone.origin, self.zone.shape)
        # Where each Dirichlet dof (boundary of Omega', ghosts included) sits in the boundary index.
        position = {tuple(int(i) for i in idx): k for k, idx in enumerate(self.zone.boundary)}
        fixed = self.disc.boundary_dofs
        idx, _ = self.disc.node_index(fixed, box.lo)
        self.fixed, self.fixed_pos = fixed, np.array([position[tuple(i)] for i in idx.tolist()], dtype=np.int64)
        self.solve_seconds = 0.0

    def solve(self, times: np.ndarray, trace_u: np.ndarray, trace_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Collective. Zone fields (b, NT, *zone) on rank 0 for traces (b, NT_trace, B) of u and v given at
        ``times`` (which must span [0, t_final])."""
        b = trace_u.shape[0]
        if times[0] > 1e-12 or times[-1] < self.grid.t_final - 1e-12:
            raise ValueError(f"the boundary trace covers [{times[0]}, {times[-1]}], not [0, {self.grid.t_final}]")
        start = time.perf_counter()
        # (NT_trace, n_fixed, b): the trace reordered onto the Dirichlet dofs
        hermite = HermiteTrace(
            times, trace_u[:, :, self.fixed_pos].transpose(1, 2, 0), trace_v[:, :, self.fixed_pos].transpose(1, 2, 0)
        )
        stepper = self.scheme.stepper(
            self.disc,
            self.physics.c,
            self.grid.dt,
            b,
            self.fixed,
            PointSources.none(b),
            data=hermite,
            record=self.zone_dofs,
        )
        stepper.start()
        fields = zone_fields(stepper, self.grid, self.zone_idx, self.zone.shape)
        self.solve_seconds += time.perf_counter() - start
        return fields
