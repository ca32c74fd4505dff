"""Atomic file writes: the one helper every stage uses for its artefacts.

A file is written to a temporary name in the same folder and renamed over the target only once it is
complete (``os.replace`` is atomic on POSIX), so a killed process never leaves a half file under the
final name. No torch or DOLFINx here: the data, training and reporting stages all use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call ``write(tmp)`` and rename ``tmp`` to ``path``; ``suffix`` keeps an extension some writers
    insist on (``np.savez`` appends ``.npz``). The temporary file is removed if ``write`` fails; a missing
    folder is created (a benchmark's or a report's first artefact on a fresh clone)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | Path, obj: dict) -> Path:
    return write_text(path, json.dumps(obj, indent=2))
