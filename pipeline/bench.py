"""``make bench``: print the benchmark figures (and ratios measured in the same run).

``python -m pipeline.bench [fe|surrogate|factors|activation|surrogate3d|widths|loop|share|compile|precision ...]``;
with no argument every section runs but ``compile`` (opt-in: it compiles five models, minutes) and
``precision`` (opt-in: the bf16 autocast step, meant for CUDA).
"""

from __future__ import annotations

import importlib
import sys

# section: (module under pipeline/, its function measuring, its function printing); imported lazily
SECTIONS = {
    "fe": ("bench_fe", "bench", "report"),
    "surrogate": ("bench_surrogate", "bench", "report"),
    "surrogate3d": ("bench_surrogate", "bench_3d", "report"),
    "factors": ("bench_factors", "bench", "report"),
    "activation": ("bench_activation", "bench", "report"),
    "compile": ("bench_compile", "bench", "report"),
    "precision": ("bench_precision", "bench", "report"),
    "widths": ("bench_widths", "bench", "report"),
    "loop": ("bench_loop", "bench", "report"),
    "share": ("bench_share", "bench", "report"),
}
# compile and precision are opt-in: compile compiles five models (minutes); precision's bf16 is meant for CUDA
DEFAULT = ("fe", "surrogate", "factors", "activation", "surrogate3d", "widths", "loop", "share")


def main(argv: list[str]) -> None:
    unknown = [s for s in argv if s not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown benchmark section {unknown[0]!r}; allowed: {', '.join(SECTIONS)}")
    for section in argv or DEFAULT:
        module, measure, report = SECTIONS[section]
        mod = importlib.import_module(f"pipeline.{module}")
        print(getattr(mod, report)(getattr(mod, measure)()), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
