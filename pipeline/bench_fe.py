"""FE benchmark: batched block solver vs a tutorial-style loop, bandwidth, and the paper preset.

All figures are measured in the same run on the same mesh (the paper preset's 128^2 cells):

* sample-steps per second of the batched explicit solver (``ParentSolver.solve`` on a block, zone
  snapshots included) and of a tutorial-style loop (one sample at a time; every step assembles the
  right-hand side form and calls a KSP solve with the factorised mass matrix);
* the bytes per second that the batched update moves at minimum (the step operator once, u^n read,
  u^{n+1} read and written) against a memory bandwidth measured by a numpy copy of a large array;
* the wall time and the solver time of generating the whole paper preset.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mpi4py import MPI

import dolfinx_solver  # noqa: F401  (must precede dolfinx)
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem import petsc as fem_petsc
from petsc4py import PETSc

from fe.sampling import design
from fe.solver import ParentSolver
from fe.source import point_weights
from fe.spec import check_dataset
from pipeline.config import compose
from pipeline.data import run
from pipeline.datajob import data_job


def _tutorial_steps_per_second(parent: ParentSolver, params: np.ndarray, n_steps: int) -> float:
    """One sample; each step: assemble the RHS form, add the point load, lift the BC, KSP solve."""
    disc, c = parent.disc, parent.physics.c
    V = disc.V
    dt = parent.grid.dt / np.sqrt(3.0)  # consistent-mass explicit stability; only the cost is measured
    u_n, u_nm1, u_new = fem.Function(V), fem.Function(V), fem.Function(V)
    w, u = ufl.TestFunction(V), ufl.TrialFunction(V)
    k = fem.Constant(disc.mesh, PETSc.ScalarType(dt * dt * c * c))
    rhs = fem.form((2 * u_n - u_nm1) * w * ufl.dx - k * ufl.inner(ufl.grad(u_n), ufl.grad(w)) * ufl.dx)
    bc = fem.dirichletbc(PETSc.ScalarType(0.0), disc.space_dofs(disc.boundary_dofs), V)
    M = fem_petsc.assemble_matrix(fem.form(u * w * ufl.dx), bcs=[bc])
    M.assemble()
    ksp = PETSc.KSP().create(disc.comm)
    ksp.setOperators(M)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    rows, _, vals = point_weights(disc, params[None, 1:3])
    b = fem_petsc.create_vector(V)
    start = time.perf_counter()
    for n in range(n_steps):
        with b.localForm() as loc:
            loc.set(0.0)
        fem_petsc.assemble_vector(b, rhs)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        b.array[rows] += dt * dt * c * c * vals * np.sin(params[0] * n * dt)
        fem_petsc.set_bc(b, [bc])
        ksp.solve(b, u_new.x.petsc_vec)
        u_new.x.scatter_forward()
        u_nm1.x.array[:] = u_n.x.array
        u_n.x.array[:] = u_new.x.array
    return n_steps / (time.perf_counter() - start)


def _copy_bandwidth(n_bytes: int = 1 << 29, repeats: int = 5) -> float:
    """Bytes/s of ``np.copyto`` (read + write) on arrays far larger than the caches; best of N."""
    src = np.ones(n_bytes // 8)
    dst = np.zeros_like(src)
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def _kernel_bytes_per_second(parent: ParentSolver, params: np.ndarray, n_steps: int) -> tuple[float, float]:
    """(sample-steps/s, minimum bytes/s) of the bare batched update, best of three runs."""
    disc, b = parent.disc, params.shape[0]
    from fe.source import point_sources

    stepper = parent.scheme.stepper(
        disc,
        parent.physics.c,
        parent.grid.dt,
        b,
        disc.boundary_dofs,
        point_sources(disc, params),
        record=parent.zone_dofs,
    )
    op = stepper.step_operator
    moved = op.data.nbytes + op.indices.nbytes + op.indptr.nbytes + 3 * disc.n_owned * b * 8
    best = np.inf
    for _ in range(3):
        stepper.start()
        start = time.perf_counter()
        for _ in range(n_steps):
            stepper.step()
        best = min(best, time.perf_counter() - start)
    return n_steps * b / best, moved * n_steps / best


def bench(block: int = 16, tutorial_steps: int = 150, kernel_steps: int = 400) -> dict[str, float]:
    """Measure everything on the paper preset's mesh; return the figures."""
    cfg = compose("data", ["dataset=paper", "progress=false"])
    job = data_job(cfg)
    parent = ParentSolver(MPI.COMM_SELF, job.physics, job.mesh, job.solver, job.scheme)
    params, _ = design(job.sampling, check_dataset(job.physics, job.mesh, job.sampling))["train"]
    out: dict[str, float] = {"dofs": parent.disc.n_owned, "block": block}

    parent.solve(params[:block])  # warm-up (caches, first-touch pages)
    start = time.perf_counter()
    parent.solve(params[:block])
    out["batched_sample_steps_per_s"] = block * parent.grid.n_steps / (time.perf_counter() - start)
    out["tutorial_sample_steps_per_s"] = _tutorial_steps_per_second(parent, params[0], tutorial_steps)
    out["speedup_vs_tutorial"] = out["batched_sample_steps_per_s"] / out["tutorial_sample_steps_per_s"]
    out["kernel_sample_steps_per_s"], out["kernel_bytes_per_s"] = _kernel_bytes_per_second(
        parent, params[:block], kernel_steps
    )
    out["copy_bandwidth_bytes_per_s"] = _copy_bandwidth()
    out["bandwidth_fraction"] = out["kernel_bytes_per_s"] / out["copy_bandwidth_bytes_per_s"]

    with tempfile.TemporaryDirectory() as tmp:
        gen_cfg = compose(
            "data",
            [
                "dataset=paper",
                "progress=false",
                f"paths.data_dir={tmp}",
                f"paths.output_dir={Path(tmp) / 'out'}",
            ],
        )
        solved = []
        start = time.perf_counter()
        run(gen_cfg, on_block=lambda split, r: solved.append(split))
        out["paper_wall_s"] = time.perf_counter() - start
        out["paper_samples"] = gen_cfg.sampling.n_train + gen_cfg.sampling.n_test
    # the solver time of a full paper preset, measured without the HDF5 writes
    timer = ParentSolver(MPI.COMM_SELF, job.physics, job.mesh, job.solver, job.scheme)
    all_params = np.vstack(
        [p for p, _ in design(job.sampling, check_dataset(job.physics, job.mesh, job.sampling)).values()]
    )
    for k in range(0, all_params.shape[0], job.solver.block_size):
        timer.solve(all_params[k : k + job.solver.block_size])
    out["paper_solver_s"] = timer.solve_seconds
    return out


