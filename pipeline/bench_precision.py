"""The ``precision=bf16`` ablation: each model's training step in fp32 and under bf16 autocast, same run.

Opt-in (``python -m pipeline.bench precision``, about a minute): bf16 is meant for CUDA, where this
project's CPUs cannot measure it; on a CPU it says whether oneDNN's bfloat16 kernels pay on this host
(they need avx512_bf16 or AMX; ``cpu_flags`` records which the host has). Results also go to
``results/bench/precision.json``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pipeline.bench_ab import Variant, ab_steps
from pipeline.bench_surrogate import OUT, default_geometry
from surrogate.io import write_json

MODELS = ("fc_t", "conv2d", "conv2d_t", "conv3d", "conv2_5d", "conv2_5db")
VARIANTS = {"fp32": Variant(), "bf16": Variant(overrides=("precision=bf16",))}


def cpu_flags() -> list[str]:
    """The host's bfloat16-related CPU flags (Linux), empty where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(f for f in flags if "bf16" in f or f.startswith("amx"))


def bench(rounds: int = 7, models: tuple[str, ...] = MODELS) -> dict:
    """Each model's fp32 and bf16 step (medians of interleaved rounds)."""
    ab = ab_steps(models, VARIANTS, rounds, warmup=2)
    out = {
        "geometry": default_geometry().__dict__,
        "threads": torch.get_num_threads(),
        "cpu_flags": cpu_flags(),
        "models": ab.models,
        "written": str(OUT.with_name("precision.json")),
    }
    write_json(Path(out["written"]), out)
    return out


def report(out: dict) -> str:
    flags = ", ".join(out["cpu_flags"]) or "none"
    lines = [
        f"bf16 autocast ablation ({out['threads']} thread(s), default preset, Basic, medians of interleaved rounds;"
        f" CPU flags: {flags}):",
        "",
        "| model | fp32 step | bf16 step | fp32 / bf16 |",
        "|---|---|---|---|",
    ]
    for m in out["models"].values():
        a, b = m["fp32"]["step_s"], m["bf16"]["step_s"]
        lines.append(f"| {m['label']} | {1e3 * a:.1f} ms | {1e3 * b:.1f} ms | {a / b:.2f}x |")
    return "\n".join([*lines, f"written: {out['written']}"])
