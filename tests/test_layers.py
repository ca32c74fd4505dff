"""Resize and grid helpers: exact midpoints, periodic wrap, linear reproduction, any dimension."""

from __future__ import annotations

import torch

from surrogate.layers import Resize, coarse_shape, interpolation_matrix


def test_doubling_inserts_exact_midpoints():
    x = torch.randn(2, 3, 5)
    y = Resize([5], [9], [False])(x)
    assert torch.equal(y[..., ::2], x)
    assert torch.allclose(y[..., 1::2], 0.5 * (x[..., :-1] + x[..., 1:]))
    p = Resize([4], [8], [True])(x[..., :4])
    assert torch.equal(p[..., ::2], x[..., :4])
    assert torch.allclose(p[..., 7], 0.5 * (x[..., 3] + x[..., 0]))  # wraps around the loop


def test_linear_functions_are_reproduced_on_any_grid():
    i, j, k = torch.meshgrid(torch.linspace(0, 1, 4), torch.linspace(0, 1, 6), torch.linspace(0, 1, 3), indexing="ij")
    f = (2 * i - 3 * j + 0.5 * k + 1)[None, None]
    g = Resize([4, 6, 3], [7, 11, 10], [False, False, False])(f)
    i2, j2, k2 = torch.meshgrid(
        torch.linspace(0, 1, 7), torch.linspace(0, 1, 11), torch.linspace(0, 1, 10), indexing="ij"
    )
    assert torch.allclose(g[0, 0], 2 * i2 - 3 * j2 + 0.5 * k2 + 1, atol=1e-5)


def test_resize_is_separable_matrix_interpolation_in_four_dimensions():
    x = torch.randn(1, 2, 3, 4, 5, 6)
    shape_out, periodic = [5, 4, 9, 12], [False, True, False, True]
    y = Resize([3, 4, 5, 6], shape_out, periodic)(x)
    ref = x
    for a, (n_in, n_out) in enumerate(zip([3, 4, 5, 6], shape_out, strict=True)):
        ref = torch.movedim(torch.movedim(ref, a + 2, -1) @ interpolation_matrix(n_in, n_out, periodic[a]).T, -1, a + 2)
    assert torch.allclose(y, ref, atol=1e-6)


def test_coarse_shapes_double_to_the_target():
    assert coarse_shape([33, 17, 17], [False] * 3, 4) == [
        [3, 2, 2],
        [5, 3, 3],
        [9, 5, 5],
        [17, 9, 9],
        [33, 17, 17],
    ]
    assert coarse_shape([33, 64], [False, True], 3) == [[5, 8], [9, 16], [17, 32], [33, 64]]
