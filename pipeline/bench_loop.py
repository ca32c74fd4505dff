"""The training loop against its steps: one real epoch (``Trainer._run_epoch``) against the same number
of bare bench steps, same process, interleaved rounds.

The grid estimate multiplies the bench step by the steps of an epoch; this section checks that the
loop around the step (the batch order, gathering each batch, the learning-rate schedule, summing the
loss) adds nothing to it, so that a real run's slower epochs are the machine's (other jobs sharing
its caches and memory bus), not the loop's. Epoch times, as runs record them, exclude evaluation
and checkpoints.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from pipeline.bench_surrogate import bench_trainer, default_geometry, median_pairs, train_step
from surrogate.models import Geometry
from surrogate.training import Trainer

MODELS = ("fc_t", "conv2d", "conv3d", "conv2_5d", "conv2_5db")
SAMPLES = 100  # the small preset's training split
LOOP_OVERHEAD = 1.1  # target: an epoch within 10% of its bare steps


def bench(rounds: int = 5, models: tuple[str, ...] = MODELS, geom: Geometry | None = None) -> dict:
    """Median time of one epoch and of as many bare steps, per model."""
    geom = geom or default_geometry()
    out: dict = {"threads": torch.get_num_threads(), "samples": SAMPLES, "models": {}}
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            trainer = bench_trainer(name, "basic", geom, Path(tmp) / f"{name}-epoch", samples=SAMPLES)
            step = train_step(bench_trainer(name, "basic", geom, Path(tmp) / f"{name}-step"))
            n_steps = -(-SAMPLES // trainer.spec.batch_size)

            def epoch(t: Trainer = trainer) -> None:
                t._run_epoch()
                t.epoch += 1  # the next round is the next epoch (its own order and learning rate)

            def steps(s=step, k: int = n_steps) -> None:
                for _ in range(k):
                    s()

            epoch()  # warm-up: the allocator and oneDNN's kernel choice
            steps()
            runs[name, "epoch"], runs[name, "steps"] = epoch, steps
            out["models"][name] = {"label": trainer.model.label, "steps_per_epoch": n_steps}
        for name, times in median_pairs(runs, rounds).items():
            out["models"][name].update(times)
    for m in out["models"].values():
        m["ratio"] = m["epoch_s"] / m["steps_s"]
    return out


def report(out: dict) -> str:
    lines = [
        f"Training loop against its steps ({out['threads']} CPU thread(s), {out['samples']} samples, medians of "
        "interleaved rounds): one epoch of Trainer._run_epoch against as many bare bench steps",
        "",
        "| model | steps / epoch | bare steps | epoch | epoch / steps |",
        "|---|---|---|---|---|",
    ]
    for m in out["models"].values():
        lines.append(
            f"| {m['label']} | {m['steps_per_epoch']} | {1e3 * m['steps_s']:.0f} ms | {1e3 * m['epoch_s']:.0f} ms | "
            f"{m['ratio']:.2f} |"
        )
    worst = max(out["models"].values(), key=lambda m: m["ratio"])
    ok = worst["ratio"] <= LOOP_OVERHEAD
    lines += [
        "",
        f"loop overhead: worst {worst['label']} {worst['ratio']:.2f}x its bare steps (target <= {LOOP_OVERHEAD}x): "
        + ("PASS" if ok else "FAIL"),
    ]
    return "\n".join(lines)
