"""Ablation CSVs: one row per run, protocols side by side (the tables keep one cell per model, reg and
seed), regenerated exactly from the records written beside them."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from fakes import write_run

from pipeline.ablation import main, write_ablation
from pipeline.artefacts import RunError

CONFIG = (
    "train:\n  name: {name}\n  epochs: 150\n  batch_size: 5\n  lr: 0.008\n  lr_final: 1.0e-05\n"
    "  warmup: 0.0667\n  schedule: cosine\n  average_last: 0\n"
)


def _run(root, protocol: str, test_u: float, lr_used: float = 0.008):
    return write_run(
        root / protocol,
        "conv2d",
        "basic",
        0,
        {"eps_zoom": {"test": {"u": test_u / 2, "v": test_u}}},
        config=CONFIG.format(name=protocol),
        lr=lr_used,
        eps={"train": {"u": test_u / 4, "v": 0.5}, "test": {"u": test_u, "v": 0.25}},
        mean_epoch_seconds=0.25,
        git_revision="0123456789abcdef",
    )


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_same_run_under_two_protocols_gives_two_rows(tmp_path):
    """Two protocols, same model/reg/seed: two rows, each with its protocol, the lr asked and used,
    the warm-up in epochs and the errors in %."""
    _run(tmp_path / "runs", "quick", 0.02, lr_used=0.002)
    wide = _run(tmp_path / "runs", "q450", 0.01)
    metrics = json.loads((wide / "metrics.json").read_text())
    model = "model:\n  name: conv2d\n  lift: 256\n  widths: [2, 2, 2, 1]\n  kernel: 3\n"
    metrics["config"] = metrics["config"].replace("average_last: 0\n", "average_last: 0\n  clip_grad: 1.0\n") + model
    (wide / "metrics.json").write_text(json.dumps(metrics))
    rows = _rows(write_ablation([tmp_path / "runs"], tmp_path / "out" / "ablation.csv"))
    assert [r["run"] for r in rows] == ["q450/conv2d-basic-s0", "quick/conv2d-basic-s0"]
    quick = rows[1]
    protocol = (quick["lr"], quick["lr_used"], quick["warmup_epochs"], quick["schedule"])
    assert protocol == ("0.008", "0.002", "10", "cosine")
    assert (quick["train_u"], quick["test_u"], quick["test_v"], quick["zoom_test_u"], quick["zoom_test_v"]) == (
        "0.500", "2.000", "25.000", "1.000", "2.000"
    )  # fmt: skip
    assert (quick["s_per_epoch"], quick["git_revision"], quick["collapsed"]) == ("0.250", "0123456789", "")
    # against today's conf/model/conv2d.yaml and conf/train/short.yaml: only what differs, as overrides
    assert (
        rows[0]["overrides"] == "model.lift=256 model.widths=[2,2,2,1] train.clip_grad=1.0" and quick["overrides"] == ""
    )


def test_regenerated_exactly_from_its_records(tmp_path):
    """The run folders gone, the .jsonl beside the CSV gives the same CSV byte for byte."""
    _run(tmp_path / "runs", "quick", 0.02)
    _run(tmp_path / "runs", "short_cos", 0.01)
    first = write_ablation([tmp_path / "runs"], tmp_path / "ablation.csv").read_text()
    shutil.rmtree(tmp_path / "runs")
    again = write_ablation([tmp_path / "ablation.jsonl"], tmp_path / "again.csv").read_text()
    assert again == first and first.count("\n") == 3
    main([str(tmp_path / "ablation.jsonl"), "--out", str(tmp_path / "ablation.csv")])  # in place: records kept
    assert (tmp_path / "ablation.csv").read_text() == first


@pytest.mark.parametrize(
    ("make", "out", "match"),
    [
        (lambda p: p / "nothing", "a.csv", "neither a run folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "a.csv", "no finished run"),
        (lambda p: p, "a.txt", "must end in .csv"),
    ],
)
def test_bad_paths_are_named(tmp_path, make, out, match):
    with pytest.raises(RunError, match=match):
        write_ablation([make(tmp_path)], tmp_path / out)
