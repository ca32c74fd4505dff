"""Every model x regularisation of the paper's grid, built from the real config, on tiny data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import compose
from pipeline.runs import build_model, geometry, load_data, regularization
from surrogate.models import Geometry, n_parameters
from surrogate.protocol import TrainSpec
from surrogate.training import Trainer

CONF = Path(__file__).resolve().parent.parent / "conf"
MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml") if "data_dim" not in p.read_text())  # 2D
REGS = sorted(p.stem for p in (CONF / "reg").glob("*.yaml"))


def _cfg(tiny_data: Path, *extra: str):
    return compose("train", ["data=tiny", f"paths.data_dir={tiny_data.parent}", "progress=false", *extra])


def test_the_grid_is_the_papers_11_by_6():
    assert len(MODELS) == 11 and len(REGS) == 6


@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("model", MODELS)
def test_every_combination_builds_and_takes_a_training_step(tiny_data, tmp_path, model, reg):
    cfg = _cfg(tiny_data, f"model={model}", f"reg={reg}")
    train, _ = load_data(cfg)
    geom = geometry(train)
    m = build_model(cfg, geom)
    u, v = m.target.arrays(train)
    trainer = Trainer(
        m,
        TrainSpec(epochs=1, batch_size=4, times_per_sample=5),
        regularization(cfg),
        train.params,
        u,
        v,
        0.125,
        tmp_path,
        {"fingerprint": "t"},
        0,
        torch.device("cpu"),
    )
    before = [p.detach().clone() for p in m.parameters()]
    loss, _ = trainer._run_epoch()
    assert np.isfinite(loss)
    assert any(not torch.equal(b, p) for b, p in zip(before, m.parameters(), strict=True))
    space = (geom.height, geom.width) if m.target.full_field else (geom.n_boundary,)
    m.eval()
    p = trainer.p[:3]
    u_hat, v_hat = m(p)
    assert u_hat.shape == v_hat.shape == (3, geom.n_times, *space)
    t_idx = torch.tensor([[0, 4], [16, 1], [3, 3]])
    u_some, _ = m(p, t_idx)
    assert u_some.shape == (3, 2, *space)
    assert torch.allclose(u_some[1, 0], u_hat[1, 16], atol=1e-5)  # a time picked = that time of the whole


@pytest.mark.parametrize("model", ["conv2_5d", "fc_t", "conv1_5d_boundary"])
def test_shared_layers_exist_once_and_feed_both_heads(tiny_data, model):
    cfg_sl = _cfg(tiny_data, f"model={model}", "reg=sl")
    train, _ = load_data(cfg_sl)
    sl = build_model(cfg_sl, geometry(train))
    two = build_model(_cfg(tiny_data, f"model={model}", "reg=basic"), geometry(train))
    assert len(sl.trunks) == 1 and len(two.trunks) == 2
    trunk, heads = sl.trunks[0], sl.heads
    assert n_parameters(sl) == n_parameters(trunk) + n_parameters(heads[0]) + n_parameters(heads[1])
    assert n_parameters(two) == n_parameters(sl) + n_parameters(trunk)
    seen = []
    for head in heads:
        head.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    calls = []
    trunk.register_forward_hook(lambda mod, args, out: calls.append(out))
    sl(torch.randn(2, 3))
    assert len(calls) == 1 and seen[0] is seen[1] is calls[0]  # one trunk pass, the same tensor to both
    grads = torch.autograd.grad(
        sum(o.sum() for o in sl(torch.randn(2, 3))), list(trunk.parameters()), allow_unused=True
    )
    assert all(g is not None for g in grads)


def test_batch_norm_with_euler_is_refused(tiny_data):
    cfg = _cfg(tiny_data, "reg=bn", "reg.euler=1.0")
    train, _ = load_data(cfg)
    with pytest.raises(ValueError, match="batch_norm with euler"):
        build_model(cfg, geometry(train))


def test_a_model_overfits_a_handful_of_samples(tiny_data, tmp_path):
    cfg = _cfg(tiny_data, "model=conv1d_boundary", "reg=basic", "model.widths=[1,2,2,1]")
    train, _ = load_data(cfg)
    few = train.subset(slice(0, 4))
    m = build_model(cfg, geometry(train))
    u, v = m.target.arrays(few)
    trainer = Trainer(
        m,
        TrainSpec(epochs=800, batch_size=4, lr=3e-3, lr_final=3e-4),
        regularization(cfg),
        few.params,
        u,
        v,
        0.125,
        tmp_path,
        {"fingerprint": "t"},
        0,
        torch.device("cpu"),
    )
    from surrogate.metrics import ErrorSpec

    start = trainer.errors(few.params, u, v, ErrorSpec())
    trainer.fit(progress=False)
    end = trainer.errors(few.params, u, v, ErrorSpec())
    for f in ("u", "v"):
        assert end[f]["eps"] < 0.04 and end[f]["eps"] < 0.1 * start[f]["eps"], (start, end)


# The paper's Table 1 (million parameters): Basic and SL columns.
TABLE_1 = {
    "fc_t": (14.34, 14.22),
    "conv2d": (23.30, 12.63),
    "conv2d_t": (1.52, 0.81),
    "conv3d": (7.25, 3.83),
    "conv2_5d": (2.72, 1.46),
    "conv2_5db": (1.63, 0.85),
    "fc_t_boundary": (0.27, 0.26),
    "conv1d_boundary": (6.98, 3.65),
    "conv1d_t_boundary": (0.45, 0.24),
    "conv2d_boundary": (2.19, 1.13),
    "conv1_5d_boundary": (1.18, 0.61),
}


def test_table_1_families_follow_the_papers_structure():
    """On the paper preset's geometry (NT = 129, 33 x 33 zone, 128 boundary nodes) the Basic column
    ranks the 11 models as the paper's does, and SL shrinks each model as in the paper."""
    from scipy.stats import spearmanr

    geom = Geometry(129, 33, 33, 128)
    ours = {
        m: {r: n_parameters(build_model(compose("train", [f"model={m}", f"reg={r}"]), geom)) for r in ("basic", "sl")}
        for m in TABLE_1
    }
    rho = spearmanr([ours[m]["basic"] for m in TABLE_1], [b for b, _ in TABLE_1.values()]).statistic
    assert rho >= 0.9, {m: v["basic"] for m, v in ours.items()}
    for m, (basic, sl) in TABLE_1.items():
        assert abs(ours[m]["sl"] / ours[m]["basic"] - sl / basic) <= 0.15, m
    assert ours["conv2d"]["basic"] > 3 * ours["conv3d"]["basic"]  # time as channels: the largest CNN


