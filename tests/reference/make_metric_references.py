"""Reference values for tests/test_metrics.py.

Survival metrics on small synthetic cohorts with tied times and tied risk
scores, computed by scikit-survival (``sksurv.metrics``:
concordance_index_censored, concordance_index_ipcw, brier_score,
integrated_brier_score, cumulative_dynamic_auc) and lifelines
(``lifelines.utils.concordance_index`` given ``-risk``, and
``KaplanMeierFitter``). The data are stored next to the values, so the tests
do not depend on numpy's random streams. Run from the repository root:

    python tests/reference/make_metric_references.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lifelines
import numpy as np
import sksurv
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index as lifelines_cindex
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)

OUT = Path(__file__).with_name("metrics_references.json")


def target(event: np.ndarray, time: np.ndarray) -> np.ndarray:
    y = np.empty(len(time), dtype=[("event", bool), ("time", float)])
    y["event"], y["time"] = event, time
    return y


def make_case(seed: int, n_train: int, n_test: int, n_months: int, risk_levels: int) -> dict:
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    risk = rng.integers(0, risk_levels, n) / 2.0  # many tied risks
    time = rng.integers(1, n_months + 1, n).astype(float)  # month-resolution ties
    time[:n_train][np.argmax(time[:n_train])] = n_months + 1  # training follow-up is longest
    event = rng.random(n) < 0.6
    event[:n_train][np.argmax(time[:n_train])] = False
    tr, te = slice(0, n_train), slice(n_train, n)
    y_train, y_test = target(event[tr], time[tr]), target(event[te], time[te])
    r_test = risk[te]
    times = np.array([2.0, 3.5, 5.0, float(np.quantile(time[te], 0.7))])
    times = np.unique(times[times < time[te].max()])
    surv = np.exp(-np.outer(np.exp(r_test - r_test.mean()), times) / (2.0 * n_months))

    harrell = concordance_index_censored(event[te], time[te], r_test)
    tau = float(np.quantile(time[te], 0.8))
    kmf = KaplanMeierFitter().fit(time[te], event[te])
    km_times = np.unique(time[te])
    return {
        "id": f"seed{seed}-train{n_train}-test{n_test}-months{n_months}",
        "train_event": event[tr].tolist(),
        "train_time": time[tr].tolist(),
        "test_event": event[te].tolist(),
        "test_time": time[te].tolist(),
        "risk": r_test.tolist(),
        "times": times.tolist(),
        "survival": surv.tolist(),
        "tau": tau,
        "harrell": [float(harrell[0]), *(int(v) for v in harrell[1:])],
        "lifelines_cindex": float(lifelines_cindex(time[te], -r_test, event[te])),
        "uno": float(concordance_index_ipcw(y_train, y_test, r_test)[0]),
        "uno_tau": float(concordance_index_ipcw(y_train, y_test, r_test, tau=tau)[0]),
        "brier": brier_score(y_train, y_test, surv, times)[1].tolist(),
        "ibs": float(integrated_brier_score(y_train, y_test, surv, times)),
        "auc": cumulative_dynamic_auc(y_train, y_test, r_test, times)[0].tolist(),
        "mean_auc": float(cumulative_dynamic_auc(y_train, y_test, r_test, times)[1]),
        "km_times": km_times.tolist(),
        "km_survival": kmf.survival_function_at_times(km_times).to_numpy().tolist(),
    }


def main() -> None:
    cases = [
        make_case(0, 80, 60, 12, 6),
        make_case(1, 150, 100, 24, 10),
        make_case(2, 60, 40, 6, 3),
    ]
    payload = {
        "versions": {"scikit-survival": sksurv.__version__, "lifelines": lifelines.__version__},
        "cases": cases,
    }
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp, OUT)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
