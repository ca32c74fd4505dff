"""The libraries' layering: surrogate/ imports without DOLFINx, fe/ and surrogate/ without Hydra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import pkgutil, importlib, {package}
for mod in pkgutil.iter_modules({package}.__path__):
    if mod.name not in {skip!r}:
        importlib.import_module('{package}.' + mod.name)
print('ok')
"""


def _imports(package: str, blocked: set[str], skip: set[str] = frozenset()) -> subprocess.CompletedProcess:
    code = BLOCK.format(package=package, blocked=sorted(blocked), skip=sorted(skip))
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_surrogate_imports_without_dolfinx_or_hydra():
    out = _imports("surrogate", {"dolfinx", "dolfinx_solver", "petsc4py", "hydra", "omegaconf"})
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_fe_imports_without_hydra_or_torch():
    out = _imports("fe", {"hydra", "omegaconf", "torch"})
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_the_dataset_loader_needs_no_dolfinx():
    code = (
        "import sys\nclass B:\n def find_spec(self, n, p=None, t=None):\n"
        "  if n.split('.')[0] in ('dolfinx', 'dolfinx_solver'): raise ImportError(n)\n"
        "sys.meta_path.insert(0, B())\nimport fe.dataset\nprint('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr
