"""A priori decomposed convolution: a d-way kernel replaced by one-way (or grouped) kernels in turn.

The grid axes of a layer are split into ordered *factors* (groups of axes): ``[[0], [1], [2]]`` is
three 1D kernels (the paper's Conv2.5Db), ``[[1, 2], [0]]`` a 2D spatial then a 1D temporal kernel
(Conv2.5D), ``[[0, 1, 2]]`` a dense 3D kernel. With rank r, the first factor maps C_in -> r
channels, middle factors act on each of the r channels alone (depthwise), the last maps r -> C_out.
Without activations between factors (the linear decomposition) the layer *is* a dense convolution
whose kernel is the rank-r CP tensor

    W[o, i, k_1..k_d] = sum_rho  F_1[rho, i, K_1] F_2[rho, K_2] ... F_m[o, rho, K_m],

(K_j the indices of factor j's axes), with r (C_in |K_1| + sum_mid |K_j| + C_out |K_m|) parameters
instead of C_out C_in prod_k n_k. With ``nonlinear=True`` an activation follows every factor but the
last (the paper's non-linear decomposition).

Implementation, chosen once in ``__init__`` (``impl``):

* ``"gemm"`` (any number of axes, one code path): the layer works channels-last,
  (N, *grid, C), and each factor is one large matrix product followed by shifted sums. For a factor
  with kernel offsets k = 1..K over its axes, ``z = x @ [W_1 .. W_K]`` computes every offset's
  contribution at once (one GEMM of M = N prod(grid) rows), then ``y[p] = sum_k z_k[p + o_k]`` adds
  the shifted slices (zeros beyond the edge, wrap-around on periodic axes). A depthwise middle factor
  is K broadcast multiply-adds. One-way factors thus become a few big GEMMs instead of degenerate
  convolutions with a kernel of size 1 along most axes, which oneDNN runs far below its peak. The
  output is returned as a channels-last view, so the next layer reads it without a copy.
* ``"conv"`` (the default: measured faster on the CPU, see ``make bench``): for d <= 3 every factor is a
  ``conv{d}d`` whose kernel is 1 along the other axes, on channels-last data (``channels_last``);
  for d > 3 (PyTorch has no conv4d) each factor folds the other axes into the batch and runs a
  ``conv{|K_j|}d``, and a factor over more than 3 axes (dense Conv4D) is the sum over its first
  axis's offsets of such convolutions, shifted along that axis.

Periodic axes are padded circularly, the others with zeros ("same" size), in both.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from surrogate.activations import ELU

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def pad_periodic(x: torch.Tensor, axis: int, before: int, after: int) -> torch.Tensor:
    """Circular padding of one axis (any tensor rank)."""
    if before == 0 and after == 0:
        return x
    n = x.shape[axis]
    parts = [x.narrow(axis, n - before, before)] if before else []
    parts.append(x)
    if after:
        parts.append(x.narrow(axis, 0, after))
    return torch.cat(parts, dim=axis)


def convolve(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int, periodic: Sequence[bool]
) -> torch.Tensor:
    """'Same'-size convolution of ``x`` (N, C, *grid) with ``weight`` (O, C/groups, *kernel), odd
    kernel sizes, circular padding on periodic axes and zeros elsewhere; any number of grid axes."""
    d = x.dim() - 2
    ks = weight.shape[2:]
    active = [a for a, k in enumerate(ks) if k > 1]
    if x.shape[1] == 1 and weight.shape[0] == 1 and len(active) == 1:
        # One channel in and out (a rank-1 factor of an output layer): oneDNN has no fast kernel for
        # it, a few shifted multiply-adds are 1.7-2.6x faster (make bench, factors).
        return _taps(x, weight, bias, active[0], periodic[active[0]])
    tail = next((i for i, k in enumerate(reversed(ks)) if k != 1), d)
    if 2 <= tail < d:
        # Trailing axes the kernel does not touch merge into one (a view, channels-last or not):
        # a (3, 1, 1) factor runs as a (3, 1) conv2d, which oneDNN takes, where conv3d falls back to
        # a slow reference kernel (about 3x, make bench).
        keep = d - tail
        grid = x.shape[2:]
        merged = x.reshape(*x.shape[:2], *grid[:keep], math.prod(grid[keep:]))
        w = weight.reshape(*weight.shape[:2], *ks[:keep], 1)
        y = convolve(merged, w, bias, groups, [*periodic[:keep], False])
        return y.reshape(*y.shape[:2], *grid)
    lead = min(active[0], d - 2) if len(active) == 1 else 0
    if lead >= 1 and x.stride(1) == 1:
        # A one-way kernel's leading untouched axes fold into the batch (a view of channels-last
        # data), down to a 2D convolution: a depthwise (1, 1, 3) factor runs as a (1, 3) conv2d, about
        # 4x faster than conv3d (make bench, factors). Not further (conv1d on such views was 2-10x
        # slower than the conv2d) and not for kernels over two axes ((1, 3, 3): no gain).
        n, c = x.shape[:2]
        folded = x.movedim(1, lead + 1).reshape(-1, c, *x.shape[2 + lead :])
        w = weight.reshape(*weight.shape[:2], *ks[lead:])
        y = convolve(folded, w, bias, groups, periodic[lead:])
        return y.reshape(n, *x.shape[2 : 2 + lead], *y.shape[1:]).movedim(lead + 1, 1)
    if len(active) > 3:
        return _convolve_by_slices(x, weight, bias, groups, periodic, active[0])
    half = [k // 2 for k in weight.shape[2:]]
    for axis, (h, per) in enumerate(zip(half, periodic, strict=True)):
        if per and h:
            x = pad_periodic(x, axis + 2, h, h)
    zero_pad = [0 if per else h for h, per in zip(half, periodic, strict=True)]
    if d <= 3:
        return _CONV[d](x, weight, bias, padding=zero_pad, groups=groups)
    # Fold the axes along which the kernel has size 1 into the batch, convolve the others.
    active = active or [0]
    rest = [a for a in range(d) if a not in active]
    n, c = x.shape[:2]
    perm = [0] + [a + 2 for a in rest] + [1] + [a + 2 for a in active]
    xf = x.permute(perm)
    rest_shape = xf.shape[1 : 1 + len(rest)]
    xf = xf.reshape(-1, c, *xf.shape[2 + len(rest) :])
    wf = weight.reshape(*weight.shape[:2], *[weight.shape[2 + a] for a in active])
    y = _CONV[len(active)](xf, wf, bias, padding=[zero_pad[a] for a in active], groups=groups)
    y = y.reshape(n, *rest_shape, *y.shape[1:])
    inv = [0] * (d + 2)
    for pos, src in enumerate(perm):
        inv[src] = pos
    return y.permute(inv)


def _taps(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, axis: int, periodic: bool) -> torch.Tensor:
    """One-channel 'same' convolution along one axis as a sum of shifted, weighted copies."""
    w = weight.reshape(-1)
    h = w.numel() // 2
    y = sum(w[j] * shift(x, axis + 2, j - h, periodic) for j in range(w.numel()))
    return y if bias is None else y + bias


def shift(x: torch.Tensor, dim: int, offset: int, periodic: bool) -> torch.Tensor:
    """``y[i] = x[i + offset]`` along ``dim``: wrapping when periodic, zeros beyond the edge otherwise."""
    if offset == 0:
        return x
    if periodic:
        return torch.roll(x, -offset, dims=dim)
    n = x.shape[dim]
    pad = x.new_zeros(*x.shape[:dim], abs(offset), *x.shape[dim + 1 :])
    if offset > 0:
        return torch.cat([x.narrow(dim, offset, n - offset), pad], dim=dim)
    return torch.cat([pad, x.narrow(dim, 0, n + offset)], dim=dim)


def _convolve_by_slices(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, groups: int, periodic: Sequence[bool], axis: int
) -> torch.Tensor:
    """A kernel over more than 3 axes (PyTorch's largest convolution is 3D): the sum over the offsets
    o of ``axis`` of the convolutions with the kernel's slice at o (size 1 along ``axis``, so that axis
    folds into the batch), each shifted by o along ``axis``. Any number of axes, one code path."""
    k = weight.shape[2 + axis]
    out = None
    for o in range(k):
        part = convolve(x, weight.narrow(2 + axis, o, 1), None, groups, periodic)
        part = shift(part, 2 + axis, o - k // 2, periodic[axis])
        out = part if out is None else out + part
    return out if bias is None else out + bias.reshape(1, -1, *[1] * (x.dim() - 2))


def _shift_plan(
    axes: Sequence[int], sizes: Sequence[int], periodic: Sequence[bool], ndim: int
) -> tuple[int, list[tuple[int, list[tuple[int, int]], tuple, tuple]]]:
    """For a channels-last tensor of ``ndim`` dims (N, *grid, C): the centre offset's index and, for
    every other offset k, its rolls on periodic axes and the (destination, source) slices on the others
    such that ``y[dst] += roll(z_k)[src]`` realises ``y[p] += z_k[p + o_k]``."""
    offsets = list(itertools.product(*[range(-(n // 2), n // 2 + 1) for n in sizes]))
    centre = offsets.index(tuple(0 for _ in sizes))
    plan = []
    for k, offs in enumerate(offsets):
        if k == centre:
            continue
        rolls = [(a + 1, -o) for a, o in zip(axes, offs, strict=True) if periodic[a] and o]
        dst, src = [slice(None)] * ndim, [slice(None)] * ndim
        for a, o in zip(axes, offs, strict=True):
            if o and not periodic[a]:
                dst[a + 1] = slice(max(0, -o), -o if o > 0 else None)
                src[a + 1] = slice(max(0, o), o if o < 0 else None)
        plan.append((k, rolls, tuple(dst), tuple(src)))
    return centre, plan


def _roll(x: torch.Tensor, rolls: list[tuple[int, int]], sign: int = 1) -> torch.Tensor:
    return torch.roll(x, shifts=[sign * s for _, s in rolls], dims=[d for d, _ in rolls]) if rolls else x


class ShiftedSum(torch.autograd.Function):
    """``y[p] = sum_k z[p + o_k, k]`` for channels-last ``z`` (N, *grid, K, C), zero beyond the edge of a
    non-periodic axis, wrapping on a periodic one. Forward: the centre offset's slice, then one
    in-place slice add per offset; backward: each offset's gradient is a shifted slice of the output
    gradient (no full-size temporaries per offset, unlike autograd through slice assignments)."""

    @staticmethod
    def forward(ctx, z, axes, sizes, periodic):
        centre, plan = _shift_plan(axes, sizes, periodic, z.dim() - 1)
        ctx.plan, ctx.centre = plan, centre
        y = z[..., centre, :].clone()
        for k, rolls, dst, src in plan:
            y[dst] += _roll(z[..., k, :], rolls)[src]
        return y

    @staticmethod
    def backward(ctx, g):
        grad = g.new_zeros(*g.shape[:-1], len(ctx.plan) + 1, g.shape[-1])
        grad[..., ctx.centre, :] = g
        for k, rolls, dst, src in ctx.plan:
            if rolls:
                part = g.new_zeros(g.shape)
                part[src] = g[dst]
                grad[..., k, :] = _roll(part, rolls, -1)
            else:
                grad[..., k, :][src] = g[dst]
        return grad, None, None, None


def shifted_sum(z: torch.Tensor, axes: Sequence[int], sizes: Sequence[int], periodic: Sequence[bool]) -> torch.Tensor:
    """``y[p] = sum_k z[p + o_k, k]`` over the centred offsets of a kernel of ``sizes`` on ``axes``."""
    return ShiftedSum.apply(z, tuple(axes), tuple(sizes), tuple(periodic))


def gemm_factor(
    x: torch.Tensor, weight: torch.Tensor, groups: int, axes: Sequence[int], periodic: Sequence[bool]
) -> torch.Tensor:
    """One factor on channels-last ``x`` (N, *grid, C_in) -> (N, *grid, C_out): a GEMM (or, depthwise,
    a broadcast product) giving every kernel offset's contribution, then their shifted sum."""
    c_out, c_in = weight.shape[:2]
    sizes = [weight.shape[2 + a] for a in axes]
    k = math.prod(sizes)
    w = weight.reshape(c_out, c_in, k)
    if groups == 1:
        z = (x.reshape(-1, c_in) @ w.permute(1, 2, 0).reshape(c_in, k * c_out)).view(*x.shape[:-1], k, c_out)
    else:  # depthwise: channel rho of the input feeds channel rho of the output
        z = x.unsqueeze(-2) * w[:, 0].t()
    return shifted_sum(z, axes, sizes, periodic)


