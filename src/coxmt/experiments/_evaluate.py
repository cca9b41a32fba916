"""Fold-level evaluation: Harrell's C, Uno's C and the integrated Brier score.

Evaluation conventions (documented in :func:`coxmt.experiments.cross_validate`):

* ``c_index``: Harrell's C on the test fold (:func:`coxmt.metrics.concordance_index`).
* ``uno_c``: Uno's IPCW C (:func:`coxmt.metrics.concordance_index_ipcw`) with the
  censoring distribution estimated on the training fold and truncation time
  ``tau`` = the ``UNO_TAU_QUANTILE`` (0.9) quantile of the training follow-up times,
  where the censoring survival function is still positive.
* ``ibs``: integrated Brier score (:func:`coxmt.metrics.integrated_brier_score`) over
  ``N_IBS_TIMES`` (50) equally spaced times from the 10th percentile of the test
  follow-up times to the smaller of the 90th percentiles of the test and the
  training follow-up times (so every time lies inside the test follow-up and below
  the training follow-up, where the IPCW weights are defined).

A metric that cannot be computed on a fold (no comparable pair, no survival
function, too short a follow-up) is recorded as NaN with the reason in ``notes``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from coxmt import metrics
from coxmt._validation import make_target

__all__ = ["IBS_QUANTILES", "N_IBS_TIMES", "UNO_TAU_QUANTILE", "evaluate_fold", "ibs_times"]

IBS_QUANTILES = (0.1, 0.9)
N_IBS_TIMES = 50
UNO_TAU_QUANTILE = 0.9


def ibs_times(
    time_train: np.ndarray, time_test: np.ndarray, n_times: int = N_IBS_TIMES
) -> np.ndarray:
    """Time grid of the integrated Brier score for one fold (see the module docstring).

    Returns an empty array when the grid would hold fewer than two distinct times.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(1.0, 101.0)
    >>> grid = ibs_times(t, t)
    >>> grid.size, round(float(grid[0]), 6), round(float(grid[-1]), 6)
    (50, 10.9, 90.1)
    """
    lo = float(np.quantile(time_test, IBS_QUANTILES[0]))
    hi = float(
        min(np.quantile(time_test, IBS_QUANTILES[1]), np.quantile(time_train, IBS_QUANTILES[1]))
    )
    if not hi > lo:
        return np.zeros(0)
    grid = np.unique(np.linspace(lo, hi, n_times))
    grid = grid[(grid >= time_test.min()) & (grid < time_test.max()) & (grid < time_train.max())]
    return grid if grid.size >= 2 else np.zeros(0)


def _reason(exc: BaseException) -> str:
    msg = str(exc).split(". ")[0].strip()
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def evaluate_fold(
    estimator: Any,
    X_test: Any,
    risk: np.ndarray,
    event_train: np.ndarray,
    time_train: np.ndarray,
    event_test: np.ndarray,
    time_test: np.ndarray,
) -> tuple[dict[str, float], list[str]]:
    """Compute ``c_index``, ``uno_c`` and ``ibs`` for one fold; never raises.

    Returns the metrics (NaN where undefined) and a list of notes explaining NaNs.
    """
    notes: list[str] = []
    out = {"c_index": np.nan, "uno_c": np.nan, "ibs": np.nan}
    y_train = make_target(event_train, time_train)
    y_test = make_target(event_test, time_test)
    if not np.all(np.isfinite(risk)):
        notes.append("risk has non-finite values; no metric computed")
        return out, notes
    try:
        out["c_index"] = float(metrics.concordance_index(event_test, time_test, risk))
    except (ValueError, ArithmeticError) as exc:
        notes.append(f"c_index: {_reason(exc)}")
    try:
        tau = float(np.quantile(time_train, UNO_TAU_QUANTILE))
        out["uno_c"] = float(metrics.concordance_index_ipcw(y_train, y_test, risk, tau=tau))
    except (ValueError, ArithmeticError) as exc:
        notes.append(f"uno_c: {_reason(exc)}")
    grid = ibs_times(time_train, time_test)
    if grid.size == 0:
        notes.append("ibs: the test and training follow-up are too short for a time grid")
    elif not hasattr(estimator, "predict_survival_function"):
        notes.append(f"ibs: {type(estimator).__name__} has no predict_survival_function")
    else:
        try:
            surv = np.asarray(estimator.predict_survival_function(X_test, grid), dtype=np.float64)
            out["ibs"] = float(metrics.integrated_brier_score(y_train, y_test, surv, grid))
        except (ValueError, ArithmeticError, TypeError) as exc:
            notes.append(f"ibs: {_reason(exc)}")
    return out, notes
