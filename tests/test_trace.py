"""Trace constructions (fe/trace.py): the integral they rest on, their consistency, what they keep,
their gain on noisy predictions, and how the pipeline records and tabulates them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import write_run

from fe.trace import AsPredicted, Fused, integral_matrix
from pipeline.artefacts import ConfigError
from pipeline.config import compose

TIMES = np.cumsum(np.r_[0.0, np.linspace(0.5, 1.5, 20) / 20])  # 21 uneven trace times from 0


def test_the_integral_is_exact_for_cubics_at_uneven_times():
    t = TIMES
    q = integral_matrix(t)
    b = 4 * t**3 - 3 * t**2 + 2 * t - 1  # its integral from 0: t^4 - t^3 + t^2 - t
    np.testing.assert_allclose(q @ b, t**4 - t**3 + t**2 - t, atol=1e-12)
    with pytest.raises(ValueError, match="need >= 4 increasing times"):
        integral_matrix(np.array([0.0, 0.2, 0.1, 0.3]))


def _consistent(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(N, NT, *shape) u and v = du/dt, v quadratic in t (so u = integral of v's spline, exactly)."""
    rng = np.random.default_rng(0)
    c = rng.normal(size=(3, 4, 1, *shape))
    t = TIMES[None, :, *[None] * len(shape)]
    v = c[0] + c[1] * t + c[2] * t**2
    return c[0] * t + c[1] * t**2 / 2 + c[2] * t**3 / 3, v


@pytest.mark.parametrize("rho", [0.0, 0.5, 1.0, 4.0])
def test_a_consistent_pair_is_kept_on_any_boundary_shape(rho):
    u, v = _consistent((2, 3))  # a 3D-like surface (2, 3) of nodes per time
    a, b = Fused(rho)(TIMES, u, v)
    np.testing.assert_allclose(a, u, atol=1e-10)
    np.testing.assert_allclose(b, v, atol=1e-10)
    kept_u, kept_v = AsPredicted()(TIMES, u, v)
    assert kept_u is u and kept_v is v


def test_the_fused_pair_is_consistent_and_its_limits_trust_one_field():
    rng = np.random.default_rng(1)
    u, v = rng.normal(size=(2, 3, TIMES.size, 5))  # two unrelated fields
    q = integral_matrix(TIMES)
    for rho in (0.0, 1.0, 1e6):
        a, b = Fused(rho)(TIMES, u, v)
        np.testing.assert_allclose(a, u[:, :1] + np.einsum("ij,njb->nib", q, b), atol=1e-10)  # u integrates v
    a, b = Fused(0.0)(TIMES, u, v)
    assert np.array_equal(b, v)  # rho = 0: v as predicted, u its integral
    a, _ = Fused(1e6)(TIMES, u, v)  # v's error deemed huge: u as predicted
    np.testing.assert_allclose(a, u, atol=1e-4 * np.abs(u).max())
    for bad in (-1.0, float("inf"), "one"):
        with pytest.raises(ValueError, match=f"rho={bad}: must be a finite number >= 0"):
            Fused(bad)


def test_fusing_two_noisy_predictions_beats_each_alone():
    # Gauss-Markov: with the residuals weighed by the true noise levels, the least-squares pair is the
    # best linear unbiased estimate, so it errs less than v alone and than u alone.
    t = np.linspace(0.0, 1.0, 33)
    rng = np.random.default_rng(2)
    omega = 2 * np.pi * rng.uniform(1.0, 2.0, size=(1, 1, 400))
    u_true, v_true = np.sin(omega * t[None, :, None]), omega * np.cos(omega * t[None, :, None])
    rel, rho = 0.03, 2.0  # v's relative error twice u's
    u = u_true + rel * u_true.std() * rng.normal(size=u_true.shape)
    v = v_true + rho * rel * v_true.std() * rng.normal(size=v_true.shape)
    u[:, 0] = u_true[:, 0]  # the first value is the fixed start of the integral
    a, b = Fused(rho)(t, u, v)
    err = {
        name: np.sqrt(np.mean((x - ref) ** 2))
        for name, x, ref in (("a", a, u_true), ("u", u, u_true), ("b", b, v_true), ("v", v, v_true))
    }
    assert err["a"] < 0.7 * err["u"] and err["b"] < 0.9 * err["v"], err


