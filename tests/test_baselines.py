"""Non-neural baselines: known answers of each method, and the baselines stage on the tiny preset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fe import dataset
from pipeline.config import compose
from surrogate.baselines import PODRBF, RBF, Nearest, Zero
from surrogate.metrics import ErrorSpec, epsilon

RNG = np.random.default_rng(3)
P = RNG.uniform([2, -0.9, -0.5], [6, -0.6, 0.5], size=(30, 3))


def _fields(p: np.ndarray) -> np.ndarray:
    """Smooth fields (N, 4, 3, 2) of p; a rank-2 family in space-time."""
    t = np.linspace(0, 1, 4)[None, :, None, None]
    x = np.linspace(-1, 1, 6).reshape(1, 1, 3, 2)
    return np.sin(p[:, 0, None, None, None] * t) * x + p[:, 1, None, None, None] * p[:, 2, None, None, None] * t


def test_rbf_and_pod_interpolate_the_training_points_exactly():
    y = _fields(P)
    for method in (RBF(), PODRBF(tolerance=1e-12)):
        assert np.abs(method.fit(P, y).predict(P) - y).max() < 1e-9 * np.abs(y).max()


def test_pod_keeps_the_modes_of_the_requested_energy():
    """Fields a(p) S1 + b(p) S2 on two fixed shapes: two modes hold all the energy."""
    s1, s2 = RNG.normal(size=(2, 4, 3, 2))
    y = np.sin(P[:, :1, None, None]) * s1 + (P[:, 1:2, None, None] * P[:, 2:3, None, None]) * s2
    assert PODRBF(tolerance=1e-10).fit(P, y).n_modes == 2
    assert PODRBF(tolerance=0.5).fit(P, y).n_modes == 1


def test_rbf_reproduces_a_linear_function_of_p_anywhere():
    """The cubic kernel's polynomial tail holds the linear functions: exact off the samples too."""
    coef = np.array([0.3, -2.0, 1.5])
    y = (P @ coef)[:, None]
    q = RNG.uniform([2, -0.9, -0.5], [6, -0.6, 0.5], size=(7, 3))
    assert np.allclose(RBF().fit(P, y).predict(q)[:, 0], q @ coef, atol=1e-9)


def test_nearest_copies_the_nearest_sample_in_scaled_p_and_zero_is_zero():
    y = _fields(P)
    near = Nearest().fit(P, y)
    q = P[[4, 9]] + 1e-6
    assert np.array_equal(near.predict(q), y[[4, 9]])
    # omega spans 4, xs 0.3: scaling makes a 0.1 step in xs weigh more than a 0.1 step in omega
    a = np.array([[4.0, -0.75, 0.0]])
    two = np.array([[4.0, -0.75, 0.0], [4.1, -0.75, 0.0]])
    probe = Nearest().fit(two, np.arange(2.0)[:, None])
    assert probe.predict(a + [0.0, 0.05, 0.0])[0, 0] == 0.0
    assert np.all(Zero().fit(P, y).predict(P[:3]) == 0) and Zero().fit(P, y).predict(P[:3]).shape == (3, 4, 3, 2)


def test_bad_settings_name_the_key():
    with pytest.raises(ValueError, match="tolerance"):
        PODRBF(tolerance=0)
    with pytest.raises(ValueError, match="smoothing"):
        RBF(smoothing=-1)
    with pytest.raises(ValueError, match="kernel='nope'"):
        RBF(kernel="nope").fit(P, _fields(P))
    with pytest.raises(RuntimeError, match="fit"):
        RBF().predict(P)


@pytest.mark.slow
def test_the_baselines_stage_scores_and_zooms_every_method(tiny_data, tmp_path):
    from pipeline.baselines import run

    cfg = compose(
        "baselines",
        [f"paths.data_dir={tiny_data.parent}", f"data={tiny_data.name}", f"out={tmp_path}", "progress=false"],
    )
    doc = json.loads(run(cfg).read_text())
    methods = doc["methods"]
    assert set(methods) == {"zero", "nearest", "rbf", "pod_rbf"}
    test = dataset.load(tiny_data / "test.h5")
    spec = ErrorSpec(**cfg.metrics)
    # predicting 0 scores mean_x|U| / max_x|U|, and a zone driven by zero traces stays at rest
    expected = epsilon(np.zeros_like(test.u), test.u, spec)["eps"]
    assert methods["zero"]["eps"]["test"]["u"] == pytest.approx(expected, rel=1e-12)
    assert methods["zero"]["eps_zoom"]["test"]["u"] == pytest.approx(expected, rel=1e-12)
    # interpolants reproduce the training split (after zoom only up to the Hermite trace in time)
    assert methods["nearest"]["eps"]["train"]["u"] == 0.0
    assert methods["rbf"]["eps"]["train"]["u"] < 1e-9 and methods["pod_rbf"]["eps"]["train"]["v"] < 1e-6
    assert methods["rbf"]["eps_zoom"]["train"]["u"] < 0.05
    # every method is zoomed under the compared trace too: zero stays zero, exact traces stay close
    assert doc["trace"]["name"] == "as_predicted" and all(set(m["by_trace"]) == {"fused"} for m in methods.values())
    assert methods["zero"]["by_trace"]["fused"]["eps_zoom"]["test"]["u"] == pytest.approx(expected, rel=1e-12)
    assert methods["nearest"]["by_trace"]["fused"]["eps_zoom"]["train"]["u"] < 0.05
    zero_sample = epsilon(np.zeros_like(test.u), test.u, ErrorSpec("sample"))["eps"]
    assert methods["zero"]["eps_by_normaliser"]["test"]["u"]["sample"] == pytest.approx(zero_sample, rel=1e-12)
    for m in methods.values():
        assert m["eps"]["test"]["u"] == m["eps_by_normaliser"]["test"]["u"]["time"]
    assert methods["rbf"]["eps"]["test"]["u"] < methods["nearest"]["eps"]["test"]["u"] < expected
    assert doc["data_fingerprint"] == test.attrs["fingerprint"] and doc["git_revision"]


def test_the_baselines_stage_refuses_bad_settings_before_any_work(tmp_path):
    from pipeline.baselines import run

    with pytest.raises(ValueError, match="block_size=0"):
        run(compose("baselines", ["block_size=0", f"paths.data_dir={tmp_path}"]))
