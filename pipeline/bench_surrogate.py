"""Surrogate benchmark: every model's training step against the machine's measured limits, in one run.

On the default (small) preset's geometry with each model's default widths, for the 11 models under
Basic and SL: the floating-point operations of one training step (forward + backward, counted by
``torch.utils.flop_counter.FlopCounterMode``; Adam's element-wise update is not counted), the median
step time (the real ``Trainer`` step: loss, backward, Adam, batch ``train.batch_size``), the achieved
GFLOP/s and its share of the peak of a 2048^2 fp32 matmul measured in the same process, the step time
relative to Conv3D, and the median latency of one 1-sample prediction. Models are timed in
interleaved rounds so that machine noise hits all of them alike; ratios are taken between medians of
the same run. One decomposed 32 -> 32 layer on (33, 17, 17) is set against its roofline,
max(FLOPs / peak, bytes moved / copy bandwidth), both limits measured here. Results also go to
``results/bench/surrogate.json``.

:func:`bench_3d` does the same for the 4D models (Conv4D, Conv3.5D, Conv3.5Db) on the ``small3d``
preset's geometry, steps relative to Conv4D (``results/bench/surrogate3d.json``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from fe.spec import MeshSpec, Physics, build
from fe.zone import ZoneGrid
from pipeline.bench_grid import grid_estimate, grid_lines, plan_of
from pipeline.config import compose
from pipeline.runs import build_model, regularization, train_spec
from surrogate.decomposed import DecomposedConv
from surrogate.io import write_json
from surrogate.models import Geometry, n_parameters
from surrogate.training import Trainer

MODELS = (
    "fc_t",
    "conv2d",
    "conv2d_t",
    "conv3d",
    "conv2_5d",
    "conv2_5db",
    "fc_t_boundary",
    "conv1d_boundary",
    "conv1d_t_boundary",
    "conv2d_boundary",
    "conv1_5d_boundary",
)
REGS = ("basic", "sl")
# Issue 9's targets: step time relative to Conv3D, shares of the matmul peak, the layer's roofline.
STEP_RATIO = {"conv2_5d": 0.3, "conv2_5db": 0.25}
CONV3D_PEAK, FLOOR_PEAK, LAYER_ROOFLINE = 0.6, 0.2, 2.0
OUT = Path("results/bench/surrogate.json")
MODELS_3D = ("conv4d", "conv3_5d", "conv3_5db")
OUT_3D = Path("results/bench/surrogate3d.json")


def default_geometry(preset: str | None = None) -> Geometry:
    """A data preset's sizes (default: the default preset), from the config (no dataset needed)."""
    from omegaconf import OmegaConf

    cfg = compose("data", [f"dataset={preset}"] if preset else [])
    physics = build(Physics, "physics", OmegaConf.to_container(cfg.physics, resolve=True))
    mesh = build(MeshSpec, "mesh", OmegaConf.to_container(cfg.mesh, resolve=True))
    zone = ZoneGrid.of(physics, mesh)
    *depth, h, w = zone.shape
    return Geometry(int(cfg.solver.n_snapshots), h, w, len(zone.boundary), *depth)


