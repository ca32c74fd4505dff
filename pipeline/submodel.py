"""Submodel stage: ``python -m pipeline.submodel [target=<run or sweep folder>]``.

For every trained run under ``target``: the network predicts boundary traces of u and v on the loop
of Omega' (boundary models directly; full-field models through their fields' values on the loop), an
FE model of Omega' alone re-solves the zone for the train and test samples, and eps "after zoom" is
computed exactly as in training. Beyond the paper, the same file holds the error of the trace alone,
the interior error, the errors after zoom under the other trace constructions of ``trace.compare``
(``by_trace``: how the predicted u and v become boundary data in time, ``conf/trace/``), the wall
time of surrogate + submodel against the full FE solve of the same test samples, and for
weight-averaged runs (``train.average_last``) the errors after zoom of the last epoch's weights too
(``submodel.last_iterate``), and for runs scored with a ``correction`` the errors after zoom of the
network plus its residual RBF (``submodel.residual_rbf``). Writes ``submodel.json`` (and
``zoom_example.npz`` for the report) in each run folder; runs that fail are reported by name and the
others carry on. Honours ``device`` (the network's), ``threads``, ``progress``, ``trace`` and
``metrics.*`` (the eps after zoom); a run is refused on data other than it was trained on.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from fe import dataset
from pipeline.artefacts import (
    EXAMPLE,
    SUBMODEL,
    USER_ERRORS,
    RunError,
    save_npz,
    user_errors,
    write_json,
)
from pipeline.config import instantiate
from pipeline.provenance import record
from pipeline.runs import TrainedRun, load_run, run_dirs
from pipeline.validate import check_submodel
from pipeline.zoom import INTERPOLATION, DataContext, Traces, zoom_errors, zoom_split
from surrogate.metrics import ErrorSpec

log = logging.getLogger(__name__)


def parent_schemes(cfg: DictConfig) -> dict[str, object]:
    """The other parents to time (``submodel.parent_schemes``: name -> time scheme), each built from
    its ``_target_``; one that cannot be built is a ConfigError naming it."""
    return {str(k): instantiate(v, f"submodel.parent_schemes.{k}") for k, v in cfg.submodel.parent_schemes.items()}


def submodel_run(
    run_dir: str | Path,
    cfg: DictConfig,
    contexts: dict[Path, DataContext] | None = None,
    parents: dict[str, object] | None = None,
    traces: Traces | None = None,
) -> dict:
    """The submodel stage for one run folder; writes and returns its ``submodel.json``. ``contexts``
    keeps each dataset's splits and FE models across the runs of a sweep; ``parents`` are the built
    ``submodel.parent_schemes`` and ``traces`` the built ``trace`` constructions (built here when
    not given)."""
    run_dir = Path(run_dir)
    parents = parent_schemes(cfg) if parents is None else parents
    traces = Traces(cfg.trace) if traces is None else traces
    run = load_run(run_dir, str(cfg.device))
    data_root = Path(cfg.submodel.data_dir or run.cfg.paths.data_dir) / str(run.cfg.data)
    contexts = {} if contexts is None else contexts
    if data_root not in contexts:
        try:
            contexts[data_root] = DataContext(data_root)
        except dataset.DatasetError as err:
            raise RunError(f"run {run_dir.name}: {err}") from err
    ctx = contexts[data_root]
    splits = ctx.splits
    for ds in splits.values():
        run.check_data(ds)
    spec = ErrorSpec(**cfg.metrics)
    block = int(cfg.submodel.block_size)
    out: dict = {
        "run": run_dir.name,
        "run_dir": str(run_dir),
        "model": run.model.name,
        "label": run.model.label,
        "reg": run.metrics["reg"],
        "reg_label": run.metrics["reg_label"],
        "data_fingerprint": run.data_fingerprint,
        "eps_zoom": {},
        "eps_zoom_interior": {},
        "eps_trace": {},
        "eps_zoom_t": {},
        "by_trace": {},
        "eps_definition": spec.caption(),
        "interpolation": INTERPOLATION,
        "trace": traces.describe(),
        "data": str(data_root),
    }
    for split, ds in splits.items():
        start = time.perf_counter()
        pred_u, pred_v = run.predict(ds.params)
        surrogate_s = time.perf_counter() - start
        zoom = partial(zoom_split, pred_u, pred_v, run.model.target, ds, ctx.submodel, block)
        res = zoom(trace=traces.primary)
        for key, value in zoom_errors(res, ds, spec).items():
            out[key][split] = value
        traces.score_others(zoom, ds, spec, split, out["by_trace"])
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
                **({} if ds.z is None else {"z": ds.z}),
            }
            if run.model.target.full_field:
                example["u_pred"] = pred_u[k]
            save_npz(run_dir / EXAMPLE, example)
            timing = {
                "samples": int(ds.params.shape[0]),
                "surrogate_s": surrogate_s,
                "submodel_s": res["submodel_s"],
            }
            if cfg.submodel.time_full_solve:
                ours = timing["surrogate_s"] + timing["submodel_s"]
                timing["full_fe_s"] = ctx.full_fe_seconds(block)
                timing["speedup"] = timing["full_fe_s"] / ours
                timing["parent_scheme"] = repr(ctx.job.scheme)
                timing["other_parents"] = {}
                for name, scheme in parents.items():
                    seconds = ctx.full_fe_seconds(block, scheme)
                    other = {"scheme": repr(scheme), "full_fe_s": seconds, "speedup": seconds / ours}
                    timing["other_parents"][name] = other
            out["timing"] = timing
    if cfg.submodel.last_iterate and "last_iterate" in run.metrics:
        out["last_iterate"] = _last_iterate(run_dir, cfg, ctx, spec, traces)
    refit = run.fitted_correction(ctx.splits["train"]) if cfg.submodel.residual_rbf else None
    if refit is not None:
        out["residual_rbf"] = _corrected(run, *refit, ctx, spec, traces, block)
    settings = {k: OmegaConf.to_container(cfg[k], resolve=True) for k in ("submodel", "metrics", "trace")}
    content = {**settings, "run_fingerprint": run.metrics.get("fingerprint"), "data_fingerprint": run.data_fingerprint}
    meta = record(OmegaConf.to_yaml(settings), content)
    out.update({k: meta[k] for k in ("config", "fingerprint", "versions", "git_revision", "created")})
    write_json(run_dir / SUBMODEL, out)
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


def _last_iterate(run_dir: Path, cfg: DictConfig, ctx: DataContext, spec: ErrorSpec, traces: Traces) -> dict:
    """A weight-averaged run's last epoch's weights scored after zoom like its model: the paired
    comparison that ``metrics.json``'s ``last_iterate`` makes for the network alone."""
    last = load_run(run_dir, str(cfg.device), last_iterate=True)
    out: dict = {"eps_zoom": {}, "eps_trace": {}}
    for split, ds in ctx.splits.items():
        pred_u, pred_v = last.predict(ds.params)
        res = zoom_split(
            pred_u, pred_v, last.model.target, ds, ctx.submodel, int(cfg.submodel.block_size), traces.primary
        )
        errors = zoom_errors(res, ds, spec)
        for key in out:
            out[key][split] = errors[key]
    return out


