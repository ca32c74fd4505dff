"""The seed-ensemble table of ``pipeline.tables`` (beyond the paper): each cell's ensemble scored by
``pipeline.ensemble``, against its members and the baselines."""

from __future__ import annotations

import csv
import io

from pipeline.artefacts import shown
from pipeline.sweep import Stat, Sweep, percent


def ensemble_table(sweep: Sweep) -> tuple[list[str], str]:
    """Beyond the paper: each cell's seed ensemble (``pipeline.ensemble``) against its members and
    the baselines, test eps (%) of the full field and after zoom (primary trace, and each other)."""
    doc = sweep.ensembles or {}
    traces = sorted({t for m in doc.get("methods", {}).values() for t in m.get("by_trace", {})})
    heads = ["seeds", "u", "v", "members' u", "members' v", "after zoom u", "after zoom v"]
    heads += [f"{t} after zoom {f}" for t in traces for f in "uv"]
    md = [
        "## Beyond the paper: seed ensembles (mean prediction of a cell's seeds), test eps (%)",
        "",
        f"Made by python -m pipeline.ensemble ({shown(sweep.root / 'ensembles.json')}); members' figures: "
        "mean ± std of the single networks (+ residual RBF: of their hybrids, each network plus the RBF "
        "interpolation of its training residual, averaged). After zoom: the "
        f"{doc.get('trace', {}).get('name', 'as_predicted')} trace, then the others scored.",
        "",
        "| | " + " | ".join(heads) + " |",
        "|---|" + "---|" * len(heads),
    ]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["cell", *heads])

    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    rows = []
    for method in doc.get("methods", {}).values():
        # the ensemble of the networks, then (runs scored with a correction) that of their hybrids
        hybrid = method.get("residual_rbf")
        for label, node in ((method["label"], method), (f"{method['label']} + residual RBF", hybrid)):
            if node is None:
                continue
            members = [Stat.of([100 * x for x in node["member_eps"]["test"][f]]) for f in "uv"]
            zoom = [percent(node, "eps_zoom", "test", f) for f in "uv"]
            others = [percent(node, "by_trace", t, "eps_zoom", "test", f) for t in traces for f in "uv"]
            values = [percent(node, "eps", "test", f) for f in "uv"] + zoom + others
            rows.append((label, str(len(method["seeds"])), values[:2], members, values[2:]))
    for method in (sweep.baselines or {}).get("methods", {}).values():
        others = [percent(method, "by_trace", t, "eps_zoom", "test", f) for t in traces for f in "uv"]
        values = [percent(method, "eps", "test", f) for f in "uv"] + [
            percent(method, "eps_zoom", "test", f) for f in "uv"
        ]
        rows.append((f"*{method['label']}*", "", values[:2], [None, None], values[2:] + others))
    for label, seeds, field, members, zoom in rows:
        shown_members = ["-" if m is None else m.format() for m in members]
        md.append(f"| {label} | {seeds} | " + " | ".join([*map(cell, field), *shown_members, *map(cell, zoom)]) + " |")
        writer.writerow([label.strip("*"), seeds, *map(cell, field), *shown_members, *map(cell, zoom)])
    return [*md, ""], buf.getvalue()
