"""Seed ensembles: identical members give back the member (before and after zoom), distinct seeds never
do worse than their members' mean (eps is a mean of |error| / peak, so the triangle inequality bounds
it), too few seeds and other data are named; the tables show the ensemble table."""

from __future__ import annotations

import json
import shutil

import pytest

from pipeline.artefacts import ConfigError, RunError
from pipeline.config import compose
from pipeline.ensemble import run as ensemble_stage
from pipeline.tables import write_tables
from pipeline.train import train_run


@pytest.fixture
def base(tiny_data):
    return [
        "data=tiny",
        f"paths.data_dir={tiny_data.parent}",
        "progress=false",
        "train=quick",
        "train.epochs=2",
        "threads=1",
    ]


def _train(base: list[str], folder, seed: int, model: str = "conv2d") -> dict:
    return train_run(compose("train", [*base, f"model={model}", "reg=basic", f"seed={seed}"]), folder)


@pytest.mark.parametrize(("model", "label"), [("conv2d", "Conv2D"), ("conv1d_boundary", "Conv1D Boundary")])
def test_distinct_seeds_do_no_worse_than_their_mean_and_identical_ones_give_the_member(base, tmp_path, model, label):
    """A full-field model and a boundary one (whose eps is that of its trace)."""
    members = [_train(base, tmp_path / "two" / f"{model}-basic-s{s}", s, model) for s in (0, 1)]
    doc = json.loads(
        ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 'two'}", "ensemble.zoom=false"])).read_text()
    )
    ens = doc["methods"][f"{model}-basic"]
    assert ens["seeds"] == [0, 1] and ens["label"] == f"{label} / Basic" and doc["problems"] == []
    for split in ("train", "test"):
        for f in "uv":
            mean = sum(m["eps"][split][f] for m in members) / 2
            assert ens["eps"][split][f] <= mean * (1 + 1e-9), (split, f)
            assert all(ens["eps"][split][f] != m["eps"][split][f] for m in members)
    shutil.copytree(tmp_path / "two" / f"{model}-basic-s0", tmp_path / "same" / f"{model}-basic-s0")
    shutil.copytree(tmp_path / "two" / f"{model}-basic-s0", tmp_path / "same" / "copy-of-s0")
    same = ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 'same'}", "ensemble.zoom=false"]))
    got = json.loads(same.read_text())["methods"][f"{model}-basic"]
    for split in ("train", "test"):
        assert got["eps"][split] == pytest.approx(members[0]["eps"][split], rel=1e-12)
        mine = members[0]["residual_rbf"]["eps"][split]
        assert got["residual_rbf"]["eps"][split] == pytest.approx(mine, rel=1e-6, abs=1e-12)
        want = members[0]["physics"]["euler_residual"][split]  # scored with the run's own sigma_v
        assert got["physics"]["euler_residual"][split] == pytest.approx(want, rel=1e-9)


@pytest.mark.slow
def test_after_zoom_identical_members_give_the_members_submodel_errors(base, tmp_path):
    from pipeline.submodel import run as submodel_stage

    _train(base, tmp_path / "s" / "conv2d-basic-s0", 0)
    shutil.copytree(tmp_path / "s" / "conv2d-basic-s0", tmp_path / "s" / "conv2d-basic-copy")
    sub = submodel_stage(
        compose(
            "submodel",
            [*base, f"target={tmp_path / 's' / 'conv2d-basic-s0'}"],
        )
    )[0]
    ens = json.loads(ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 's'}"])).read_text())
    got, want = ens["methods"]["conv2d-basic"], sub["conv2d-basic-s0"]
    for split in ("train", "test"):
        assert got["eps_zoom"][split] == pytest.approx(want["eps_zoom"][split], rel=1e-6)
        # the members' hybrids (network + residual RBF) averaged: the member's hybrid, after zoom too
        hybrid = got["residual_rbf"]["eps_zoom"][split]
        assert hybrid == pytest.approx(want["residual_rbf"]["eps_zoom"][split], rel=1e-6)
        assert got["by_trace"]["fused"]["eps_zoom"][split] == pytest.approx(
            want["by_trace"]["fused"]["eps_zoom"][split], rel=1e-6
        )


def test_runs_on_other_data_are_left_out_by_name_and_the_rest_scored(base, tmp_path):
    """A cell trained on other data (its metrics say so) is a named problem, not a failure of the stage."""
    for s in (0, 1):
        _train(base, tmp_path / "mix" / f"conv2d-basic-s{s}", s)
        shutil.copytree(tmp_path / "mix" / f"conv2d-basic-s{s}", tmp_path / "mix" / f"other-s{s}")
        metrics = tmp_path / "mix" / f"other-s{s}" / "metrics.json"
        metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "data_fingerprint": "other", "reg": "bn"}))
    doc = json.loads(
        ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 'mix'}", "ensemble.zoom=false"])).read_text()
    )
    assert list(doc["methods"]) == ["conv2d-basic"]
    assert doc["problems"] == [f"run other-s{s}: trained on other data than conv2d-basic-s0; left out" for s in (0, 1)]


def test_too_few_seeds_and_bad_knobs_are_named(base, tmp_path):
    _train(base, tmp_path / "one" / "conv2d-basic-s0", 0)
    with pytest.raises(
        RunError, match=r"no cell with ensemble.min_members=2 finished seeds[\s\S]*conv2d-basic: 1 seed"
    ):
        ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 'one'}"]))
    with pytest.raises(ConfigError, match="ensemble.min_members=1"):
        ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 'one'}", "ensemble.min_members=1"]))


def test_the_tables_show_the_ensembles_and_refuse_those_of_other_data(base, tmp_path):
    for s in (0, 1):
        _train(base, tmp_path / "sw" / f"conv2d-basic-s{s}", s)
    path = ensemble_stage(compose("ensemble", [*base, f"target={tmp_path / 'sw'}", "ensemble.zoom=false"]))
    cell = json.loads(path.read_text())["methods"]["conv2d-basic"]
    e, h = cell["eps"]["test"], cell["residual_rbf"]["eps"]["test"]
    md = write_tables(tmp_path / "sw", tmp_path / "out").read_text()
    assert "seed ensembles" in md and f"| Conv2D / Basic | 2 | {100 * e['u']:.2f} | {100 * e['v']:.2f} |" in md
    assert f"| Conv2D / Basic + residual RBF | 2 | {100 * h['u']:.2f} | {100 * h['v']:.2f} |" in md
    assert (tmp_path / "out" / "table_ensembles.csv").is_file()
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "data_fingerprint": "other"}))
    md = write_tables(tmp_path / "sw", tmp_path / "out2").read_text()
    assert "seed ensembles" not in md and "ensembles.json: made on data other" in md
