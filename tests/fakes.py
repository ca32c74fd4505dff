"""Run folders as the training and submodel stages leave them (``metrics.json``, ``submodel.json``),
holding chosen numbers: what the tables, claims and records tests read."""

from __future__ import annotations

import json
from pathlib import Path


def write_run(
    root: Path, model: str, reg: str, seed: int | None = None, submodel: dict | None = None, **metrics
) -> Path:
    """``root/<model>-<reg>[-s<seed>]`` with ``metrics`` over the fields every run records (labels are
    the names, a full-field target, 1000 parameters, the ``short`` protocol); ``submodel.json`` when
    ``submodel`` is given. Returns the folder."""
    run = root / (f"{model}-{reg}" if seed is None else f"{model}-{reg}-s{seed}")
    run.mkdir(parents=True)
    base = {
        "model": model,
        "reg": reg,
        **({} if seed is None else {"seed": seed}),
        "label": model,
        "reg_label": reg,
        "target": "field",
        "parameters": 1000,
        "config": "train:\n  name: short\n",
    }
    (run / "metrics.json").write_text(json.dumps({**base, **metrics}))
    if submodel is not None:
        (run / "submodel.json").write_text(json.dumps(submodel))
    return run
