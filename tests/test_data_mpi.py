"""The data stage under mpirun -n 2 equals a serial run, in 2D and 3D: bitwise for sample-parallel,
to 1e-12 for domain decomposition. Run serially too (then both sides are serial)."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest
from omegaconf import OmegaConf

from fe import dataset
from fe.generate import generate
from pipeline.data import run
from pipeline.datajob import data_content as content
from pipeline.datajob import data_job
from pipeline.provenance import record
from tests.conftest import make_cfg, shared_tmp

ZONES = {"tiny": (17, 9, 9), "tiny3d": (9, 5, 5, 5)}  # (NT, *zone) of each preset


@pytest.mark.mpi
@pytest.mark.parametrize("preset", sorted(ZONES))
@pytest.mark.parametrize("mode", ["samples", "domain"])
def test_parallel_generation_matches_serial(tmp_path_factory, mode, preset):
    comm = MPI.COMM_WORLD
    root = shared_tmp(tmp_path_factory, f"mpi_{mode}_{preset}")
    cfg = make_cfg(
        "data",
        [
            f"dataset={preset}",
            f"paths.data_dir={root / 'par'}",
            "progress=false",
            "sampling.n_train=5",
            "sampling.n_test=3",
            "solver.block_size=2",
            f"solver.parallel={mode}",
        ],
    )
    paths = run(cfg)
    ok = True
    if comm.rank == 0:
        meta = record(OmegaConf.to_yaml(content(cfg)), content(cfg))
        serial = generate(data_job(cfg), root / "serial", meta, comm=MPI.COMM_SELF, progress=False)
        for split in ("train", "test"):
            a, b = dataset.load(paths[split]), dataset.load(serial[split])
            scale = np.abs(b.u).max()
            if mode == "samples":
                ok &= np.array_equal(a.u, b.u) and np.array_equal(a.v, b.v)
            else:
                ok &= np.abs(a.u - b.u).max() <= 1e-12 * scale
                ok &= np.abs(a.v - b.v).max() <= 1e-12 * np.abs(b.v).max()
            ok &= np.array_equal(a.params, b.params) and a.u.shape == (cfg.sampling[f"n_{split}"], *ZONES[preset])
    assert comm.bcast(bool(ok), root=0)
