"""Report stage: ``python -m pipeline.report [target=<run or sweep folder>]``.

Writes ``<target>/report/report.md`` and the PNGs it links: the dataset summary and sample design,
every table of ``pipeline.tables``, snapshots of u (reference / predicted / after zoom / error) for a
test sample of the best run, eps(t) curves of the best runs, parameters against test error, the mean
epoch time per model, and the speed-up of surrogate + submodel over the full FE solve. Runs without
results are listed, not fatal. The report reads what the stages recorded and runs no network (so
``device`` and ``threads`` have nothing to act on); ``metrics.*`` is checked against the runs' eps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import hydra  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from fe import dataset  # noqa: E402
from pipeline.artefacts import EXAMPLE, RunError, atomic_write, check_data, shown, user_errors, write_text  # noqa: E402
from pipeline.claims import claims  # noqa: E402
from pipeline.runs import load_splits  # noqa: E402
from pipeline.sweep import COLS, ROWS, Stat, Sweep, collect  # noqa: E402
from pipeline.tabulate import render  # noqa: E402
from pipeline.validate import check_report  # noqa: E402
from surrogate.metrics import ErrorSpec  # noqa: E402
from surrogate.targets import target as target_strategy  # noqa: E402

log = logging.getLogger(__name__)


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def _score(cell: dict) -> float:
    """Test eps of u after zoom when known, else of the model's own target."""
    zoom = cell.get("submodel", {}).get("eps_zoom", {}).get("test")
    return float(zoom["u"]) if zoom else float(cell["metrics"]["eps"]["test"]["u"])


def _ranked(sweep: Sweep) -> list[tuple[tuple[str, str], dict]]:
    return sorted(sweep.cells.items(), key=lambda kv: _score(kv[1]))


def _label(key: tuple[str, str], cell: dict) -> str:
    return f"{cell['metrics']['label']} / {cell['metrics']['reg_label']}"


def fig_design(train: dataset.Dataset, test: dataset.Dataset, path: Path) -> None:
    cfg = yaml.safe_load(train.attrs["config"])
    (lx, ly), (zx, zy) = cfg["physics"]["domain"][:2], cfg["physics"]["zone"][:2]  # 3D: the (x, y) projection
    mz = cfg["sampling"]["margin_zone"]
    fig, ax = plt.subplots(figsize=(5.6, 5.4))
    vmin, vmax = cfg["sampling"]["omega"]
    styles = {"train": {"s": 18}, "test": {"s": 40, "marker": "^", "edgecolors": "k", "linewidths": 0.5}}
    for name, ds in (("train", train), ("test", test)):
        sc = ax.scatter(
            ds.params[:, 1],
            ds.params[:, 2],
            c=ds.params[:, 0],
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
            label=name,
            **styles[name],
        )
    ax.add_patch(plt.Rectangle((-lx, -ly), 2 * lx, 2 * ly, fill=False, lw=1.5))
    ax.add_patch(
        plt.Rectangle((-zx, -zy), 2 * zx, 2 * zy, fill=True, alpha=0.25, color="tab:red", label="zone of interest")
    )
    ax.add_patch(
        plt.Rectangle(
            (-zx - mz, -zy - mz),
            2 * (zx + mz),
            2 * (zy + mz),
            fill=False,
            ls="--",
            color="tab:red",
            label="excluded (margin)",
        )
    )
    ax.set_aspect("equal")
    ax.set_xlabel("xs")
    ax.set_ylabel("ys")
    ax.set_title("Source positions (colour: omega)" + (", (x, y) projection" if train.dim == 3 else ""))
    fig.colorbar(sc, ax=ax, label="omega", shrink=0.8)
    ax.legend(loc="upper center", fontsize=7, ncol=2, bbox_to_anchor=(0.5, -0.12))
    fig.tight_layout()
    _save(fig, path)


