"""Activation ablation: the models' ELU (``surrogate.activations``) against ``torch.nn.ELU``.

PyTorch's CPU ELU goes through a slow ``expm1``; ours through ``exp``. Two views, same run,
interleaved rounds: the activation alone (forward + backward on the widest decoder tensor of the
default preset, 32 channels on (33, 17, 17), batch 10, channels-last), and the whole training step
(loss, backward, Adam) of the models that spend most in it, with ``model.activation._target_``
set to ``torch.nn.ELU`` (the runs made before the switch) and left at the default.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from torch import nn

from pipeline.bench_surrogate import _trainer_step, default_geometry, median_times
from surrogate.activations import ELU

MODELS = ("conv3d", "conv2_5d", "conv2_5db", "conv2d_t")
OLD = ("model.activation._target_=torch.nn.ELU",)


def bench(rounds: int = 9, models: tuple[str, ...] = MODELS) -> dict:
    """Median times of the activation alone and of each model's step, torch.nn.ELU and ours."""
    out: dict = {"threads": torch.get_num_threads(), "layer": {}, "models": {}}
    x = torch.randn(10, 32, 33, 17, 17).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    g = torch.randn_like(x)
    steps = {}
    for kind, act in (("torch", nn.ELU()), ("ours", ELU())):

        def layer(act=act) -> None:
            x.grad = None
            act(x).backward(g)

        steps[f"layer|{kind}"] = layer
    geom = default_geometry()
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            for kind, over in (("torch", OLD), ("ours", ())):
                step, _, info = _trainer_step(name, "basic", geom, Path(tmp), overrides=over)
                step()  # warm up the allocator and oneDNN's kernel choice
                steps[f"{name}|{kind}"] = step
                out["models"].setdefault(name, {"label": info["label"]})
        for key, t in median_times(steps, rounds).items():
            name, kind = key.split("|")
            (out["layer"] if name == "layer" else out["models"][name])[f"{kind}_s"] = t
    for r in [out["layer"], *out["models"].values()]:
        r["speedup"] = r["torch_s"] / r["ours_s"]
    return out


def report(out: dict) -> str:
    r = out["layer"]
    lines = [
        f"ELU ablation ({out['threads']} CPU thread(s), medians of interleaved rounds): torch.nn.ELU against "
        "surrogate.activations.ELU",
        "",
        "| what | torch.nn.ELU | ours | speed-up |",
        "|---|---|---|---|",
        f"| the activation alone, 32 x (33, 17, 17), batch 10, fwd + bwd | {1e3 * r['torch_s']:.1f} ms | "
        f"{1e3 * r['ours_s']:.1f} ms | {r['speedup']:.2f}x |",
    ]
    for m in out["models"].values():
        lines.append(
            f"| {m['label']} / Basic, training step | {1e3 * m['torch_s']:.1f} ms | {1e3 * m['ours_s']:.1f} ms | "
            f"{m['speedup']:.2f}x |"
        )
    return "\n".join(lines)
