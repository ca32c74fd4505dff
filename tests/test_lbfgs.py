"""The full-batch L-BFGS phase (train.lbfgs_iters): the exact least-squares answer, batches summed as the
mean over the set, resume bit for bit, and a run that ends lower than its Adam phase."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import torch

from pipeline.train import content, train_run
from surrogate.lbfgs import CHUNK, LbfgsPhase
from surrogate.progress import duration, progress_line


class Killed(Exception):
    pass


def least_squares(n: int = 7, dim: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    y = torch.randn(n, generator=gen, dtype=torch.float64)
    exact = np.linalg.lstsq(x.numpy(), y.numpy(), rcond=None)[0]
    return x, y, exact


def test_lbfgs_finds_the_least_squares_solution_from_uneven_batches():
    """Batches of 3, 3 and 1 samples: the loss L-BFGS descends must be the mean over all 7 (a mean of the
    batch means would weigh the last sample 3x and move the minimiser away from lstsq's)."""
    x, y, exact = least_squares()
    w = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
    phase = LbfgsPhase([w], iters=200, n=7, batch=3, device=torch.device("cpu"))
    phase.run(lambda idx: ((x[idx] @ w - y[idx]) ** 2).mean(), save=lambda: None, progress=False)
    assert np.allclose(w.detach().numpy(), exact, atol=1e-4)  # L-BFGS stops at a loss change of 1e-9
    root = np.sqrt(np.array([1 / 3] * 6 + [1.0]))[:, None]  # the minimiser of the mean of batch means
    skewed = np.linalg.lstsq(root * x.numpy(), root[:, 0] * y.numpy(), rcond=None)[0]
    assert np.abs(skewed - exact).max() > 1e-2
    # a quadratic in 4 unknowns: L-BFGS stops on its own tolerances long before 200 iterations
    assert phase.converged and phase.finished and phase.done < 60
    full = float(((x @ torch.zeros(4, dtype=torch.float64) - y) ** 2).mean())
    assert phase.losses[0] == pytest.approx(full, rel=1e-12)  # the loss before the first chunk, at w = 0
    assert all(b <= a for a, b in zip(phase.losses, phase.losses[1:], strict=False))
    assert "optimizer" not in phase.state()  # a finished phase leaves no history in the checkpoint


def test_an_interrupted_phase_resumes_exactly():
    """Noise that 113 weights cannot fit (no early stop). Two chunks, the state saved and loaded into a
    fresh phase on copied weights, then the rest: the same weights as one uninterrupted phase, bit for bit."""
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(200, 6, generator=gen), torch.randn(200, generator=gen)

    def model() -> torch.nn.Module:
        torch.manual_seed(2)
        return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))

    def loss_of(net):
        return lambda idx: ((net(x[idx]).squeeze(1) - y[idx]) ** 2).mean()

    whole = model()
    LbfgsPhase(list(whole.parameters()), 4 * CHUNK, 200, 64, torch.device("cpu")).run(
        loss_of(whole), lambda: None, progress=False
    )
    first = model()
    phase = LbfgsPhase(list(first.parameters()), 4 * CHUNK, 200, 64, torch.device("cpu"))

    def stop(k: int) -> None:
        if k == 2:
            raise Killed

    with pytest.raises(Killed):
        phase.run(loss_of(first), lambda: None, stop, progress=False)
    saved = phase.state()
    assert saved["done"] == 2 * CHUNK and "optimizer" in saved
    second = model()
    second.load_state_dict(first.state_dict())
    resumed = LbfgsPhase(list(second.parameters()), 4 * CHUNK, 200, 64, torch.device("cpu"))
    resumed.load(saved)
    resumed.run(loss_of(second), lambda: None, progress=False)
    assert resumed.done == 4 * CHUNK and not resumed.converged
    assert all(torch.equal(a, b) for a, b in zip(whole.parameters(), second.parameters(), strict=True))