TARGETS = {
    "speedup_vs_tutorial": (">=", 30.0),
    "bandwidth_fraction": (">=", 0.5),
    "paper_solver_s": ("<=", 10.0),
}


def report(out: dict[str, float]) -> str:
    """The figures as a Markdown table with the targets checked."""
    mb = 1e-9
    lines = [
        f"FE solver on the paper preset mesh ({int(out['dofs'])} dofs, P1, explicit, block of "
        f"{int(out['block'])} samples, serial):",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| batched solver (zone snapshots incl.) | {out['batched_sample_steps_per_s']:,.0f} sample-steps/s | |",
        f"| tutorial loop (assemble + KSP solve per step) | {out['tutorial_sample_steps_per_s']:,.0f} "
        "sample-steps/s | |",
        f"| speed-up batched / tutorial | {out['speedup_vs_tutorial']:.1f}x | >= 30x |",
        f"| batched update, minimum traffic | {out['kernel_bytes_per_s'] * mb:.2f} GB/s | |",
        f"| numpy copy of 512 MiB (read + write) | {out['copy_bandwidth_bytes_per_s'] * mb:.2f} GB/s | |",
        f"| fraction of measured bandwidth | {100 * out['bandwidth_fraction']:.0f}% | >= 50% |",
        f"| paper preset ({int(out['paper_samples'])} samples): solver time | {out['paper_solver_s']:.2f} s "
        "| <= 10 s |",
        f"| paper preset: wall time incl. HDF5 writes | {out['paper_wall_s']:.2f} s | |",
    ]
    verdicts = []
    for key, (op, target) in TARGETS.items():
        ok = out[key] >= target if op == ">=" else out[key] <= target
        verdicts.append(f"{key} {op} {target}: {'PASS' if ok else 'FAIL'}")
    return "\n".join(lines + ["", "; ".join(verdicts)])
