"""The whole chain on the tiny preset through the real entry points: data -> train -> submodel ->
tables -> report; every artefact exists and parses."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_data_train_submodel_tables_report_on_tiny(tmp_path):
    paths = [
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.results_dir={tmp_path / 'results'}",
        f"paths.output_dir={tmp_path / 'outputs'}",
    ]
    _run("pipeline.data", "dataset=tiny", "progress=false", *paths)
    for split in ("train", "test"):
        with h5py.File(tmp_path / "data" / "tiny" / f"{split}.h5") as f:
            assert f["done"][...].all() and f.attrs["complete"]
    common = ["data=tiny", "train.epochs=2", "train.lbfgs_iters=3", "progress=false", *paths]
    _run("pipeline.train", "-m", "model=conv2_5d,conv1d_boundary", "reg=bn", *common)
    sweep = tmp_path / "results" / "sweeps" / "tiny-quick_lbfgs"
    _run("pipeline.train", *common)  # a single run, as `make train` does
    single = tmp_path / "results" / "runs" / "tiny" / "quick_lbfgs"
    out = _run("pipeline.submodel", f"target={sweep}", *common)
    assert "2 run(s) processed" in out and "submodel.json" in out
    _run("pipeline.submodel", *common)  # the default target: the runs of `make train`
    _run("pipeline.baselines", "data=tiny", "progress=false", *paths)
    _run("pipeline.tables", str(sweep))
    _run("pipeline.report", f"target={sweep}", *common)
    _run("pipeline.report", *common)

    for run in (sweep / "conv2_5d-bn-s0", sweep / "conv1d_boundary-bn-s0", single / "conv2d-basic-s0"):
        metrics = json.loads((run / "metrics.json").read_text())
        zoom = json.loads((run / "submodel.json").read_text())
        assert metrics["epochs"] == 2 and np.isfinite(metrics["eps"]["test"]["u"])
        assert np.isfinite(zoom["eps_zoom"]["test"]["v"]) and zoom["timing"]["speedup"] > 0
        assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 2
        assert np.load(run / "zoom_example.npz")["u_zoom"].shape == (17, 9, 9)
        residual = metrics["physics"]["euler_residual"]
        assert set(residual) == {"train", "test", "reference"} and residual["reference"] < 1e-2
    md = (sweep / "tables.md").read_text()
    assert "Table 1: Number of trainable parameters" in md and "after zoom" in md
    assert "| *RBF (cubic)* |" in md.split("after zoom (eps, %)")[1]  # the baselines' reference rows
    for table in sweep.glob("table_*.csv"):
        with open(table) as f:
            rows = list(csv.reader(f))
        assert rows[0][0] == "model" and len(rows[0]) == 1 + 3 * 6  # mean, std, seeds per column
    for folder in (sweep / "report", single / "report"):
        report = (folder / "report.md").read_text()
        links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
        assert len(links) >= 4
        for link in links:
            assert (folder / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", link
        assert "## Dataset" in report and "Table 1" in report and "## The paper's claims" in report
        assert f"- `{tmp_path / 'data' / 'tiny'}`:" in report  # data outside the working directory: absolute
    assert {p.name for p in (sweep / "report").glob("*.png")} >= {
        "design.png",
        "snapshots.png",
        "eps_t.png",
        "params_vs_error.png",
        "epoch_time.png",
    }
