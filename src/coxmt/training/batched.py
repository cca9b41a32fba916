"""Fit many Cox networks (folds, repeats, seeds, ablation points) in one batched pass."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from coxmt._validation import check_features, check_survival_target, format_rows

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


def _group_key(est: Any, n_features: int) -> tuple[Any, ...]:
    from coxmt.estimators._base import resolve_device

    return (
        type(est),
        est._hidden_sizes(n_features),
        est.activation,
        est.ties,
        str(resolve_device(est.device)),
        est._precision(),
        getattr(est, "n_threads", None),
    )


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
    (up to float rounding of the matmuls), but models with the same architecture,
    device and precision train together as stacked tensors: one batched matmul
    per layer instead of one small matmul per model, and a single pass of Python
    per epoch. Each model keeps its own hyperparameters (learning rate, weight
    decay, dropout, noise, EMA decay, consistency weight, epochs, early stopping)
    and its own seed, so it draws the same random numbers as when fitted alone.
    Models with mini-batches (``batch_size`` smaller than their training set) and
    other estimator types are fitted one by one.

    Parameters
    ----------
    estimators : sequence of estimators
        Unfitted (or to be refitted) estimators; they are fitted in place.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Features of every labeled patient.
    y : survival target of length n_samples
        Structured array, DataFrame (event, time) or pair (event, time).
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
        The estimators, fitted, in the given order.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxMT
    >>> from coxmt.training import fit_many
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 6))
    >>> y = (rng.random(120) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> folds = [np.arange(0, 80), np.arange(40, 120)]
    >>> models = fit_many([CoxMT(max_epochs=20, random_state=s) for s in (0, 1)], X, y, folds)
    >>> [m.n_epochs_ for m in models]
    [20, 20]
    """
    from coxmt.estimators._base import BaseCoxNetwork, compute_settings, resolve_device
    from coxmt.training.engine import ModelData, train_stacked

    ests = list(estimators)
    if len(train_rows) != len(ests):
        raise ValueError(
            f"got {len(ests)} estimators but {len(train_rows)} train_rows; pass one per estimator"
        )
    if unlabeled_rows is not None and len(unlabeled_rows) != len(ests):
        raise ValueError(f"got {len(ests)} estimators but {len(unlabeled_rows)} unlabeled_rows")
    names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
    Xa = check_features(X)
    event, time = check_survival_target(y, n_samples=Xa.shape[0], require_events=False)
    Xu = None
    if X_unlabeled is not None:
        if isinstance(X_unlabeled, pd.DataFrame) and names is not None:
            from coxmt.estimators._base import align_features

            X_unlabeled = align_features(X_unlabeled, names, name="X_unlabeled")
        Xu = check_features(X_unlabeled, name="X_unlabeled", n_features=Xa.shape[1])
    rows = [_rows(r, Xa.shape[0], "train_rows", k) for k, r in enumerate(train_rows)]
    n_unl = 0 if Xu is None else Xu.shape[0]
    if unlabeled_rows is None:
        urows = [np.arange(n_unl, dtype=np.int64)] * len(ests)
    else:
        urows = [_rows(r, n_unl, "unlabeled_rows", k) for k, r in enumerate(unlabeled_rows)]

    groups: dict[tuple[Any, ...], list[int]] = {}
    for k, est in enumerate(ests):
        ok = isinstance(est, BaseCoxNetwork) and est._engine_spec(0) is not None
        n_train = len(rows[k])
        if ok and est.early_stopping:  # rows left after the validation split
            n_train -= math.ceil(float(est.validation_fraction) * n_train)
        ok = ok and est._full_batch(n_train)
        if not ok:  # one by one
            Xk = X.iloc[rows[k]] if isinstance(X, pd.DataFrame) else Xa[rows[k]]
            yk = (event[rows[k]], time[rows[k]])
            Xuk = None if Xu is None else Xu[urows[k]]
            est.fit(Xk, yk, X_unlabeled=Xuk) if Xuk is not None else est.fit(Xk, yk)
            continue
        groups.setdefault(_group_key(est, Xa.shape[1]), []).append(k)

    x_all = Xa if Xu is None else np.concatenate([Xa, Xu])
    for key, members in groups.items():
        device = resolve_device(key[4])
        specs, data = [], []
        for k in members:
            est = ests[k]
            est._check_params()
            ev, tm = check_survival_target((event[rows[k]], time[rows[k]]), min_samples=2)
            seed = est._seed()
            tr, val = est._validation_split(ev, seed)
            spec = est._engine_spec(seed)
            unl = Xa.shape[0] + urows[k] if spec.mean_teacher else np.zeros(0, dtype=np.int64)
            specs.append(spec)
            data.append(
                ModelData(
                    labeled=rows[k][tr],
                    event=ev[tr],
                    time=tm[tr],
                    unlabeled=unl,
                    val=rows[k][val],
                    event_val=ev[val],
                    time_val=tm[val],
                )
            )
        first = ests[members[0]]
        with compute_settings(device, first._precision(), getattr(first, "n_threads", None)):
            x_t = torch.as_tensor(np.ascontiguousarray(x_all), dtype=torch.float32, device=device)
            result = train_stacked(
                x_t,
                specs,
                data,
                hidden=key[1],
                activation=key[2],
                ties=key[3],
                mm_dtype=first._mm_dtype(),
                model_names=[f"estimator {k}" for k in members],
            )
            del x_t
        for j, k in enumerate(members):
            est = ests[k]
            est.n_features_in_ = Xa.shape[1]
            if names is not None:
                est.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(est, "feature_names_in_"):
                del est.feature_names_in_
            est.device_ = device
            est._set_engine_result(result, j)
            est._fit_baseline(Xa[rows[k]], event[rows[k]], time[rows[k]])
    return ests
