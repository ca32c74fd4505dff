"""Shared fixtures: the real Hydra config composed with tiny overrides, and a tiny dataset."""

from __future__ import annotations

from pathlib import Path

from mpi4py import MPI

import pytest

from pipeline.config import compose as make_cfg


def shared_tmp(tmp_path_factory, name: str) -> Path:
    """A temporary folder that every MPI rank agrees on (rank 0 creates it)."""
    path = tmp_path_factory.mktemp(name) if MPI.COMM_WORLD.rank == 0 else None
    return Path(MPI.COMM_WORLD.bcast(str(path) if path else None, root=0))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The tiny preset generated once per session; returns its folder (train.h5, test.h5)."""
    from pipeline.data import run

    root = shared_tmp(tmp_path_factory, "tiny_data")
    cfg = make_cfg("data", ["dataset=tiny", f"paths.data_dir={root}", "progress=false"])
    paths = run(cfg)
    return paths["train"].parent


@pytest.fixture
def train_cfg(tiny_data, tmp_path):
    """Compose the training config on the tiny data with results under ``tmp_path``: ``quick`` cut to 6
    epochs, checkpoints every 2, batch 4; ``train_cfg("model=...", ...)`` adds overrides."""

    def compose(*extra: str):
        return make_cfg(
            "train",
            [
                "data=tiny",
                f"paths.data_dir={tiny_data.parent}",
                f"paths.results_dir={tmp_path}",
                "progress=false",
                "train=quick",
                "train.epochs=6",
                "train.checkpoint_every=2",
                "train.batch_size=4",
                *extra,
            ],
        )

    return compose
