"""Hyperparameter search by inner cross-validation that keeps unlabeled patients whole."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils.validation import check_is_fitted

from coxmt.io import RegisteredModel, jsonable
from coxmt.metrics import concordance_index
from coxmt.model_selection._ensemble import (
    export_nested,
    export_unfitted,
    fit_estimators,
    import_nested,
    import_unfitted,
)
from coxmt.model_selection._meta import (
    DelegatingSurvivalEstimator,
    fit_with_unlabeled,
    inner_folds,
    take_rows,
)

__all__ = ["InnerCVSearch"]


def search_grid(
    estimator: Any,
    grid: Sequence[Mapping[str, Any]],
    X: Any,
    event: np.ndarray,
    time: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    X_unlabeled: Any = None,
) -> tuple[list[dict[str, Any]], list[list[np.ndarray]]]:
    """Fit every setting of ``grid`` on every inner fold and score it on the fold's validation rows.

    All ``len(grid) * len(folds)`` fits go through
    :func:`~coxmt.model_selection._ensemble.fit_estimators` (one stacked run for Cox
    networks, the same numbers as fitting them one by one); each receives all of
    ``X_unlabeled``. Returns one row per setting (``params``, ``mean_c_index``,
    ``sd_c_index``; a fold without a validation event or with non-finite risks is left
    out of the mean) and, per setting, each fold's validation risks.
    """
    models = [clone(estimator).set_params(**params) for params in grid for _ in folds]
    train_rows = [tr for _ in grid for tr, _ in folds]
    models = fit_estimators(models, X, event, time, train_rows, X_unlabeled)
    rows: list[dict[str, Any]] = []
    risks: list[list[np.ndarray]] = []
    for i, params in enumerate(grid):
        scores, fold_risks = [], []
        for j, (_, va) in enumerate(folds):
            model = models[i * len(folds) + j]
            risk = np.asarray(model.predict(take_rows(X, va)), dtype=np.float64).reshape(-1)
            fold_risks.append(risk)
            if event[va].any() and np.isfinite(risk).all():
                scores.append(concordance_index(event[va], time[va], risk))
        mean = float(np.mean(scores)) if scores else np.nan
        sd = float(np.std(scores, ddof=1)) if len(scores) > 1 else np.nan
        rows.append({"params": dict(params), "mean_c_index": mean, "sd_c_index": sd})
        risks.append(fold_risks)
    return rows, risks


def best_setting(rows: Sequence[Mapping[str, Any]]) -> int:
    """Position of the highest mean inner C (the first on ties; 0 when none is finite)."""
    means = np.array([r["mean_c_index"] for r in rows], dtype=np.float64)
    return int(np.nanargmax(means)) if np.isfinite(means).any() else 0


def grid_state(param_grid: Any) -> Any:
    """A parameter grid (dict, list of dicts or None) as JSON can store it, same shape."""
    if param_grid is None:
        return None
    if isinstance(param_grid, Mapping):
        return {k: jsonable(list(v)) for k, v in param_grid.items()}
    return [grid_state(g) for g in param_grid]


def search_state(est: Any) -> dict[str, Any]:
    """A fitted search's outcome for a saved model: chosen setting, scores, folds."""
    return {
        "n_splits": int(est.n_splits_),
        "best_params": {k: jsonable(v) for k, v in est.best_params_.items()},
        "best_score": float(est.best_score_),
        "cv_results": jsonable(est.cv_results_.to_dict(orient="records")),
    }


def restore_search_state(est: Any, config: dict[str, Any]) -> None:
    """Set the attributes that :func:`search_state` saved on a loaded search."""
    est.n_splits_ = int(config["n_splits"])
    est.best_params_ = dict(config["best_params"])
    est.best_score_ = float(config["best_score"])
    est.cv_results_ = pd.DataFrame(config["cv_results"])


class InnerCVSearch(RegisteredModel, DelegatingSurvivalEstimator):
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
    out of the configuration's mean. The inner fits of Cox networks train together in
    one stacked run (:func:`~coxmt.model_selection.fit_many`), which gives the same
    numbers as fitting them one by one, in less time.

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
        rows, _ = search_grid(self.estimator, grid, X, event, time, folds, X_unlabeled)
        self.cv_results_ = pd.DataFrame(rows)
        self.n_splits_ = len(folds)
        best = best_setting(rows)
        self.best_params_ = dict(grid[best])
        self.best_score_ = float(rows[best]["mean_c_index"])
        best_est = clone(self.estimator).set_params(**self.best_params_)
        self.best_estimator_ = fit_with_unlabeled(best_est, X, y, X_unlabeled)
        return self

    def _export_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        check_is_fitted(self, "best_estimator_")
        arrays, inner = export_nested(self.best_estimator_, "best_estimator")
        params = {
            "param_grid": grid_state(self.param_grid),
            "cv": jsonable(self.cv) if isinstance(self.cv, int) else None,  # a splitter: no
            "random_state": jsonable(self.random_state),
        }
        config = {
            "estimator": export_unfitted(self.estimator),
            "params": params,
            "best_estimator": inner,
            **search_state(self),
        }
        return arrays, config

    @classmethod
    def _from_state(cls, arrays: dict[str, np.ndarray], config: dict[str, Any]) -> InnerCVSearch:
        params = dict(config["params"])
        if params.get("cv") is None:  # fitted with a splitter: refits use as many plain folds
            params["cv"] = int(config["n_splits"])
        est = cls(import_unfitted(config["estimator"], "estimator"), **params)
        est.best_estimator_ = import_nested(arrays, config["best_estimator"], "best_estimator")
        restore_search_state(est, config)
        return est
