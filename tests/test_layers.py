"""Resize and grid helpers: exact midpoints, periodic wrap, linear reproduction, any dimension."""

from __future__ import annotations

import numpy as np
import torch

from surrogate.layers import Resize, _double, coarse_shape


def test_doubling_inserts_exact_midpoints():
    """Midpoints to float32 rounding: lerp computes a + (b - a) / 2, which differs from (a + b) / 2 by
    an ulp of the inputs, so the tolerance is absolute (a relative one fails where a ~ -b)."""
    x = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))
    y = Resize([5], [9], [False])(x)
    assert torch.equal(y[..., ::2], x)
    assert torch.allclose(y[..., 1::2], 0.5 * (x[..., :-1] + x[..., 1:]), rtol=0, atol=1e-6)
    p = Resize([4], [8], [True])(x[..., :4])
    assert torch.equal(p[..., ::2], x[..., :4])
    assert torch.allclose(p[..., 7], 0.5 * (x[..., 3] + x[..., 0]), rtol=0, atol=1e-6)  # wraps around the loop


def test_doubling_gradient_and_layout():
    """The hand-written backward is the adjoint of the forward (gradcheck in float64) on every axis,
    periodic or not, and a channels-last input stays channels-last (the next convolution reads it
    without a copy)."""
    for periodic in (False, True):
        for dim in (2, 3, 4):
            x = torch.randn(2, 3, 4, 5, 3, dtype=torch.float64, requires_grad=True)
            assert torch.autograd.gradcheck(lambda t, d=dim, p=periodic: _double(t, d, p), (x,))
            cl = torch.randn(2, 3, 4, 5, 3).contiguous(memory_format=torch.channels_last_3d)
            y = _double(cl, dim, periodic)
            assert y.is_contiguous(memory_format=torch.channels_last_3d)
            assert torch.equal(y, _double(cl.contiguous(), dim, periodic))


def test_linear_functions_are_reproduced_on_any_grid():
    i, j, k = torch.meshgrid(torch.linspace(0, 1, 4), torch.linspace(0, 1, 6), torch.linspace(0, 1, 3), indexing="ij")
    f = (2 * i - 3 * j + 0.5 * k + 1)[None, None]
    g = Resize([4, 6, 3], [7, 11, 10], [False, False, False])(f)
    i2, j2, k2 = torch.meshgrid(
        torch.linspace(0, 1, 7), torch.linspace(0, 1, 11), torch.linspace(0, 1, 10), indexing="ij"
    )
    assert torch.allclose(g[0, 0], 2 * i2 - 3 * j2 + 0.5 * k2 + 1, atol=1e-5)


def _np_resize(x: np.ndarray, axis: int, n_out: int, periodic: bool) -> np.ndarray:
    """Independent reference: numpy's piecewise-linear interpolation between the nodes along one axis
    (on the circle of n nodes when periodic)."""
    n = x.shape[axis]
    if periodic:
        pos, kw = np.arange(n_out) * n / n_out, {"period": n}
    else:
        pos, kw = np.linspace(0, n - 1, n_out), {}
    return np.apply_along_axis(lambda f: np.interp(pos, np.arange(n), f, **kw), axis, x)


def test_resize_matches_numpy_interpolation_in_four_dimensions():
    """Both paths (exact doubling, general sizes), periodic or not, on a 4-axis grid."""
    x = torch.randn(1, 2, 3, 4, 5, 6)
    shape_out = [4, 7, 9, 12]  # general, general periodic, doubling, doubling periodic
    periodic = [False, True, False, True]
    y = Resize([3, 4, 5, 6], shape_out, periodic)(x)
    ref = x.numpy()
    for a, n_out in enumerate(shape_out):
        ref = _np_resize(ref, a + 2, n_out, periodic[a])
    assert np.allclose(y.numpy(), ref, atol=1e-6)


def test_coarse_shapes_double_to_the_target():
    assert coarse_shape([33, 17, 17], [False] * 3, 4) == [
        [3, 2, 2],
        [5, 3, 3],
        [9, 5, 5],
        [17, 9, 9],
        [33, 17, 17],
    ]
    assert coarse_shape([33, 64], [False, True], 3) == [[5, 8], [9, 16], [17, 32], [33, 64]]
