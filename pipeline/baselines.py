"""Baselines stage: ``python -m pipeline.baselines [data=<preset>]``.

Fits every non-neural surrogate of ``conf/baselines.yaml`` (zero, nearest neighbour, RBF, POD + RBF)
on the training split, scores it on both splits with the training stage's eps (and under both
normalisers), measures the Euler residual of its prediction, and drives the FE submodel with its
boundary traces for the errors after zoom. Writes ``<results>/baselines/<data>/baselines.json``,
which ``pipeline.tables`` and ``pipeline.report`` show as reference rows. With ``mirror=[y]`` the
training split is first extended by its mirror images (fe/symmetry.py) and the file is
``baselines_mirror_y.json``, beside the meter; with ``mirror_mode=fold`` too, each baseline is fitted
to the samples folded to ys >= 0 and answers by reflection, as a folded network does
(``baselines_mirror_y_fold.json``).
"""

from __future__ import annotations

import json
import logging
from functools import partial
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from pipeline.artefacts import ConfigError, baselines_name, user_errors, write_json
from pipeline.mirror import fitted_baselines, fold_axes
from pipeline.provenance import record
from pipeline.runs import load_data
from pipeline.scoring import score_split
from pipeline.validate import check_baselines
from surrogate.losses import euler_residual_series
from surrogate.metrics import ErrorSpec
from surrogate.targets import FieldTarget

log = logging.getLogger(__name__)
FIELD = FieldTarget()  # a baseline interpolates the full zone fields


def run(cfg: DictConfig) -> Path:
    """Fit, score (and zoom) every configured baseline; write and return ``baselines.json``."""
    check_baselines(cfg)
    spec = ErrorSpec(**cfg.metrics)
    if not cfg.methods:
        raise ConfigError("methods: empty; configure at least one baseline (conf/baselines.yaml)")
    train, test = load_data(cfg)
    splits = {"train": train, "test": test}
    dt = float(train.t[1] - train.t[0])
    v_sigma = float(train.v.std())
    context = traces = None
    if cfg.zoom:
        from pipeline.zoom import DataContext, Traces, zoom_errors, zoom_split  # DOLFINx only when zooming

        traces = Traces(cfg.trace)  # before any work: a bad construction stops the stage here
        context = DataContext(train.path.parent, splits)  # the splits already loaded
    results: dict = {}
    mirror, fold = list(cfg.mirror), fold_axes(cfg)
    fitted = 0  # the samples fitted: mirror=[..] adds the images; mirror_mode=fold folds them instead
    tag = f", mirror {' '.join(mirror)}" + (" folded" if fold else "") if mirror else ""
    for name, pair, predictor in fitted_baselines(cfg, train):
        res: dict = {"label": pair.label + tag, "fit_seconds": pair.fit_seconds}
        fitted = pair.n_fitted
        for split, ds in splits.items():
            pred = predictor(ds.params)  # once per split: scored, then its traces drive the zoom
            scores = score_split(*pred, ds, FIELD, spec, v_sigma)
            if context is not None:
                zoom = partial(zoom_split, *pred, FIELD, ds, context.submodel, int(cfg.block_size))
                scores.update(zoom_errors(zoom(trace=traces.primary), ds, spec))
                traces.score_others(zoom, ds, spec, split, res.setdefault("by_trace", {}))
            for key, value in scores.items():
                res.setdefault(key, {})[split] = value
        res["physics"] = {"euler_residual": res.pop("euler_residual")}
        if hasattr(pair.u, "n_modes"):
            res["pod_modes"] = {"u": pair.u.n_modes, "v": pair.v.n_modes}
        results[str(name)] = res
        if cfg.progress:
            zoom = res.get("eps_zoom", {}).get("test")
            log.info(
                "%s: test eps u %.3g%%, v %.3g%%%s",
                pair.label,
                100 * res["eps"]["test"]["u"],
                100 * res["eps"]["test"]["v"],
                f"; after zoom u {100 * zoom['u']:.3g}%, v {100 * zoom['v']:.3g}%" if zoom else "",
            )
    content = {
        "data": str(cfg.data),
        "data_fingerprint": train.attrs.get("fingerprint"),
        "metrics": dict(spec.__dict__),
        **({"mirror": mirror} if mirror else {}),
        **({"mirror_mode": "fold"} if fold else {}),
    }
    meta = record(OmegaConf.to_yaml(cfg, resolve=True), content)
    doc = {
        **({"trace": traces.describe()} if context is not None else {}),
        "data": str(train.path.parent),
        "data_fingerprint": train.attrs.get("fingerprint"),
        "eps_definition": spec.caption(),
        "mirror": mirror,  # axes whose mirror images joined the training samples (fe/symmetry.py)
        "mirror_mode": "fold" if fold else "images",  # fold: the samples folded across them instead
        "fitted_samples": fitted,
        "reference_euler_residual": {s: euler_residual_series(ds.u, ds.v, dt, v_sigma) for s, ds in splits.items()},
        "methods": results,
        **{k: meta[k] for k in ("fingerprint", "versions", "git_revision", "created", "config")},
    }
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # the meter (baselines.json, read by the tables and the report) is always the plain training split's
    return write_json(out / baselines_name(mirror, bool(fold)), doc)


@hydra.main(version_base="1.3", config_path="../conf", config_name="baselines")
def main(cfg: DictConfig) -> None:
    with user_errors():
        path = run(cfg)
    doc = json.loads(path.read_text())
    print(f"\nbaselines on {doc['data']} ({doc['eps_definition']}):")
    for res in doc["methods"].values():
        e, z = res["eps"]["test"], res.get("eps_zoom", {}).get("test")
        zoom = f", after zoom u {100 * z['u']:.2f}% v {100 * z['v']:.2f}%" if z else ""
        print(f"  {res['label']:<20} test eps u {100 * e['u']:.2f}% v {100 * e['v']:.2f}%{zoom}")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
