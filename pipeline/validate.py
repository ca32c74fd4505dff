"""Up-front checks of every config value a stage reads, before any work: each failure names the key,
the value and what is allowed (a :class:`ConfigError`, printed without a traceback)."""

from __future__ import annotations

import re

from omegaconf import DictConfig, OmegaConf

from fe.dataset import DatasetError
from fe.symmetry import check_axes
from pipeline.artefacts import ConfigError
from pipeline.config import instantiate
from pipeline.mirror import MIRROR_MODES
from pipeline.runs import regularization, train_spec
from surrogate.metrics import ErrorSpec
from surrogate.targets import TARGETS
from surrogate.training import PRECISIONS

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


def number(cfg: DictConfig, key: str, lo: float | None = None, none: bool = False) -> float | None:
    """A number > ``lo`` (or null when ``none``)."""
    value = _get(cfg, key)
    if value is None and none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (lo is not None and not value > lo):
        raise ConfigError(
            f"{key}={value!r}: must be a number" + (f" > {lo}" if lo is not None else "") + (" or null" if none else "")
        )
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


def _wrap(build):
    """Build a typed spec; its ValueError (which names the key) becomes a ConfigError."""
    try:
        return build()
    except ConfigError:
        raise
    except Exception as err:  # ValueError/TypeError, or Hydra's InstantiationException around one
        raise ConfigError(str(err.__cause__ or err)) from None


def check_execution(cfg: DictConfig) -> None:
    """``seed``, ``device``, ``threads``, ``progress``: how a run executes."""
    integer(cfg, "seed", lo=0)
    integer(cfg, "threads", lo=1, none=True)
    boolean(cfg, "progress")
    boolean(cfg, "compile")
    choice(cfg, "precision", PRECISIONS)
    device = _get(cfg, "device")
    if not (isinstance(device, str) and DEVICE.match(device)):
        raise ConfigError(f"device={device!r}: allowed auto, cpu, mps, cuda or cuda:<index>")


def check_metrics(cfg: DictConfig) -> ErrorSpec:
    """``metrics.*``: the typed ``ErrorSpec`` holds the rules."""
    return _wrap(lambda: ErrorSpec(**cfg.metrics))


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
    overlay = OmegaConf.select(cfg, "width")
    if overlay is not None and cfg.model.get("name") not in overlay.get("models", ()):
        raise ConfigError(
            f"width={overlay.get('name')}: sets the widths of {', '.join(overlay.get('models', ()))} only "
            f"(channel counts); model={cfg.model.get('name')} is not one of them"
        )


def _check_lr_max(cfg: DictConfig) -> None:
    cap = OmegaConf.select(cfg, "model.lr_max")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int | float) or cap <= 0):
        raise ConfigError(f"model.lr_max={cap!r}: must be a number > 0 (the largest peak lr) or null (no cap)")


def check_train(cfg: DictConfig) -> None:
    """Every key the training stage reads."""
    check_execution(cfg)
    _wrap(lambda: train_spec(cfg, cap=False))
    check_metrics(cfg)
    check_model(cfg)
    _check_lr_max(cfg)
    regularization(cfg)  # the Regularization object holds the reg.* rules
    check_mirror(cfg)
    fix = _get(cfg, "correction")
    if fix is not None:
        if not (OmegaConf.is_dict(fix) and "_target_" in fix):
            raise ConfigError(f"correction={fix}: must be null (off) or an object with a _target_ (conf/train.yaml)")
        instantiate(fix, "correction")  # its own rules (kernel, smoothing), before any training


def check_submodel(cfg: DictConfig) -> None:
    """The submodel (and report) stage: its own keys and those of the runs' default config."""
    check_execution(cfg)
    check_metrics(cfg)
    integer(cfg, "submodel.block_size", lo=1)
    integer(cfg, "submodel.example_sample", lo=0)
    boolean(cfg, "submodel.time_full_solve")
    boolean(cfg, "submodel.last_iterate")
    boolean(cfg, "submodel.residual_rbf")
    check_trace(cfg)
    schemes = _get(cfg, "submodel.parent_schemes")
    if not OmegaConf.is_dict(schemes) or not all(
        OmegaConf.is_dict(node) and "_target_" in node for node in schemes.values()
    ):
        raise ConfigError(
            f"submodel.parent_schemes={schemes}: must map names to time schemes with a _target_, "
            "e.g. {newmark_cg: {_target_: fe.newmark.Newmark, linear: cg}}"
        )


