"""Mirror images of a dataset's samples: training data for free from the problem's symmetry.

Omega is a box centred on the origin, Omega' too, the wave speed is uniform and the boundary condition
the same on every side, so the field of a source at (xs, -ys) is the field of the source at (xs, ys)
reflected across y = 0 (likewise for x, and z in 3D). Two ways to use it: :func:`mirrored` extends a
dataset by these images (twice the samples per mirrored axis at no FE cost); :func:`folded` maps every
sample into the half space ys >= 0 instead (same sample count), and :func:`unfold` reflects what a
surrogate of that half predicts back to the asked source, which makes the surrogate exactly symmetric.

The images are exact for the PDE, not for its discretization: the mesh's diagonals
(fe/discretization.py) are not symmetric, so an image differs from the solved field of the mirrored
source by the difference of two discretization errors (measured on the `small` preset across y: 0.05%
of eps on u, 0.3% on v; README, "The mirror symmetry").

Only numpy and the Dataset contract here: the surrogate stage uses it without DOLFINx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from fe.dataset import Dataset, DatasetError

AXES = ("x", "y", "z")


def check_axes(axes: Sequence[str], dim: int | None = None, key: str = "mirror") -> list[str]:
    """The axes as a list, refused with a one-line error naming ``key`` when not distinct axes of a
    ``dim``-D zone (None: of any zone, x, y or z)."""
    allowed = list(AXES[: dim or len(AXES)])
    axes = list(axes)
    if any(a not in allowed for a in axes) or len(set(axes)) != len(axes):
        zone = f"the {dim}D zone" if dim else "the zone"
        raise DatasetError(
            f"{key}={axes}: must be distinct axes of {zone}, each one of {allowed} (e.g. [y]); [] for no mirror images"
        )
    return axes


def mirrored(ds: Dataset, axes: Sequence[str]) -> Dataset:
    """``ds`` followed by the mirror images of its samples across the plane ``a = 0`` of each axis in
    ``axes``, and across their compositions (2^k times the samples for k axes). Images whose source
    coincides with a sample already there (a source on the mirror plane) are left out, so that an
    interpolation over p never sees the same point twice."""
    axes = _symmetric_axes(ds, axes)
    out = ds
    for axis in axes:
        k = AXES.index(axis)
        params = out.params.copy()
        params[:, 1 + k] *= -1.0  # p = (omega, xs, ys[, zs])
        new = _new_points(out.params, params)
        flip = -1 - k  # fields are (N, NT, [D,] H, W): x the last axis, y the one before, z before that
        out = replace(
            out,
            params=np.concatenate([out.params, params[new]]),
            u=np.concatenate([out.u, np.flip(out.u[new], flip)]),
            v=np.concatenate([out.v, np.flip(out.v[new], flip)]),
        )
    return out


def folded(ds: Dataset, axes: Sequence[str]) -> Dataset:
    """``ds`` with every sample whose source lies at a negative coordinate of an axis in ``axes``
    replaced by its mirror image across that axis: the same samples, all in the half space
    ``a >= 0`` of each axis (a surrogate fitted to them answers elsewhere through :func:`unfold`)."""
    axes = _symmetric_axes(ds, axes)
    params, flips = fold_params(ds.params, axes)
    return replace(ds, params=params, u=unfold(ds.u, flips, axes), v=unfold(ds.v, flips, axes))


def fold_params(params: np.ndarray, axes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Parameters (N, 1 + dim) with each source coordinate of ``axes`` made >= 0, and the (N, len(axes))
    mask of those negated (the samples whose fields :func:`unfold` must reflect)."""
    params = np.array(params, dtype=float, copy=True)
    cols = [1 + AXES.index(a) for a in check_axes(axes)]  # p = (omega, xs, ys[, zs])
    flips = params[:, cols] < 0.0
    params[:, cols] = np.abs(params[:, cols])
    return params, flips


def unfold(fields: np.ndarray, flips: np.ndarray, axes: Sequence[str]) -> np.ndarray:
    """Fields (N, NT, [D,] H, W) with sample n reflected across each axis j of ``axes`` where
    ``flips[n, j]``: the fields of the sources :func:`fold_params` folded, from those of their images
    (a reflection is its own inverse, so this also folds fields)."""
    out = np.array(fields, copy=True)
    for j, axis in enumerate(check_axes(axes)):
        flip = -1 - AXES.index(axis)  # x the last axis, y the one before, z before that
        rows = np.flatnonzero(flips[:, j])
        out[rows] = np.flip(out[rows], flip)
    return out


def _symmetric_axes(ds: Dataset, axes: Sequence[str]) -> list[str]:
    """``axes`` checked against ``ds``: zone axes whose nodes are symmetric about 0."""
    axes = check_axes(axes, ds.dim)
    for axis in axes:
        nodes = getattr(ds, axis)
        if not np.allclose(nodes, -nodes[::-1], rtol=0.0, atol=1e-9 * float(np.abs(nodes).max())):
            raise DatasetError(
                f"mirror=[{axis}]: the zone's {axis} nodes of {ds.path} are not symmetric about {axis} = 0 "
                f"({nodes[0]:.6g} .. {nodes[-1]:.6g}); the mirror images would not be fields of this zone"
            )
    return axes


def _new_points(have: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Mask of the images that are not (to round-off) a parameter point already in ``have``."""
    scale = np.abs(have).max(axis=0) + 1e-300
    gap = np.abs((images[:, None, :] - have[None, :, :]) / scale).max(axis=2).min(axis=1)
    return gap > 1e-9


__all__ = ["AXES", "check_axes", "fold_params", "folded", "mirrored", "unfold"]
