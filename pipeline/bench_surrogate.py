"""Surrogate benchmark: Conv3D vs the a priori decomposed Conv2.5D and Conv2.5Db, in one run.

On the default (small) preset's geometry with the models' default widths: the median time of a
training step (forward + backward + Adam step, batch of ``train.batch_size`` samples), parameter
counts, and the median latency of one full-field prediction. Models are timed in interleaved rounds
so that machine noise hits all of them alike; ratios are taken between medians of the same run. A
layer-level line compares one decomposed layer with dense ``nn.Conv3d`` in both memory formats.
"""

from __future__ import annotations

import statistics
import time

import torch

from fe.spec import MeshSpec, Physics, build
from fe.zone import ZoneGrid
from pipeline.config import compose
from pipeline.runs import build_model
from surrogate.decomposed import DecomposedConv
from surrogate.models import Geometry, n_parameters

MODELS = ("conv3d", "conv2_5d", "conv2_5db")
TARGETS = {"conv2_5d": (0.7, 2.7), "conv2_5db": (0.6, 4.4)}  # (max step-time ratio, min parameter ratio)


def default_geometry() -> Geometry:
    """The default data preset's sizes, from the config (no dataset needed)."""
    from omegaconf import OmegaConf

    cfg = compose("data", [])
    physics = build(Physics, "physics", OmegaConf.to_container(cfg.physics, resolve=True))
    mesh = build(MeshSpec, "mesh", OmegaConf.to_container(cfg.mesh, resolve=True))
    zone = ZoneGrid.of(physics, mesh)
    h, w = zone.shape
    return Geometry(int(cfg.solver.n_snapshots), h, w, len(zone.boundary))


def _median_times(steps: dict[str, callable], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}


def bench(rounds: int = 15, latency_rounds: int = 30) -> dict:
    geom = default_geometry()
    batch = int(compose("train", []).train.batch_size)
    torch.manual_seed(0)
    p = torch.randn(batch, 3)
    out: dict = {"geometry": geom, "batch": batch, "threads": torch.get_num_threads(), "models": {}}
    steps, predicts = {}, {}
    for name in MODELS:
        model = build_model(compose("train", [f"model={name}", "reg=basic"]), geom)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        target = [torch.randn(batch, geom.n_times, geom.height, geom.width) for _ in range(2)]

        def step(model=model, opt=opt, target=target):
            model.train()
            u, v = model(p)
            loss = torch.mean((u - target[0]) ** 2) + torch.mean((v - target[1]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        @torch.no_grad()
        def predict(model=model):
            model.eval()
            model(p[:1])

        for _ in range(3):
            step()
            predict()
        steps[name], predicts[name] = step, predict
        out["models"][name] = {"label": model.label, "parameters": n_parameters(model)}
    for name, t in _median_times(steps, rounds).items():
        out["models"][name]["step_s"] = t
    for name, t in _median_times(predicts, latency_rounds).items():
        out["models"][name]["latency_s"] = t
    out["layer"] = _layer_bench(rounds)
    return out


def _layer_bench(rounds: int) -> dict[str, float]:
    """One 32 -> 32 channel layer on a (33, 17, 17) grid: dense (both formats) vs decomposed."""
    x = torch.randn(10, 32, 33, 17, 17)
    dense = torch.nn.Conv3d(32, 32, 3, padding=1)
    dense_cl = torch.nn.Conv3d(32, 32, 3, padding=1).to(memory_format=torch.channels_last_3d)
    x_cl = x.contiguous(memory_format=torch.channels_last_3d)
    layers = {
        "dense": (dense, x),
        "dense_channels_last": (dense_cl, x_cl),
        "2.5D": (DecomposedConv(32, 32, (3, 3, 3), [[1, 2], [0]], rank=16), x),
        "2.5Db": (DecomposedConv(32, 32, (3, 3, 3), [[1], [2], [0]], rank=16), x),
    }
    steps = {}
    for name, (layer, inp) in layers.items():

        def step(layer=layer, inp=inp):
            layer.zero_grad(set_to_none=True)
            layer(inp).square().mean().backward()

        step()
        steps[name] = step
    return _median_times(steps, rounds)


def report(out: dict) -> str:
    g, models = out["geometry"], out["models"]
    base = models["conv3d"]
    lines = [
        f"Surrogates on the default preset geometry (NT={g.n_times}, {g.height}x{g.width} zone), default "
        f"widths, reg=basic, batch {out['batch']}, {out['threads']} CPU thread(s), medians of interleaved rounds:",
        "",
        "| model | parameters | param. reduction | train step | step ratio | 1-sample prediction |",
        "|---|---|---|---|---|---|",
    ]
    verdicts = []
    for name, m in models.items():
        ratio = m["step_s"] / base["step_s"]
        reduction = base["parameters"] / m["parameters"]
        lines.append(
            f"| {m['label']} | {m['parameters']:,} | {reduction:.2f}x | {1e3 * m['step_s']:.1f} ms | "
            f"{ratio:.2f} | {1e3 * m['latency_s']:.2f} ms |"
        )
        if name in TARGETS:
            max_ratio, min_red = TARGETS[name]
            ok = ratio <= max_ratio and reduction >= min_red
            verdicts.append(
                f"{m['label']}: step <= {max_ratio}x Conv3D and params >= {min_red}x fewer: {'PASS' if ok else 'FAIL'}"
            )
    layer = out["layer"]
    lines += [
        "",
        "One 32->32 layer on (33, 17, 17), batch 10, forward + backward: "
        + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in layer.items())
        + f" (2.5D / dense: {layer['2.5D'] / layer['dense']:.2f}, vs channels-last dense: "
        f"{layer['2.5D'] / layer['dense_channels_last']:.2f})",
        "",
        "; ".join(verdicts),
    ]
    return "\n".join(lines)
