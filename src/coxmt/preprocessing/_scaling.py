"""Standardisation (a state-saving StandardScaler) and clipping of the standardised values."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler as _SkStandardScaler
from sklearn.utils.validation import check_is_fitted

from coxmt.preprocessing._common import (
    _bad_values_error,
    _base_config,
    _check_class,
    _like_input,
    _rebuild,
    _validate,
    _ValueWise,
)


class Clip(_ValueWise):
    """Clip values to ``[-limit, limit]`` (after standardisation: no patient sits far out).

    Parameters
    ----------
    limit : float, default 5.0
        Must be > 0. NaN passes through.

    Attributes
    ----------
    n_clipped_ : int
        Number of training values that were clipped.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of str
        Their names (only when fitted on a DataFrame with string column names).

    Examples
    --------
    >>> import numpy as np
    >>> Clip(limit=2.0).fit_transform(np.array([[-7.0, 0.5], [1.0, 28.0]]))
    array([[-2. ,  0.5],
           [ 1. ,  2. ]])
    """

    def __init__(self, limit: float = 5.0) -> None:
        self.limit = limit

    def _check_limit(self) -> float:
        lim = self.limit
        if not isinstance(lim, numbers.Real) or isinstance(lim, bool) or not lim > 0:
            raise ValueError(f"limit must be a number > 0, got {lim!r}")
        return float(lim)

    def fit(self, X: Any, y: Any = None) -> Clip:
        """Check the limit, record the columns and count the clipped training values."""
        lim = self._check_limit()
        Xa = _validate(self, X, reset=True)
        with np.errstate(invalid="ignore"):
            self.n_clipped_ = int((np.abs(Xa) > lim).sum())
        return self

    def transform(self, X: Any) -> Any:
        """Return ``X`` clipped to ``[-limit, limit]`` (a DataFrame when ``X`` is one)."""
        lim = self._check_limit()
        Xa = self._checked(X)
        out = np.clip(Xa, -lim, lim)
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        return _like_input(out, X, columns)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state as ``(arrays, config)``: no arrays, the configuration as JSON types."""
        check_is_fitted(self, "n_features_in_")
        config = _base_config(self)
        config["n_clipped_"] = self.n_clipped_
        return {}, config

    @classmethod
    def from_state(cls, arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Clip:
        """Rebuild a fitted transformer from :meth:`to_state` output."""
        est = _rebuild(cls, config)
        est.n_clipped_ = int(config.get("n_clipped_", 0))
        return est


class StandardScaler(_SkStandardScaler):
    """scikit-learn's :class:`~sklearn.preprocessing.StandardScaler`, plus state saving.

    Identical parameters and results (constant columns get ``scale_ = 1``, NaN is
    ignored in fit and kept in transform); a DataFrame in gives a DataFrame out, and
    :meth:`to_state` / :meth:`from_state` save it without pickle.

    Examples
    --------
    >>> import numpy as np
    >>> StandardScaler().fit_transform(np.array([[1.0, 5.0], [3.0, 5.0]]))
    array([[-1.,  0.],
           [ 1.,  0.]])
    """

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> StandardScaler:
        """Update the mean and variance (infinite values raise a ValueError naming the columns)."""
        try:
            return cast("StandardScaler", super().partial_fit(X, y, sample_weight))
        except ValueError as exc:
            raise _bad_values_error(self, X, exc) from None

    def transform(self, X: Any, copy: bool | None = None) -> Any:
        """Centre and scale (a DataFrame when ``X`` is one)."""
        try:
            out = super().transform(X, copy=copy)
        except ValueError as exc:
            raise _bad_values_error(self, X, exc) from None
        if isinstance(X, pd.DataFrame) and not isinstance(out, pd.DataFrame):
            return _like_input(np.asarray(out), X, X.columns)
        return out

    def inverse_transform(self, X: Any, copy: bool | None = None) -> Any:
        """Undo the scaling (a DataFrame when ``X`` is one)."""
        out = super().inverse_transform(X, copy=copy)
        if isinstance(X, pd.DataFrame) and not isinstance(out, pd.DataFrame):
            return _like_input(np.asarray(out), X, X.columns)
        return out

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state as ``(arrays, config)`` (``mean``, ``var``, ``scale``, ``n_samples_seen``)."""
        return _scaler_to_state(self)

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
    ) -> StandardScaler:
        """Rebuild a fitted scaler from :meth:`to_state` output."""
        if config.get("class") != _SKLEARN_SCALER:
            _check_class(cls, config)
        return cast("StandardScaler", _scaler_from_state(cls, arrays, config))


_SKLEARN_SCALER = "sklearn.preprocessing.StandardScaler"


def _scaler_from_state(
    cls: type[_SkStandardScaler], arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
) -> _SkStandardScaler:
    est = _rebuild(cls, config, check_class=False)
    for key in ("mean", "var", "scale"):
        setattr(est, f"{key}_", None if key not in arrays else np.asarray(arrays[key]).copy())
    seen = np.asarray(arrays["n_samples_seen"], dtype=np.int64)
    est.n_samples_seen_ = int(seen[0]) if config["n_samples_seen_scalar"] else seen.copy()
    return est


def _scaler_to_state(est: _SkStandardScaler) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    check_is_fitted(est, "n_samples_seen_")
    arrays: dict[str, np.ndarray] = {}
    for key in ("mean", "var", "scale"):
        value = getattr(est, f"{key}_", None)
        if value is not None:
            arrays[key] = np.ascontiguousarray(value, dtype=np.float64)
    seen = est.n_samples_seen_
    scalar = np.ndim(seen) == 0
    arrays["n_samples_seen"] = np.atleast_1d(np.asarray(seen, dtype=np.int64)).copy()
    config = _base_config(est)
    config["class"] = "StandardScaler" if isinstance(est, StandardScaler) else _SKLEARN_SCALER
    config["n_samples_seen_scalar"] = bool(scalar)
    return arrays, config
