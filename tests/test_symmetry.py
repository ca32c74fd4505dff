"""Mirror images of samples (fe/symmetry.py): exact where the mesh is symmetric, converging where not,
and the training and baselines stages' ``mirror`` knob."""

from __future__ import annotations

import json
from dataclasses import replace

from mpi4py import MPI

import numpy as np
import pytest

from fe import dataset
from fe.dataset import DatasetError
from fe.solver import ParentSolver
from fe.spec import MeshSpec, Physics, SolverSpec
from fe.symmetry import fold_params, folded, mirrored, unfold
from fe.timestepping import CentralDifference
from pipeline.artefacts import ConfigError
from pipeline.config import compose
from pipeline.runs import load_run
from pipeline.train import train_run
from surrogate.baselines import RBF
from surrogate.metrics import ErrorSpec, epsilon
from surrogate.training import predict

PHYS = Physics(c=1.0, domain=(1.0, 1.0), zone=(0.25, 0.25), t_final=1.0)
P = np.array([[5.0, -0.7, 0.3], [3.5, -0.8, -0.45]])


def _solved(n: int, params: np.ndarray) -> dataset.Dataset:
    """A Dataset of ``params`` solved on the n x n mesh (zone nodes from the solver's zone grid)."""
    solver = ParentSolver(MPI.COMM_SELF, PHYS, MeshSpec(nx=n, ny=n), SolverSpec(n_snapshots=9), CentralDifference())
    u, v = solver.solve(params)
    h = 2.0 / n
    nodes = np.arange(-0.25, 0.25 + h / 2, h)
    return dataset.Dataset(None, params, np.linspace(0, 1, 9), nodes, nodes, u, v, np.zeros((0, 2), int))


def _gap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_the_half_turn_image_is_exact_and_one_mirror_converges_with_the_mesh():
    """The 'right'-diagonal mesh maps onto itself under the half turn (x, y) -> (-x, -y): the image
    across both axes is the solved field of the turned source to round-off. Across one axis the
    diagonals flip, so the image differs from the solve by the discretization: the gap falls as h^2."""
    turned = P * [1, -1, -1]
    for n in (16, 32):
        ds = _solved(n, P)
        both = mirrored(ds, ["x", "y"])
        assert both.params.shape == (8, 3)
        np.testing.assert_array_equal(both.params[6:], turned)  # x then y: the last block is the half turn
        ref = _solved(n, turned)
        assert _gap(both.u[6:], ref.u) < 1e-12 and _gap(both.v[6:], ref.v) < 1e-12
    gaps = []
    for n in (16, 128):
        image = mirrored(_solved(n, P), ["y"])
        assert image.params.shape == (4, 3)
        gaps.append(_gap(image.u[2:], _solved(n, P * [1, 1, -1]).u))
    # measured 0.093 -> 0.0015, order 2.0 over three halvings (not monotone level by level: the sources
    # sit at other places inside their cells on each mesh)
    order = np.log2(gaps[0] / gaps[1]) / 3
    assert gaps[1] < 0.003 and order > 1.8, (gaps, order)


def _toy(ys: list[float], y_nodes: np.ndarray | None = None) -> dataset.Dataset:
    n = len(ys)
    params = np.column_stack([np.full(n, 4.0), np.linspace(-0.9, -0.6, n), ys])
    x = y = np.linspace(-0.25, 0.25, 3) if y_nodes is None else y_nodes
    u = np.arange(n * 2 * 9, dtype=float).reshape(n, 2, 3, 3)
    return dataset.Dataset(None, params, np.array([0.0, 1.0]), x, y, u, -u, np.zeros((0, 2), int))


def test_images_flip_the_right_axis_and_skip_sources_on_the_mirror_plane():
    ds = _toy([0.2, 0.0, -0.3])
    y = mirrored(ds, ["y"])
    # the source at ys = 0 is its own image: left out, so no parameter point appears twice
    np.testing.assert_array_equal(y.params[3:], ds.params[[0, 2]] * [1, 1, -1])
    np.testing.assert_array_equal(y.u[3:], ds.u[[0, 2], :, ::-1, :])  # rows are y
    np.testing.assert_array_equal(y.v[3:], -y.u[3:])
    x = mirrored(ds, ["x"])
    np.testing.assert_array_equal(x.u[3:], ds.u[:, :, :, ::-1])
    np.testing.assert_array_equal(mirrored(replace(x, params=x.params[3:], u=x.u[3:], v=x.v[3:]), ["x"]).u[3:], ds.u)
    assert mirrored(ds, []).params.shape == ds.params.shape


