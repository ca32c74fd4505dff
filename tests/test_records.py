"""runs.jsonl records: seeds added on another machine to committed runs give the tables of one sweep
holding them all; duplicates, other data and bad files are named."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from fakes import write_run

from pipeline.artefacts import RunError
from pipeline.records import RECORDS, load
from pipeline.sweep import collect
from pipeline.tables import main, write_tables


def _run(root: Path, model: str, reg: str, seed: int, k: float, data: str = "abc", zoom: bool = True) -> Path:
    return write_run(
        root,
        model,
        reg,
        seed,
        {"eps_zoom": {"test": {"u": k / 400, "v": k / 400}}} if zoom else None,
        data_fingerprint=data,
        fingerprint=f"{model}-{reg}-{seed}-{k}",  # with the time, what makes a record the same run
        created="2026-11-24T00:00:00+00:00",
        mean_epoch_seconds=0.1,
        eps={s: {"u": k / 100, "v": k / 50} for s in ("train", "test")},
    )


def _csv(path: Path) -> dict[str, list[str]]:
    with open(path) as f:
        return {row[0]: row[1:] for row in csv.reader(f)}


# eps test u (%) of conv3d / basic per seed, and of conv2_5d / bn (one seed)
SEEDS = {0: 1.0, 1: 3.0, 2: 2.0}


def test_new_seeds_join_committed_records_exactly(tmp_path):
    """Seed 0 tabulated on one machine (its folder then gone), seeds 1-2 on another with --records:
    the tables equal those of one sweep holding all three runs."""
    whole, first, later = tmp_path / "whole", tmp_path / "first", tmp_path / "later"
    for seed, k in SEEDS.items():
        _run(whole, "conv3d", "basic", seed, k)
        _run(first if seed == 0 else later, "conv3d", "basic", seed, k)
    _run(whole, "conv2_5d", "bn", 0, 5.0)
    _run(first, "conv2_5d", "bn", 0, 5.0)
    write_tables(whole, tmp_path / "out-whole")
    write_tables(first, tmp_path / "committed")
    shutil.rmtree(first)  # the run folders stay on the first machine
    md = write_tables(later, tmp_path / "out-merged", records=[tmp_path / "committed" / RECORDS]).read_text()
    for table in ("table_full_test_u.csv", "table_full_train_v.csv", "table_zoom_test_u.csv"):
        assert _csv(tmp_path / "out-merged" / table) == _csv(tmp_path / "out-whole" / table), table
    test_u = _csv(tmp_path / "out-merged" / "table_full_test_u.csv")
    assert test_u["Conv3D"][:3] == ["2", "1", "3"] and test_u["Conv2.5D"][3:6] == ["5", "0", "1"]
    assert "2 of the 4 runs read from run folders, 2 from committed records" in md
    # the merged records hold all four runs, so the next session can go on from them alone
    merged = load(tmp_path / "out-merged" / RECORDS)
    assert sorted((c["metrics"]["model"], c["seed"]) for c in merged) == [
        ("conv2_5d", 0),
        ("conv3d", 0),
        ("conv3d", 1),
        ("conv3d", 2),
    ]
    assert all("record" not in c for c in merged)  # where a run was read this time is not stored
    firsts = {str(first / "conv3d-basic-s0"), str(first / "conv2_5d-bn-s0")}
    assert {c["source"] for c in merged if c["seed"] == 0} == firsts  # where each run was first read


def test_a_record_of_a_run_still_on_disk_is_the_same_run(tmp_path):
    """Regenerating committed tables in place (folders and their own records): no double count."""
    for seed, k in SEEDS.items():
        _run(tmp_path / "sweep", "conv3d", "basic", seed, k)
    write_tables(tmp_path / "sweep", tmp_path / "docs")
    md = write_tables(tmp_path / "sweep", tmp_path / "docs", records=[tmp_path / "docs" / RECORDS]).read_text()
    assert _csv(tmp_path / "docs" / "table_full_test_u.csv")["Conv3D"][:3] == ["2", "1", "3"]
    assert "duplicate" not in md and "0 from committed records" not in md


def test_another_run_of_the_same_seed_is_named_and_left_out(tmp_path):
    _run(tmp_path / "a", "conv3d", "basic", 0, 1.0)
    _run(tmp_path / "b", "conv3d", "basic", 0, 9.0)  # retrained: another result for the same cell and seed
    _run(tmp_path / "c", "conv3d", "basic", 1, 2.0, data="other")
    write_tables(tmp_path / "b", tmp_path / "docs-b")
    write_tables(tmp_path / "c", tmp_path / "docs-c")
    sweep = collect(tmp_path / "a", records=[tmp_path / "docs-b" / RECORDS, tmp_path / "docs-c" / RECORDS])
    assert [c["metrics"]["eps"]["test"]["u"] for c in sweep.groups[("conv3d", "basic")]] == [0.01]  # folder wins
    problems = "\n".join(sweep.problems)
    assert "duplicate of conv3d-basic-s0" in problems and "seed 0; ignored" in problems
    assert "run conv3d-basic-s1: trained on data other" in problems


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json\n", r"runs.jsonl:1: not JSON"),
        ('{"run": "a", "seed": 0}\n', r"runs.jsonl:1: a record is an object with a 'metrics' object"),
        ('\n{"run": "a", "seed": "0", "metrics": {"model": "m", "reg": "r"}}\n', r"runs.jsonl:2: a record needs"),
        ('{"run": "a", "seed": 0, "metrics": {"model": "m"}}\n', r"missing \['reg'\]"),
        ('{"run": "a", "seed": 0, "metrics": {"model": "m", "reg": "r"}, "x": 1}\n', r"unknown keys \['x'\]"),
    ],
)
def test_a_bad_records_file_is_named_with_its_line(tmp_path, text, match):
    path = tmp_path / RECORDS
    path.write_text(text)
    with pytest.raises(RunError, match=match):
        load(path)


def test_the_command_line_takes_records(tmp_path, capsys):
    _run(tmp_path / "a", "conv3d", "basic", 0, 1.0)
    write_tables(tmp_path / "a", tmp_path / "docs")
    _run(tmp_path / "b", "conv3d", "basic", 1, 3.0)
    main([str(tmp_path / "b"), "--records", str(tmp_path / "docs" / RECORDS), "--out", str(tmp_path / "c")])
    assert _csv(tmp_path / "c" / "table_full_test_u.csv")["Conv3D"][:3] == ["2", "1.41421", "2"]
    with pytest.raises(SystemExit, match="no such records file"):
        main([str(tmp_path / "b"), "--records", str(tmp_path / "nope.jsonl")])


def test_the_report_reads_records_and_names_a_bad_list(tmp_path):
    from pipeline.artefacts import ConfigError
    from pipeline.config import compose
    from pipeline.report import write_report
    from pipeline.validate import check_report

    for seed, k in SEEDS.items():
        _run(tmp_path / ("first" if seed == 0 else "later"), "conv3d", "basic", seed, k)
        _run(tmp_path / ("first" if seed == 0 else "later"), "conv2_5d", "basic", seed, k + 1.0)
    write_tables(tmp_path / "first", tmp_path / "committed")
    records = [str(tmp_path / "committed" / RECORDS)]
    check_report(compose("report", [f"report.records=[{records[0]}]"]))
    md = write_report(tmp_path / "later", tmp_path / "report", records=records).read_text()
    # the claims see three seeds per cell: Conv2.5D 3.00 ± 1.00 against Conv3D 2.00 ± 1.00
    assert "Conv2.5D / basic: 3.00 ± 1.00% (n=3) vs Conv3D 2.00 ± 1.00% (n=3)" in md
    with pytest.raises(ConfigError, match=r"report.records=5: must be a list of runs.jsonl paths"):
        check_report(compose("report", ["report.records=5"]))


def test_the_baselines_are_found_through_any_run_that_names_them(tmp_path):
    """A record without a full config (rebuilt from a table) sorts first; the reference rows still
    come from the results_dir and data named by another run's config."""
    base = tmp_path / "results" / "baselines" / "small" / "baselines.json"
    base.parent.mkdir(parents=True)
    method = {"label": "RBF (cubic)", "eps": {s: {"u": 0.01, "v": 0.02} for s in ("train", "test")}}
    base.write_text(json.dumps({"data_fingerprint": "abc", "methods": {"rbf": method}}))
    _run(tmp_path / "old", "conv2_5d", "basic", 0, 1.0)  # config without paths
    write_tables(tmp_path / "old", tmp_path / "docs")
    run = _run(tmp_path / "new", "conv2_5d", "basic", 1, 2.0)  # seed 1 of the same cell: sorted after seed 0
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["config"] = f"data: small\npaths:\n  results_dir: {tmp_path / 'results'}\ntrain:\n  name: short\n"
    (run / "metrics.json").write_text(json.dumps(metrics))
    sweep = collect(tmp_path / "new", records=[tmp_path / "docs" / RECORDS])
    assert sweep.baselines is not None and sweep.baselines["path"] == str(base)
