"""Compose the project's Hydra config outside ``@hydra.main`` (tests, benchmarks, notebooks), and
build the objects it names."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig

from pipeline.artefacts import ConfigError

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def compose(config_name: str, overrides: list[str] | None = None) -> DictConfig:
    """``conf/<config_name>.yaml`` with overrides, exactly as the entry points would see it."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return hydra_compose(config_name, overrides=overrides or [])


def instantiate(node: DictConfig, key: str):
    """The object ``node`` names by its ``_target_``; one that cannot be built is a ConfigError naming
    ``key`` and the cause (Hydra wraps the object's own error, e.g. a ValueError on a bad value)."""
    try:
        return hydra.utils.instantiate(node)
    except Exception as err:
        raise ConfigError(f"{key}: {err.__cause__ or err}") from None
