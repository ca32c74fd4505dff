"""The paper's tables from a sweep (``pipeline.sweep``), as data: shared by ``pipeline.tables`` (the
files) and the report.

Table 1 (parameters), Tables 2-5 / 11-14 (train/test eps of the full fields, short/long protocol),
Tables 6-9 / 15-18 (eps after zoom, from ``submodel.json``), Table 10 (mean epoch time), and, beyond
the paper, the boundary-trace error, the last iterate of weight-averaged runs (``train.average_last``)
and the speed-up of surrogate + submodel over the full FE solve. Missing or failed runs are listed by
name and shown as "-"; the rest are reported as usual.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import yaml

from pipeline.artefacts import shown
from pipeline.ensemble_table import ensemble_table
from pipeline.sweep import COLS, CONF, FULL_ROWS, ROWS, Stat, Sweep

log = logging.getLogger(__name__)


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


def tables(protocol: str | None, traces: Sequence[str] = ()) -> list[Table]:
    """The tables of a sweep run at ``protocol``, with the errors after zoom under each trace
    construction of ``traces`` (``submodel.json: by_trace``) beside the primary one."""
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
    for name in traces:
        for f, field in (("u", "displacement"), ("v", "velocity")):
            out.append(
                Table(
                    f"zoom_test_{f}_{name}_trace",
                    "",
                    f"Beyond the paper: test error on {field} after zoom, boundary data from the {name} trace "
                    "(conf/trace/; eps, %)",
                    ROWS,
                    _get("submodel", "by_trace", name, "eps_zoom", "test", f, scale=100),
                    reference=True,
                )
            )
    for f, field in (("u", "displacement"), ("v", "velocity")):  # runs scored with a correction only
        out.append(
            Table(
                f"residual_rbf_test_{f}",
                "",
                f"Beyond the paper: test error on full {field} of the network plus the RBF interpolation over p "
                "of its training residual (`correction`; eps, %)",
                FULL_ROWS,
                _get("metrics", "residual_rbf", "eps", "test", f, scale=100),
                reference=True,
            )
        )
    for name in ("", *traces):  # the hybrid after zoom: under the primary trace, then the compared ones
        node = ("by_trace", name) if name else ()
        for f, field in (("u", "displacement"), ("v", "velocity")):
            out.append(
                Table(
                    f"residual_rbf_zoom_test_{f}" + (f"_{name}_trace" if name else ""),
                    "",
                    f"Beyond the paper: test error on {field} after zoom"
                    + (f" ({name} trace)" if name else "")
                    + " of the network plus the RBF interpolation over p of its training residual (eps, %)",
                    ROWS,
                    _get("submodel", "residual_rbf", *node, "eps_zoom", "test", f, scale=100),
                    reference=True,
                )
            )
    for kind, source, where in (  # runs with train.average_last > 0 only
        ("last_iterate", ("metrics", "last_iterate", "eps"), "{}"),
        ("last_iterate_zoom", ("submodel", "last_iterate", "eps_zoom"), "{} after zoom"),
    ):
        for f, field in (("u", "displacement"), ("v", "velocity")):
            out.append(
                Table(
                    f"{kind}_test_{f}",
                    "",
                    f"Beyond the paper: test error on {where.format(field)} of the last epoch's weights, where "
                    "the model is a late-epoch weight average (eps, %)",
                    ROWS,
                    _get(*source, "test", f, scale=100),
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


def _protocol_lr(name: str) -> float | None:
    """The peak lr ``conf/train/<name>.yaml`` sets (None: no such protocol, or it inherits the lr)."""
    path = CONF / "train" / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text()) if path.is_file() else None
    return float(doc["lr"]) if isinstance(doc, dict) and "lr" in doc else None


def _lowered(sweep: Sweep) -> dict[str, tuple[float, float]]:
    """The models whose runs trained at a lower peak lr than their protocol sets (a ``model.lr_max`` cap,
    or a ``train.lr`` override): label -> (used, the protocol's)."""
    out = {}
    for group in sweep.groups.values():
        for cell in group:
            m = cell["metrics"]
            try:
                train = yaml.safe_load(m.get("config", ""))["train"]
                asked = _protocol_lr(str(train["name"])) or float(train["lr"])
            except (TypeError, KeyError, ValueError, yaml.YAMLError):
                continue
            used = float(m.get("lr", train.get("lr", asked)))
            if used < asked:
                out[m.get("label", m["model"])] = (used, asked)
    return out


def render(sweep: Sweep) -> tuple[str, dict[str, str]]:
    """The Markdown document and one CSV text per table (mean, std and seed count per cell)."""
    ran = {m for m, _ in sweep.groups}
    md = [f"# Tables for {shown(sweep.root)}", ""]
    if sweep.protocol:
        md.append(f"Training protocol: `{sweep.protocol}`. ")
    if sweep.lbfgs:
        its = " or ".join(str(k) for k in sorted(sweep.lbfgs))
        md.append(
            f"The epochs are followed by {its} full-batch L-BFGS iterations (`train.lbfgs_iters`, beyond the paper). "
        )
    if lowered := _lowered(sweep):
        md.append(
            "Peak lr below the protocol's (capped by `model.lr_max`, where the protocol's lr kills the model, or "
            "set by `train.lr`): "
            + ", ".join(f"{label} at {used:g} (protocol {asked:g})" for label, (used, asked) in sorted(lowered.items()))
            + ". "
        )
    if sweep.eps_definition:
        md.append(f"Error indicator: {sweep.eps_definition}. ")
    counts = sweep.seed_counts
    if counts and counts != [1]:
        span = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
        md.append(f"Each cell: mean ± sample standard deviation over {span} seeds. ")
    files = sorted({c["record"] for g in sweep.groups.values() for c in g if "record" in c})
    if files:
        n = sum("record" in c for g in sweep.groups.values() for c in g)
        total = sum(len(g) for g in sweep.groups.values())
        md.append(
            f"{total - n} of the {total} runs read from run folders, {n} from committed records ({', '.join(files)}). "
        )
    if sweep.baselines:
        md.append(
            f"Reference rows (*italic*): non-neural baselines fitted on the same training split "
            f"({shown(sweep.baselines['path'])}); they have no regularisation, so their value is repeated. "
            + (
                "Rows labelled 'mirror': fitted to the training split and its mirror images, as runs made with "
                "`mirror` were; 'mirror .. folded': fitted to the samples folded to one side and answering by "
                "reflection, as runs made with `mirror_mode=fold` were (fe/symmetry.py). "
                if any(k.rpartition("_mirror_")[1] for k in sweep.baselines.get("methods", {}))
                else ""
            )
        )
    if sweep.trace:
        md.append(
            f"After zoom: boundary data from the {sweep.trace} trace (conf/trace/) unless a table says otherwise. "
        )
    md += ["BN & E is not part of the grid: the combination is refused (n/a), as in the paper.", ""]
    references = (sweep.baselines or {}).get("methods", {})
    csvs = {}
    for table in tables(sweep.protocol, sweep.compared_traces):
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
    if sweep.ensembles:
        text, csvs["table_ensembles.csv"] = ensemble_table(sweep)
        md += text
    if sweep.problems:
        md += ["## Missing or failed runs", ""] + [f"- {p}" for p in sweep.problems] + [""]
    return "\n".join(md), csvs
