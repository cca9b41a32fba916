"""Shared pieces of the preprocessing transformers: input validation, state helpers, base classes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from coxmt._validation import format_columns, format_rows


def _bad_values_error(est: Any, X: Any, exc: ValueError) -> ValueError:
    """A message naming the columns (and rows) with infinite or non-numeric values."""
    text = str(exc)
    if "infinity" not in text and "could not convert" not in text:
        return exc
    what = type(est).__name__
    if isinstance(X, pd.DataFrame):
        non_num = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if non_num:
            return ValueError(
                f"{what}: columns {non_num[:10]}{' ...' if len(non_num) > 10 else ''} are not "
                "numeric; drop them or encode them as numbers"
            )
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        return ValueError(
            f"{what}: the input contains non-numeric values ({exc}); convert them to numbers"
        )
    if arr.ndim == 2 and np.isinf(arr).any():
        bad = np.isinf(arr)
        return ValueError(
            f"{what}: infinite values in {format_columns(X, np.flatnonzero(bad.any(axis=0)))} "
            f"at rows {format_rows(np.flatnonzero(bad.any(axis=1)))}; replace them (e.g. by NaN "
            "and impute=) or drop those rows"
        )
    return exc


def _validate(est: BaseEstimator, X: Any, *, reset: bool) -> np.ndarray:
    """scikit-learn input validation (sets/checks ``n_features_in_``, ``feature_names_in_``).

    NaN passes; infinite and non-numeric values raise a ValueError naming the columns.
    """
    kwargs: dict[str, Any] = {"reset": reset, "dtype": np.float64}
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:  # scikit-learn < 1.6
        validate_data = None
    try:
        if validate_data is None:
            return est._validate_data(X, force_all_finite="allow-nan", **kwargs)
        return validate_data(est, X, ensure_all_finite="allow-nan", **kwargs)
    except ValueError as exc:
        raise _bad_values_error(est, X, exc) from None


def _like_input(out: np.ndarray, X: Any, columns: Any) -> Any:
    """Return a DataFrame (same index, ``columns``) when ``X`` was one, else ``out``."""
    if isinstance(X, pd.DataFrame):
        return pd.DataFrame(out, index=X.index, columns=pd.Index(columns))
    return out


def _column_labels(est: BaseEstimator, idx: np.ndarray) -> list[str]:
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        return [str(names[i]) for i in idx]
    return [f"x{i}" for i in idx]


def _base_config(est: BaseEstimator) -> dict[str, Any]:
    names = getattr(est, "feature_names_in_", None)
    output = getattr(est, "_sklearn_output_config", {}).get("transform")
    return {
        "class": type(est).__name__,
        "params": {
            key: value.item() if isinstance(value, np.generic) else value
            for key, value in est.get_params(deep=False).items()
        },
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": None if names is None else [str(n) for n in names],
        "set_output": output,
    }


def _rebuild(
    cls: type,
    config: Mapping[str, Any],
    params: Mapping[str, Any] | None = None,
    *,
    check_class: bool = True,
) -> Any:
    """A new ``cls`` with the saved parameters (or ``params``) and what :func:`_base_config` saved."""
    if check_class:
        _check_class(cls, config)
    est = cls(**(config["params"] if params is None else params))
    est.n_features_in_ = int(config["n_features_in"])
    names = config.get("feature_names_in")
    if names is not None:
        est.feature_names_in_ = np.asarray(names, dtype=object)
    if config.get("set_output") is not None:
        est.set_output(transform=config["set_output"])
    return est


def _check_class(cls: type, config: Mapping[str, Any]) -> None:
    if config.get("class") != cls.__name__:
        raise ValueError(
            f"state was saved from {config.get('class')!r}, not {cls.__name__!r}; "
            "use pipeline_from_state or the matching class's from_state"
        )


def _column_variance(Xa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NaN-aware population variance and a mask of constant or all-NaN columns."""
    mask = ~np.isnan(Xa)
    count = mask.sum(axis=0)
    filled = np.where(mask, Xa, 0.0)
    mean = filled.sum(axis=0) / np.maximum(count, 1)
    var = (np.where(mask, Xa - mean, 0.0) ** 2).sum(axis=0) / np.maximum(count, 1)
    hi = np.where(mask, Xa, -np.inf).max(axis=0, initial=-np.inf)
    lo = np.where(mask, Xa, np.inf).min(axis=0, initial=np.inf)
    constant = (count == 0) | (hi == lo)
    var = np.where(constant, 0.0, var)
    var[count == 0] = np.nan
    return var, constant


class _NaNTransformer(TransformerMixin, BaseEstimator):
    """Base of coxmt's transformers: NaN passes through (imputation is a separate step)."""

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class _ValueWise(_NaNTransformer):
    """Base of the transformers that change each value on its own: same columns out, NaN passes."""

    def _checked(self, X: Any, fitted: str = "n_features_in_") -> np.ndarray:
        """``X`` validated against the fitted columns (after checking ``fitted`` is set)."""
        check_is_fitted(self, fitted)
        return _validate(self, X, reset=False)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output names: the input names (``x0, x1, ...`` when fitted on an array)."""
        check_is_fitted(self, "n_features_in_")
        return np.asarray(_check_feature_names_in(self, input_features), dtype=object)
