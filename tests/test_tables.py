"""pipeline.tables on a sweep folder with known values, a failed run and missing runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pipeline.tables import COLS, ROWS, main, write_tables


def _run(root: Path, model: str, reg: str, k: float, submodel: bool = False) -> None:
    run = root / f"{model}-{reg}"
    run.mkdir(parents=True)
    metrics = {
        "model": model,
        "reg": reg,
        "label": model,
        "reg_label": reg,
        "parameters": int(1e6 * k),
        "mean_epoch_seconds": k / 10,
        "eps": {s: {"u": k / 100, "v": k / 50} for s in ("train", "test")},
        "eps_boundary": {"test": {"u": k / 200, "v": k / 200}},
        "config": "train:\n  name: short\n",
        "eps_definition": "eps = test definition",
    }
    (run / "metrics.json").write_text(json.dumps(metrics))
    if submodel:
        zoom = {
            "eps_zoom": {s: {"u": k / 400, "v": k / 400} for s in ("train", "test")},
            "timing": {"speedup": 12.0},
        }
        (run / "submodel.json").write_text(json.dumps(zoom))


def test_tables_follow_the_papers_layout(tmp_path):
    _run(tmp_path, "conv3d", "basic", 1.0)
    _run(tmp_path, "conv3d", "bn", 2.0, submodel=True)
    _run(tmp_path, "fc_t_boundary", "e_sl", 3.0, submodel=True)
    (tmp_path / "conv2d-bn").mkdir()
    (tmp_path / "conv2d-bn" / ".hydra").mkdir()  # a run that failed before writing metrics
    md_path = write_tables(tmp_path)
    md = md_path.read_text()
    assert "## Table 1: Number of trainable parameters" in md and "## Table 10: Average time" in md
    assert (
        "## Table 4: Test error on full displacement" in md
        and "## Table 8: Test error on displacement after zoom" in md
    )
    header = "| | " + " | ".join(lbl for _, lbl in COLS) + " |"
    assert header in md
    assert "| Conv3D | 1.000 | 2.000 | - | - | - | - |" in md.split("Table 1:")[1].split("##")[0]  # millions
    assert "| Conv3D | 1.00 | 2.00 | - | - | - | - |" in md.split("Table 2:")[1]  # eps in %
    assert "| FC t Boundary | - | - | - | - | - | 0.75 |" in md.split("after zoom")[1]
    lines = [
        ln for ln in md.split("Table 1:")[1].split("##")[0].splitlines() if ln.startswith("| ") and "Basic" not in ln
    ]
    assert [ln.split(" | ")[0][2:] for ln in lines] == [label for _, label in ROWS]
    assert "run conv2d-bn: no metrics.json" in md
    assert "missing run: Conv3D / E & SL (conv3d-e_sl)" in md and "missing run: FC t Boundary / BN (" in md
    assert "missing run: Conv3D / E (" not in md and "missing run: Conv2D" not in md  # not launched
    with open(tmp_path / "table_full_test_v.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["model", *[lbl for _, lbl in COLS]] and rows[4][1:3] == ["2", "4"]
    assert "12.0x" in md and "eps = test definition" in md


def test_the_command_line_reports_a_missing_folder(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit, match="no such run or sweep folder"):
        main([str(tmp_path / "nope")])
