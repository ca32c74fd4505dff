"""MPI hygiene for the entry points: one rank's error must end the job, not hang the others."""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback

from mpi4py import MPI

log = logging.getLogger(__name__)


@contextlib.contextmanager
def abort_on_error():
    """Under mpirun, an exception on any rank is reported and aborts every rank (exit code 1);
    serially it propagates unchanged."""
    try:
        yield
    except Exception as err:
        if MPI.COMM_WORLD.size == 1:
            raise
        log.error("rank %d: %s", MPI.COMM_WORLD.rank, err)
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(1)


def quiet_other_ranks() -> None:
    """Under mpirun only rank 0 keeps Hydra's run folder and log file."""
    if MPI.COMM_WORLD.rank > 0:
        sys.argv += ["hydra.output_subdir=null", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
