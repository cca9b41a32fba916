"""The variance-stabilising transforms (log2, arcsinh or none) and the rule that picks one."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from coxmt.preprocessing._common import (
    _base_config,
    _column_labels,
    _column_variance,
    _like_input,
    _rebuild,
    _validate,
    _ValueWise,
)

_LOG = logging.getLogger("coxmt.preprocessing")


def _check_log_domain(est: BaseEstimator, Xa: np.ndarray, pc: float) -> None:
    """Refuse values where ``log2(x + pc)`` is undefined, naming the columns."""
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(((Xa + pc) <= 0).any(axis=0))
    if bad.size:
        cols = _column_labels(est, bad)
        low = float(np.nanmin(Xa[:, bad]))
        raise ValueError(
            f"Negative values in data passed to {type(est).__name__}: {bad.size} columns "
            "have values <= -pseudocount "
            f"(minimum {low:.4g}), so log2(x + {pc:g}) is undefined: {cols[:10]}"
            f"{' ...' if len(cols) > 10 else ''}. The data look already log-transformed "
            "or z-scored (z-scores are negative): drop this step "
            "(e.g. make_rnaseq_preprocessor(log=False))."
        )


class Log2Transform(_ValueWise):
    """Element-wise ``log2(x + pseudocount)`` for count or TPM-like expression.

    Parameters
    ----------
    pseudocount : float, default 1.0
        Added before the logarithm; must be >= 0.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when fitted on a DataFrame with string column names.

    Raises
    ------
    ValueError
        In ``fit``/``transform`` when some ``x + pseudocount <= 0``: the data are then
        probably already log-transformed or z-scored, and this step should be dropped.

    Examples
    --------
    >>> import numpy as np
    >>> Log2Transform().fit_transform(np.array([[0.0, 1.0], [3.0, 7.0]]))
    array([[0., 1.],
           [2., 3.]])
    """

    def __init__(self, pseudocount: float = 1.0) -> None:
        self.pseudocount = pseudocount

    def _check_pseudocount(self) -> float:
        pc = self.pseudocount
        if (
            not isinstance(pc, numbers.Real)
            or isinstance(pc, bool)
            or not np.isfinite(pc)
            or pc < 0
        ):
            raise ValueError(f"pseudocount must be a finite number >= 0, got {pc!r}")
        return float(pc)

    def _check_positive(self, Xa: np.ndarray, pc: float) -> None:
        _check_log_domain(self, Xa, pc)

    def fit(self, X: Any, y: Any = None) -> Log2Transform:
        """Check the input (non-negative after the pseudocount) and record its columns."""
        pc = self._check_pseudocount()
        Xa = _validate(self, X, reset=True)
        self._check_positive(Xa, pc)
        return self

    def transform(self, X: Any) -> Any:
        """Return ``log2(X + pseudocount)`` (a DataFrame when ``X`` is one)."""
        pc = self._check_pseudocount()
        Xa = self._checked(X)
        self._check_positive(Xa, pc)
        out = np.log2(Xa + pc)
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        return _like_input(out, X, columns)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        return tags

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state as ``(arrays, config)``: no arrays, the configuration as JSON types."""
        check_is_fitted(self, "n_features_in_")
        return {}, _base_config(self)

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
    ) -> Log2Transform:
        """Rebuild a fitted transformer from :meth:`to_state` output."""
        return cast("Log2Transform", _rebuild(cls, config))


TRANSFORMS = ("auto", "log2", "arcsinh", "none")
"""Values of ``ExpressionTransform(method=...)`` and ``make_rnaseq_preprocessor(transform=...)``."""

_HANDFUL = 5  # "a handful of patients" in the top-variance concentration statistic
_TOP_GENES = 100  # top-variance genes examined by that statistic


def _column_skewness(Xa: np.ndarray) -> np.ndarray:
    """NaN-aware sample skewness per column (0 for constant or nearly empty columns)."""
    mask = ~np.isnan(Xa)
    count = mask.sum(axis=0)
    mean = np.where(mask, Xa, 0.0).sum(axis=0) / np.maximum(count, 1)
    dev = np.where(mask, Xa - mean, 0.0)
    m2 = (dev**2).sum(axis=0) / np.maximum(count, 1)
    m3 = (dev**3).sum(axis=0) / np.maximum(count, 1)
    ok = (count >= 3) & (m2 > 1e-12 * np.maximum(1.0, mean**2))
    out = np.zeros(Xa.shape[1])
    out[ok] = m3[ok] / m2[ok] ** 1.5
    return out


