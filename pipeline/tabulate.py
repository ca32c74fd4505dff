"""The paper's tables from a sweep, as data: shared by ``pipeline.tables`` (the files), the report
and the claims. Rows and columns come from the configs themselves: every ``conf/model/*.yaml`` is a
row and every ``conf/reg/*.yaml`` a column, in their ``order:``, under their ``label:``.

Reads every run folder's ``metrics.json`` (and ``submodel.json`` when the submodel stage has run):
Table 1 (parameters), Tables 2-5 / 11-14 (train/test eps of the full fields, short/long protocol),
Tables 6-9 / 15-18 (eps after zoom), Table 10 (mean epoch time), and, beyond the paper, the
boundary-trace error, the last iterate of weight-averaged runs (``train.average_last``) and the
speed-up of surrogate + submodel over the full FE solve. Missing or failed runs are listed by name
and shown as "-"; the rest are reported as usual.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from pipeline.artefacts import BASELINES, SUBMODEL, RunError, short, shown
from pipeline.runs import read_metrics, run_dirs
from surrogate.targets import target

log = logging.getLogger(__name__)

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
    ``cells[(model, reg)]`` the first of them (the figures' representative)."""

    root: Path
    groups: dict[tuple[str, str], list[dict]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    protocol: str | None = None
    eps_definition: str | None = None
    baselines: dict | None = None

    @property
    def cells(self) -> dict[tuple[str, str], dict]:
        return {key: group[0] for key, group in self.groups.items()}

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


def collect(root: str | Path, baselines: str | Path | None = None) -> Sweep:
    """Read the runs of a sweep folder; unusable runs become named problems, not failures.
    ``baselines``: a baselines.json to show as reference rows (default: the one of the runs' data,
    ``<results_dir>/baselines/<data>/baselines.json``, when it exists and matches their data)."""
    sweep = Sweep(Path(root))
    seen: dict[tuple[str, str, int], str] = {}
    first: str | None = None
    for run in run_dirs(root):
        try:
            metrics = read_metrics(run)
        except RunError as err:
            sweep.problems.append(str(err))
            continue
        data = metrics.get("data_fingerprint")
        first = first or data  # the data of the first run kept
        if data != first:
            sweep.problems.append(
                f"run {run.name}: trained on data {short(data)}, the sweep's other runs on "
                f"{short(first)}; left out (one table compares runs on one dataset)"
            )
            continue
        key, seed = (metrics["model"], metrics["reg"]), _seed(metrics)
        if (*key, seed) in seen:
            sweep.problems.append(f"run {run.name}: duplicate of {seen[(*key, seed)]} for {key}, seed {seed}; ignored")
            continue
        seen[(*key, seed)] = run.name
        cell = {"run": run.name, "seed": seed, "metrics": metrics}
        zoom = run / SUBMODEL
        if zoom.is_file():
            try:
                doc = json.loads(zoom.read_text())
            except json.JSONDecodeError as err:
                sweep.problems.append(f"run {run.name}: unreadable {SUBMODEL} ({err})")
            else:
                if doc.get("data_fingerprint", data) != data:
                    sweep.problems.append(f"run {run.name}: {SUBMODEL} made on other data; re-run the submodel stage")
                else:
                    cell["submodel"] = doc
        sweep.groups.setdefault(key, []).append(cell)
        sweep.protocol = sweep.protocol or _protocol(metrics)
        sweep.eps_definition = sweep.eps_definition or metrics.get("eps_definition")
    for group in sweep.groups.values():
        group.sort(key=lambda c: c["seed"])
    # The grid launched is the product of the models and regularisations seen (a single run has none).
    models, regs = {m for m, _ in sweep.groups}, {r for _, r in sweep.groups}
    for model, label in ROWS:
        for reg, col in COLS:
            if model in models and reg in regs and (model, reg) not in sweep.groups:
                sweep.problems.append(f"missing run: {label} / {col} ({model}-{reg})")
    sweep.baselines = _baselines(sweep, baselines)
    return sweep


def _baselines(sweep: Sweep, path: str | Path | None) -> dict | None:
    """The reference rows' source, refused (as a named problem) when made on other data."""
    metrics = next((g[0]["metrics"] for g in sweep.groups.values()), None)
    if path is None and metrics is not None:
        try:
            cfg = yaml.safe_load(metrics.get("config", ""))
            path = Path(cfg["paths"]["results_dir"]) / "baselines" / str(cfg["data"]) / BASELINES
        except (TypeError, KeyError, yaml.YAMLError):
            return None
    if path is None or not Path(path).is_file():
        return None
    try:
        doc = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        sweep.problems.append(f"{path}: unreadable ({err}); no baseline rows")
        return None
    want = metrics.get("data_fingerprint") if metrics else None
    if want and doc.get("data_fingerprint") != want:
        sweep.problems.append(
            f"{path}: made on data {short(doc.get('data_fingerprint'))}, the runs on {short(want)}; "
            "no baseline rows (re-run python -m pipeline.baselines)"
        )
        return None
    doc["path"] = str(path)
    return doc


def _protocol(metrics: dict) -> str | None:
    try:
        return yaml.safe_load(metrics.get("config", ""))["train"]["name"]
    except (TypeError, KeyError, yaml.YAMLError):
        return None


@dataclass(frozen=True)
class Table:
    slug: str
    number: str  # the paper's table number for this protocol ("" when it has none)
    title: str
    rows: list[tuple[str, str]]
    value: Callable[[dict], float | None]
    fmt: str = "{:.2f}"
    reference: bool = False  # an error table: the baselines appear as reference rows


def _get(*keys: str, scale: float = 1.0) -> Callable[[dict], float | None]:
    def pick(cell: dict) -> float | None:
        node = cell
        for k in keys:
            if not isinstance(node, dict) or k not in node:
                return None
            node = node[k]
        return None if node is None else float(node) * scale

    return pick


def tables(protocol: str | None) -> list[Table]:
    long = protocol == "long"
    n = (lambda short, lng: str(lng if long else short)) if protocol in ("short", "long") else (lambda s, lng: "")
    out = [
        Table(
            "parameters",
            "1",
            "Number of trainable parameters (million parameters)",
            ROWS,
            _get("metrics", "parameters", scale=1e-6),
            "{:.3f}",
        )
    ]
    for kind, first, rows, source, where in (
        ("full", (2, 11), FULL_ROWS, ("metrics", "eps"), "full {}"),
        ("zoom", (6, 15), ROWS, ("submodel", "eps_zoom"), "{} after zoom"),
    ):
        for k, (split, f) in enumerate([("train", "u"), ("train", "v"), ("test", "u"), ("test", "v")]):
            field = "displacement" if f == "u" else "velocity"
            title = f"{split.capitalize()} error on {where.format(field)} (eps, %)"
            out.append(
                Table(
                    f"{kind}_{split}_{f}",
                    n(first[0] + k, first[1] + k),
                    title,
                    rows,
                    _get(*source, split, f, scale=100),
                    reference=True,
                )
            )
    out.append(
        Table(
            "epoch_time",
            "10" if protocol == "short" else "",
            "Average time of one epoch (s)",
            ROWS,
            _get("metrics", "mean_epoch_seconds"),
            "{:.3f}",
        )
    )
    out.append(
        Table(
            "boundary_test_u",
            "",
            "Beyond the paper: test error of the boundary trace, u (eps, %)",
            ROWS,
            _get("metrics", "eps_boundary", "test", "u", scale=100),
            reference=True,
        )
    )
    for f, field in (("u", "displacement"), ("v", "velocity")):
        out.append(
            Table(
                f"full_test_{f}_sample",
                "",
                f"Beyond the paper: test error on full {field}, per-sample normaliser (eps, %)",
                FULL_ROWS,
                _get("metrics", "eps_by_normaliser", "test", f, "sample", scale=100),
                reference=True,
            )
        )
    for f, field in (("u", "displacement"), ("v", "velocity")):  # runs with train.average_last > 0 only
        out.append(
            Table(
                f"last_iterate_test_{f}",
                "",
                f"Beyond the paper: test error on {field} of the last epoch's weights, where the model is a "
                "late-epoch weight average (eps, %)",
                ROWS,
                _get("metrics", "last_iterate", "eps", "test", f, scale=100),
                reference=True,
            )
        )
    out.append(
        Table(
            "speedup",
            "",
            "Beyond the paper: speed-up of surrogate + submodel over the full FE solve (test samples, wall time)",
            ROWS,
            _get("submodel", "timing", "speedup"),
            "{:.1f}x",
        )
    )
    return out


def render(sweep: Sweep) -> tuple[str, dict[str, str]]:
    """The Markdown document and one CSV text per table (mean, std and seed count per cell)."""
    ran = {m for m, _ in sweep.groups}
    md = [f"# Tables for {shown(sweep.root)}", ""]
    if sweep.protocol:
        md.append(f"Training protocol: `{sweep.protocol}`. ")
    if sweep.eps_definition:
        md.append(f"Error indicator: {sweep.eps_definition}. ")
    counts = sweep.seed_counts
    if counts and counts != [1]:
        span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        md.append(f"Each cell: mean ± sample standard deviation over {span} seeds. ")
    if sweep.baselines:
        md.append(
            f"Reference rows (*italic*): non-neural baselines fitted on the same training split "
            f"({shown(sweep.baselines['path'])}); they have no regularisation, so their value is repeated. "
        )
    md += ["BN & E is not part of the grid: the combination is refused (n/a), as in the paper.", ""]
    references = (sweep.baselines or {}).get("methods", {})
    csvs = {}
    for table in tables(sweep.protocol):
        stats = {
            (r, c): Stat.of([v for cell in sweep.groups.get((r, c), []) if (v := table.value(cell)) is not None])
            for r, _ in table.rows
            for c, _ in COLS
        }
        if all(v is None for v in stats.values()):
            continue
        head = f"Table {table.number}: {table.title}" if table.number else table.title
        md += [
            f"## {head}",
            "",
            "| | " + " | ".join(lbl for _, lbl in COLS) + " |",
            "|---|" + "---|" * len(COLS),
        ]
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["model", *[x for _, lbl in COLS for x in (lbl, f"{lbl} std", f"{lbl} n")]])
        for r, label in table.rows:
            cells = [stats[(r, c)] for c, _ in COLS]
            if r not in ran:
                continue  # a model this sweep never ran: no row of dashes
            md.append(f"| {label} | " + " | ".join("-" if v is None else v.format(table.fmt) for v in cells) + " |")
            writer.writerow(
                [
                    label,
                    *[x for v in cells for x in (("", "", 0) if v is None else (f"{v.mean:.6g}", f"{v.std:.6g}", v.n))],
                ]
            )
        for method in references.values() if table.reference else ():
            ref = table.value({"metrics": method, "submodel": method})
            if ref is None:
                continue
            md.append(f"| *{method['label']}* | " + " | ".join(f"*{table.fmt.format(ref)}*" for _ in COLS) + " |")
            writer.writerow([f"baseline: {method['label']}", *[x for _ in COLS for x in (f"{ref:.6g}", "0", 1)]])
        md.append("")
        csvs[f"table_{table.slug}.csv"] = buf.getvalue()
    if sweep.problems:
        md += ["## Missing or failed runs", ""] + [f"- {p}" for p in sweep.problems] + [""]
    return "\n".join(md), csvs
