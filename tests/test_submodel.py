"""The FE submodel: exact reproduction of the parent's zone given exact boundary values, convergence
with the trace interval, the Hermite interpolation, and the submodel stage over a sweep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from mpi4py import MPI

import numpy as np
import pytest

from fe.newmark import Newmark
from fe.solver import ParentSolver
from fe.spec import MeshSpec, Physics, SolverSpec
from fe.submodel import HermiteTrace, Submodel
from fe.timestepping import CentralDifference
from fe.zone import boundary_trace
from pipeline.config import compose

PHYS = Physics(c=1.0, domain=(1.0, 1.0), zone=(0.25, 0.25), t_final=2.0)
MESH = MeshSpec(nx=32, ny=32)
PARAMS = np.array([[3.0, 0.7, 0.2], [5.5, -0.8, -0.75], [2.2, 0.1, 0.9]])


def _every_step(scheme):
    """The parent with a snapshot at every solver step."""
    base = ParentSolver(MPI.COMM_SELF, PHYS, MESH, SolverSpec(n_snapshots=17), scheme)
    spec = SolverSpec(n_snapshots=base.grid.n_steps + 1, dt=base.grid.dt)
    fine = ParentSolver(MPI.COMM_SELF, PHYS, MESH, spec, scheme)
    return fine, *fine.solve(PARAMS)


@pytest.mark.parametrize(
    "scheme", [CentralDifference(), Newmark(), Newmark(linear="cg")], ids=["explicit", "newmark", "newmark-cg"]
)
def test_exact_boundary_values_reproduce_the_parent_zone(scheme):
    """'No modelling error in the zone of interest': driven by the parent's own boundary values at
    every solver step, the submodel gives the parent's u and v everywhere in Omega'."""
    parent, u, v = _every_step(scheme)
    loop = parent.zone.boundary
    sub = Submodel(MPI.COMM_SELF, PHYS, MESH, parent.grid, scheme)
    zu, zv = sub.solve(parent.grid.times, boundary_trace(u, loop), boundary_trace(v, loop))
    assert np.abs(zu - u).max() <= 1e-10 * np.abs(u).max()
    assert np.abs(zv - v).max() <= 1e-10 * np.abs(v).max()
    assert np.abs(u[:, :, 1:-1, 1:-1]).max() > 0.05  # a real wave crossed the zone


@pytest.mark.parametrize("scheme", [CentralDifference(), Newmark()], ids=["explicit", "newmark"])
def test_the_error_shrinks_with_the_trace_interval(scheme):
    parent, u, v = _every_step(scheme)
    loop, times = parent.zone.boundary, parent.grid.times
    errors = []
    for every in (8, 4, 2):
        sel = slice(None, None, every)
        sub = Submodel(MPI.COMM_SELF, PHYS, MESH, parent.grid, scheme)
        zu, zv = sub.solve(times[sel], boundary_trace(u[:, sel], loop), boundary_trace(v[:, sel], loop))
        errors.append((np.abs(zu - u).max() / np.abs(u).max(), np.abs(zv - v).max() / np.abs(v).max()))
    eu, ev = np.array(errors).T
    assert eu[0] < 0.06 and np.all(np.diff(eu) < 0) and eu[0] / eu[1] > 3  # about 4th order in u
    assert np.all(np.diff(ev) < 0)


def test_hermite_interpolation_is_exact_for_cubics_and_at_the_nodes():
    times = np.array([0.0, 0.3, 0.5, 1.0])
    f = lambda t: 2 * t**3 - t**2 + 0.5 * t - 1  # noqa: E731
    df = lambda t: 6 * t**2 - 2 * t + 0.5  # noqa: E731
    trace = HermiteTrace(times, f(times)[:, None], df(times)[:, None])
    for t in (0.0, 0.1, 0.3, 0.42, 0.77, 1.0):
        u, du = trace.values(t), trace.rates(t)
        assert u[0] == pytest.approx(f(t), abs=1e-14) and du[0] == pytest.approx(df(t), abs=1e-12)


def test_a_trace_that_does_not_cover_the_horizon_is_refused():
    sub = Submodel(MPI.COMM_SELF, PHYS, MESH, _every_step(CentralDifference())[0].grid, CentralDifference())
    with pytest.raises(ValueError, match="covers"):
        sub.solve(np.linspace(0, 1, 5), np.zeros((1, 5, 32)), np.zeros((1, 5, 32)))


@pytest.mark.slow
def test_the_stage_reports_broken_runs_by_name_and_carries_on(tiny_data, tmp_path, monkeypatch):
    import pipeline.submodel
    from pipeline.submodel import run as submodel_stage
    from pipeline.train import train_run

    sweep = tmp_path / "sweep"
    base = ["data=tiny", f"paths.data_dir={tiny_data.parent}", "progress=false", "train=quick", "train.epochs=2"]
    for model in ("conv2d", "conv1d_boundary"):
        train_run(compose("train", [*base, f"model={model}", "reg=basic"]), sweep / f"{model}-basic")
    (sweep / "conv3d-basic" / ".hydra").mkdir(parents=True)  # failed before its first checkpoint
    shutil.copytree(sweep / "conv2d-basic", sweep / "fc_t-basic")
    (sweep / "fc_t-basic" / "checkpoint.pt").write_bytes(b"truncated")
    shutil.copytree(sweep / "conv2d-basic", sweep / "conv2_5d-basic")
    (sweep / "conv2_5d-basic" / "metrics.json").unlink()  # killed after its last checkpoint
    shutil.copytree(sweep / "conv2d-basic", sweep / "conv2d_t-basic")
    real = pipeline.submodel.load_run

    def bug_in_one_run(run_dir, device="cpu"):  # any exception, not only the stage's own errors
        if Path(run_dir).name == "conv2d_t-basic":
            raise ZeroDivisionError("a bug")
        return real(run_dir, device)

    monkeypatch.setattr(pipeline.submodel, "load_run", bug_in_one_run)
    results, problems = submodel_stage(compose("submodel", [*base, f"target={sweep}"]))
    assert set(results) == {"conv2d-basic", "conv1d_boundary-basic"}
    assert any("run conv3d-basic: no checkpoint.pt" in p for p in problems)
    assert any("run fc_t-basic:" in p and "unreadable checkpoint" in p for p in problems)
    assert any("run conv2_5d-basic: no metrics.json" in p for p in problems)
    assert any("run conv2d_t-basic: failed (ZeroDivisionError: a bug)" in p for p in problems)
    for name, res in results.items():
        on_disk = json.loads((sweep / name / "submodel.json").read_text())
        assert on_disk["eps_zoom"] == res["eps_zoom"] and 0 < on_disk["eps_zoom"]["test"]["u"] < 2
        assert on_disk["trace"]["name"] == "as_predicted" and set(on_disk["by_trace"]) == {"fused"}
        fused = on_disk["by_trace"]["fused"]
        assert (
            "rho=2" in fused["construction"] and 0 < fused["eps_zoom"]["test"]["u"] != on_disk["eps_zoom"]["test"]["u"]
        )
        trained_on = json.loads((sweep / name / "metrics.json").read_text())["data_fingerprint"]
        assert on_disk["data_fingerprint"] == trained_on and len(on_disk["fingerprint"]) == 64
        assert "block_size: 16" in on_disk["config"] and "normaliser: time" in on_disk["config"]
        assert on_disk["timing"]["full_fe_s"] > 0 and on_disk["timing"]["speedup"] > 0
        assert set(np.load(sweep / name / "zoom_example.npz").files) >= {"u_ref", "u_zoom", "t"}
    assert not list(Path(sweep).rglob("*.tmp*"))
    # the primary and the compared construction swap places, figure for figure, under trace=fused
    monkeypatch.setattr(pipeline.submodel, "load_run", real)
    before = results["conv1d_boundary-basic"]
    after = submodel_stage(compose("submodel", [*base, f"target={sweep / 'conv1d_boundary-basic'}", "trace=fused"]))[0]
    after = after["conv1d_boundary-basic"]
    assert after["trace"]["name"] == "fused" and after["eps_zoom"] == before["by_trace"]["fused"]["eps_zoom"]
    assert after["by_trace"]["as_predicted"]["eps_zoom"] == before["eps_zoom"]
