"""Arm (f) of the plan: the unlabeled rows with their structure destroyed, as a control."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from coxmt.model_selection._meta import DelegatingSurvivalEstimator

__all__ = ["PermutedUnlabeled"]


class PermutedUnlabeled(DelegatingSurvivalEstimator):
    """Fit ``estimator`` with every column of ``X_unlabeled`` permuted on its own.

    Each gene keeps its values across the unlabeled patients (the same marginal
    distributions), but which values occur together in one patient is random: the
    gene-gene correlations and any cluster structure of the unlabeled rows are gone.
    A semi-supervised method that learns from that structure must do worse with the
    permuted rows than with the real ones.

    Parameters
    ----------
    estimator : estimator
        A semi-supervised model (or a search around one); cloned at ``fit``.
    random_state : int or None, default None
        Seed of the permutations.

    Examples
    --------
    >>> from coxmt import CoxMT
    >>> rng = np.random.default_rng(0)
    >>> X, U = rng.normal(size=(40, 3)), rng.normal(size=(9, 3))
    >>> y = (rng.random(40) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> m = PermutedUnlabeled(CoxMT(max_epochs=3, random_state=0), random_state=0)
    >>> m.fit(X, y, X_unlabeled=U).predict(X).shape
    (40,)
    >>> bool(np.allclose(np.sort(m.unlabeled_seen_, axis=0), np.sort(U, axis=0)))
    True
    """

    def __init__(self, estimator: Any, random_state: int | None = None) -> None:
        self.estimator = estimator
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> PermutedUnlabeled:
        if X_unlabeled is None:
            raise ValueError("PermutedUnlabeled needs unlabeled rows to permute (X_unlabeled)")
        values = np.asarray(X_unlabeled)
        rng = np.random.default_rng(self.random_state)
        order = rng.random(values.shape).argsort(axis=0)  # one permutation per column
        permuted = np.take_along_axis(values, order, axis=0)
        if isinstance(X_unlabeled, pd.DataFrame):
            permuted = pd.DataFrame(permuted, columns=X_unlabeled.columns)
        self.unlabeled_seen_ = np.asarray(permuted)
        self.estimator_ = clone(self.estimator).fit(X, y, X_unlabeled=permuted)
        return self
