"""Latin hypercube design of p = (omega, xs, ys[, zs]) with the source outside the zone of interest.

The source must lie in an admissible set A = box \\ hole (the source range minus the zone grown by a
margin), which is not a box, so LHS cannot be applied to the position directly. We draw an LHS in the
unit cube (u0, u1, .., ud) and map (u1, .., ud) to A by its Rosenblatt transform: u1 through the
inverse CDF of the x-marginal of the uniform law on A (piecewise linear), u2 through the inverse
conditional CDF of y given x, and in 3D u3 through that of z given (x, y) (uniform on one or two
intervals). The map is a bijection onto A that carries the uniform law to the uniform law on A and
keeps LHS's stratification of the x-marginal; nothing is rejected, so the design is deterministic for
a given seed. In 2D this is bit for bit the design of earlier versions (same datasets).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from fe.spec import Sampling, SourceRegion

DESIGN = (
    "LHS (scipy.stats.qmc.LatinHypercube, d=1+dim) in the unit cube (u0, u1, .., ud); omega = lo + u0 (hi - lo); "
    "the source position = Rosenblatt transform of (u1, .., ud) onto the uniform law on the admissible set "
    "(source box minus the zone grown by margin_zone)"
)
SPLITS = ("train", "test")


def _knots(lo: float, hi: float, h0: float, h1: float, cut: np.ndarray) -> np.ndarray:
    """(n, 4) segment ends along one axis: [lo, h0, h1, hi] (the hole's range clipped to the box)
    where the hole cuts this slice, else [lo, hi, hi, hi] (one segment)."""
    a = np.where(cut, np.clip(h0, lo, hi), hi)
    b = np.where(cut, np.clip(h1, lo, hi), hi)
    return np.stack([np.full(cut.shape, lo), a, b, np.full(cut.shape, hi)], axis=1)


def _masses(box, hole, cut: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Along ``axis`` of the slice ``axis..dim-1`` (the hole present where ``cut``): knots (n, 4), the
    measure (n, 3) of each segment's cross-section (the density of the marginal there) and the
    segment's mass. The middle segment keeps the hole in its cross-section; the outer ones do not."""
    knots = _knots(*box[axis], *hole[axis], cut)
    if axis == len(box) - 1:
        sub = np.stack([np.ones(cut.shape), np.where(cut, 0.0, 1.0), np.ones(cut.shape)], axis=1)
    else:
        whole = _masses(box, hole, np.zeros_like(cut), axis + 1)[2].sum(axis=1)
        holed = _masses(box, hole, cut, axis + 1)[2].sum(axis=1)
        sub = np.stack([whole, holed, whole], axis=1)
    return knots, sub, sub * np.diff(knots, axis=1)


def to_region(region: SourceRegion, unit: np.ndarray) -> np.ndarray:
    """Map unit-cube points (n, dim) to the uniform law on the admissible set: (n, dim) positions.

    Axis by axis (the Rosenblatt transform): each coordinate through the inverse CDF of its marginal
    given the ones before, piecewise linear over at most three segments (before, across, after the
    hole's range); below, the hole is present only in slices that cross it."""
    box, hole = region.bounds("box"), region.bounds("hole")
    n, dim = unit.shape
    cut = np.ones(n, dtype=bool)
    out = np.empty((n, dim))
    rows = np.arange(n)
    for axis in range(dim):
        knots, height, mass = _masses(box, hole, cut, axis)
        cdf = np.concatenate([np.zeros((n, 1)), np.cumsum(mass, axis=1)], axis=1)
        s = unit[:, axis] * cdf[:, -1]
        seg = np.clip((cdf <= s[:, None]).sum(axis=1) - 1, 0, 2)
        seg = np.where(mass[rows, seg] > 0, seg, np.argmax(mass > 0, axis=1))
        x = knots[rows, seg] + (s - cdf[rows, seg]) / height[rows, seg]
        out[:, axis] = x
        cut = cut & (x > hole[axis][0]) & (x < hole[axis][1])
    return out


def design(sampling: Sampling, region: SourceRegion) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per split: (params (N, 3) as (omega, xs, ys), unit LHS points (N, 3)). Deterministic in the seed;
    the splits use independent child seeds of ``sampling.seed``."""
    seeds = np.random.SeedSequence(sampling.seed).spawn(len(SPLITS))
    out = {}
    for split, seq, n in zip(SPLITS, seeds, (sampling.n_train, sampling.n_test), strict=True):
        unit = qmc.LatinHypercube(d=1 + region.dim, rng=np.random.default_rng(seq)).random(n)
        lo, hi = sampling.omega
        out[split] = (np.column_stack([lo + unit[:, 0] * (hi - lo), to_region(region, unit[:, 1:])]), unit)
    return out