def test_a_run_with_lbfgs_ends_below_its_adam_phase_and_resumes_bit_for_bit(tmp_path, train_cfg, monkeypatch, caplog):
    extra = ["model=conv2_5db", "reg=e_sl", f"train.lbfgs_iters={3 * CHUNK}"]
    adam = train_run(train_cfg("model=conv2_5db", "reg=e_sl"), tmp_path / "adam")
    with caplog.at_level(logging.INFO):
        clean = train_run(train_cfg(*extra), tmp_path / "clean")
    # progress=false: one line per checkpoint (every 2 epochs, then the phase's end), with the time left
    lines = [r.getMessage() for r in caplog.records if " left" in r.getMessage()]
    assert [line.split(",")[0] for line in lines] == [
        *(f"conv2_5db: epoch {e}/6" for e in (2, 4, 6)),
        f"conv2_5db L-BFGS: iteration {3 * CHUNK}/{3 * CHUNK}",
    ]
    assert lines[-1].endswith(", 0 s left") and "loss " in lines[0] and " s/epoch" in lines[0]
    lb = clean["lbfgs"]
    assert lb["iterations"] == 3 * CHUNK and not lb["converged"] and lb["seconds"] > 0
    assert lb["last_loss"] < lb["first_loss"] and clean["final_loss"] == adam["final_loss"]  # same Adam phase
    assert clean["eps"]["train"]["u"] < adam["eps"]["train"]["u"]
    assert clean["eps"]["train"]["v"] < adam["eps"]["train"]["v"]

    def kill(epoch: int) -> None:  # epochs + 2: after the second L-BFGS chunk and its checkpoint
        if epoch == 6 + 2:
            raise Killed

    monkeypatch.setattr("surrogate.lbfgs.CHECKPOINT_CHUNKS", 1)
    with pytest.raises(Killed):
        train_run(train_cfg(*extra), tmp_path / "killed", on_epoch=kill)
    midway = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)["lbfgs"]
    assert midway["done"] == 2 * CHUNK and "optimizer" in midway
    resumed = train_run(train_cfg(*extra), tmp_path / "killed")
    assert resumed["eps"] == clean["eps"] and resumed["lbfgs"]["iterations"] == lb["iterations"]
    wa = torch.load(tmp_path / "clean" / "checkpoint.pt", weights_only=False)
    wb = torch.load(tmp_path / "killed" / "checkpoint.pt", weights_only=False)
    assert all(torch.equal(wa["model"][k], wb["model"][k]) for k in wa["model"])
    assert "optimizer" not in wa["lbfgs"] and wa["lbfgs"]["done"] == 3 * CHUNK
    # a finished run without the phase is this run's prefix: its checkpoint is finished with L-BFGS, not redone
    (tmp_path / "extended").mkdir()
    shutil.copy(tmp_path / "adam" / "checkpoint.pt", tmp_path / "extended" / "checkpoint.pt")
    extended = train_run(train_cfg(*extra), tmp_path / "extended")
    assert extended["eps"] == clean["eps"] and extended["fingerprint"] == clean["fingerprint"] != adam["fingerprint"]
    with pytest.raises(RuntimeError, match="another config"):  # but a run with another L-BFGS phase is not
        train_run(train_cfg(*extra[:-1], f"train.lbfgs_iters={2 * CHUNK}"), tmp_path / "extended")


def test_lbfgs_knob_off_keeps_old_fingerprints_and_bad_values_are_named(tiny_data, tmp_path, train_cfg):
    from fe import dataset

    data = dataset.load(tiny_data / "train.h5")
    assert "lbfgs_iters" not in content(train_cfg("train.lbfgs_iters=0"), data)["train"]
    assert content(train_cfg("train.lbfgs_iters=40"), data)["train"]["lbfgs_iters"] == 40
    with pytest.raises(ValueError, match=r"train.lbfgs_iters=-1: must be an integer >= 0"):
        train_run(train_cfg("train.lbfgs_iters=-1"), tmp_path / "bad")
    with pytest.raises(ValueError, match=r"train.lbfgs_iters=20 with train.average_last=2"):
        train_run(train_cfg("train.lbfgs_iters=20", "train.average_last=2"), tmp_path / "both")


def test_durations_read_as_a_person_writes_them():
    expected = ["0 s", "12 s", "4 min 10 s", "1 h 00 min", "2 h 05 min"]
    assert [duration(s) for s in (0, 12.4, 250, 3600, 7507)] == expected
    line = progress_line("Conv3D", 250, 10000, "epoch", 0.01234, 0.63)
    assert line == "Conv3D: epoch 250/10000, loss 1.234e-02, 0.63 s/epoch, 1 h 42 min left"