def test_folding_maps_every_source_to_the_positive_side_and_unfolding_undoes_it():
    ds = _toy([0.2, 0.0, -0.3])
    f = folded(ds, ["y"])
    np.testing.assert_array_equal(f.params, ds.params * [[1, 1, 1], [1, 1, 1], [1, 1, -1]])
    np.testing.assert_array_equal(f.u[:2], ds.u[:2])  # already on the side ys >= 0: untouched
    np.testing.assert_array_equal(f.u[2], ds.u[2, :, ::-1, :])  # the image's field: rows (y) reversed
    np.testing.assert_array_equal(f.v, -f.u)
    # x and y at once: xs < 0 for every toy source, so every field is reversed along x, the last along y too
    both = folded(ds, ["x", "y"])
    assert (both.params[:, 1:] >= 0).all()
    np.testing.assert_array_equal(both.u[2], ds.u[2, :, ::-1, ::-1])
    np.testing.assert_array_equal(both.u[0], ds.u[0, :, :, ::-1])
    _, flips = fold_params(ds.params, ["x", "y"])
    np.testing.assert_array_equal(flips, [[True, False], [True, False], [True, True]])
    np.testing.assert_array_equal(unfold(both.u, flips, ["x", "y"]), ds.u)  # a reflection is its own inverse
    with pytest.raises(DatasetError, match="not symmetric about y = 0"):
        folded(_toy([0.1], np.array([-0.25, 0.0, 0.3])), ["y"])


@pytest.mark.parametrize(
    ("axes", "nodes", "message"),
    [
        (["z"], None, r"mirror=\['z'\]: must be distinct axes of the 2D zone, each one of \['x', 'y'\]"),
        (["y", "y"], None, "must be distinct axes"),
        (["y"], np.array([-0.25, 0.0, 0.3]), r"zone's y nodes .* not symmetric about y = 0"),
    ],
)
def test_bad_mirrors_are_refused_with_the_key(axes, nodes, message):
    with pytest.raises(DatasetError, match=message):
        mirrored(_toy([0.1, 0.2], nodes), axes)


@pytest.fixture
def base(tiny_data):
    return ["data=tiny", f"paths.data_dir={tiny_data.parent}", "progress=false", "train=quick", "train.epochs=2"]


def test_the_training_stage_fits_the_images_and_scores_the_plain_splits(base, tiny_data, tmp_path):
    plain = train_run(compose("train", base), tmp_path / "plain")
    m = train_run(compose("train", [*base, "mirror=[y]"]), tmp_path / "mirror")
    assert (plain["fitted_samples"], plain["mirror"]) == (8, [])
    assert (m["fitted_samples"], m["mirror"]) == (16, ["y"])
    assert m["fingerprint"] != plain["fingerprint"] and m["eps"]["test"]["u"] != plain["eps"]["test"]["u"]
    # the hybrid's RBF was fitted to all 16 residuals, so it is still exact on the 8 training samples
    assert m["residual_rbf"]["eps"]["train"]["u"] < 1e-9 < m["eps"]["train"]["u"]
    # the later stages (submodel, ensemble, hull) refit it from the run's record: on the 16 samples too
    run = load_run(tmp_path / "mirror")
    train, test = (dataset.load(tiny_data / f"{s}.h5") for s in ("train", "test"))
    fix, fitted = run.fitted_correction(train)
    assert fitted[0].shape[0] == 8
    hybrid = fix(test.params, *run.predict(test.params))
    spec = ErrorSpec(**compose("train", base).metrics)
    assert epsilon(hybrid[0], test.u, spec)["eps"] == pytest.approx(m["residual_rbf"]["eps"]["test"]["u"], rel=1e-9)
    for bad, message in ((["mirror=y"], "mirror=y: must be a list"), (["mirror=[w]"], r"mirror=\['w'\]")):
        with pytest.raises(ConfigError, match=message):
            train_run(compose("train", [*base, *bad]), tmp_path / "bad")
    assert not (tmp_path / "bad").exists() or not (tmp_path / "bad" / "checkpoint.pt").exists()


