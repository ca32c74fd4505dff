"""A sweep's runs as one small committed file, ``runs.jsonl``: one JSON line per run holding what the
tables, the claims and the report read (its ``metrics.json`` and ``submodel.json``).

Run folders hold checkpoints and stay on the machine that trained them; a later session, on a fresh
machine, has only what was committed. With this file it can add seeds to the same cells and regenerate
exact tables: ``python -m pipeline.tables <new sweep> --records docs/results/<x>/runs.jsonl``. Every
line keeps its run's provenance (config, seed, versions, git revision, data fingerprint) and says
where it was read from (``source``).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.artefacts import RunError

RECORDS = "runs.jsonl"
KEYS = ("run", "seed", "source", "metrics", "submodel")  # what a line may hold


def dumps(cells: list[dict]) -> str:
    """One line per cell (``run``, ``seed``, ``metrics``, ``submodel`` when scored after zoom, and
    ``source``), in the order given."""
    lines = []
    for cell in cells:
        line = {k: cell[k] for k in KEYS if k in cell}
        lines.append(json.dumps(line, sort_keys=True, separators=(",", ":")))
    return "".join(f"{line}\n" for line in lines)


def load(path: str | Path) -> list[dict]:
    """The cells of a ``runs.jsonl``, each checked for what the tables need; a bad line is an error
    naming the file, the line and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such records file (a runs.jsonl written by python -m pipeline.tables)")
    cells = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        try:
            cell = json.loads(text)
        except json.JSONDecodeError as err:
            raise RunError(f"{where}: not JSON ({err})") from None
        if not isinstance(cell, dict) or not isinstance(cell.get("metrics"), dict):
            raise RunError(f"{where}: a record is an object with a 'metrics' object")
        unknown = sorted(set(cell) - set(KEYS))
        missing = [k for k in ("model", "reg") if not isinstance(cell["metrics"].get(k), str)]
        if unknown or missing or not isinstance(cell.get("run"), str) or not isinstance(cell.get("seed"), int):
            raise RunError(
                f"{where}: a record needs 'run' (text), 'seed' (integer) and metrics 'model' and 'reg'"
                + (f"; missing {missing}" if missing else "")
                + (f"; unknown keys {unknown} (allowed {list(KEYS)})" if unknown else "")
            )
        cell.setdefault("source", str(path))
        cells.append(cell)
    return cells