def _corrected(
    run: TrainedRun, fix, fitted: tuple, ctx: DataContext, spec: ErrorSpec, traces: Traces, block: int
) -> dict:
    """The network plus the RBF interpolation of its training residual (``fix``: the run's correction
    refitted on the training split, where the network predicted ``fitted``) scored after zoom like
    the network, under every trace construction: the pair of ``metrics.json``'s ``residual_rbf``."""
    out: dict = {"label": fix.label, "eps_zoom": {}, "eps_trace": {}, "by_trace": {}}
    for split, ds in ctx.splits.items():
        pred = fix(ds.params, *(fitted if split == "train" else run.predict(ds.params)))
        zoom = partial(zoom_split, *pred, run.model.target, ds, ctx.submodel, block)
        errors = zoom_errors(zoom(trace=traces.primary), ds, spec)
        for key in ("eps_zoom", "eps_trace"):
            out[key][split] = errors[key]
        traces.score_others(zoom, ds, spec, split, out["by_trace"])
    return out


def run(cfg: DictConfig) -> tuple[dict[str, dict], list[str]]:
    """Every run under ``cfg.target``: results by run name, and the problems met (named). One broken
    run never stops the others: a user error is reported by its message, anything else (a bug) with
    its traceback in the log."""
    check_submodel(cfg)
    parents = parent_schemes(cfg)  # built once, before any work: a bad one stops the stage here
    traces = Traces(cfg.trace)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    results, problems, contexts = {}, [], {}
    dirs = run_dirs(cfg.target)
    for run_dir in tqdm(dirs, desc="submodel", unit="run", disable=not cfg.progress or len(dirs) < 2):
        try:
            results[run_dir.name] = submodel_run(run_dir, cfg, contexts, parents, traces)
        except USER_ERRORS as err:
            problems.append(str(err))
            log.error("%s", err)
        except Exception as err:
            problems.append(f"run {run_dir.name}: failed ({type(err).__name__}: {err}); traceback in the log")
            log.exception("run %s failed", run_dir.name)
    if not results and not problems:
        problems.append(f"{cfg.target}: no run folders found")
    return results, problems


@hydra.main(version_base="1.3", config_path="../conf", config_name="submodel")
def main(cfg: DictConfig) -> None:
    with user_errors():
        results, problems = run(cfg)
    print(f"\nsubmodel: {len(results)} run(s) processed under {cfg.target}")
    for name, res in results.items():
        zt, timing = res["eps_zoom"]["test"], res["timing"]
        speed = f", {timing['speedup']:.1f}x the full FE solve" if "speedup" in timing else ""
        print(
            f"  {name}: test eps after zoom u {100 * zt['u']:.2f}%, v {100 * zt['v']:.2f}%{speed}"
            f" -> {Path(res['run_dir']) / SUBMODEL}"
        )
    for p in problems:
        print(f"  problem: {p}")
    print("next: make report (Markdown report and figures), make tables SWEEP=<sweep folder>")
    if problems and not results:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
