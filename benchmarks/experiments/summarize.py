"""Write ``benchmarks/results/experiments/SUMMARY.md`` from the finished experiments.

Usage (from the repository root)::

    python benchmarks/experiments/summarize.py [--root benchmarks/results/experiments]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench.summary import write_summary

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write SUMMARY.md of the TCGA experiment suite.")
    ap.add_argument("--root", default=str(REPO / "benchmarks" / "results" / "experiments"))
    args = ap.parse_args(argv)
    path = write_summary(Path(args.root), REPO, Path(__file__).resolve().parent / "discussion.md")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
