"""The FE solver against exact solutions: a standing mode of the square, source free.

On the uniform right-diagonal mesh the P1 stiffness is the 5-point stencil and the lumped mass is
h^2, so ``sin(pi (x+1)/2) sin(pi (y+1)/2)`` is an exact eigenvector of ``M_L^-1 K`` with eigenvalue
``lam_h = 2 (4/h^2) sin^2(pi h / 4)``: the explicit scheme's answer is known in closed form,
``u^n = mode cos(n theta)`` with ``cos theta = 1 - dt^2 c^2 lam_h / 2``.
"""

from __future__ import annotations

import math

from mpi4py import MPI

import numpy as np
import pytest

from fe.discretization import Box, Discretization
from fe.newmark import Newmark
from fe.timestepping import CentralDifference, PointSources, TimeGrid, integrate

C = 1.3  # a non-unit wave speed, so c enters every formula


def _mode(disc: Discretization) -> np.ndarray:
    x = disc.coords
    return np.sin(np.pi * (x[:, 0] + 1) / 2) * np.sin(np.pi * (x[:, 1] + 1) / 2)


def _run(n: int, scheme, grid: TimeGrid, comm=MPI.COMM_SELF):
    """u, v at every snapshot on all owned dofs for the mode as initial displacement."""
    disc = Discretization(comm, Box((-1, -1), (1, 1), (n, n)))
    stepper = scheme.stepper(disc, C, grid.dt, 1, disc.boundary_dofs, PointSources.none(1))
    stepper.start(_mode(disc)[:, None].copy())
    out: list[tuple[np.ndarray, np.ndarray]] = []
    integrate(stepper, grid, lambda k, u, v: out.append((u[:, 0].copy(), v[:, 0].copy())))
    return disc, out


def _rates(errors: list[float]) -> np.ndarray:
    return np.log2(np.array(errors[:-1]) / np.array(errors[1:]))


def test_explicit_scheme_reproduces_the_discrete_mode_exactly():
    n, steps = 16, 40
    h = 2 / n
    lam_h = 2 * (4 / h**2) * math.sin(math.pi * h / 4) ** 2
    grid = TimeGrid(t_final=steps * 0.5 * h / C, n_snapshots=steps + 1, substeps=1)
    theta = math.acos(1 - (grid.dt * C) ** 2 * lam_h / 2)
    disc, out = _run(n, CentralDifference(), grid)
    mode = _mode(disc)[: disc.n_owned]
    for k, (u, v) in enumerate(out):
        assert np.abs(u - mode * math.cos(k * theta)).max() < 1e-12
        # the scheme's velocity (u^{k+1} - u^{k-1}) / 2dt of that closed form
        assert np.abs(v + mode * math.sin(k * theta) * math.sin(theta) / grid.dt).max() < 1e-11


@pytest.mark.parametrize("scheme", [CentralDifference(), Newmark()], ids=["explicit", "newmark"])
def test_second_order_in_h_with_dt_proportional_to_h(scheme):
    omega = C * math.pi * math.sqrt(2) / 2
    errors_u, errors_v = [], []
    for n in (8, 16, 32, 64):
        h = 2 / n
        grid = TimeGrid(t_final=1.0, n_snapshots=2, substeps=math.ceil(1.0 / (0.5 * h / C)))
        disc, out = _run(n, scheme, grid)
        mode = _mode(disc)[: disc.n_owned]
        u, v = out[-1]
        errors_u.append(np.abs(u - mode * math.cos(omega)).max())
        errors_v.append(np.abs(v + omega * mode * math.sin(omega)).max())
    assert np.all(np.abs(_rates(errors_u) - 2) < 0.15), errors_u
    assert np.all(np.abs(_rates(errors_v)[-2:] - 2) < 0.15), errors_v


@pytest.mark.parametrize("scheme", [CentralDifference(), Newmark()], ids=["explicit", "newmark"])
def test_second_order_in_dt_on_a_fixed_mesh(scheme):
    """Against the semi-discrete solution ``mode cos(c sqrt(lam_h) t)``, exact in space."""
    n = 16
    h = 2 / n
    omega_h = C * math.sqrt(2 * (4 / h**2) * math.sin(math.pi * h / 4) ** 2)
    errors = []
    for substeps in (40, 80, 160, 320):
        disc, out = _run(n, scheme, TimeGrid(t_final=2.0, n_snapshots=2, substeps=substeps))
        if isinstance(scheme, Newmark):  # the consistent mass makes the mode only approximately exact:
            ref = _run(n, scheme, TimeGrid(t_final=2.0, n_snapshots=2, substeps=5120))[1][-1][0]
        else:
            ref = _mode(disc)[: disc.n_owned] * math.cos(omega_h * 2.0)
        errors.append(np.abs(out[-1][0] - ref).max())
    assert np.all(np.abs(_rates(errors) - 2) < 0.1), errors


def _energies(n: int, substeps: int):
    grid = TimeGrid(t_final=3.0, n_snapshots=substeps * 3 + 1, substeps=1)
    disc, out = _run(n, CentralDifference(), grid)
    K = disc.stiffness[:, : disc.n_owned]
    m = disc.lumped_mass
    u = np.array([o[0] for o in out])
    v = np.array([o[1] for o in out])
    standard = 0.5 * np.einsum("ki,i,ki->k", v, m, v) / C**2 + 0.5 * np.einsum("ki,ki->k", u, (K @ u.T).T)
    du = np.diff(u, axis=0) / grid.dt
    modified = 0.5 * np.einsum("ki,i,ki->k", du, m, du) / C**2 + 0.5 * np.einsum("ki,ki->k", u[:-1], (K @ u[1:].T).T)
    return standard, modified


def test_explicit_energy_conservation():
    """The leapfrog invariant is conserved to round-off; the node energy only to O(dt^2)."""
    s1, m1 = _energies(16, 40)
    s2, _ = _energies(16, 80)
    assert np.abs(m1 / m1[0] - 1).max() < 1e-12
    var1, var2 = np.ptp(s1) / s1[0], np.ptp(s2) / s2[0]
    assert 1e-4 < var1 < 1e-2
    assert 3.6 < var1 / var2 < 4.4
