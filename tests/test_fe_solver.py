"""The parent solver: batched blocks, zone extraction, parallel modes, the boundary loop."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest

from fe.newmark import Newmark
from fe.solver import ParentSolver
from fe.spec import MeshSpec, Physics, SolverSpec
from fe.timestepping import CentralDifference
from fe.zone import boundary_loop, boundary_trace

PHYS = Physics(c=1.0, domain=(1.0, 1.0), zone=(0.25, 0.25), t_final=1.0)
MESH = MeshSpec(nx=16, ny=16)
PARAMS = np.array([[5.0, 0.6, 0.1], [7.5, -0.55, -0.7], [4.0, 0.123, 0.777], [6.0, -0.8, 0.45]])


def _solver(comm, scheme=None, **kw) -> ParentSolver:
    return ParentSolver(comm, PHYS, MESH, SolverSpec(n_snapshots=9, **kw), scheme or CentralDifference())


@pytest.mark.parametrize("scheme", [CentralDifference(), Newmark()], ids=["explicit", "newmark"])
def test_a_block_equals_each_sample_alone(scheme):
    solver = _solver(MPI.COMM_SELF, scheme)
    u, v = solver.solve(PARAMS)
    assert u.shape == (4, 9, 5, 5) and np.abs(u).max() > 1e-3
    for k in range(len(PARAMS)):
        uk, vk = solver.solve(PARAMS[k])
        assert np.abs(uk[0] - u[k]).max() <= 1e-12 * np.abs(u[k]).max()
        assert np.abs(vk[0] - v[k]).max() <= 1e-12 * np.abs(v[k]).max()


def test_newmark_by_cg_equals_newmark_by_lu():
    """The iterative linear solve changes the cost, not the scheme: the fields equal the LU's to CG's
    tolerance (1e-12 relative residual per step)."""
    u_lu, v_lu = _solver(MPI.COMM_SELF, Newmark()).solve(PARAMS)
    u_cg, v_cg = _solver(MPI.COMM_SELF, Newmark(linear="cg")).solve(PARAMS)
    assert np.abs(u_lu).max() > 1e-3
    assert np.abs(u_cg - u_lu).max() <= 1e-9 * np.abs(u_lu).max()
    assert np.abs(v_cg - v_lu).max() <= 1e-9 * np.abs(v_lu).max()
    loose = _solver(MPI.COMM_SELF, Newmark(linear="cg", rtol=1e-4)).solve(PARAMS)[0]
    assert np.abs(loose - u_lu).max() > 1e-9 * np.abs(u_lu).max()  # the tolerance is really applied


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"linear": "gmres"}, r"solver.scheme.linear: got 'gmres', allowed: lu, cg"),
        ({"rtol": 0.1}, r"solver.scheme.rtol: got 0.1, allowed: 0 < rtol < 1e-3"),
        ({"beta": 0.0}, r"Newmark needs 0 < beta <= 1/2"),
    ],
)
def test_bad_newmark_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Newmark(**kwargs)


def test_zone_fields_sit_on_the_right_nodes():
    """The zone grid of a coarse run equals a fine run's grid (same node positions, c scaling)."""
    solver = _solver(MPI.COMM_SELF)
    assert np.allclose(solver.zone.x, np.linspace(-0.25, 0.25, 5))
    assert np.allclose(
        solver.disc.coords[solver.zone_dofs],
        np.stack(np.meshgrid(solver.zone.x, solver.zone.y), -1).reshape(-1, 2),
    )


def test_the_wave_is_zero_before_it_can_arrive():
    """Finite speed: the zone is silent until the distance to the source has been covered (the
    discrete scheme leaks a little ahead of the front, far less than the signal)."""
    solver = _solver(MPI.COMM_SELF)
    u, _ = solver.solve(np.array([[6.0, 0.8, 0.8]]))
    t = solver.grid.times
    arrival = np.hypot(0.8 - 0.25, 0.8 - 0.25)
    early = np.abs(u[0, t < 0.5 * arrival]).max()
    assert early < 1e-3 * np.abs(u[0]).max()


@pytest.mark.mpi
@pytest.mark.parametrize(
    "scheme", [CentralDifference(), Newmark(), Newmark(linear="cg")], ids=["explicit", "newmark", "newmark-cg"]
)
def test_domain_decomposition_matches_serial(scheme):
    comm = MPI.COMM_WORLD
    u, v = _solver(comm, scheme).solve(PARAMS[:3])
    if comm.rank == 0:
        us, vs = _solver(MPI.COMM_SELF, scheme).solve(PARAMS[:3])
        tol = 1e-9 if getattr(scheme, "linear", "lu") == "cg" else 1e-12  # CG's iterates depend on the partition
        assert np.abs(u - us).max() <= tol * np.abs(us).max()
        assert np.abs(v - vs).max() <= tol * np.abs(vs).max()
    else:
        assert u is None and v is None


def test_boundary_loop_is_counter_clockwise_and_closed():
    loop = boundary_loop(3, 4)
    assert loop.tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [1, 3], [2, 3], [2, 2], [2, 1], [2, 0], [1, 0]]
    big = boundary_loop(17, 9)
    assert len(big) == 2 * 16 + 2 * 8 and len({tuple(p) for p in big}) == len(big)
    steps = np.abs(np.diff(np.vstack([big, big[:1]]), axis=0)).sum(axis=1)
    assert np.all(steps == 1)  # neighbours along the loop, and back to the start
    field = np.arange(12.0).reshape(3, 4)
    assert boundary_trace(field, loop).tolist() == [0, 1, 2, 3, 7, 11, 10, 9, 8, 4]


def test_snapshot_velocity_is_the_central_difference_even_at_the_source():
    """v^n reported without look-ahead equals (u^{n+1} - u^{n-1}) / 2dt on every row, including the
    rows carrying the point source (its load enters v through a^n)."""
    from fe.source import point_sources
    from fe.timestepping import TimeGrid, integrate

    solver = _solver(MPI.COMM_SELF)
    disc, dt = solver.disc, solver.grid.dt
    grid = TimeGrid(t_final=60 * dt, n_snapshots=61, substeps=1)
    sources = point_sources(disc, PARAMS[:2] * [1, 0.2, 0.2])  # sources near the centre, on recorded rows
    stepper = CentralDifference().stepper(disc, 1.0, dt, 2, disc.boundary_dofs, sources)
    stepper.start()
    us, vs = [], []
    integrate(stepper, grid, lambda k, u, v: (us.append(u.copy()), vs.append(v.copy())))
    u, v = np.array(us), np.array(vs)
    central = (u[2:] - u[:-2]) / (2 * dt)
    assert np.abs(v[1:-1] - central).max() <= 1e-12 * np.abs(central).max()
    assert np.abs(v[1:-1][:, sources.rows, sources.cols]).max() > 0.1 * np.abs(central).max()


def test_the_public_matvec_fallback_gives_the_same_fields(monkeypatch):
    """Without SciPy's private in-place kernel the explicit step uses ``op @ u``: same numbers."""
    import fe.timestepping

    if not fe.timestepping.FAST_MATVEC:
        pytest.skip("this SciPy has no private kernel: the fallback is the only path")
    u_fast, v_fast = _solver(MPI.COMM_SELF).solve(PARAMS)
    monkeypatch.setattr(fe.timestepping, "FAST_MATVEC", False)
    u_slow, v_slow = _solver(MPI.COMM_SELF).solve(PARAMS)
    assert np.abs(u_slow - u_fast).max() <= 1e-13 * np.abs(u_fast).max()
    assert np.abs(v_slow - v_fast).max() <= 1e-13 * np.abs(v_fast).max()
