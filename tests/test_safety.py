"""No silent wrong results: foreign data, corrupt designs, bad config values and broken runs are
refused by name, before any work, and a sweep carries on past one broken run."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fe import dataset
from pipeline.artefacts import ConfigError, RunError
from pipeline.config import compose
from pipeline.runs import load_splits
from pipeline.train import train_run

ROOT = Path(__file__).resolve().parent.parent
BASE = ["data=tiny", "progress=false", "train=quick", "train.epochs=2", "train.batch_size=4"]


def _copy_data(tiny_data: Path, to: Path) -> Path:
    shutil.copytree(tiny_data, to / "tiny")
    return to / "tiny"


def _set_attr(path: Path, key: str, value) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs[key] = value


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory) -> Path:
    """A finished tiny run (Conv2D, two epochs)."""
    run = tmp_path_factory.mktemp("trained") / "conv2d-basic"
    train_run(compose("train", [*BASE, f"paths.data_dir={tiny_data.parent}", "model=conv2d", "reg=basic"]), run)
    return run


# -- data identity ---------------------------------------------------------------------------------
def test_a_run_is_refused_on_data_other_than_its_own(tiny_data, trained, tmp_path):
    from pipeline.submodel import submodel_run

    other = _copy_data(tiny_data, tmp_path)
    for split in ("train", "test"):
        _set_attr(other / f"{split}.h5", "fingerprint", "f" * 64)  # as if regenerated with another seed
    cfg = compose("submodel", [*BASE, f"paths.data_dir={tiny_data.parent}", f"submodel.data_dir={tmp_path}"])
    recorded = json.loads((trained / "metrics.json").read_text())["data_fingerprint"]
    with pytest.raises(RunError, match=rf"made on data {recorded[:12]}, but .* is data ffffffffffff"):
        submodel_run(trained, cfg)
    assert not (trained / "submodel.json").exists()


def test_resuming_on_regenerated_data_is_refused(tiny_data, trained, tmp_path):
    other = _copy_data(tiny_data, tmp_path)
    for split in ("train", "test"):
        _set_attr(other / f"{split}.h5", "fingerprint", "e" * 64)
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    cfg = compose("train", [*BASE, f"paths.data_dir={tmp_path}", "model=conv2d", "reg=basic", "train.epochs=4"])
    with pytest.raises(RuntimeError, match=r"trained on data \w{12}, the data now is eeeeeeeeeeee"):
        train_run(cfg, run)


def test_a_test_split_of_another_config_is_refused(tiny_data, tmp_path):
    other = _copy_data(tiny_data, tmp_path)
    _set_attr(other / "test.h5", "fingerprint", "d" * 64)
    with pytest.raises(dataset.DatasetError, match=r"train\.h5 \(data \w{12}\) and test\.h5 \(data dddddddddddd\)"):
        load_splits(other)
    cfg = compose("train", [*BASE, f"paths.data_dir={tmp_path}"])
    with pytest.raises(dataset.DatasetError, match="different configs"):
        train_run(cfg, tmp_path / "run")  # refused before any epoch
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_tables_leave_out_a_run_on_other_data(trained, tmp_path):
    from pipeline.sweep import collect

    sweep = tmp_path / "sweep"
    shutil.copytree(trained, sweep / "a")
    shutil.copytree(trained, sweep / "b")
    metrics = json.loads((sweep / "b" / "metrics.json").read_text())
    metrics.update(data_fingerprint="c" * 64, model="conv3d")
    (sweep / "b" / "metrics.json").write_text(json.dumps(metrics))
    out = collect(sweep)
    assert list(out.groups) == [("conv2d", "basic")]
    assert any("run b: trained on data cccccccccccc" in p for p in out.problems)


# -- dataset integrity -----------------------------------------------------------------------------
def test_a_flipped_bit_in_params_is_caught_by_its_checksum(tiny_data, tmp_path):
    path = _copy_data(tiny_data, tmp_path) / "train.h5"
    with h5py.File(path, "r") as f:
        offset = f["params"].id.get_chunk_info(0).byte_offset
    raw = bytearray(path.read_bytes())
    raw[offset + 13] ^= 0x10  # one bit of one coordinate
    path.write_bytes(bytes(raw))
    with pytest.raises(dataset.DatasetError, match="corrupt dataset"):
        dataset.load(path)


def test_a_source_moved_into_the_zone_is_refused(tiny_data, tmp_path):
    path = _copy_data(tiny_data, tmp_path) / "train.h5"
    with h5py.File(path, "r+") as f:
        params = f["params"][...]
        params[3, 1:] = 0.0  # the centre of the zone of interest
        f["params"][...] = params
    with pytest.raises(dataset.DatasetError, match="params differ from the design written at creation"):
        dataset.load(path)
    _set_attr(path, "params_sha256", dataset.params_sha256(params))  # a consistent rewrite
    with pytest.raises(dataset.DatasetError, match=r"sample 3 has p = \[.*outside the design of its config"):
        dataset.load(path)


def test_a_partial_file_locked_by_another_writer_is_refused_not_moved(tmp_path):
    from pipeline.data import run

    cfg = compose("data", ["dataset=tiny", f"paths.data_dir={tmp_path}", "progress=false"])
    out = tmp_path / "tiny"
    out.mkdir()
    partial = out / "train.h5.partial"
    with h5py.File(partial, "w") as f:
        f["done"] = np.zeros(3, bool)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import h5py, time; f = h5py.File({str(partial)!r}, 'r+'); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        holder.stdout.readline()
        with pytest.raises(dataset.DatasetError, match="locked by another process"):
            run(cfg)
    finally:
        holder.kill()
    assert partial.exists() and not list(out.glob("*.corrupt"))


# -- config values, up front -----------------------------------------------------------------------
TRAIN_BAD = [
    ("seed=abc", r"seed='abc': must be an integer >= 0"),
    ("seed=-1", r"seed=-1: must be an integer >= 0"),
    ("threads=-1", r"threads=-1: must be an integer >= 1 or null"),
    ("train.lr=abc", r"train.lr='abc': must be a number > 0"),
    ("model.rank_ratio=0", r"model.rank_ratio=0: must be a number > 0"),
    ("metrics.normaliser=peak", r"metrics.normaliser='peak': allowed"),
    ("metrics.active_threshold=2", r"metrics.active_threshold=2: must be a number >= 0 and < 1"),
    ("device=gpu", r"device='gpu': allowed auto, cpu"),
    ("reg.euler=-1", r"reg.euler=-1: must be a number >= 0"),
    ("reg.batch_norm=maybe", r"reg.batch_norm='maybe': must be true or false"),
    ("train.times_per_sample=2.5", r"train.times_per_sample=2.5: must be an integer >= 1 or null"),
    ("train.scaler_floor=abc", r"train.scaler_floor='abc': must be a number >= 0"),
    ("model=conv3d model.lr_max=0", r"model.lr_max=0: must be a number > 0 \(the largest peak lr\) or null"),
    ("model=conv3d model.lr_max=fast", r"model.lr_max='fast': must be a number > 0"),
]


@pytest.mark.parametrize("override,message", TRAIN_BAD)
def test_training_checks_every_value_before_loading_data(tmp_path, override, message):
    cfg = compose("train", [*BASE, f"paths.data_dir={tmp_path / 'no-data'}", *override.split()])
    with pytest.raises(ConfigError, match=message):  # not a DatasetError: nothing was read yet
        train_run(cfg, tmp_path / "run")


def test_a_rank_ratio_of_zero_is_refused_by_the_model_too():
    from surrogate.models import ConvDecoder, Geometry

    with pytest.raises(ValueError, match="model.rank_ratio=0"):
        ConvDecoder(
            name="c", label="c", target="field", time="axis", geometry=Geometry(17, 9, 9, 32),
            widths=[4, 4], factors=[["y", "x"], ["t"]], rank_ratio=0,
        )  # fmt: skip


DATA_BAD = [
    ("mesh.min_nodes_per_wavelength=-5", r"mesh.min_nodes_per_wavelength=-5: must be a number > 0"),
    ("mesh.min_nodes_per_wavelength=abc", r"mesh.min_nodes_per_wavelength='abc': must be a number"),
    ("sampling.seed=-1", r"sampling.seed=-1: must be an integer >= 0"),
    ("sampling.margin_boundary=1.5", r"sampling.margin_boundary=1.5: must be < half the domain"),
    ("export.sample=1000", r"export.sample=1000: must be a train-sample index in \[0, 7\]"),
    ("sampling.zs=[0,1]", r"sampling.zs=\[0.0, 1.0\]: must be null for a 2D domain"),
    ("physics.zone=[0.25,0.25,0.25]", r"physics.zone=\[0.25, 0.25, 0.25\]: needs 2 half-widths"),
    ("mesh.nz=8", r"mesh.nz=8: must be null for a 2D domain"),
    ("physics.domain=[1,1,1]", r"physics.zone=\[0.25, 0.25\]: needs 3 half-widths"),
]


@pytest.mark.parametrize("override,message", DATA_BAD)
def test_the_data_stage_checks_every_value_before_writing(tmp_path, override, message):
    from fe.spec import SpecError
    from pipeline.data import run

    cfg = compose("data", ["dataset=tiny", f"paths.data_dir={tmp_path}", "progress=false", override])
    with pytest.raises((ConfigError, SpecError), match=message):
        run(cfg)
    assert not (tmp_path / "tiny").exists()


@pytest.mark.parametrize(
    "override,message",
    [
        ("submodel.block_size=0", r"submodel.block_size=0: must be an integer >= 1"),
        ("submodel.example_sample=abc", r"submodel.example_sample='abc': must be an integer >= 0"),
        ("submodel.parent_schemes=3", r"submodel.parent_schemes=3: must map names to time schemes with a _target_"),
        ("+submodel.parent_schemes.nm={beta:0.25}", r"submodel.parent_schemes=.*must map names to time schemes"),
        (
            "+submodel.parent_schemes.nm={_target_:fe.newmark.Newmark,linear:gmres}",
            r"submodel.parent_schemes.nm: solver.scheme.linear: got 'gmres', allowed: lu, cg",
        ),
    ],
)
def test_the_submodel_stage_checks_its_values_first(tmp_path, override, message):
    from pipeline.submodel import run

    with pytest.raises(ConfigError, match=message):
        run(compose("submodel", [*BASE, f"target={tmp_path / 'none'}", override]))


def test_a_user_error_prints_its_message_alone(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "seed=abc", f"paths.results_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1
    assert "error: seed='abc': must be an integer >= 0" in out.stderr
    assert "Traceback" not in out.stderr and "HYDRA_FULL_ERROR" not in out.stderr


# -- runs and sweeps -------------------------------------------------------------------------------
def test_a_checkpoint_without_metrics_is_not_a_finished_run(trained, tmp_path):
    from pipeline.runs import load_run

    run = tmp_path / "killed-before-scoring"
    shutil.copytree(trained, run)
    (run / "metrics.json").unlink()
    with pytest.raises(RunError, match="no metrics.json"):
        load_run(run)


def test_the_checkpoint_rebuilds_the_model_without_hydra(trained, tiny_data):
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert state["meta"]["model_spec"]["_target_"] == "surrogate.models.ConvDecoder"
    test = dataset.load(tiny_data / "test.h5")
    np.save(trained.parent / "params.npy", test.params)
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('hydra', 'omegaconf', 'pipeline', 'dolfinx'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import numpy as np
from surrogate.checkpoint import load_model
from surrogate.training import Scalers, predict
model, state = load_model({str(trained / "checkpoint.pt")!r})
u, v = predict(model, Scalers.from_state(state['scalers']), np.load({str(trained.parent / "params.npy")!r}), 'cpu')
np.save({str(trained.parent / "u.npy")!r}, u)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    from pipeline.runs import load_run

    u_ref, _ = load_run(trained).predict(test.params)
    assert np.array_equal(np.load(trained.parent / "u.npy"), u_ref)


def test_resuming_with_another_thread_count_warns(trained, tiny_data, tmp_path, caplog):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    began = torch.load(run / "checkpoint.pt", weights_only=True)["meta"]["threads"]
    other = 2 if began != 2 else 1
    cfg = compose(
        "train", [*BASE, f"paths.data_dir={tiny_data.parent}", "model=conv2d", "reg=basic", f"threads={other}"]
    )
    try:
        with caplog.at_level(logging.WARNING):
            metrics = train_run(cfg, run)
    finally:
        torch.set_num_threads(began)
    assert f"resuming with threads={other}, the run began with threads={began}" in caplog.text
    assert metrics["threads"] == other


def test_tables_fail_when_nothing_can_be_tabulated(tmp_path):
    from pipeline.tables import main

    (tmp_path / "sweep" / "broken-run" / ".hydra").mkdir(parents=True)
    with pytest.raises(SystemExit, match=r"nothing to tabulate(.|\n)*run broken-run: no metrics.json"):
        main([str(tmp_path / "sweep")])


def test_an_atomic_write_creates_its_folder_and_leaves_nothing_behind_when_the_writer_fails(tmp_path):
    """The first artefact of a fresh clone (e.g. ``results/bench/precision.json``) lands in a folder that
    does not exist yet; a writer that dies leaves neither the target nor its temporary file."""
    from surrogate.io import atomic_write, write_json

    target = tmp_path / "results" / "bench" / "x.json"
    write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}

    def dies(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "new" / "y.json", dies)
    assert list((tmp_path / "new").iterdir()) == []
    assert json.loads(target.read_text()) == {"a": 1}