def test_widths_in_units_of_time_carry_the_snapshots_as_channels():
    geom = Geometry(33, 17, 17, 64)
    model = build_model(compose("train", ["model=conv2d", "reg=basic"]), geom)
    assert model.widths == [33, 66, 66, 33]
    with pytest.raises(Exception, match="model.width_unit='steps'"):
        build_model(compose("train", ["model=conv2d", "model.width_unit=steps"]), geom)
    with pytest.raises(Exception, match="model.widths=.*integers"):
        build_model(compose("train", ["model=conv3d", "model.widths=[16.5,8]"]), geom)
    with pytest.raises(Exception, match="model.head_layers=0"):
        build_model(compose("train", ["model=conv3d", "model.head_layers=0"]), geom)


@pytest.mark.parametrize("width, factor", [("x2", 2), ("x4", 4), ("x8", 8)])
def test_width_overlays_scale_the_3d_family_and_refuse_other_models(width, factor):
    """``+width=x2|x4|x8`` (conf/width/, the capacity study) multiplies every channel width and the lift of
    the 3D family, so the decoder's parameter count grows about factor^2; other models are refused."""
    from pipeline.artefacts import ConfigError
    from pipeline.validate import check_train

    geom = Geometry(33, 17, 17, 64)
    for name in ("conv3d", "conv2_5d", "conv2_5db"):
        base, wide = (compose("train", [f"model={name}", "train=short", *extra]) for extra in ([], [f"+width={width}"]))
        check_train(wide)
        assert list(wide.model.widths) == [factor * w for w in base.model.widths]
        assert wide.model.lift == factor * base.model.lift
        ratio = n_parameters(build_model(wide, geom)) / n_parameters(build_model(base, geom))
        assert 0.7 * factor**2 < ratio < 1.1 * factor**2, (name, ratio)
    with pytest.raises(ConfigError, match=f"width={width}: .* model=conv2d is not one of them"):
        check_train(compose("train", ["model=conv2d", f"+width={width}"]))
