"""Data stage entry point: ``python -m pipeline.data dataset=<preset> [overrides]``.

Thin Hydra wrapper around :func:`run`, which tests call with a composed config.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mpi4py import MPI

import hydra
from omegaconf import DictConfig, OmegaConf

from fe.generate import generate
from fe.sampling import design
from fe.spec import check_dataset
from pipeline.artefacts import user_errors
from pipeline.datajob import data_content, data_job
from pipeline.mpi import abort_on_error, quiet_other_ranks
from pipeline.provenance import record
from pipeline.validate import check_data

log = logging.getLogger(__name__)


def dataset_dir(cfg: DictConfig) -> Path:
    return Path(cfg.paths.data_dir) / str(cfg.preset)


def run(cfg: DictConfig, on_block=None) -> dict[str, Path]:
    """Generate (or finish) the train and test splits of ``cfg``; return their paths."""
    check_data(cfg)
    job = data_job(cfg)
    check_dataset(job.physics, job.mesh, job.sampling)  # every spec error before any file is touched
    content = data_content(cfg)
    meta = record(OmegaConf.to_yaml(content), content)
    out = dataset_dir(cfg)
    paths = generate(job, out, meta, progress=bool(cfg.progress), on_block=on_block)
    if cfg.export.sample is not None:
        from fe.export import export_sample

        params, _ = design(job.sampling, check_dataset(job.physics, job.mesh, job.sampling))["train"]
        target = out / "paraview" / f"train_{int(cfg.export.sample)}.xdmf"
        export_sample(job, params[int(cfg.export.sample)], target)
        log.info("full-domain fields of train sample %s: %s", cfg.export.sample, target)
    if MPI.COMM_WORLD.rank == 0:
        log.info("dataset ready: %s", ", ".join(str(p) for p in paths.values()))
    return paths


@hydra.main(version_base="1.3", config_path="../conf", config_name="data")
def main(cfg: DictConfig) -> None:
    with user_errors(), abort_on_error():
        run(cfg)


if __name__ == "__main__":
    quiet_other_ranks()
    main()
