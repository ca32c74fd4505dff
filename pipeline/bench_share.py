"""How to fill the cores: one single-thread job per core against one job using every core.

A grid's wall time is set by its throughput, not by one step's speed. With C cores there are two
ways to run it: C single-thread jobs side by side (``make grid``: ``threads=1``,
``hydra.launcher.n_jobs=C``), which share the caches and the memory bus, or one job at a time with C
threads, which shares each step's operators among the cores. This section measures, per model and in
the same run, the training step of

* ``alone``: one single-thread job, the other cores idle (what ``make bench`` reports elsewhere);
* ``side by side``: C single-thread jobs at once (each job's own step);
* ``threaded``: one job with C threads;

in C worker processes that hold every model's bench step (``pipeline.bench_surrogate``), commanded in
interleaved rounds. The jobs' slow-down side by side is the factor a real run's epochs pay over the
bench step; the throughput ratio (C / side-by-side step against 1 / threaded step) says which way of
filling the cores finishes a grid first. Meaningful on an otherwise idle machine only.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import torch

from surrogate.models import Geometry

MODELS = ("fc_t", "conv2d", "conv3d", "conv2_5d", "conv2_5db", "conv1d_boundary")
MODES = ("alone", "side_by_side", "threaded")


def _worker(conn: Connection, models: tuple[str, ...], geometry: Geometry) -> None:
    """Hold each model's bench step; on ``(model, threads, steps)`` time that many steps, send the median."""
    from pipeline.bench_surrogate import bench_trainer, train_step

    with tempfile.TemporaryDirectory() as tmp:
        steps = {m: train_step(bench_trainer(m, "basic", geometry, Path(tmp) / m)) for m in models}
        for step in steps.values():
            step()  # warm-up: the allocator and oneDNN's kernel choice
        conn.send("ready")
        while (cmd := conn.recv()) is not None:
            model, threads, n = cmd
            torch.set_num_threads(threads)
            steps[model]()  # one step at this thread count before timing
            times = []
            for _ in range(n):
                start = time.perf_counter()
                steps[model]()
                times.append(time.perf_counter() - start)
            conn.send(statistics.median(times))


def bench(
    rounds: int = 3,
    steps: int = 10,
    models: tuple[str, ...] = MODELS,
    cores: int | None = None,
    geometry: Geometry | None = None,
) -> dict:
    """Median step of each model alone, side by side (``cores`` jobs) and threaded (``cores`` threads)."""
    from pipeline.bench_surrogate import default_geometry

    cores = cores or len(os.sched_getaffinity(0))
    geometry = geometry or default_geometry()
    ctx = mp.get_context("spawn")
    pipes, procs = [], []
    for _ in range(cores):
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(theirs, models, geometry), daemon=True)
        proc.start()
        pipes.append(mine)
        procs.append(proc)
    try:
        for p in pipes:
            if p.recv() != "ready":
                raise RuntimeError("a benchmark worker failed to start")
        times: dict[str, dict[str, list[float]]] = {m: {k: [] for k in MODES} for m in models}
        for _ in range(rounds):
            for m in models:
                pipes[0].send((m, 1, steps))
                times[m]["alone"].append(pipes[0].recv())
                for p in pipes:
                    p.send((m, 1, steps))
                times[m]["side_by_side"].append(statistics.median(p.recv() for p in pipes))
                pipes[0].send((m, cores, steps))
                times[m]["threaded"].append(pipes[0].recv())
    finally:
        for p in pipes:
            with contextlib.suppress(OSError):  # a worker that died already: its error is the one to see
                p.send(None)
        for proc in procs:
            proc.join(timeout=30)
    out: dict = {"cores": cores, "rounds": rounds, "steps": steps, "models": {}}
    for m, t in times.items():
        out["models"][m] = derive({k: statistics.median(v) for k, v in t.items()}, cores)
    return out


def derive(step_s: dict[str, float], cores: int) -> dict:
    """The slow-down of a job side by side, and side-by-side throughput over threaded throughput."""
    return {
        **{f"{k}_s": v for k, v in step_s.items()},
        "slowdown": step_s["side_by_side"] / step_s["alone"],
        "thread_speedup": step_s["alone"] / step_s["threaded"],
        "jobs_over_threads": (cores / step_s["side_by_side"]) / (1.0 / step_s["threaded"]),
    }


def report(out: dict) -> str:
    c = out["cores"]
    lines = [
        f"Filling {c} cores ({out['rounds']} interleaved rounds of {out['steps']} steps, medians; training step, "
        "Basic, batch 10): one single-thread job alone, "
        f"{c} single-thread jobs side by side, one job with {c} threads",
        "",
        f"| model | alone | side by side (each job) | slow-down | {c} threads | thread speed-up | "
        f"throughput, {c} jobs / 1 job x {c} threads |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in out["models"].items():
        lines.append(
            f"| {name} | {1e3 * m['alone_s']:.1f} ms | {1e3 * m['side_by_side_s']:.1f} ms | {m['slowdown']:.2f}x | "
            f"{1e3 * m['threaded_s']:.1f} ms | {m['thread_speedup']:.2f}x | {m['jobs_over_threads']:.2f} |"
        )
    return "\n".join(lines)
