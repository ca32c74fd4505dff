"""Up-front checks of every config value a stage reads, before any work: each failure names the key,
the value and what is allowed (a :class:`ConfigError`, printed without a traceback)."""

from __future__ import annotations

import re

from omegaconf import DictConfig, OmegaConf

from pipeline.artefacts import ConfigError
from pipeline.runs import regularization
from surrogate.metrics import ErrorSpec
from surrogate.targets import TARGETS
from surrogate.training import TrainSpec

DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_MISSING = object()


def _get(cfg: DictConfig, key: str):
    value = OmegaConf.select(cfg, key, default=_MISSING)
    if value is _MISSING:
        raise ConfigError(f"{key}: missing from the config")
    return value


def integer(cfg: DictConfig, key: str, lo: int | None = None, none: bool = False) -> int | None:
    value = _get(cfg, key)
    if value is None and none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or (lo is not None and value < lo):
        allowed = "an integer" + (f" >= {lo}" if lo is not None else "") + (" or null" if none else "")
        raise ConfigError(f"{key}={value!r}: must be {allowed}")
    return value


def number(
    cfg: DictConfig,
    key: str,
    lo: float | None = None,
    hi: float | None = None,
    open_lo: bool = True,
    none: bool = False,
) -> float | None:
    value = _get(cfg, key)
    if value is None and none:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and lo is not None:
        ok = value > lo if open_lo else value >= lo
    if ok and hi is not None:
        ok = value < hi
    if not ok:
        lo_txt = "" if lo is None else (f" > {lo}" if open_lo else f" >= {lo}")
        hi_txt = "" if hi is None else f" and < {hi}"
        raise ConfigError(f"{key}={value!r}: must be a number{lo_txt}{hi_txt}" + (" or null" if none else ""))
    return value


def boolean(cfg: DictConfig, key: str) -> bool:
    value = _get(cfg, key)
    if not isinstance(value, bool):
        raise ConfigError(f"{key}={value!r}: must be true or false")
    return value


def choice(cfg: DictConfig, key: str, allowed) -> str:
    value = _get(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: allowed {sorted(allowed)}")
    return value


def _wrap(key: str, build):
    try:
        return build()
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{key}: {err}") from None
    except Exception as err:  # Hydra's InstantiationException wraps the object's own ValueError
        cause = err.__cause__ or err
        raise ConfigError(f"{key}: {cause}") from None


def check_execution(cfg: DictConfig) -> None:
    """``seed``, ``device``, ``threads``, ``progress``: how a run executes."""
    integer(cfg, "seed", lo=0)
    integer(cfg, "threads", lo=1, none=True)
    boolean(cfg, "progress")
    device = _get(cfg, "device")
    if not (isinstance(device, str) and DEVICE.match(device)):
        raise ConfigError(f"device={device!r}: allowed auto, cpu, mps, cuda or cuda:<index>")


def check_metrics(cfg: DictConfig) -> ErrorSpec:
    choice(cfg, "metrics.normaliser", ("time", "sample"))
    number(cfg, "metrics.active_threshold", lo=0, hi=1, open_lo=False)
    return ErrorSpec(**cfg.metrics)


def check_model(cfg: DictConfig) -> None:
    choice(cfg, "model.target", TARGETS)
    choice(cfg, "model.time", ("input", "channels", "axis"))
    integer(cfg, "model.order", lo=1)
    if OmegaConf.select(cfg, "model.rank_ratio") is not None:
        number(cfg, "model.rank_ratio", lo=0)
    if OmegaConf.select(cfg, "model.kernel") is not None:
        if integer(cfg, "model.kernel", lo=1) % 2 == 0:
            raise ConfigError(f"model.kernel={cfg.model.kernel}: must be odd ('same' padding)")
    if "head_layers" in cfg.model:
        integer(cfg, "model.head_layers", lo=1, none=True)
    for key in ("widths", "hidden"):
        widths = OmegaConf.select(cfg, f"model.{key}")
        if widths is not None and not (
            OmegaConf.is_list(widths)
            and all(isinstance(w, int | float) and not isinstance(w, bool) and w > 0 for w in widths)
        ):
            raise ConfigError(f"model.{key}={widths}: must be a list of positive numbers")


def check_train(cfg: DictConfig) -> None:
    """Every key the training stage reads."""
    check_execution(cfg)
    for key in ("epochs", "batch_size", "checkpoint_every"):
        integer(cfg, f"train.{key}", lo=1)
    number(cfg, "train.lr", lo=0)
    number(cfg, "train.lr_final", lo=0)
    number(cfg, "train.scaler_floor", lo=0, open_lo=False)
    integer(cfg, "train.times_per_sample", lo=1, none=True)
    _wrap("train", lambda: TrainSpec(**{k: v for k, v in cfg.train.items() if k != "name"}))
    check_metrics(cfg)
    check_model(cfg)
    for key in ("batch_norm", "shared"):
        boolean(cfg, f"reg.{key}")
    number(cfg, "reg.euler", lo=0, open_lo=False)
    regularization(cfg)


def check_submodel(cfg: DictConfig) -> None:
    """The submodel (and report) stage: its own keys and those of the runs' default config."""
    check_execution(cfg)
    check_metrics(cfg)
    integer(cfg, "submodel.block_size", lo=1)
    integer(cfg, "submodel.example_sample", lo=0)
    boolean(cfg, "submodel.time_full_solve")


def check_baselines(cfg: DictConfig) -> None:
    check_metrics(cfg)
    integer(cfg, "block_size", lo=1)
    boolean(cfg, "zoom")
    boolean(cfg, "progress")


def check_data(cfg: DictConfig) -> None:
    """The data stage's keys not covered by ``fe.spec`` (those are checked by building the specs)."""
    integer(cfg, "sampling.seed", lo=0)
    number(cfg, "mesh.min_nodes_per_wavelength", lo=0)
    boolean(cfg, "progress")
    sample = integer(cfg, "export.sample", lo=0, none=True)
    n_train = _get(cfg, "sampling.n_train")
    if sample is not None and isinstance(n_train, int) and sample >= n_train:
        raise ConfigError(f"export.sample={sample}: must be a train-sample index in [0, {n_train - 1}]")
