"""Seed ensembles and post-hoc risk-scale calibration vs ridge Cox: Harrell's C and IBS.

A screen, not a powered comparison: 5-fold stratified CV, one repeat, on TCGA cohorts.
Preprocessing as in the main experiment suite (top-1,000 variance genes + z-scoring,
fitted on each training fold). Models, all at library defaults:

- Cox-nnet, Cox-MT (200 full-batch epochs);
- their 5-seed ensembles (:class:`coxmt.model_selection.SeedEnsemble`);
- the calibrated versions of all four (:class:`coxmt.model_selection.CalibratedRisk`,
  5 inner folds);
- ridge Cox (:class:`coxmt.PenalizedCox`, penalty by its internal CV);
- for scale, the model without covariates (risk 0, Nelson-Aalen survival).

The uncalibrated networks are the ``estimator_`` refits of the calibrated ones (the same
hyperparameters, seed and training rows), so every network is trained once per role.
IBS uses the grid of the experiment suite (:func:`coxmt.experiments.ibs_times`).

Usage::

    python benchmarks/calibration.py                 # BRCA and LUAD
    python benchmarks/calibration.py --cohorts brca  # BRCA only
    python benchmarks/calibration.py --toy           # a synthetic smoke test (seconds)
    python benchmarks/calibration.py --null-only     # only the no-covariate reference

Writes ``benchmarks/results/calibration.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from coxmt import CoxMT, CoxNnet, PenalizedCox
from coxmt._atomic import atomic_write_text
from coxmt._validation import make_target
from coxmt.baseline import BreslowBaseline
from coxmt.data import load_tcga
from coxmt.experiments import ibs_times
from coxmt.metrics import concordance_index, integrated_brier_score
from coxmt.model_selection import CalibratedRisk, SeedEnsemble
from coxmt.preprocessing import make_rnaseq_preprocessor

OUT = Path(__file__).resolve().parent / "results" / "calibration.json"
SEED = 0


def _cohort(name: str, toy: bool) -> tuple[pd.DataFrame, np.ndarray]:
    if toy:
        rng = np.random.default_rng(0)
        X = rng.normal(size=(200, 30))
        t = rng.exponential(np.exp(-X[:, 0]))
        c = rng.exponential(2.0, size=200)
        return pd.DataFrame(X), make_target(t <= c, np.minimum(t, c))
    table = load_tcga(name)
    return table.X, np.asarray(table.y)


def _networks(toy: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"random_state": SEED, "n_threads": 1}
    if toy:
        extra.update(max_epochs=10, hidden_layer_sizes=(8,))
    return {"Cox-nnet": CoxNnet(**extra), "Cox-MT": CoxMT(**extra)}


def _metrics(model: Any, Xte: Any, y_tr: np.ndarray, y_te: np.ndarray) -> dict[str, float]:
    risk = np.asarray(model.predict(Xte), dtype=np.float64)
    c = concordance_index(y_te["event"], y_te["time"], risk)
    grid = ibs_times(y_tr["time"], y_te["time"])
    surv = model.predict_survival_function(Xte, times=grid)
    return {"c_index": float(c), "ibs": float(integrated_brier_score(y_tr, y_te, surv, grid))}


class NoCovariates:
    """The reference without covariates: risk 0 for all, Nelson-Aalen survival."""

    def fit(self, X: Any, y: np.ndarray) -> NoCovariates:
        self.baseline_ = BreslowBaseline().fit(np.zeros(len(y)), y["event"], y["time"])
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X))

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        return self.baseline_.survival(self.predict(X), times)


def run_cohort(name: str, toy: bool, null_only: bool = False) -> list[dict[str, Any]]:
    X, y = _cohort(name, toy)
    k = 1000 if not toy else None
    folds = StratifiedKFold(5, shuffle=True, random_state=SEED).split(X, y["event"])
    rows: list[dict[str, Any]] = []
    for fold, (tr, te) in enumerate(folds):
        pre = make_rnaseq_preprocessor(k=k, scale=True).fit(X.iloc[tr])
        Xtr, Xte = pre.transform(X.iloc[tr]), pre.transform(X.iloc[te])
        y_tr, y_te = y[tr], y[te]

        def record(label: str, model: Any, seconds: float, scale: float = np.nan) -> None:
            m = _metrics(model, Xte, y_tr, y_te)  # noqa: B023 - called within this iteration
            row = {"cohort": name, "fold": fold, "model": label, **m}  # noqa: B023
            rows.append({**row, "scale": scale, "fit_seconds": seconds})

        record("no covariates (Nelson-Aalen)", NoCovariates().fit(Xtr, y_tr), 0.0)
        if null_only:
            continue
        t0 = time.perf_counter()
        ridge = PenalizedCox(random_state=SEED).fit(Xtr, y_tr)
        record("ridge Cox", ridge, time.perf_counter() - t0)
        for net_name, net in _networks(toy).items():
            for ens in (False, True):
                base = SeedEnsemble(clone(net), n_members=5, random_state=SEED) if ens else net
                label = f"{net_name} x5" if ens else net_name
                t0 = time.perf_counter()
                cal = CalibratedRisk(clone(base), cv=5, random_state=SEED).fit(Xtr, y_tr)
                seconds = time.perf_counter() - t0
                record(label, cal.estimator_, np.nan)
                record(f"{label} calibrated", cal, seconds, cal.scale_)
        done = [r for r in rows if r["fold"] == fold]
        print(
            f"{name} fold {fold}: "
            + ", ".join(f"{r['model']} C={r['c_index']:.3f} IBS={r['ibs']:.3f}" for r in done),
            flush=True,
        )
    return rows


def table(frame: pd.DataFrame) -> str:
    agg = frame.groupby(["cohort", "model"], sort=False).agg(
        c_mean=("c_index", "mean"),
        c_sd=("c_index", "std"),
        ibs_mean=("ibs", "mean"),
        ibs_sd=("ibs", "std"),
        scale=("scale", "median"),
    )
    lines = [
        "| cohort | model | Harrell C | IBS | median scale a |",
        "|---|---|---|---|---|",
    ]
    for (cohort, model), r in agg.iterrows():
        scale = "" if np.isnan(r["scale"]) else f"{r['scale']:.3f}"
        lines.append(
            f"| {cohort} | {model} | {r['c_mean']:.3f} ± {r['c_sd']:.3f} | "
            f"{r['ibs_mean']:.3f} ± {r['ibs_sd']:.3f} | {scale} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", nargs="+", default=["brca", "luad"])
    parser.add_argument("--toy", action="store_true", help="synthetic data, tiny networks")
    parser.add_argument(
        "--null-only", action="store_true", help="only the no-covariate reference (no file written)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = [r for c in args.cohorts for r in run_cohort(c, args.toy, args.null_only)]
    frame = pd.DataFrame(rows)
    text = table(frame)
    print(text)
    wall = time.perf_counter() - start
    print(f"wall time {wall:.0f} s")
    if not (args.toy or args.null_only):
        meta = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": f"{platform.processor() or platform.machine()}, {platform.platform()}",
            "torch": torch.__version__,
            "command": "python benchmarks/calibration.py --cohorts " + " ".join(args.cohorts),
            "wall_seconds": wall,
            "protocol": "5-fold stratified CV, one repeat (seed 0): a screen",
        }
        atomic_write_text(OUT, json.dumps({"meta": meta, "folds": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
