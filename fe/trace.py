"""How predicted boundary values become the submodel's Dirichlet data in time.

A surrogate predicts u and v on the boundary of Omega' at the trace times; the submodel interpolates
them in time (cubic Hermite, ``fe.submodel.HermiteTrace``), so between trace times its boundary moves
as both predictions dictate. When the two disagree (a network's u and v are fitted separately, and
their Euler residual is 10-100x the data's), the boundary's motion between trace times carries the
disagreement, and the zone's velocity, which answers to the boundary's rate of motion, inherits it.

``AsPredicted`` passes the predictions through. ``Fused`` replaces them by the consistent pair closest
to both: a velocity b at the trace times and the displacement u0 + Q b that integrates it exactly
(Q: the integral of b's cubic spline), with the residuals against the predicted u and v weighed by
their expected errors. Traces are (N, NT, ...): time on axis 1, any number of trailing axes (the 2D
loop, the 3D surface).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline


def integral_matrix(times: np.ndarray) -> np.ndarray:
    """(NT, NT) Q with (Q b)_i the integral from times[0] to times[i] of the not-a-knot cubic spline
    through (times, b): exact for b cubic in t."""
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size < 4 or np.any(np.diff(times) <= 0):
        raise ValueError(f"trace times: need >= 4 increasing times, got {times.size}")
    q = CubicSpline(times, np.eye(times.size), axis=0).antiderivative()(times)
    return q - q[:1]


class AsPredicted:
    """u and v as the surrogate predicts them (the submodel's Hermite interpolation uses both)."""

    def __call__(self, times: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return u, v

    def __repr__(self) -> str:
        return "as predicted (cubic Hermite through the predicted u and v)"


class Fused:
    """The consistent pair closest to the predictions: per sample, b minimises
    |u0 + Q b - u|^2 / s_u^2 + |b - v|^2 / s_v^2 over the trace times (and every boundary node), with
    u0 the predicted u at the first time, s_u = std(u), s_v = rho std(v) over the sample's trace: ``rho``
    is how many times larger v's relative error is expected to be than u's. ``rho=0`` trusts v alone
    (u is its integral); a large rho trusts u (v becomes u's spline derivative, in effect)."""

    def __init__(self, rho: float = 2.0):
        if not (isinstance(rho, int | float) and 0.0 <= float(rho) < np.inf):
            raise ValueError(f"rho={rho}: must be a finite number >= 0 (v's relative error over u's; 0: v alone)")
        self.rho = float(rho)

    def __call__(self, times: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if u.shape != v.shape or u.ndim < 2 or u.shape[1] != np.size(times):
            raise ValueError(f"trace shapes u{u.shape}, v{v.shape} do not match {np.size(times)} times on axis 1")
        q = integral_matrix(times)
        n, nt = u.shape[:2]
        uf, vf = u.reshape(n, nt, -1).astype(float), v.reshape(n, nt, -1).astype(float)
        u0 = uf[:, :1]
        if self.rho == 0.0:
            b = vf
        else:
            tiny = np.finfo(float).tiny
            su2 = np.maximum(uf.var(axis=(1, 2)), tiny)
            sv2 = np.maximum(self.rho**2 * vf.var(axis=(1, 2)), tiny)
            lam = su2 / sv2  # weight of v's residual against u's, per sample
            lhs = q.T @ q + lam[:, None, None] * np.eye(nt)
            rhs = np.einsum("ji,njb->nib", q, uf - u0) + lam[:, None, None] * vf
            b = np.linalg.solve(lhs, rhs)
        a = u0 + np.einsum("ij,njb->nib", q, b)
        return a.reshape(u.shape).astype(u.dtype, copy=False), b.reshape(v.shape).astype(v.dtype, copy=False)

    def __repr__(self) -> str:
        return f"fused (u integrates v exactly; least squares against both predictions, rho={self.rho:g})"
