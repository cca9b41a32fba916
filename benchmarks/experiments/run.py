"""Run one experiment of the TCGA suite from its configuration file.

Usage (from the repository root)::

    python benchmarks/experiments/run.py benchmarks/experiments/a_baselines.json
    python benchmarks/experiments/run.py benchmarks/experiments/e_external.json --train luad --test lusc
    python benchmarks/experiments/run.py CONFIG --quick --out /tmp/x     # toy-size smoke run

Writes ``benchmarks/results/experiments/<name>/`` (or ``--out``): one results folder
per part (``results.csv``, ``predictions.csv``, ``config.json``, ``report.html``,
``report.md``, ``figures/``) and the underlying cross-validation runs under
``runs/`` (resumable: an interrupted command continues where it stopped).
``--train/--test`` take TCGA cohort names (brca, luad, lusc, ucec) or table paths
(columns ``case_id``, ``time_months``, ``event``, ``<GENE>_rnaseq``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench.config import load_config  # noqa: E402
from _bench.kinds import KIND_FUNCTIONS, Context  # noqa: E402
from _bench.merge import merge_view  # noqa: E402

__all__ = ["main", "run_experiment"]

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "experiments"


def run_experiment(
    config_path: str | Path,
    *,
    quick: bool = False,
    out: str | Path | None = None,
    n_jobs: int | None = None,
    parts: list[str] | None = None,
    pairs: list[list[str]] | None = None,
    verbose: bool = True,
    report: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Run the parts of one experiment; return the merged results folders."""
    cfg = load_config(config_path, quick=quick)
    out_dir = Path(out) if out is not None else RESULTS / cfg["name"]
    if pairs and out is None:
        out_dir = (
            out_dir
            / "custom"
            / "__".join("_to_".join(Path(x).name.split(".")[0] for x in pair) for pair in pairs)
        )
    ctx = Context(
        out_dir=out_dir,
        random_state=int(cfg["random_state"]),
        n_jobs=int(n_jobs if n_jobs is not None else (1 if quick else cfg["n_jobs"])),
        quick=quick,
        verbose=verbose,
        overwrite=overwrite,
        overrides={"pairs": pairs} if pairs else {},
    )
    folders = []
    for part in cfg["parts"]:
        if parts and part["name"] not in parts:
            continue
        if pairs and part["kind"] != "external":
            continue
        start = time.perf_counter()
        views = KIND_FUNCTIONS[part["kind"]](part, ctx)
        for view in views:
            folders.append(merge_view(view, cfg, report=report))
        if verbose:
            print(
                f"[{cfg['name']}/{part['name']}] done in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
    return folders


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", help="experiment configuration (JSON)")
    ap.add_argument("--quick", action="store_true", help="toy data, 2 folds, 2 epochs")
    ap.add_argument("--out", help="results folder (default benchmarks/results/experiments/NAME)")
    ap.add_argument("--n-jobs", type=int, help="worker processes (default: the config's)")
    ap.add_argument("--parts", help="comma-separated part names to run (default: all)")
    ap.add_argument("--train", help="external validation: training cohort or table")
    ap.add_argument("--test", help="external validation: test cohort or table")
    ap.add_argument("--no-report", action="store_true", help="skip the HTML/Markdown reports")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute runs made with another configuration (e.g. another coxmt version)",
    )
    args = ap.parse_args(argv)
    if (args.train is None) != (args.test is None):
        ap.error("--train and --test go together")
    pairs = [[args.train, args.test]] if args.train else None
    folders = run_experiment(
        args.config,
        quick=args.quick,
        out=args.out,
        n_jobs=args.n_jobs,
        parts=args.parts.split(",") if args.parts else None,
        pairs=pairs,
        verbose=not args.quiet,
        report=not args.no_report,
        overwrite=args.overwrite,
    )
    for f in folders:
        print(f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
