"""Hyperparameter search by inner cross-validation that keeps unlabeled patients whole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from coxmt._validation import make_target
from coxmt.metrics import concordance_index
from coxmt.model_selection._meta import (
    DelegatingSurvivalEstimator,
    fit_with_unlabeled,
    inner_folds,
    take_rows,
)

__all__ = ["InnerCVSearch"]


class InnerCVSearch(DelegatingSurvivalEstimator):
    """Choose hyperparameters by inner K-fold cross-validation (Harrell's C), then refit.

    The grid search for semi-supervised survival models: the labeled patients are
    split into inner folds, while ``X_unlabeled`` (other patients, without labels)
    is given whole to every inner fit and to the refit. Inner validation patients
    are never used as unlabeled data. Use it where ``sklearn``'s ``GridSearchCV``
    would cut ``X_unlabeled`` by the folds.

    Parameters
    ----------
    estimator : estimator
        Unfitted survival estimator (``fit(X, y[, X_unlabeled])``, ``predict``).
    param_grid : dict of str -> list, or list of such dicts
        Candidate values; every combination is tried (``ParameterGrid``).
    cv : int or cross-validation splitter, default 3
        Number of inner folds, stratified on the event indicator (reduced when
        there are fewer events or censored patients than folds), or a splitter
        whose ``split(X, event)`` yields ``(train, validation)`` positions, e.g.
        :class:`~coxmt.model_selection.SiteHeldOutKFold`.
    random_state : int or None, default None
        Seed of the inner folds (for ``cv`` given as an int).

    Attributes
    ----------
    best_params_ : dict
        The chosen configuration.
    best_score_ : float
        Mean inner-validation Harrell's C of the chosen configuration.
    cv_results_ : pandas.DataFrame
        One row per configuration, in grid order: ``params``, ``mean_c_index``,
        ``sd_c_index``.
    best_estimator_ : estimator
        The chosen configuration refitted on all the training data.
    n_splits_ : int
        Number of inner folds used.

    Notes
    -----
    Ties between configurations go to the first in grid order. A fold whose
    validation patients have no event, or whose predictions are not finite, is left
    out of the configuration's mean.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxMT
    >>> from coxmt.model_selection import InnerCVSearch
    >>> rng = np.random.default_rng(0)
    >>> X, U = rng.normal(size=(90, 4)), rng.normal(size=(30, 4))
    >>> y = (rng.random(90) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> s = InnerCVSearch(CoxMT(max_epochs=5, random_state=0),
    ...                   {"consistency_weight": [0.1, 1.0]}, random_state=0)
    >>> s = s.fit(X, y, X_unlabeled=U)
    >>> sorted(s.best_params_), s.cv_results_.shape, s.predict(X).shape
    (['consistency_weight'], (2, 3), (90,))
    """

    _fitted_attribute = "best_estimator_"

    def __init__(
        self,
        estimator: Any,
        param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
        cv: Any = 3,
        random_state: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
        self.cv = cv
        self.random_state = random_state

    def _folds(self, event: np.ndarray, X: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        return inner_folds(self.cv, self.random_state, event, X)

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> InnerCVSearch:
        """Run the inner cross-validation on ``(X, y)`` and refit the best configuration.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : structured array, DataFrame (event, time) or pair (event, time)
        X_unlabeled : array-like, DataFrame or Unlabeled, optional
            Patients without outcome, given whole to every fit.

        Returns
        -------
        self
        """
        X_unlabeled, y, event, time = self._fit_inputs(X, y, X_unlabeled)
        grid = list(ParameterGrid(self.param_grid))
        if not grid:
            raise ValueError("param_grid is empty; give at least one candidate value")
        folds = self._folds(event, X)
        rows = []
        for params in grid:
            scores = []
            for tr, va in folds:
                est = clone(self.estimator).set_params(**params)
                target = make_target(event[tr], time[tr])
                fit_with_unlabeled(est, take_rows(X, tr), target, X_unlabeled)
                risk = np.asarray(est.predict(take_rows(X, va)), dtype=np.float64)
                if event[va].any() and np.isfinite(risk).all():
                    scores.append(concordance_index(event[va], time[va], risk))
            mean = float(np.mean(scores)) if scores else np.nan
            sd = float(np.std(scores, ddof=1)) if len(scores) > 1 else np.nan
            rows.append({"params": params, "mean_c_index": mean, "sd_c_index": sd})
        self.cv_results_ = pd.DataFrame(rows)
        self.n_splits_ = len(folds)
        means = self.cv_results_["mean_c_index"].to_numpy(dtype=np.float64)
        best = int(np.nanargmax(means)) if np.isfinite(means).any() else 0
        self.best_params_ = dict(grid[best])
        self.best_score_ = float(means[best])
        best_est = clone(self.estimator).set_params(**self.best_params_)
        self.best_estimator_ = fit_with_unlabeled(best_est, X, y, X_unlabeled)
        return self
