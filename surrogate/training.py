"""Training of a two-field surrogate: Adam epochs on a protocol (surrogate.protocol), late-epoch weight
averaging, an optional L-BFGS finish (surrogate.lbfgs), checkpoints, exact resume.

Determinism: the model is initialised from ``seed``; every random choice of epoch e (the batch order,
the sampled times of time-input models) comes from a generator seeded with (seed, e). A run killed
after its checkpoint at epoch e and resumed from it replays epochs e+1.. exactly as an uninterrupted
run does, so both end with the same weights and metrics.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from surrogate import checkpoint
from surrogate.averaging import WeightAverage, refresh_batch_norm
from surrogate.checkpoint import CHECKPOINT, CheckpointError
from surrogate.lbfgs import BATCH, LbfgsPhase
from surrogate.losses import eps_weights, mse, physical
from surrogate.memory import PeakMemory
from surrogate.metrics import ErrorSpec, epsilon
from surrogate.models import TwoFieldSurrogate, n_parameters
from surrogate.progress import mean_pace, progress_line
from surrogate.protocol import TrainSpec
from surrogate.regularization import Regularization
from surrogate.scaling import Scalers

log = logging.getLogger(__name__)
FUSED_ADAM = ("cpu", "cuda")  # devices with a fused Adam kernel in torch >= 2.4
# the training forward's arithmetic: fp32, or bf16 autocast (convolutions and matmuls in bfloat16 with
# fp32 weights, loss and optimizer; README, Benchmarks: slower on this project's CPUs, meant for CUDA)
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}
__all__ = ["CHECKPOINT", "Scalers", "TrainSpec", "Trainer", "pick_device", "predict"]


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r}: CUDA is not available on this machine; use 'auto' or 'cpu'")
    return torch.device(name)


class Trainer:
    """Fits ``model`` to (params, u, v) of the training split; ``dt`` is the snapshot interval.
    ``meta`` travels in every checkpoint: ``fingerprint`` (what determines the result, checked on
    resume; ``resumes`` lists the other fingerprints whose checkpoints are a prefix of this run, e.g.
    the same run without its L-BFGS phase), ``data_fingerprint`` and ``threads`` (named when a resume
    differs)."""

    def __init__(
        self,
        model: TwoFieldSurrogate,
        spec: TrainSpec,
        reg: Regularization,
        params: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        dt: float,
        run_dir: Path,
        meta: dict,
        seed: int,
        device: torch.device,
        compile: bool = False,
        precision: str = "fp32",
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision={precision!r}: allowed {sorted(PRECISIONS)}")
        self.model, self.spec, self.reg, self.dt = model.to(device), spec, reg, dt
        self.precision, self._autocast = precision, PRECISIONS[precision]
        # The training step's forward runs through torch.compile when asked (the module itself, its
        # checkpoints and predictions stay eager); a compiler failure falls back to eager, once.
        self._forward = torch.compile(self.model, dynamic=False) if compile else self.model
        self.compiled = compile
        self.run_dir, self.meta, self.seed, self.device = Path(run_dir), meta, seed, device
        self.run_dir.mkdir(parents=True, exist_ok=True)
        p, ut, vt = (torch.as_tensor(a, dtype=torch.float32) for a in (params, u, v))
        self.scalers = Scalers.fit(p, ut, vt, spec.scaler_floor)
        sc = self.scalers
        self.p = sc.params.transform(p).to(device)
        self.u, self.v = sc.u.transform(ut).to(device), sc.v.transform(vt).to(device)
        self.dev_scalers = sc.to(device)
        self.w_u = self.w_v = None  # per-point loss weights (train.loss_weights=eps), None: the plain MSE
        if spec.loss_weights == "eps":
            self.w_u, self.w_v = (eps_weights(f, s.scale).to(device) for f, s in ((ut, sc.u), (vt, sc.v)))
        # Fused Adam updates every tensor in one kernel: 3-5x faster than the per-parameter loop
        # (0.5-2.5 ms saved per step here; the smallest models' step 1.1-1.2x faster). A checkpoint restores
        # the flag it was saved with, so a run begun unfused resumes unfused, bit for bit.
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=spec.lr, fused=device.type in FUSED_ADAM)
        self.history: dict[str, list[float]] = {"loss": [], "epoch_seconds": []}
        self.epoch = 0
        # late-epoch weight averaging (surrogate.averaging); last_state: the last iterate, kept for comparison
        self.average = WeightAverage() if spec.average_last else None
        self.last_state: dict[str, torch.Tensor] | None = None
        n = self.p.shape[0]
        params = list(self.model.parameters())
        self.lbfgs = (
            LbfgsPhase(params, spec.lbfgs_iters, n, max(spec.batch_size, BATCH), device) if spec.lbfgs_iters else None
        )

    # -- checkpoints -------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def state(self) -> dict:
        return {
            "epoch": self.epoch,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scalers": self.scalers.state(),
            "history": self.history,
            "meta": self.meta,
            **({"average": self.average.state()} if self.average is not None else {}),
            **({"last_model": self.last_state} if self.last_state is not None else {}),
            **({"lbfgs": self.lbfgs.state()} if self.lbfgs is not None else {}),
        }

    def resume(self) -> bool:
        """Load the run's checkpoint if there is one; refuse one made by another config."""
        if not self.checkpoint_path.exists():
            return False
        try:
            state = checkpoint.load(self.checkpoint_path, self.device)
        except CheckpointError as err:
            raise CheckpointError(f"{err}; delete it to start over") from err
        checkpoint.check_resumable(state["meta"], self.meta, self.checkpoint_path)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.history, self.epoch = state["history"], int(state["epoch"])
        if "average" in state:
            self.average = WeightAverage.from_state(state["average"])
        self.last_state = state.get("last_model")
        if self.lbfgs is not None and "lbfgs" in state:
            self.lbfgs.load(state["lbfgs"])
        log.info("resumed %s at epoch %d", self.checkpoint_path, self.epoch)
        return True

    # -- one epoch ---------------------------------------------------------------------------------
    def _times(self, n: int, gen: torch.Generator) -> torch.Tensor | None:
        """Sampled snapshot indices (n, K) for time-input models, or None for every snapshot."""
        k, nt = self.spec.times_per_sample, self.model.geometry.n_times
        if not self.model.time_sampled or k is None or k >= nt:
            return None
        high = nt - 1 if self.reg.uses_euler else nt
        return torch.randint(0, high, (n, k), generator=gen).to(self.device)

    def _loss(self, idx: torch.Tensor, t_idx: torch.Tensor | None) -> torch.Tensor:
        p, sc = self.p[idx], self.dev_scalers
        if t_idx is not None and self.reg.uses_euler:
            t_idx = torch.cat([t_idx, t_idx + 1], dim=1)
        u_hat, v_hat = self._predict_batch(p, t_idx)
        u_ref = self.u[idx] if t_idx is None else torch.gather(self.u[idx], 1, _expand(t_idx, self.u))
        v_ref = self.v[idx] if t_idx is None else torch.gather(self.v[idx], 1, _expand(t_idx, self.v))
        loss = mse(u_hat, u_ref, self._weight(self.w_u, idx, t_idx)) + mse(
            v_hat, v_ref, self._weight(self.w_v, idx, t_idx)
        )
        if self.reg.uses_euler:
            u_phys, v_phys = physical(u_hat, sc.u, t_idx), physical(v_hat, sc.v, t_idx)
            if t_idx is None:
                now, nxt = u_phys[:, :-1], u_phys[:, 1:]
                v_now, v_nxt = v_phys[:, :-1], v_phys[:, 1:]
            else:
                k = t_idx.shape[1] // 2
                now, nxt, v_now, v_nxt = u_phys[:, :k], u_phys[:, k:], v_phys[:, :k], v_phys[:, k:]
            loss = loss + self.reg.loss_term(now, nxt, v_now, v_nxt, self.dt, sc.v_sigma)
        return loss

    def _predict_batch(self, p: torch.Tensor, t_idx: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The training forward, under bf16 autocast when asked; the fields come back in fp32, so the
        loss, its Euler term and the gradients' accumulation stay fp32."""
        if self._autocast is None:
            return self._forward(p, t_idx)
        with torch.autocast(self.device.type, dtype=self._autocast):
            u_hat, v_hat = self._forward(p, t_idx)
        return u_hat.float(), v_hat.float()

    @staticmethod
    def _weight(w: torch.Tensor | None, idx: torch.Tensor, t_idx: torch.Tensor | None) -> torch.Tensor | None:
        if w is None or t_idx is None:
            return None if w is None else w[idx]
        return torch.gather(w[idx], 1, _expand(t_idx, w))

    def _run_epoch(self) -> tuple[float, float]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = self.spec.lr_at(self.epoch)
        self.model.train()
        order = torch.randperm(self.p.shape[0], generator=gen).to(self.device)
        # the epoch's loss is summed on the device (in double, as Python floats were): reading it back
        # each step would make every step wait for the GPU
        total, count = torch.zeros((), dtype=torch.float64, device=self.device), 0
        start = time.perf_counter()
        for b0 in range(0, order.numel(), self.spec.batch_size):
            idx = order[b0 : b0 + self.spec.batch_size]
            if idx.numel() < 2 and self.model.batch_norm:
                continue  # batch norm needs at least two samples
            t_idx = self._times(idx.numel(), gen)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._backward(idx, t_idx)
            if self.spec.clip_grad is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.spec.clip_grad, foreach=True)
            self.optimizer.step()
            total += loss.detach().double() * idx.numel()
            count += idx.numel()
        if self.device.type == "cuda":
            torch.cuda.synchronize()  # the epoch's time includes its last optimizer step
        return float(total) / max(count, 1), time.perf_counter() - start

    def _backward(self, idx: torch.Tensor, t_idx: torch.Tensor | None) -> torch.Tensor:
        """Loss and gradients of one batch; a compiled step that fails to compile is redone eagerly
        and the run goes on without compilation (the failure is logged once)."""
        try:
            loss = self._loss(idx, t_idx)
            loss.backward()
        except Exception as err:  # torch._dynamo / inductor failures come as many exception types
            if self._forward is self.model:
                raise
            log.warning("torch.compile failed (%s: %s); training on without it", type(err).__name__, err)
            self._forward, self.compiled = self.model, False
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._loss(idx, t_idx)
            loss.backward()
        return loss

    def fit(self, progress: bool = True, on_epoch: Callable[[int], None] | None = None) -> dict:
        """Train to ``spec.epochs`` (from the checkpoint if one exists); return the run's figures."""
        self.resume()
        memory = PeakMemory(self.device)
        bar = tqdm(
            total=self.spec.epochs,
            initial=self.epoch,
            desc=f"{self.model.name}",
            unit="epoch",
            disable=not progress,
            dynamic_ncols=True,
        )
        while self.epoch < self.spec.epochs:
            loss, seconds = self._run_epoch()
            if not math.isfinite(loss):
                raise FloatingPointError(f"{self.model.name}: the loss is {loss} at epoch {self.epoch}")
            self.history["loss"].append(loss)
            self.history["epoch_seconds"].append(seconds)
            self.epoch += 1
            if self.average is not None and self.epoch > self.spec.epochs - self.spec.average_last:
                self._average()
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3e}")
            if self.epoch % self.spec.checkpoint_every == 0 or self.epoch == self.spec.epochs:
                checkpoint.save(self.state(), self.checkpoint_path)
                if not progress:  # no bar: one line per checkpoint for logs of unattended runs
                    pace, _ = mean_pace(self.history["epoch_seconds"][-self.spec.checkpoint_every :])
                    log.info(progress_line(self.model.name, self.epoch, self.spec.epochs, "epoch", loss, pace))
            if on_epoch is not None:
                on_epoch(self.epoch)
        bar.close()
        if self.lbfgs is not None:
            self._refine(progress, on_epoch)
        pace, suspended = mean_pace(self.history["epoch_seconds"])
        return {
            "epochs": self.epoch,
            "final_loss": self.history["loss"][-1] if self.history["loss"] else None,
            "mean_epoch_seconds": pace,
            "suspended_epochs": suspended,  # left out of the mean: the process was paused in them
            "parameters": n_parameters(self.model),
            "peak_memory_bytes": memory.peak(),
            "compiled": self.compiled,  # whether the step ran through torch.compile (false after a fallback)
            "precision": self.precision,
            "averaged_epochs": self.average.count if self.average is not None else 0,
            **({"lbfgs": self.lbfgs.figures()} if self.lbfgs is not None else {}),
        }

    def _refine(self, progress: bool, on_epoch: Callable[[int], None] | None) -> None:
        """The L-BFGS phase (surrogate.lbfgs), resumed where the checkpoint left it; ``on_epoch`` gets
        ``epochs + k`` after its k-th chunk."""
        self.model.train()
        chunk = None if on_epoch is None else (lambda k: on_epoch(self.spec.epochs + k))
        self.lbfgs.run(
            lambda idx: self._loss(idx, None),
            lambda: checkpoint.save(self.state(), self.checkpoint_path),
            chunk,
            progress,
            f"{self.model.name} L-BFGS",
        )

    def _average(self) -> None:
        """Add this epoch's weights to the mean; after the last epoch the model takes the mean (BN
        statistics recomputed on the training set) and the last iterate is kept in ``last_state``."""
        self.average.update(self.model)
        if self.epoch < self.spec.epochs:
            return
        self.last_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.average.apply(self.model)
        refresh_batch_norm(self.model, self._forward_training_set)

    def _forward_training_set(self) -> None:
        """The training samples through the model in batches of ``batch_size``, every snapshot."""
        for b0 in range(0, self.p.shape[0], self.spec.batch_size):
            batch = self.p[b0 : b0 + self.spec.batch_size]
            if batch.shape[0] >= 2:  # as in training: batch norm needs two samples
                self.model(batch)

    # -- predictions and errors -------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, params: np.ndarray, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
        return predict(self.model, self.scalers, params, self.device, batch)

    def errors(self, params: np.ndarray, u: np.ndarray, v: np.ndarray, spec: ErrorSpec) -> dict:
        u_hat, v_hat = self.predict(params)
        return {"u": epsilon(u_hat, u, spec), "v": epsilon(v_hat, v, spec)}


def _expand(t_idx: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    return t_idx.reshape(*t_idx.shape, *[1] * (field.dim() - 2)).expand(-1, -1, *field.shape[2:])


@torch.no_grad()
def predict(
    model: TwoFieldSurrogate, scalers: Scalers, params: np.ndarray, device: torch.device, batch: int = 32
) -> tuple[np.ndarray, np.ndarray]:
    """Physical (u, v) of shape (N, NT, *space) for parameters (N, 3), in evaluation mode."""
    model.eval()
    sc = scalers.to(device)
    p = sc.params.transform(torch.as_tensor(params, dtype=torch.float32, device=device))
    us, vs = [], []
    for b0 in range(0, p.shape[0], batch):
        u_hat, v_hat = model(p[b0 : b0 + batch])
        us.append(sc.u.inverse(u_hat).double().cpu().numpy())
        vs.append(sc.v.inverse(v_hat).double().cpu().numpy())
    return np.concatenate(us), np.concatenate(vs)