def test_the_trace_group_is_checked_and_built_by_name(tiny_data):
    from pipeline.validate import check_submodel
    from pipeline.zoom import Traces

    base = ["data=tiny", f"paths.data_dir={tiny_data.parent}"]
    cfg = compose("submodel", base)
    traces = Traces(cfg.trace)
    assert traces.name == "as_predicted" and isinstance(traces.primary, AsPredicted)
    assert isinstance(traces.compare["fused"], Fused) and traces.compare["fused"].rho == 2.0
    fused = Traces(compose("submodel", [*base, "trace=fused"]).trace)
    assert isinstance(fused.primary, Fused) and set(fused.compare) == {"as_predicted"}
    with pytest.raises(ConfigError, match=r"trace.compare.fused: rho=-2.0: must be a finite number >= 0"):
        Traces(compose("submodel", [*base, "trace.compare.fused.rho=-2.0"]).trace)
    with pytest.raises(ConfigError, match="trace.compare.as_predicted: the primary construction's name"):
        check_submodel(compose("submodel", [*base, "+trace.compare.as_predicted._target_=fe.trace.AsPredicted"]))
    with pytest.raises(ConfigError, match=r"trace.primary=.*must be a construction with a _target_"):
        check_submodel(compose("submodel", [*base, "~trace.primary._target_"]))


def test_a_sweep_keeps_one_primary_trace_and_tables_the_others(tmp_path):
    from pipeline.tables import write_tables

    def zoom(name: str, primary: float, other: str | None, value: float) -> dict:
        doc = {"trace": {"name": name, "construction": name}, "eps_zoom": {"test": {"u": primary, "v": primary}}}
        if other:
            doc["by_trace"] = {other: {"construction": other, "eps_zoom": {"test": {"u": value, "v": value}}}}
        return doc

    sweep = tmp_path / "sweep"
    eps = {"eps": {"test": {"u": 0.5, "v": 0.5}}, "data_fingerprint": "abc"}
    write_run(sweep, "conv3d", "basic", 0, zoom("as_predicted", 0.03, "fused", 0.01), **eps)
    write_run(sweep, "conv3d", "basic", 1, zoom("as_predicted", 0.05, "fused", 0.02), **eps)
    write_run(sweep, "conv3d", "basic", 2, zoom("fused", 0.03, "as_predicted", 0.04), **eps)  # swapped back
    write_run(sweep, "conv3d", "bn", 0, zoom("fused", 0.09, None, 0.0), **eps)  # cannot be swapped
    method = {"label": "RBF", "eps_zoom": {"test": {"u": 0.07, "v": 0.07}}, "by_trace": {}}
    method["by_trace"]["as_predicted"] = {"eps_zoom": {"test": {"u": 0.06, "v": 0.06}}}
    base = tmp_path / "baselines.json"  # made with the fused trace as its primary
    base.write_text(json.dumps({"data_fingerprint": "abc", "trace": {"name": "fused"}, "methods": {"rbf": method}}))
    md = write_tables(sweep, baselines=base).read_text()
    primary = md.split("Test error on displacement after zoom (eps, %)")[1].split("##")[0]
    assert "| Conv3D | 4.00 ± 1.00 | - |" in primary and "| *RBF* | *6.00* |" in primary
    fused = md.split("displacement after zoom, boundary data from the fused trace")[1].split("##")[0]
    assert "| Conv3D | 2.00 ± 1.00 | - |" in fused and "| *RBF* | *7.00* |" in fused
    assert "After zoom: boundary data from the as_predicted trace" in md
    assert "run conv3d-bn-s0: scored after zoom with the fused trace" in md
    from pipeline.claims import traces
    from pipeline.sweep import collect

    said = "\n".join(traces(collect(sweep, baselines=base)))
    assert "(vs as_predicted, same runs, u and v)**: within noise; 6 of 6 per-run changes lower" in said
    assert "conv3d / basic: u 2.00 ± 1.00% (n=3) vs 4.00 ± 1.00% (n=3): -2.00 (within noise)" in said


def test_the_paired_comparison_sees_through_the_seeds_spread():
    from pipeline.claims import compare, compare_paired
    from pipeline.sweep import Stat

    fused, primary = [1.81, 5.5], [2.37, 6.1]  # two seeds far apart, the same gain on each
    assert compare(Stat.of(fused), Stat.of(primary))[1] == "within noise"  # Welch: seeds differ too much
    assert compare_paired(Stat.of([f - p for f, p in zip(fused, primary, strict=True)])) == "lower"
    assert compare_paired(Stat.of([-2.0, -3.0, -1.0])) == "within noise"  # 2 < t(2) 4.30 x 1 / sqrt 3
    assert compare_paired(Stat.of([0.4])) == "higher; one seed, no noise estimate"
