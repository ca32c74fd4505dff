"""The 3D wave parent: a standing mode of the cube (second order), point-source moments on the
tetrahedral mesh, the early-time field against the free-space solution s(t - r/c) / (4 pi r), and the
3D submodel reproducing the parent's zone exactly from the parent's own surface values."""

from __future__ import annotations

import math

from mpi4py import MPI

import numpy as np
import pytest

from fe.discretization import Box, Discretization
from fe.newmark import Newmark
from fe.solver import ParentSolver
from fe.source import point_sources, point_weights
from fe.spec import MeshSpec, Physics, SolverSpec
from fe.submodel import Submodel
from fe.timestepping import CentralDifference, PointSources, TimeGrid, integrate
from fe.zone import boundary_trace, surface_nodes

CUBE = ((-1.0, -1.0, -1.0), (1.0, 1.0, 1.0))


def _cube(n: int, comm=MPI.COMM_SELF) -> Discretization:
    return Discretization(comm, Box(*CUBE, (n, n, n)))


def test_standing_mode_converges_at_second_order():
    """u0 = prod sin(pi (x_a + 1) / 2), v0 = 0: u = u0 cos(c pi sqrt(3) / 2 t), u = 0 on the cube."""
    c = 1.3
    omega = c * math.pi * math.sqrt(3) / 2
    errors = []
    for n in (4, 8, 16):
        disc = _cube(n)
        mode = np.prod([np.sin(np.pi * (disc.coords[:, a] + 1) / 2) for a in range(3)], axis=0)
        grid = TimeGrid(t_final=1.0, n_snapshots=2, substeps=math.ceil(1.0 / (0.4 * (2 / n) / c)))
        stepper = CentralDifference().stepper(disc, c, grid.dt, 1, disc.boundary_dofs, PointSources.none(1))
        stepper.start(mode[:, None].copy())
        last: dict[str, np.ndarray] = {}
        integrate(stepper, grid, lambda k, u, v, last=last: last.update(u=u[:, 0].copy(), v=v[:, 0].copy()))
        m = mode[: disc.n_owned]
        u, v = last["u"], last["v"]
        errors.append((np.abs(u - m * math.cos(omega)).max(), np.abs(v + omega * m * math.sin(omega)).max()))
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(rates - 2) < 0.15), (errors, rates)


def test_critical_dt_is_h_over_sqrt3_on_the_cube_mesh():
    disc = _cube(8)
    assert CentralDifference().critical_dt(disc, 1.0) == pytest.approx(0.25 / math.sqrt(3), rel=1e-12)


@pytest.mark.mpi
def test_point_weights_on_tetrahedra_are_a_partition_of_unity_reproducing_linears():
    disc = _cube(6, MPI.COMM_WORLD)
    h = 2 / 6
    pts = np.concatenate(
        [
            np.random.default_rng(1).uniform(-1, 1, size=(40, 3)),  # inside cells
            [[h, h, h], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]],  # vertices
            [[0.5 * h, 0.0, 0.0], [0.1, 0.2, h], [0.3, 1.0, -0.4]],  # edges and faces
        ]
    )
    rows, cols, vals = point_weights(disc, pts)
    moments = np.zeros((pts.shape[0], 4))
    np.add.at(moments[:, 0], cols, vals)
    for a in range(3):
        np.add.at(moments[:, 1 + a], cols, vals * disc.coords[rows, a])
    moments = disc.comm.allreduce(moments)
    assert np.abs(moments[:, 0] - 1).max() < 1e-13
    assert np.abs(moments[:, 1:] - pts).max() < 1e-13
    assert vals.min() > -1e-13  # barycentric coordinates of a point inside its tetrahedron


def _free_space_error(n: int, omega: float = 8.0, t_final: float = 1.4) -> float:
    """Relative L2 error of the FE field at nodes 0.3 < r < 0.6 from a source at the centre, over the
    snapshots before the first reflection from the walls (t < 2 - r) reaches them."""
    disc = _cube(n)
    grid = TimeGrid(t_final, 15, math.ceil(0.1 / (0.9 * CentralDifference().critical_dt(disc, 1.0))))
    r = np.linalg.norm(disc.coords[: disc.n_owned], axis=1)
    obs = np.flatnonzero((r > 0.3) & (r < 0.6))
    src = point_sources(disc, np.array([[omega, 0.0, 0.0, 0.0]]))
    stepper = CentralDifference().stepper(disc, 1.0, grid.dt, 1, disc.boundary_dofs, src, record=obs)
    stepper.start()
    out: list[np.ndarray] = []
    integrate(stepper, grid, lambda k, u, v: out.append(u[:, 0].copy()))
    t, ro = grid.times[:, None], r[obs][None, :]
    exact = np.where(t > ro, np.sin(omega * (t - ro)) / (4 * np.pi * ro), 0.0)
    before = t < 2 - ro
    return float(np.sqrt(((np.array(out) - exact) ** 2 * before).sum() / (exact**2 * before).sum()))


@pytest.mark.slow
def test_early_time_field_matches_the_free_space_solution():
    """u(r, t) = sin(omega (t - r)) / (4 pi r) for c = 1 until the walls' echo arrives: measured 11% at
    24^3 cells (9 nodes per wavelength) and 4% at 48^3 (19), converging as h shrinks."""
    coarse, fine = _free_space_error(24), _free_space_error(48)
    assert fine < 0.05 and coarse / fine > 2.5, (coarse, fine)


PHYS3 = Physics(c=1.0, domain=(1.0, 1.0, 1.0), zone=(0.25, 0.25, 0.25), t_final=2.0)
MESH3 = MeshSpec(nx=16, ny=16, nz=16)
PARAMS3 = np.array([[3.0, -0.7, 0.2, 0.1], [4.0, 0.1, 0.8, -0.6]])


@pytest.mark.parametrize(
    "scheme", [CentralDifference(), Newmark(), Newmark(linear="cg")], ids=["explicit", "newmark", "newmark-cg"]
)
def test_3d_submodel_reproduces_the_parent_zone_from_exact_surface_values(scheme):
    base = ParentSolver(MPI.COMM_SELF, PHYS3, MESH3, SolverSpec(n_snapshots=9), scheme)
    spec = SolverSpec(n_snapshots=base.grid.n_steps + 1, dt=base.grid.dt)
    parent = ParentSolver(MPI.COMM_SELF, PHYS3, MESH3, spec, scheme)
    u, v = parent.solve(PARAMS3)
    surface = parent.zone.boundary
    assert u.shape == (2, spec.n_snapshots, 5, 5, 5) and np.array_equal(surface, surface_nodes((5, 5, 5)))
    sub = Submodel(MPI.COMM_SELF, PHYS3, MESH3, parent.grid, scheme)
    zu, zv = sub.solve(parent.grid.times, boundary_trace(u, surface), boundary_trace(v, surface))
    assert np.abs(zu - u).max() <= 1e-10 * np.abs(u).max()
    assert np.abs(zv - v).max() <= 1e-10 * np.abs(v).max()
    assert np.abs(u[:, :, 1:-1, 1:-1, 1:-1]).max() > 0.1 * np.abs(u).max()  # a wave crossed the interior


def test_surface_nodes_count_and_order():
    idx = surface_nodes((3, 4, 5))
    assert idx.shape == (3 * 4 * 5 - 1 * 2 * 3, 3)
    flat = np.ravel_multi_index(tuple(idx.T), (3, 4, 5))
    assert np.all(np.diff(flat) > 0)  # C order, each node once
