"""The HDF5 contract between the data stage and everything after it (documented in data/README.md).

One file per split. Datasets: ``params`` (N, 1 + dim) as (omega, xs, ys[, zs]); ``design/unit`` the LHS
points they came from; ``t`` (NT,); ``zone/x`` (W,), ``zone/y`` (H,), in 3D ``zone/z`` (D,); ``u`` and
``v`` (N, NT, H, W) or (N, NT, D, H, W) float64, one chunk per sample, gzip-compressed;
``boundary/index`` (B, dim) the grid indices of the boundary nodes (2D: the ordered loop, (row, col);
3D: the surface nodes in C order, (k, i, j)); ``done`` (N,) bool. Root attributes: ``schema_version``,
``config`` (resolved config, YAML), ``fingerprint`` (hash of what determines the data), ``versions``
(JSON), ``git_revision``, ``created``, ``design``, ``split``, ``complete``, ``params_sha256``.

Integrity (since schema 2): every dataset carries HDF5's Fletcher-32 checksum, so a flipped bit in a chunk
fails the read; ``params_sha256`` guards the design against rewrites, and :func:`load` checks each
stored source against the design the recorded config admits (omega range, source box minus the zone).

Only h5py, numpy and the pure spec checks here: the surrogate stage loads datasets without DOLFINx.
"""

from __future__ import annotations

import errno
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import yaml

from fe.spec import Physics, Sampling, SourceRegion, build  # pure checks, no DOLFINx

SCHEMA_VERSION = 3
READABLE = (1, 2, 3)  # 3: 3D zones (zone/z, (B, 3) boundary index); 2D files of versions 1-2 still load


class DatasetError(ValueError):
    """A missing, incomplete, corrupt or incompatible dataset file."""


@dataclass
class Dataset:
    """A loaded split. Fields are ``(N, NT, *zone)`` with zone ``(H, W)`` or ``(D, H, W)``;
    ``boundary_index`` is ``(B, dim)``; ``z`` is None in 2D."""

    path: Path
    params: np.ndarray
    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    boundary_index: np.ndarray
    attrs: dict = field(default_factory=dict)
    z: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.u.ndim - 2

    @property
    def boundary_u(self) -> np.ndarray:
        return self.u[(Ellipsis, *self.boundary_index.T)]

    @property
    def boundary_v(self) -> np.ndarray:
        return self.v[(Ellipsis, *self.boundary_index.T)]

    def subset(self, idx) -> Dataset:
        return Dataset(
            self.path,
            self.params[idx],
            self.t,
            self.x,
            self.y,
            self.u[idx],
            self.v[idx],
            self.boundary_index,
            self.attrs,
            self.z,
        )


def create(
    path: Path,
    params: np.ndarray,
    unit: np.ndarray,
    t: np.ndarray,
    nodes: tuple[np.ndarray, ...],
    boundary_index: np.ndarray,
    attrs: dict,
) -> None:
    """Create a file with every sample pending (``done`` all False); ``nodes`` are the zone's node
    coordinates per physical axis (x, y[, z])."""
    n, nt, zone = params.shape[0], t.size, tuple(a.size for a in reversed(nodes))
    with h5py.File(path, "w") as f:
        for name, value in (
            ("params", params),
            ("design/unit", unit),
            ("t", t),
            *((f"zone/{a}", c) for a, c in zip("xyz", nodes, strict=False)),
            ("boundary/index", boundary_index),
            ("done", np.zeros(n, dtype=bool)),
        ):
            f.create_dataset(name, data=value, fletcher32=True)
        for name in ("u", "v"):
            f.create_dataset(
                name,
                shape=(n, nt, *zone),
                dtype="f8",
                chunks=(1, nt, *zone),
                compression="gzip",
                compression_opts=4,
                shuffle=True,
                fletcher32=True,
            )
        f.attrs["schema_version"] = SCHEMA_VERSION
        f.attrs["params_sha256"] = params_sha256(params)
        f.attrs["complete"] = False
        for key, value in attrs.items():
            f.attrs[key] = value if isinstance(value, str | int | float | bool) else json.dumps(value)