def check_trace(cfg: DictConfig) -> None:
    """The ``trace`` group's shape (``conf/trace/``); its constructions are checked by building them."""
    name = _get(cfg, "trace.name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"trace.name={name!r}: must name the primary construction, e.g. as_predicted")
    primary, compare = _get(cfg, "trace.primary"), _get(cfg, "trace.compare")
    if not (OmegaConf.is_dict(primary) and "_target_" in primary):
        raise ConfigError(
            f"trace.primary={primary}: must be a construction with a _target_, e.g. {{_target_: fe.trace.AsPredicted}}"
        )
    if not OmegaConf.is_dict(compare) or not all(OmegaConf.is_dict(n) and "_target_" in n for n in compare.values()):
        raise ConfigError(
            f"trace.compare={compare}: must map names to constructions with a _target_, "
            "e.g. {fused: {_target_: fe.trace.Fused, rho: 2.0}}"
        )
    if name in compare:
        raise ConfigError(f"trace.compare.{name}: the primary construction's name; compare others only")


def check_report(cfg: DictConfig) -> None:
    """The report stage: the submodel's keys it shares, and its list of records files."""
    check_submodel(cfg)
    records = _get(cfg, "report.records")
    if not OmegaConf.is_list(records) or not all(isinstance(r, str) for r in records):
        raise ConfigError(
            f"report.records={records!r}: must be a list of runs.jsonl paths, e.g. [docs/results/x/runs.jsonl]"
        )


def check_mirror(cfg: DictConfig) -> None:
    """``mirror``: a list of distinct zone axes (whether the data has them is checked when it is loaded), and
    ``mirror_mode``, how they are used."""
    axes = _get(cfg, "mirror")
    if not OmegaConf.is_list(axes):
        raise ConfigError(f"mirror={axes}: must be a list of zone axes, e.g. [y]; [] for no mirror images")
    try:
        check_axes(list(axes))
    except DatasetError as err:
        raise ConfigError(str(err)) from None
    mode = _get(cfg, "mirror_mode")
    if mode not in MIRROR_MODES:
        raise ConfigError(f"mirror_mode={mode!r}: allowed {list(MIRROR_MODES)} (how the mirror axes are used)")
    if mode == "fold" and not axes:
        raise ConfigError("mirror_mode=fold: folds across the mirror axes, but mirror=[] names none (e.g. mirror=[y])")


def check_baselines(cfg: DictConfig) -> None:
    check_metrics(cfg)
    check_mirror(cfg)
    integer(cfg, "block_size", lo=1)
    boolean(cfg, "zoom")
    boolean(cfg, "progress")
    check_trace(cfg)


def check_ensemble(cfg: DictConfig) -> None:
    """The ensemble stage: its own keys and those of the submodel stage it extends."""
    check_submodel(cfg)
    integer(cfg, "ensemble.min_members", lo=2)
    boolean(cfg, "ensemble.zoom")


def check_data(cfg: DictConfig) -> None:
    """The data stage's keys not covered by ``fe.spec`` (those are checked by building the specs)."""
    boolean(cfg, "progress")
    sample = integer(cfg, "export.sample", lo=0, none=True)
    n_train = _get(cfg, "sampling.n_train")
    if sample is not None and isinstance(n_train, int) and sample >= n_train:
        raise ConfigError(f"export.sample={sample}: must be a train-sample index in [0, {n_train - 1}]")


def check_hull(cfg: DictConfig) -> None:
    """The hull stage: its own keys and those of the submodel stage it extends."""
    check_submodel(cfg)
    for key, what in (
        ("hull.out", "a path"),
        ("hull.baselines", "a path or null"),
        ("hull.reference", "<model>-<reg> or null"),
    ):
        value = _get(cfg, key)
        if value is None and key != "hull.out":
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}={value!r}: must be {what}")
