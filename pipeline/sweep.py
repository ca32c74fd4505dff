"""A sweep as data: its runs gathered into cells (model x regularisation, one run per seed) from run
folders and from committed ``runs.jsonl`` records (``pipeline.records``), with the reference rows of
its data's baselines. Rows and columns come from the configs themselves: every ``conf/model/*.yaml``
is a row and every ``conf/reg/*.yaml`` a column, in their ``order:``, under their ``label:``.
Shared by the tables, the claims and the report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from pipeline.artefacts import (
    BASELINES,
    ENSEMBLES,
    SUBMODEL,
    RunError,
    baselines_name,
    mirror_tag,
    mirror_variants,
    missing_mirrored,
    short,
    shown,
)
from pipeline.records import load as load_records
from pipeline.runs import read_metrics, run_dirs
from surrogate.targets import target

CONF = Path(__file__).resolve().parent.parent / "conf"


def _group(name: str) -> list[dict]:
    """The option files of a config group, in their ``order:`` (the paper's tables)."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted((CONF / name).glob("*.yaml"))]
    return sorted(docs, key=lambda d: d["order"])


ROWS: list[tuple[str, str]] = [(d["name"], d["label"]) for d in _group("model")]
FULL_ROWS: list[tuple[str, str]] = [(d["name"], d["label"]) for d in _group("model") if target(d["target"]).full_field]
COLS: list[tuple[str, str]] = [(d["name"], d["label"]) for d in _group("reg")]


@dataclass(frozen=True)
class Stat:
    """One cell over its seeds: mean, sample standard deviation (0 with one seed) and seed count."""

    mean: float
    std: float
    n: int

    @staticmethod
    def of(values: list[float]) -> Stat | None:
        if not values:
            return None
        # identical values (a parameter count over seeds) have no spread, not a rounding residue
        std = float(np.std(values, ddof=1)) if len(values) > 1 and max(values) != min(values) else 0.0
        return Stat(float(np.mean(values)), std, len(values))

    def format(self, fmt: str = "{:.2f}") -> str:
        return fmt.format(self.mean) if self.std == 0 else f"{fmt.format(self.mean)} ± {fmt.format(self.std)}"


@dataclass
class Sweep:
    """The runs of a sweep: ``groups[(model, reg)]`` holds one cell per seed (sorted by seed),
        ``cells[(model, reg)]`` the first of them with a run folder (the figures' representative: a record
    has no model or example to plot), else the first."""

    root: Path
    groups: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    protocol: str | None = None
    eps_definition: str | None = None
    baselines: dict | None = None
    trace: str | None = None  # the construction behind eps_zoom (``conf/trace/``), one per sweep
    ensembles: dict | None = None  # the sweep's ensembles.json (pipeline.ensemble), when made on its data

    @property
    def lbfgs(self) -> set[int]:
        """The L-BFGS iterations after the epochs (``train.lbfgs_iters``) of the runs that had them."""
        return {
            int(c["metrics"]["lbfgs"]["iterations"]) for g in self.groups.values() for c in g if "lbfgs" in c["metrics"]
        }

    @property
    def cells(self) -> dict[tuple[str, str], dict]:
        return {key: next((c for c in group if "record" not in c), group[0]) for key, group in self.groups.items()}

    @property
    def compared_traces(self) -> list[str]:
        """The trace constructions scored beside the primary one (``by_trace``) by any run."""
        return sorted({n for g in self.groups.values() for c in g for n in c.get("submodel", {}).get("by_trace", {})})

    @property
    def seed_counts(self) -> list[int]:
        return sorted({len(g) for g in self.groups.values()})


def _seed(metrics: dict) -> int:
    if "seed" in metrics:
        return int(metrics["seed"])
    try:
        return int(yaml.safe_load(metrics.get("config", ""))["seed"])
    except (TypeError, KeyError, ValueError, yaml.YAMLError):
        return 0


def folder_cell(run: Path) -> tuple[dict, list[str]]:
    """A run folder as a cell (its metrics, and its errors after zoom when made on the same data)."""
    metrics = read_metrics(run)
    cell, problems = {"run": run.name, "seed": _seed(metrics), "metrics": metrics, "source": shown(run)}, []
    zoom = run / SUBMODEL
    if zoom.is_file():
        try:
            doc = json.loads(zoom.read_text())
        except json.JSONDecodeError as err:
            problems.append(f"run {run.name}: unreadable {SUBMODEL} ({err})")
        else:
            if doc.get("data_fingerprint", metrics.get("data_fingerprint")) != metrics.get("data_fingerprint"):
                problems.append(f"run {run.name}: {SUBMODEL} made on other data; re-run the submodel stage")
            else:
                cell["submodel"] = doc
    return cell, problems


def _same_run(a: dict, b: dict) -> bool:
    """One training run seen twice (its folder and a record of it): same fingerprint, same time."""
    keys = ("fingerprint", "created")
    return all(a["metrics"].get(k) is not None and a["metrics"].get(k) == b["metrics"].get(k) for k in keys)


def collect(root: str | Path, baselines: str | Path | None = None, records: Sequence[str | Path] = ()) -> Sweep:
    """Read the runs of a sweep folder, then the cells of ``records`` (``runs.jsonl`` files committed
    by earlier tables: runs whose folders are elsewhere); unusable runs become named problems, not
    failures. A (model, reg, seed) seen twice keeps its first: the run folder before a record.
    ``baselines``: a baselines.json to show as reference rows (default: the one of the runs' data,
    ``<results_dir>/baselines/<data>/baselines.json``, when it exists and matches their data)."""
    sweep = Sweep(Path(root))
    cells: list[dict] = []
    for run in run_dirs(root):
        try:
            cell, problems = folder_cell(run)
        except RunError as err:
            sweep.problems.append(str(err))
            continue
        cells.append(cell)
        sweep.problems += problems
    for path in records:
        cells += [{**cell, "record": shown(path)} for cell in load_records(path)]
    seen: dict[tuple[str, str, int], dict] = {}
    first: str | None = None
    for cell in cells:
        metrics, name = cell["metrics"], cell["run"]
        data = metrics.get("data_fingerprint")
        first = first or data  # the data of the first run kept
        if data != first:
            sweep.problems.append(
                f"run {name}: trained on data {short(data)}, the sweep's other runs on "
                f"{short(first)}; left out (one table compares runs on one dataset)"
            )
            continue
        key, seed = (metrics["model"], metrics["reg"]), cell["seed"]
        if (*key, seed) in seen:
            if not _same_run(seen[(*key, seed)], cell):
                other = seen[(*key, seed)]
                sweep.problems.append(
                    f"run {name} ({cell.get('source')}): duplicate of {other['run']} ({other.get('source')}) "
                    f"for {key}, seed {seed}; ignored"
                )
            continue
        seen[(*key, seed)] = cell
        sweep.groups.setdefault(key, []).append(cell)
        sweep.problems += [
            f"run {name}: its {f} network collapsed (the same field for every p: its training diverged); "
            "its figures are tabulated as they are"
            for f in metrics.get("collapsed", [])
        ]
        sweep.protocol = sweep.protocol or _protocol(metrics)
        sweep.eps_definition = sweep.eps_definition or metrics.get("eps_definition")
    for group in sweep.groups.values():
        group.sort(key=lambda c: c["seed"])
    _one_trace(sweep)
    # The grid launched is the product of the models and regularisations seen (a single run has none).
    models, regs = {m for m, _ in sweep.groups}, {r for _, r in sweep.groups}
    for model, label in ROWS:
        for reg, col in COLS:
            if model in models and reg in regs and (model, reg) not in sweep.groups:
                sweep.problems.append(f"missing run: {label} / {col} ({model}-{reg})")
    sweep.baselines = _baselines(sweep, baselines)
    sweep.ensembles = _ensembles(sweep)
    return sweep


def percent(doc: dict | None, *keys: str) -> float | None:
    """``doc[k1][k2]...`` in % (a fraction in a metrics, submodel, baselines or ensembles document), None
    where a key is missing."""
    for key in keys:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return 100 * float(doc)


def _ensembles(sweep: Sweep) -> dict | None:
    """``<root>/ensembles.json`` when it exists and was made on the sweep's data (else a named problem)."""
    path = sweep.root / ENSEMBLES
    return _same_data(sweep, path, "ensemble table", "pipeline.ensemble") if path.is_file() else None


def _same_data(sweep: Sweep, path: str | Path, what: str, stage: str) -> dict | None:
    """The JSON document at ``path`` (a baselines.json, an ensembles.json) if it was made on the sweep's
    data; otherwise None and a problem naming it, ``what`` the sweep goes without and the ``stage`` to re-run."""
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        sweep.problems.append(f"{path}: unreadable ({err}); no {what}")
        return None
    # one dataset per sweep (collect): its first run's
    want = next((c["metrics"].get("data_fingerprint") for g in sweep.groups.values() for c in g), None)
    if want and doc.get("data_fingerprint") != want:
        sweep.problems.append(
            f"{path}: made on data {short(doc.get('data_fingerprint'))}, the runs on {short(want)}; "
            f"no {what} (re-run python -m {stage})"
        )
        return None
    return doc


def trace_name(doc: dict) -> str:
    """The primary trace construction of a submodel.json or baselines.json (as_predicted before it
    was recorded: the only one there was)."""
    return str(doc.get("trace", {}).get("name", "as_predicted"))


def _one_trace(sweep: Sweep) -> None:
    """One table, one trace construction after zoom: a run scored under another primary one keeps
    it only through ``by_trace``, where the sweep's construction is among its comparisons."""
    scored = [c for g in sweep.groups.values() for c in g if "submodel" in c]
    names = [trace_name(c["submodel"]) for c in scored]
    if not names:
        return
    sweep.trace = max(sorted(set(names)), key=names.count)
    for cell, name in zip(scored, names, strict=True):
        if name != sweep.trace and not _swap_trace(cell["submodel"], cell["submodel"].get("trace", {}), sweep.trace):
            sweep.problems.append(
                f"run {cell['run']}: scored after zoom with the {name} trace, the sweep's other runs with "
                f"{sweep.trace}; its errors after zoom are left out (re-run pipeline.submodel with trace={sweep.trace})"
            )
            del cell["submodel"]


def _swap_trace(doc: dict, primary: dict, want: str) -> bool:
    """Make ``want`` (one of ``doc``'s by_trace) its primary construction in place of ``primary``
    (the descriptor of the one behind its eps_zoom); False if ``doc`` has no such scores."""
    by = doc.get("by_trace", {})
    if want not in by:
        return False
    have = trace_name({"trace": primary})
    kept = {k: doc[k] for k in ("eps_zoom", "eps_trace") if k in doc}
    by[have] = {"construction": primary.get("construction", have), **kept}
    new = by.pop(want)
    doc.update({k: new[k] for k in ("eps_zoom", "eps_trace") if k in new})
    doc["trace"] = {"name": want, "construction": new.get("construction", want)}
    for key in ("eps_zoom_interior", "eps_zoom_t", "last_iterate"):
        doc.pop(key, None)  # scored under the other construction only
    return True


def _default_baselines(metrics: dict) -> Path | None:
    """``<results_dir>/baselines/<data>/baselines.json`` of a run's config (None for a record without one)."""
    try:
        cfg = yaml.safe_load(metrics.get("config", ""))
        return Path(cfg["paths"]["results_dir"]) / "baselines" / str(cfg["data"]) / BASELINES
    except (TypeError, KeyError, yaml.YAMLError):
        return None


def _baselines(sweep: Sweep, path: str | Path | None) -> dict | None:
    """The reference rows' source, refused (as a named problem) when made on other data."""
    runs = [c["metrics"] for g in sweep.groups.values() for c in g]
    if path is None:
        path = next((p for m in runs if (p := _default_baselines(m)) is not None), None)
    if path is None or not Path(path).is_file():
        return None
    doc = _same_data(sweep, path, "baseline rows", "pipeline.baselines")
    if doc is None:
        return None
    doc["path"] = str(path)
    _add_mirrored(sweep, Path(path), doc, runs)
    if sweep.trace and trace_name(doc) != sweep.trace:  # reference rows under the runs' construction
        for method in doc.get("methods", {}).values():
            if "eps_zoom" in method and not _swap_trace(method, doc.get("trace", {}), sweep.trace):
                sweep.problems.append(
                    f"{path}: {method.get('label')} has no errors after zoom with the {sweep.trace} trace; "
                    "no such reference row (re-run python -m pipeline.baselines)"
                )
                method.pop("eps_zoom")
    return doc


def _add_mirrored(sweep: Sweep, path: Path, doc: dict, runs: list[dict]) -> None:
    """Runs fitted to mirror images too (``mirror``) are also read against baselines fitted to the same
    samples (``baselines_mirror_<axes>.json`` beside the meter): their methods join ``doc``'s as extra
    reference rows, labelled with the mirror, or a problem says how to make them. Folded runs
    (``mirror_mode=fold``) get the folded baselines and the images' as well (``mirror_variants``)."""
    for axes, fold in mirror_variants(runs):
        other = path.with_name(baselines_name(list(axes), fold))
        if not other.is_file():
            sweep.problems.append(missing_mirrored(other, list(axes), fold))
            continue
        if (extra := _same_data(sweep, other, "mirrored baseline rows", "pipeline.baselines")) is not None:
            tag = mirror_tag(list(axes), fold)
            doc["methods"].update({f"{k}_{tag}": m for k, m in extra.get("methods", {}).items()})


def _protocol(metrics: dict) -> str | None:
    try:
        return yaml.safe_load(metrics.get("config", ""))["train"]["name"]
    except (TypeError, KeyError, yaml.YAMLError):
        return None
