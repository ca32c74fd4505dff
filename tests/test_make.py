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


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
@pytest.mark.parametrize(
    ("target", "variables", "reference"),
    [
        ("study-mirror", ["MIRROR_MODE=fold", "MIRROR_MODELS=conv2d,conv3d"], "hull.reference=conv3d-basic"),
        ("study-mirror", ["MIRROR_MODE=fold", "MIRROR_MODELS=conv2d"], None),
        ("study-short-cos-lbfgs", ["SCL_MODELS=conv3d"], "hull.reference=conv3d-basic"),
        ("study-mirror", ["MIRROR_MODELS=conv3d", "HULL_REF=conv2d-basic"], "hull.reference=conv2d-basic"),
    ],
)
def test_the_studies_set_their_hull_reference_to_conv3d_when_they_train_it(target, variables, reference):
    """The hull stage's per-sample table is set against Conv3D where a study trains it, absent otherwise,
    and a HULL_REF given on the command line wins."""
    out = subprocess.run(
        ["make", "-n", "-f", str(MAKEFILE), target, *variables],
        cwd=MAKEFILE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    hull = [line for line in out.splitlines() if "-m pipeline.hull" in line]
    assert len(hull) == 1
    if reference is None:
        assert "hull.reference" not in hull[0]
    else:
        assert reference in hull[0]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
@pytest.mark.parametrize(
    ("variables", "folder", "extra"),
    [
        ([], "paper-quick", None),
        (["PAPER_ARGS=model.widths=[16,32,32,32,16,8]", "PAPER_TAG=-w6"], "paper-quick-w6", "model.widths=[16,32"),
    ],
)
def test_the_paper_study_runs_every_stage_on_the_paper_preset(variables, folder, extra):
    """study-paper's data, meter and runs are the paper preset's, not the small default's, and its
    results land in the paper study's folders (a variant's in its own, with its overrides on the runs)."""
    out = subprocess.run(
        ["make", "-n", "-f", str(MAKEFILE), "study-paper", "SEEDS=0,1", *variables],
        cwd=MAKEFILE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.replace("\\\n", " ")  # one line per command
    stages = ("data", "baselines", "train", "submodel", "tables")
    stage = {m: [line for line in out.splitlines() if f"-m pipeline.{m} " in line] for m in stages}
    assert all(len(lines) == 1 for lines in stage.values()), stage
    assert "dataset=paper" in stage["data"][0]
    assert "data=paper" in stage["baselines"][0]
    train = stage["train"][0]
    assert "data=paper" in train and "seed=0,1" in train and f"hydra.sweep.dir=results/sweeps/{folder} " in train + " "
    assert (extra in train) if extra else ("model.widths" not in train)
    assert f"target=results/sweeps/{folder} " in stage["submodel"][0]
    assert stage["tables"][0].split("--out ")[1].split()[0] == f"docs/results/{folder}"