def test_a_folded_run_is_fitted_to_its_samples_folded_and_predicts_mirror_pairs_exactly(base, tiny_data, tmp_path):
    m = train_run(compose("train", [*base, "mirror=[y]", "mirror_mode=fold"]), tmp_path / "fold")
    assert (m["fitted_samples"], m["mirror"], m["mirror_mode"]) == (8, ["y"], "fold")
    images = train_run(compose("train", [*base, "mirror=[y]"]), tmp_path / "images")
    assert images["mirror_mode"] == "images" and images["fingerprint"] != m["fingerprint"]
    run = load_run(tmp_path / "fold")
    train, test = (dataset.load(tiny_data / f"{s}.h5") for s in ("train", "test"))
    # the prediction at a source below y = 0 is the reflection of the bare network's at its image
    q = test.params * [1, 1, -1]
    u, _ = run.predict(np.concatenate([test.params, q]))
    n = test.params.shape[0]
    tol = {"rtol": 0.0, "atol": 1e-6 * float(np.abs(u).max())}  # float32 round-off of other batchings
    np.testing.assert_allclose(u[n:], u[:n, :, ::-1, :], **tol)
    image = q.copy()
    image[:, 2] = np.abs(q[:, 2])
    bare, _ = predict(run.model, run.scalers, image, run.device)
    below = q[:, 2] < 0
    assert below.any() and (~below).any()
    np.testing.assert_allclose(u[n:][below], bare[below, :, ::-1, :], **tol)
    np.testing.assert_allclose(u[n:][~below], bare[~below], **tol)
    assert np.abs(u[n:][below] - bare[below]).max() > 100 * tol["atol"]  # the reflection is not a no-op
    # its residual RBF is fitted to the 8 samples folded, exact on them, and refitted alike later
    assert m["residual_rbf"]["eps"]["train"]["u"] < 1e-9 < m["eps"]["train"]["u"]
    assert m["residual_rbf"]["label"] == "residual RBF, folded"
    fix, fitted = run.fitted_correction(train)
    np.testing.assert_allclose(fitted[0], run.predict(train.params)[0], rtol=0, atol=tol["atol"])
    spec = ErrorSpec(**compose("train", base).metrics)
    hybrid = fix(test.params, *run.predict(test.params))
    mirror_hybrid = fix(q, *run.predict(q))  # the hybrid is exactly symmetric too
    np.testing.assert_allclose(mirror_hybrid[0], hybrid[0][:, :, ::-1, :], rtol=0, atol=10 * tol["atol"])
    assert epsilon(hybrid[0], test.u, spec)["eps"] == pytest.approx(m["residual_rbf"]["eps"]["test"]["u"], rel=1e-9)
    assert epsilon(run.predict(test.params)[0], test.u, spec)["eps"] == pytest.approx(m["eps"]["test"]["u"], rel=1e-9)
    for bad, message in (
        (["mirror_mode=flip"], r"mirror_mode='flip': allowed \['images', 'fold'\]"),
        (["mirror=[]", "mirror_mode=fold"], r"mirror_mode=fold: .* but mirror=\[\] names none"),
        (["model=conv1d_boundary", "mirror_mode=fold"], "mirror_mode=fold with model=conv1d_boundary"),
    ):
        with pytest.raises(ConfigError, match=message):
            train_run(compose("train", [*base, "mirror=[y]", *bad]), tmp_path / "bad")
    assert not (tmp_path / "bad" / "checkpoint.pt").exists()


def test_the_mirrored_meter_is_written_beside_the_plain_one(tiny_data, tmp_path):
    from pipeline.baselines import run

    args = [f"paths.data_dir={tiny_data.parent}", f"data={tiny_data.name}", f"out={tmp_path}", "progress=false"]
    args += ["zoom=false", "~methods.zero", "~methods.pod_rbf"]
    plain = json.loads(run(compose("baselines", args)).read_text())
    path = run(compose("baselines", [*args, "mirror=[y]"]))
    assert path.name == "baselines_mirror_y.json" and (tmp_path / "baselines.json").is_file()
    doc = json.loads(path.read_text())
    assert doc["mirror"] == ["y"] and doc["fitted_samples"] == 16 and plain["fitted_samples"] == 8
    assert doc["methods"]["rbf"]["label"] == "RBF (cubic), mirror y"
    assert doc["methods"]["rbf"]["eps"]["train"]["u"] < 1e-9  # the training samples are still interpolated
    # the stage's score is that of the same RBF fitted by hand to the 16 samples, and not the plain one's
    train, test = (dataset.load(tiny_data / f"{s}.h5") for s in ("train", "test"))
    images = mirrored(train, ["y"])
    by_hand = epsilon(RBF().fit(images.params, images.u).predict(test.params), test.u, ErrorSpec())["eps"]
    assert doc["methods"]["rbf"]["eps"]["test"]["u"] == pytest.approx(by_hand, rel=1e-9)
    assert doc["methods"]["rbf"]["eps"]["test"]["u"] != pytest.approx(plain["methods"]["rbf"]["eps"]["test"]["u"])


