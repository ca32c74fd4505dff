"""Progress lines for unattended runs (``progress=false``: Slurm jobs, multiruns), where no bar is drawn:
one log line per checkpoint with the loss, the pace and the time left."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``2 h 05 min``, ``4 min 10 s``, ``12 s``."""
    s = int(round(max(seconds, 0.0)))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def progress_line(desc: str, done: int, total: int, unit: str, loss: float, seconds_per_unit: float) -> str:
    """``conv2_5db: epoch 250/10000, loss 1.234e-02, 0.63 s/epoch, 1 h 42 min left`` for ``seconds_per_unit``
    the caller's recent pace (the time left assumes it holds)."""
    left = duration((total - done) * seconds_per_unit)
    return f"{desc}: {unit} {done}/{total}, loss {loss:.3e}, {seconds_per_unit:.3g} s/{unit}, {left} left"


SUSPENDED = 10.0  # an epoch this many times the median is a suspended process, not training


def mean_pace(seconds: list[float]) -> tuple[float | None, int]:
    """Mean seconds per epoch without the epochs the process was suspended in (laptop sleep, SIGSTOP,
    a preempted node: longer than ``SUSPENDED`` x the median), and how many were left out; an hours-long
    pause would otherwise set a run's epoch time, and its table cell, several times too high."""
    if not seconds:
        return None, 0
    ordered = sorted(seconds)
    median = ordered[len(ordered) // 2]
    kept = [s for s in seconds if s <= SUSPENDED * median]
    return sum(kept) / len(kept), len(seconds) - len(kept)
