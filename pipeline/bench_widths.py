"""Width ablation of the 3D family's training step: where the decomposed models' inefficiency goes.

At our laptop widths (x1) the decomposed models run far below the matmul peak (their small operators
are bound by memory traffic and overhead, README "Benchmarks"); the paper's networks are about 8x
wider (``conf/width/x8``). This section times Conv3D, Conv2.5D and Conv2.5Db at x1, x2, x4 and x8
(Basic, one batch of the default preset, interleaved rounds, medians), sets each step against the
matmul peak measured in the same run and against Conv3D at the same width, and checks issue 9's step
targets at the paper's sizes (x8; ``make bench``'s ``surrogate`` section checks them at x1).
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.bench_ab import Variant, ab_steps
from pipeline.bench_surrogate import machine_limits, step_targets
from surrogate.io import write_json

MODELS = ("conv3d", "conv2_5d", "conv2_5db")
WIDTHS = ("x1", "x2", "x4", "x8")  # x1: the model files' own widths; the others are conf/width/ overlays
PAPER = "x8"  # the paper's sizes (Conv2.5Db 1.67 M parameters on this grid, the paper's 1.63 M)
OUT = Path("results/bench/widths.json")


def derive(cells: dict[str, dict], peak_gflops: float) -> dict[str, dict]:
    """Achieved GFLOP/s, share of the peak and step / Conv3D's step at the same width, for cells keyed
    ``<model>|<width>`` holding ``flops`` (per step) and ``step_s``."""
    out = {}
    for key, c in cells.items():
        width = key.split("|")[1]
        dense = cells.get(f"conv3d|{width}")
        gflops = c["flops"] / c["step_s"] / 1e9
        out[key] = {
            **c,
            "gflops": gflops,
            "peak_share": gflops / peak_gflops,
            "step_vs_conv3d": c["step_s"] / dense["step_s"] if dense else None,
        }
    return out


def verdicts(cells: dict[str, dict], width: str = PAPER) -> list[str]:
    """Issue 9's step targets, PASS or FAIL, on the derived cells at one width (absent width: none)."""
    at = {key.split("|")[0]: c for key, c in cells.items() if key.split("|")[1] == width}
    return step_targets(at, "step_vs_conv3d", prefix=f"at {width}: ")


def bench(rounds: int = 5, models: tuple[str, ...] = MODELS, widths: tuple[str, ...] = WIDTHS) -> dict:
    limits = machine_limits()
    variants = {w: Variant(() if w == "x1" else (f"+width={w}",)) for w in widths}
    ab = ab_steps(models, variants, rounds, count_flops=True)
    cells = {
        f"{name}|{w}": {"label": m["label"], **{k: m[w][k] for k in ("parameters", "flops", "step_s")}}
        for name, m in ab.models.items()
        for w in widths
    }
    out = {"threads": torch.get_num_threads(), "limits": limits, "cells": derive(cells, limits["matmul_gflops"])}
    write_json(OUT, out)
    return {**out, "written": str(OUT)}


def report(out: dict) -> str:
    lines = [
        f"The 3D family's training step against its width (Basic, batch 10, {out['threads']} CPU thread(s); "
        f"matmul peak {out['limits']['matmul_gflops']:.1f} GFLOP/s, same run; x8 is the paper's size):",
        "",
        "| model | width | parameters | GFLOP / step | train step | share of peak | step / Conv3D at that width |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, c in out["cells"].items():
        ratio = "-" if c["step_vs_conv3d"] is None else f"{c['step_vs_conv3d']:.2f}"
        lines.append(
            f"| {c['label']} | {key.split('|')[1]} | {c['parameters']:,} | {c['flops'] / 1e9:.2f} | "
            f"{1e3 * c['step_s']:.0f} ms | {c['peak_share']:.0%} | {ratio} |"
        )
    return "\n".join([*lines, "", *verdicts(out["cells"]), f"written: {out['written']}"])
