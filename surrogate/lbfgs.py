"""A full-batch L-BFGS phase after the Adam epochs (``train.lbfgs_iters``; beyond the paper).

With 100 training samples the whole training set is one deterministic loss, and a quasi-Newton
method lowers it further per minute than more Adam epochs: on the small preset, 1000 L-BFGS
iterations after `quick`'s 150 epochs bring Conv2D's test eps on u from 2.2% to 1.0% in about 5.5
min, where 1000 epochs of the same schedule (6 min) reach 1.1% (the RBF interpolation over p, on
the same split: 1.04%; README, "A quasi-Newton finish"). The loss is the Adam
phase's (fields' MSE plus the regulariser's term), summed over the training set in batches of the
Adam phase's size or :data:`BATCH`, whichever is larger (peak memory stays bounded; batch-norm
statistics are those of these batches); the gradients of the batches accumulate before each update.

The phase advances in chunks of :data:`CHUNK` iterations (one ``LBFGS.step``); its optimizer state
travels in the checkpoint while it runs, so a killed run resumes it exactly, and is dropped when it
ends (the history holds 2 x ``HISTORY`` vectors the size of the model).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

import torch
from tqdm import tqdm

from surrogate.progress import progress_line

log = logging.getLogger(__name__)
CHUNK = 20  # iterations per LBFGS.step call (progress, and the unit of checkpoints)
CHECKPOINT_CHUNKS = 5  # a checkpoint every 100 iterations, and at the end
HISTORY = 50  # curvature pairs kept
BATCH = 25  # samples per forward at least: Conv2D's pass over the set takes 1.3x longer in batches of 5


class LbfgsPhase:
    """L-BFGS with a strong-Wolfe line search on ``loss_of(batch_indices)``, summed over ``n`` samples."""

    def __init__(self, params: list[torch.nn.Parameter], iters: int, n: int, batch: int, device: torch.device):
        self.params, self.iters, self.n, self.batch, self.device = params, iters, n, batch, device
        self.optimizer = torch.optim.LBFGS(
            params, lr=1.0, max_iter=CHUNK, history_size=HISTORY, line_search_fn="strong_wolfe"
        )
        self.done = 0  # iterations made
        self.converged = False  # L-BFGS stopped on its own tolerances before ``iters``
        self.seconds = 0.0
        self.losses: list[float] = []  # the loss before each chunk

    @property
    def finished(self) -> bool:
        return self.converged or self.done >= self.iters

    def state(self) -> dict:
        """What a checkpoint keeps: the optimizer's history only while the phase runs."""
        out = {"done": self.done, "converged": self.converged, "seconds": self.seconds, "losses": self.losses}
        if not self.finished:
            out["optimizer"] = self.optimizer.state_dict()
        return out

    def load(self, state: dict) -> None:
        self.done, self.converged = int(state["done"]), bool(state["converged"])
        self.seconds, self.losses = float(state["seconds"]), list(state["losses"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])

    def run(
        self,
        loss_of: Callable[[torch.Tensor], torch.Tensor],
        save: Callable[[], None],
        on_chunk: Callable[[int], None] | None = None,
        progress: bool = True,
        desc: str = "L-BFGS",
    ) -> None:
        """Chunks until :attr:`finished`; ``save()`` every :data:`CHECKPOINT_CHUNKS` chunks and at the
        end, then ``on_chunk(k)`` after the k-th chunk of the phase."""
        bar = tqdm(total=self.iters, initial=self.done, desc=desc, unit="it", disable=not progress or self.finished)
        while not self.finished:
            before = self.done
            loss = self.step(loss_of)
            if not math.isfinite(loss):
                raise FloatingPointError(f"{desc}: the loss is {loss} at iteration {self.done}")
            self.losses.append(loss)
            bar.update(self.done - before)
            bar.set_postfix(loss=f"{loss:.3e}")
            if self.finished or len(self.losses) % CHECKPOINT_CHUNKS == 0:
                save()
                if not progress and self.done:
                    log.info(progress_line(desc, self.done, self.iters, "iteration", loss, self.seconds / self.done))
            if on_chunk is not None:
                on_chunk(len(self.losses))
        bar.close()

    def figures(self) -> dict:
        """For metrics.json."""
        return {
            "iterations": self.done,
            "converged": self.converged,  # stopped on L-BFGS's tolerances before train.lbfgs_iters
            "seconds": self.seconds,
            "first_loss": self.losses[0] if self.losses else None,  # the Adam phase's last weights
            "last_loss": self.losses[-1] if self.losses else None,  # before the last chunk
        }

    def step(self, loss_of: Callable[[torch.Tensor], torch.Tensor]) -> float:
        """At most :data:`CHUNK` more iterations (fewer at the end); the loss before them."""
        group = self.optimizer.param_groups[0]
        group["max_iter"] = min(CHUNK, self.iters - self.done)
        group["max_eval"] = 4 * group["max_iter"]  # iterations, not evaluations, end a chunk
        order = torch.arange(self.n, device=self.device)

        def closure() -> torch.Tensor:
            self.optimizer.zero_grad(set_to_none=True)
            total = torch.zeros((), device=self.device)
            for b0 in range(0, self.n, self.batch):
                idx = order[b0 : b0 + self.batch]
                part = loss_of(idx) * (idx.numel() / self.n)  # the mean over the set, batch by batch
                part.backward()
                total = total + part.detach()
            return total

        start = time.perf_counter()
        before = self._iterations()
        loss = float(self.optimizer.step(closure))
        made = self._iterations() - before
        self.done += made
        self.seconds += time.perf_counter() - start
        if made < group["max_iter"]:  # stopped on its tolerances (gradient or step vanished)
            self.converged = True
        return loss

    def _iterations(self) -> int:
        state = self.optimizer.state.get(self.params[0], {})  # LBFGS keeps its state on the first parameter
        return int(state.get("n_iter", 0))
