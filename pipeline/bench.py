"""``make bench``: print the benchmark figures (and ratios measured in the same run).

``python -m pipeline.bench [fe|surrogate|surrogate3d|compile ...]``; with no argument every section
runs but ``compile`` (opt-in: it compiles three models, minutes).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    sections = argv or ["fe", "surrogate", "surrogate3d"]
    for section in sections:
        if section == "fe":
            from pipeline import bench_fe as mod

            out = mod.bench()
        elif section in ("surrogate", "surrogate3d"):
            from pipeline import bench_surrogate as mod

            out = mod.bench() if section == "surrogate" else mod.bench_3d()
        elif section == "compile":
            from pipeline import bench_surrogate as mod

            print(mod.report_compile(mod.bench_compile()), flush=True)
            continue
        else:
            raise SystemExit(f"unknown benchmark section {section!r}; allowed: fe, surrogate, surrogate3d, compile")
        print(mod.report(out), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
