"""The point source assembled from the P1 basis: partition of unity and exact linear reproduction,
for points inside cells, on edges and on vertices; serial and under mpirun -n 2 (marker mpi)."""

from __future__ import annotations

from mpi4py import MPI

import numpy as np
import pytest

from fe.discretization import Box, Discretization
from fe.source import point_weights

H = 2 / 8
POINTS = {
    "inside": [[0.1, 0.23], [-0.77, 0.41], [0.6, -0.9]],
    "edge": [[0.125, 0.25], [0.25, -0.6], [0.3, 0.3 + 0.0]],  # horizontal, vertical, diagonal edges
    "vertex": [[0.25, 0.25], [-1.0, -1.0], [0.0, 0.0], [1.0, 0.5]],
}


def _moments(disc: Discretization, points: np.ndarray) -> np.ndarray:
    """Per point: sum of weights, sum w x, sum w y, reduced over ranks."""
    rows, cols, vals = point_weights(disc, points)
    out = np.zeros((points.shape[0], 3))
    np.add.at(out[:, 0], cols, vals)
    np.add.at(out[:, 1], cols, vals * disc.coords[rows, 0])
    np.add.at(out[:, 2], cols, vals * disc.coords[rows, 1])
    return disc.comm.allreduce(out)


@pytest.mark.mpi
@pytest.mark.parametrize("where", sorted(POINTS))
def test_weights_are_a_partition_of_unity_reproducing_linears(where):
    disc = Discretization(MPI.COMM_WORLD, Box((-1, -1), (1, 1), (8, 8)))
    pts = np.array(POINTS[where])
    m = _moments(disc, pts)
    assert np.abs(m[:, 0] - 1).max() < 1e-14
    assert np.abs(m[:, 1:] - pts).max() < 1e-14


@pytest.mark.mpi
def test_random_points_and_nonnegative_weights():
    disc = Discretization(MPI.COMM_WORLD, Box((-1, -0.5), (1, 0.5), (7, 5)))
    pts = np.random.default_rng(3).uniform([-1, -0.5], [1, 0.5], size=(50, 2))
    m = _moments(disc, pts)
    assert np.abs(m[:, 0] - 1).max() < 1e-13 and np.abs(m[:, 1:] - pts).max() < 1e-13
    _, _, vals = point_weights(disc, pts)
    assert vals.min() > -1e-14  # barycentric coordinates of a point inside its triangle


def test_a_vertex_source_is_a_unit_nodal_load():
    disc = Discretization(MPI.COMM_SELF, Box((-1, -1), (1, 1), (8, 8)))
    rows, cols, vals = point_weights(disc, np.array([[0.25, -0.5]]))
    at_vertex = np.all(np.abs(disc.coords[rows] - [0.25, -0.5]) < 1e-14, axis=1)
    assert at_vertex.sum() == 1 and vals[at_vertex][0] == pytest.approx(1.0, abs=1e-14)
    assert np.abs(vals[~at_vertex]).max(initial=0.0) < 1e-14


@pytest.mark.mpi
def test_points_outside_the_mesh_are_refused():
    disc = Discretization(MPI.COMM_WORLD, Box((-1, -1), (1, 1), (4, 4)))
    with pytest.raises(ValueError, match="outside the mesh"):
        point_weights(disc, np.array([[0.0, 0.0], [1.5, 0.0]]))
