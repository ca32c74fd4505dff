"""Same-run A/B of training steps: each model's real step under named variants, interleaved rounds.

The shape every ablation of the step shares (``torch.compile``, the activation): build each model's
training step once per variant, warm it up, then time all of them in interleaved rounds so that the
machine's noise hits every variant alike; ratios are taken between medians of the same run.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.bench_surrogate import default_geometry, flops, median_times, trainer_step


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B: config overrides of the model's step, and whether it goes through torch.compile."""

    overrides: tuple[str, ...] = ()
    compile: bool = False


@dataclass
class ABResult:
    """Per model: its label and parameter count, and per variant the median step and the warm-up time."""

    models: dict[str, dict] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)


def ab_steps(
    models: tuple[str, ...],
    variants: dict[str, Variant],
    rounds: int,
    warmup: int = 1,
    extra: dict[str, Callable[[], None]] | None = None,
    count_flops: bool = False,
) -> ABResult:
    """Median step time of each model (Basic, default preset) under each variant, in one run.

    ``warmup`` steps before timing settle the allocator and oneDNN's kernel choice (and compile, where a
    variant compiles; their time is ``warmup_s``). ``extra`` steps are timed in the same rounds. Each
    variant records its own parameter count (overrides may resize the model) and, with ``count_flops``,
    its FLOPs per step."""
    geom, out = default_geometry(), ABResult()
    steps: dict[str, Callable[[], None]] = dict(extra or {})
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            for kind, var in variants.items():
                step, _, info = trainer_step(name, "basic", geom, Path(tmp), var.compile, var.overrides)
                start = time.perf_counter()
                for _ in range(warmup):
                    step()
                steps[f"{name}|{kind}"] = step
                cell = {"warmup_s": time.perf_counter() - start, "parameters": info["parameters"]}
                if count_flops:
                    cell["flops"] = flops(step)
                out.models.setdefault(name, dict(info))[kind] = cell
        for key, t in median_times(steps, rounds).items():
            if "|" not in key:
                out.extra[key] = t
                continue
            name, kind = key.split("|")
            out.models[name][kind]["step_s"] = t
    return out
