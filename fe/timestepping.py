"""Time integration of ``M u'' + c^2 K u = c^2 f(t) b`` for a block of samples at once.

The system matrices do not depend on the sample parameters, so every sample of a block shares
them: fields are stored as ``(n_local, n_samples)`` arrays and one step is one sparse-times-dense
product for the whole block, never a Python loop over samples.

:class:`CentralDifference` (the default) is explicit with lumped mass, in leapfrog form
``u^{n+1} = 2u^n - u^{n-1} + dt^2 M_L^{-1} c^2 (f(t_n) b - K u^n)``, stable for ``dt <= dt_crit``.
Its velocity is the scheme's own ``v^n = (u^{n+1} - u^{n-1}) / 2dt``, evaluated at snapshots without
look-ahead as ``(u^n - u^{n-1})/dt + dt a^n / 2`` (identical algebraically: velocity-Verlet's v^n).
:class:`fe.newmark.Newmark` is the implicit alternative.

Dirichlet dofs (``fixed``, local indices) either stay zero (the parent domain's boundary) or follow
boundary data (``values(t)``, ``rates(t)``: the submodel); on fixed dofs a snapshot reports the data itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mpi4py import MPI

import numpy as np
import scipy.sparse as sp

from fe.discretization import Discretization
from fe.spec import SpecError

try:  # scipy's in-place CSR x dense kernel: private, so a public fallback keeps the solver working
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - exercised by tests through FAST_MATVEC = False
    _csr_matvecs = None
FAST_MATVEC = _csr_matvecs is not None


class BoundaryData(Protocol):
    """Values on the fixed dofs, each ``(len(fixed), n_samples)``: displacement every step, its rate
    only when a snapshot reports the boundary velocity."""

    def values(self, t: float) -> np.ndarray: ...

    def rates(self, t: float) -> np.ndarray: ...


@dataclass(frozen=True)
class TimeGrid:
    """Snapshots at ``k T / (NT - 1)``; ``substeps`` solver steps between two snapshots."""

    t_final: float
    n_snapshots: int
    substeps: int

    @property
    def dt(self) -> float:
        return self.t_final / ((self.n_snapshots - 1) * self.substeps)

    @property
    def n_steps(self) -> int:
        return (self.n_snapshots - 1) * self.substeps

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.t_final, self.n_snapshots)


def time_grid(t_final: float, n_snapshots: int, dt_max: float, dt: float | None = None) -> TimeGrid:
    """Steps landing exactly on every snapshot: the largest ``dt <= dt_max`` that divides the
    snapshot interval, or the given ``dt`` (which must divide it)."""
    interval = t_final / (n_snapshots - 1)
    if dt is None:
        return TimeGrid(t_final, n_snapshots, max(1, math.ceil(interval / dt_max - 1e-9)))
    substeps = round(interval / dt)
    if substeps < 1 or abs(substeps * dt - interval) > 1e-9 * interval:
        raise SpecError("solver.dt", dt, f"must divide the snapshot interval t_final/(n_snapshots-1)={interval:.6g}")
    return TimeGrid(t_final, n_snapshots, substeps)


@dataclass(frozen=True)
class PointSources:
    """``sin(omega_s t) b_s`` for each sample s of a block; ``b_s`` as COO (owned row, sample, weight)."""

    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    omega: np.ndarray

    def values(self, t: float) -> np.ndarray:
        return self.weights * np.sin(self.omega[self.cols] * t)

    def add_to(self, out: np.ndarray, t: float, sign: float = 1.0) -> None:
        if self.rows.size:
            np.add.at(out, (self.rows, self.cols), sign * self.values(t))

    def scaled(self, row_scale: np.ndarray) -> PointSources:
        """Weights multiplied by ``row_scale[row]``; entries scaled to zero are dropped."""
        w = self.weights * row_scale[self.rows]
        keep = w != 0.0
        return PointSources(self.rows[keep], self.cols[keep], w[keep], self.omega)

    @staticmethod
    def none(n_samples: int) -> PointSources:
        empty = np.zeros(0, dtype=np.int64)
        return PointSources(empty, empty, np.zeros(0), np.zeros(n_samples))


def positions_in(values: np.ndarray, within: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``i`` of the entries of ``values`` found in ``within`` (entries unique), and their
    positions ``j`` there: ``values[i] == within[j]``."""
    values, within = np.asarray(values, dtype=np.int64), np.asarray(within, dtype=np.int64)
    if within.size == 0 or values.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    order = np.argsort(within, kind="stable")
    k = np.minimum(np.searchsorted(within, values, sorter=order), within.size - 1)
    found = np.flatnonzero(within[order[k]] == values)
    return found, order[k[found]]


