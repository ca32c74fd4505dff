"""Gather a sweep into the paper's tables: ``python -m pipeline.tables <sweep dir> [--records
runs.jsonl ...] [--out DIR]``.

Writes ``tables.md`` plus one CSV per table (built by ``pipeline.tabulate``: rows and columns from
the configs' labels, in the paper's order) and ``runs.jsonl`` (every run tabulated, one line each:
``pipeline.records``) into the sweep folder or ``--out``. ``--records`` adds the runs of earlier
tables' ``runs.jsonl`` (run folders on another machine, or gone): new seeds join old ones exactly.
When ``pipeline.ensemble`` scored the sweep, the seed-ensemble table is added and its
``ensembles.json`` copied into ``--out``.
Exits with code 1, naming the problems, when no run could be tabulated.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from pipeline.artefacts import ENSEMBLES, RunError, write_json, write_text
from pipeline.records import RECORDS, dumps
from pipeline.sweep import collect
from pipeline.tabulate import render

log = logging.getLogger(__name__)


def write_tables(
    root: str | Path,
    out: str | Path | None = None,
    baselines: str | Path | None = None,
    records: Sequence[str | Path] = (),
) -> Path:
    """Write ``tables.md``, the CSVs and ``runs.jsonl`` (into ``out``, default the sweep folder) from
    the sweep's run folders and the ``records`` files; return the .md path."""
    sweep = collect(root, baselines, records)
    out = Path(out) if out else Path(root)
    out.mkdir(parents=True, exist_ok=True)
    md, csvs = render(sweep)
    if not sweep.groups:
        raise RunError(f"{root}: nothing to tabulate (no finished run)" + "".join(f"\n  - {p}" for p in sweep.problems))
    for name, text in csvs.items():
        write_text(out / name, text)
    write_text(out / RECORDS, dumps([cell for key in sorted(sweep.groups) for cell in sweep.groups[key]]))
    write_text(out / "tables.md", md)
    if sweep.ensembles and out.resolve() != Path(root).resolve():  # committed beside the tables it feeds
        write_json(out / ENSEMBLES, sweep.ensembles)
    for problem in sweep.problems:
        log.warning(problem)
    return out / "tables.md"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.tables", description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="a sweep folder (or a single run folder)")
    parser.add_argument("--out", help="where to write tables.md and the CSVs (default: the sweep folder)")
    parser.add_argument(
        "--baselines",
        help="baselines.json for the reference rows (default: <results_dir>/baselines/<data>/ of the runs)",
    )
    parser.add_argument(
        "--records",
        nargs="+",
        default=[],
        metavar="RUNS_JSONL",
        help="runs.jsonl files of earlier tables whose runs join the sweep's (a run folder wins over a record)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        path = write_tables(args.sweep, args.out, args.baselines, args.records)
    except RunError as err:
        raise SystemExit(f"error: {err}") from None
    print(path.read_text())
    print(f"written: {path}")


if __name__ == "__main__":
    main()