def _top_variance_concentration(Xa: np.ndarray) -> float:
    """Share of the top-variance genes whose variance comes mostly from a handful of patients.

    Among the ``min(100, n_genes)`` genes of largest variance, the fraction in which the
    5 patients farthest from the gene mean carry more than half of the sum of squared
    deviations.
    """
    var, constant = _column_variance(Xa)
    key = np.where(np.isnan(var) | constant, -1.0, var)
    top = np.argsort(-key, kind="stable")[: min(_TOP_GENES, Xa.shape[1])]
    top = top[key[top] > 0]
    if top.size == 0 or Xa.shape[0] <= _HANDFUL:
        return 0.0
    sub = Xa[:, top]
    dev = (sub - np.nanmean(sub, axis=0)) ** 2
    dev = np.where(np.isnan(dev), 0.0, dev)
    total = dev.sum(axis=0)
    few = -np.sort(-dev, axis=0)[:_HANDFUL].sum(axis=0)
    return float(np.mean(few > 0.5 * total))


def expression_statistics(X: Any) -> dict[str, float]:
    """Scale statistics of an expression table, the inputs of :func:`choose_transform`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Expression values (NaN ignored; infinite values raise a ValueError).

    Returns
    -------
    dict of str to float
        ``min``, ``max``, ``max_abs``, ``fraction_negative``, ``fraction_integer``
        (share of values that are whole numbers), ``median_skewness`` (median over
        genes of the per-gene sample skewness) and ``top_variance_concentration``
        (share of the 100 top-variance genes in which 5 patients carry more than
        half of the gene's variance).

    Examples
    --------
    >>> import numpy as np
    >>> stats = expression_statistics(np.array([[0.0, 10.0], [3.0, 250.0], [1.0, 40.0]]))
    >>> stats["max_abs"], stats["fraction_negative"], stats["fraction_integer"]
    (250.0, 0.0, 1.0)
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2:
        raise ValueError(f"X must be 2-dimensional (patients x genes), got shape {Xa.shape}")
    if np.isinf(Xa).any():
        raise ValueError("X holds infinite values; replace them (e.g. by NaN) or drop those rows")
    values = Xa[~np.isnan(Xa)]
    if values.size == 0:
        raise ValueError("X holds no values (empty or all NaN); check the feature selection")
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "max_abs": float(np.abs(values).max()),
        "fraction_negative": float(np.mean(values < 0)),
        "fraction_integer": float(np.mean(values == np.round(values))),
        "median_skewness": float(np.median(_column_skewness(Xa))),
        "top_variance_concentration": _top_variance_concentration(Xa),
    }


def choose_transform(
    stats: Mapping[str, float], *, skew_threshold: float = 1.0, max_abs_threshold: float = 100.0
) -> tuple[str, str]:
    """The transform the ``"auto"`` rule picks from :func:`expression_statistics`, and why.

    The rule (fixed in advance, from the scale of the data only, never from outcomes):

    - no negative values: counts or TPM, so ``"log2"``, when the values reach above
      ``max_abs_threshold``, are right-skewed (median gene skewness above
      ``skew_threshold``) or are whole numbers (counts, maximum at least 10);
      otherwise the data are already on a log scale: ``"none"``;
    - negative values (already normalised, e.g. z-scores or log-ratios): ``"arcsinh"``
      when the tails are heavy (maximum ``|x|`` above ``max_abs_threshold`` or median
      gene skewness above ``skew_threshold``), otherwise ``"none"``.

    Parameters
    ----------
    stats : mapping
        Output of :func:`expression_statistics`.
    skew_threshold, max_abs_threshold : float
        The limits above which values count as skewed or large.

    Returns
    -------
    transform : {"log2", "arcsinh", "none"}
    reason : str
        The statistics that decided, in words.

    Examples
    --------
    >>> choose_transform({"min": -3.9, "max": 36900.0, "max_abs": 36900.0,
    ...     "fraction_negative": 0.68, "fraction_integer": 0.0, "median_skewness": 4.0})[0]
    'arcsinh'
    """
    max_abs = stats["max_abs"]
    skew = stats["median_skewness"]
    seen = f"max |x| {max_abs:.4g}, median gene skewness {skew:.2f}"
    if stats["fraction_negative"] == 0:
        whole = stats["fraction_integer"] >= 0.99 and stats["max"] >= 10
        if max_abs > max_abs_threshold or skew > skew_threshold or whole:
            kind = "whole numbers" if whole else "large or right-skewed"
            return "log2", f"non-negative, {kind} ({seen}): counts or TPM"
        return "none", f"non-negative, small and not skewed ({seen}): already log-scale"
    neg = f"{stats['fraction_negative']:.0%} negative"
    if max_abs > max_abs_threshold or skew > skew_threshold:
        return "arcsinh", f"{neg}, heavy-tailed ({seen}): normalised values with outliers"
    return "none", f"{neg}, no heavy tail ({seen}): already log-scale or standardised"


class ExpressionTransform(_ValueWise):
    """Variance-stabilising transform chosen from the training data: log2, arcsinh or none.

    With ``method="auto"`` the choice is made in :meth:`fit` by
    :func:`choose_transform` from :func:`expression_statistics` of the training
    data (outcomes are never looked at), recorded in ``transform_`` and ``note_``,
    logged (logger ``coxmt.preprocessing``, level INFO) and saved with the model.
    The test data are then transformed the same way.

    Parameters
    ----------
    method : {"auto", "log2", "arcsinh", "none"}, default "auto"
        ``"log2"``: ``log2(x + 1)`` (counts, TPM; refuses values <= -1);
        ``"arcsinh"``: ``arcsinh(x)`` (normalised values with heavy tails: about
        linear for ``|x| < 1``, logarithmic beyond); ``"none"``: unchanged.
    verbose : bool, default False
        Also print the choice (``note_``) when fitting.

    Attributes
    ----------
    transform_ : str
        The transform applied: ``"log2"``, ``"arcsinh"`` or ``"none"``.
    stats_ : dict of str to float
        :func:`expression_statistics` of the training data.
    note_ : str
        The choice and the reason, e.g. ``"transform arcsinh: 68% negative, ..."``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> counts = rng.poisson(200.0, size=(20, 3)).astype(float)
    >>> ExpressionTransform().fit(counts).transform_
    'log2'
    >>> ExpressionTransform().fit(np.log2(counts + 1)).transform_
    'none'
    """

    def __init__(self, method: str = "auto", verbose: bool = False) -> None:
        self.method = method
        self.verbose = verbose

    def _check_method(self) -> str:
        if self.method not in TRANSFORMS:
            raise ValueError(f"method must be one of {list(TRANSFORMS)}, got {self.method!r}")
        return str(self.method)

    def fit(self, X: Any, y: Any = None) -> ExpressionTransform:
        """Choose the transform (for ``method="auto"``) from the training data and record it."""
        name = self._check_method()
        Xa = _validate(self, X, reset=True)
        stats = expression_statistics(Xa)
        if name == "auto":
            name, reason = choose_transform(stats)
        else:
            reason = "chosen explicitly"
        if name == "log2":
            _check_log_domain(self, Xa, 1.0)
        self.transform_ = name
        self.stats_ = stats
        self.note_ = f"transform {name}: {reason}"
        _LOG.info(self.note_)
        if self.verbose:
            print(self.note_)
        return self

    def transform(self, X: Any) -> Any:
        """Apply the fitted transform (a DataFrame when ``X`` is one)."""
        Xa = self._checked(X, "transform_")
        if self.transform_ == "log2":
            _check_log_domain(self, Xa, 1.0)
            out = np.log2(Xa + 1.0)
        elif self.transform_ == "arcsinh":
            out = np.arcsinh(Xa)
        else:
            out = Xa
        columns = X.columns if isinstance(X, pd.DataFrame) else None
        return _like_input(out, X, columns)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Fitted state as ``(arrays, config)``: the chosen transform, its reason and statistics."""
        check_is_fitted(self, "transform_")
        config = _base_config(self)
        config.update(transform_=self.transform_, stats_=dict(self.stats_), note_=self.note_)
        return {}, config

    @classmethod
    def from_state(
        cls, arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
    ) -> ExpressionTransform:
        """Rebuild a fitted transformer from :meth:`to_state` output."""
        est = _rebuild(cls, config)
        if config["transform_"] not in TRANSFORMS[1:]:
            raise ValueError(
                f"inconsistent ExpressionTransform state: transform_ {config['transform_']!r} "
                f"is not one of {list(TRANSFORMS[1:])}"
            )
        est.transform_ = str(config["transform_"])
        est.stats_ = {str(k): float(v) for k, v in config["stats_"].items()}
        est.note_ = str(config["note_"])
        return est
