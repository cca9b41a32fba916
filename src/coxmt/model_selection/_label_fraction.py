"""Training with a fraction of the labels: the rest become unlabeled patients."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from coxmt._random import derive_seed, draw_seed
from coxmt._validation import (
    make_target,
)
from coxmt.model_selection._meta import (
    DelegatingSurvivalEstimator,
    fit_with_unlabeled,
    is_semi_supervised,
    stack_rows,
    take_rows,
)

__all__ = ["LabelFraction"]


class LabelFraction(DelegatingSurvivalEstimator):
    """Fit ``estimator`` on a stratified ``fraction`` of the training labels.

    The kept patients are drawn per event class (``round(fraction * n_class)``,
    at least 2 events) with ``random_state``, so two wrappers with the same seed
    keep the same patients. For a semi-supervised ``estimator`` (see
    :func:`~coxmt.model_selection.is_semi_supervised`) and
    ``unlabeled_dropped=True`` the other patients become unlabeled data (before
    any ``X_unlabeled`` given to :meth:`fit`); otherwise they are discarded. This
    is how a label-scarcity experiment compares a supervised and a semi-supervised
    model on the same labeled patients.

    Parameters
    ----------
    estimator : estimator
        Unfitted survival estimator.
    fraction : float in (0, 1], default 1.0
        Fraction of the labels kept.
    unlabeled_dropped : bool, default True
        Whether the patients whose label is dropped become unlabeled data for a
        semi-supervised estimator.
    random_state : int or None, default None
        Seed of the draw of kept labels.

    Attributes
    ----------
    estimator_ : estimator
        The fitted estimator.
    n_labeled_ : int
        Labeled patients kept.
    n_unlabeled_ : int
        Unlabeled patients given to ``estimator_``.

    Examples
    --------
    >>> import numpy as np
    >>> from coxmt import CoxMT
    >>> from coxmt.model_selection import LabelFraction
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

    @staticmethod
    def kept_rows(event: np.ndarray, fraction: float, seed: int) -> np.ndarray:
        """Sorted positions of the patients whose label is kept.

        Examples
        --------
        >>> event = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=bool)
        >>> LabelFraction.kept_rows(event, 0.5, seed=0).size
        4
        """
        rng = np.random.default_rng(derive_seed(seed, 2))
        kept = []
        for cls in (True, False):
            idx = np.flatnonzero(np.asarray(event, dtype=bool) == cls)
            k = round(fraction * idx.size)
            if cls:
                k = max(k, min(2, idx.size))
            kept.append(rng.permutation(idx)[:k])
        return np.sort(np.concatenate(kept)).astype(np.int64)

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> LabelFraction:
        """Fit ``estimator`` on the kept labels (and the rest as unlabeled, see above).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : structured array, DataFrame (event, time) or pair (event, time)
        X_unlabeled : array-like, DataFrame or Unlabeled, optional
            More patients without outcome (semi-supervised estimators only).

        Returns
        -------
        self
        """
        if not 0.0 < float(self.fraction) <= 1.0:
            raise ValueError(f"fraction must be in (0, 1], got {self.fraction}")
        X_unlabeled, y, event, time = self._fit_inputs(X, y, X_unlabeled)
        keep = self.kept_rows(event, float(self.fraction), draw_seed(self.random_state))
        drop = np.setdiff1d(np.arange(len(event)), keep)
        est = clone(self.estimator)
        unl = None
        if is_semi_supervised(est):
            dropped = take_rows(X, drop) if self.unlabeled_dropped and drop.size else None
            unl = stack_rows(dropped, X_unlabeled)
        fit_with_unlabeled(est, take_rows(X, keep), make_target(event[keep], time[keep]), unl)
        self.estimator_ = est
        self.n_labeled_ = int(keep.size)
        self.n_unlabeled_ = 0 if unl is None else int(np.shape(unl)[0])
        return self
