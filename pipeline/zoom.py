"""What the submodel stage and the baselines share: a dataset's FE models, and one "zoom" of a split.

A zoom takes a surrogate's prediction of a split (full fields on Omega' or traces on its boundary
loop), makes boundary data of the traces with a trace construction (``fe.trace``, built by
``Traces`` from ``conf/trace/``), drives the FE model of Omega' alone with them, and returns the
re-solved zone fields.
Networks (``pipeline.submodel``) and non-neural baselines (``pipeline.baselines``) go through the
same code, so their errors after zoom are comparable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from mpi4py import MPI

import numpy as np
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from fe.solver import ParentSolver
from fe.submodel import Submodel
from fe.timestepping import TimeGrid
from fe.trace import AsPredicted
from pipeline.artefacts import ConfigError
from pipeline.config import instantiate
from pipeline.datajob import data_job
from pipeline.runs import load_splits
from surrogate.metrics import ErrorSpec, epsilon
from surrogate.targets import Target

log = logging.getLogger(__name__)
INTERPOLATION = "cubic Hermite in time between snapshots of the boundary trace"


class Traces:
    """The trace constructions of a ``trace`` config node (``conf/trace/``): the primary one, which
    gives eps_zoom, and those scored beside it (``by_trace``), each built from its ``_target_``; one
    that cannot be built is a ConfigError naming its key, before any work."""

    def __init__(self, node: DictConfig):
        self.name = str(node.name)
        self.primary = self._build(node.primary, "trace.primary")
        self.compare = {str(k): self._build(v, f"trace.compare.{k}") for k, v in node.compare.items()}

    @staticmethod
    def _build(node: DictConfig, key: str):
        built = instantiate(node, key)
        if not callable(built):
            raise ConfigError(f"{key}: {built!r} is not a trace construction (a callable (times, u, v) -> (u, v))")
        return built

    def describe(self) -> dict:
        return {"name": self.name, "construction": repr(self.primary)}

    def score_others(
        self, zoom: Callable[..., dict], ds: dataset.Dataset, spec: ErrorSpec, split: str, by_trace: dict
    ) -> None:
        """Into ``by_trace[name]`` (submodel.json, baselines.json), eps after zoom and of the trace
        for ``split`` under each construction of ``compare``; ``zoom(trace=...)`` is ``zoom_split``
        with the split's prediction bound (``functools.partial``)."""
        for name, trace in self.compare.items():
            errors = zoom_errors(zoom(trace=trace), ds, spec)
            node = by_trace.setdefault(name, {"construction": repr(trace)})
            for key in ("eps_zoom", "eps_trace"):
                node.setdefault(key, {})[split] = errors[key]


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
    pred_u: np.ndarray,
    pred_v: np.ndarray,
    target: Target,
    ds: dataset.Dataset,
    sub: Submodel,
    block: int,
    trace: Callable | None = None,
) -> dict:
    """Drive the FE model of Omega' with the boundary traces of a split's prediction of ``target``,
    made boundary data by ``trace`` (``fe.trace``); return the traces, the re-solved zone fields and
    the submodel's solve time."""
    trace = AsPredicted() if trace is None else trace
    trace_u, trace_v = trace(ds.t, *(target.trace(p, ds.boundary_index) for p in (pred_u, pred_v)))
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
