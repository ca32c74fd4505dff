"""Data stage entry point: ``python -m pipeline.data dataset=<preset> [overrides]``.

Thin Hydra wrapper around :func:`run`, which tests call with a composed config.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mpi4py import MPI

import hydra
from omegaconf import DictConfig, OmegaConf

from fe.generate import DataJob, generate
from fe.spec import MeshSpec, Physics, Sampling, SolverSpec, build
from pipeline.mpi import abort_on_error, quiet_other_ranks
from pipeline.provenance import record

log = logging.getLogger(__name__)


def data_job(cfg: DictConfig) -> DataJob:
    """Typed, checked specs from the config; the scheme built from its ``_target_``."""
    solver = OmegaConf.to_container(cfg.solver, resolve=True)
    scheme = hydra.utils.instantiate(solver.pop("scheme"))
    return DataJob(
        physics=build(Physics, "physics", OmegaConf.to_container(cfg.physics, resolve=True)),
        mesh=build(MeshSpec, "mesh", OmegaConf.to_container(cfg.mesh, resolve=True)),
        sampling=build(Sampling, "sampling", OmegaConf.to_container(cfg.sampling, resolve=True)),
        solver=build(SolverSpec, "solver", solver),
        scheme=scheme,
    )


def content(cfg: DictConfig) -> dict:
    """The part of the config that determines the data (execution settings excluded)."""
    solver = OmegaConf.to_container(cfg.solver, resolve=True)
    for key in SolverSpec.EXECUTION_KEYS:
        solver.pop(key, None)
    return {
        "physics": OmegaConf.to_container(cfg.physics, resolve=True),
        "mesh": OmegaConf.to_container(cfg.mesh, resolve=True),
        "sampling": OmegaConf.to_container(cfg.sampling, resolve=True),
        "solver": solver,
    }


def dataset_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.data_dir) / str(cfg.preset)


def run(cfg: DictConfig, on_block=None) -> dict[str, Path]:
    """Generate (or finish) the train and test splits of ``cfg``; return their paths."""
    job = data_job(cfg)
    data_content = content(cfg)
    meta = record(OmegaConf.to_yaml(data_content), data_content)
    out = dataset_dir(cfg)
    paths = generate(job, out, meta, progress=bool(cfg.progress), on_block=on_block)
    if cfg.export.sample is not None:
        from fe.export import export_sample
        from fe.sampling import design
        from fe.spec import check_dataset

        params, _ = design(job.sampling, check_dataset(job.physics, job.mesh, job.sampling))["train"]
        target = out / "paraview" / f"train_{int(cfg.export.sample)}.xdmf"
        export_sample(job, params[int(cfg.export.sample)], target)
        log.info("full-domain fields of train sample %s: %s", cfg.export.sample, target)
    if MPI.COMM_WORLD.rank == 0:
        log.info("dataset ready: %s", ", ".join(str(p) for p in paths.values()))
    return paths


@hydra.main(version_base="1.3", config_path="../conf", config_name="data")
def main(cfg: DictConfig) -> None:
    with abort_on_error():
        run(cfg)


if __name__ == "__main__":
    quiet_other_ranks()
    main()
