"""The data stage through the real Hydra config: schema, determinism, resume, refusals, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from hydra.errors import MissingConfigException

from fe import dataset
from fe.spec import SpecError
from pipeline.data import run
from tests.conftest import make_cfg

ROOT = Path(__file__).resolve().parent.parent


def _cfg(tmp: Path, *extra: str):
    return make_cfg("data", ["dataset=tiny", f"paths.data_dir={tmp}", "progress=false", *extra])


def test_schema_of_a_tiny_dataset(tiny_data):
    train = dataset.load(tiny_data / "train.h5")
    n, nt, h, w = train.u.shape
    assert (n, nt, h, w) == (8, 17, 9, 9) and train.v.shape == train.u.shape
    assert train.params.shape == (8, 3) and np.allclose(train.t, np.linspace(0, 2, 17))
    assert np.allclose(train.x, np.linspace(-0.25, 0.25, 9)) and np.allclose(train.y, train.x)
    assert train.boundary_index.shape == (32, 2) and train.boundary_u.shape == (8, 17, 32)
    omega, xs, ys = train.params.T
    assert omega.min() >= 2 and omega.max() <= 6
    assert np.all((np.abs(xs) >= 0.6) | (np.abs(ys) >= 0.6))  # outside the zone grown by margin_zone
    assert np.all(np.abs(train.params[:, 1:]) <= 0.9)
    for key in ("schema_version", "config", "fingerprint", "versions", "git_revision", "created", "design"):
        assert key in train.attrs
    assert "dolfinx-solver-real" in train.attrs["versions"] and "mesh:" in train.attrs["config"]
    with h5py.File(tiny_data / "train.h5") as f:
        assert f["u"].chunks == (1, 17, 9, 9) and f["u"].compression == "gzip"
        assert f["done"][...].all() and f["design/unit"].shape == (8, 3)
    assert np.abs(train.u).max() > 1e-2 and np.abs(train.u[:, 0]).max() == 0.0  # zero initial state
    assert dataset.load(tiny_data / "test.h5").u.shape[0] == 4


def test_same_config_and_seed_give_identical_data(tmp_path, tiny_data):
    run(_cfg(tmp_path))
    for split in ("train", "test"):
        a, b = dataset.load(tiny_data / f"{split}.h5"), dataset.load(tmp_path / "tiny" / f"{split}.h5")
        assert np.array_equal(a.params, b.params) and np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)
    other = run(_cfg(tmp_path / "seed", "sampling.seed=1"))
    assert not np.array_equal(dataset.load(other["train"]).params, a.params)


def test_a_rerun_of_a_complete_dataset_does_nothing(tiny_data):
    before = (tiny_data / "train.h5").stat().st_mtime_ns
    run(_cfg(tiny_data.parent))
    assert (tiny_data / "train.h5").stat().st_mtime_ns == before


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, tiny_data):
    def crash_after_two_blocks(split: str, block: int) -> None:
        if split == "train" and block == 1:
            raise Interrupt

    cfg = _cfg(tmp_path, "solver.block_size=3")
    with pytest.raises(Interrupt):
        run(cfg, on_block=crash_after_two_blocks)
    partial = tmp_path / "tiny" / "train.h5.partial"
    assert partial.exists() and not (tmp_path / "tiny" / "train.h5").exists()
    assert dataset.read_attrs(partial)["done"].sum() == 6
    with pytest.raises(dataset.DatasetError, match="unfinished train.h5.partial"):
        dataset.load(tmp_path / "tiny" / "train.h5")
    with pytest.raises(dataset.DatasetError, match="incomplete"):
        dataset.load(partial)

    solved = []
    run(cfg, on_block=lambda split, block: solved.append(split))
    assert solved.count("train") == 1  # only the pending samples were solved
    a, b = dataset.load(tiny_data / "train.h5"), dataset.load(tmp_path / "tiny" / "train.h5")
    assert np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)


def test_a_partial_file_of_another_config_is_refused_by_name(tmp_path):
    with pytest.raises(Interrupt):
        run(_cfg(tmp_path), on_block=lambda s, b: (_ for _ in ()).throw(Interrupt))
    with pytest.raises(dataset.DatasetError, match=r"another config.*physics\.t_final: 2\.0 -> 2\.5"):
        run(_cfg(tmp_path, "physics.t_final=2.5"))


def test_a_complete_file_of_another_config_is_refused(tmp_path, tiny_data):
    with pytest.raises(dataset.DatasetError, match=r"sampling\.seed: 0 -> 7"):
        run(_cfg(tiny_data.parent, "sampling.seed=7"))
    # execution settings do not change the data, so they are not a different config
    run(_cfg(tiny_data.parent, "solver.block_size=5"))


def test_loader_refuses_bad_files(tmp_path, tiny_data):
    with pytest.raises(dataset.DatasetError, match="no such dataset"):
        dataset.load(tmp_path / "nope.h5")
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + os.urandom(512))
    with pytest.raises(dataset.DatasetError, match="not a readable"):
        dataset.load(corrupt)
    other = tmp_path / "v0.h5"
    other.write_bytes((tiny_data / "test.h5").read_bytes())
    with h5py.File(other, "r+") as f:
        f.attrs["schema_version"] = 0
    with pytest.raises(dataset.DatasetError, match="schema_version 0"):
        dataset.load(other)
    with h5py.File(other, "r+") as f:
        f.attrs["schema_version"] = dataset.SCHEMA_VERSION
        f["done"][1] = False
    with pytest.raises(dataset.DatasetError, match="1 samples pending"):
        dataset.load(other)


def test_a_corrupt_partial_is_set_aside_and_redone(tmp_path, tiny_data):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "train.h5.partial").write_bytes(b"garbage")
    run(_cfg(tmp_path))
    assert (tmp_path / "tiny" / "train.h5.partial.corrupt").exists()
    assert np.array_equal(dataset.load(tmp_path / "tiny" / "train.h5").u, dataset.load(tiny_data / "train.h5").u)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("mesh.nx=30", "mesh.nx"),  # Omega' edge not on a node
        ("sampling.margin_zone=-0.1", "sampling.margin_zone"),  # source range overlapping Omega'
        ("sampling.margin_zone=0.7", "sampling.margin_zone"),  # nothing admissible left
        ("sampling.omega=[4.0,25.0]", "sampling.omega"),  # under-resolved on 32^2 cells
        ("solver.dt=0.05", "solver.dt"),  # above the CFL limit
        ("solver.dt=0.03", "solver.dt"),  # does not divide the snapshot interval
        ("mesh.ny=-4", "mesh.ny"),
        ("physics.domain=[-1.0,1.0]", "physics.domain"),
        ("physics.zone=[1.5,0.25]", "physics.zone"),
        ("physics.t_final=0.5", "physics.t_final"),  # the wave would not reach Omega' in time
        ("sampling.n_train=0", "sampling.n_train"),
        ("solver.parallel=threads", "solver.parallel"),
        ("sampling.xs=[-1.5,0.9]", "sampling.xs"),
        ("+physics.rho=1.0", "physics.rho"),
    ],
)
def test_bad_input_names_the_key_and_writes_nothing(tmp_path, override, key):
    with pytest.raises(SpecError) as err:
        run(_cfg(tmp_path, override))
    assert err.value.key == key and key in str(err.value)
    assert not any(tmp_path.rglob("*.h5*"))


def test_an_unknown_preset_lists_the_available_ones():
    with pytest.raises(MissingConfigException, match="dataset") as err:
        make_cfg("data", ["dataset=huge"])
    assert all(name in str(err.value) for name in ("paper", "small", "tiny"))


@pytest.mark.slow
def test_a_killed_process_resumes_without_losing_finished_samples(tmp_path):
    """SIGKILL the real entry point mid-split, then resume it: same data as an uninterrupted run."""
    cmd = [
        sys.executable,
        "-m",
        "pipeline.data",
        "dataset=small",
        "sampling.n_test=4",
        "solver.block_size=1",
        "progress=false",
        f"paths.output_dir={tmp_path / 'out'}",
    ]
    proc = subprocess.Popen(
        [*cmd, f"paths.data_dir={tmp_path / 'killed'}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = tmp_path / "killed" / "small" / "train.h5.partial"
    deadline = time.monotonic() + 120
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    created = partial.stat().st_size
    # kill once two or three samples (~94 kB each, compressed) have landed, whatever the machine's speed
    while partial.stat().st_size < created + 250_000 and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial.exists() and not (tmp_path / "killed" / "small" / "train.h5").exists()
    done = dataset.read_attrs(partial)["done"]
    assert 0 < done.sum() < done.size
    for where in ("killed", "clean"):
        subprocess.run([*cmd, f"paths.data_dir={tmp_path / where}"], cwd=ROOT, check=True, capture_output=True)
    a = dataset.load(tmp_path / "killed" / "small" / "train.h5")
    b = dataset.load(tmp_path / "clean" / "small" / "train.h5")
    assert np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v) and np.array_equal(a.params, b.params)


def test_paraview_export_of_one_sample(tmp_path, tiny_data):
    """export.sample writes the full-domain u of that train sample over time (XDMF + HDF5 heavy data),
    and its values on Omega' are the dataset's."""
    run(_cfg(tmp_path, "export.sample=2"))
    xdmf = tmp_path / "tiny" / "paraview" / "train_2.xdmf"
    assert xdmf.exists() and xdmf.read_text().count("<Time Value=") == 17
    with h5py.File(xdmf.with_suffix(".h5")) as f:
        coords = f["Mesh/mesh/geometry"][...]
        names = sorted(f["Function/u"], key=lambda k: float(k.replace("_", ".")))  # "0_125" is t = 0.125
        frames = [f["Function/u"][k][...][:, 0] for k in names]
    assert coords.shape[0] == 33 * 33 and len(frames) == 17
    zone = dataset.load(tiny_data / "train.h5")
    on_zone = (np.abs(coords[:, 0]) <= 0.25 + 1e-12) & (np.abs(coords[:, 1]) <= 0.25 + 1e-12)
    j = np.rint((coords[on_zone, 0] + 0.25) / (0.5 / 8)).astype(int)
    i = np.rint((coords[on_zone, 1] + 0.25) / (0.5 / 8)).astype(int)
    for k in (8, 16):
        assert np.allclose(frames[k][on_zone], zone.u[2, k, i, j], atol=1e-12)
