"""The speed-up table: the parent FE solve against surrogate + submodel, as the parent grows.

``python -m pipeline.speedup <sweep dir> [--out DIR]`` reads every run's ``submodel.json`` below the
folder (the submodel stage times, in one process on one machine, the full FE solve of the test split,
the surrogate's prediction of it and the submodel's re-solve) and the baselines of each run's data,
and writes ``speedup.md`` and ``speedup.csv``: one row per run and timed parent scheme (the dataset's
own, then any ``submodel.parent_schemes``), by parent size, with the per-sample
times, the speed-up, the error after zoom and the best baseline's error after zoom beside it.
Issue 11's goal is printed as a verdict per row: >= 10x faster at an error within 2x of the baseline's.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from pathlib import Path

import yaml

from fe import dataset
from fe.spec import MeshSpec, Physics, build
from fe.zone import ZoneGrid
from pipeline.artefacts import BASELINES, SUBMODEL, RunError, short, write_text
from pipeline.runs import read_metrics, run_dirs

GOAL_SPEEDUP, GOAL_ERROR_RATIO = 10.0, 2.0
COLUMNS = (
    "data",
    "parent nodes",
    "zone nodes",
    "model",
    "seed",
    "parent scheme",
    "full FE ms/sample",
    "surrogate ms/sample",
    "submodel ms/sample",
    "speed-up",
    "after zoom u %",
    "after zoom v %",
    "best baseline",
    "baseline after zoom u %",
    "u / baseline",
    "goal",
)


def _data_sizes(cfg: dict) -> tuple[int, int]:
    """Nodes of the parent mesh and of the zone grid, from a dataset's recorded config."""
    physics, mesh = build(Physics, "physics", cfg["physics"]), build(MeshSpec, "mesh", cfg["mesh"])
    return math.prod(n + 1 for n in mesh.cells(physics.dim)), math.prod(ZoneGrid.of(physics, mesh).shape)


@functools.cache
def _data_config(data_dir: str) -> dict:
    """The recorded config of a dataset (read once per dataset, however many runs share it)."""
    return yaml.safe_load(dataset.read_attrs(Path(data_dir) / "test.h5")["config"])


@functools.cache
def _best_baseline(results_dir: Path, data: str, fingerprint: str | None) -> tuple[str, float] | None:
    path = results_dir / "baselines" / data / BASELINES
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if fingerprint and doc.get("data_fingerprint") != fingerprint:
        raise RunError(f"{path}: made on data {short(doc.get('data_fingerprint'))}, the runs on {short(fingerprint)}")
    methods = {k: m for k, m in doc["methods"].items() if "eps_zoom" in m}
    name, best = min(methods.items(), key=lambda kv: kv[1]["eps_zoom"]["test"]["u"])
    return best["label"], 100 * best["eps_zoom"]["test"]["u"]


def rows(run_dir: Path) -> list[dict]:
    """One run's lines of the table, one per timed parent (the dataset's own scheme first, then the
    ``submodel.parent_schemes``); RunError when it has no timed submodel result."""
    metrics = read_metrics(run_dir)
    path = run_dir / SUBMODEL
    if not path.is_file():
        raise RunError(f"run {run_dir.name}: no {SUBMODEL} (run python -m pipeline.submodel on it)")
    sub = json.loads(path.read_text())
    timing = sub.get("timing", {})
    if "full_fe_s" not in timing:
        raise RunError(f"run {run_dir.name}: the submodel ran with submodel.time_full_solve=false")
    cfg = yaml.safe_load(metrics["config"])
    parent, zone = _data_sizes(_data_config(sub["data"]))
    n = timing["samples"]
    eps = sub["eps_zoom"]["test"]
    base = _best_baseline(Path(cfg["paths"]["results_dir"]), str(cfg["data"]), metrics.get("data_fingerprint"))
    out = {
        "data": str(cfg["data"]),
        "parent nodes": parent,
        "zone nodes": zone,
        "model": f"{sub['label']} / {sub['reg_label']}",
        "seed": int(cfg["seed"]),
        "surrogate ms/sample": 1e3 * timing["surrogate_s"] / n,
        "submodel ms/sample": 1e3 * timing["submodel_s"] / n,
        "after zoom u %": 100 * eps["u"],
        "after zoom v %": 100 * eps["v"],
        "best baseline": base[0] if base else "-",
        "baseline after zoom u %": base[1] if base else math.nan,
    }
    out["u / baseline"] = out["after zoom u %"] / out["baseline after zoom u %"] if base else math.nan
    parents = [(timing.get("parent_scheme", "the dataset's"), timing["full_fe_s"], timing["speedup"])]
    parents += [(p["scheme"], p["full_fe_s"], p["speedup"]) for p in timing.get("other_parents", {}).values()]
    return [
        out
        | {
            "parent scheme": scheme,
            "full FE ms/sample": 1e3 * seconds / n,
            "speed-up": speedup,
            "goal": goal(speedup, out["u / baseline"]),
        }
        for scheme, seconds, speedup in parents
    ]


def goal(speedup: float, error_ratio: float) -> str:
    """Issue 11's verdict for one row: fast enough, and accurate enough against the best baseline."""
    if math.isnan(error_ratio):
        return "no baseline to judge by"
    fast, close = speedup >= GOAL_SPEEDUP, error_ratio <= GOAL_ERROR_RATIO
    if fast and close:
        return "met"
    return "faster, not as accurate" if fast else ("as accurate, not faster" if close else "neither")


def _fmt(v) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}")
    return f"{v:,}" if isinstance(v, int) else str(v)


def render(rows: list[dict]) -> tuple[str, str]:
    """(Markdown, CSV) of the table, rows by parent size."""
    rows = sorted(rows, key=lambda r: (r["parent nodes"], r["model"], r["seed"], r["full FE ms/sample"]))
    md = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in rows),
        "",
        f"Goal (issue 11): >= {GOAL_SPEEDUP:g}x faster than the parent FE solve at a test eps of u after zoom "
        f"within {GOAL_ERROR_RATIO:g}x of the best baseline's. Times per test sample, one process, the FE "
        "models in blocks of submodel.block_size samples.",
    ]
    csv = [",".join(COLUMNS), *(",".join(str(r[c]) for c in COLUMNS) for r in rows)]
    return "\n".join(md) + "\n", "\n".join(csv) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.speedup", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="a sweep folder (or one run folder) processed by the submodel stage")
    parser.add_argument("--out", help="where to write speedup.md and speedup.csv (default: the sweep folder)")
    args = parser.parse_args(argv)
    table, problems = [], []
    try:
        for run_dir in run_dirs(args.sweep):
            try:
                table.extend(rows(run_dir))
            except RunError as err:
                problems.append(str(err))
    except RunError as err:
        raise SystemExit(f"error: {err}") from None
    for p in problems:
        print(f"problem: {p}")
    if not table:
        raise SystemExit(f"error: {args.sweep}: no run with a timed submodel result")
    md, csv = render(table)
    out = Path(args.out) if args.out else Path(args.sweep)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "speedup.md", md)
    write_text(out / "speedup.csv", csv)
    print(md)
    print(f"written: {out / 'speedup.md'}")


if __name__ == "__main__":
    main()
