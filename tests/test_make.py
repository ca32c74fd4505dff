"""The Makefile's own shell logic, run through make against a scratch tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_seed_checkpoints_copies_finished_runs_only_and_never_overwrites(tmp_path: Path):
    for run, files in {"x-s0": ["checkpoint.pt", "metrics.json"], "x-s1": ["checkpoint.pt"], "x-s2": []}.items():
        (tmp_path / "a" / run).mkdir(parents=True)
        for f in files:
            (tmp_path / "a" / run / f).write_text(f"{run}/{f}")
    (tmp_path / "b" / "x-s3").mkdir(parents=True)
    (tmp_path / "a" / "x-s3").mkdir()
    for f in ("checkpoint.pt", "metrics.json"):
        (tmp_path / "a" / "x-s3" / f).write_text("new")
    (tmp_path / "b" / "x-s3" / "checkpoint.pt").write_text("resumed there")  # already seeded: kept
    (tmp_path / "t.mk").write_text(f"include {MAKEFILE}\nseedtest:\n\t$(call seed_checkpoints,a/*/checkpoint.pt,b)\n")
    subprocess.run(["make", "-s", "-f", "t.mk", "seedtest"], cwd=tmp_path, check=True, capture_output=True)
    seeded = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file())
    # s1 is still training (no metrics.json), s2 has no checkpoint: neither is copied
    assert seeded == ["x-s0/checkpoint.pt", "x-s3/checkpoint.pt"]
    assert (tmp_path / "b" / "x-s0" / "checkpoint.pt").read_text() == "x-s0/checkpoint.pt"
    assert (tmp_path / "b" / "x-s3" / "checkpoint.pt").read_text() == "resumed there"