def factor_shapes(kernel: Sequence[int], factors: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Kernel shape of each factor: the layer's sizes on its axes, 1 elsewhere."""
    return [tuple(kernel[a] if a in group else 1 for a in range(len(kernel))) for group in factors]


def reconstruct(weights: Sequence[torch.Tensor]) -> torch.Tensor:
    """The dense kernel (C_out, C_in, *kernel) of a linear decomposition: the sum over the rank of
    broadcast outer products of the factors (each has size 1 off its own axes)."""
    if len(weights) == 1:
        return weights[0]
    first, *middle, last = weights
    core = first  # (r, C_in, *k_1)
    for w in middle:  # (r, 1, *k_j)
        core = core * w
    return (last.unsqueeze(2) * core.unsqueeze(0)).sum(dim=1)  # (C_out, r, 1..) x (1, r, C_in, ..)


class DecomposedConv(nn.Module):
    """'Same'-size convolution over ``len(kernel)`` grid axes with a rank-r factorised kernel."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: Sequence[int],
        factors: Sequence[Sequence[int]],
        rank: int,
        periodic: Sequence[bool] | None = None,
        nonlinear: bool = False,
        activation: Callable[[], nn.Module] = ELU,
        bias: bool = True,
        impl: str | None = None,
        channels_last: bool = True,
    ):
        super().__init__()
        d = len(kernel)
        impl = impl or "conv"
        if impl not in ("gemm", "conv"):
            raise ValueError(f"impl={impl!r}: allowed 'gemm' or 'conv' (or None: 'conv')")
        self.impl = impl
        # oneDNN's convolutions run faster on channels-last data (dense Conv3d: about 1.5x, make bench)
        formats = {2: torch.channels_last, 3: torch.channels_last_3d}
        self.memory_format = formats.get(d) if channels_last and impl == "conv" else None
        flat = sorted(a for g in factors for a in g)
        if flat != list(range(d)):
            raise ValueError(f"factors {factors} must partition the axes 0..{d - 1}")
        if any(k % 2 == 0 for k in kernel):
            raise ValueError(f"kernel sizes must be odd for 'same' padding, got {tuple(kernel)}")
        self.kernel, self.factors, self.rank = tuple(kernel), [list(g) for g in factors], rank
        self.periodic = list(periodic) if periodic is not None else [False] * d
        shapes = factor_shapes(kernel, factors)
        m = len(factors)
        self.weights = nn.ParameterList()
        self.groups: list[int] = []
        for j, shape in enumerate(shapes):
            if m == 1:
                out_c, in_c, groups = out_channels, in_channels, 1
            elif j == 0:
                out_c, in_c, groups = rank, in_channels, 1
            elif j == m - 1:
                out_c, in_c, groups = out_channels, rank, 1
            else:
                out_c, in_c, groups = rank, 1, rank
            self.weights.append(nn.Parameter(torch.empty(out_c, in_c, *shape)))
            self.groups.append(groups)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.acts = nn.ModuleList([activation() for _ in range(m - 1)]) if nonlinear else None
        self.reset_parameters(in_channels)

    def reset_parameters(self, in_channels: int) -> None:
        """Balanced factors whose CP reconstruction has the variance of PyTorch's dense default,
        ``Var W = 1 / (3 fan_in)`` with ``fan_in = C_in prod_k n_k`` (uniform(+-1/sqrt(fan_in)))."""
        fan_in = in_channels * math.prod(self.kernel)
        target = 1.0 / (3.0 * fan_in)
        m = len(self.weights)
        terms = self.rank if m > 1 else 1
        std = (target / terms) ** (1.0 / (2 * m))
        for w in self.weights:
            nn.init.normal_(w, 0.0, std)
        if self.bias is not None:
            bound = 1.0 / math.sqrt(fan_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def dense_kernel(self) -> torch.Tensor:
        """The equivalent dense kernel (exact for the linear decomposition)."""
        return reconstruct(list(self.weights))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._gemm(x) if self.impl == "gemm" else self._conv(x)

    def _gemm(self, x: torch.Tensor) -> torch.Tensor:
        h = x.movedim(1, -1)
        if not h.is_contiguous():
            h = h.contiguous()  # free when the previous layer left a channels-last view
        last = len(self.weights) - 1
        for j, (w, g, axes) in enumerate(zip(self.weights, self.groups, self.factors, strict=True)):
            h = gemm_factor(h, w, g, axes, self.periodic)
            if self.acts is not None and j < last:
                h = self.acts[j](h)
        if self.bias is not None:
            h = h + self.bias
        return h.movedim(-1, 1)

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        if self.memory_format is not None:
            x = x.contiguous(memory_format=self.memory_format)  # a no-op when already channels-last
        last = len(self.weights) - 1
        for j, (w, g) in enumerate(zip(self.weights, self.groups, strict=True)):
            x = convolve(x, w, self.bias if j == last else None, g, self.periodic)
            if self.acts is not None and j < last:
                x = self.acts[j](x)
        return x
