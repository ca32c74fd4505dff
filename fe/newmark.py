"""Newmark average-acceleration time stepping (implicit, consistent mass) for a block of samples.

With ``S = M + beta dt^2 c^2 K`` factorised once (PETSc LU: native in serial, MUMPS in parallel),
or solved by Jacobi-preconditioned CG (``linear="cg"``: S is a mass matrix plus a small multiple of
K, so its condition number stays O(1) at steps near the explicit limit and CG needs a few tens of
iterations, where a 3D LU's fill-in costs minutes and gigabytes), each step solves
``S a^{n+1} = c^2 (f(t_{n+1}) b - K p)`` for the predictor
``p = u^n + dt v^n + (1/2 - beta) dt^2 a^n``, then ``u^{n+1} = p + beta dt^2 a^{n+1}`` and
``v^{n+1} = v^n + dt ((1 - gamma) a^n + gamma a^{n+1})``. Fixed dofs get the acceleration that puts
``u^{n+1}`` on the boundary data (zero for a homogeneous condition), imposed by lifting.
"""

from __future__ import annotations

from mpi4py import MPI

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from petsc4py import PETSc

from fe.discretization import Discretization
from fe.timestepping import BlockStepper, CentralDifference, PointSources


class Newmark:
    """Newmark scheme; the default (beta, gamma) = (1/4, 1/2) is unconditionally stable and
    second order. ``critical_dt`` is the explicit limit, used only to choose a step size."""

    explicit = False
    LINEAR = ("lu", "cg")

    def __init__(self, beta: float = 0.25, gamma: float = 0.5, linear: str = "lu", rtol: float = 1e-12):
        if not (0.0 < beta <= 0.5 and 0.5 <= gamma <= 1.0):
            raise ValueError(
                f"solver.scheme: Newmark needs 0 < beta <= 1/2 and 1/2 <= gamma <= 1, got beta={beta}, gamma={gamma}"
            )
        if linear not in self.LINEAR:
            raise ValueError(f"solver.scheme.linear: got {linear!r}, allowed: {', '.join(self.LINEAR)}")
        if not 0.0 < rtol < 1e-3:
            raise ValueError(f"solver.scheme.rtol: got {rtol}, allowed: 0 < rtol < 1e-3 (CG's relative residual)")
        self.beta, self.gamma, self.linear, self.rtol = beta, gamma, linear, rtol

    def __repr__(self) -> str:
        """A table label (no commas: it lands in CSV files) naming everything that sets the solve."""
        coef = "" if (self.beta, self.gamma) == (0.25, 0.5) else f"; beta {self.beta:g} gamma {self.gamma:g}"
        return f"Newmark ({self.linear}{coef})"

    def critical_dt(self, disc: Discretization, c: float) -> float:
        return CentralDifference().critical_dt(disc, c)

    def stepper(self, disc, c, dt, n_samples, fixed, sources, data=None, record=None) -> NewmarkStepper:
        return NewmarkStepper(self, disc, c, dt, n_samples, fixed, sources, data, record)


def _linear_solver(comm: MPI.Comm, A: PETSc.Mat, kind: str, rtol: float) -> PETSc.KSP:
    """A direct LU (factorised here, once) or Jacobi-preconditioned CG for the SPD matrix A."""
    ksp = PETSc.KSP().create(comm)
    ksp.setOperators(A)
    pc = ksp.getPC()
    if kind == "lu":
        ksp.setType("preonly")
        pc.setType("lu")
        pc.setFactorSolverType("mumps" if comm.size > 1 else "petsc")
    else:
        ksp.setType("cg")
        pc.setType("jacobi")
        ksp.setTolerances(rtol=rtol, atol=0.0, max_it=1000)
        ksp.setInitialGuessNonzero(True)
    ksp.setUp()
    return ksp


