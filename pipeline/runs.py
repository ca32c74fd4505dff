"""Runs and their data: building a configured model, loading a dataset's splits, finding and loading
trained runs (one folder per run; a sweep is a folder of run folders). Shared by every stage."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from pipeline.artefacts import CHECKPOINT, METRICS, USER_ERRORS, ConfigError, RunError, check_data, short
from pipeline.config import instantiate
from pipeline.mirror import fit_run_correction, run_predictor
from surrogate import checkpoint
from surrogate.checkpoint import CheckpointError
from surrogate.models import Geometry, TwoFieldSurrogate
from surrogate.protocol import TrainSpec
from surrogate.regularization import Regularization
from surrogate.training import Scalers, pick_device

MODEL_ONLY_KEYS = ("order", "data_dim", "lr_max")  # keys of conf/model/*.yaml not passed to the network


def load_splits(root: str | Path) -> tuple[dataset.Dataset, dataset.Dataset]:
    """``train.h5`` and ``test.h5`` of a dataset folder, refused unless both come from one config."""
    root = Path(root)
    train, test = dataset.load(root / "train.h5"), dataset.load(root / "test.h5")
    for ds, split in ((train, "train"), (test, "test")):
        if ds.attrs.get("split", split) != split:
            raise dataset.DatasetError(f"{ds.path}: holds the {ds.attrs.get('split')!r} split, expected {split!r}")
    if train.attrs.get("fingerprint") != test.attrs.get("fingerprint"):
        raise dataset.DatasetError(
            f"{root}: train.h5 (data {short(train.attrs.get('fingerprint'))}) and test.h5 (data "
            f"{short(test.attrs.get('fingerprint'))}) were made by different configs; regenerate both "
            "with python -m pipeline.data"
        )
    return train, test


def load_data(cfg: DictConfig) -> tuple[dataset.Dataset, dataset.Dataset]:
    """The splits of ``data=<preset>`` under ``paths.data_dir``, with how to make them if missing."""
    try:
        return load_splits(Path(cfg.paths.data_dir) / str(cfg.data))
    except dataset.DatasetError as err:
        raise dataset.DatasetError(
            f"data={cfg.data}: {err}. To generate it: python -m pipeline.data "
            f"dataset={cfg.data} paths.data_dir={cfg.paths.data_dir}"
        ) from err


def geometry(ds: dataset.Dataset) -> Geometry:
    depth = None if ds.z is None else ds.z.size
    return Geometry(ds.t.size, ds.y.size, ds.x.size, ds.boundary_index.shape[0], depth)


def protocol(cfg: DictConfig, cap: bool = True) -> dict:
    """``cfg.train`` as plain data; ``cap``: its lr and lr_final capped at ``model.lr_max``, half the lowest
    peak lr the model was seen to die at (Conv3D, Conv2D and Conv2D t die at quick's 8e-3; README)."""
    knobs = OmegaConf.to_container(cfg.train, resolve=True)
    lr_max = cfg.model.get("lr_max")
    if cap and lr_max is not None:
        knobs["lr"], knobs["lr_final"] = min(knobs["lr"], lr_max), min(knobs["lr_final"], lr_max)
    return knobs


def train_spec(cfg: DictConfig, cap: bool = True) -> TrainSpec:
    """The training protocol a run of ``cfg`` follows (``cap=False``: as configured, to validate it)."""
    return TrainSpec(**{k: v for k, v in protocol(cfg, cap).items() if k != "name"})


def regularization(cfg: DictConfig) -> Regularization:
    """The ``reg`` group's object (its checks run here, once)."""
    return instantiate(cfg.reg, f"reg={cfg.reg.get('name')}")


def model_spec(cfg: DictConfig, geom: Geometry) -> dict:
    """The model's ``_target_`` spec in plain data: stored in every checkpoint, so the checkpoint
    alone rebuilds the model (``surrogate.checkpoint.load_model``)."""
    want, have = int(cfg.model.get("data_dim", 2)), len(geom.field_axes)
    if want != have:
        raise ConfigError(
            f"model={cfg.model.name} is a model for {want}D zones (model.data_dim={want}), but data="
            f"{cfg.get('data')} holds {have}D fields; pick a {have}D model"
            + (" (conv4d, conv3_5d, conv3_5db)" if have == 3 else "")
            + f", or set +model.data_dim={have} to try this architecture on them"
        )
    reg = regularization(cfg)
    spec = OmegaConf.to_container(cfg.model, resolve=True)
    for key in MODEL_ONLY_KEYS:
        spec.pop(key, None)
    geometry = {k: v for k, v in asdict(geom).items() if not (k == "depth" and v is None)}  # 2D specs as before
    spec.update(
        geometry={"_target_": f"{Geometry.__module__}.Geometry", **geometry},
        batch_norm=reg.batch_norm,
        shared=reg.shared,
    )
    return spec


def build_model(cfg: DictConfig, geom: Geometry, spec: dict | None = None) -> TwoFieldSurrogate:
    """The configured model (from ``spec`` when the caller already made it), initialised from
    ``cfg.seed``."""
    spec = spec if spec is not None else model_spec(cfg, geom)
    torch.manual_seed(int(cfg.seed))
    try:
        return checkpoint.build(spec)
    except ValueError as err:  # a model that does not fit the data (its axes, its dimension)
        axes = ", ".join(("t", *geom.field_axes))
        raise ConfigError(f"model={cfg.model.name} on data={cfg.get('data')} (axes {axes}): {err}") from None


@dataclass
class TrainedRun:
    run_dir: Path
    cfg: DictConfig
    model: TwoFieldSurrogate
    scalers: Scalers
    device: torch.device
    metrics: dict

    @property
    def data_fingerprint(self) -> str | None:
        return self.metrics.get("data_fingerprint")

    def fitted_correction(self, train: dataset.Dataset) -> tuple[object, tuple[np.ndarray, np.ndarray]] | None:
        """The residual correction this run's ``metrics.json`` was scored with (None: none), built from
        the config that file records (a run re-scored after training has a newer one than its
        checkpoint) and refitted on ``train`` as the training stage fitted it (with the mirror images of
        its samples when the run was fitted to them); with this run's predictions on ``train``."""
        recorded = OmegaConf.create(self.metrics["config"])
        node = recorded.get("correction") if "residual_rbf" in self.metrics else None
        if node is None:
            return None
        return fit_run_correction(instantiate(node, "correction"), self.predict, self.model.target, recorded, train)

    def check_data(self, ds: dataset.Dataset) -> None:
        """Refuse to score this run on data other than it was trained on."""
        check_data(f"run {self.run_dir.name}", self.data_fingerprint, ds.attrs.get("fingerprint"), ds.path)

    def predict(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Physical (u, v) of the model's target for parameters (N, 3)."""
        return run_predictor(self.cfg, self.model, self.scalers, self.device)(params)


def load_run(run_dir: str | Path, device: str = "cpu", last_iterate: bool = False) -> TrainedRun:
    """A finished run (final checkpoint and ``metrics.json``), its model rebuilt from the checkpoint;
    ``last_iterate``: with the last epoch's weights instead of the late-epoch average (runs trained
    with ``train.average_last`` > 0 only)."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise RunError(f"run {run_dir.name}: no {CHECKPOINT} in {run_dir} (not trained, or still training)")
    metrics = read_metrics(run_dir)
    try:
        model, state = checkpoint.load_model(path, "cpu")
        cfg = OmegaConf.create(state["meta"]["config"])
    except (CheckpointError, KeyError, TypeError, ValueError) as err:
        raise RunError(f"run {run_dir.name}: {err}") from err
    if int(state["epoch"]) < int(cfg.train.epochs):
        raise RunError(
            f"run {run_dir.name}: checkpoint at epoch {state['epoch']} of {cfg.train.epochs} "
            "(unfinished: launch the same training again to resume it)"
        )
    if last_iterate:
        if "last_model" not in state:
            raise RunError(
                f"run {run_dir.name}: no last-epoch weights in {CHECKPOINT} (not a weight-averaged run: "
                "train.average_last was 0, so its model is the last iterate)"
            )
        model.load_state_dict(state["last_model"])
    dev = pick_device(device)
    return TrainedRun(run_dir, cfg, model.to(dev), Scalers.from_state(state["scalers"]), dev, metrics)


def read_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise RunError(f"run {Path(run_dir).name}: no {METRICS} (failed, unfinished, or killed before scoring)")
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


def cells(target: str | Path) -> tuple[dict[tuple[str, str], list[TrainedRun]], list[str]]:
    """The finished runs under ``target`` grouped by (model, reg), sorted by seed; unusable runs, runs
    on another dataset than the first run's (one dataset per ensembles.json, as per table) and runs of
    another protocol than their cell's first are named problems."""
    groups: dict[tuple[str, str], list[TrainedRun]] = defaultdict(list)
    problems: list[str] = []
    first: TrainedRun | None = None
    for run_dir in run_dirs(target):
        try:
            run = load_run(run_dir)
        except USER_ERRORS as err:
            problems.append(str(err))
            continue
        first = first or run
        key = (run.metrics["model"], run.metrics["reg"])
        if run.data_fingerprint != first.data_fingerprint:
            problems.append(f"run {run_dir.name}: trained on other data than {first.run_dir.name}; left out")
            continue
        if groups[key] and run.cfg.train.name != groups[key][0].cfg.train.name:
            problems.append(f"run {run_dir.name}: another protocol than {groups[key][0].run_dir.name}; left out")
            continue
        groups[key].append(run)
    for group in groups.values():
        group.sort(key=lambda r: int(r.cfg.seed))
    return dict(groups), problems


def mean_prediction(members: list[TrainedRun], params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The members' physical (u, v) predictions, averaged."""
    preds = [m.predict(params) for m in members]
    return np.mean([p[0] for p in preds], axis=0), np.mean([p[1] for p in preds], axis=0)


def cell_identity(members: list[TrainedRun]) -> dict:
    """What names a cell of runs (one model x regularisation, its seeds) in a stage's JSON."""
    first = members[0].metrics
    return {
        "label": f"{first['label']} / {first['reg_label']}",
        "model": first["model"],
        "reg": first["reg"],
        "protocol": str(members[0].cfg.train.name),
        "seeds": [int(m.cfg.seed) for m in members],
    }
