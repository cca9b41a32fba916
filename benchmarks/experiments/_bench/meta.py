"""Meta-estimators for honest experiments with semi-supervised survival models.

- :class:`InnerCVSearch`: grid search by inner cross-validation on the training
  data only, refitting the best configuration on all of it. Unlike
  ``sklearn.model_selection.GridSearchCV`` it passes ``X_unlabeled`` whole to every
  inner fit (GridSearchCV would slice fit parameters as if they were aligned with
  the rows of ``X``).
- :class:`LabelFraction`: keeps a stratified fraction of the training labels; the
  patients whose label is dropped become unlabeled data for a semi-supervised
  model and are discarded for a supervised one.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import ParameterGrid, StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from coxmt._validation import check_survival_target, make_target
from coxmt.experiments import derive_seed
from coxmt.metrics import concordance_index

__all__ = ["InnerCVSearch", "LabelFraction", "accepts_unlabeled", "is_semi_supervised"]


def accepts_unlabeled(estimator: Any) -> bool:
    """Whether ``estimator.fit`` has an ``X_unlabeled`` parameter."""
    try:
        return "X_unlabeled" in inspect.signature(estimator.fit).parameters
    except (TypeError, ValueError, AttributeError):
        return False


def is_semi_supervised(estimator: Any) -> bool:
    """Whether ``estimator`` learns from unlabeled rows (Cox-MT, or a wrapper around it).

    Supervised coxmt networks also accept ``X_unlabeled`` (and ignore it), so the
    test is on a consistency-loss hyperparameter, not on the ``fit`` signature.
    """
    if not accepts_unlabeled(estimator) or not hasattr(estimator, "get_params"):
        return False
    keys = estimator.get_params(deep=True)
    return any(k == "consistency_weight" or k.endswith("__consistency_weight") for k in keys)


def _take(X: Any, rows: np.ndarray) -> Any:
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]


def _seed(random_state: Any) -> int:
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    return int(random_state)


def _fit(est: Any, X: Any, y: Any, X_unlabeled: Any) -> Any:
    if X_unlabeled is not None and accepts_unlabeled(est):
        return est.fit(X, y, X_unlabeled=X_unlabeled)
    return est.fit(X, y)


def _concat(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        return pd.concat([a, b.loc[:, list(a.columns)]], axis=0)
    return np.vstack([np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)])


class _Delegate(BaseEstimator):  # type: ignore[misc]
    """Prediction methods forwarded to the fitted ``_fitted()`` estimator."""

    def _fitted(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """Risk scores of the fitted estimator (higher = higher risk)."""
        return np.asarray(self._fitted().predict(X), dtype=np.float64)

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities of the fitted estimator, shape (n_samples, n_times)."""
        return self._fitted().predict_survival_function(X, times)

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard of the fitted estimator, shape (n_samples, n_times)."""
        return self._fitted().predict_cumulative_hazard(X, times)

    def score(self, X: Any, y: Any) -> float:
        """Harrell's C of :meth:`predict` on ``(X, y)``."""
        event, time = check_survival_target(y, require_events=False)
        return float(concordance_index(event, time, self.predict(X)))


