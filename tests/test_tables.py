"""pipeline.tables on a sweep folder with known values, a failed run and missing runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from fakes import write_run

from pipeline.tables import main, write_tables
from pipeline.tabulate import COLS, FULL_ROWS, ROWS


def _run(
    root: Path, model: str, reg: str, k: float, submodel: bool = False, seed: int | None = None, averaged: bool = False
) -> None:
    splits = ("train", "test")
    zoom = {
        "eps_zoom": {s: {"u": k / 400, "v": k / 400} for s in splits},
        "timing": {"speedup": 12.0},
        **({"last_iterate": {"eps_zoom": {s: {"u": k / 40, "v": k / 40} for s in splits}}} if averaged else {}),
    }
    write_run(
        root,
        model,
        reg,
        seed,
        zoom if submodel else None,
        **({} if seed is None else {"data_fingerprint": "abc"}),
        parameters=int(1e6 * k),
        mean_epoch_seconds=k / 10,
        eps={s: {"u": k / 100, "v": k / 50} for s in splits},
        eps_boundary={"test": {"u": k / 200, "v": k / 200}},
        eps_by_normaliser={"test": {f: {"time": k / 100, "sample": k / 300} for f in "uv"}},
        eps_definition="eps = test definition",
        **({"last_iterate": {"eps": {s: {"u": k / 25, "v": k / 25} for s in splits}}} if averaged else {}),
    )


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
    # the paper's row order, without the rows of models this sweep never ran
    assert [ln.split(" | ")[0][2:] for ln in lines] == [lbl for m, lbl in ROWS if m in ("conv3d", "fc_t_boundary")]
    assert "run conv2d-bn: no metrics.json" in md
    assert "missing run: Conv3D / E & SL (conv3d-e_sl)" in md and "missing run: FC t Boundary / BN (" in md
    assert "missing run: Conv3D / E (" not in md and "missing run: Conv2D" not in md  # not launched
    with open(tmp_path / "table_full_test_v.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["model", "Basic", "Basic std", "Basic n"] and len(rows[0]) == 1 + 3 * len(COLS)
    assert rows[1][0] == "Conv3D" and rows[1][1] == "2" and rows[1][4] == "4" and rows[1][3] == "1"
    assert "12.0x" in md and "eps = test definition" in md
    assert "last epoch's weights" not in md  # no weight-averaged run: no last-iterate table


def test_weight_averaged_runs_show_their_last_iterate(tmp_path):
    _run(tmp_path, "conv3d", "basic", 1.0, submodel=True, averaged=True)
    md = write_tables(tmp_path).read_text()
    table = md.split("displacement of the last epoch's weights")[1].split("##")[0]
    assert "| Conv3D | 4.00 | - |" in table and "| Conv3D | 1.00 | - |" in md.split("Table 4:")[1]
    zoom = md.split("displacement after zoom of the last epoch's weights")[1].split("##")[0]
    assert "| Conv3D | 2.50 | - |" in zoom and (tmp_path / "table_last_iterate_zoom_test_v.csv").is_file()


def test_a_collapsed_network_is_named_under_the_tables(tmp_path):
    _run(tmp_path, "conv3d", "basic", 1.0)
    write_run(
        tmp_path,
        "conv2_5d",
        "basic",
        None,
        None,
        eps={s: {"u": 0.35, "v": 0.02} for s in ("train", "test")},
        collapsed=["u"],
    )
    md = write_tables(tmp_path).read_text()
    problems = md.split("## Missing or failed runs")[1]
    assert "conv2_5d-basic: its u network collapsed" in problems and "conv3d" not in problems
    assert "| Conv2.5D | 35.00 |" in md.split("Table 4:")[1]  # tabulated as it is, not dropped


def test_the_command_line_reports_a_missing_folder(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit, match="no such run or sweep folder"):
        main([str(tmp_path / "nope")])


def test_seeds_give_mean_and_std_and_baselines_give_reference_rows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the document names its files relative to where it was made
    for seed, k in ((0, 1.0), (1, 3.0), (2, 2.0)):
        _run(tmp_path / "sweep", "conv2_5d", "basic", k, submodel=True, seed=seed)
    _run(tmp_path / "sweep", "conv2_5d", "bn", 5.0, seed=0)
    method = {
        "label": "RBF (cubic)",
        "eps": {s: {"u": 0.01, "v": 0.02} for s in ("train", "test")},
        "eps_zoom": {s: {"u": 0.03, "v": 0.04} for s in ("train", "test")},
        "eps_boundary": {"test": {"u": 0.005}},
        "eps_by_normaliser": {"test": {f: {"time": 0.01, "sample": 0.006} for f in "uv"}},
    }
    base = tmp_path / "baselines.json"
    base.write_text(json.dumps({"data_fingerprint": "abc", "methods": {"rbf": method}}))
    md = write_tables(tmp_path / "sweep", baselines=base).read_text()
    table4 = md.split("Test error on full displacement (eps, %)")[1].split("##")[0]
    # eps test u = k %: k = 1, 3, 2 -> mean 2, sample std 1
    assert "| Conv2.5D | 2.00 ± 1.00 | 5.00 | - | - | - | - |" in table4
    assert "| *RBF (cubic)* | *1.00* | *1.00* |" in table4
    assert "| *RBF (cubic)* | *3.00* |" in md.split("Test error on displacement after zoom")[1].split("##")[0]
    assert "| *RBF (cubic)* | *0.60* |" in md.split("per-sample normaliser")[1].split("##")[0]
    assert "*RBF" not in md.split("Table 1:")[1].split("##")[0]  # no reference row for parameter counts
    assert "mean ± sample standard deviation over 1-3 seeds" in md
    assert "# Tables for sweep\n" in md and "training split (baselines.json)" in md and str(tmp_path) not in md
    # baselines of other data are refused by name, the tables are still written
    base.write_text(json.dumps({"data_fingerprint": "other", "methods": {"rbf": method}}))
    md = write_tables(tmp_path / "sweep", baselines=base).read_text()
    assert "*RBF" not in md and "made on data other" in md


def test_rows_and_columns_come_from_the_configs_labels():
    """Every conf/model and conf/reg option is a row / column, in its ``order:``, under its ``label:``."""
    import yaml

    conf = Path(__file__).resolve().parent.parent / "conf"
    models = {p.stem: yaml.safe_load(p.read_text()) for p in (conf / "model").glob("*.yaml")}
    regs = {p.stem: yaml.safe_load(p.read_text()) for p in (conf / "reg").glob("*.yaml")}
    assert ROWS == [(n, models[n]["label"]) for n in sorted(models, key=lambda n: models[n]["order"])]
    assert COLS == [(n, regs[n]["label"]) for n in sorted(regs, key=lambda n: regs[n]["order"])]
    assert ROWS[0] == ("fc_t", "FC t") and ROWS[10] == ("conv1_5d_boundary", "Conv1.5D Boundary")
    assert ROWS[11:] == [("conv4d", "Conv4D"), ("conv3_5d", "Conv3.5D"), ("conv3_5db", "Conv3.5Db")]  # 3D data
    assert COLS == [
        ("basic", "Basic"),
        ("bn", "BN"),
        ("e", "E"),
        ("sl", "SL"),
        ("bn_sl", "BN & SL"),
        ("e_sl", "E & SL"),
    ]
    assert [n for n, _ in FULL_ROWS] == [n for n, _ in ROWS if models[n]["target"] == "field"]
    assert len({m["order"] for m in models.values()}) == len(models)  # no two rows share a place


def test_identical_values_have_no_spread():
    """A parameter count repeated over seeds prints as itself, never as 'x ± 0.000'."""
    from pipeline.sweep import Stat

    stat = Stat.of([0.01424, 0.01424, 0.01424])
    assert stat.std == 0.0 and stat.format("{:.3f}") == "0.014"
    assert Stat.of([1.0, 2.0, 3.0]).std == 1.0


def test_runs_below_their_protocols_lr_are_named_with_the_lr_they_used(tmp_path):
    """quick sets 8e-3: Conv3D capped by its lr_max and Conv2D asked 2e-3 by train.lr both trained at
    2e-3, and the tables say so; a run at the protocol's lr is not named."""
    eps = {s: {"u": 0.01, "v": 0.02} for s in ("train", "test")}
    quick = "train:\n  name: quick\n  lr: {}\n"
    write_run(tmp_path, "conv3d", "basic", None, None, config=quick.format(0.008), lr=0.002, eps=eps)
    write_run(tmp_path, "conv2d", "basic", None, None, config=quick.format(0.002), lr=0.002, eps=eps)
    write_run(tmp_path, "conv2_5d", "basic", None, None, config=quick.format(0.008), lr=0.008, eps=eps)
    md = write_tables(tmp_path).read_text()
    assert "Training protocol: `quick`." in md and "Peak lr below the protocol's" in md
    assert "conv2d at 0.002 (protocol 0.008), conv3d at 0.002 (protocol 0.008). " in md
    assert "conv2_5d at" not in md