def _plane(field: np.ndarray) -> np.ndarray:
    """A 2D zone field as it is; a 3D one (D, H, W) by its mid-plane in z."""
    return field if field.ndim == 2 else field[field.shape[0] // 2]


def fig_snapshots(example: dict, title: str, path: Path) -> None:
    t = example["t"]
    picks = [int(round(f * (t.size - 1))) for f in (0.4, 0.6, 0.8, 1.0)]
    rows = [("reference u", example["u_ref"])]
    if "u_pred" in example:
        rows.append(("predicted u", example["u_pred"]))
    rows += [("u after zoom", example["u_zoom"]), ("|error| after zoom", np.abs(example["u_zoom"] - example["u_ref"]))]
    vmax = float(np.abs(example["u_ref"]).max()) or 1.0
    emax = float(np.abs(rows[-1][1][picks]).max()) or vmax
    extent = [example["x"][0], example["x"][-1], example["y"][0], example["y"][-1]]
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(2.4 * len(picks), 2.2 * len(rows)), squeeze=False)
    for r, (name, field) in enumerate(rows):
        err = name.startswith("|")
        for c, k in enumerate(picks):
            ax = axes[r, c]
            im = ax.imshow(
                _plane(field[k]),
                origin="lower",
                extent=extent,
                cmap="magma" if err else "RdBu_r",
                vmin=0 if err else -vmax,
                vmax=emax if err else vmax,
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t = {t[k]:.2f}", fontsize=9)
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
        fig.colorbar(im, ax=axes[r, :].tolist(), shrink=0.8)
    p = example["params"]
    where = ", ".join(f"{c:.2f}" for c in p[1:])
    plane = "" if "z" not in example else f"; slice z = {example['z'][example['z'].size // 2]:.3g}"
    fig.suptitle(f"{title}: test sample omega={p[0]:.2f}, source ({where}){plane}", fontsize=10)
    _save(fig, path)


def fig_eps_t(ranked, t: np.ndarray, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for key, cell in [kv for kv in ranked if "eps_t" in kv[1]["metrics"]][:5]:  # records may lack curves
        line = ax.plot(t, _curve(cell["metrics"]["eps_t"]["test"]["u"]), ls="--", lw=1)[0]
        zoom = cell.get("submodel", {}).get("eps_zoom_t", {}).get("test", {}).get("u")
        if zoom:
            ax.plot(t, _curve(zoom), color=line.get_color(), lw=1.8, label=f"{_label(key, cell)} (after zoom)")
        else:
            line.set_label(_label(key, cell))
    ax.set_xlabel("t")
    ax.set_ylabel("test eps of u (%)")
    ax.set_title("Error over time (dashed: the network's own prediction)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _curve(values: list) -> np.ndarray:
    return 100 * np.array([np.nan if v is None else v for v in values], dtype=float)


def fig_params_vs_error(sweep: Sweep, path: Path) -> None:
    """One marker per cell at its seed mean (bar: sample std), every seed as a faint dot: a cell's
    first seed alone can sit far from its mean (a run ending on a loss spike)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    markers = dict(zip([c for c, _ in COLS], "osDv^P", strict=True))
    for (_, reg), group in sweep.groups.items():
        first = group[0]["metrics"]
        boundary = not target_strategy(first.get("target", "field")).full_field
        color = "tab:orange" if boundary else "tab:blue"
        values = [100 * _score(cell) for cell in group]
        cell_stat, x = Stat.of(values), first["parameters"]
        ax.scatter([x] * len(values), values, marker=markers.get(reg, "o"), color=color, s=10, alpha=0.35)
        ax.errorbar(x, cell_stat.mean, yerr=cell_stat.std, fmt=markers.get(reg, "o"), color=color, ms=5, capsize=2)
        ax.annotate(first["label"], (x, cell_stat.mean), fontsize=6)
    seen = {reg for _, reg in sweep.groups}
    for reg, col in COLS:
        if reg in seen:
            ax.scatter([], [], marker=markers[reg], color="gray", label=col)
    ax.legend(fontsize=7, title="regularisation", title_fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("trainable parameters")
    ax.set_ylabel("test eps of u (%), after zoom when available\n(seed mean ± std; dots: seeds)", fontsize=8)
    ax.set_title("Parameters vs error (blue: full field, orange: boundary)")
    fig.tight_layout()
    _save(fig, path)


def fig_epoch_time(sweep: Sweep, path: Path) -> None:
    labels, values = [], []
    for model, label in ROWS:
        times = [
            c["metrics"]["mean_epoch_seconds"]
            for (m, _), c in sweep.cells.items()
            if m == model and c["metrics"].get("mean_epoch_seconds")
        ]
        if times:
            labels.append(label)
            values.append(float(np.mean(times)))
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.barh(labels[::-1], values[::-1], color="tab:blue")
    ax.set_xlabel("mean epoch time (s), averaged over regularisations")
    fig.tight_layout()
    _save(fig, path)


def dataset_summary(train: dataset.Dataset, test: dataset.Dataset) -> list[str]:
    cfg = yaml.safe_load(train.attrs["config"])
    ph, ms, sa = cfg["physics"], cfg["mesh"], cfg["sampling"]
    n, nt, *zone = train.u.shape
    boundary = "boundary loop" if len(zone) == 2 else "surface"
    box = lambda half: " x ".join(f"[-{v}, {v}]" for v in half)  # noqa: E731
    cells = " x ".join(str(ms[k]) for k in ("nx", "ny", "nz")[: len(zone)])
    return [
        "## Dataset",
        "",
        f"- `{shown(train.path.parent)}`: {n} train + {test.u.shape[0]} test samples; {nt} snapshots over "
        f"[0, {ph['t_final']}]; zone grid {' x '.join(map(str, zone))} nodes; {boundary} of "
        f"{train.boundary_index.shape[0]} nodes.",
        f"- Physics: c = {ph['c']}, Omega = {box(ph['domain'])}, Omega' = {box(ph['zone'])}, "
        f"omega in {sa['omega']}, sources >= {sa['margin_zone']} outside Omega'.",
        f"- Mesh {cells} cells (P1); time step {float(train.attrs['dt']):.4g} "
        f"({train.attrs['substeps']} per snapshot), CFL limit {float(train.attrs['dt_crit']):.4g}.",
        f"- Made at git {train.attrs.get('git_revision', '?')} on {train.attrs.get('created', '?')}.",
        "",
    ]


def write_report(
    target: str | Path,
    out: str | Path | None = None,
    spec: ErrorSpec | None = None,
    records: Sequence[str | Path] = (),
) -> Path:
    """Write the report of the runs under ``target`` and in the ``records`` files (``runs.jsonl``);
    ``spec``: the eps definition the reader asked for (``metrics.*``), a mismatch with the runs'
    recorded one is listed as a problem."""
    sweep = collect(target, records=records)
    if spec is not None and sweep.eps_definition and sweep.eps_definition != spec.caption():
        sweep.problems.append(
            f"metrics.*: the runs were scored with '{sweep.eps_definition}', not with the requested "
            f"'{spec.caption()}'; the tables show the recorded figures (retrain, or pass the runs' metrics)"
        )
    out = Path(out) if out else Path(target) / "report"
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# wavezoom report: {target}", ""]
    ranked = _ranked(sweep)
    if ranked:
        metrics = ranked[0][1]["metrics"]
        data = Path(next((c["metrics"]["data"] for _, c in ranked if "data" in c["metrics"]), "<not recorded>"))
        try:
            train, test = load_splits(data)
            check_data("the runs", metrics.get("data_fingerprint"), train.attrs.get("fingerprint"), data)
        except (dataset.DatasetError, RunError) as err:
            md += [f"Dataset unavailable: {err}", ""]
        else:
            md += dataset_summary(train, test)
            fig_design(train, test, out / "design.png")
            md += ["![sample design](design.png)", ""]
            fig_eps_t(ranked, train.t, out / "eps_t.png")
        key, best = ranked[0]
        md += [
            "## Best run",
            "",
            f"{_label(key, best)} (`{best['run']}`): test eps of u "
            f"{100 * _score(best):.2f}% ({'after zoom' if 'submodel' in best else 'network alone'}).",
            "",
        ]
        example = Path(target) / best["run"] / EXAMPLE
        if not example.exists() and Path(target).name == best["run"]:
            example = Path(target) / EXAMPLE
        if example.exists():
            fig_snapshots(dict(np.load(example)), _label(key, best), out / "snapshots.png")
            md += ["![snapshots](snapshots.png)", ""]
        md += ["![eps(t)](eps_t.png)", ""] if (out / "eps_t.png").exists() else []
        fig_params_vs_error(sweep, out / "params_vs_error.png")
        fig_epoch_time(sweep, out / "epoch_time.png")
        md += [
            "## Size, error and cost",
            "",
            "![parameters vs error](params_vs_error.png)",
            "",
            "![epoch time](epoch_time.png)",
            "",
        ]
    md += claims(sweep)
    tables_md, _ = render(sweep)
    md += ["## Tables", ""] + ["#" + line if line.startswith("## ") else line for line in tables_md.splitlines()[2:]]
    path = write_text(out / "report.md", "\n".join(md) + "\n")
    for problem in sweep.problems:
        log.warning(problem)
    return path


@hydra.main(version_base="1.3", config_path="../conf", config_name="report")
def main(cfg: DictConfig) -> None:
    with user_errors():
        check_report(cfg)
        path = write_report(cfg.target, cfg.report.out, ErrorSpec(**cfg.metrics), list(cfg.report.records))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
