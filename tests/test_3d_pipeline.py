"""3D through the pipeline: the tiny3d dataset, the 4D surrogates (Conv4D, Conv3.5D, Conv3.5Db) with
their parameter counts, refusals of models that do not fit the data, and the whole chain on tiny3d."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fe import dataset
from fe.spec import MeshSpec, Physics, Sampling, SourceRegion, SpecError, check_dataset
from pipeline.artefacts import ConfigError
from pipeline.config import compose
from pipeline.runs import build_model
from surrogate.models import Geometry, n_parameters

ROOT = Path(__file__).resolve().parent.parent
SMALL3D = Geometry(n_times=17, height=9, width=9, n_boundary=386, depth=9)  # the small3d preset's data


@pytest.fixture(scope="module")
def tiny3d(tmp_path_factory) -> Path:
    from pipeline.data import run

    root = tmp_path_factory.mktemp("tiny3d")
    run(compose("data", ["dataset=tiny3d", f"paths.data_dir={root}", "progress=false", "export.sample=0"]))
    return root


def test_paraview_export_of_a_3d_parent_sample(tiny3d):
    xdmf = (tiny3d / "tiny3d" / "paraview" / "train_0.xdmf").read_text()
    assert 'TopologyType="Tetrahedron"' in xdmf and 'NumberOfElements="24576"' in xdmf  # 16^3 cubes x 6
    assert xdmf.count('<Attribute Name="u"') == 9  # every snapshot


def test_tiny3d_dataset_layout(tiny3d):
    train = dataset.load(tiny3d / "tiny3d" / "train.h5")
    assert train.u.shape == (8, 9, 5, 5, 5) and train.params.shape == (8, 4) and train.dim == 3
    assert train.boundary_index.shape == (5**3 - 3**3, 3)
    assert np.array_equal(train.z, np.linspace(-0.25, 0.25, 5))
    # the surface trace is the field at the surface nodes: an interior node is never among them
    assert np.array_equal(train.boundary_u[..., 0], train.u[:, :, 0, 0, 0])
    assert not np.any(np.all(train.boundary_index == 2, axis=1))
    assert np.abs(train.u[:, :, 1:-1, 1:-1, 1:-1]).max() > 0.05 * np.abs(train.u).max()
    assert int(train.attrs["schema_version"]) == dataset.SCHEMA_VERSION


def test_3d_specs_name_the_key_at_fault():
    with pytest.raises(SpecError, match=r"mesh.nz=None: a 3D domain needs"):
        check_dataset(Physics(domain=(1, 1, 1), zone=(0.25, 0.25, 0.25)), MeshSpec(nx=16, ny=16), Sampling())
    with pytest.raises(SpecError, match=r"mesh.nz=12: the zone edge"):
        check_dataset(Physics(domain=(1, 1, 1), zone=(0.25, 0.25, 0.25)), MeshSpec(16, 16, 12), Sampling())
    with pytest.raises(SpecError, match=r"physics.domain=\[1, 1, 1, 1\]: expected 2 half-widths"):
        Physics(domain=(1, 1, 1, 1))


def test_3d_source_region_volume_and_membership():
    region = SourceRegion.of(Physics(domain=(1, 1, 1), zone=(0.25, 0.25, 0.25)), Sampling(xs=None, ys=None))
    assert region.measure() == pytest.approx(1.8**3 - 1.2**3)
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.7], [0.95, 0.0, 0.0]])
    assert region.contains(pts).tolist() == [False, True, False]


@pytest.mark.parametrize("reg", ["basic", "bn_sl", "e_sl"])
def test_4d_models_predict_the_3d_zone_and_the_decomposed_are_much_smaller(reg):
    sizes = {}
    for name in ("conv4d", "conv3_5d", "conv3_5db"):
        model = build_model(compose("train", [f"model={name}", f"reg={reg}", "data=small3d"]), SMALL3D)
        model.eval()
        with torch.no_grad():
            u, v = model(torch.rand(2, 4))
        assert u.shape == v.shape == (2, 17, 9, 9, 9)
        sizes[name] = n_parameters(model)
    assert sizes["conv4d"] >= 8 * sizes["conv3_5db"], sizes  # the bar: at least 8x at equal widths
    assert sizes["conv4d"] > sizes["conv3_5d"] > sizes["conv3_5db"], sizes


def test_models_that_do_not_fit_the_data_are_refused_by_name():
    with pytest.raises(ConfigError, match=r"model=conv3d is a model for 2D zones .* pick a 3D model"):
        build_model(compose("train", ["model=conv3d", "data=small3d"]), SMALL3D)
    with pytest.raises(ConfigError, match=r"model=conv4d is a model for 3D zones"):
        build_model(compose("train", ["model=conv4d"]), Geometry(17, 9, 9, 32))
    with pytest.raises(ConfigError, match=r"boundary loop of a 2D zone"):
        build_model(compose("train", ["model=conv1d_boundary", "+model.data_dim=3", "data=small3d"]), SMALL3D)


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


@pytest.mark.slow
def test_train_submodel_report_on_tiny3d(tiny3d, tmp_path):
    paths = [f"paths.data_dir={tiny3d}", f"paths.results_dir={tmp_path}", f"paths.output_dir={tmp_path / 'out'}"]
    common = ["data=tiny3d", "train=quick", "train.epochs=2", "progress=false", *paths]
    _run("pipeline.train", "-m", "model=conv3_5db,conv3_5d", "reg=basic", *common)
    sweep = tmp_path / "sweeps" / "tiny3d-quick"
    newmark = "+submodel.parent_schemes.newmark_cg={_target_:fe.newmark.Newmark,linear:cg}"
    log = _run("pipeline.submodel", f"target={sweep}", "progress=false", newmark, *paths)
    assert "Conv3.5Db/Basic after zoom" in log
    _run("pipeline.tables", str(sweep))
    assert "Conv3.5Db" in (sweep / "tables.md").read_text()
    _run("pipeline.report", f"target={sweep}", f"report.out={tmp_path / 'report'}", *paths)
    report = (tmp_path / "report" / "report.md").read_text()
    assert "zone grid 5 x 5 x 5 nodes; surface of 98 nodes" in report
    assert (tmp_path / "report" / "snapshots.png").stat().st_size > 10_000
    _run("pipeline.speedup", str(sweep))
    table = (sweep / "speedup.md").read_text()
    for label in ("Conv3.5Db / Basic", "Conv3.5D / Basic"):  # a row per parent: the data's scheme, Newmark
        for scheme in ("explicit (lumped mass)", "Newmark (cg)"):
            assert f"| tiny3d | 4,913 | 125 | {label} | 0 | {scheme} |" in table


def test_speedup_table_sizes_and_verdicts():
    from pipeline.speedup import _data_sizes, goal, render

    assert goal(12.0, 1.5) == "met" and goal(12.0, 3.0) == "faster, not as accurate"
    assert goal(3.0, 1.5) == "as accurate, not faster" and goal(3.0, 3.0) == "neither"
    assert goal(12.0, float("nan")) == "no baseline to judge by"

    cfg = {"physics": {"domain": [3, 3, 3], "zone": [0.25, 0.25, 0.25]}, "mesh": {"nx": 96, "ny": 96, "nz": 96}}
    assert _data_sizes(cfg) == (97**3, 9**3)
    base = {"data": "x", "parent nodes": 1, "zone nodes": 1, "model": "m", "seed": 0, "parent scheme": "explicit"}
    base["full FE ms/sample"] = 1.0
    base |= {"surrogate ms/sample": 0.1, "submodel ms/sample": 0.1, "after zoom u %": 3.0, "after zoom v %": 3.0}
    rows = [
        {**base, "speed-up": 12.0, "best baseline": "RBF", "baseline after zoom u %": 2.0, "u / baseline": 1.5},
        {**base, "speed-up": 12.0, "best baseline": "RBF", "baseline after zoom u %": 1.0, "u / baseline": 3.0},
    ]
    for r in rows:
        r["goal"] = goal(r["speed-up"], r["u / baseline"])
    md, csv = render(rows)
    assert md.count("| met |") == 1 and csv.count("\n") == 3


def test_2d_datasets_keep_their_identity():
    """The 3D keys are left out of a 2D dataset's config and fingerprint while null, so 2D data made
    before 3D existed is not refused as 'made by another config'; in 3D they are part of it."""
    from pipeline.datajob import data_content

    flat = data_content(compose("data", ["dataset=small"]))
    assert "nz" not in flat["mesh"] and "zs" not in flat["sampling"]
    deep = data_content(compose("data", ["dataset=small3d"]))
    assert deep["mesh"]["nz"] == 32 and deep["sampling"]["zs"] == [-0.5, 0.5]


def test_newmark_by_lu_keeps_its_identity_and_cg_has_its_own():
    """The linear-solver keys came after Newmark datasets existed: an LU one keeps its old content
    (CG's tolerance plays no part in a direct solve); a CG one is a different dataset."""
    from pipeline.datajob import data_content

    lu = data_content(compose("data", ["dataset=tiny", "solver=newmark"]))
    assert lu["solver"]["scheme"] == {"_target_": "fe.newmark.Newmark", "beta": 0.25, "gamma": 0.5}
    cg = data_content(compose("data", ["dataset=tiny", "solver=newmark", "solver.scheme.linear=cg"]))
    assert cg["solver"]["scheme"]["linear"] == "cg" and cg["solver"]["scheme"]["rtol"] == 1e-12
