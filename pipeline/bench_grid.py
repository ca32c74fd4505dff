"""The paper's `short` grid in hours, from one `make bench` run's step times and FLOP counts.

Issue 9 asks for the 66 runs (11 models x 6 regularisations) at `short` in <= 4 h wall on 2 cores.
Each model's step is taken as the mean of its Basic and SL steps (the two families of widths the
regularisations use), times the steps of one run (epochs x ceil(n_train / batch)), times the
regularisations, shared by ``jobs`` single-thread jobs. The same sum with every step at the measured
matmul peak is the floor the arithmetic alone sets: it says which share of the peak the target
needs on average. Adam's element-wise update, evaluation, checkpoints, E's extra term and BN are left
out, so both figures are lower bounds of a real grid (real `short` runs took 1.4-1.6x their bench step).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import fmean

GRID_HOURS = 4.0  # issue 9's target, wall on 2 cores


@dataclass(frozen=True)
class GridPlan:
    """What one grid is: epochs and steps of one run, regularisations per model, parallel jobs."""

    epochs: int
    n_train: int
    batch_size: int
    regs: int
    jobs: int = 2  # make grid's NJOBS on the 2-core reference machine

    @property
    def steps(self) -> int:
        return self.epochs * math.ceil(self.n_train / self.batch_size)


def plan_of(preset: str | None = None) -> GridPlan:
    """The grid of the config: `short`'s epochs and batch, the preset's n_train, every `conf/reg`."""
    from pipeline.config import CONF_DIR, compose

    train = compose("train", ["train=short"]).train
    data = compose("data", [f"dataset={preset}"] if preset else [])
    regs = len(list(Path(CONF_DIR, "reg").glob("*.yaml")))
    return GridPlan(int(train.epochs), int(data.sampling.n_train), int(train.batch_size), regs)


def grid_estimate(models: dict[str, dict], peak_gflops: float, plan: GridPlan) -> dict:
    """Wall hours of the grid at the measured steps and at the matmul peak, and the share of the
    peak that ``GRID_HOURS`` needs; ``models`` maps ``<model>-<reg>`` to ``step_s`` and ``flops``."""
    by_model: dict[str, list[dict]] = defaultdict(list)
    for key, m in models.items():
        by_model[key.rsplit("-", 1)[0]].append(m)
    seconds = sum(fmean(m["step_s"] for m in runs) for runs in by_model.values())
    flop = sum(fmean(m["flops"] for m in runs) for runs in by_model.values())
    scale = plan.steps * plan.regs / plan.jobs / 3600
    at_peak = flop / (peak_gflops * 1e9) * scale
    return {
        "plan": asdict(plan),
        "runs": len(by_model) * plan.regs,
        "measured_h": seconds * scale,
        "at_peak_h": at_peak,
        "needed_share": at_peak / GRID_HOURS,
    }


def grid_lines(g: dict) -> list[str]:
    """An estimate as two report lines, the first with its PASS / FAIL."""
    ok = "PASS" if g["measured_h"] <= GRID_HOURS else "FAIL"
    return [
        f"grid at short ({g['runs']} runs, {g['plan']['jobs']} single-thread jobs, steps only) "
        f"<= {GRID_HOURS:.0f} h: {g['measured_h']:.1f} h {ok}",
        f"  the same grid with every step at the matmul peak: {g['at_peak_h']:.1f} h, so the target needs "
        f"{g['needed_share']:.0%} of the peak on average",
    ]
