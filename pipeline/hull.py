"""Interpolation against extrapolation (beyond the paper): ``python -m pipeline.hull [target=<sweep>]``.

The test parameters are drawn independently of the training design, so some fall outside the convex
hull of the training parameters, where every surrogate over p extrapolates. This stage splits each
test eps into the samples inside and outside that hull, for every run under ``target``, for the mean
of each cell's seeds, and for the dataset's baselines refitted as their ``baselines.json`` records
them: it says whether a network's lead over an interpolation comes from interpolating better or from
extrapolating better. Writes ``hull.json`` and ``hull.md`` into ``hull.out``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from pipeline.artefacts import (
    BASELINES,
    RunError,
    baselines_name,
    check_data,
    mirror_tag,
    mirror_variants,
    missing_mirrored,
    user_errors,
    write_json,
    write_text,
)
from pipeline.mirror import fitted_baselines, fold_axes
from pipeline.provenance import record
from pipeline.runs import cell_identity, cells, load_splits
from pipeline.sweep import Stat
from pipeline.validate import check_hull
from surrogate.metrics import ErrorSpec, epsilon_per_sample, epsilon_where, inside_hull
from surrogate.targets import FieldTarget, target

log = logging.getLogger(__name__)
HULL = "hull.json"
PARTS = ("inside", "outside", "all")
FIELD = FieldTarget()
OF = {"field": "field", "boundary": "trace"}  # what eps is of, per target


def split_scores(
    pred: tuple[np.ndarray, np.ndarray], ref: tuple[np.ndarray, np.ndarray], inside: np.ndarray, spec: ErrorSpec
) -> dict:
    """eps of u and v over the samples inside the hull, outside it, and all (None: no such sample)."""
    masks = {"inside": inside, "outside": ~inside, "all": np.ones_like(inside)}
    return {
        part: {f: epsilon_where(p, r, masks[part], spec) for f, p, r in zip("uv", pred, ref, strict=True)}
        for part in PARTS
    }


def per_sample(preds: list[tuple[np.ndarray, np.ndarray]], ref: tuple[np.ndarray, np.ndarray], spec: ErrorSpec) -> dict:
    """Each test sample's eps of u and v, averaged over the predictions (a cell's seeds)."""
    out = {}
    for i, f in enumerate("uv"):
        eps = np.mean([epsilon_per_sample(p[i], ref[i], spec) for p in preds], axis=0)
        out[f] = [None if np.isnan(e) else float(e) for e in eps]  # None: a sample with no active time
    return out


def versus(mine: dict, theirs: dict, groups: dict[str, np.ndarray]) -> dict:
    """Per-sample eps ratios mine / theirs, per field: their min, median and max over all samples, the
    median over each group, and how many samples mine is below theirs. One factor everywhere says a
    cost in fitting; a ratio that grows in one group (outside the hull, high omega) says where it lies."""
    out = {}
    for f in "uv":
        r = np.array(mine[f], dtype=float) / np.array(theirs[f], dtype=float)
        out[f] = {
            "min": float(np.nanmin(r)),
            "median": float(np.nanmedian(r)),
            "max": float(np.nanmax(r)),
            **{g: float(np.nanmedian(r[m])) if m.any() else None for g, m in groups.items()},
            "below": int((r < 1).sum()),
        }
    return out


def baseline_scores(
    path: Path, train: dataset.Dataset, test: dataset.Dataset, inside: np.ndarray, spec: ErrorSpec, targets: set[str]
) -> dict:
    """The methods of ``baselines.json`` at ``path``, refitted on ``train`` with their recorded config
    (the mirrored meters on the samples and their images, or folded and answering by reflection, as
    ``pipeline.baselines`` fitted them), scored on each of the runs' ``targets``: the full field, or its
    trace on the boundary loop. A mirrored file's methods are keyed and labelled with its mirror."""
    doc = json.loads(path.read_text())
    check_data(f"baselines {path}", doc.get("data_fingerprint"), train.attrs.get("fingerprint"), train.path)
    made = OmegaConf.create(doc["config"])
    mirror = list(made.get("mirror") or [])
    suffix = f"_{mirror_tag(mirror, bool(fold_axes(made)))}" if mirror else ""
    out = {}
    for name, pair, predictor in fitted_baselines(made, train):
        pred = predictor(test.params)
        key = f"{name}{suffix}"
        label = doc["methods"].get(name, {}).get("label", pair.label)  # as recorded: with its mirror
        out[key] = {"label": label, "by_target": {}, "per_sample": {}}
        for t in map(target, sorted(targets)):
            mine = pred if t.full_field else tuple(FIELD.trace(p, test.boundary_index) for p in pred)
            out[key]["by_target"][t.name] = split_scores(mine, t.arrays(test), inside, spec)
            out[key]["per_sample"][t.name] = per_sample([mine], t.arrays(test), spec)
    return out