def test_the_folded_meter_is_fitted_to_the_samples_folded_and_answers_by_reflection(tiny_data, tmp_path):
    from pipeline.baselines import run

    args = [f"paths.data_dir={tiny_data.parent}", f"data={tiny_data.name}", f"out={tmp_path}", "progress=false"]
    args += ["zoom=false", "~methods.zero", "~methods.pod_rbf", "mirror=[y]"]
    path = run(compose("baselines", [*args, "mirror_mode=fold"]))
    assert path.name == "baselines_mirror_y_fold.json" and not (tmp_path / "baselines_mirror_y.json").exists()
    doc = json.loads(path.read_text())
    assert (doc["mirror"], doc["mirror_mode"], doc["fitted_samples"]) == (["y"], "fold", 8)
    rbf = doc["methods"]["rbf"]
    assert rbf["label"] == "RBF (cubic), mirror y folded"
    assert rbf["eps"]["train"]["u"] < 1e-9  # a training sample's image is a fitted point: still exact
    # by hand: the RBF of the folded samples at the folded test sources, reflected back
    train, test = (dataset.load(tiny_data / f"{s}.h5") for s in ("train", "test"))
    half = folded(train, ["y"])
    q, flips = fold_params(test.params, ["y"])
    assert flips.any() and (~flips).any()
    by_hand = unfold(RBF().fit(half.params, half.u).predict(q), flips, ["y"])
    assert rbf["eps"]["test"]["u"] == pytest.approx(epsilon(by_hand, test.u, ErrorSpec())["eps"], rel=1e-9)
    images = json.loads(run(compose("baselines", args)).read_text())["methods"]["rbf"]
    assert rbf["eps"]["test"]["u"] != pytest.approx(images["eps"]["test"]["u"])
    with pytest.raises(ConfigError, match=r"mirror_mode=fold: .* but mirror=\[\] names none"):
        run(compose("baselines", [*args, "mirror=[]", "mirror_mode=fold"]))
    with pytest.raises(ConfigError, match=r"mirror_mode='half': allowed \['images', 'fold'\]"):
        run(compose("baselines", [*args, "mirror_mode=half"]))


def test_the_hull_stage_reads_a_folded_run_against_the_meters_fitted_to_the_same_samples(base, tiny_data, tmp_path):
    from pipeline.baselines import run as baselines_stage
    from pipeline.hull import run as hull_stage

    train_run(compose("train", [*base, "mirror=[y]", "mirror_mode=fold"]), tmp_path / "sweep" / "conv2d-basic-s0")
    args = [f"paths.data_dir={tiny_data.parent}", f"data={tiny_data.name}", f"out={tmp_path / 'b'}", "progress=false"]
    args += ["zoom=false", "~methods.zero", "~methods.pod_rbf", "~methods.nearest"]
    plain = baselines_stage(compose("baselines", args))
    hull = [*base[:3], f"target={tmp_path / 'sweep'}", f"hull.baselines={plain}", f"hull.out={tmp_path / 'h'}"]
    doc = json.loads(hull_stage(compose("hull", hull)).read_text())
    # without the folded and the images' meters the stage says which commands make them
    assert set(doc["baselines"]) == {"rbf"}
    assert any("baselines_mirror_y_fold.json: missing" in p and "mirror_mode=fold)" in p for p in doc["problems"])
    assert any("baselines_mirror_y.json: missing" in p for p in doc["problems"])
    recorded = {}
    for mode in ("images", "fold"):
        path = baselines_stage(compose("baselines", [*args, "mirror=[y]", f"mirror_mode={mode}"]))
        recorded[path.stem] = json.loads(path.read_text())["methods"]["rbf"]
    doc = json.loads(hull_stage(compose("hull", hull)).read_text())
    assert doc["problems"] == []
    rows = doc["baselines"]
    assert rows["rbf_mirror_y_fold"]["label"] == "RBF (cubic), mirror y folded"
    assert rows["rbf_mirror_y"]["label"] == "RBF (cubic), mirror y"
    # each refitted as the baselines stage fitted it: its test eps over all samples is the recorded one
    for key, stem in (("rbf_mirror_y", "baselines_mirror_y"), ("rbf_mirror_y_fold", "baselines_mirror_y_fold")):
        for f in "uv":
            assert rows[key]["by_target"]["field"]["all"][f] == pytest.approx(
                recorded[stem]["eps"]["test"][f], rel=1e-9
            )
    assert rows["rbf_mirror_y_fold"]["by_target"]["field"]["all"]["u"] != pytest.approx(
        rows["rbf"]["by_target"]["field"]["all"]["u"]
    )
    assert "| *RBF (cubic), mirror y folded* | - | field |" in (tmp_path / "h" / "hull.md").read_text()
