"""Training stage entry point: ``python -m pipeline.train [model=...] [reg=...] [train=...]``.

:func:`train_run` is the plain function (tests call it); :func:`main` is its thin Hydra wrapper. The
run folder holds ``checkpoint.pt`` (resumed when the same run is launched again) and
``metrics.json`` (parameters, epoch time, peak memory, eps on train and test for u and v).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from fe.zone import boundary_trace
from pipeline.provenance import record
from surrogate.losses import euler_residual_series
from surrogate.metrics import ErrorSpec, epsilon
from surrogate.models import Geometry, TwoFieldSurrogate
from surrogate.training import Trainer, TrainSpec, pick_device

log = logging.getLogger(__name__)
METRICS = "metrics.json"


def targets(ds: dataset.Dataset, target: str) -> tuple[np.ndarray, np.ndarray]:
    """What a model of this target learns: the zone fields or their boundary traces."""
    return (ds.u, ds.v) if target == "field" else (ds.boundary_u, ds.boundary_v)


def load_data(cfg: DictConfig) -> tuple[dataset.Dataset, dataset.Dataset]:
    root = Path(cfg.paths.data_dir) / str(cfg.data)
    try:
        return dataset.load(root / "train.h5"), dataset.load(root / "test.h5")
    except dataset.DatasetError as err:
        raise dataset.DatasetError(
            f"data={cfg.data}: {err}. To generate it: python -m pipeline.data "
            f"dataset={cfg.data} paths.data_dir={cfg.paths.data_dir}"
        ) from err


def geometry(ds: dataset.Dataset) -> Geometry:
    return Geometry(ds.t.size, ds.y.size, ds.x.size, ds.boundary_index.shape[0])


SCORES = ("eps", "eps_t", "eps_by_normaliser", "eps_boundary")


def score_split(
    u_hat: np.ndarray, v_hat: np.ndarray, ds: dataset.Dataset, target: str, spec: ErrorSpec, v_sigma: float
) -> dict:
    """What is recorded of one split's prediction (a network's or a baseline's): eps and eps(t) under
    ``spec``, eps under both normalisers, eps of the boundary trace it would hand to the submodel,
    and the trapezoidal Euler residual / sigma_v^2."""
    other = ErrorSpec("sample") if spec.normaliser == "time" else ErrorSpec("time", spec.active_threshold)
    out: dict = {key: {} for key in SCORES}
    for f, pred, ref in zip(("u", "v"), (u_hat, v_hat), targets(ds, target), strict=True):
        e = epsilon(pred, ref, spec)
        out["eps"][f], out["eps_t"][f] = e["eps"], e["eps_t"]
        out["eps_by_normaliser"][f] = {spec.normaliser: e["eps"], other.normaliser: epsilon(pred, ref, other)["eps"]}
        if target == "field":
            trace = boundary_trace(pred, ds.boundary_index)
            out["eps_boundary"][f] = epsilon(trace, getattr(ds, f"boundary_{f}"), spec)["eps"]
        else:  # a boundary model predicts the trace itself
            out["eps_boundary"][f] = e["eps"]
    out["euler_residual"] = euler_residual_series(u_hat, v_hat, float(ds.t[1] - ds.t[0]), v_sigma)
    return out


def check_reg(reg: DictConfig) -> None:
    if reg.batch_norm and reg.euler > 0:
        raise ValueError(
            f"reg={reg.name}: batch_norm with euler > 0 is not allowed (the paper excludes "
            "BN & E: batch normalisation makes the Euler finite differences wrong)"
        )
    if reg.euler < 0:
        raise ValueError(f"reg.euler={reg.euler}: must be >= 0")


def build_model(cfg: DictConfig, geom: Geometry) -> TwoFieldSurrogate:
    """The configured model, initialised from ``cfg.seed``."""
    check_reg(cfg.reg)
    torch.manual_seed(int(cfg.seed))
    return hydra.utils.instantiate(
        cfg.model,
        geometry=geom,
        batch_norm=bool(cfg.reg.batch_norm),
        shared=bool(cfg.reg.shared),
        _convert_="object",
    )


def content(cfg: DictConfig, train: dataset.Dataset) -> dict:
    """What determines a training run's result (paths, progress and threads excluded)."""
    pick = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "reg", "train")}
    return {
        **pick,
        "seed": int(cfg.seed),
        "device": str(cfg.device),
        "data_fingerprint": train.attrs.get("fingerprint"),
    }


def write_json_atomic(obj: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def train_run(cfg: DictConfig, run_dir: str | Path, on_epoch=None) -> dict:
    """Train (or resume) one run of ``cfg`` in ``run_dir``; write and return its metrics."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    train, test = load_data(cfg)
    geom = geometry(train)
    model = build_model(cfg, geom)
    run_content = content(cfg, train)
    meta = record(OmegaConf.to_yaml(cfg, resolve=True), run_content)
    meta["geometry"] = dataclasses.asdict(geom)
    u, v = targets(train, model.target)
    trainer = Trainer(
        model,
        TrainSpec(**{k: v for k, v in cfg.train.items() if k != "name"}),
        float(cfg.reg.euler),
        train.params,
        u,
        v,
        float(train.t[1] - train.t[0]),
        run_dir,
        meta,
        int(cfg.seed),
        pick_device(str(cfg.device)),
    )
    figures = trainer.fit(progress=bool(cfg.progress), on_epoch=on_epoch)
    spec = ErrorSpec(**cfg.metrics)
    v_sigma = trainer.scalers.v_sigma
    scores = {
        split: score_split(*trainer.predict(ds.params), ds, model.target, spec, v_sigma)
        for split, ds in (("train", train), ("test", test))
    }
    reference = euler_residual_series(u, v, float(train.t[1] - train.t[0]), v_sigma)
    metrics = {
        "model": model.name,
        "label": model.label,
        "reg": str(cfg.reg.name),
        "reg_label": str(cfg.reg.label),
        "target": model.target,
        "time": model.time,
        "seed": int(cfg.seed),
        "data_fingerprint": train.attrs.get("fingerprint"),
        **figures,
        **{key: {s: sc[key] for s, sc in scores.items()} for key in SCORES},
        "eps_definition": spec.caption(),
        # trapezoidal Euler residual / sigma_v^2 of the predictions and of the training data itself
        "physics": {
            "euler_residual": {**{s: sc["euler_residual"] for s, sc in scores.items()}, "reference": reference}
        },
        "data": str(train.path.parent),
        "run_dir": str(run_dir),
        **{k: meta[k] for k in ("fingerprint", "versions", "git_revision", "created")},
        "config": meta["config"],
    }
    write_json_atomic(metrics, run_dir / METRICS)
    log.info(
        "%s/%s: eps test u %.3g%%, v %.3g%% (%d parameters, %.3f s/epoch) -> %s",
        model.label,
        cfg.reg.label,
        100 * metrics["eps"]["test"]["u"],
        100 * metrics["eps"]["test"]["v"],
        metrics["parameters"],
        metrics["mean_epoch_seconds"] or 0.0,
        run_dir,
    )
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    metrics = train_run(cfg, HydraConfig.get().runtime.output_dir)
    return metrics["eps"]["test"]["u"]


if __name__ == "__main__":
    main()
