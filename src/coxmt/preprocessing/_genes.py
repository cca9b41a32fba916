"""Top-variance gene selection."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from coxmt.preprocessing._common import (
    _base_config,
    _column_labels,
    _column_variance,
    _like_input,
    _NaNTransformer,
    _rebuild,
    _validate,
)


class TopVarianceGenes(_NaNTransformer):
    """Keep the ``k`` columns (genes) with the highest variance on the training data.

    Variance ignores NaN. Ties are broken by column order (the earlier column wins),
    so the selection is deterministic. Constant and all-NaN columns rank last: they
    are kept only when ``k`` exceeds the number of varying columns, unless
    ``drop_constant=True``, which always drops them (and says so in ``note_``). The
    kept columns stay in their original order.

    Parameters
    ----------
    k : int or None, default 4000
        Number of columns to keep. ``None`` keeps every column. When ``k`` exceeds the
        number of columns, all are kept (noted in ``note_``, no warning).
    drop_constant : bool, default False
        Drop constant and all-NaN training columns even when ``k`` leaves room for
        them (they carry no information). A ValueError is raised when every column
        is constant.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when fitted on a DataFrame with string column names.
    variances_ : ndarray of shape ``(n_features_in_,)``
        Training variance per column (NaN for all-NaN columns).
    support_ : ndarray of bool, shape ``(n_features_in_,)``
        Mask of the kept columns.
    k_ : int
        Number of columns kept.
    constant_mask_ : ndarray of bool, shape ``(n_features_in_,)``
        Columns that are constant (or all-NaN) on the training data.
    dropped_constant_ : ndarray of str
        Names of the constant columns that were not kept.
    note_ : str
        Why fewer than ``k`` columns were kept (``k`` larger than the number of
        columns, constant columns dropped), or ``""``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, 9.0], [3.0, 5.0, 4.0]])
    >>> sel = TopVarianceGenes(k=2).fit(X)
    >>> sel.get_feature_names_out().tolist(), sel.dropped_constant_.tolist()
    (['x0', 'x2'], ['x1'])
    """

    def __init__(self, k: int | None = 4000, drop_constant: bool = False) -> None:
        self.k = k
        self.drop_constant = drop_constant

    def fit(self, X: Any, y: Any = None) -> TopVarianceGenes:
        """Compute the column variances and select the ``k`` largest."""
        k = self.k
        if k is not None and (not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1):
            raise ValueError(f"k must be a positive integer or None (keep all), got {k!r}")
        Xa = _validate(self, X, reset=True)
        n = Xa.shape[1]
        var, constant = _column_variance(Xa)
        key = np.where(np.isnan(var), -1.0, var)
        order = np.lexsort((np.arange(n), -key))  # by variance desc, then column order
        if self.drop_constant and Xa.shape[0] < 2:
            raise ValueError(
                f"TopVarianceGenes(drop_constant=True) needs at least 2 samples to tell "
                f"varying from constant columns, got {Xa.shape[0]}; provide more patients"
            )
        if self.drop_constant and constant.all():
            raise ValueError(
                f"all {n} columns are constant (or entirely missing) in the training data, so "
                "no feature can rank patients; check the feature selection and the input table"
            )
        k_eff = n if k is None else min(int(k), n)
        if self.drop_constant:
            k_eff = min(k_eff, int((~constant).sum()))
        support = np.zeros(n, dtype=bool)
        support[order[:k_eff]] = True
        self.variances_ = var
        self.constant_mask_ = constant
        self.support_ = support
        self.k_ = int(k_eff)
        self._set_derived()
        return self

    def _set_derived(self) -> None:
        n = self.n_features_in_
        names = np.asarray(_column_labels(self, np.arange(n)), dtype=object)
        self.dropped_constant_ = names[self.constant_mask_ & ~self.support_]
        notes = []
        if self.k is not None and self.k > n:
            kept = "all columns were kept" if self.support_.all() else "the others were kept"
            notes.append(f"k={self.k} is larger than the {n} input columns; {kept}")
        if self.drop_constant and self.dropped_constant_.size:
            shown = [str(c) for c in self.dropped_constant_[:10]]
            more = " ..." if self.dropped_constant_.size > 10 else ""
            notes.append(
                f"dropped {self.dropped_constant_.size} constant or empty column(s) "
                f"{shown}{more} (the same value for every training patient)"
            )
        self.note_ = "; ".join(notes)

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Mask (or, with ``indices=True``, positions) of the kept columns."""
        check_is_fitted(self, "support_")
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def transform(self, X: Any) -> Any:
        """Keep the selected columns (a DataFrame when ``X`` is one)."""
        check_is_fitted(self, "support_")
        Xa = _validate(self, X, reset=False)
        out = Xa[:, self.support_]
        columns = X.columns[self.support_] if isinstance(X, pd.DataFrame) else None
        return _like_input(out, X, columns)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the kept columns."""
        check_is_fitted(self, "support_")
        names = _check_feature_names_in(self, input_features)
        return np.asarray(names, dtype=object)[self.support_]

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state as ``(arrays, config)`` (``variances``, ``support``, ``constant``)."""
        check_is_fitted(self, "support_")
        arrays = {
            "variances": np.asarray(self.variances_, dtype=np.float64),
            "support": np.asarray(self.support_, dtype=bool),
            "constant": np.asarray(self.constant_mask_, dtype=bool),
        }
        config = _base_config(self)
        config["k_"] = self.k_
        return arrays, config

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
    ) -> TopVarianceGenes:
        """Rebuild a fitted selector from :meth:`to_state` output."""
        est = _rebuild(cls, config)
        est.variances_ = np.asarray(arrays["variances"], dtype=np.float64).copy()
        est.support_ = np.asarray(arrays["support"], dtype=bool).copy()
        est.constant_mask_ = np.asarray(arrays["constant"], dtype=bool).copy()
        est.k_ = int(config["k_"])
        n = est.n_features_in_
        if not (est.variances_.shape == est.support_.shape == est.constant_mask_.shape == (n,)):
            raise ValueError(
                f"inconsistent TopVarianceGenes state: arrays must have shape ({n},), got "
                f"{est.variances_.shape}, {est.support_.shape}, {est.constant_mask_.shape}"
            )
        est._set_derived()
        return est