class BlockStepper:
    """What the schemes share: the block buffers, the recorded rows and the fixed-dof bookkeeping."""

    def __init__(
        self,
        disc: Discretization,
        dt: float,
        n_samples: int,
        fixed: np.ndarray,
        data: BoundaryData | None,
        record: np.ndarray | None,
    ):
        self.disc, self.dt, self.b, self.data = disc, dt, n_samples, data
        self.fixed = np.asarray(fixed, dtype=np.int64)
        self.fixed_is_owned = self.fixed < disc.n_owned
        self.fixed_owned = self.fixed[self.fixed_is_owned]
        self.record = np.arange(disc.n_owned) if record is None else np.asarray(record, dtype=np.int64)
        # Recorded rows that are fixed, and where their data sits in ``fixed``.
        self._rec_fixed, self._fixed_of_rec = positions_in(self.record, self.fixed)
        self.t = 0.0
        self.n = 0

    def view(self, vec) -> np.ndarray:
        """A ``la.Vector`` block as an ``(n_local, n_samples)`` array (shares memory)."""
        return vec.array.reshape(self.disc.n_local, self.b)

    def _override_fixed(self, v: np.ndarray) -> np.ndarray:
        """On fixed recorded rows, report the boundary data's velocity."""
        if self.data is not None and self._rec_fixed.size:
            v[self._rec_fixed] = self.data.rates(self.t)[self._fixed_of_rec]
        return v

    def advance_to(self, n: int) -> None:
        """Step until the step counter reaches ``n``."""
        while self.n < n:
            self.step()


class CentralDifference:
    """Explicit central differences with lumped mass (Newmark beta = 0, gamma = 1/2)."""

    explicit = True

    def __repr__(self) -> str:
        return "explicit (lumped mass)"

    def critical_dt(self, disc: Discretization, c: float) -> float:
        """Gershgorin bound ``2 / (c sqrt(max_i sum_j |K_ij| / m_i))`` of the stability limit.

        Never above the true ``2 / (c sqrt(lambda_max(M_L^-1 K)))``, and equal to it on the
        uniform right-diagonal mesh (``h / (c sqrt 2)`` for square cells)."""
        rows = np.abs(disc.stiffness).sum(axis=1).A1 / disc.lumped_mass
        local = float(rows[disc.free_owned].max(initial=0.0))
        return 2.0 / (c * math.sqrt(disc.comm.allreduce(local, op=MPI.MAX)))

    def stepper(
        self,
        disc: Discretization,
        c: float,
        dt: float,
        n_samples: int,
        fixed: np.ndarray,
        sources: PointSources,
        data: BoundaryData | None = None,
        record: np.ndarray | None = None,
    ) -> CentralDifferenceStepper:
        return CentralDifferenceStepper(disc, c, dt, n_samples, fixed, sources, data, record)


