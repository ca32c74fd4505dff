"""The a priori decomposed convolution against dense convolutions with its reconstructed kernel."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from surrogate.decomposed import DecomposedConv

torch.manual_seed(0)
DENSE = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _dense_reference(layer: DecomposedConv, x: torch.Tensor) -> torch.Tensor:
    """F.conv{d}d with the reconstructed kernel; periodic axes padded circularly by hand."""
    w = layer.dense_kernel()
    pad = []
    for axis, (k, per) in enumerate(zip(layer.kernel, layer.periodic, strict=True)):
        h = k // 2
        if per:
            x = torch.cat([x.narrow(axis + 2, x.shape[axis + 2] - h, h), x, x.narrow(axis + 2, 0, h)], axis + 2)
        pad.append(0 if per else h)
    return DENSE[len(layer.kernel)](x, w, layer.bias, padding=pad)


CASES = [
    ((5,), [[0]]),
    ((3, 5), [[0], [1]]),
    ((3, 3), [[1], [0]]),
    ((3, 3, 3), [[0], [1], [2]]),  # Conv2.5Db
    ((3, 3, 3), [[1, 2], [0]]),  # Conv2.5D
    ((5, 3, 3), [[2], [0, 1]]),
    ((3, 3, 3), [[0, 1, 2]]),  # a single factor: the dense layer itself
]


@pytest.mark.parametrize("impl", ["conv", "gemm"])
@pytest.mark.parametrize(("kernel", "factors"), CASES)
@pytest.mark.parametrize("periodic_first", [False, True])
def test_linear_decomposition_is_a_dense_conv_with_the_cp_kernel(kernel, factors, periodic_first, impl):
    d = len(kernel)
    periodic = [periodic_first] + [False] * (d - 1)
    layer = DecomposedConv(4, 6, kernel, factors, rank=3, periodic=periodic, impl=impl).double()
    x = torch.randn(2, 4, *[7, 6, 8][:d], dtype=torch.float64)
    out = layer(x)
    assert out.shape == (2, 6, *x.shape[2:])
    assert torch.allclose(out, _dense_reference(layer, x), atol=1e-13, rtol=0)


@pytest.mark.parametrize("impl", ["conv", "gemm"])
@pytest.mark.parametrize(
    "factors",
    [[[0], [1], [2], [3]], [[1, 2, 3], [0]], [[0, 1, 2, 3]]],
    ids=["conv3_5db", "conv3_5d", "conv4d-dense"],
)
@pytest.mark.parametrize("periodic_first", [False, True])
def test_four_dimensional_layer_against_an_independent_sum_of_shifts(impl, factors, periodic_first):
    """PyTorch has no conv4d: compare with a direct sum over the 81 kernel offsets (the dense 4D
    kernel, too, which the conv path computes as a sum of shifted conv3d's)."""
    layer = DecomposedConv(
        3, 2, (3, 3, 3, 3), factors, rank=2, periodic=[periodic_first, False, True, False], impl=impl
    )
    layer = layer.double()
    x = torch.randn(2, 3, 5, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    ref = _sum_of_shifts(layer, x, periodic_first)
    out = layer(x)
    assert torch.allclose(out, ref, atol=1e-13, rtol=0)
    g = torch.randn_like(ref)
    assert torch.allclose(torch.autograd.grad((out * g).sum(), x)[0], torch.autograd.grad((ref * g).sum(), x)[0])


def _sum_of_shifts(layer: DecomposedConv, x: torch.Tensor, periodic_first: bool) -> torch.Tensor:
    w = layer.dense_kernel()
    xp = torch.cat([x[:, :, :, :, -1:], x, x[:, :, :, :, :1]], dim=4)  # circular along axis 2
    if periodic_first:
        xp = torch.cat([xp[:, :, -1:], xp, xp[:, :, :1]], dim=2)
    xp = F.pad(xp, (1, 1, 0, 0, 1, 1, 0 if periodic_first else 1, 0 if periodic_first else 1))
    ref = torch.zeros(2, 2, 5, 4, 6, 5, dtype=torch.float64) + layer.bias.view(1, -1, 1, 1, 1, 1)
    for off in itertools.product(range(3), repeat=4):
        window = xp[:, :, off[0] : off[0] + 5, off[1] : off[1] + 4, off[2] : off[2] + 6, off[3] : off[3] + 5]
        ref = ref + torch.einsum("oi,bi...->bo...", w[(slice(None), slice(None), *off)], window)
    return ref


@pytest.mark.parametrize("impl", ["conv", "gemm"])
def test_gradients_match_the_dense_equivalent_and_pass_gradcheck(impl):
    layer = DecomposedConv(2, 3, (3, 3), [[0], [1]], rank=2, periodic=[True, False], impl=impl).double()
    x = torch.randn(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inp: layer(inp), (x,))
    g_dec = torch.autograd.grad(layer(x).sin().sum(), x)[0]
    g_dense = torch.autograd.grad(_dense_reference(layer, x).sin().sum(), x)[0]
    assert torch.allclose(g_dec, g_dense, atol=1e-13, rtol=0)
    params = list(layer.parameters())
    assert all(g is not None and g.abs().sum() > 0 for g in torch.autograd.grad(layer(x).sum(), params))


@pytest.mark.parametrize(("c_out", "rank"), [(4, 2), (1, 1)], ids=["folded", "one-channel-taps"])
@pytest.mark.parametrize("factors", [[[1], [2], [0]], [[1, 2], [0]]], ids=["conv2_5db", "conv2_5d"])
@pytest.mark.parametrize("periodic", [[False, True, False], [True, False, True]])
def test_fast_paths_keep_values_gradients_and_channels_last(factors, c_out, rank, periodic):
    """One-way factors that leave the leading axes alone run on those axes folded into the batch (a
    view of channels-last data); one-channel factors (rank 1 into one output channel) run as shifted
    multiply-adds. Values, gradients and the channels-last layout of the output are unchanged."""
    layer = DecomposedConv(3, c_out, (3, 3, 3), factors, rank=rank, periodic=periodic).double()
    x = torch.randn(2, 3, 4, 5, 6, dtype=torch.float64)
    x = x.contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    assert torch.allclose(layer(x), _dense_reference(layer, x), atol=1e-13, rtol=0)
    assert torch.autograd.gradcheck(lambda inp: layer(inp), (x,))
    # float32, where oneDNN runs and every factor's input stays channels-last (PyTorch's float64
    # conv3d returns channels-first, so later factors above may not fold): values and layout
    layer, x = layer.float(), x.detach().float().contiguous(memory_format=torch.channels_last_3d)
    out = layer(x)
    assert out.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(out, _dense_reference(layer, x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("kernel", "factors", "expected"),
    [
        ((3, 3, 3), [[0], [1], [2]], 8 * (16 * 3 + 3 + 32 * 3) + 32),  # r (C_in n1 + n2 + C_out n3) + bias
        ((3, 3, 3), [[1, 2], [0]], 8 * (16 * 9 + 32 * 3) + 32),
        ((3, 3, 3), [[0, 1, 2]], 32 * 16 * 27 + 32),  # dense: C_out C_in prod n_k + bias
    ],
)
def test_parameter_counts_follow_sums_not_products(kernel, factors, expected):
    layer = DecomposedConv(16, 32, kernel, factors, rank=8)
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_initial_kernel_has_the_variance_of_a_dense_layer():
    """A priori: trained from scratch, so the reconstructed kernel starts like PyTorch's dense init,
    Var W = 1 / (3 fan_in). Its entries are correlated through shared factors, so one draw's sample
    variance scatters by ~20%: average 16 draws."""
    target = 1 / (3 * 64 * 27)
    dense = torch.nn.Conv3d(64, 64, 3)
    assert dense.weight.var().item() == pytest.approx(target, rel=0.05)
    for factors in ([[0], [1], [2]], [[1, 2], [0]]):
        torch.manual_seed(1)
        layers = [DecomposedConv(64, 64, (3, 3, 3), factors, rank=32) for _ in range(16)]
        empirical = sum(layer.dense_kernel().var().item() for layer in layers) / len(layers)
        assert empirical == pytest.approx(target, rel=0.1)


def test_nonlinear_decomposition_puts_activations_between_factors():
    lin = DecomposedConv(3, 4, (3, 3), [[0], [1]], rank=2)
    non = DecomposedConv(3, 4, (3, 3), [[0], [1]], rank=2, nonlinear=True)
    non.load_state_dict(lin.state_dict())
    x = torch.randn(2, 3, 6, 6)
    assert len(non.acts) == 1 and not torch.allclose(lin(x), non(x))
    assert torch.allclose(
        non(x),
        torch.nn.functional.conv2d(
            non.acts[0](torch.nn.functional.conv2d(x, non.weights[0], padding=(1, 0))),
            non.weights[1],
            non.bias,
            padding=(0, 1),
        ),
    )


def test_bad_factorisations_are_refused():
    with pytest.raises(ValueError, match="partition"):
        DecomposedConv(2, 2, (3, 3), [[0]], rank=1)
    with pytest.raises(ValueError, match="odd"):
        DecomposedConv(2, 2, (4, 3), [[0], [1]], rank=1)
    assert math.isfinite(DecomposedConv(2, 2, (1, 3), [[0], [1]], rank=1)(torch.randn(1, 2, 3, 3)).sum().item())
