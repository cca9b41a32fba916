"""A scikit-learn Pipeline that carries unlabeled patients through preprocessing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline, make_pipeline

from coxmt._validation import unwrap_unlabeled
from coxmt.data.streaming import is_unlabeled_source, open_unlabeled

__all__ = ["SurvivalPipeline", "make_survival_pipeline"]


class SurvivalPipeline(Pipeline):
    """Pipeline whose ``fit`` accepts ``X_unlabeled`` for a semi-supervised final step.

    The preprocessing steps are fitted on the labeled ``X`` only; ``X_unlabeled``
    is transformed with them and handed to the final estimator, so a Cox-MT
    model sees labeled and unlabeled patients on the same scale. (A plain
    scikit-learn Pipeline would pass ``model__X_unlabeled`` untransformed.)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from coxmt import CoxMT
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)) * 10
    >>> y = (rng.random(60) < 0.6, rng.exponential(size=60))
    >>> pipe = make_survival_pipeline(StandardScaler(), CoxMT(max_epochs=5, random_state=0))
    >>> pipe.fit(X, y, X_unlabeled=X[:10]).predict(X).shape
    (60,)
    >>> surv = pipe.predict_survival_function(X[:3], times=[0.5, 1.0])
    >>> surv.shape, bool((surv[:, 1] <= surv[:, 0]).all())
    ((3, 2), True)
    """

    def fit(
        self, X: Any, y: Any = None, X_unlabeled: Any = None, **params: Any
    ) -> SurvivalPipeline:
        """Fit preprocessing on ``X``, then the final estimator on the transformed data."""
        X_unlabeled = unwrap_unlabeled(X_unlabeled, self)
        if X_unlabeled is None:
            super().fit(X, y, **params)
            return self
        if params:
            raise ValueError(
                "SurvivalPipeline.fit with X_unlabeled takes no other fit parameters; "
                f"got {sorted(params)}"
            )
        final = self._final_estimator
        if len(self.steps) > 1:
            pre = self[:-1]
            Xt = pre.fit_transform(X, y)
            if is_unlabeled_source(X_unlabeled):  # out-of-core: transform chunk by chunk
                names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
                Xut = open_unlabeled(X_unlabeled, feature_names=names).with_transform(pre.transform)
            else:
                Xut = pre.transform(X_unlabeled)
        else:
            Xt, Xut = X, X_unlabeled
        final.fit(Xt, y, X_unlabeled=Xut)
        return self

    def _final_survival(self, method: str, X: Any, times: Any) -> np.ndarray:
        final = self._final_estimator
        if not hasattr(final, method):
            raise AttributeError(f"{type(final).__name__} has no {method}")
        Xt = self[:-1].transform(X) if len(self.steps) > 1 else X
        return np.asarray(getattr(final, method)(Xt, times))

    def predict_survival_function(self, X: Any, times: Any = None) -> np.ndarray:
        """Survival probabilities of the final estimator on preprocessed ``X``.

        Parameters
        ----------
        X : array-like or DataFrame
            Patients, with the columns the pipeline was fitted on.
        times : array-like of float, optional
            Times at which to evaluate; the final estimator's default (the
            training event times) when None.

        Returns
        -------
        ndarray of shape (n_samples, n_times)
            Non-increasing in time, in [0, 1].
        """
        return self._final_survival("predict_survival_function", X, times)

    def predict_cumulative_hazard(self, X: Any, times: Any = None) -> np.ndarray:
        """Cumulative hazard of the final estimator on preprocessed ``X``.

        Parameters
        ----------
        X, times
            As in :meth:`predict_survival_function`.

        Returns
        -------
        ndarray of shape (n_samples, n_times)
            Non-decreasing in time, >= 0.
        """
        return self._final_survival("predict_cumulative_hazard", X, times)


def make_survival_pipeline(*steps: Any) -> SurvivalPipeline:
    """Build a :class:`SurvivalPipeline` with automatically named steps (like ``make_pipeline``).

    A step that is itself a scikit-learn ``Pipeline`` (e.g. the one
    :func:`~coxmt.preprocessing.make_rnaseq_preprocessor` returns) is spliced in step
    by step, so that the result is one flat pipeline that ``coxmt.io.save_model``
    can save.

    Examples
    --------
    >>> from coxmt import CoxMT
    >>> from coxmt.preprocessing import make_rnaseq_preprocessor
    >>> pipe = make_survival_pipeline(make_rnaseq_preprocessor(k=100), CoxMT())
    >>> [name for name, _ in pipe.steps]
    ['transform', 'top_variance', 'scale', 'clip', 'coxmt']
    """
    flat: list[Any] = []
    for step in steps:
        if isinstance(step, Pipeline):
            flat.extend(step.steps)
        else:
            flat.extend(make_pipeline(step).steps)
    names = [name for name, _ in flat]
    if len(set(names)) != len(names):  # e.g. two spliced pipelines with a "scale" step
        return SurvivalPipeline(make_pipeline(*[est for _, est in flat]).steps)
    return SurvivalPipeline(flat)