def test_an_lbfgs_finish_is_stated_under_the_protocol(tmp_path):
    """Runs finished by train.lbfgs_iters say so next to the protocol's name; runs without it say nothing."""
    eps = {s: {"u": 0.01, "v": 0.02} for s in ("train", "test")}
    lb = {"iterations": 600, "converged": False, "seconds": 1.0, "first_loss": 0.1, "last_loss": 0.05}
    write_run(tmp_path / "a", "conv2d", "basic", 0, None, eps=eps, lbfgs=lb)
    write_run(tmp_path / "a", "conv2d", "basic", 1, None, eps=eps, lbfgs=lb)
    md = write_tables(tmp_path / "a").read_text()
    assert "Training protocol: `short`. \nThe epochs are followed by 600 full-batch L-BFGS iterations" in md
    write_run(tmp_path / "b", "conv2d", "basic", 0, None, eps=eps)
    assert "L-BFGS" not in write_tables(tmp_path / "b").read_text()


def test_runs_fitted_to_mirror_images_get_the_mirrored_meter_as_reference_rows_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    eps = {"test": {"u": 0.008}}
    write_run(tmp_path / "sweep", "conv2d", "basic", 0, data_fingerprint="abc", mirror=["y"], eps=eps)
    rbf = {"label": "RBF (cubic)", "eps": {"test": {"u": 0.0104, "v": 0.0261}}}
    base = tmp_path / "baselines.json"
    base.write_text(json.dumps({"data_fingerprint": "abc", "methods": {"rbf": rbf}}))
    md = write_tables(tmp_path / "sweep", baselines=base).read_text()
    assert "baselines_mirror_y.json: missing" in md and "pipeline.baselines 'mirror=['y']'" in md
    mirrored = {"label": "RBF (cubic), mirror y", "eps": {"test": {"u": 0.0050, "v": 0.0173}}}
    doc = {"data_fingerprint": "abc", "methods": {"rbf": mirrored}}
    (tmp_path / "baselines_mirror_y.json").write_text(json.dumps(doc))
    md = write_tables(tmp_path / "sweep", baselines=base).read_text()
    table = md.split("Test error on full displacement (eps, %)")[1].split("##")[0]
    assert "| *RBF (cubic)* | *1.04* |" in table and "| *RBF (cubic), mirror y* | *0.50* |" in table
    assert "Rows labelled 'mirror'" in md and "missing" not in md
    # a sweep of folded runs only is read against the baselines folded alike, named apart from the
    # images', and against the images' too (the stronger RBF on u: leaving it out would flatter the fold)
    write_run(
        tmp_path / "fold", "conv2d", "basic", 0, data_fingerprint="abc", mirror=["y"], mirror_mode="fold", eps=eps
    )
    md = write_tables(tmp_path / "fold", baselines=base).read_text()
    assert "baselines_mirror_y_fold.json: missing" in md and "'mirror=['y']' mirror_mode=fold)" in md
    folded = {"label": "RBF (cubic), mirror y folded", "eps": {"test": {"u": 0.0057, "v": 0.0166}}}
    (tmp_path / "baselines_mirror_y_fold.json").write_text(json.dumps({**doc, "methods": {"rbf": folded}}))
    md = write_tables(tmp_path / "fold", baselines=base).read_text()
    table = md.split("Test error on full displacement (eps, %)")[1].split("##")[0]
    assert "| *RBF (cubic), mirror y* | *0.50* |" in table and "| *RBF (cubic), mirror y folded* | *0.57* |" in table
    assert "'mirror .. folded'" in md and "missing" not in md
    (tmp_path / "baselines_mirror_y.json").unlink()
    assert "baselines_mirror_y.json: missing" in write_tables(tmp_path / "fold", baselines=base).read_text()
