"""Latin hypercube design of p = (omega, xs, ys) with the source outside the zone of interest.

The source must lie in an admissible set A = box \\ hole (the source range minus the zone grown by a
margin), which is not a box, so LHS cannot be applied to (xs, ys) directly. We draw an LHS in the
unit cube (u0, u1, u2) and map (u1, u2) to A by its Rosenblatt transform: u1 through the inverse CDF
of the x-marginal of the uniform law on A (piecewise linear), u2 through the inverse conditional CDF
of y given x (uniform on one or two intervals). The map is a bijection onto A that carries the uniform
law to the uniform law on A and keeps LHS's stratification of the x-marginal; nothing is rejected,
so the design is deterministic for a given seed.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from fe.spec import Sampling, SourceRegion

DESIGN = (
    "LHS (scipy.stats.qmc.LatinHypercube, d=3) in the unit cube (u0, u1, u2); omega = lo + u0 (hi - lo); "
    "(xs, ys) = Rosenblatt transform of (u1, u2) onto the uniform law on the admissible set "
    "(source box minus the zone grown by margin_zone)"
)
SPLITS = ("train", "test")


def _y_intervals(region: SourceRegion, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each x: admissible y as [y0, a) U [b, y1) (a == b when the hole does not cut this x)."""
    x0, x1, y0, y1 = region.box
    hx0, hx1, hy0, hy1 = region.hole
    cut = (x > hx0) & (x < hx1)
    a = np.where(cut, np.clip(hy0, y0, y1), y1)
    b = np.where(cut, np.clip(hy1, y0, y1), y1)
    return a, b, cut


def to_region(region: SourceRegion, u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """Map unit-square points to the uniform law on the admissible set: (n, 2) positions."""
    x0, x1, y0, y1 = region.box
    hx0, hx1 = np.clip(region.hole[0], x0, x1), np.clip(region.hole[1], x0, x1)
    knots = np.array([x0, hx0, hx1, x1])
    mids = 0.5 * (knots[:-1] + knots[1:])
    a, b, _ = _y_intervals(region, mids)
    height = (a - y0) + (y1 - b)
    mass = height * np.diff(knots)
    cdf = np.concatenate([[0.0], np.cumsum(mass)])
    s = u1 * cdf[-1]
    seg = np.clip(np.searchsorted(cdf, s, side="right") - 1, 0, 2)
    seg = np.where(mass[seg] > 0, seg, np.argmax(mass > 0))
    x = knots[seg] + (s - cdf[seg]) / height[seg]
    ya, yb, _ = _y_intervals(region, x)
    lower = ya - y0
    t = u2 * (lower + (y1 - yb))
    y = np.where(t < lower, y0 + t, yb + (t - lower))
    return np.stack([x, y], axis=1)


def design(sampling: Sampling, region: SourceRegion) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split: (params (N, 3) as (omega, xs, ys), unit LHS points (N, 3)). Deterministic in the seed;
    the splits use independent child seeds of ``sampling.seed``."""
    seeds = np.random.SeedSequence(sampling.seed).spawn(len(SPLITS))
    out = {}
    for split, seq, n in zip(SPLITS, seeds, (sampling.n_train, sampling.n_test), strict=True):
        unit = qmc.LatinHypercube(d=3, rng=np.random.default_rng(seq)).random(n)
        lo, hi = sampling.omega
        xy = to_region(region, unit[:, 1], unit[:, 2])
        out[split] = (np.column_stack([lo + unit[:, 0] * (hi - lo), xy]), unit)
    return out
