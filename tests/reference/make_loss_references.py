"""Reference values for tests/test_losses.py.

Negative Cox partial log-likelihoods of a linear model at fixed coefficients on
data with many tied times, from lifelines (Efron) and scikit-survival (Breslow
and Efron). Run from the repository root:

    python tests/reference/make_loss_references.py

Packages used: lifelines (CoxPHFitter's Efron log-likelihood routine) and
scikit-survival (CoxPHOptimizer, the objective of CoxPHSurvivalAnalysis).
"""

from __future__ import annotations

import json
from pathlib import Path

import lifelines
import numpy as np
import pandas as pd
import sksurv
from lifelines.fitters.coxph_fitter import SemiParametricPHFitter
from sksurv.linear_model.coxph import CoxPHOptimizer

OUT = Path(__file__).with_name("loss_references.json")


def make_data(seed: int, n: int, p: int, n_times: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = rng.normal(scale=0.7, size=p)
    time = rng.integers(1, n_times + 1, size=n).astype(float)  # month-like ties
    event = rng.random(n) < 0.6
    return {"X": X.tolist(), "beta": beta.tolist(), "time": time.tolist(), "event": event.tolist()}


def lifelines_efron(X: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray) -> float:
    order = np.argsort(time, kind="mergesort")
    fitter = SemiParametricPHFitter.__new__(SemiParametricPHFitter)
    _, _, loglik = SemiParametricPHFitter._get_efron_values_single(
        fitter,
        pd.DataFrame(X[order]),
        pd.Series(time[order]),
        pd.Series(event[order].astype(float)),
        pd.Series(np.ones(len(time))),
        None,
        beta,
    )
    return float(-loglik)


def sksurv_nll(
    X: np.ndarray, time: np.ndarray, event: np.ndarray, beta: np.ndarray, ties: str
) -> float:
    opt = CoxPHOptimizer(X, event, time, alpha=np.zeros(X.shape[1]), ties=ties)
    return float(opt.nlog_likelihood(beta) * X.shape[0])  # sksurv averages over samples


def main() -> None:
    cases = []
    for seed, n, p, n_times in [(0, 60, 3, 12), (1, 200, 5, 20), (2, 500, 4, 8), (3, 40, 2, 3)]:
        d = make_data(seed, n, p, n_times)
        X, beta = np.asarray(d["X"]), np.asarray(d["beta"])
        t, e = np.asarray(d["time"]), np.asarray(d["event"])
        cases.append(
            {
                "id": f"seed{seed}-n{n}-times{n_times}",
                **d,
                "lifelines_efron_nll_sum": lifelines_efron(X, t, e, beta),
                "sksurv_breslow_nll_sum": sksurv_nll(X, t, e, beta, "breslow"),
                "sksurv_efron_nll_sum": sksurv_nll(X, t, e, beta, "efron"),
            }
        )
    meta = {"lifelines": lifelines.__version__, "scikit-survival": sksurv.__version__}
    OUT.write_text(json.dumps({"versions": meta, "cases": cases}))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
