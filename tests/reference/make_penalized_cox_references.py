"""Reference coefficients for tests/test_baselines.py (PenalizedCox).

Penalised linear Cox models fitted by scikit-survival on small data with many
tied (month-like) times, at fixed penalties:

- ridge: ``sksurv.linear_model.CoxPHSurvivalAnalysis(alpha=d * a, ties=...)``
  (Newton-Raphson; its objective is ``(sum of event terms + alpha/2 ||w||^2) / n``),
  Breslow and Efron ties;
- elastic net / lasso: ``sksurv.linear_model.CoxnetSurvivalAnalysis(alphas=[a * d / n],
  l1_ratio=..., normalize=False)`` (coordinate descent, Breslow ties; objective
  ``-(1/n) log PL + alpha (l1_ratio ||w||_1 + (1 - l1_ratio)/2 ||w||^2)``).

``a`` is PenalizedCox's ``alpha`` (mean over the ``d`` events), ``n`` the sample size.
Run from the repository root:

    python tests/reference/make_penalized_cox_references.py

Package used: scikit-survival.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import sksurv
from sksurv.linear_model import CoxnetSurvivalAnalysis, CoxPHSurvivalAnalysis
from sksurv.util import Surv

OUT = Path(__file__).with_name("penalized_cox_references.json")
ALPHA = 0.05


def make_data(seed: int = 3, n: int = 120, p: int = 6, n_times: int = 30) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.array([0.9, -0.7, 0.5] + [0.0] * (p - 3))
    t_event = rng.exponential(np.exp(-(X @ beta)))
    time = np.ceil(t_event / np.quantile(t_event, 0.95) * n_times).clip(1, n_times)
    event = rng.random(n) < 0.7
    return {"X": X.tolist(), "time": time.tolist(), "event": event.tolist()}


def fit_ridge(data: dict, ties: str) -> list[float]:
    X, time, event = np.array(data["X"]), np.array(data["time"]), np.array(data["event"])
    y = Surv.from_arrays(event, time)
    model = CoxPHSurvivalAnalysis(alpha=ALPHA * event.sum(), ties=ties, n_iter=1000, tol=1e-12)
    return model.fit(X, y).coef_.tolist()


def fit_coxnet(data: dict, l1_ratio: float) -> list[float]:
    X, time, event = np.array(data["X"]), np.array(data["time"]), np.array(data["event"])
    y = Surv.from_arrays(event, time)
    model = CoxnetSurvivalAnalysis(
        alphas=[ALPHA * event.sum() / len(time)],
        l1_ratio=l1_ratio,
        normalize=False,
        tol=1e-12,
        max_iter=1_000_000,
    )
    return model.fit(X, y).coef_[:, 0].tolist()


def main() -> None:
    data = make_data()
    refs = {
        "package": f"scikit-survival {sksurv.__version__}",
        "alpha": ALPHA,
        "data": data,
        "ridge": {ties: fit_ridge(data, ties) for ties in ("breslow", "efron")},
        "coxnet_breslow": {str(r): fit_coxnet(data, r) for r in (0.3, 1.0)},
    }
    OUT.write_text(json.dumps(refs, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
