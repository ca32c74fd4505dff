"""The data stage's config turned into typed specs: shared by the data stage, the submodel (which
rebuilds the parent's discretisation from a dataset's recorded config) and the FE benchmarks."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from fe.generate import DataJob
from fe.spec import MeshSpec, Physics, Sampling, SolverSpec, build


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


THIRD_AXIS_KEYS = (("mesh", "nz"), ("sampling", "zs"))
"""Keys of the third axis: left out of a 2D dataset's identity when null, so 2D datasets made before
3D existed keep their fingerprints."""


def data_content(cfg: DictConfig) -> dict:
    """The part of the config that determines the data (execution settings excluded)."""
    solver = OmegaConf.to_container(cfg.solver, resolve=True)
    for key in SolverSpec.EXECUTION_KEYS:
        solver.pop(key, None)
    content = {
        "physics": OmegaConf.to_container(cfg.physics, resolve=True),
        "mesh": OmegaConf.to_container(cfg.mesh, resolve=True),
        "sampling": OmegaConf.to_container(cfg.sampling, resolve=True),
        "solver": solver,
    }
    for section, key in THIRD_AXIS_KEYS:
        if content[section].get(key, 0) is None:
            del content[section][key]
    scheme = solver.get("scheme", {})
    if scheme.get("linear") == "lu":
        # A direct solve is what Newmark did before CG existed, and CG's tolerance plays no part in it:
        # LU datasets keep the fingerprints they were made with.
        scheme.pop("linear")
        scheme.pop("rtol", None)
    return content
