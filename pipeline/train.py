"""Training stage entry point: ``python -m pipeline.train [model=...] [reg=...] [train=...]``.

:func:`train_run` is the plain function (tests call it); :func:`main` is its thin Hydra wrapper. The
run folder holds ``checkpoint.pt`` (resumed when the same run is launched again) and
``metrics.json`` (parameters, epoch time, peak memory, eps on train and test for u and v; with
``train.average_last`` > 0 the scores are the averaged weights', and ``last_iterate`` scores the
weights of the last epoch).
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from pipeline.artefacts import METRICS, user_errors, write_json
from pipeline.config import instantiate
from pipeline.mirror import check_fold, fit_run_correction, fold_axes, network_split, run_predictor
from pipeline.provenance import fingerprint, record
from pipeline.runs import build_model, geometry, load_data, model_spec, protocol, regularization, train_spec
from pipeline.scoring import SCORES, score_split
from pipeline.validate import check_train
from surrogate.losses import euler_residual_series
from surrogate.metrics import COLLAPSED, ErrorSpec
from surrogate.training import Trainer, pick_device

log = logging.getLogger(__name__)
# train.* knobs added after runs were made, with the value that reproduces those runs
KNOBS_OFF = {
    "average_last": 0,
    "warmup": 0.0,
    "schedule": "geometric",
    "clip_grad": None,
    "loss_weights": "uniform",
    "lbfgs_iters": 0,
}


def content(cfg: DictConfig, train: dataset.Dataset) -> dict:
    """What determines a training run's result (paths, progress and threads excluded); the lr is the
    one used, so a capped run has the fingerprint of the same run asked at the capped lr."""
    pick = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("model", "reg")}
    pick["model"].pop("lr_max", None)
    pick["train"] = protocol(cfg)
    for key, off in KNOBS_OFF.items():  # off: the same fingerprint as runs made before the knob
        if pick["train"].get(key, off) == off:
            pick["train"].pop(key, None)
    mirror = list(cfg.get("mirror") or [])
    return {
        **pick,
        **({"mirror": mirror} if mirror else {}),  # absent when off: runs made before the knob keep their fingerprint
        **({"mirror_mode": "fold"} if fold_axes(cfg) else {}),  # likewise: images, the first mode, is absent
        **({"precision": cfg.precision} if cfg.get("precision", "fp32") != "fp32" else {}),  # fp32: as before the knob
        "seed": int(cfg.seed),
        "device": str(cfg.device),
        "data_fingerprint": train.attrs.get("fingerprint"),
    }


def train_run(cfg: DictConfig, run_dir: str | Path, on_epoch=None) -> dict:
    """Train (or resume) one run of ``cfg`` in ``run_dir``; write and return its metrics."""
    check_train(cfg)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    threads = cfg.threads or os.environ.get("SLURM_CPUS_PER_TASK")  # a Slurm job: its cores
    if threads:
        torch.set_num_threads(int(threads))
    torch.use_deterministic_algorithms(True, warn_only=True)
    train, test = load_data(cfg)
    # the split the network is fitted to: the training samples and, with mirror=[..], their mirror images
    # (mirror_mode=images) or the samples folded into one half of the parameter space (fold)
    fit_set = network_split(cfg, train)
    geom = geometry(train)
    spec = model_spec(cfg, geom)
    model, reg = build_model(cfg, geom, spec), regularization(cfg)
    check_fold(cfg, model)  # before training
    what = content(cfg, train)
    meta = record(OmegaConf.to_yaml(cfg, resolve=True), what)
    adam = {**what, "train": {k: v for k, v in what["train"].items() if k != "lbfgs_iters"}}
    meta.update(
        # the L-BFGS phase follows the epochs: a checkpoint of the same run without it is this run's prefix
        resumes=[fingerprint(adam)] if adam != what else [],
        model_spec=spec,
        data_fingerprint=train.attrs.get("fingerprint"),
        threads=torch.get_num_threads(),
    )
    u, v = model.target.arrays(fit_set)
    plan = train_spec(cfg)
    if plan.lr < cfg.train.lr:
        log.info(
            "%s: train.lr=%g capped at model.lr_max=%g (half the lowest lr it was seen to die at)",
            model.label,
            cfg.train.lr,
            plan.lr,
        )
    trainer = Trainer(
        model,
        plan,
        reg,
        fit_set.params,
        u,
        v,
        float(train.t[1] - train.t[0]),
        run_dir,
        meta,
        int(cfg.seed),
        pick_device(str(cfg.device)),
        compile=bool(cfg.compile),
        precision=str(cfg.precision),
    )
    figures = trainer.fit(progress=bool(cfg.progress), on_epoch=on_epoch)
    spec = ErrorSpec(**cfg.metrics)
    v_sigma = trainer.scalers.v_sigma

    splits = {"train": train, "test": test}

    def predictions(net: torch.nn.Module) -> dict:
        run = run_predictor(cfg, net, trainer.scalers, trainer.device)
        return {s: run(ds.params) for s, ds in splits.items()}

    def scored(pred: dict) -> dict:
        return {s: score_split(*pred[s], ds, model.target, spec, v_sigma) for s, ds in splits.items()}

    pred = predictions(model)
    scores = scored(pred)
    compared: dict = {}
    if cfg.correction is not None:  # the network plus an RBF interpolation of its training residual
        fix, _ = fit_run_correction(
            instantiate(cfg.correction, "correction"),
            run_predictor(cfg, model, trainer.scalers, trainer.device),
            model.target,
            cfg,
            train,
            on_train=pred["train"],  # no second pass over the training split when it is all the RBF sees
        )
        hybrid = scored({s: fix(ds.params, *pred[s]) for s, ds in splits.items()})
        compared["residual_rbf"] = {
            "label": fix.label,
            **{key: {s: sc[key] for s, sc in hybrid.items()} for key in ("eps", "eps_by_normaliser", "eps_boundary")},
            "physics": {"euler_residual": {s: sc["euler_residual"] for s, sc in hybrid.items()}},
        }
    if trainer.last_state is not None:  # averaged weights: the last iterate is scored too, for comparison
        last = copy.deepcopy(model)
        last.load_state_dict(trainer.last_state)
        by_split = scored(predictions(last))
        compared["last_iterate"] = {k: {s: sc[k] for s, sc in by_split.items()} for k in ("eps", "euler_residual")}
    reference = euler_residual_series(*model.target.arrays(train), float(train.t[1] - train.t[0]), v_sigma)
    collapsed = [f for f in ("u", "v") if scores["train"]["spread"][f] < COLLAPSED]
    metrics = {
        "model": model.name,
        "label": model.label,
        "reg": reg.name,
        "reg_label": reg.label,
        "target": model.target.name,
        "time": model.time,
        "seed": int(cfg.seed),
        "data_fingerprint": train.attrs.get("fingerprint"),
        "lr": plan.lr,  # the peak lr used (train.lr capped at model.lr_max)
        "mirror": list(cfg.get("mirror") or []),  # axes whose mirror images joined the training samples
        # images: the network saw the images too; fold: it saw the samples folded to one side, and unfolds
        "mirror_mode": str(cfg.get("mirror_mode", "images")),
        "fitted_samples": int(fit_set.params.shape[0]),  # training samples the network saw, images included
        **figures,
        **{key: {s: sc[key] for s, sc in scores.items()} for key in SCORES},
        "eps_definition": spec.caption(),
        "collapsed": collapsed,  # fields whose network predicts one field for every p (see the warning)
        **compared,
        # trapezoidal Euler residual / sigma_v^2 of the predictions and of the training data itself
        "physics": {
            "euler_residual": {**{s: sc["euler_residual"] for s, sc in scores.items()}, "reference": reference}
        },
        "data": str(train.path.parent),
        "run_dir": str(run_dir),
        "threads": meta["threads"],
        **{k: meta[k] for k in ("fingerprint", "versions", "git_revision", "created")},
        "config": meta["config"],
    }
    write_json(run_dir / METRICS, metrics)
    for f in collapsed:
        log.warning(
            "%s/%s: the %s network collapsed: it predicts the same field for every p (spread over p %.1e of "
            "the data's); its training diverged at lr %g: lower train.lr or model.lr_max (README, The quick protocol)",
            model.label,
            reg.label,
            f,
            scores["train"]["spread"][f],
            plan.lr,
        )
    hybrid = metrics.get("residual_rbf")
    log.info(
        "%s/%s: eps test u %.3g%%, v %.3g%%%s (%d parameters, %.3f s/epoch) -> %s",
        model.label,
        reg.label,
        100 * metrics["eps"]["test"]["u"],
        100 * metrics["eps"]["test"]["v"],
        f"; with its residual RBF u {100 * hybrid['eps']['test']['u']:.3g}%, v {100 * hybrid['eps']['test']['v']:.3g}%"
        if hybrid
        else "",
        metrics["parameters"],
        metrics["mean_epoch_seconds"] or 0.0,
        run_dir,
    )
    return metrics


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float:
    with user_errors():
        metrics = train_run(cfg, HydraConfig.get().runtime.output_dir)
    return metrics["eps"]["test"]["u"]


if __name__ == "__main__":
    main()
