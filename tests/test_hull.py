"""Interpolation against extrapolation: hull membership on known designs, eps split over complementary
sample sets recombining to the split's eps, and the hull stage on the tiny preset agreeing with what
the training and baselines stages recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.artefacts import ConfigError, RunError
from pipeline.config import compose
from pipeline.hull import run as hull_stage
from pipeline.hull import versus
from pipeline.runs import load_splits
from pipeline.train import train_run
from surrogate.metrics import ErrorSpec, epsilon, epsilon_per_sample, epsilon_pt, epsilon_where, inside_hull
from surrogate.targets import target

TETRA = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_inside_hull_of_a_tetrahedron_with_its_vertices_and_faces():
    pts = [
        [0.1, 0.1, 0.1],
        [0.25, 0.25, 0.25],
        [1, 0, 0],
        [0.5, 0.5, 0],
        [0.5, 0.5, 0.1],
        [-0.01, 0, 0],
        [0.2, 0.2, -1e-3],
    ]
    assert inside_hull(TETRA, pts).tolist() == [True, True, True, True, False, False, False]


def test_inside_hull_is_affine_invariant_and_handles_flat_designs():
    """A stretched, shifted copy (the raw p of the data: omega in [2, 6], xs in [-0.9, -0.6]) gives the
    same answers; a design in a plane or on a line holds only the points of its plane or segment."""
    pts = np.array([[0.1, 0.1, 0.1], [0.5, 0.5, 0.1], [0.3, 0.1, 0.5]])
    scale, shift = np.array([4.0, 0.3, 1.0]), np.array([2.0, -0.9, -0.5])
    assert inside_hull(TETRA * scale + shift, pts * scale + shift).tolist() == inside_hull(TETRA, pts).tolist()
    flat = np.array([[0.0, 0, 5], [1, 0, 5], [0, 1, 5]])
    assert inside_hull(flat, [[0.2, 0.2, 5], [0.2, 0.2, 5.01], [0.6, 0.6, 5]]).tolist() == [True, False, False]
    line = np.array([[0.0, 1], [2, 1], [1, 1]])
    assert inside_hull(line, [[0.5, 1], [2.5, 1], [1, 1.5]]).tolist() == [True, False, False]
    with pytest.raises(ValueError, match="design has 3 parameters, the points 2"):
        inside_hull(TETRA, [[0.1, 0.1]])


@pytest.mark.parametrize("normaliser", ["time", "sample"])
def test_eps_over_complementary_sets_recombines_to_the_splits_eps(normaliser):
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(7, 5, 4, 3)) * np.linspace(0, 1, 5)[None, :, None, None]  # silent first time
    pred = ref + 0.1 * rng.normal(size=ref.shape)
    spec = ErrorSpec(normaliser)
    mask = np.array([True, False, True, True, False, False, True])
    _, active = epsilon_pt(pred, ref, spec)
    n_in, n_out = active[mask].sum(), active[~mask].sum()
    parts = epsilon_where(pred, ref, mask, spec) * n_in + epsilon_where(pred, ref, ~mask, spec) * n_out
    assert parts / (n_in + n_out) == pytest.approx(epsilon(pred, ref, spec)["eps"], rel=1e-12)
    assert epsilon_where(pred, ref, np.zeros(7, bool), spec) is None
    assert epsilon_where(pred, ref, np.ones(7, bool), spec) == epsilon(pred, ref, spec)["eps"]


def test_per_sample_eps_is_each_samples_own_split_and_ratios_are_summarised_by_group():
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(5, 6, 4)) * np.linspace(0, 1, 6)[None, :, None]
    ref[3] = 0.0  # a silent sample: no active time, no eps
    pred = ref + 0.1 * rng.normal(size=ref.shape)
    for normaliser in ("time", "sample"):
        spec = ErrorSpec(normaliser)
        per = epsilon_per_sample(pred, ref, spec)
        for i in (0, 1, 2, 4):
            assert per[i] == pytest.approx(epsilon_where(pred, ref, np.arange(5) == i, spec), rel=1e-12)
        assert np.isnan(per[3])
    groups = {"a": np.array([True, True, False, False]), "b": np.array([False, False, True, True])}
    out = versus(
        {"u": [0.5, 2.0, 4.0, None], "v": [1, 1, 1, 1]}, {"u": [1.0, 1.0, 2.0, 1.0], "v": [2, 2, 2, 2]}, groups
    )
    assert out["u"] == {"min": 0.5, "median": 2.0, "max": 2.0, "a": 1.25, "b": 2.0, "below": 1}
    assert out["v"]["median"] == 0.5 and out["v"]["below"] == 4


def test_the_hull_stage_splits_what_the_training_and_baselines_stages_recorded(tiny_data, tmp_path):
    from pipeline.baselines import run as baselines_stage

    data = ["data=tiny", f"paths.data_dir={tiny_data.parent}", "progress=false"]
    base = [*data, "threads=1"]

    def train(model: str, seed: int) -> dict:
        over = ["train=quick", "train.epochs=2", f"model={model}", "reg=basic", f"seed={seed}"]
        return train_run(compose("train", [*base, *over]), tmp_path / "sweep" / f"{model}-basic-s{seed}")

    runs = [train("conv2d", s) for s in (0, 1)]
    boundary = train("conv1d_boundary", 0)
    bpath = baselines_stage(
        compose("baselines", [*data, "zoom=false", f"out={tmp_path / 'b'}", "~methods.zero", "~methods.pod_rbf"])
    )
    over = [f"target={tmp_path / 'sweep'}", f"hull.baselines={bpath}", "hull.reference=conv2d-basic"]
    doc = json.loads(hull_stage(compose("hull", [*base, *over])).read_text())
    train, test = load_splits(tiny_data)
    inside = inside_hull(train.params, test.params)
    assert doc["n_test"] == len(test.params) and doc["n_inside"] == int(inside.sum())
    assert doc["outside"] == np.flatnonzero(~inside).tolist()
    cell = doc["cells"]["conv2d-basic"]
    assert cell["seeds"] == [0, 1] and "mean_of_seeds" in cell and doc["problems"] == []
    for member, hybrid, metrics in zip(cell["members"], cell["residual_rbf"], runs, strict=True):
        for f in "uv":
            assert member["all"][f] == pytest.approx(metrics["eps"]["test"][f], rel=1e-6)
            assert hybrid["all"][f] == pytest.approx(metrics["residual_rbf"]["eps"]["test"][f], rel=1e-6)
    trace = doc["cells"]["conv1d_boundary-basic"]
    assert trace["target"] == "boundary" and "mean_of_seeds" not in trace
    assert trace["members"][0]["all"]["u"] == pytest.approx(boundary["eps"]["test"]["u"], rel=1e-6)
    recorded = json.loads(bpath.read_text())["methods"]
    assert set(doc["baselines"]) == {"nearest", "rbf"}
    for name, method in doc["baselines"].items():
        for f in "uv":
            by = method["by_target"]
            assert by["field"]["all"][f] == pytest.approx(recorded[name]["eps"]["test"][f], rel=1e-12)
            assert by["boundary"]["all"][f] == pytest.approx(recorded[name]["eps_boundary"]["test"][f], rel=1e-12)
    md = (tmp_path / "sweep" / "hull.md").read_text()
    assert (
        "| Conv2D / Basic (quick) | 2 | field |" in md
        and "*Conv2D / Basic, mean of seeds*" in md
        and "| *RBF (cubic)* | - | trace |" in md
    )
    assert "| *Conv2D / Basic + residual RBF* | 2 | field |" in md
    # per sample: the baselines set against the reference cell, sample by sample
    assert doc["versus"]["reference"] == "conv2d-basic" and len(cell["per_sample"]["u"]) == doc["n_test"]
    versus = doc["versus"]["rows"]
    assert set(versus) == {"baseline:nearest", "baseline:rbf"}  # the boundary cell has another target
    # each sample's eps, weighted by its active times, recombines to the split's recorded eps: the
    # baseline's as baselines.json has it, the cell's (a mean over seeds) as the mean of its runs'
    for f, fields in zip("uv", target("field").arrays(test), strict=True):
        counts = epsilon_pt(fields, fields, ErrorSpec())[1].sum(axis=1)
        pooled = {
            k: float(np.dot(counts, v[f]) / counts.sum())
            for k, v in (("rbf", doc["baselines"]["rbf"]["per_sample"]["field"]), ("cell", cell["per_sample"]))
        }
        assert pooled["rbf"] == pytest.approx(recorded["rbf"]["eps"]["test"][f], rel=1e-9)
        assert pooled["cell"] == pytest.approx(np.mean([m["eps"]["test"][f] for m in runs]), rel=1e-6)
    for f in "uv":
        mine = np.array(doc["baselines"]["rbf"]["per_sample"]["field"][f], dtype=float)
        ref = np.array(cell["per_sample"][f], dtype=float)
        ratio = mine / ref
        assert versus["baseline:rbf"][f]["median"] == pytest.approx(np.nanmedian(ratio), rel=1e-12)
        assert versus["baseline:rbf"][f]["outside"] == pytest.approx(np.nanmedian(ratio[~inside]), rel=1e-12)
        assert versus["baseline:rbf"][f]["below"] == int((ratio < 1).sum())
    assert "## Per test sample, against Conv2D / Basic (quick)" in md and "| *RBF (cubic)* | u |" in md
    with pytest.raises(RunError, match=r"hull.reference=conv3d-basic: no such cell; the target's cells are \['conv1d"):
        hull_stage(compose("hull", [*base, *over[:2], "hull.reference=conv3d-basic"]))
    missing = [*base, f"target={tmp_path / 'sweep'}", f"hull.baselines={tmp_path / 'nowhere.json'}"]
    with pytest.raises(RunError, match="hull.baselines=.*nowhere.json: no such file"):
        hull_stage(compose("hull", missing))


def test_the_hull_stage_names_a_target_without_runs_and_a_bad_key(tmp_path):
    with pytest.raises(RunError, match=f"target={tmp_path}: no finished run"):
        hull_stage(compose("hull", [f"target={tmp_path}", "progress=false"]))
    with pytest.raises(ConfigError, match="hull.out=3: must be a path"):
        hull_stage(compose("hull", [f"target={tmp_path}", "hull.out=3"]))
    with pytest.raises(ConfigError, match="hull.reference=3: must be <model>-<reg> or null"):
        hull_stage(compose("hull", [f"target={tmp_path}", "hull.reference=3"]))
