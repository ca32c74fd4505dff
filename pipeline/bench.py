"""``make bench``: print the benchmark figures (and ratios measured in the same run).

``python -m pipeline.bench [fe|surrogate ...]``; with no argument every section runs.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    sections = argv or ["fe", "surrogate"]
    for section in sections:
        if section == "fe":
            from pipeline import bench_fe as mod
        elif section == "surrogate":
            from pipeline import bench_surrogate as mod
        else:
            raise SystemExit(f"unknown benchmark section {section!r}; allowed: fe, surrogate")
        print(mod.report(mod.bench()), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
