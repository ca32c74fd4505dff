"""Factor ablation: each fast path of ``surrogate.decomposed.convolve`` against the plain PyTorch call.

A decomposed layer's factors are convolutions with a kernel of size 1 along most axes, which oneDNN
runs far below its speed on dense kernels (or not at all: PyTorch's reference ``slow_conv3d`` takes
over). ``convolve`` reshapes them (views of channels-last data) into shapes oneDNN serves, or
computes one-channel factors as shifted multiply-adds. Each line times, forward + backward, the
factor as ``F.conv3d`` on the same channels-last tensor and as ``convolve``, in interleaved rounds of
the same run, on the last decoder stage of the default preset ((33, 17, 17), batch 10).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.bench_surrogate import median_pairs
from surrogate.decomposed import convolve

GRID = (33, 17, 17)
# name: (C_in, C_out, groups, kernel)
FACTORS = {
    "temporal (3, 1, 1), 16 -> 32 (merged trailing axes, (3, 1) conv2d)": (16, 32, 1, (3, 1, 1)),
    "depthwise (1, 1, 3), 16 channels (folded leading axis, (1, 3) conv2d)": (16, 16, 16, (1, 1, 3)),
    "one-way (1, 3, 1), 16 -> 4 (folded leading axis, (3, 1) conv2d)": (16, 4, 1, (1, 3, 1)),
    "one channel (1, 1, 3), 1 -> 1 (shifted multiply-adds)": (1, 1, 1, (1, 1, 3)),
    "one channel (3, 1, 1), 1 -> 1 (shifted multiply-adds)": (1, 1, 1, (3, 1, 1)),
}


def bench(rounds: int = 11) -> dict:
    """Median forward + backward time of each factor, plain ``F.conv3d`` and ``convolve``."""
    steps, out = {}, {"grid": GRID, "threads": torch.get_num_threads(), "factors": {}}
    for name, (c_in, c_out, groups, kernel) in FACTORS.items():
        x = torch.randn(10, c_in, *GRID).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
        w = torch.randn(c_out, c_in // groups, *kernel, requires_grad=True)
        pad = [k // 2 for k in kernel]

        def plain(x=x, w=w, pad=pad, groups=groups) -> None:
            F.conv3d(x, w, padding=pad, groups=groups).sum().backward()

        def fast(x=x, w=w, groups=groups) -> None:
            convolve(x, w, None, groups, [False] * 3).sum().backward()

        for step in (plain, fast):
            step()  # warm up oneDNN's kernel choice
        steps[name, "plain"], steps[name, "fast"] = plain, fast
    out["factors"] = median_pairs(steps, rounds)
    for r in out["factors"].values():
        r["speedup"] = r["plain_s"] / r["fast_s"]
    return out


def report(out: dict) -> str:
    lines = [
        f"Decomposed factors on {out['grid']}, batch 10, forward + backward, {out['threads']} CPU thread(s), "
        "channels-last, medians of interleaved rounds:",
        "",
        "| factor (fast path) | F.conv3d | convolve | speed-up |",
        "|---|---|---|---|",
    ]
    for name, r in out["factors"].items():
        lines.append(f"| {name} | {1e3 * r['plain_s']:.1f} ms | {1e3 * r['fast_s']:.1f} ms | {r['speedup']:.1f}x |")
    return "\n".join(lines)
