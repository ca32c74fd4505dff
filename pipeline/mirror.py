"""How a run uses the problem's mirror symmetry (``mirror``, ``mirror_mode``; fe/symmetry.py): the samples
its network and its residual correction are fitted to, and the prediction of a folded run, reflected
back. Shared by the training stage, the later stages that reload a run, and the baselines stage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import torch
from omegaconf import DictConfig

from fe import dataset
from fe.symmetry import fold_params, folded, mirrored, unfold
from pipeline.artefacts import ConfigError
from pipeline.scoring import FittedPair, fit_correction
from surrogate.models import TwoFieldSurrogate
from surrogate.training import Scalers, predict


def fit_split(cfg: DictConfig, train: dataset.Dataset) -> dataset.Dataset:
    """The samples a run of ``cfg`` with ``mirror_mode=images`` is fitted to (its network and its residual
    correction): ``train``, followed by the mirror images of its samples across each axis of
    ``cfg.mirror`` (fe/symmetry.py; none when the key is absent or [])."""
    axes = cfg.get("mirror")
    return mirrored(train, axes) if axes else train


MIRROR_MODES = ("images", "fold")


def fold_axes(cfg: DictConfig) -> list[str]:
    """The axes a run of ``cfg`` folds its inputs across (``mirror_mode=fold``), else []."""
    return list(cfg.get("mirror") or []) if cfg.get("mirror_mode", "images") == "fold" else []


def network_split(cfg: DictConfig, train: dataset.Dataset) -> dataset.Dataset:
    """The samples the network itself is trained on: with ``mirror_mode=images`` ``fit_split``; with
    ``fold``, the training samples folded into the half space of each mirror axis (fe/symmetry.py)."""
    axes = fold_axes(cfg)
    return folded(train, axes) if axes else fit_split(cfg, train)


Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def check_fold(cfg: DictConfig, model: TwoFieldSurrogate) -> list[str]:
    """``fold_axes(cfg)``, refused for a model whose predictions cannot be reflected (a boundary model)."""
    axes = fold_axes(cfg)
    if axes and not model.target.full_field:
        raise ConfigError(
            f"mirror_mode=fold with model={model.name}: folding reflects predicted fields, and a boundary "
            "model's loop has no reflection wired here; use a full-field model or mirror_mode=images"
        )
    return axes


def run_predictor(cfg: DictConfig, model: TwoFieldSurrogate, scalers: Scalers, device: torch.device) -> Predictor:
    """Physical (u, v) of a run of ``cfg`` for parameters (N, 1 + dim): the network's own prediction, or
    with ``mirror_mode=fold`` its prediction at the folded source, reflected back (exactly symmetric)."""
    plain = partial(predict, model, scalers, device=device)
    axes = check_fold(cfg, model)
    return folded_predictor(plain, axes) if axes else plain


def fitted_baselines(cfg: DictConfig, train: dataset.Dataset) -> Iterator[tuple[str, FittedPair, Predictor]]:
    """Each baseline of ``cfg.methods`` fitted as ``pipeline.baselines`` fits it for ``cfg`` (``mirror``,
    ``mirror_mode``): to ``network_split`` of ``train`` (made once), answering through
    ``folded_predictor`` when folded; as (name, fitted pair, its predictor). The hull stage refits a
    baselines file with it from the config the file records."""
    axes, fit_set = fold_axes(cfg), network_split(cfg, train)
    for name, method in cfg.methods.items():
        pair = FittedPair(method, fit_set)
        yield str(name), pair, folded_predictor(pair.predict, axes) if axes else pair.predict


def folded_predictor(plain: Predictor, axes: list[str]) -> Predictor:
    """``plain``, a surrogate of the half space of each of ``axes``, answering everywhere: at the folded
    source, its prediction reflected back (fe/symmetry.py), so the result is exactly symmetric."""

    def folded_predict(params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q, flips = fold_params(params, axes)
        u, v = plain(q)
        return unfold(u, flips, axes), unfold(v, flips, axes)

    return folded_predict


class FoldedCorrection:
    """A residual correction fitted in the folded frame of a ``mirror_mode=fold`` run: it is applied at
    the folded source, to the prediction reflected there, and its result reflected back, so the hybrid
    is as exactly symmetric as the network. (Fitted to the images across the seam instead, the RBF
    interpolates the network's jump at ys = 0 and does worse: README, "Folding instead of images".)"""

    def __init__(self, fix, axes: list[str]):
        self.fix, self.axes, self.label = fix, axes, f"{fix.label}, folded"

    def __call__(self, params: np.ndarray, u_hat: np.ndarray, v_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q, flips = fold_params(params, self.axes)
        u, v = self.fix(q, unfold(u_hat, flips, self.axes), unfold(v_hat, flips, self.axes))
        return unfold(u, flips, self.axes), unfold(v, flips, self.axes)


def fit_run_correction(
    fix,
    predict: Predictor,
    target,
    cfg: DictConfig,
    train: dataset.Dataset,
    on_train: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[object, tuple[np.ndarray, np.ndarray]]:
    """Fit ``fix`` to the residual of a run of ``cfg`` on the samples it was fitted to, as the training
    stage and every later stage do: ``fit_split`` (the samples and any mirror images), or with
    ``mirror_mode=fold`` the samples folded (then ``fix`` comes back wrapped in a
    :class:`FoldedCorrection`). Returns the correction to apply and the run's predictions on ``train``
    (``on_train``: those predictions when the caller has them, used when the fit is on ``train`` itself)."""
    axes, fit_set = fold_axes(cfg), network_split(cfg, train)  # images: the samples first, their images after
    fitted = on_train if on_train is not None and fit_set is train else predict(fit_set.params)
    fit_correction(fix, fitted, target, fit_set)
    n = train.params.shape[0]
    if not axes:
        return fix, (fitted[0][:n], fitted[1][:n])
    _, flips = fold_params(train.params, axes)
    return FoldedCorrection(fix, axes), (unfold(fitted[0], flips, axes), unfold(fitted[1], flips, axes))
