"""What the submodel stage and the baselines share: a dataset's FE models, and one "zoom" of a split.

A zoom takes a surrogate's prediction of a split (full fields on Omega' or traces on its boundary
loop), drives the FE model of Omega' alone with the traces, and returns the re-solved zone fields.
Networks (``pipeline.submodel``) and non-neural baselines (``pipeline.baselines``) go through the
same code, so their errors after zoom are comparable.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mpi4py import MPI

import numpy as np
from omegaconf import OmegaConf

from fe import dataset
from fe.solver import ParentSolver
from fe.submodel import Submodel
from fe.timestepping import TimeGrid
from pipeline.datajob import data_job
from pipeline.runs import load_splits
from surrogate.metrics import ErrorSpec, epsilon
from surrogate.targets import Target

log = logging.getLogger(__name__)
INTERPOLATION = "cubic Hermite in time between snapshots, from the predicted u and v on the loop"


def interior(fields: np.ndarray) -> np.ndarray:
    """The zone's interior nodes of fields (N, NT, *zone): every spatial axis without its two ends."""
    return fields[(slice(None), slice(None), *[slice(1, -1)] * (fields.ndim - 2))]


class DataContext:
    """A dataset shared by the runs trained on it: its splits, its FE models (rebuilt from the config
    it records) and the full FE solve time of its test split, each made once per sweep."""

    def __init__(self, root: Path, splits: dict[str, dataset.Dataset] | None = None):
        self.root = root
        self.splits = splits or dict(zip(("train", "test"), load_splits(root), strict=True))
        test = self.splits["test"]
        self.job = data_job(OmegaConf.create(test.attrs["config"]))
        self.grid = TimeGrid(self.job.physics.t_final, test.t.size, int(test.attrs["substeps"]))
        self.submodel = Submodel(MPI.COMM_SELF, self.job.physics, self.job.mesh, self.grid, self.job.scheme)
        self._full_fe_s: dict[str, float] = {}

    def full_fe_seconds(self, block: int, scheme=None) -> float:
        """Solve time of the full FE model on the test samples, with the dataset's own time scheme or
        with ``scheme`` (another parent a user could run instead); measured once per scheme."""
        key = "" if scheme is None else repr(scheme)
        if key not in self._full_fe_s:
            scheme = self.job.scheme if scheme is None else scheme
            parent = ParentSolver(MPI.COMM_SELF, self.job.physics, self.job.mesh, self.job.solver, scheme)
            params = self.splits["test"].params
            n_blocks = -(-params.shape[0] // block)
            for k, sl in enumerate(blocks(params.shape[0], block)):
                parent.solve(params[sl])  # an implicit parent of ~1e6 nodes takes minutes per block
                log.info(
                    "%s: parent %r, block %d/%d timed (%.1f s so far)",
                    self.root.name,
                    scheme,
                    k + 1,
                    n_blocks,
                    parent.solve_seconds,
                )
            self._full_fe_s[key] = parent.solve_seconds
        return self._full_fe_s[key]


def blocks(n: int, size: int):
    for b0 in range(0, n, size):
        yield slice(b0, min(n, b0 + size))


def zoom_split(
    pred_u: np.ndarray, pred_v: np.ndarray, target: Target, ds: dataset.Dataset, sub: Submodel, block: int
) -> dict:
    """Drive the FE model of Omega' with the boundary traces of a split's prediction of ``target``;
    return the traces, the re-solved zone fields and the submodel's solve time."""
    trace_u, trace_v = (target.trace(p, ds.boundary_index) for p in (pred_u, pred_v))
    sub.solve_seconds = 0.0
    zu, zv = np.empty_like(ds.u), np.empty_like(ds.v)
    for sl in blocks(ds.params.shape[0], block):
        zu[sl], zv[sl] = sub.solve(ds.t, trace_u[sl], trace_v[sl])
    return {
        "trace_u": trace_u,
        "trace_v": trace_v,
        "zoom_u": zu,
        "zoom_v": zv,
        "submodel_s": sub.solve_seconds,
    }


def zoom_errors(res: dict, ds: dataset.Dataset, spec: ErrorSpec) -> dict:
    """eps after zoom (whole zone, interior nodes, eps(t)) and of the trace alone, for u and v."""
    zoom = {f: epsilon(res[f"zoom_{f}"], getattr(ds, f), spec) for f in ("u", "v")}
    return {
        "eps_zoom": {f: zoom[f]["eps"] for f in ("u", "v")},
        "eps_zoom_t": {f: zoom[f]["eps_t"] for f in ("u", "v")},
        "eps_zoom_interior": {
            f: epsilon(interior(res[f"zoom_{f}"]), interior(getattr(ds, f)), spec)["eps"] for f in ("u", "v")
        },
        "eps_trace": {
            "u": epsilon(res["trace_u"], ds.boundary_u, spec)["eps"],
            "v": epsilon(res["trace_v"], ds.boundary_v, spec)["eps"],
        },
    }
