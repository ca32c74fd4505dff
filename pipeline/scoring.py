"""How a split's prediction is scored, the same for networks (``train``) and baselines; the baselines
fitted as the baselines stage fits them."""

from __future__ import annotations

import time

import hydra
import numpy as np
from omegaconf import DictConfig

from fe import dataset
from surrogate.baselines import Baseline
from surrogate.losses import euler_residual_series
from surrogate.metrics import ErrorSpec, epsilon, spread
from surrogate.targets import Target

SCORES = ("eps", "eps_t", "eps_by_normaliser", "eps_boundary", "spread")


def score_split(
    u_hat: np.ndarray, v_hat: np.ndarray, ds: dataset.Dataset, target: Target, spec: ErrorSpec, v_sigma: float
) -> dict:
    """What is recorded of one split's prediction (a network's or a baseline's): eps and eps(t) under
    ``spec``, eps under both normalisers, eps of the boundary trace it would hand to the submodel,
    the prediction's spread over p relative to the data's (0: one field for every p), and the
    trapezoidal Euler residual / sigma_v^2."""
    other = ErrorSpec("sample") if spec.normaliser == "time" else ErrorSpec("time", spec.active_threshold)
    out: dict = {key: {} for key in SCORES}
    for f, pred, ref in zip(("u", "v"), (u_hat, v_hat), target.arrays(ds), strict=True):
        e = epsilon(pred, ref, spec)
        out["eps"][f], out["eps_t"][f] = e["eps"], e["eps_t"]
        out["eps_by_normaliser"][f] = {spec.normaliser: e["eps"], other.normaliser: epsilon(pred, ref, other)["eps"]}
        trace = target.trace(pred, ds.boundary_index)
        out["eps_boundary"][f] = epsilon(trace, getattr(ds, f"boundary_{f}"), spec)["eps"]
        out["spread"][f] = spread(pred, ref)
    out["euler_residual"] = euler_residual_series(u_hat, v_hat, float(ds.t[1] - ds.t[0]), v_sigma)
    return out


class FittedPair:
    """One baseline fitted to u and one to v (the same method, its own copy per field)."""

    def __init__(self, cfg: DictConfig, train: dataset.Dataset):
        self.u: Baseline = hydra.utils.instantiate(cfg)
        self.v: Baseline = hydra.utils.instantiate(cfg)
        start = time.perf_counter()
        self.u.fit(train.params, train.u)
        self.v.fit(train.params, train.v)
        self.fit_seconds = time.perf_counter() - start
        self.label = self.u.label
        self.n_fitted = int(train.params.shape[0])  # the samples it was fitted to (images or folds included)

    def predict(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.u.predict(params), self.v.predict(params)


def fit_correction(fix, fitted: tuple[np.ndarray, np.ndarray], target: Target, train) -> None:
    """Fit ``fix`` (``correction``: surrogate.correction.ResidualRBF) to the residual of a run's
    predictions ``fitted`` on the training split ``train``, as every stage refits it."""
    fix.fit(train.params, *(ref - p for ref, p in zip(target.arrays(train), fitted, strict=True)))
