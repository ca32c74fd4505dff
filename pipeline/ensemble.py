"""Seed ensembles (beyond the paper): ``python -m pipeline.ensemble [target=<sweep folder>]``.

A cell of a sweep trained under several seeds holds several networks of the same model; their mean
prediction is a surrogate too. This stage averages, for every (model, regularisation) with at least
``ensemble.min_members`` finished seeds on one dataset and protocol, the members' physical (u, v)
predictions, and scores the mean exactly as the training stage scores a network (eps, both
normalisers, the boundary trace, spread, Euler residual) and, as the baselines stage does, after
zoom: its boundary traces drive the FE submodel. It measures how much of a network's error is the
seed's (what averaging removes), and whether a few networks together beat the RBF meter. Writes
``<target>/ensembles.json``, which ``pipeline.tables`` shows as a table of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from pipeline.artefacts import ENSEMBLES, RunError, user_errors, write_json
from pipeline.provenance import record
from pipeline.runs import TrainedRun, cell_identity, cells, mean_prediction
from pipeline.scoring import score_split
from pipeline.validate import check_ensemble
from surrogate.metrics import ErrorSpec

log = logging.getLogger(__name__)


def score_cell(members: list[TrainedRun], cfg: DictConfig, splits: dict, context=None, traces=None) -> dict:
    """The ensemble of ``members`` scored on ``splits`` (after zoom too when given a ``context``)."""
    spec = ErrorSpec(**cfg.metrics)
    first = members[0]
    v_sigma = first.scalers.v_sigma  # the training velocities' std the training stage scored with
    out: dict = {
        **cell_identity(members),
        "members": [m.run_dir.name for m in members],
        "member_eps": {s: {f: [m.metrics["eps"][s][f] for m in members] for f in "uv"} for s in splits},
    }
    for ds in splits.values():
        for m in members:
            m.check_data(ds)

    def scored(predict: Callable[[str, dataset.Dataset], tuple[np.ndarray, np.ndarray]]) -> dict:
        """The predictions ``predict(split, ds)`` scored on every split, as a network is, after zoom too."""
        res: dict = {}
        for split, ds in splits.items():
            pred = predict(split, ds)
            scores = score_split(*pred, ds, first.model.target, spec, v_sigma)
            if context is not None:
                from pipeline.zoom import zoom_errors, zoom_split

                block = int(cfg.submodel.block_size)
                zoom = partial(zoom_split, *pred, first.model.target, ds, context.submodel, block)
                scores.update(zoom_errors(zoom(trace=traces.primary), ds, spec))
                traces.score_others(zoom, ds, spec, split, res.setdefault("by_trace", {}))
            for key, value in scores.items():
                res.setdefault(key, {})[split] = value
        res["physics"] = {"euler_residual": res.pop("euler_residual")}
        return res

    out.update(scored(lambda split, ds: mean_prediction(members, ds.params)))
    refits = [m.fitted_correction(splits["train"]) for m in members]
    if all(r is not None for r in refits):  # every member scored with a residual correction: the hybrids averaged
        fixes, fitted = [r[0] for r in refits], [r[1] for r in refits]

        def hybrids(split: str, ds: dataset.Dataset) -> tuple[np.ndarray, np.ndarray]:
            own = fitted if split == "train" else [m.predict(ds.params) for m in members]
            preds = [f(ds.params, *p) for f, p in zip(fixes, own, strict=True)]
            return np.mean([p[0] for p in preds], axis=0), np.mean([p[1] for p in preds], axis=0)

        out["residual_rbf"] = {
            "member_eps": {
                s: {f: [m.metrics["residual_rbf"]["eps"][s][f] for m in members] for f in "uv"} for s in splits
            },
            **scored(hybrids),
        }
    return out


def run(cfg: DictConfig) -> Path:
    """Score the ensemble of every cell with enough seeds under ``cfg.target``; write ``ensembles.json``."""
    check_ensemble(cfg)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    groups, problems = cells(cfg.target)
    need = int(cfg.ensemble.min_members)
    kept = {k: g for k, g in groups.items() if len(g) >= need}
    problems += [
        f"{k[0]}-{k[1]}: {len(g)} seed(s), fewer than ensemble.min_members={need}"
        for k, g in groups.items()
        if k not in kept
    ]
    if not kept:
        raise RunError(
            f"target={cfg.target}: no cell with ensemble.min_members={need} finished seeds"
            + "".join(f"\n  - {p}" for p in problems)
            + "\ntrain more seeds first, e.g. python -m pipeline.train -m seed=0,1,2"
        )
    first = next(iter(kept.values()))[0]
    data_root = Path(cfg.submodel.data_dir or first.cfg.paths.data_dir) / str(first.cfg.data)
    context = traces = None
    if cfg.ensemble.zoom:
        from pipeline.zoom import DataContext, Traces  # DOLFINx only when zooming

        traces = Traces(cfg.trace)
        context = DataContext(data_root)
        splits = context.splits
    else:
        from pipeline.runs import load_splits

        splits = dict(zip(("train", "test"), load_splits(data_root), strict=True))
    methods = {}
    for (model, reg), members in kept.items():
        res = score_cell(members, cfg, splits, context, traces)
        methods[f"{model}-{reg}"] = res
        e, single, zoom = res["eps"]["test"], res["member_eps"]["test"], res.get("eps_zoom", {}).get("test")
        log.info(
            "%s, mean of %d seeds: test eps u %.3g%%, v %.3g%% (members: u %.3g%%, v %.3g%% on average)%s",
            *(res["label"], len(members), 100 * e["u"], 100 * e["v"]),
            *(100 * np.mean(single["u"]), 100 * np.mean(single["v"])),
            f"; after zoom u {100 * zoom['u']:.3g}%, v {100 * zoom['v']:.3g}%" if zoom else "",
        )
    settings = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("ensemble", "metrics", "trace")}
    content = {
        **settings,
        "runs": {f"{k[0]}-{k[1]}": [m.metrics.get("fingerprint") for m in g] for k, g in kept.items()},
    }
    meta = record(OmegaConf.to_yaml(settings), content)
    doc = {
        **({"trace": traces.describe()} if traces is not None else {}),
        "data": str(data_root),
        "data_fingerprint": first.data_fingerprint,
        "eps_definition": ErrorSpec(**cfg.metrics).caption(),
        "methods": methods,
        "problems": problems,
        **{k: meta[k] for k in ("fingerprint", "versions", "git_revision", "created", "config")},
    }
    return write_json(Path(cfg.target) / ENSEMBLES, doc)


@hydra.main(version_base="1.3", config_path="../conf", config_name="ensemble")
def main(cfg: DictConfig) -> None:
    with user_errors():
        path = run(cfg)
    print(f"written: {path} (python -m pipeline.tables {cfg.target} shows it)")


if __name__ == "__main__":
    main()
