"""A scikit-learn Pipeline that carries unlabeled patients through preprocessing."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from coxmt._validation import unwrap_unlabeled

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
    """

    def fit(self, X: Any, y: Any = None, X_unlabeled: Any = None, **params: Any) -> SurvivalPipeline:
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
            from coxmt.data.streaming import is_unlabeled_source, open_unlabeled

            if is_unlabeled_source(X_unlabeled):  # out-of-core: transform chunk by chunk
                names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
                Xut = open_unlabeled(X_unlabeled, feature_names=names).with_transform(
                    pre.transform
                )
            else:
                Xut = pre.transform(X_unlabeled)
        else:
            Xt, Xut = X, X_unlabeled
        final.fit(Xt, y, X_unlabeled=Xut)
        return self


def make_survival_pipeline(*steps: Any) -> SurvivalPipeline:
    """Build a :class:`SurvivalPipeline` with automatically named steps (like ``make_pipeline``)."""
    from sklearn.pipeline import make_pipeline

    return SurvivalPipeline(make_pipeline(*steps).steps)
