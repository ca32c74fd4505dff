"""Typed description of a dataset: physics, mesh, sampling and solver settings, and their checks.

The dataclasses mirror the Hydra config groups key for key (``physics.*``, ``mesh.*``, ...), so a
:class:`SpecError` names the config key a user must change. Everything here is pure: the checks
run before any mesh is built or any file is written.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields

import numpy as np


class SpecError(ValueError):
    """A bad setting: names the config key, the value and what is allowed."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value = key, value
        super().__init__(f"{key}={value!r}: {allowed}")


AXES = ("x", "y", "z")
"""Physical axes in order; a d-dimensional setting uses the first d. Field arrays store them reversed
((H, W) = (y, x) in 2D, (D, H, W) = (z, y, x) in 3D)."""


def _pair(key: str, value, positive: bool = True) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecError(key, value, "expected a pair [a, b] of numbers") from None
    if positive and not (a > 0 and b > 0):
        raise SpecError(key, value, "both entries must be > 0")
    return a, b


def _half_widths(key: str, value) -> tuple[float, ...]:
    """Half-widths of a box: 2 entries (2D) or 3 (3D), all > 0."""
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecError(key, value, "expected a list of 2 (2D) or 3 (3D) numbers") from None
    if len(out) not in (2, 3):
        raise SpecError(key, list(value), "expected 2 half-widths (2D) or 3 (3D)")
    if not all(v > 0 for v in out):
        raise SpecError(key, list(value), "every entry must be > 0")
    return out


def _check_known(cls, section: str, values: dict) -> None:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SpecError(f"{section}.{unknown[0]}", values[unknown[0]], f"unknown key; known: {sorted(known)}")


@dataclass(frozen=True)
class Physics:
    """Wave speed, Omega = [-Lx, Lx] x [-Ly, Ly] (x [-Lz, Lz] in 3D), zone Omega' = [-L'x, L'x] x ...,
    horizon. The dimension is the number of half-widths in ``domain`` (2 or 3)."""

    c: float = 1.0
    domain: tuple[float, ...] = (1.0, 1.0)
    zone: tuple[float, ...] = (0.25, 0.25)
    t_final: float = 2.0

    def __post_init__(self):
        object.__setattr__(self, "domain", _half_widths("physics.domain", self.domain))
        object.__setattr__(self, "zone", _half_widths("physics.zone", self.zone))
        if not self.c > 0:
            raise SpecError("physics.c", self.c, "the wave speed must be > 0")
        if not self.t_final > 0:
            raise SpecError("physics.t_final", self.t_final, "must be > 0")
        if len(self.zone) != len(self.domain):
            raise SpecError("physics.zone", list(self.zone), f"needs {len(self.domain)} half-widths, as physics.domain")
        if not all(z < d for z, d in zip(self.zone, self.domain, strict=True)):
            raise SpecError(
                "physics.zone",
                list(self.zone),
                f"the zone of interest must lie strictly inside the domain {list(self.domain)}",
            )

    @property
    def dim(self) -> int:
        return len(self.domain)


@dataclass(frozen=True)
class MeshSpec:
    """``nx x ny`` squares on Omega, each cut into two triangles (2D), or ``nx x ny x nz`` cubes, each
    cut into six tetrahedra (3D); the resolution floor for omega."""

    nx: int = 64
    ny: int = 64
    nz: int | None = None
    min_nodes_per_wavelength: float = 10.0

    def __post_init__(self):
        for key in ("nx", "ny", "nz"):
            v = getattr(self, key)
            if key == "nz" and v is None:
                continue
            if not (isinstance(v, int) and not isinstance(v, bool) and v >= 2):
                raise SpecError(f"mesh.{key}", v, "the number of cells must be an integer >= 2")
        mnw = self.min_nodes_per_wavelength
        if not (isinstance(mnw, int | float) and not isinstance(mnw, bool) and mnw > 0):
            raise SpecError("mesh.min_nodes_per_wavelength", mnw, "must be a number > 0 (the resolution floor)")

    def cells(self, dim: int) -> tuple[int, ...]:
        """Cells per axis (x, y[, z]) for a ``dim``-dimensional domain."""
        if dim == 3 and self.nz is None:
            raise SpecError("mesh.nz", None, "a 3D domain needs the number of cells along z (an integer >= 2)")
        if dim == 2 and self.nz is not None:
            raise SpecError("mesh.nz", self.nz, "must be null for a 2D domain (physics.domain has 2 entries)")
        return (self.nx, self.ny, self.nz)[:dim]


