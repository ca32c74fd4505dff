"""One CSV row per run, for ablations: ``python -m pipeline.ablation PATH... --out DIR/ablation.csv``.

The tables (``pipeline.tables``) hold one cell per (model, regularisation, seed), so they cannot show
the same model trained under several protocols side by side; an ablation needs exactly that. PATH is
a run folder, a folder of them at any depth (``results/runs/small/`` holds one folder per protocol), or
a ``.jsonl`` of records (``pipeline.records``). Beside the CSV goes ``<name>.jsonl``, the records of
its runs, so that a fresh clone regenerates the CSV exactly from committed files:
``python -m pipeline.ablation DIR/ablation.jsonl --out DIR/ablation.csv``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import yaml

from pipeline.artefacts import METRICS, RunError, shown, write_text
from pipeline.records import dumps
from pipeline.records import load as load_records
from pipeline.sweep import CONF, folder_cell, percent

COLUMNS = (
    "run", "model", "reg", "seed", "protocol", "epochs", "batch_size", "lr", "lr_used", "lr_final",
    "warmup_epochs", "schedule", "average_last", "train_u", "train_v", "test_u", "test_v", "zoom_test_u",
    "zoom_test_v", "collapsed", "s_per_epoch", "parameters", "git_revision", "overrides",
)  # fmt: skip
MAX_DEPTH = 4  # folders below a PATH searched for runs


def _run_folders(root: Path, depth: int = 0) -> list[Path]:
    if (root / METRICS).is_file():
        return [root]
    if depth >= MAX_DEPTH:
        return []
    return [run for sub in sorted(p for p in root.iterdir() if p.is_dir()) for run in _run_folders(sub, depth + 1)]


def gather(paths: Sequence[str | Path]) -> list[dict]:
    """The cells (``pipeline.records`` lines) of every run under ``paths``, in the order given; a path
    with no run is an error naming it."""
    cells: list[dict] = []
    for path in map(Path, paths):
        if path.is_file() and path.suffix == ".jsonl":
            found = load_records(path)
        elif path.is_dir():
            found = [folder_cell(run)[0] for run in _run_folders(path)]
        else:
            raise RunError(f"{path}: neither a run folder, a folder of runs, nor a .jsonl of records")
        if not found:
            raise RunError(f"{path}: no finished run (no {METRICS}) in it or {MAX_DEPTH} folders below")
        cells += found
    return cells


def _pct(doc: dict | None, *keys: str) -> str:
    value = percent(doc, *keys)
    return "" if value is None else f"{value:.3f}"


def row(cell: dict) -> dict[str, object]:
    """A run's protocol (as configured, and the lr it trained at after ``model.lr_max``) and its
    errors in %, test errors after zoom when it was scored there."""
    m = cell["metrics"]
    cfg = yaml.safe_load(m.get("config", "")) or {}
    train = cfg.get("train", {})
    epochs = train.get("epochs", m.get("epochs"))
    warmup = train.get("warmup")
    return {
        "run": f"{train.get('name', '?')}/{cell['run']}",
        "model": m.get("label", m["model"]),
        "reg": m.get("reg_label", m["reg"]),
        "seed": cell["seed"],
        "protocol": train.get("name", ""),
        "epochs": epochs,
        "batch_size": train.get("batch_size", ""),
        "lr": train.get("lr", ""),
        "lr_used": m.get("lr", train.get("lr", "")),
        "lr_final": train.get("lr_final", ""),
        "warmup_epochs": round(warmup * epochs) if warmup is not None and epochs else "",
        "schedule": train.get("schedule", ""),
        "average_last": train.get("average_last", 0),
        **{f"{s}_{f}": _pct(m, "eps", s, f) for s in ("train", "test") for f in "uv"},
        **{f"zoom_test_{f}": _pct(cell.get("submodel"), "eps_zoom", "test", f) for f in "uv"},
        "collapsed": " ".join(m.get("collapsed", [])),
        "s_per_epoch": f"{m['mean_epoch_seconds']:.3f}" if "mean_epoch_seconds" in m else "",
        "parameters": m.get("parameters", ""),
        "git_revision": str(m.get("git_revision", ""))[:10],
        "overrides": overrides(cfg),
    }


def _flat(doc: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _value(v: object) -> str:
    """A value as a Hydra override writes it (``[2,2,2,1]``, ``null``)."""
    return json.dumps(v, separators=(",", ":")) if isinstance(v, list | type(None)) else str(v)


def overrides(cfg: dict) -> str:
    """What the run changed against today's configs: the model's keys against ``conf/model/<name>.yaml``
    and the train knobs that have no column against ``conf/train/short.yaml`` (``key=value``, sorted)."""
    out = []
    model = cfg.get("model", {})
    path = CONF / "model" / f"{model.get('name')}.yaml"
    if path.is_file():
        have, want = _flat(model), _flat(yaml.safe_load(path.read_text()))
        out += [f"model.{k}={_value(have[k])}" for k in sorted(have) if k in want and have[k] != want[k]]
    base = yaml.safe_load((CONF / "train" / "short.yaml").read_text())
    train = cfg.get("train", {})
    out += [
        f"train.{k}={train[k]}"
        for k in sorted(train)
        if k in base and k not in COLUMNS + ("name", "checkpoint_every", "warmup") and train[k] != base[k]
    ]
    return " ".join(out)


def to_csv(cells: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row(c) for c in cells)
    return buf.getvalue()


def write_ablation(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Write the CSV of the runs under ``paths`` to ``out`` and their records beside it (``.jsonl``)."""
    out = Path(out)
    if out.suffix != ".csv":
        raise RunError(f"--out {out}: the CSV to write must end in .csv")
    cells = gather(paths)
    records = out.with_suffix(".jsonl")
    text = dumps(cells)
    if not any(Path(p).resolve() == records.resolve() for p in paths):  # regenerating from it: keep it as is
        write_text(records, text)
    write_text(out, to_csv(cells))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run folders, folders of them, or .jsonl records")
    parser.add_argument("--out", required=True, help="the CSV to write (its records go beside it as .jsonl)")
    args = parser.parse_args(argv)
    try:
        path = write_ablation(args.paths, args.out)
    except RunError as err:
        raise SystemExit(f"error: {err}") from None
    print(path.read_text(), end="")
    print(f"written: {shown(path)} and {shown(path.with_suffix('.jsonl'))}")


if __name__ == "__main__":
    main()
