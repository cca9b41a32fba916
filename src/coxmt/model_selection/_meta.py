"""Shared plumbing of the model-selection meta-estimators."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from coxmt._random import derive_seed, draw_seed
from coxmt._validation import (
    check_aligned_ids,
    check_survival_target,
    unwrap_unlabeled,
)
from coxmt.metrics import concordance_index

__all__ = ["accepts_unlabeled", "chosen_setting", "is_semi_supervised"]


def accepts_unlabeled(estimator: Any) -> bool:
    """Whether ``estimator.fit`` has an ``X_unlabeled`` parameter.

    Examples
    --------
    >>> from coxmt import CoxNnet
    >>> from sklearn.linear_model import LinearRegression
    >>> accepts_unlabeled(CoxNnet()), accepts_unlabeled(LinearRegression())
    (True, False)
    """
    try:
        return "X_unlabeled" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def is_semi_supervised(estimator: Any) -> bool:
    """Whether ``estimator`` learns from unlabeled rows (Cox-MT, or a wrapper around it).

    Supervised coxmt networks also accept ``X_unlabeled`` (and ignore it), so the
    test is on a consistency-loss hyperparameter (``consistency_weight``, at any
    nesting depth of ``get_params``), not on the ``fit`` signature.

    Examples
    --------
    >>> from coxmt import CoxMT, CoxNnet
    >>> is_semi_supervised(CoxMT()), is_semi_supervised(CoxNnet())
    (True, False)
    """
    if not accepts_unlabeled(estimator) or not hasattr(estimator, "get_params"):
        return False
    keys = estimator.get_params(deep=True)
    return any(k == "consistency_weight" or k.endswith("__consistency_weight") for k in keys)


def chosen_setting(model: Any) -> dict[str, Any] | None:
    """What the inner cross-validation inside a fitted ``model`` chose, or None.

    Looks through pipelines (their last step) and wrappers (``estimator_``) for the
    first search (``best_params_``: :class:`InnerCVSearch`, :class:`CoxMTCV`,
    scikit-learn's searches) and returns its chosen parameters; a :class:`CoxMTCV`
    whose fallback won gives ``{"estimator": <the fallback's class name>}``. None when
    nothing in the model was tuned. :func:`coxmt.experiments.cross_validate` records it
    per outer fold (column ``chosen`` of its results).

    Examples
    --------
    >>> from coxmt import CoxNnet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = (rng.random(60) < 0.6, rng.exponential(size=60))
    >>> from coxmt.model_selection import InnerCVSearch
    >>> search = InnerCVSearch(CoxNnet(max_epochs=3, random_state=0),
    ...                        {"learning_rate": [1e-3, 1e-2]}, cv=2).fit(X, y)
    >>> chosen_setting(search) == search.best_params_, chosen_setting(CoxNnet())
    (True, None)
    """
    for _ in range(16):  # nesting depth of any sensible model
        if model is None:
            return None
        if hasattr(model, "best_params_"):
            if getattr(model, "chose_fallback_", False):
                return {"estimator": type(model.fallback).__name__}
            return dict(model.best_params_)
        if hasattr(model, "steps"):  # a (survival) pipeline: the model is its last step
            model = model.steps[-1][1]
        else:
            model = getattr(model, "estimator_", None)
    return None


def aligned_target(X: Any, y: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """``y`` in the patient order of ``X`` (by ID when both have them), its events and times."""
    y = check_aligned_ids(X, y)
    event, time = check_survival_target(y, n_samples=len(X), min_samples=2)
    return y, event, time


def take_rows(X: Any, rows: np.ndarray) -> Any:
    """Rows of an array or DataFrame by position."""
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]


def fit_with_unlabeled(est: Any, X: Any, y: Any, X_unlabeled: Any) -> Any:
    """``est.fit(X, y, X_unlabeled=...)`` when there are unlabeled rows and ``fit`` takes them."""
    if X_unlabeled is not None and accepts_unlabeled(est):
        return est.fit(X, y, X_unlabeled=X_unlabeled)
    return est.fit(X, y)


def inner_folds(
    cv: Any, random_state: Any, event: np.ndarray, X: Any
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner ``(train, validation)`` positions: ``cv`` folds stratified on ``event``, or a splitter.

    An int ``cv`` is reduced when there are fewer events or censored patients than
    folds; the folds' seed is derived from ``random_state``. A splitter's
    ``split(X, event)`` is used as is.
    """
    if hasattr(cv, "split"):
        return [(np.asarray(tr), np.asarray(va)) for tr, va in cv.split(X, event)]
    if int(cv) < 2:
        raise ValueError(f"cv must be >= 2 or a cross-validation splitter, got {cv}")
    n_folds = int(min(int(cv), max(2, event.sum()), max(2, (~event).sum())))
    seed = derive_seed(draw_seed(random_state), 1)
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros((len(event), 1)), event))


def stack_rows(a: Any, b: Any) -> Any:
    """``a`` then ``b`` (either may be None); DataFrames keep ``a``'s column order."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        return pd.concat([a, b.loc[:, list(a.columns)]], axis=0)
    return np.vstack([np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)])


class DelegatingSurvivalEstimator(BaseEstimator):
    """Prediction methods forwarded to the fitted estimator held in ``_fitted_attribute``."""

    _fitted_attribute = "estimator_"

    def _fit_inputs(self, X: Any, y: Any, X_unlabeled: Any) -> tuple[Any, Any, Any, Any]:
        """What ``fit`` works on: the unlabeled rows, ``y`` in ``X``'s order, events, times.

        ``X_unlabeled`` is unwrapped by :func:`~coxmt._validation.unwrap_unlabeled`
        (a method, so that its look for scikit-learn's cross-validation above this
        estimator's own frames still works) and ``y`` is aligned by :func:`aligned_target`.
        """
        X_unlabeled = unwrap_unlabeled(X_unlabeled, self)
        y, event, time = aligned_target(X, y)
        return X_unlabeled, y, event, time

    def _fitted(self) -> Any:
        check_is_fitted(self, self._fitted_attribute)
        return getattr(self, self._fitted_attribute)

    def predict(self, X: Any) -> np.ndarray:
        """Risk scores of the fitted estimator (higher = higher risk)."""
        return np.asarray(self._fitted().predict(X), dtype=np.float64)

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities of the fitted estimator, shape (n_samples, n_times)."""
        return np.asarray(self._fitted().predict_survival_function(X, times))

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard of the fitted estimator, shape (n_samples, n_times)."""
        return np.asarray(self._fitted().predict_cumulative_hazard(X, times))

    def score(self, X: Any, y: Any) -> float:
        """Harrell's C of :meth:`predict` on ``(X, y)``."""
        event, time = check_survival_target(check_aligned_ids(X, y), require_events=False)
        return float(concordance_index(event, time, self.predict(X)))