def mirrored_scores(path: Path, runs: list, problems: list[str], *args) -> dict:
    """The baselines fitted to the same samples as mirrored or folded runs (``mirror_variants``), from
    the files beside the meter at ``path``, scored as :func:`baseline_scores` (``*args``); a missing file
    is a named problem."""
    out = {}
    for axes, fold in mirror_variants([r.cfg for r in runs]):
        other = path.with_name(baselines_name(list(axes), fold))
        if other.is_file():
            out.update(baseline_scores(other, *args))
        else:
            problems.append(missing_mirrored(other, list(axes), fold))
    return out


def run(cfg: DictConfig) -> Path:
    """Split the test eps of every run, cell mean and baseline under ``cfg.target``; write hull.json / .md."""
    check_hull(cfg)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    groups, problems = cells(cfg.target)
    if not groups:
        raise RunError(f"target={cfg.target}: no finished run" + "".join(f"\n  - {p}" for p in problems))
    spec = ErrorSpec(**cfg.metrics)
    first = next(iter(groups.values()))[0]
    data_root = Path(cfg.submodel.data_dir or first.cfg.paths.data_dir) / str(first.cfg.data)
    train, test = load_splits(data_root)
    inside = inside_hull(train.params, test.params)
    out_cells = {}
    for (model, reg), members in groups.items():
        for m in members:
            m.check_data(test)
        ref = members[0].model.target.arrays(test)
        preds = [m.predict(test.params) for m in members]
        hybrids = []  # the members scored with a correction at training: the network plus its residual RBF
        for m, p in zip(members, preds, strict=True):
            if (refit := m.fitted_correction(train)) is not None:
                hybrids.append(split_scores(refit[0](test.params, *p), ref, inside, spec))
        cell = {
            **cell_identity(members),
            "target": str(members[0].model.target),
            "runs": [m.run_dir.name for m in members],
            "members": [split_scores(p, ref, inside, spec) for p in preds],
            "per_sample": per_sample(preds, ref, spec),  # eps of each test sample, mean over the seeds
        }
        if hybrids:
            cell["residual_rbf"] = hybrids
        if len(preds) > 1:
            mean = tuple(np.mean([p[i] for p in preds], axis=0) for i in (0, 1))
            cell["mean_of_seeds"] = split_scores(mean, ref, inside, spec)
        out_cells[f"{model}-{reg}"] = cell
    path = Path(cfg.hull.baselines or Path(first.cfg.paths.results_dir) / "baselines" / str(first.cfg.data) / BASELINES)
    if cfg.hull.baselines and not path.is_file():  # asked for by name: a missing file is the user's mistake
        raise RunError(f"hull.baselines={cfg.hull.baselines}: no such file (python -m pipeline.baselines writes it)")
    baselines = (
        baseline_scores(path, train, test, inside, spec, {c["target"] for c in out_cells.values()})
        if path.is_file()
        else {}
    )
    if not baselines:
        problems.append(
            f"{path}: no baselines.json, no reference rows (python -m pipeline.baselines data={first.cfg.data})"
        )
    else:
        members = [m for ms in groups.values() for m in ms]
        targets = {c["target"] for c in out_cells.values()}
        baselines.update(mirrored_scores(path, members, problems, train, test, inside, spec, targets))
    comparison = compare(cfg.hull.reference, out_cells, baselines, inside, test.params[:, 0])
    meta = record(
        OmegaConf.to_yaml(cfg.hull), {"hull": OmegaConf.to_container(cfg.hull, resolve=True), "runs": sorted(out_cells)}
    )
    doc = {
        "data": str(data_root),
        "data_fingerprint": first.data_fingerprint,
        "eps_definition": spec.caption(),
        "hull": "convex hull of the training split's parameters",
        "n_test": int(inside.size),
        "n_inside": int(inside.sum()),
        "outside": [int(i) for i in np.flatnonzero(~inside)],  # test sample indices
        "cells": out_cells,
        "baselines": baselines,
        "versus": comparison,
        "problems": problems,
        **{k: meta[k] for k in ("fingerprint", "versions", "git_revision", "created", "config")},
    }
    dest = Path(cfg.hull.out)
    dest.mkdir(parents=True, exist_ok=True)
    write_text(dest / "hull.md", markdown(doc))
    return write_json(dest / HULL, doc)


