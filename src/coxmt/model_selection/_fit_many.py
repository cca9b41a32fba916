"""Fit many Cox networks (folds, repeats, seeds, ablation points) in one batched pass."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from coxmt._validation import check_aligned_ids, check_survival_target, format_rows
from coxmt.estimators._base import BaseCoxNetwork, FitData, FitPlan, compute_settings
from coxmt.training.engine import ModelData, train_stacked

__all__ = ["fit_many"]


def _rows(rows: Any, n: int, what: str, k: int) -> np.ndarray:
    arr = np.asarray(rows)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(
                f"{what}[{k}] is a boolean mask of length {arr.shape[0]}, expected {n}"
            )
        arr = np.flatnonzero(arr)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{what}[{k}] must be a 1-D array of row indices (or a boolean mask)")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero((arr < 0) | (arr >= n))
    if bad.size:
        raise ValueError(
            f"{what}[{k}] has indices outside 0..{n - 1} at positions {format_rows(bad)}"
        )
    if np.unique(arr).size != arr.size:
        raise ValueError(f"{what}[{k}] repeats row indices; pass each row once")
    return arr


def _take(a: Any, rows: np.ndarray) -> Any:
    """Rows of a table, array, or (event, time) pair, by position."""
    if a is None:
        return None
    if isinstance(a, pd.DataFrame | pd.Series):
        return a.iloc[rows]
    if isinstance(a, tuple | list) and len(a) == 2 and not isinstance(a[0], int | float):
        return (np.asarray(a[0])[rows], np.asarray(a[1])[rows])
    return np.asarray(a)[rows]


def fit_many(
    estimators: Sequence[Any],
    X: Any,
    y: Any,
    train_rows: Sequence[Any],
    *,
    X_unlabeled: Any = None,
    unlabeled_rows: Sequence[Any] | None = None,
) -> list[Any]:
    """Fit several :class:`~coxmt.CoxNnet` / :class:`~coxmt.CoxMT` models on rows of the same data.

    Equivalent to ``[est.fit(X[rows], y[rows], X_unlabeled=X_unlabeled[urows]) for ...]``
    (up to float rounding of the matmuls), but models that the ``"stacked"``
    backend trains (:mod:`coxmt.training.backends`) and that share architecture,
    device and precision train together as stacked tensors: one batched matmul
    per layer instead of one small matmul per model, and a single pass of Python
    per epoch. Each model keeps its own hyperparameters (learning rate, weight
    decay, dropout, noise, EMA decay, consistency weight, epochs, early stopping)
    and its own seed, so it draws the same random numbers as when fitted alone.
    Every estimator's inputs go through its own ``fit`` validation (hyperparameters,
    ``y`` aligned to ``X`` by index, feature names, unlabeled rows). Models on the
    ``"loop"`` backend (mini-batches, streamed unlabeled rows, ``backend="loop"``)
    and other estimator types are fitted one by one with their ``fit``.

    Parameters
    ----------
    estimators : sequence of estimators
        Unfitted (or to be refitted) estimators; they are fitted in place.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Features of every labeled patient.
    y : survival target of length n_samples
        Structured array, DataFrame (event, time) or pair (event, time). A
        DataFrame indexed by ``X``'s index values is aligned to ``X`` first.
    train_rows : sequence of index arrays (or boolean masks), one per estimator
        Rows of ``X`` / ``y`` each estimator is trained on (e.g. the training part of
        each cross-validation fold).
    X_unlabeled : array-like or DataFrame of shape (n_unlabeled, n_features), optional
        Patients without outcome (used by semi-supervised estimators).
    unlabeled_rows : sequence of index arrays, optional
        Rows of ``X_unlabeled`` each estimator uses; None = all of them.

    Returns
    -------
    list
        The estimators, fitted, in the given order; each has ``backend_``.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxMT, fit_many
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 6))
    >>> y = (rng.random(120) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> folds = [np.arange(0, 80), np.arange(40, 120)]
    >>> models = fit_many([CoxMT(max_epochs=20, random_state=s) for s in (0, 1)], X, y, folds)
    >>> [(m.n_epochs_, m.backend_) for m in models]
    [(20, 'stacked'), (20, 'stacked')]
    """
    ests = list(estimators)
    if len(train_rows) != len(ests):
        raise ValueError(
            f"got {len(ests)} estimators but {len(train_rows)} train_rows; pass one per estimator"
        )
    if unlabeled_rows is not None and len(unlabeled_rows) != len(ests):
        raise ValueError(f"got {len(ests)} estimators but {len(unlabeled_rows)} unlabeled_rows")
    y = check_aligned_ids(X, y)  # y in X's order, so that rows select the same patients
    n, n_unl = len(X), 0 if X_unlabeled is None else len(X_unlabeled)
    rows = [_rows(r, n, "train_rows", k) for k, r in enumerate(train_rows)]
    if unlabeled_rows is None:
        urows = [np.arange(n_unl, dtype=np.int64)] * len(ests)
    else:
        urows = [_rows(r, n_unl, "unlabeled_rows", k) for k, r in enumerate(unlabeled_rows)]

    groups: dict[tuple[Any, ...], list[tuple[int, FitPlan]]] = {}
    group_data: dict[tuple[Any, ...], FitData] = {}
    for k, est in enumerate(ests):
        plan = None
        if isinstance(est, BaseCoxNetwork) and getattr(est, "backend", "auto") != "loop":
            data = est._check_fit_data(X, y, X_unlabeled)
            check_survival_target((data.event[rows[k]], data.time[rows[k]]), min_samples=2)
            plan = est._plan_fit(data.event[rows[k]])
        if plan is None or plan.backend != "stacked":  # one by one, through its own fit
            Xuk = _take(X_unlabeled, urows[k])
            kw = {} if Xuk is None else {"X_unlabeled": Xuk}
            est.fit(_take(X, rows[k]), _take(y, rows[k]), **kw)
            continue
        groups.setdefault(plan.stack_key, []).append((k, plan))
        group_data.setdefault(plan.stack_key, data)

    for key, members in groups.items():
        data = group_data[key]
        Xa, Xu = data.X, data.X_unlabeled
        first, lead = members[0][1], ests[members[0][0]]
        mt = first.spec.mean_teacher and Xu is not None
        x_all = np.concatenate([Xa, Xu]) if mt and Xu is not None else Xa
        model_data = []
        for k, plan in members:
            r, ev, tm = rows[k], data.event[rows[k]], data.time[rows[k]]
            unl = Xa.shape[0] + urows[k] if mt else np.zeros(0, dtype=np.int64)
            model_data.append(
                ModelData(
                    labeled=r[plan.train],
                    event=ev[plan.train],
                    time=tm[plan.train],
                    unlabeled=unl,
                    val=r[plan.val],
                    event_val=ev[plan.val],
                    time_val=tm[plan.val],
                )
            )
        with compute_settings(first.device, first.precision, first.n_threads):
            x_t = torch.as_tensor(
                np.ascontiguousarray(x_all), dtype=torch.float32, device=first.device
            )
            result = train_stacked(
                x_t,
                [plan.spec for _, plan in members],
                model_data,
                hidden=first.hidden,
                activation=lead.activation,
                ties=lead.ties,
                mm_dtype=first.mm_dtype,
                model_names=[f"estimator {k}" for k, _ in members],
            )
            del x_t
        for j, (k, plan) in enumerate(members):
            r = rows[k]
            ests[k]._finish_fit(plan, Xa[r], data.event[r], data.time[r], result, j)
    return ests