def write_samples(path: Path, idx: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Store finished samples and mark them done; the file is closed (consistent) on return."""
    with h5py.File(path, "r+") as f:
        for k, i in enumerate(idx):
            f["u"][i] = u[k]
            f["v"][i] = v[k]
        # HDF5 may write its cached chunks in any order: hand the fields to the OS before the done
        # mask, so a process killed in between never leaves a sample marked done without its data
        f.flush()
        done = f["done"][...]
        done[idx] = True
        f["done"][...] = done


def mark_complete(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        if not f["done"][...].all():
            raise DatasetError(f"{path}: cannot mark complete, {int((~f['done'][...]).sum())} samples pending")
        f.attrs["complete"] = True


def params_sha256(params: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(params, dtype="<f8").tobytes()).hexdigest()


class DatasetLocked(DatasetError):
    """The file is open for writing by another process (HDF5's file lock)."""


def _locked(err: OSError) -> bool:
    return getattr(err, "errno", None) in (errno.EAGAIN, errno.EWOULDBLOCK) or "unable to lock file" in str(err)


def read_attrs(path: Path) -> dict:
    """Root attributes and the done mask; :class:`DatasetLocked` if another process is writing it,
    DatasetError if the file cannot be read."""
    try:
        with h5py.File(path, "r") as f:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
            attrs["done"] = f["done"][...] if "done" in f else None
            return attrs
    except OSError as err:
        if _locked(err):
            raise DatasetLocked(
                f"{path}: locked by another process (a data stage still writing it?); wait for it to "
                "finish, or stop it, then re-run"
            ) from err
        raise DatasetError(f"{path}: not a readable wavezoom dataset ({err})") from err
    except KeyError as err:
        raise DatasetError(f"{path}: not a readable wavezoom dataset ({err})") from err


def check_design(path: Path, params: np.ndarray, attrs: dict) -> None:
    """Every stored p = (omega, xs, ys[, zs]) must be one the recorded config admits: omega in its range,
    the source in the source box and outside the zone grown by margin_zone; and the design's hash
    must match the one written at creation."""
    stored = attrs.get("params_sha256")
    if stored is not None and stored != params_sha256(params):
        raise DatasetError(f"{path}: corrupt dataset (params differ from the design written at creation)")
    try:
        cfg = yaml.safe_load(attrs["config"])
        physics = build(Physics, "physics", cfg["physics"])
        sampling = build(Sampling, "sampling", cfg["sampling"])
        region = SourceRegion.of(physics, sampling)
    except Exception as err:  # a config we cannot read back: refuse rather than trust the samples
        raise DatasetError(f"{path}: corrupt dataset (its recorded config does not parse: {err})") from err
    tol, (w0, w1) = 1e-9, sampling.omega
    if params.ndim != 2 or params.shape[1] != 1 + region.dim:
        raise DatasetError(f"{path}: corrupt dataset: params of shape {params.shape}, expected (N, {1 + region.dim})")
    om = params[:, 0]
    bad = ~np.isfinite(om) | (om < w0 - tol) | (om > w1 + tol) | ~region.contains(params[:, 1:], tol)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DatasetError(
            f"{path}: corrupt dataset: sample {k} has p = {params[k].tolist()}, outside the design of its "
            f"config (omega in {list(sampling.omega)}, source in box {list(region.box)} outside the zone "
            f"grown by margin_zone {list(region.hole)}); regenerate it"
        )


def _check(path: Path, attrs: dict) -> None:
    version = attrs.get("schema_version")
    if version not in READABLE:
        raise DatasetError(
            f"{path}: schema_version {version!r}, this code reads {SCHEMA_VERSION}; "
            "regenerate the dataset with this version of wavezoom"
        )
    done = attrs["done"]
    if done is None or not attrs.get("complete") or not done.all():
        n_pending = "?" if done is None else int((~done).sum())
        raise DatasetError(
            f"{path}: incomplete dataset ({n_pending} samples pending); finish it by "
            "re-running the data stage with the same config"
        )


def load(path: str | Path) -> Dataset:
    """Open a complete split, checking the schema version and the done mask."""
    path = Path(path)
    if not path.is_file():
        partial = path.with_name(path.name + ".partial")
        hint = f" (an unfinished {partial.name} exists: re-run the data stage to finish it)" if partial.exists() else ""
        raise DatasetError(f"{path}: no such dataset{hint}; generate it with 'make data' or python -m pipeline.data")
    attrs = read_attrs(path)
    _check(path, attrs)
    try:
        with h5py.File(path, "r") as f:
            ds = Dataset(
                path,
                f["params"][...],
                f["t"][...],
                f["zone/x"][...],
                f["zone/y"][...],
                f["u"][...],
                f["v"][...],
                f["boundary/index"][...].astype(np.int64),
                {k: v for k, v in attrs.items() if k != "done"},
                f["zone/z"][...] if "zone/z" in f else None,
            )
    except (OSError, KeyError) as err:  # OSError: a Fletcher-32 checksum failed, a truncated file
        raise DatasetError(f"{path}: corrupt dataset ({err}); regenerate it") from err
    check_design(path, ds.params, ds.attrs)
    return ds
