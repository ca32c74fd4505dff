"""Generate the train and test splits: sample- or domain-parallel, resumable, written atomically.

Each split is written to ``<name>.h5.partial``; finished samples are marked ``done`` block by block
(the file is closed between blocks, so a killed run loses only the samples in flight); a re-run with
the same config resumes from the partial file and renames it to ``<name>.h5`` only when complete.
A partial or final file made by another config is refused, naming the keys that differ.

Parallel modes under ``mpirun -n N``: ``samples`` (each rank solves its share of the samples on its
own copy of the mesh; bitwise identical to a serial run) and ``domain`` (one mesh partitioned across
the ranks, for meshes too large for one process). Rank 0 writes in both.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mpi4py import MPI

import numpy as np
import yaml
from tqdm import tqdm

from fe import dataset
from fe.sampling import DESIGN, SPLITS, design
from fe.solver import ParentSolver
from fe.spec import MeshSpec, Physics, Sampling, SolverSpec, check_dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataJob:
    """Everything that decides a dataset, plus how to run it (``solver.block_size``, ``.parallel``)."""

    physics: Physics
    mesh: MeshSpec
    sampling: Sampling
    solver: SolverSpec
    scheme: object


def _flatten(d, prefix: str = "") -> dict:
    if not isinstance(d, dict):
        return {prefix: d}
    out = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def config_diff(old_yaml: str, new_yaml: str) -> list[str]:
    """``key: old -> new`` for every leaf that differs between two YAML configs."""
    old, new = _flatten(yaml.safe_load(old_yaml) or {}), _flatten(yaml.safe_load(new_yaml) or {})
    return [
        f"{k}: {old.get(k, '<absent>')} -> {new.get(k, '<absent>')}"
        for k in sorted(set(old) | set(new))
        if old.get(k) != new.get(k)
    ]


def _refusal(path: Path, attrs: dict, meta: dict) -> str:
    diff = config_diff(attrs.get("config", ""), meta["config"]) or ["(fingerprint differs)"]
    return (
        f"{path} was made by another config; differing keys: {'; '.join(diff[:8])}. Delete it, "
        "or write elsewhere with paths.data_dir=..."
    )


def _prepare(path: Path, partial: Path, meta: dict, params, unit, parent: ParentSolver, split: str):
    """Rank 0: the pending sample indices, or None if the split is already complete."""
    if path.exists():
        attrs = dataset.read_attrs(path)
        if attrs.get("fingerprint") != meta["fingerprint"]:
            raise dataset.DatasetError(_refusal(path, attrs, meta))
        if attrs.get("complete") and attrs["done"].all():
            log.info("%s: complete, same config: nothing to do", path)
            return None
        raise dataset.DatasetError(f"{path}: incomplete file under a final name; delete it")
    if partial.exists():
        try:
            attrs = dataset.read_attrs(partial)
        except dataset.DatasetLocked:
            raise  # another writer is at work on it: never move its file away
        except dataset.DatasetError as err:
            aside = partial.with_name(partial.name + ".corrupt")
            os.replace(partial, aside)
            log.warning("%s; moved to %s and starting this split afresh", err, aside.name)
        else:
            if attrs.get("fingerprint") != meta["fingerprint"]:
                raise dataset.DatasetError(_refusal(partial, attrs, meta))
            pending = np.flatnonzero(~attrs["done"])
            log.info("%s: resuming, %d of %d samples pending", partial, pending.size, attrs["done"].size)
            return pending
    grid, zone = parent.grid, parent.zone
    attrs = {
        **meta,
        "design": DESIGN,
        "split": split,
        "dt": grid.dt,
        "substeps": grid.substeps,
        "dt_crit": parent.dt_crit,
    }
    dataset.create(partial, params, unit, grid.times, zone.nodes, zone.boundary, attrs)
    return np.arange(params.shape[0])


def _solve_guarded(parent: ParentSolver, params: np.ndarray):
    try:
        return parent.solve(params) + (None,)
    except Exception as err:  # reported collectively below, so no rank waits forever
        return None, None, f"{type(err).__name__}: {err}"


def _generate_split(
    job: DataJob,
    parent: ParentSolver,
    comm: MPI.Comm,
    split: str,
    params,
    unit,
    path: Path,
    meta: dict,
    progress: bool,
    on_block: Callable[[str, int], None] | None,
):
    partial = path.with_name(path.name + ".partial")
    status = None
    if comm.rank == 0:
        try:
            status = ("ok", _prepare(path, partial, meta, params, unit, parent, split))
        except dataset.DatasetError as err:
            status = ("error", str(err))
    kind, pending = comm.bcast(status, root=0)
    if kind == "error":
        raise dataset.DatasetError(pending)
    if pending is None:
        return
    n, bs = params.shape[0], job.solver.block_size
    bar = tqdm(
        total=n,
        initial=n - len(pending),
        desc=f"{split:5s}",
        unit="sample",
        disable=not progress or comm.rank != 0,
        dynamic_ncols=True,
    )
    start = time.perf_counter()
    domain = job.solver.parallel == "domain"
    per_round = bs if domain else bs * comm.size
    for r, r0 in enumerate(range(0, len(pending), per_round)):
        mine = pending[r0 : r0 + bs] if domain else pending[r0 + comm.rank * bs : r0 + (comm.rank + 1) * bs]
        u, v, err = _solve_guarded(parent, params[mine]) if (domain or mine.size) else (None, None, None)
        parts = [(mine, u, v, err)] if domain else comm.gather((mine, u, v, err), root=0)
        errors = comm.bcast([p[3] for p in parts if p[3]] if comm.rank == 0 else None, root=0)
        if errors:
            raise RuntimeError(f"{split}: solver failed: {errors[0]}")
        done = [p for p in parts if p[0].size] if comm.rank == 0 else []  # parts is None off rank 0
        if done:  # one open/write/close of the partial file per round
            idx = np.concatenate([p[0] for p in done])
            dataset.write_samples(
                partial, idx, np.concatenate([p[1] for p in done]), np.concatenate([p[2] for p in done])
            )
            bar.update(idx.size)
        if on_block is not None:
            on_block(split, r)
    bar.close()
    if comm.rank == 0:
        dataset.mark_complete(partial)
        os.replace(partial, path)
        log.info(
            "%s: %d samples in %.2f s (%d rank(s), %s-parallel)",
            path,
            len(pending),
            time.perf_counter() - start,
            comm.size,
            job.solver.parallel,
        )
    comm.barrier()


def generate(
    job: DataJob,
    out_dir: str | Path,
    meta: dict,
    comm: MPI.Comm = MPI.COMM_WORLD,
    progress: bool = True,
    on_block: Callable[[str, int], None] | None = None,
) -> dict[str, Path]:
    """Collective. Write ``<out_dir>/{train,test}.h5``; return their paths.

    ``meta`` holds the provenance attributes (``config`` YAML and its ``fingerprint`` at least).
    ``on_block(split, round)`` is called after each block is stored (progress hooks, tests).
    """
    region = check_dataset(job.physics, job.mesh, job.sampling)
    solver_comm = comm if job.solver.parallel == "domain" else MPI.COMM_SELF
    parent = ParentSolver(solver_comm, job.physics, job.mesh, job.solver, job.scheme)
    out_dir = Path(out_dir)
    if comm.rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
    comm.barrier()
    paths = {}
    for split, (params, unit) in design(job.sampling, region).items():
        paths[split] = out_dir / f"{split}.h5"
        _generate_split(job, parent, comm, split, params, unit, paths[split], meta, progress, on_block)
    return paths


__all__ = ["DataJob", "SPLITS", "config_diff", "generate"]
