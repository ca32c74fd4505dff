"""Finding and loading trained runs: one folder per run, a sweep is a folder of run folders."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from pipeline.train import METRICS, build_model
from surrogate.models import Geometry, TwoFieldSurrogate
from surrogate.training import CHECKPOINT, Scalers, pick_device, predict


class RunError(RuntimeError):
    """A run folder that cannot be used; the message names the run."""


@dataclass
class TrainedRun:
    run_dir: Path
    cfg: DictConfig
    model: TwoFieldSurrogate
    scalers: Scalers
    device: torch.device

    def predict(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Physical (u, v) of the model's target for parameters (N, 3)."""
        return predict(self.model, self.scalers, params, self.device)


def load_run(run_dir: str | Path, device: str = "cpu") -> TrainedRun:
    """Rebuild a run's model from the config in its checkpoint and load the trained weights."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise RunError(f"run {run_dir.name}: no {CHECKPOINT} in {run_dir} (not trained, or still training)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        cfg = OmegaConf.create(state["meta"]["config"])
        geom = Geometry(**state["meta"]["geometry"])
    except Exception as err:
        raise RunError(f"run {run_dir.name}: corrupt checkpoint {path} ({type(err).__name__}: {err})") from err
    if int(state["epoch"]) < int(cfg.train.epochs):
        raise RunError(
            f"run {run_dir.name}: checkpoint at epoch {state['epoch']} of {cfg.train.epochs} "
            "(unfinished: launch the same training again to resume it)"
        )
    model = build_model(cfg, geom)
    model.load_state_dict(state["model"])
    dev = pick_device(device)
    return TrainedRun(run_dir, cfg, model.to(dev), Scalers.from_state(state["scalers"]), dev)


def read_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunError(f"run {Path(run_dir).name}: no {METRICS} (failed or unfinished)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise RunError(f"run {Path(run_dir).name}: unreadable {METRICS} ({err})") from err


def run_dirs(root: str | Path) -> list[Path]:
    """A run folder itself, or every run folder below a sweep folder (those with a checkpoint, a
    metrics file or a Hydra record), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root}: no such run or sweep folder")
    markers = (CHECKPOINT, METRICS, ".hydra")
    if any((root / m).exists() for m in markers):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and any((p / m).exists() for m in markers))