def median_times(steps: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median wall time of each step over ``rounds`` interleaved rounds."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def median_pairs(steps: dict[tuple[str, str], Callable[[], None]], rounds: int) -> dict[str, dict[str, float]]:
    """``median_times`` of steps keyed (name, kind), as {name: {"<kind>_s": seconds}}: the arms of an A/B."""
    out: dict[str, dict[str, float]] = {}
    for (name, kind), t in median_times(steps, rounds).items():
        out.setdefault(name, {})[f"{kind}_s"] = t
    return out


def flops(step: Callable[[], None]) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def machine_limits(rounds: int = 7) -> dict[str, float]:
    """fp32 matmul peak (GFLOP/s) and copy bandwidth (GB/s, bytes read + written) of this process."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    src, dst = torch.randn(64 * 2**20 // 4), torch.empty(64 * 2**20 // 4)  # 64 MiB, beyond the caches
    t = median_times({"mm": lambda: torch.mm(a, b), "copy": lambda: dst.copy_(src)}, rounds)
    return {"matmul_gflops": 2 * n**3 / t["mm"] / 1e9, "copy_gbs": 2 * src.numel() * 4 / t["copy"] / 1e9}


def bench_trainer(
    name: str,
    reg: str,
    geom: Geometry,
    tmp: Path,
    compile: bool = False,
    overrides: tuple[str, ...] = (),
    samples: int | None = None,
) -> Trainer:
    """The training stage's own ``Trainer`` on random data of the preset's shape (``samples``, default
    one batch), at the paper's `short` protocol (batch 10, lr 1e-3: the grid the estimate is for), not
    the laptop default."""
    cfg = compose("train", ["train=short", f"model={name}", f"reg={reg}", *overrides])
    model = build_model(cfg, geom)
    spec = train_spec(cfg)
    n = samples or spec.batch_size
    rng = np.random.default_rng(0)
    u, v = (rng.standard_normal((n, geom.n_times, *model.space)).astype(np.float32) for _ in range(2))
    p = rng.random((n, 1 + len(geom.field_axes)))
    return Trainer(
        model, spec, regularization(cfg), p, u, v, 0.0625, tmp, {}, 0, torch.device("cpu"), compile, str(cfg.precision)
    )


def train_step(trainer: Trainer) -> Callable[[], None]:
    """One step of ``trainer`` as the training loop takes it: loss, backward, Adam, on its one batch."""
    n = trainer.spec.batch_size
    idx, gen = torch.arange(n), torch.Generator().manual_seed(0)

    def step() -> None:
        trainer.model.train()
        trainer.optimizer.zero_grad(set_to_none=True)
        trainer._backward(idx, trainer._times(n, gen))
        trainer.optimizer.step()

    return step


def trainer_step(
    name: str, reg: str, geom: Geometry, tmp: Path, compile: bool = False, overrides: tuple[str, ...] = ()
) -> tuple[Callable, Callable, dict]:
    """A bench trainer's step, its 1-sample prediction, and what the tables print of it."""
    trainer = bench_trainer(name, reg, geom, tmp, compile, overrides)
    model = trainer.model

    @torch.no_grad()
    def predict() -> None:
        model.eval()
        model(trainer.p[:1])

    return train_step(trainer), predict, {"label": model.label, "parameters": n_parameters(model)}


def layer_bench(limits: dict[str, float], rounds: int) -> dict[str, dict[str, float]]:
    """One 32 -> 32 layer on (33, 17, 17), batch 10, forward + backward, against its roofline. Bytes
    moved at minimum per factor: forward reads its input and writes its output, backward reads the
    output gradient and the input and writes the input gradient (3 |in| + 2 |out| floats)."""
    x = torch.randn(10, 32, 33, 17, 17, requires_grad=True)
    k3, spatial_t, one_way = (3, 3, 3), [[1, 2], [0]], [[1], [2], [0]]
    layers = {  # the defaults, then one ablation line per optimisation
        "dense": DecomposedConv(32, 32, k3, [[0, 1, 2]], rank=32),
        "2.5D": DecomposedConv(32, 32, k3, spatial_t, rank=16),
        "2.5Db": DecomposedConv(32, 32, k3, one_way, rank=16),
        "dense, channels-first": DecomposedConv(32, 32, k3, [[0, 1, 2]], rank=32, channels_last=False),
        "2.5Db, channels-first": DecomposedConv(32, 32, k3, one_way, rank=16, channels_last=False),
        "2.5Db, GEMM + shifted sums": DecomposedConv(32, 32, k3, one_way, rank=16, impl="gemm"),
    }
    steps, out = {}, {}
    for name, layer in layers.items():

        def step(layer=layer) -> None:
            layer.zero_grad(set_to_none=True)
            x.grad = None
            layer(x).sum().backward()

        step()
        steps[name] = step
        chans = [32] + [layer.rank] * (len(layer.factors) - 1) + [32]
        floats = sum(3 * c_in + 2 * c_out for c_in, c_out in zip(chans[:-1], chans[1:], strict=True)) * x[0, 0].numel()
        out[name] = {"flops": flops(step), "bytes": 4 * 10 * floats}
    for name, t in median_times(steps, rounds).items():
        f, b = out[name]["flops"], out[name]["bytes"]
        roof = max(f / (limits["matmul_gflops"] * 1e9), b / (limits["copy_gbs"] * 1e9))
        out[name].update(seconds=t, roofline_s=roof, over_roofline=t / roof)
    return out


def bench(
    rounds: int = 11,
    latency_rounds: int = 21,
    models: tuple[str, ...] = MODELS,
    preset: str | None = None,
    base: str = "conv3d",
    out_path: Path = OUT,
    layer: bool = True,
) -> dict:
    """Every model's step against the measured limits; ``step_vs_base`` relative to ``base``."""
    geom = default_geometry(preset)
    limits = machine_limits()
    out: dict = {"geometry": geom.__dict__, "threads": torch.get_num_threads(), "limits": limits, "models": {}}
    steps, predicts = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            for reg in REGS:
                key = f"{name}-{reg}"
                step, predict, info = trainer_step(name, reg, geom, Path(tmp))
                for _ in range(2):  # warm up the allocator and oneDNN's kernel choice
                    step()
                    predict()
                info.update(model=name, reg=reg, flops=flops(step))
                out["models"][key], steps[key], predicts[key] = info, step, predict
        for key, t in median_times(steps, rounds).items():
            m = out["models"][key]
            m.update(step_s=t, gflops=m["flops"] / t / 1e9)
            m["peak_share"] = m["gflops"] / limits["matmul_gflops"]
        for key, t in median_times(predicts, latency_rounds).items():
            out["models"][key]["latency_s"] = t
    for m in out["models"].values():
        ref = out["models"].get(f"{base}-{m['reg']}")
        m["step_vs_base"] = m["step_s"] / ref["step_s"] if ref else None
    out["base"] = base
    if base == "conv3d" and set(models) == set(MODELS):  # the paper's grid needs all 11 models
        out["grid"] = grid_estimate(out["models"], limits["matmul_gflops"], plan_of(preset))
    if layer:
        out["layer"] = layer_bench(limits, rounds)
    write_json(out_path, out)
    out["written"] = str(out_path)
    return out


def bench_3d(rounds: int = 5, latency_rounds: int = 11) -> dict:
    """The 4D models on the small3d geometry, steps relative to dense Conv4D."""
    return bench(rounds, latency_rounds, MODELS_3D, "small3d", "conv4d", OUT_3D, layer=False)


def verdicts(out: dict) -> list[str]:
    """Issue 9's targets (issue 11's for the 4D models), each PASS or FAIL on this run's figures."""
    models, lines = out["models"], []
    if out.get("base") == "conv4d":
        dense = models["conv4d-basic"]
        for name in MODELS_3D[1:]:
            m = models[f"{name}-basic"]
            r = m["step_vs_base"]
            lines.append(f"{m['label']} step faster than Conv4D: {r:.2f}x {pf(r < 1)}")
        few = dense["parameters"] / models["conv3_5db-basic"]["parameters"]
        lines.append(f"Conv3.5Db >= 8x fewer parameters than Conv4D: {few:.1f}x {pf(few >= 8)}")
        return lines
    basic = {name: models[f"{name}-basic"] for name in MODELS if f"{name}-basic" in models}
    lines += step_targets(basic, "step_vs_base")
    low = min(models.values(), key=lambda m: m["peak_share"])
    lines.append(
        f"no model below {FLOOR_PEAK:.0%} of peak: lowest {low['label']}/{low['reg']} "
        f"{low['peak_share']:.0%} {pf(low['peak_share'] >= FLOOR_PEAK)}"
    )
    over = out["layer"]["2.5Db"]["over_roofline"]
    lines.append(f"2.5Db layer within {LAYER_ROOFLINE}x of its roofline: {over:.1f}x {pf(over <= LAYER_ROOFLINE)}")
    return lines + (grid_lines(out["grid"]) if "grid" in out else [])


def step_targets(by_model: dict[str, dict], ratio: str, prefix: str = "") -> list[str]:
    """Issue 9's step targets, PASS or FAIL, on cells keyed by model name holding ``label``, their
    step / Conv3D's under the key ``ratio`` and ``peak_share``: the decomposed models' step ratios and
    Conv3D's share of the matmul peak (absent models: no line)."""
    lines = []
    for name, limit in STEP_RATIO.items():
        m = by_model.get(name)
        if m is not None and m.get(ratio) is not None:
            lines.append(f"{prefix}{m['label']} step <= {limit}x Conv3D: {m[ratio]:.2f}x {pf(m[ratio] <= limit)}")
    if "conv3d" in by_model:
        share = by_model["conv3d"]["peak_share"]
        lines.append(f"{prefix}Conv3D >= {CONV3D_PEAK:.0%} of the matmul peak: {share:.0%} {pf(share >= CONV3D_PEAK)}")
    return lines


def pf(ok: bool) -> str:
    """A target check's verdict word."""
    return "PASS" if ok else "FAIL"


def report(out: dict) -> str:
    g, lim = out["geometry"], out["limits"]
    zone = "x".join(str(g[k]) for k in ("depth", "height", "width") if g.get(k))
    base = {"conv3d": "Conv3D", "conv4d": "Conv4D"}[out.get("base", "conv3d")]
    lines = [
        f"Surrogates on the {'small3d' if g.get('depth') else 'default'} preset geometry "
        f"(NT={g['n_times']}, {zone} zone, "
        f"B={g['n_boundary']}), default widths, {out['threads']} CPU thread(s); matmul peak "
        f"{lim['matmul_gflops']:.1f} GFLOP/s, copy bandwidth {lim['copy_gbs']:.1f} GB/s (same run); "
        "medians of interleaved rounds:",
        "",
        f"| model | reg | parameters | GFLOP / step | train step | GFLOP/s | share of peak | step / {base} "
        "| 1-sample prediction |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in out["models"].values():
        ratio = "-" if m["step_vs_base"] is None else f"{m['step_vs_base']:.2f}"
        lines.append(
            f"| {m['label']} | {m['reg']} | {m['parameters']:,} | {m['flops'] / 1e9:.3f} | "
            f"{1e3 * m['step_s']:.1f} ms | {m['gflops']:.1f} | {m['peak_share']:.0%} | {ratio} | "
            f"{1e3 * m['latency_s']:.2f} ms |"
        )
    if "layer" in out:
        lines += ["", "One 32->32 layer on (33, 17, 17), batch 10, forward + backward:", ""]
        lines += ["| layer | GFLOP | MB moved | time | roofline | time / roofline |", "|---|---|---|---|---|---|"]
    for name, r in out.get("layer", {}).items():
        lines.append(
            f"| {name} | {r['flops'] / 1e9:.3f} | {r['bytes'] / 1e6:.0f} | {1e3 * r['seconds']:.1f} ms | "
            f"{1e3 * r['roofline_s']:.1f} ms | {r['over_roofline']:.1f}x |"
        )
    return "\n".join([*lines, "", *verdicts(out), f"written: {out['written']}"])