class NewmarkStepper(BlockStepper):
    def __init__(self, scheme: Newmark, disc, c, dt, n_samples, fixed, sources: PointSources, data, record):
        super().__init__(disc, dt, n_samples, fixed, data, record)
        self.beta, self.gamma, self.c2 = scheme.beta, scheme.gamma, c * c
        self.scheme = scheme
        coef = self.beta * dt * dt * self.c2
        mass = disc.mass_matrix()
        self._k = disc.stiffness
        self._s_fixed_cols = (mass + coef * disc.stiffness)[:, self.fixed].tocsr()
        bc = fem.dirichletbc(PETSc.ScalarType(0.0), disc.space_dofs(self.fixed), disc.V)
        u, w = ufl.TrialFunction(disc.V), ufl.TestFunction(disc.V)
        k = fem.Constant(disc.mesh, PETSc.ScalarType(coef))
        self._S = fem_petsc.assemble_matrix(
            fem.form(u * w * ufl.dx + k * ufl.inner(ufl.grad(u), ufl.grad(w)) * ufl.dx), bcs=[bc]
        )
        self._S.assemble()
        self._M = fem_petsc.assemble_matrix(fem.form(u * w * ufl.dx), bcs=[bc])
        self._M.assemble()
        self._ksp = _linear_solver(disc.comm, self._S, scheme.linear, scheme.rtol)
        self._x, self._rhs = self._S.createVecs()
        keep = np.ones(disc.n_owned)
        keep[self.fixed_owned] = 0.0
        self.src = sources.scaled(self.c2 * keep)
        self._u, self._p = disc.block_vector(n_samples), disc.block_vector(n_samples)
        n = disc.n_owned
        self.v = np.zeros((n, n_samples))
        self.a = np.zeros((n, n_samples))

    def _solve(self, ksp: PETSc.KSP, rhs: np.ndarray, out: np.ndarray, guess: np.ndarray) -> None:
        """Solve column by column: two triangular solves each with LU; CG starts from ``guess``
        (the previous acceleration, close to the new one at small steps)."""
        warm = ksp.getInitialGuessNonzero()  # CG only: LU overwrites x
        for j in range(self.b):
            self._rhs.array[:] = rhs[:, j]
            if warm:
                self._x.array[:] = guess[:, j]
            ksp.solve(self._rhs, self._x)
            if ksp.getConvergedReason() < 0:
                raise RuntimeError(
                    f"Newmark: the {self.scheme.linear} solve diverged (PETSc reason {ksp.getConvergedReason()}, "
                    f"{ksp.getIterationNumber()} iterations); use solver.scheme.linear=lu"
                )
            out[:, j] = self._x.array

    def _fixed_accel(self, p_local: np.ndarray, t: float) -> np.ndarray:
        if self.data is None:
            return np.zeros((self.fixed.size, self.b))
        g = self.data.values(t)
        return (g - p_local[self.fixed]) / (self.beta * self.dt * self.dt)

    def _impose(self, rhs: np.ndarray, a_fixed: np.ndarray) -> None:
        if self.data is not None and self.fixed.size:
            rhs -= self._s_fixed_cols @ a_fixed
        rhs[self.fixed_owned] = a_fixed[self.fixed_is_owned]

    def start(self, u0: np.ndarray | None = None, v0: np.ndarray | None = None) -> None:
        """Initial state (u0 on local dofs, v0 on owned dofs, default zero); a0 from ``M a0 = r(u0)``."""
        u = self.view(self._u)
        u[:] = 0.0 if u0 is None else u0
        self.v[:] = 0.0 if v0 is None else v0
        self.a[:] = 0.0
        if u0 is not None:
            rhs = -self.c2 * (self._k @ u)
            self.src.add_to(rhs, 0.0)
            rhs[self.fixed_owned] = 0.0
            mass_ksp = _linear_solver(self.disc.comm, self._M, self.scheme.linear, self.scheme.rtol)
            self._solve(mass_ksp, rhs, self.a, np.zeros_like(self.a))
            mass_ksp.destroy()
        self.t, self.n = 0.0, 0

    def step(self) -> None:
        n, dt, beta = self.disc.n_owned, self.dt, self.beta
        u, p = self.view(self._u), self.view(self._p)
        p[:n] = u[:n] + dt * self.v + (0.5 - beta) * dt * dt * self.a
        self._p.scatter_forward()
        t_next = (self.n + 1) * dt
        rhs = -self.c2 * (self._k @ p)
        self.src.add_to(rhs, t_next)
        self._impose(rhs, self._fixed_accel(p, t_next))
        a_new = np.empty_like(self.a)
        self._solve(self._ksp, rhs, a_new, self.a)
        u[:n] = p[:n] + beta * dt * dt * a_new
        self.v += dt * ((1.0 - self.gamma) * self.a + self.gamma * a_new)
        self.a = a_new
        self._u.scatter_forward()
        self.n += 1
        self.t = t_next

    def snapshot(self) -> tuple[np.ndarray, np.ndarray]:
        u = self.view(self._u)[self.record]
        return u, self._override_fixed(self.v[self.record].copy())
