"""The claims section: verdicts from known per-seed numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import write_run

from pipeline.claims import FAILS, HOLDS, NOISE, ONE_SEED, Stat, claims, compare, noise_band
from pipeline.sweep import collect


def _run(root: Path, model: str, reg: str, seed: int, test: float, train: float = 0.0, **extra) -> None:
    zoom = {"eps_zoom": {"test": {"u": extra.pop("zoom") / 100, "v": 0}}} if "zoom" in extra else None
    eps = {"train": {"u": train / 100, "v": 0}, "test": {"u": test / 100, "v": 0}}
    write_run(root, model, reg, seed, zoom, eps=eps, **extra)


def test_compare_is_welchs_t_test():
    a, b = Stat(1.0, 0.1, 3), Stat(1.5, 0.1, 3)  # se = 0.0816: 0.5 apart is far beyond noise
    assert compare(a, b) == (-0.5, "lower") and compare(b, a)[1] == "higher"
    assert compare(Stat(1.0, 1.0, 3), b)[1] == NOISE
    # 2.5 se apart: beyond two standard errors, inside t_0.975(df=4) = 2.776 se
    assert compare(a, Stat(1.0 + 2.5 * 0.1 * (2 / 3) ** 0.5, 0.1, 3))[1] == NOISE
    assert compare(a, Stat(1.0 + 2.9 * 0.1 * (2 / 3) ** 0.5, 0.1, 3))[1] == "lower"
    # two seeds a cell: se = 0.1, df = 2, t = 4.303
    assert compare(Stat(1.0, 0.1, 2), Stat(1.42, 0.1, 2))[1] == NOISE
    assert compare(Stat(1.0, 0.1, 2), Stat(1.44, 0.1, 2))[1] == "lower"
    assert abs(noise_band(Stat(1.0, 0.1, 2), Stat(1.5, 0.1, 2)) - 4.3027 * 0.1) < 1e-4
    with pytest.raises(ValueError, match="n=1"):
        noise_band(Stat(1.0, 0.0, 1), b)
    assert compare(Stat(1.0, 0.0, 1), b)[1] == f"lower; {ONE_SEED}"
    assert compare(Stat(2.0, 0.0, 1), b)[1] == f"higher; {ONE_SEED}"


def test_claims_from_known_runs(tmp_path):
    for s, (basic, bn, c25) in enumerate([(5.0, 3.0, 5.1), (5.2, 3.1, 5.0), (4.8, 2.9, 4.9)]):
        _run(tmp_path, "conv3d", "basic", s, basic, train=1.0, parameters=9000, zoom=basic)
        _run(tmp_path, "conv3d", "bn", s, bn, zoom=bn)
        _run(tmp_path, "conv2_5d", "basic", s, c25, parameters=3000)
        _run(tmp_path, "conv2d", "basic", s, 9.0 + s, train=1.0)
        _run(tmp_path, "conv1d_boundary", "basic", s, 2.0, target="boundary", zoom=2.5)
        _run(tmp_path, "conv2d_boundary", "basic", s, 2.0 + 0.1 * s, target="boundary", parameters=4000)
        _run(tmp_path, "conv1_5d_boundary", "basic", s, 2.0 + 0.1 * s, target="boundary", parameters=2000)
    text = "\n".join(claims(collect(tmp_path)))
    assert f"**Decomposed models match their dense parent with fewer parameters**: {HOLDS}" in text
    assert "3.0x fewer parameters" in text and "0.00 points (within noise)" in text
    assert "Conv1.5D Boundary / basic: 2.10 ± 0.10% (n=3) vs Conv2D Boundary 2.10 ± 0.10% (n=3)" in text
    assert "2.0x fewer parameters" in text
    assert f"**BN lowers the error (BN vs Basic)**: {HOLDS}" in text and "-2.00 points (lower)" in text
    assert f"**Boundary models are best after zoom**: {HOLDS}" in text
    assert f"**Conv2D overfits** (test - train eps of u, Basic): {HOLDS}" in text
    assert "no baselines.json" in text


def test_a_claim_that_fails_is_said_to_fail(tmp_path):
    for s, (basic, bn) in enumerate([(3.0, 5.0), (3.1, 5.2), (2.9, 4.8)]):
        _run(tmp_path, "conv3d", "basic", s, basic)
        _run(tmp_path, "conv3d", "bn", s, bn)
    text = "\n".join(claims(collect(tmp_path)))
    assert f"**BN lowers the error (BN vs Basic)**: {FAILS}" in text


def test_one_seed_gives_a_direction_but_no_verdict(tmp_path):
    """One seed per cell: the lines say which way each difference goes, the claim gets no verdict."""
    for model, basic, bn in [("conv3d", 1.7, 5.6), ("conv2_5d", 2.4, 6.5)]:
        _run(tmp_path, model, "basic", 0, basic, train=1.0)
        _run(tmp_path, model, "bn", 0, bn, train=1.0)
    text = "\n".join(claims(collect(tmp_path)))
    bn = (
        "**BN lowers the error (BN vs Basic)**: no verdict from one seed "
        "(0 of 2 one-seed comparisons point the claimed way)"
    )
    assert bn in text
    assert f"+3.90 points (higher; {ONE_SEED})" in text
    assert "**Decomposed models match their dense parent with fewer parameters**: no verdict from one seed" in text
    assert FAILS not in text and HOLDS not in text


def test_one_seed_cells_do_not_hide_the_verdict_of_seeded_ones(tmp_path):
    """Conv3D with three seeds gives BN's verdict; Conv2.5D's single seed is listed beside it, not counted."""
    for s, (basic, bn) in enumerate([(3.0, 5.0), (3.1, 5.2), (2.9, 4.8)]):
        _run(tmp_path, "conv3d", "basic", s, basic)
        _run(tmp_path, "conv3d", "bn", s, bn)
    _run(tmp_path, "conv2_5d", "basic", 0, 4.0)
    _run(tmp_path, "conv2_5d", "bn", 0, 3.5)
    text = "\n".join(claims(collect(tmp_path)))
    want = (
        f"**BN lowers the error (BN vs Basic)**: {FAILS} "
        "(from the comparisons with seeds; 1 of 1 one-seed comparisons point the claimed way)"
    )
    assert want in text
    assert f"-0.50 points (lower; {ONE_SEED})" in text and "+2.00 points (higher)" in text


def test_seed_ensembles_are_read_against_each_fields_best_baseline(tmp_path):
    """RBF is best on u (1.0), POD + RBF on v (2.0): an ensemble at 0.9 / 1.9 is lower on both, one at
    0.9 / 2.5 on u only; without ensembles.json there is no such line."""
    import json

    for s in (0, 1):
        _run(tmp_path, "conv2d", "basic", s, 1.2, data_fingerprint="d")
    _run(tmp_path, "conv3d", "basic", 0, 1.5, data_fingerprint="d")
    base = {"rbf": (1.0, 2.2), "pod_rbf": (1.1, 2.0)}
    doc = {
        "data_fingerprint": "d",
        "methods": {k: {"label": k, "eps": {"test": {"u": u / 100, "v": v / 100}}} for k, (u, v) in base.items()},
    }
    (tmp_path / "b.json").write_text(json.dumps(doc))
    assert not any("seed ensembles" in line for line in claims(collect(tmp_path, tmp_path / "b.json")))
    ens = {
        "conv2d-basic": {"label": "Conv2D / Basic", "seeds": [0, 1], "eps": {"test": {"u": 0.009, "v": 0.019}}},
        "conv3d-basic": {"label": "Conv3D / Basic", "seeds": [0, 1, 2], "eps": {"test": {"u": 0.009, "v": 0.025}}},
    }
    (tmp_path / "ensembles.json").write_text(json.dumps({"data_fingerprint": "d", "methods": ens}))
    text = "\n".join(claims(collect(tmp_path, tmp_path / "b.json")))
    assert "seed ensembles against the best baseline** (u 1.00%, v 2.00%): 1 of 2 lower on both fields" in text
    assert "Conv2D / Basic, 2 seeds: 0.90 / 1.90 (lower on u and v)" in text
    assert "Conv3D / Basic, 3 seeds: 0.90 / 2.50 (lower on u)" in text


def test_the_hybrid_is_read_against_each_fields_best_baseline_seed_by_seed(tmp_path):
    """Two seeds of a network at 1.2 / 2.5 whose hybrids give 0.6 / 1.8 and 0.8 / 2.1 against RBF 1.0 / 2.0:
    one seed below on both fields; a cell without residual_rbf gives no such part."""
    import json

    for s, hybrid in ((0, (0.6, 1.8)), (1, (0.8, 2.1))):
        eps = {"train": {"u": 0, "v": 0}, "test": {"u": 0.012, "v": 0.025}}
        fix = {"eps": {"test": {"u": hybrid[0] / 100, "v": hybrid[1] / 100}}}
        write_run(tmp_path, "conv2d", "basic", s, None, eps=eps, residual_rbf=fix, data_fingerprint="d")
    _run(tmp_path, "conv3d", "basic", 0, 1.5, data_fingerprint="d")
    doc = {"data_fingerprint": "d", "methods": {"rbf": {"label": "RBF", "eps": {"test": {"u": 0.01, "v": 0.02}}}}}
    (tmp_path / "b.json").write_text(json.dumps(doc))
    text = "\n".join(claims(collect(tmp_path, tmp_path / "b.json")))
    assert "training residual**, test eps u / v (%) (best baselines: u 1.00%, v 2.00%): " in text
    assert "conv2d / basic: network 1.20 / 2.50, hybrid 0.70 ± 0.14 / 1.95 ± 0.21 (1 of 2 seeds below" in text
    assert "conv3d / basic: network" not in text
