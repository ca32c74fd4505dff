"""What the stages share about files: their names, atomic writes, user errors and data fingerprints.

Every stage (data, train, submodel, baselines, tables, report) imports this module and the other
shared ones (``runs``, ``scoring``, ``zoom``, ``tabulate``, ``provenance``), never another stage:
``tests/test_layering.py`` fails on a stage importing a stage.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from fe.dataset import DatasetError
from fe.spec import SpecError
from surrogate.checkpoint import CHECKPOINT, CheckpointError
from surrogate.io import atomic_write, write_json, write_text

METRICS = "metrics.json"  # a finished training run (written last, after the final checkpoint)
SUBMODEL = "submodel.json"  # the submodel stage's errors after zoom and timings, per run
EXAMPLE = "zoom_example.npz"  # one test sample's fields for the report's snapshot figure
BASELINES = "baselines.json"  # the non-neural reference rows of a dataset
ENSEMBLES = "ensembles.json"  # a sweep's seed ensembles scored (pipeline.ensemble), in the sweep folder


def baselines_name(mirror: list[str], fold: bool = False) -> str:
    """The baselines file of a dataset: the meter (``baselines.json``), or with ``mirror`` axes the
    baselines fitted to the training samples and their mirror images (``baselines_mirror_<axes>.json``),
    or with ``fold`` to the samples folded into the half space of those axes (``..._<axes>_fold.json``)."""
    return BASELINES if not mirror else f"{Path(BASELINES).stem}_{mirror_tag(mirror, fold)}.json"


def mirror_tag(mirror: list[str], fold: bool = False) -> str:
    """``mirror_<axes>`` (images) or ``mirror_<axes>_fold``: how baseline files and rows name their samples."""
    return f"mirror_{''.join(mirror)}" + ("_fold" if fold else "")


def mirror_variants(records: list) -> list[tuple[str, bool]]:
    """The mirrored baselines that runs with these configs or metrics (``mirror``, ``mirror_mode``) are
    read against, as (axes, fold): the images' for every mirror, and for folded runs the folded
    baselines too (the images' RBF is the stronger on u: leaving it out would flatter a folded run)."""
    mirrors = {"".join(r.get("mirror") or []) for r in records} - {""}
    folds = {"".join(r.get("mirror") or []) for r in records if r.get("mirror_mode") == "fold"} - {""}
    return sorted({(a, False) for a in mirrors} | {(a, True) for a in folds})


def missing_mirrored(path: Path, axes: list[str], fold: bool) -> str:
    """The problem line of a mirrored baselines file that runs need and nobody made, with its command."""
    mode = " mirror_mode=fold" if fold else ""
    return (
        f"{path}: missing; runs fitted with mirror={axes}{mode} have no reference rows fitted to the "
        f"same samples (python -m pipeline.baselines 'mirror={axes}'{mode})"
    )


__all__ = [
    "BASELINES",
    "baselines_name",
    "mirror_tag",
    "mirror_variants",
    "missing_mirrored",
    "CHECKPOINT",
    "EXAMPLE",
    "METRICS",
    "SUBMODEL",
    "ConfigError",
    "RunError",
    "USER_ERRORS",
    "atomic_write",
    "check_data",
    "save_npz",
    "shown",
    "user_errors",
    "write_json",
    "write_text",
]


class ConfigError(ValueError):
    """A bad config value: names the key, the value and what is allowed."""


class RunError(RuntimeError):
    """A run folder that cannot be used; the message names the run."""


USER_ERRORS: tuple[type[Exception], ...] = (ConfigError, SpecError, DatasetError, RunError, CheckpointError)


def shown(path: str | Path) -> str:
    """``path`` as a document should print it: relative to the working directory when inside it, so
    that committed reports do not carry one machine's absolute paths."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def short(fingerprint: str | None) -> str:
    return str(fingerprint)[:12] if fingerprint else "<none recorded>"


def check_data(what: str, recorded: str | None, actual: str | None, where: Path | str) -> None:
    """Refuse to use ``what`` (a run, a baselines file) with data other than it was made on."""
    if recorded != actual:
        raise RunError(
            f"{what}: made on data {short(recorded)}, but {where} is data {short(actual)} (regenerated "
            "with another config?); retrain it, or point to the original data with paths.data_dir=..."
        )


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    return atomic_write(path, lambda tmp: np.savez_compressed(tmp, **arrays), suffix=".npz")


@contextlib.contextmanager
def user_errors():
    """A user's mistake (bad config value, missing data, unusable run) prints its message alone and
    exits with code 1; other exceptions are bugs and keep their traceback. ``HYDRA_FULL_ERROR=1``
    shows the traceback of user errors too."""
    try:
        yield
    except USER_ERRORS as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
