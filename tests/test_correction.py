"""The residual correction: exact on the training samples, equal to the RBF meter when the network is
affine in p (the cubic kernel's linear tail reproduces it), bad settings named before any training,
and the training stage scoring the hybrid beside the network."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.artefacts import ConfigError
from pipeline.config import compose
from pipeline.tables import write_tables
from pipeline.train import train_run
from surrogate.baselines import RBF
from surrogate.correction import ResidualRBF

RNG = np.random.default_rng(5)
P = RNG.uniform([2, -0.9, -0.5], [6, -0.6, 0.5], size=(40, 3))
Q = RNG.uniform([2, -0.9, -0.5], [6, -0.6, 0.5], size=(9, 3))


def _fields(p: np.ndarray) -> np.ndarray:
    t = np.linspace(0, 1, 5)[None, :, None, None]
    x = np.linspace(-1, 1, 6).reshape(1, 1, 2, 3)
    return np.sin(p[:, 0, None, None, None] * t) * x + np.cos(3 * p[:, 1, None, None, None] * p[:, 2, None, None, None])


def _affine(p: np.ndarray, seed: int) -> np.ndarray:
    """A 'network' affine in p: any such function is reproduced exactly by the cubic RBF's linear tail."""
    a, b = np.random.default_rng(seed).normal(size=(2, 3, 5, 2, 3))
    return np.einsum("nk,k...->n...", p, a) + b[0]


def test_exact_on_the_training_samples_and_the_meter_itself_for_an_affine_network():
    u, v = _fields(P), 2 * _fields(P) ** 2
    nu, nv = _affine(P, 0), _affine(P, 1)
    fix = ResidualRBF().fit(P, u - nu, v - nv)
    cu, cv = fix(P, nu, nv)
    assert np.abs(cu - u).max() < 1e-9 * np.abs(u).max() and np.abs(cv - v).max() < 1e-9 * np.abs(v).max()
    qu, qv = fix(Q, _affine(Q, 0), _affine(Q, 1))
    meter_u, meter_v = RBF().fit(P, u).predict(Q), RBF().fit(P, v).predict(Q)
    assert np.abs(qu - meter_u).max() < 1e-8 * np.abs(u).max()
    assert np.abs(qv - meter_v).max() < 1e-8 * np.abs(v).max()
    assert np.abs(qu - _affine(Q, 0)).max() > 0.1  # the correction did something


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="correction.kernel='gaussian': allowed cubic, quintic"):
        ResidualRBF(kernel="gaussian")
    with pytest.raises(ValueError, match="correction.smoothing=-1"):
        ResidualRBF(smoothing=-1)
    with pytest.raises(RuntimeError, match="fit"):
        ResidualRBF()(Q, Q, Q)


@pytest.fixture
def base(tiny_data):
    return ["data=tiny", f"paths.data_dir={tiny_data.parent}", "progress=false", "train=quick", "train.epochs=2"]


@pytest.mark.parametrize("model", ["conv2d", "conv1d_boundary"])
def test_the_training_stage_scores_the_hybrid_beside_the_network(base, tmp_path, model):
    m = train_run(compose("train", [*base, f"model={model}"]), tmp_path / model)
    hybrid = m["residual_rbf"]
    assert hybrid["label"] == "residual RBF"
    for f in "uv":
        assert hybrid["eps"]["train"][f] < 1e-9 < m["eps"]["train"][f]  # exact where the residual was fitted
        assert hybrid["eps"]["test"][f] != m["eps"]["test"][f]
        assert hybrid["eps_by_normaliser"]["test"][f]["time"] == hybrid["eps"]["test"][f]
    off = train_run(compose("train", [*base, f"model={model}", "correction=null"]), tmp_path / f"{model}-off")
    assert "residual_rbf" not in off and off["eps"] == m["eps"]
    if model == "conv2d":  # the tables show the hybrid's full-field errors beside the network's
        md = write_tables(tmp_path / model, tmp_path / "tables").read_text()
        assert "plus the RBF interpolation over p of its training residual" in md
        assert f"| Conv2D | {100 * hybrid['eps']['test']['u']:.2f} |" in md


def test_a_bad_correction_stops_the_stage_before_training(base, tmp_path):
    with pytest.raises(ConfigError, match="correction.kernel='gaussian'"):
        train_run(compose("train", [*base, "correction.kernel=gaussian"]), tmp_path / "bad")
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()
    with pytest.raises(ConfigError, match="correction=3: must be null"):
        train_run(compose("train", [*base, "correction=3"]), tmp_path / "bad3")


@pytest.mark.slow
def test_after_zoom_the_hybrid_drives_the_submodel_with_the_exact_training_traces(base, tmp_path):
    """On the training samples the hybrid's traces are the data's, as the RBF meter's are: both give
    the submodel's own error after zoom, under every trace construction; on test it is its own."""
    from pipeline.baselines import run as baselines_stage
    from pipeline.submodel import run as submodel_stage

    data = base[:3]
    run = tmp_path / "sweep" / "conv2d-basic"
    train_run(compose("train", [*base, "model=conv2d", "correction=null"]), run)
    train_run(compose("train", [*base, "model=conv2d"]), run)  # finished: re-scored; its checkpoint's config has none
    meter = baselines_stage(
        compose("baselines", [*data, f"out={tmp_path / 'b'}", "~methods.zero", "~methods.nearest", "~methods.pod_rbf"])
    )
    rbf = json.loads(meter.read_text())["methods"]["rbf"]
    res = submodel_stage(compose("submodel", [*base, f"target={tmp_path / 'sweep'}"]))[0]["conv2d-basic"]
    hybrid = res["residual_rbf"]
    for f in "uv":
        assert hybrid["eps_zoom"]["train"][f] == pytest.approx(rbf["eps_zoom"]["train"][f], rel=1e-6)
        fused = hybrid["by_trace"]["fused"]["eps_zoom"]["train"][f]
        assert fused == pytest.approx(rbf["by_trace"]["fused"]["eps_zoom"]["train"][f], rel=1e-6)
        assert hybrid["eps_zoom"]["test"][f] not in (res["eps_zoom"]["test"][f], rbf["eps_zoom"]["test"][f])
    off = submodel_stage(compose("submodel", [*base, f"target={tmp_path / 'sweep'}", "submodel.residual_rbf=false"]))
    assert "residual_rbf" not in off[0]["conv2d-basic"]
