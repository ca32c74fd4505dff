"""Non-neural surrogates p -> fields: the difficulty meter every network is read against.

Each baseline is fitted on the training split, ``(params (N, 3), fields (N, ...))``, and predicts
fields of the same trailing shape for new parameters. Parameters are standard-scaled with the
training statistics (as the networks see them), so that omega and the source position weigh alike.

* :class:`Zero`: predicts 0 (eps = 1 when the normaliser is the per-time peak of |U|).
* :class:`Nearest`: the training sample nearest in scaled p.
* :class:`RBF`: radial-basis interpolation of every field value over scaled p
  (``scipy.interpolate.RBFInterpolator``; exact at the training points when ``smoothing=0``).
* :class:`PODRBF`: proper orthogonal decomposition of the training fields (SVD), the modes holding
  ``1 - tolerance`` of the energy kept, and an RBF interpolation of their coefficients over p.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree


class Baseline:
    """Fit on ``(params, fields)``; predict fields for new params. Subclasses set :meth:`_fit`."""

    def __init__(self, label: str):
        self.label = label
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._shape: tuple[int, ...] = ()

    def scaled(self, params: np.ndarray) -> np.ndarray:
        if self._mean is None:
            raise RuntimeError(f"{self.label}: fit() before predict()")
        return (np.asarray(params, dtype=np.float64) - self._mean) / self._scale

    def fit(self, params: np.ndarray, fields: np.ndarray) -> Baseline:
        params = np.asarray(params, dtype=np.float64)
        if params.ndim != 2 or params.shape[0] != fields.shape[0]:
            raise ValueError(f"{self.label}: params {params.shape} and fields {fields.shape} disagree")
        self._mean = params.mean(axis=0)
        std = params.std(axis=0)
        self._scale = np.where(std > 0, std, 1.0)
        self._shape = tuple(fields.shape[1:])
        self._fit(self.scaled(params), fields.reshape(fields.shape[0], -1).astype(np.float64))
        return self

    def predict(self, params: np.ndarray) -> np.ndarray:
        q = self.scaled(params)
        return self._predict(q).reshape(q.shape[0], *self._shape)

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _predict(self, p: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Zero(Baseline):
    def __init__(self, label: str = "Zero"):
        super().__init__(label)

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        self._width = y.shape[1]

    def _predict(self, p: np.ndarray) -> np.ndarray:
        return np.zeros((p.shape[0], self._width))


class Nearest(Baseline):
    def __init__(self, label: str = "Nearest neighbour"):
        super().__init__(label)

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        self._tree, self._y = cKDTree(p), y

    def _predict(self, p: np.ndarray) -> np.ndarray:
        return self._y[self._tree.query(p)[1]]


def _rbf(kernel: str, smoothing: float, degree: int | None):
    if smoothing < 0:
        raise ValueError(f"baselines smoothing={smoothing}: must be >= 0")

    def make(p: np.ndarray, y: np.ndarray) -> RBFInterpolator:
        try:
            return RBFInterpolator(p, y, kernel=kernel, smoothing=smoothing, degree=degree)
        except ValueError as err:
            raise ValueError(f"baselines kernel={kernel!r}, degree={degree}: {err}") from err

    return make


class RBF(Baseline):
    """Every field value interpolated over scaled p (one linear solve shared by all values)."""

    def __init__(self, kernel: str = "cubic", smoothing: float = 0.0, degree: int | None = None, label: str = "RBF"):
        super().__init__(label)
        self._make = _rbf(kernel, smoothing, degree)

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        self._interp = self._make(p, y)

    def _predict(self, p: np.ndarray) -> np.ndarray:
        return self._interp(p)


class PODRBF(Baseline):
    """Mean + POD modes; the modal coefficients interpolated over scaled p."""

    def __init__(
        self,
        kernel: str = "cubic",
        smoothing: float = 0.0,
        degree: int | None = None,
        tolerance: float = 1e-6,
        label: str = "POD + RBF",
    ):
        if not 0 < tolerance < 1:
            raise ValueError(f"baselines tolerance={tolerance}: the discarded energy fraction must be in (0, 1)")
        super().__init__(label)
        self._make, self.tolerance = _rbf(kernel, smoothing, degree), tolerance
        self.n_modes = 0

    def _fit(self, p: np.ndarray, y: np.ndarray) -> None:
        self._ymean = y.mean(axis=0)
        _, s, vt = np.linalg.svd(y - self._ymean, full_matrices=False)
        energy = np.cumsum(s**2) / max(float(np.sum(s**2)), np.finfo(float).tiny)
        self.n_modes = int(np.searchsorted(energy, 1 - self.tolerance) + 1)
        self._modes = vt[: self.n_modes]
        self._interp = self._make(p, (y - self._ymean) @ self._modes.T)

    def _predict(self, p: np.ndarray) -> np.ndarray:
        return self._ymean + self._interp(p) @ self._modes
