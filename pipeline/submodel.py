"""Submodel stage: ``python -m pipeline.submodel [target=<run or sweep folder>]``.

For every trained run under ``target``: the network predicts boundary traces of u and v on the loop
of Omega' (boundary models directly; full-field models through their fields' values on the loop), an
FE model of Omega' alone re-solves the zone for the train and test samples, and eps "after zoom" is
computed exactly as in training. Beyond the paper, the same file holds the error of the trace alone,
the interior error, and the wall time of surrogate + submodel against the full FE solve of the same
test samples. Writes ``submodel.json`` (and ``zoom_example.npz`` for the report) in each run folder;
runs that fail are reported by name and the others carry on.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from fe import dataset
from pipeline.provenance import record
from pipeline.runs import RunError, load_run, run_dirs
from pipeline.train import write_json_atomic
from pipeline.zoom import INTERPOLATION, DataContext, zoom_errors, zoom_split
from surrogate.metrics import ErrorSpec

log = logging.getLogger(__name__)
RESULT = "submodel.json"
EXAMPLE = "zoom_example.npz"


def submodel_run(run_dir: str | Path, cfg: DictConfig, contexts: dict[Path, DataContext] | None = None) -> dict:
    """The submodel stage for one run folder; writes and returns its ``submodel.json``. ``contexts``
    keeps each dataset's splits and FE models across the runs of a sweep."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    data_root = Path(cfg.submodel.data_dir or run.cfg.paths.data_dir) / str(run.cfg.data)
    contexts = {} if contexts is None else contexts
    if data_root not in contexts:
        try:
            contexts[data_root] = DataContext(data_root)
        except dataset.DatasetError as err:
            raise RunError(f"run {run_dir.name}: {err}") from err
    ctx = contexts[data_root]
    splits = ctx.splits
    spec = ErrorSpec(**run.cfg.metrics)
    block = int(cfg.submodel.block_size)
    out: dict = {
        "run": run_dir.name,
        "run_dir": str(run_dir),
        "model": run.model.name,
        "label": run.model.label,
        "reg": str(run.cfg.reg.name),
        "reg_label": str(run.cfg.reg.label),
        "eps_zoom": {},
        "eps_zoom_interior": {},
        "eps_trace": {},
        "eps_zoom_t": {},
        "eps_definition": spec.caption(),
        "interpolation": INTERPOLATION,
        "data": str(data_root),
    }
    for split, ds in splits.items():
        start = time.perf_counter()
        pred_u, pred_v = run.predict(ds.params)
        surrogate_s = time.perf_counter() - start
        res = zoom_split(pred_u, pred_v, run.model.target, ds, ctx.submodel, block)
        for key, value in zoom_errors(res, ds, spec).items():
            out[key][split] = value
        if split == "test":
            k = int(cfg.submodel.example_sample) % ds.params.shape[0]
            example = {
                "t": ds.t,
                "x": ds.x,
                "y": ds.y,
                "params": ds.params[k],
                "u_ref": ds.u[k],
                "u_zoom": res["zoom_u"][k],
                "boundary_index": ds.boundary_index,
            }
            if run.model.target == "field":
                example["u_pred"] = pred_u[k]
            _save_npz(run_dir / EXAMPLE, example)
            timing = {
                "samples": int(ds.params.shape[0]),
                "surrogate_s": surrogate_s,
                "submodel_s": res["submodel_s"],
            }
            if cfg.submodel.time_full_solve:
                timing["full_fe_s"] = ctx.full_fe_seconds(block)
                timing["speedup"] = timing["full_fe_s"] / (timing["surrogate_s"] + timing["submodel_s"])
            out["timing"] = timing
    meta = record(OmegaConf.to_yaml(cfg.submodel), {"run": out["run"], "submodel": dict(cfg.submodel)})
    out.update({k: meta[k] for k in ("versions", "git_revision", "created")})
    write_json_atomic(out, run_dir / RESULT)
    zt = out["eps_zoom"]["test"]
    log.info(
        "%s/%s after zoom: test eps u %.3g%%, v %.3g%% (trace u %.3g%%); speed-up %s",
        out["label"],
        out["reg_label"],
        100 * zt["u"],
        100 * zt["v"],
        100 * out["eps_trace"]["test"]["u"],
        f"{out['timing'].get('speedup', float('nan')):.1f}x",
    )
    return out


def _save_npz(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def run(cfg: DictConfig) -> tuple[dict[str, dict], list[str]]:
    """Every run under ``cfg.target``: results by run name, and the problems met (named)."""
    results, problems, contexts = {}, [], {}
    for run_dir in run_dirs(cfg.target):
        try:
            results[run_dir.name] = submodel_run(run_dir, cfg, contexts)
        except (RunError, dataset.DatasetError) as err:
            problems.append(str(err))
            log.error("%s", err)
    if not results and not problems:
        problems.append(f"{cfg.target}: no run folders found")
    return results, problems


@hydra.main(version_base="1.3", config_path="../conf", config_name="submodel")
def main(cfg: DictConfig) -> None:
    results, problems = run(cfg)
    print(f"\nsubmodel: {len(results)} run(s) processed under {cfg.target}")
    for name, res in results.items():
        zt, timing = res["eps_zoom"]["test"], res["timing"]
        speed = f", {timing['speedup']:.1f}x the full FE solve" if "speedup" in timing else ""
        print(
            f"  {name}: test eps after zoom u {100 * zt['u']:.2f}%, v {100 * zt['v']:.2f}%{speed}"
            f" -> {Path(res['run_dir']) / RESULT}"
        )
    for p in problems:
        print(f"  problem: {p}")
    print("next: make report (Markdown report and figures), make tables SWEEP=<sweep folder>")
    if problems and not results:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
