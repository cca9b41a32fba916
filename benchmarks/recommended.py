"""Fit time of the recommended model (CoxMTCV) on TCGA-BRCA, next to its parts.

Run from the repository root (TCGA data in ``../shared/data/tcga``)::

    python benchmarks/recommended.py              # threads 1 and 2, 3 repeats
    python benchmarks/recommended.py --repeats 1  # quicker

The issue's target: fitting the recommended model on BRCA, tuning and ensemble
included, in under 60 s on 2 cores. What is timed, on all 956 BRCA patients after
``make_rnaseq_preprocessor(k=1000)`` (fitted once, outside the timing), with the
other cohorts as an optional unlabeled pool: one default Cox-MT fit
(the unit of cost), ``CoxMTCV()`` (4 settings x 3 inner folds + 1 refit, calibrated)
and ``CoxMTCV(n_members=5)`` (+ 4 x 3 inner ensemble members + 5 refits), each without
and with the 903 LUAD + LUSC patients as unlabeled rows (genes common to the three
cohorts, BRCA's preprocessing), and the ensemble with ridge Cox as a fallback candidate
(``fallback=PenalizedCox()``, the ``coxmt-cv-ridge`` recipe) with them, each at torch's 1
and 2 intra-op threads. Methods alternate within each repeat; the median
wall-clock time is reported. Writes ``benchmarks/results/recommended.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from coxmt import CoxMT  # noqa: E402
from coxmt._atomic import atomic_write_text  # noqa: E402
from coxmt.estimators.linear import PenalizedCox  # noqa: E402
from coxmt.model_selection import CoxMTCV  # noqa: E402
from coxmt.preprocessing import make_rnaseq_preprocessor  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "tcga" / "tcga_brca.csv.gz"


def load() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """BRCA (preprocessed) and, as unlabeled rows, LUAD + LUSC through BRCA's preprocessing."""
    if not DATA.is_file():
        raise SystemExit(
            f"{DATA} is missing: this benchmark needs the TCGA cohorts in ../shared/data"
        )
    frame = pd.read_csv(DATA)
    pool = pd.concat([pd.read_csv(DATA.with_name(f"tcga_{c}.csv.gz")) for c in ("luad", "lusc")])
    genes = [c for c in frame.columns if c.endswith("_rnaseq") and c in pool.columns]
    pre = make_rnaseq_preprocessor(k=1000)
    X = np.asarray(pre.fit_transform(frame[genes]), dtype=np.float32)
    U = np.asarray(pre.transform(pool[genes]), dtype=np.float32)
    return X, (frame["event"].to_numpy(bool), frame["time_months"].to_numpy(float)), U


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "recommended.json")
    args = p.parse_args()
    X, y, U = load()
    methods = {
        "Cox-MT, one default fit": lambda: CoxMT(random_state=0).fit(X, y),
        "CoxMTCV() (12 inner fits + 1 refit)": lambda: CoxMTCV(random_state=0).fit(X, y),
        "CoxMTCV(n_members=5) (24 inner + 5 refits)": lambda: CoxMTCV(
            n_members=5, random_state=0
        ).fit(X, y),
        f"Cox-MT, one default fit, +{len(U)} unlabeled": lambda: CoxMT(random_state=0).fit(
            X, y, X_unlabeled=U
        ),
        f"CoxMTCV(), +{len(U)} unlabeled": lambda: CoxMTCV(random_state=0).fit(X, y, X_unlabeled=U),
        f"CoxMTCV(n_members=5), +{len(U)} unlabeled": lambda: CoxMTCV(
            n_members=5, random_state=0
        ).fit(X, y, X_unlabeled=U),
        f"CoxMTCV(n_members=5, fallback=ridge Cox), +{len(U)} unlabeled": lambda: CoxMTCV(
            n_members=5, fallback=PenalizedCox(), random_state=0
        ).fit(X, y, X_unlabeled=U),
    }
    rows: list[dict[str, Any]] = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        times: dict[str, list[float]] = {k: [] for k in methods}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        for name, ts in times.items():
            rows.append({"threads": threads, "method": name, "seconds": float(np.median(ts))})
            print(f"threads {threads}  {name:50s} {np.median(ts):7.1f} s", flush=True)
    print("\n| threads | model | median s |\n|---:|---|---:|")
    for r in rows:
        print(f"| {r['threads']} | {r['method']} | {r['seconds']:.1f} |")
    payload = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
        },
        "data": f"TCGA-BRCA {X.shape[0]} patients x {X.shape[1]} genes",
        "repeats": args.repeats,
        "rows": rows,
    }
    atomic_write_text(args.out, json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
