"""The models' ELU: torch.nn.ELU's values and gradients, its layout, and which runs use it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.config import compose
from pipeline.runs import build_model, geometry, load_data, model_spec
from surrogate import checkpoint
from surrogate.activations import ELU, elu

CONF = Path(__file__).resolve().parent.parent / "conf"


def _activations(model: nn.Module) -> set[type]:
    return {type(a) for a in model.modules() if isinstance(a, (ELU, nn.ELU))}


def test_values_and_gradients_are_torchs_elu_to_a_float32_ulp():
    torch.manual_seed(0)
    x = (4 * torch.randn(6, 8, 9, 7, 5)).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    y, ref = elu(x), F.elu(x)
    assert y.is_contiguous(memory_format=torch.channels_last_3d)  # the next convolution reads it as is
    assert (y - ref).abs().max().item() <= 6e-8  # exp(x) - 1 against expm1(x): one ulp of 1
    assert torch.equal(y[x > 0], x[x > 0])  # the positive branch is x itself
    g = torch.randn_like(x)
    (gx,) = torch.autograd.grad(y, x, g)
    (gr,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(gx, gr, rtol=1e-6, atol=1e-6)


def test_special_values():
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -1e-30, -50.0, 1e-30])
    y = elu(x)
    assert y[0].isnan()
    assert y[1:].tolist() == pytest.approx([float("inf"), -1.0, 0.0, 0.0, -1.0, 1e-30], abs=1e-30)


def test_first_and_second_derivatives_in_double_precision():
    x = torch.randn(5, 7, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(elu, (x,))
    assert torch.autograd.gradgradcheck(elu, (x,))


def test_module_is_a_drop_in_for_torch_elu():
    x = torch.linspace(-5, 5, 101)
    torch.testing.assert_close(ELU()(x), nn.ELU()(x), rtol=0, atol=6e-8)


def test_every_model_config_uses_it_and_an_old_run_rebuilds_with_torch_elu(tiny_data):
    models = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
    for name in models:
        cfg = compose("train", [f"model={name}"])
        assert cfg.model.activation._target_ == "surrogate.activations.ELU", name
    cfg = compose("train", ["data=tiny", f"paths.data_dir={tiny_data.parent}", "model=conv2_5d"])
    geom = geometry(load_data(cfg)[0])
    assert _activations(build_model(cfg, geom)) == {ELU}
    # a run made before the switch stored torch.nn.ELU in its checkpoint's spec: it rebuilds with it
    old = model_spec(cfg, geom)
    old["activation"]["_target_"] = "torch.nn.ELU"
    assert _activations(checkpoint.build(old)) == {nn.ELU}


def test_a_model_predicts_the_same_with_either_elu(tiny_data):
    """Same seed, same weights: a whole decoder's outputs agree to float32 round-off."""
    cfg = compose("train", ["data=tiny", f"paths.data_dir={tiny_data.parent}", "model=conv2_5db"])
    geom = geometry(load_data(cfg)[0])
    spec = model_spec(cfg, geom)
    ours = build_model(cfg, geom, spec)
    spec["activation"]["_target_"] = "torch.nn.ELU"
    theirs = build_model(cfg, geom, spec)
    theirs.load_state_dict(ours.state_dict())
    p = torch.rand(4, 3)
    for a, b in zip(ours(p), theirs(p), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_the_bench_section_times_torchs_elu_against_ours(tmp_path):
    """The A/B is only an A/B if its 'torch' step really trains a torch.nn.ELU model."""
    from pipeline.bench_activation import OLD, bench, report
    from pipeline.bench_surrogate import bench_trainer
    from surrogate.models import Geometry

    geom = Geometry(9, 9, 9, 32)
    for over, want in ((OLD, nn.ELU), ((), ELU)):
        assert _activations(bench_trainer("conv2_5db", "basic", geom, tmp_path, overrides=over).model) == {want}
    out = bench(rounds=1, models=("conv2_5db",))
    m = out["models"]["conv2_5db"]
    assert m["speedup"] == pytest.approx(m["torch_s"] / m["ours_s"])
    assert f"| Conv2.5Db / Basic, training step | {1e3 * m['torch_s']:.1f} ms |" in report(out)