@dataclass(frozen=True)
class Sampling:
    """Latin hypercube design of p = (omega, xs, ys[, zs]) for the train and test splits."""

    n_train: int = 100
    n_test: int = 25
    omega: tuple[float, float] = (2.0, 6.0)
    xs: tuple[float, float] | None = None
    ys: tuple[float, float] | None = None
    zs: tuple[float, float] | None = None
    margin_zone: float = 0.35
    margin_boundary: float = 0.1
    seed: int = 0

    def __post_init__(self):
        lo, hi = _pair("sampling.omega", self.omega)
        if lo > hi:
            raise SpecError("sampling.omega", [lo, hi], "expected [omega_min, omega_max] with min <= max")
        object.__setattr__(self, "omega", (lo, hi))
        for key in ("xs", "ys", "zs"):
            v = getattr(self, key)
            if v is not None:
                a, b = _pair(f"sampling.{key}", v, positive=False)
                if not a < b:
                    raise SpecError(f"sampling.{key}", [a, b], "expected [min, max] with min < max")
                object.__setattr__(self, key, (a, b))
        if not (isinstance(self.n_train, int) and self.n_train >= 1):
            raise SpecError("sampling.n_train", self.n_train, "must be an integer >= 1")
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0):
            raise SpecError("sampling.seed", self.seed, "must be an integer >= 0")
        if not (isinstance(self.n_test, int) and self.n_test >= 1):
            raise SpecError("sampling.n_test", self.n_test, "must be an integer >= 1")
        if not self.margin_zone > 0:
            raise SpecError(
                "sampling.margin_zone",
                self.margin_zone,
                "must be > 0: the source range would overlap the zone of interest",
            )
        if not self.margin_boundary > 0:
            raise SpecError(
                "sampling.margin_boundary",
                self.margin_boundary,
                "must be > 0: a source on the boundary u = 0 radiates nothing",
            )


@dataclass(frozen=True)
class SolverSpec:
    """Time discretisation and execution. ``block_size`` and ``parallel`` change how, not what."""

    n_snapshots: int = 33
    cfl: float = 0.9
    dt: float | None = None
    block_size: int = 16
    parallel: str = "samples"

    EXECUTION_KEYS = ("block_size", "parallel")

    def __post_init__(self):
        if not (isinstance(self.n_snapshots, int) and self.n_snapshots >= 2):
            raise SpecError("solver.n_snapshots", self.n_snapshots, "must be an integer >= 2")
        if not 0 < self.cfl <= 1:
            raise SpecError("solver.cfl", self.cfl, "must be in (0, 1]: dt = cfl * dt_crit")
        if self.dt is not None and not self.dt > 0:
            raise SpecError("solver.dt", self.dt, "must be > 0 or null (then cfl decides)")
        if not (isinstance(self.block_size, int) and self.block_size >= 1):
            raise SpecError("solver.block_size", self.block_size, "must be an integer >= 1")
        if self.parallel not in ("samples", "domain"):
            raise SpecError("solver.parallel", self.parallel, "allowed: 'samples' or 'domain'")


_NUMBER = {"float": (int, float), "int": (int,)}


def _check_types(cls, section: str, values: dict) -> None:
    """Scalar fields annotated ``float`` / ``int`` (optionally ``| None``) get a number of that kind."""
    for f in fields(cls):
        kind, _, rest = str(f.type).partition(" | ")
        if kind not in _NUMBER or f.name not in values:
            continue
        v = values[f.name]
        if v is None and rest == "None":
            continue
        if isinstance(v, bool) or not isinstance(v, _NUMBER[kind]):
            raise SpecError(f"{section}.{f.name}", v, f"must be {'an integer' if kind == 'int' else 'a number'}")


def build(cls, section: str, values: dict):
    """Construct a spec from a plain dict, naming unknown keys and values of the wrong kind."""
    _check_known(cls, section, values)
    _check_types(cls, section, values)
    return cls(**values)


