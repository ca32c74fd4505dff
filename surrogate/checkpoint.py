"""Self-describing checkpoints: the model's class path and init arguments travel with its weights.

A checkpoint holds plain data only (tensors, numbers, strings, lists, dicts), so
``torch.load(path, weights_only=True)`` reads it, and :func:`load_model` rebuilds the trained model
from the file alone, without Hydra or the run's config folder. Specs are nested dicts in Hydra's
``_target_`` / ``_partial_`` convention, restricted to classes of this package and ``torch.nn``.
"""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path

import torch

from surrogate.io import atomic_write

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
ALLOWED_PREFIXES = ("surrogate.", "torch.nn.")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read or rebuilt; the message names the file."""


def _locate(path: str):
    if not path.startswith(ALLOWED_PREFIXES):
        raise CheckpointError(f"_target_={path!r}: only classes under {ALLOWED_PREFIXES} are rebuilt")
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise CheckpointError(f"_target_={path!r}: cannot import it ({err})") from err


def build(spec):
    """Instantiate a nested ``_target_`` spec (``_partial_: true`` gives a ``functools.partial``)."""
    if isinstance(spec, dict):
        node = {k: build(v) for k, v in spec.items() if k not in ("_target_", "_partial_")}
        if "_target_" not in spec:
            return node
        cls = _locate(spec["_target_"])
        return functools.partial(cls, **node) if spec.get("_partial_") else cls(**node)
    if isinstance(spec, list | tuple):
        return [build(v) for v in spec]
    return spec


def save(state: dict, path: str | Path) -> None:
    """Write a checkpoint atomically: never a half-written file under the final name."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load(path: str | Path, device: str | torch.device = "cpu") -> dict:
    """The checkpoint's state, read with ``weights_only=True`` (plain data only)."""
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from err


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The trained model rebuilt from ``state["meta"]["model_spec"]`` with its weights, in eval mode,
    and the full state (scalers, history, provenance)."""
    state = load(path, device)
    try:
        spec = state["meta"]["model_spec"]
    except (KeyError, TypeError):
        raise CheckpointError(f"{path}: no model_spec (made by an older wavezoom; retrain the run)") from None
    model = build(spec)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), state


def check_resumable(old: dict, meta: dict, path: Path) -> None:
    """Refuse a checkpoint whose ``meta`` says it was made on other data or by another config (its
    fingerprint is neither ``meta``'s nor one of ``meta["resumes"]``); warn when the thread count differs."""
    if old.get("data_fingerprint") != meta.get("data_fingerprint"):
        raise CheckpointError(
            f"{path} was trained on data {str(old.get('data_fingerprint'))[:12]}, "
            f"the data now is {str(meta.get('data_fingerprint'))[:12]} (regenerated with another "
            "config?); delete the run folder or change the run name to start a new run"
        )
    if old.get("fingerprint") not in (meta.get("fingerprint"), *meta.get("resumes", [])):
        raise CheckpointError(
            f"{path} was made by another config; delete the run folder or change the run name to start a new run"
        )
    if old.get("threads") != meta.get("threads"):
        log.warning(
            "%s: resuming with threads=%s, the run began with threads=%s; CPU reductions change "
            "order, so the result may differ from an uninterrupted run at the 1e-9 level",
            path,
            meta.get("threads"),
            old.get("threads"),
        )