class CentralDifferenceStepper(BlockStepper):
    def __init__(self, disc, c, dt, n_samples, fixed, sources, data, record):
        super().__init__(disc, dt, n_samples, fixed, data, record)
        scale = (c * dt) ** 2 / disc.lumped_mass
        scale[self.fixed_owned] = 0.0
        # dt^2 a = -dt^2 c^2 M_L^-1 K u, with fixed rows zeroed (their acceleration is imposed).
        self._kt = (sp.diags(-scale) @ disc.stiffness).tocsr()
        self._kt_rec = self._kt[self.record]
        # The leapfrog update u^{n+1} = (2I + Kt) u^n - u^{n-1} as a single product added in place,
        # with no extra pass to negate u^{n-1}: buffers hold s_n u^n with the period-4 signs
        # s_n = +1, +1, -1, -1, ... (s_{n+1} = -s_{n-1}), so ``prev += (s_{n+1} s_n) A cur`` leaves
        # s_{n+1} u^{n+1} in ``prev``. ``_ops[True]`` is +A, ``_ops[False]`` is -A.
        two = sp.eye(disc.n_owned, disc.n_local, format="csr") * 2.0
        plus = (self._kt + two).tocsr()
        plus.sort_indices()
        minus = plus.copy()
        minus.data = -minus.data
        self._ops = {True: plus, False: minus}
        self.step_operator = plus  # the (2I + Kt) of one step, for traffic accounting
        self.src = sources.scaled(scale)
        # The source entries on recorded rows, re-indexed by their position in ``record``.
        hit, pos = positions_in(self.src.rows, self.record)
        self._src_rec = PointSources(pos, self.src.cols[hit], self.src.weights[hit], self.src.omega)
        self._cur, self._prev = disc.block_vector(n_samples), disc.block_vector(n_samples)

    def _matvec_add(self, op: sp.csr_matrix, u: np.ndarray, out: np.ndarray) -> None:
        """``out += op u`` for the whole block, in place (scipy's CSR x dense kernel, no temporary);
        with a SciPy that lacks the private kernel, the public product (one temporary per step)."""
        if FAST_MATVEC:
            _csr_matvecs(op.shape[0], op.shape[1], self.b, op.indptr, op.indices, op.data, u.ravel(), out.ravel())
        else:
            out += op @ u

    @staticmethod
    def _sign(n: int) -> float:
        """Sign with which the buffers store u^n."""
        return 1.0 if n % 4 in (0, 1) else -1.0

    def start(self, u0: np.ndarray | None = None, v0: np.ndarray | None = None) -> None:
        """Initial state (u0 on local dofs, v0 on owned dofs; default zero):
        ``u^{-1} = u0 - dt v0 + dt^2 a0 / 2``, the Taylor start that matches velocity-Verlet."""
        n = self.disc.n_owned
        cur, prev = self.view(self._cur), self.view(self._prev)
        cur[:] = 0.0 if u0 is None else u0
        prev[:] = cur
        if v0 is not None:
            prev[:n] -= self.dt * v0
        dt2a = np.zeros((n, self.b))
        self._matvec_add(self._kt, cur, dt2a)
        self.src.add_to(dt2a, 0.0)
        prev[:n] += 0.5 * dt2a
        prev *= self._sign(-1)
        self._prev.scatter_forward()
        self.t, self.n = 0.0, 0

    def step(self) -> None:
        """``t_n -> t_{n+1}``; the buffer that held ``s_{n-1} u^{n-1}`` receives ``s_{n+1} u^{n+1}``."""
        n, s_next = self.disc.n_owned, self._sign(self.n + 1)
        cur, nxt = self.view(self._cur), self.view(self._prev)[:n]
        self._matvec_add(self._ops[s_next == self._sign(self.n)], cur, nxt)
        self.src.add_to(nxt, self.t, s_next)
        self.n += 1
        self.t = self.n * self.dt
        if self.data is not None:
            nxt[self.fixed_owned] = s_next * self.data.values(self.t)[self.fixed_is_owned]
        self._cur, self._prev = self._prev, self._cur
        self._cur.scatter_forward()

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) now on the recorded rows, each ``(len(record), n_samples)``."""
        s_cur, s_prev = self._sign(self.n), self._sign(self.n - 1)
        cur, prev = self.view(self._cur), self.view(self._prev)
        u = s_cur * cur[self.record]
        dt2a = s_cur * (self._kt_rec @ cur)
        self._src_rec.add_to(dt2a, self.t)
        v = (u - s_prev * prev[self.record]) / self.dt + dt2a / (2.0 * self.dt)
        return u, self._override_fixed(v)


def integrate(stepper, grid: TimeGrid, on_snapshot: Callable[[int, np.ndarray, np.ndarray], None]) -> None:
    """Run ``stepper`` (already started) over ``grid``, calling ``on_snapshot(k, u, v)`` at each
    snapshot ``k`` (including t = 0)."""
    for k in range(grid.n_snapshots):
        stepper.advance_to(k * grid.substeps)
        on_snapshot(k, *stepper.snapshot())
