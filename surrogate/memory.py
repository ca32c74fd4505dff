"""Peak memory of a piece of work: CUDA's allocator peak, or the process's peak resident set.

On Linux the resident-set high-water mark (VmHWM) is reset by writing 5 to /proc/self/clear_refs, so
the figure belongs to this run even when a launcher reuses the process for several jobs; elsewhere
the process-lifetime ``ru_maxrss`` is reported (an upper bound).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import torch


def _vm_hwm() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Starts measuring on construction; :meth:`peak` returns bytes."""

    def __init__(self, device: torch.device):
        self.device = device
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass

    def peak(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.max_memory_allocated(self.device))
        hwm = _vm_hwm()
        if hwm is not None:
            return hwm
        scale = 1 if sys.platform == "darwin" else 1024
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