@dataclass(frozen=True)
class SourceRegion:
    """Admissible source positions: the box ``xs x ys [x zs]`` minus the zone grown by ``margin_zone``.
    ``box`` and ``hole`` are flat ``(x0, x1, y0, y1[, z0, z1])``."""

    box: tuple[float, ...]
    hole: tuple[float, ...]

    @property
    def dim(self) -> int:
        return len(self.box) // 2

    def bounds(self, which: str = "box") -> list[tuple[float, float]]:
        flat = getattr(self, which)
        return [(flat[2 * a], flat[2 * a + 1]) for a in range(self.dim)]

    @staticmethod
    def of(physics: Physics, sampling: Sampling) -> SourceRegion:
        dim, mb, mz = physics.dim, sampling.margin_boundary, sampling.margin_zone
        if dim == 2 and sampling.zs is not None:
            raise SpecError("sampling.zs", list(sampling.zs), "must be null for a 2D domain")
        if min(physics.domain) <= mb:
            raise SpecError(
                "sampling.margin_boundary",
                mb,
                f"must be < half the domain's smaller side ({min(physics.domain)}): no room is left for a source",
            )
        box: list[float] = []
        for a in range(dim):
            key, lo, hi = f"sampling.{AXES[a]}s", -physics.domain[a] + mb, physics.domain[a] - mb
            a0, a1 = getattr(sampling, f"{AXES[a]}s") or (lo, hi)
            if a0 < lo - 1e-12 or a1 > hi + 1e-12:
                raise SpecError(key, [a0, a1], f"must lie within the domain less margin_boundary: [{lo}, {hi}]")
            box += [a0, a1]
        hole = [v for z in physics.zone for v in (-z - mz, z + mz)]
        region = SourceRegion(tuple(box), tuple(hole))
        if region.measure() <= 0:
            raise SpecError(
                "sampling.margin_zone",
                mz,
                "no admissible source position is left: the zone grown by margin_zone covers the source range",
            )
        return region

    def measure(self) -> float:
        """Area (2D) or volume (3D) of the admissible set."""
        box, hole = self.bounds("box"), self.bounds("hole")
        overlap = math.prod(max(0.0, min(b1, h1) - max(b0, h0)) for (b0, b1), (h0, h1) in zip(box, hole, strict=True))
        return math.prod(b1 - b0 for b0, b1 in box) - overlap

    def contains(self, points: np.ndarray, tol: float = 1e-9) -> np.ndarray:
        """(n,) bool: points (n, dim) in the box and not strictly inside the hole."""
        in_box = np.ones(points.shape[0], dtype=bool)
        in_hole = np.ones(points.shape[0], dtype=bool)
        for a, ((b0, b1), (h0, h1)) in enumerate(zip(self.bounds("box"), self.bounds("hole"), strict=True)):
            in_box &= (points[:, a] >= b0 - tol) & (points[:, a] <= b1 + tol)
            in_hole &= (points[:, a] > h0 + tol) & (points[:, a] < h1 - tol)
        return np.isfinite(points).all(axis=1) & in_box & ~in_hole

    def farthest_distance(self, zone: tuple[float, ...]) -> float:
        """Largest distance from an admissible source to the zone (attained at a box corner)."""
        return max(
            math.hypot(*(max(abs(c) - z, 0.0) for c, z in zip(corner, zone, strict=True)))
            for corner in itertools.product(*self.bounds("box"))
        )


ARRIVAL_FRACTION = 0.5
"""The wave from the farthest admissible source must reach Omega' by ``ARRIVAL_FRACTION * t_final``."""


def check_dataset(physics: Physics, mesh: MeshSpec, sampling: Sampling) -> SourceRegion:
    """Cross-checks: zone on the node grid, omega resolved, wave reaching the zone in time."""
    cells = mesh.cells(physics.dim)
    for axis, n in enumerate(cells):
        key, half, zhalf = f"n{AXES[axis]}", physics.domain[axis], physics.zone[axis]
        h = 2 * half / n
        offset = (half - zhalf) / h
        if abs(offset - round(offset)) > 1e-9:
            raise SpecError(
                f"mesh.{key}",
                n,
                f"the zone edge +-{zhalf} is not on a node of the grid of "
                f"spacing {h:.6g}: choose {key} so that (domain - zone) / h is an integer",
            )
        if round(2 * zhalf / h) < 2:
            raise SpecError(f"mesh.{key}", n, "the zone of interest needs at least 2 cells per side")
    h = max(2 * half / n for half, n in zip(physics.domain, cells, strict=True))
    wavelength = 2 * math.pi * physics.c / sampling.omega[1]
    if wavelength / h < mesh.min_nodes_per_wavelength:
        raise SpecError(
            "sampling.omega",
            list(sampling.omega),
            f"omega_max={sampling.omega[1]} is under-resolved: {wavelength / h:.1f} nodes per "
            f"wavelength < mesh.min_nodes_per_wavelength={mesh.min_nodes_per_wavelength}; refine "
            f"mesh.nx/ny{'/nz' if physics.dim == 3 else ''} or lower omega_max to <= "
            f"{2 * math.pi * physics.c / (mesh.min_nodes_per_wavelength * h):.3g}",
        )
    region = SourceRegion.of(physics, sampling)
    arrival = region.farthest_distance(physics.zone) / physics.c
    if arrival > ARRIVAL_FRACTION * physics.t_final:
        raise SpecError(
            "physics.t_final",
            physics.t_final,
            f"the wave from the farthest admissible source reaches the zone at t={arrival:.3g}; "
            f"t_final must be >= {arrival / ARRIVAL_FRACTION:.3g} so that it arrives well before",
        )
    return region
