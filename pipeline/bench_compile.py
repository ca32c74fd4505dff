"""The ``compile=true`` ablation: each model's step eager and through ``torch.compile``, same run.

Opt-in (``python -m pipeline.bench compile``): compiling five models takes minutes. The compile time
is that of the first two compiled steps. Results also go to ``results/bench/compile.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.bench_ab import Variant, ab_steps
from pipeline.bench_surrogate import OUT, default_geometry
from surrogate.io import write_json

MODELS = ("conv2d_t", "conv2_5db", "conv3d", "conv1d_boundary", "fc_t_boundary")
VARIANTS = {"eager": Variant(), "compiled": Variant(compile=True)}


def bench(rounds: int = 7, models: tuple[str, ...] = MODELS) -> dict:
    """Each model's eager and compiled step (medians of interleaved rounds) and the one-off compile time."""
    ab = ab_steps(models, VARIANTS, rounds, warmup=2)
    out = {"geometry": default_geometry().__dict__, "threads": torch.get_num_threads(), "models": ab.models}
    out["written"] = str(OUT.with_name("compile.json"))
    write_json(Path(out["written"]), out)
    return out


def report(out: dict) -> str:
    lines = [
        f"torch.compile ablation ({out['threads']} thread(s), default preset, Basic, medians of interleaved rounds):",
        "",
        "| model | eager step | compiled step | eager / compiled | compile time (first 2 steps) |",
        "|---|---|---|---|---|",
    ]
    for m in out["models"].values():
        e, c = m["eager"], m["compiled"]
        lines.append(
            f"| {m['label']} | {1e3 * e['step_s']:.1f} ms | {1e3 * c['step_s']:.1f} ms | "
            f"{e['step_s'] / c['step_s']:.2f}x | {c['warmup_s']:.0f} s |"
        )
    return "\n".join([*lines, f"written: {out['written']}"])
