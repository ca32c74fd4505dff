"""The paper's relative error epsilon (eq. 22-23), with a defined treatment of silent times.

    eps(M, p, t) = mean_x |M(p)(t, x) - U(p)(t, x)| / max_x |U(p)(t, x)|

divides by zero before the wave reaches Omega'. Two normalisers are offered, applied identically to
every error this project reports (full field, boundary trace, after zoom):

* ``time`` (default, the paper's formula): only *active* times enter, those where
  ``max_x |U(p)(t)| >= active_threshold * max_{t,x} |U(p)|``; eps is the mean over the active
  (p, t) pairs.
* ``sample``: ``max_x |U(p)(t)|`` is replaced by the sample's peak ``max_{t,x} |U(p)|``, defined at
  every time; eps is the mean over all (p, t).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

NORMALISERS = ("time", "sample")


@dataclass(frozen=True)
class ErrorSpec:
    normaliser: str = "time"
    active_threshold: float = 0.05

    def __post_init__(self):
        if self.normaliser not in NORMALISERS:
            raise ValueError(f"metrics.normaliser={self.normaliser!r}: allowed {NORMALISERS}")
        a = self.active_threshold
        if isinstance(a, bool) or not isinstance(a, int | float) or not 0 <= a < 1:
            raise ValueError(f"metrics.active_threshold={a!r}: must be a number >= 0 and < 1")

    def caption(self) -> str:
        if self.normaliser == "time":
            return (
                f"eps = mean over (p, t) of mean_x|M - U| / max_x|U(p)(t)|, over the times where "
                f"max_x|U(p)(t)| >= {self.active_threshold:g} max_(t,x)|U(p)| (the wave has arrived)"
            )
        return "eps = mean over (p, t) of mean_x|M - U| / max_(t,x)|U(p)| (per-sample normaliser)"


def epsilon_pt(pred: np.ndarray, ref: np.ndarray, spec: ErrorSpec) -> tuple[np.ndarray, np.ndarray]:
    """eps(p, t) and the mask of (p, t) pairs that count, for arrays (N, NT, *space)."""
    axes = tuple(range(2, ref.ndim))
    num = np.abs(pred - ref).mean(axis=axes)
    peak_t = np.abs(ref).max(axis=axes)
    peak = peak_t.max(axis=1, keepdims=True)
    if spec.normaliser == "time":
        active = (peak_t >= spec.active_threshold * peak) & (peak_t > 0)
        den = np.where(active, peak_t, 1.0)
    else:
        active = np.broadcast_to(peak > 0, peak_t.shape)
        den = np.where(peak > 0, peak, 1.0)
    return num / den, active


def epsilon(pred: np.ndarray, ref: np.ndarray, spec: ErrorSpec) -> dict:
    """eps over a split (eq. 23 averaged over the active times) and its curve eps(t)."""
    eps, active = epsilon_pt(pred, ref, spec)
    counts = active.sum(axis=0)
    curve = (eps * active).sum(axis=0) / np.maximum(counts, 1)
    # eps(t) is undefined (null in JSON) at times when no sample is active
    eps_t = [float(c) if n > 0 else None for c, n in zip(curve, counts, strict=True)]
    return {"eps": float((eps * active).sum() / max(int(active.sum()), 1)), "eps_t": eps_t}


# A prediction whose spread over p is below this fraction of the data's is one field for every p: a
# network whose units all saturated (lr too high for it), not a fit.
COLLAPSED = 1e-2


def spread(pred: np.ndarray, ref: np.ndarray) -> float:
    """How much the prediction varies with p, relative to the data: ||pred - mean_p pred|| / ||ref -
    mean_p ref|| over a split (N, NT, *space). 0: the same field for every sample (a collapsed network)."""
    den = float(np.linalg.norm(ref - ref.mean(axis=0)))
    return float(np.linalg.norm(pred - pred.mean(axis=0))) / den if den > 0 else 0.0


def inside_hull(design: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which ``points`` (M, d) lie in the convex hull of the ``design`` (N, d): where a surrogate over
    p interpolates rather than extrapolates. One feasibility LP per point (convex weights of the design
    points that reproduce it), so a flat or degenerate design needs no special case; parameters are
    scaled by the design's spread first (membership is affine-invariant, the LP's tolerances are not)."""
    design, points = np.atleast_2d(np.asarray(design, float)), np.atleast_2d(np.asarray(points, float))
    if design.shape[1] != points.shape[1]:
        raise ValueError(f"design has {design.shape[1]} parameters, the points {points.shape[1]}")
    lo, span = design.min(axis=0), np.ptp(design, axis=0)
    span = np.where(span > 0, span, 1.0)
    d, q = (design - lo) / span, (points - lo) / span
    n = d.shape[0]
    a_eq = np.vstack([d.T, np.ones((1, n))])
    return np.array(
        [
            linprog(np.zeros(n), A_eq=a_eq, b_eq=np.append(x, 1.0), bounds=(0, None), method="highs").status == 0
            for x in q
        ],
        dtype=bool,
    )


def epsilon_per_sample(pred: np.ndarray, ref: np.ndarray, spec: ErrorSpec) -> np.ndarray:
    """eps of each sample alone (N,): the mean of eps(p, t) over that sample's active times (NaN when it
    has none); where a split's error comes from, sample by sample."""
    eps, active = epsilon_pt(pred, ref, spec)
    counts = active.sum(axis=1)
    return np.where(counts > 0, (eps * active).sum(axis=1) / np.maximum(counts, 1), np.nan)


def epsilon_where(pred: np.ndarray, ref: np.ndarray, mask: np.ndarray, spec: ErrorSpec) -> float | None:
    """eps over the samples selected by ``mask`` (None when it selects none); the totals of two
    complementary masks, weighted by their active (p, t) counts, give eps over the split."""
    mask = np.asarray(mask, dtype=bool)
    return epsilon(pred[mask], ref[mask], spec)["eps"] if mask.any() else None