def compare(reference: str | None, cells_: dict, baselines: dict, inside: np.ndarray, omega: np.ndarray) -> dict | None:
    """Every other cell and baseline against the ``reference`` cell, test sample by test sample (the
    ratio of their per-sample eps), on the reference's target; None without a reference."""
    if reference is None:
        return None
    if reference not in cells_:
        raise RunError(f"hull.reference={reference}: no such cell; the target's cells are {sorted(cells_)}")
    ref = cells_[reference]
    low = omega <= np.median(omega)
    groups = {"inside": inside, "outside": ~inside, "low_omega": low, "high_omega": ~low}
    rows = {
        key: {"label": f"{c['label']} ({c['protocol']})", **versus(c["per_sample"], ref["per_sample"], groups)}
        for key, c in cells_.items()
        if key != reference and c["target"] == ref["target"]
    }
    for name, b in baselines.items():
        rows[f"baseline:{name}"] = {
            "label": f"*{b['label']}*",
            **versus(b["per_sample"][ref["target"]], ref["per_sample"], groups),
        }
    return {
        "reference": reference,
        "label": f"{ref['label']} ({ref['protocol']})",
        "omega_median": float(np.median(omega)),
        "rows": rows,
    }


def _versus_md(v: dict) -> list[str]:
    """The per-sample comparison as a table: ratios to the reference, u then v."""
    head = [
        f"## Per test sample, against {v['label']}",
        "",
        "Ratio of each test sample's eps (mean over a cell's seeds) to the reference's on the same sample: "
        "min / median / max over all samples, the median inside and outside the hull and over the lower "
        f"(omega <= {v['omega_median']:.3g}) and upper halves of omega, and on how many samples it is below "
        "the reference.",
        "",
        "| | field | min | median | max | inside | outside | low omega | high omega | below |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    keys = ("min", "median", "max", "inside", "outside", "low_omega", "high_omega")
    rows = [
        f"| {r['label']} | {f} | " + " | ".join(num(r[f][k]) for k in keys) + f" | {r[f]['below']} |"
        for r in v["rows"].values()
        for f in "uv"
    ]
    return [*head, *rows, ""]


def _pct(values: list[float | None]) -> str:
    kept = [100 * v for v in values if v is not None]
    return Stat.of(kept).format() if kept else "-"


def _row(label: str, seeds: int | str, of: str, scores: list[dict], mark: str = "") -> str:
    """One table row: ``scores`` (one split_scores per seed) as mean ± std per field and part."""
    cells = (f"{mark}{_pct([sc[p][f] for sc in scores])}{mark}" for f in "uv" for p in PARTS)
    return f"| {label} | {seeds} | {of} | " + " | ".join(cells) + " |"


def markdown(doc: dict) -> str:
    """hull.json as one table: u and v test eps (%) inside / outside / over all test samples."""
    n_in, n = doc["n_inside"], doc["n_test"]
    head = [
        "# Interpolation against extrapolation",
        "",
        f"Test eps (%) over the {n_in} test samples inside the convex hull of the training parameters, "
        f"the {n - n_in} outside it, and all {n}; runs: mean ± std over their seeds; "
        f"*mean of seeds*: their averaged prediction. {doc['eps_definition']}.",
        "",
        "| | seeds | eps of | u inside | u outside | u all | v inside | v outside | v all |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = []
    for cell in doc["cells"].values():
        of = OF[cell["target"]]
        rows.append(_row(f"{cell['label']} ({cell['protocol']})", len(cell["members"]), of, cell["members"]))
        if "residual_rbf" in cell:
            rows.append(_row(f"*{cell['label']} + residual RBF*", len(cell["residual_rbf"]), of, cell["residual_rbf"]))
        if "mean_of_seeds" in cell:
            rows.append(_row(f"*{cell['label']}, mean of seeds*", len(cell["members"]), of, [cell["mean_of_seeds"]]))
    for b in doc["baselines"].values():
        for name, e in b["by_target"].items():
            rows.append(_row(f"*{b['label']}*", "-", OF[name], [e], "*"))
    problems = [f"- {p}" for p in doc["problems"]]
    versus_md = _versus_md(doc["versus"]) if doc.get("versus") else []
    return "\n".join([*head, *rows, "", *versus_md, *(["Problems:", *problems, ""] if problems else [])])


@hydra.main(version_base="1.3", config_path="../conf", config_name="hull")
def main(cfg: DictConfig) -> None:
    with user_errors():
        path = run(cfg)
    print(f"written: {path} and {path.with_name('hull.md')}")


if __name__ == "__main__":
    main()
