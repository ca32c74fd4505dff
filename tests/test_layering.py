"""The layering: surrogate/ imports without DOLFINx, fe/ and surrogate/ without Hydra or the pipeline,
no pipeline stage imports another, and the report and tables import without DOLFINx."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

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
    if mod.name not in {skip!r} and ({only!r} is None or mod.name in {only!r}):
        importlib.import_module('{package}.' + mod.name)
print('ok')
"""


def _imports(
    package: str, blocked: set[str], skip: set[str] = frozenset(), only: set[str] | None = None
) -> subprocess.CompletedProcess:
    code = BLOCK.format(
        package=package, blocked=sorted(blocked), skip=sorted(skip), only=sorted(only) if only else None
    )
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


# -- the pipeline's layering: stages share modules, never each other -------------------------------
def _pipeline_imports(path: Path) -> set[str]:
    """Names of the ``pipeline`` modules a file imports (anywhere in it, lazily or not)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("pipeline.")}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "pipeline":
                out |= {a.name for a in node.names}
            elif node.module.startswith("pipeline."):
                out.add(node.module.split(".")[1])
    return out


def _is_stage(path: Path) -> bool:
    """A stage is an entry point: a module run with ``python -m`` (it has a ``__main__`` guard)."""
    return '__name__ == "__main__"' in path.read_text()


PIPELINE = sorted((ROOT / "pipeline").glob("*.py"))
STAGES = {p.stem for p in PIPELINE if _is_stage(p)}


def test_the_stages_are_found():
    assert {"data", "train", "submodel", "baselines", "tables", "report"} <= STAGES


@pytest.mark.parametrize("path", PIPELINE, ids=lambda p: p.stem)
def test_no_module_imports_a_stage(path):
    """Stages import shared modules (artefacts, runs, scoring, zoom, tabulate, ...), never a stage;
    shared modules never import a stage either. Benchmarks (bench_*) drive stages and may."""
    if path.stem.startswith("bench"):
        return
    bad = (_pipeline_imports(path) & STAGES) - {path.stem}
    assert not bad, f"pipeline/{path.name} imports the stage(s) {sorted(bad)}: move what they share to a shared module"


@pytest.mark.parametrize("package", ["fe", "surrogate"])
def test_the_libraries_never_import_the_pipeline(package):
    for path in sorted((ROOT / package).glob("*.py")):
        assert not _pipeline_imports(path) and "import pipeline" not in path.read_text(), path


def test_report_and_tables_import_without_dolfinx():
    out = _imports(
        "pipeline",
        {"dolfinx", "dolfinx_solver", "petsc4py", "ufl", "basix"},
        only={"report", "tables", "tabulate", "claims", "sweep", "records"},
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_the_layering_check_can_fail(tmp_path):
    """The AST scan sees a back-import, lazy or not."""
    fake = tmp_path / "fake.py"
    fake.write_text("def f():\n    from pipeline.train import train_run\n    import pipeline.submodel\n")
    assert _pipeline_imports(fake) == {"train", "submodel"}
