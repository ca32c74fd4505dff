"""The Slurm path for real: a single-node Slurm cluster (started and stopped by this module) runs a
tiny grid through ``hydra/launcher=slurm``, a requeued job resumes to the uninterrupted result, and
the data stage runs under ``srun --mpi=pmi2 -n 2``. Marked ``slurm``: ``make test-slurm`` (run by
.ci/run after ``make test``); skipped, with the reason, where no cluster can be started (not root,
no apt, no network for the packages)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from fe import dataset
from pipeline.config import compose

pytestmark = pytest.mark.slurm
ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
PY = sys.executable
TRAIN = ["data=tiny", "progress=false", "train=quick", "train.batch_size=4", "hydra/launcher=slurm"]


def _sh(*cmd: str, timeout: float = 60) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=timeout).stdout


@pytest.fixture(scope="module")
def cluster():
    out = subprocess.run([str(CLUSTER), "start"], capture_output=True, text=True, timeout=900)
    if out.returncode == 77:
        pytest.skip(out.stderr.strip() or "no Slurm cluster can be started here")
    assert out.returncode == 0, out.stdout + out.stderr
    yield
    subprocess.run([str(CLUSTER), "stop"], capture_output=True, text=True, timeout=120)
    assert not any(_alive(name) for name in ("slurmctld", "slurmd", "slurmdbd")), "a Slurm daemon survived stop"


def _alive(name: str) -> bool:
    return subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def work(tmp_path_factory, cluster) -> Path:
    """A folder the jobs share with this process, holding the tiny dataset made serially."""
    from pipeline.data import run

    root = tmp_path_factory.mktemp("slurm")
    run(compose("data", ["dataset=tiny", f"paths.data_dir={root / 'data'}", "progress=false"]))
    return root


def _multirun(work: Path, *overrides: str, wait: bool = True) -> subprocess.Popen | subprocess.CompletedProcess:
    cmd = [PY, "-m", "pipeline.train", "-m", *TRAIN, f"paths.data_dir={work / 'data'}",
           f"paths.results_dir={work / 'results'}", *overrides]  # fmt: skip
    if wait:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _sacct_states() -> dict[str, str]:
    rows = _sh("sacct", "-n", "-X", "-P", "-o", "JobID,JobName,State").split()
    return {r.split("|")[0]: r.split("|")[2] for r in rows if r}


def test_a_tiny_grid_runs_through_slurm(work):
    before = set(_sacct_states())
    out = _multirun(work, "model=conv2d,conv1d_boundary", "reg=basic,sl", "train.epochs=3")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sweep = work / "results" / "sweeps" / "tiny-quick"
    runs = sorted(p.name for p in sweep.iterdir() if (p / "metrics.json").is_file())
    assert runs == ["conv1d_boundary-basic-s0", "conv1d_boundary-sl-s0", "conv2d-basic-s0", "conv2d-sl-s0"]
    for name in runs:
        metrics = json.loads((sweep / name / "metrics.json").read_text())
        assert metrics["epochs"] == 3 and metrics["threads"] == 1  # threads = the job's cpus_per_task
    deadline = time.time() + 90  # the accounting records a job's end a few seconds after it
    while True:
        new = {k: v for k, v in _sacct_states().items() if k not in before}
        if set(new.values()) == {"COMPLETED"} or time.time() > deadline:
            break
        time.sleep(1)
    assert len(new) == 4 and set(new.values()) == {"COMPLETED"}, new  # one array task per run
    # the later stages on the Slurm sweep
    from pipeline.submodel import run as submodel
    from pipeline.tables import write_tables

    results, problems = submodel(compose("submodel", ["data=tiny", "progress=false", f"target={sweep}"]))
    assert set(results) == set(runs) and not problems
    text = write_tables(sweep).read_text()
    assert "| Conv2D |" in text and "Missing or failed" not in text


def test_a_requeued_job_resumes_to_the_uninterrupted_result(work, tmp_path):
    from pipeline.train import train_run

    args = ["model=conv3d", "reg=basic", "train.epochs=300", "train.checkpoint_every=5", "seed=3"]
    proc = _multirun(work, *args, "hydra.sweep.dir=" + str(work / "requeue"), wait=False)
    ckpt = work / "requeue" / "conv3d-basic-s3" / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.5)
    assert ckpt.exists(), "the job never wrote a checkpoint"
    job = _sh("squeue", "-h", "-o", "%i").split()[0]
    subprocess.run(["scancel", "--signal=USR2", job], check=True)  # submitit requeues on USR2
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:]
    resumed = json.loads((ckpt.parent / "metrics.json").read_text())
    assert "REQUEUE" in _sh("sacct", "-n", "-P", "-D", "-o", "JobID,State", "-j", job.split("_")[0]), (
        "the job was not requeued"
    )
    cfg = compose("train", [*TRAIN[:-1], f"paths.data_dir={work / 'data'}", *args, "threads=1"])
    clean = train_run(cfg, tmp_path / "clean")
    assert resumed["eps"] == clean["eps"]
    a = torch.load(ckpt, weights_only=True)["model"]
    b = torch.load(tmp_path / "clean" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_data_stage_under_srun_pmi2_equals_serial(work):
    out = subprocess.run(
        ["srun", "--mpi=pmi2", "-n", "2", PY, "-m", "pipeline.data", "dataset=tiny",
         f"paths.data_dir={work / 'srun'}", "progress=false", "solver.block_size=3"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "HYDRA_FULL_ERROR": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "2 rank(s), samples-parallel" in out.stdout + out.stderr  # one job of two ranks, not two copies
    for split in ("train", "test"):
        a, b = (
            dataset.load(work / "srun" / "tiny" / f"{split}.h5"),
            dataset.load(work / "data" / "tiny" / f"{split}.h5"),
        )
        assert np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v) and np.array_equal(a.params, b.params)
