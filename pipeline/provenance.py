"""How an artefact was made: config, its fingerprint, package versions, git revision, time."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "dolfinx-solver-real",
    "fenics-basix",
    "fenics-ffcx",
    "fenics-ufl",
    "mpi4py",
    "numpy",
    "scipy",
    "h5py",
    "torch",
    "hydra-core",
)


def versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (absent ones are left out)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        from petsc4py import PETSc

        out["petsc"] = ".".join(str(p) for p in PETSc.Sys.getVersion())
    except ImportError:
        pass
    return out


def git_revision(root: Path | None = None) -> str:
    """``HEAD``'s hash, suffixed ``-dirty`` when tracked files differ; ``unknown`` outside a repo."""
    root = root or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def fingerprint(content: dict) -> str:
    """SHA-256 of the canonical JSON of what determines a result."""
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def record(config_yaml: str, content: dict) -> dict:
    """The provenance attributes every artefact carries."""
    return {
        "config": config_yaml,
        "fingerprint": fingerprint(content),
        "versions": versions(),
        "git_revision": git_revision(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
