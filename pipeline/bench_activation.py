"""Activation ablation: the models' ELU (``surrogate.activations``) against ``torch.nn.ELU``.

PyTorch's CPU ELU goes through a slow ``expm1``; ours through ``exp``. Two views, same run,
interleaved rounds: the activation alone (forward + backward on the widest decoder tensor of the
default preset, 32 channels on (33, 17, 17), batch 10, channels-last), and the whole training step
(loss, backward, Adam) of the models that spend most in it, with ``model.activation._target_``
set to ``torch.nn.ELU`` (the runs made before the switch) and left at the default.
"""

from __future__ import annotations

import torch
from torch import nn

from pipeline.bench_ab import Variant, ab_steps
from surrogate.activations import ELU

MODELS = ("conv3d", "conv2_5d", "conv2_5db", "conv2d_t")
OLD = ("model.activation._target_=torch.nn.ELU",)
VARIANTS = {"torch": Variant(OLD), "ours": Variant()}


def bench(rounds: int = 9, models: tuple[str, ...] = MODELS) -> dict:
    """Median times of the activation alone and of each model's step, torch.nn.ELU and ours."""
    x = torch.randn(10, 32, 33, 17, 17).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    g = torch.randn_like(x)

    def layer(act: nn.Module) -> None:
        x.grad = None
        act(x).backward(g)

    acts = {"torch": nn.ELU(), "ours": ELU()}
    ab = ab_steps(models, VARIANTS, rounds, extra={k: lambda a=a: layer(a) for k, a in acts.items()})
    out: dict = {"threads": torch.get_num_threads(), "layer": {f"{k}_s": t for k, t in ab.extra.items()}, "models": {}}
    for name, m in ab.models.items():
        out["models"][name] = {"label": m["label"], **{f"{k}_s": m[k]["step_s"] for k in VARIANTS}}
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