class InnerCVSearch(_Delegate):
    """Choose hyperparameters by inner K-fold cross-validation (Harrell's C), then refit.

    Parameters
    ----------
    estimator : estimator
        Unfitted survival estimator (``fit(X, y[, X_unlabeled])``, ``predict``).
    param_grid : dict of str -> list
        Candidate values; every combination is tried (``ParameterGrid``).
    cv : int, default 3
        Inner folds, stratified on the event indicator.
    random_state : int or None, default None
        Seed of the inner folds.

    Attributes
    ----------
    best_params_ : dict
    best_score_ : float
        Mean inner-validation Harrell's C of the chosen configuration.
    cv_results_ : pandas.DataFrame
        One row per configuration: ``params``, ``mean_c_index``, ``sd_c_index``.
    best_estimator_ : estimator
        The chosen configuration refitted on all the training data.

    Notes
    -----
    ``X_unlabeled`` (other patients, without labels) is given whole to every inner
    fit and to the refit. Inner validation patients are never used as unlabeled
    data. Ties between configurations go to the first in grid order.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxNnet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 4))
    >>> y = (rng.random(90) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> s = InnerCVSearch(CoxNnet(max_epochs=5), {"weight_decay": [1e-4, 1e-2]},
    ...                   random_state=0).fit(X, y)
    >>> sorted(s.best_params_), s.predict(X).shape
    (['weight_decay'], (90,))
    """

    def __init__(
        self,
        estimator: Any,
        param_grid: Mapping[str, Sequence[Any]],
        cv: int = 3,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.cv = cv
        self.random_state = random_state

    def _fitted(self) -> Any:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> InnerCVSearch:
        """Run the inner cross-validation on ``(X, y)`` and refit the best configuration."""
        event, time = check_survival_target(y, min_samples=2)
        if int(self.cv) < 2:
            raise ValueError(f"cv must be >= 2, got {self.cv}")
        grid = list(ParameterGrid({k: list(v) for k, v in dict(self.param_grid).items()}))
        if not grid:
            raise ValueError("param_grid is empty; give at least one candidate value")
        seed = _seed(self.random_state)
        n_folds = int(min(self.cv, max(2, event.sum()), max(2, (~event).sum())))
        folds = list(
            StratifiedKFold(n_folds, shuffle=True, random_state=derive_seed(seed, 1)).split(
                np.zeros((len(event), 1)), event
            )
        )
        rows = []
        for params in grid:
            scores = []
            for tr, va in folds:
                est = clone(self.estimator).set_params(**params)
                _fit(est, _take(X, tr), make_target(event[tr], time[tr]), X_unlabeled)
                risk = np.asarray(est.predict(_take(X, va)), dtype=np.float64)
                if event[va].any() and np.isfinite(risk).all():
                    scores.append(concordance_index(event[va], time[va], risk))
            mean = float(np.mean(scores)) if scores else np.nan
            sd = float(np.std(scores, ddof=1)) if len(scores) > 1 else np.nan
            rows.append({"params": params, "mean_c_index": mean, "sd_c_index": sd})
        self.cv_results_ = pd.DataFrame(rows)
        means = self.cv_results_["mean_c_index"].to_numpy(dtype=np.float64)
        best = int(np.nanargmax(means)) if np.isfinite(means).any() else 0
        self.best_params_ = dict(grid[best])
        self.best_score_ = float(means[best])
        self.best_estimator_ = _fit(
            clone(self.estimator).set_params(**self.best_params_), X, y, X_unlabeled
        )
        return self


class LabelFraction(_Delegate):
    """Keep a stratified ``fraction`` of the training labels.

    The kept patients are drawn per event class (``round(fraction * n_class)``,
    at least 2 events) with ``random_state``, so two wrappers with the same seed
    keep the same patients. For a semi-supervised ``estimator`` (``fit`` has
    ``X_unlabeled``) and ``unlabeled_dropped=True`` the other patients become
    unlabeled data (after any ``X_unlabeled`` given to :meth:`fit`); otherwise they
    are discarded.

    Parameters
    ----------
    estimator : estimator
    fraction : float in (0, 1], default 1.0
    unlabeled_dropped : bool, default True
    random_state : int or None, default None

    Attributes
    ----------
    estimator_ : the fitted estimator
    n_labeled_, n_unlabeled_ : int
        Labeled patients kept and unlabeled patients given to ``estimator_``.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxMT
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4))
    >>> y = (rng.random(100) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> m = LabelFraction(CoxMT(max_epochs=5), 0.25, random_state=0).fit(X, y)
    >>> m.n_labeled_, m.n_unlabeled_
    (24, 76)
    """

    def __init__(
        self,
        estimator: Any,
        fraction: float = 1.0,
        unlabeled_dropped: bool = True,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.fraction = fraction
        self.unlabeled_dropped = unlabeled_dropped
        self.random_state = random_state

    def _fitted(self) -> Any:
        check_is_fitted(self, "estimator_")
        return self.estimator_

    @staticmethod
    def kept_rows(event: np.ndarray, fraction: float, seed: int) -> np.ndarray:
        """Sorted positions of the patients whose label is kept."""
        rng = np.random.default_rng(derive_seed(seed, 2))
        kept = []
        for cls in (True, False):
            idx = np.flatnonzero(event == cls)
            k = round(fraction * idx.size)
            if cls:
                k = max(k, min(2, idx.size))
            kept.append(rng.permutation(idx)[:k])
        return np.sort(np.concatenate(kept)).astype(np.int64)

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> LabelFraction:
        """Fit ``estimator`` on the kept labels (and the rest as unlabeled, see above)."""
        if not 0.0 < float(self.fraction) <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        event, time = check_survival_target(y, min_samples=2)
        keep = self.kept_rows(event, float(self.fraction), _seed(self.random_state))
        drop = np.setdiff1d(np.arange(len(event)), keep)
        est = clone(self.estimator)
        semi = is_semi_supervised(est)
        unl = None
        if semi:
            dropped = _take(X, drop) if self.unlabeled_dropped and drop.size else None
            unl = _concat(dropped, X_unlabeled)
        _fit(est, _take(X, keep), make_target(event[keep], time[keep]), unl)
        self.estimator_ = est
        self.n_labeled_ = int(keep.size)
        self.n_unlabeled_ = 0 if unl is None else int(np.shape(unl)[0])
        return self
