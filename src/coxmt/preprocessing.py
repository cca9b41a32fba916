"""RNA-seq preprocessing as scikit-learn transformers: transform, top-variance genes, scaling.

Expression tables arrive on many scales. :class:`ExpressionTransform` looks at the
training data (never at outcomes) and picks ``log2(x + 1)`` for counts or TPM,
``arcsinh`` for already-normalised values with heavy tails (such as per-gene
z-scores that reach the tens of thousands) and nothing for log-scale data; the
genes are then selected by variance on that stabilised scale, standardised and
clipped (:class:`Clip`), so that no patient sits tens of standard deviations out.
:func:`make_rnaseq_preprocessor` chains these steps.

Fit them on the training data only (inside a :class:`~sklearn.pipeline.Pipeline`
they are refitted on each cross-validation fold). A DataFrame in gives a
DataFrame out (same index, the kept column names); ``set_output(transform="pandas")``
works as in scikit-learn. NaN values pass through; infinite values are refused.

Fitted state can be saved without pickle: every transformer has
``to_state() -> (arrays, config)`` (a dict of numpy arrays for safetensors and a
JSON-serialisable dict) and ``from_state(arrays, config)``;
:func:`pipeline_to_state` / :func:`pipeline_from_state` do the same for a Pipeline
(which may also hold a scikit-learn :class:`~sklearn.impute.SimpleImputer`).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler as _SkStandardScaler
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

from coxmt._validation import format_columns, format_rows

__all__ = [
    "TRANSFORMS",
    "Clip",
    "ExpressionTransform",
    "Log2Transform",
    "StandardScaler",
    "TopVarianceGenes",
    "choose_transform",
    "chosen_transform",
    "expression_statistics",
    "make_rnaseq_preprocessor",
    "pipeline_from_state",
    "pipeline_to_state",
]

_STATE_FORMAT = "coxmt.preprocessing/1"
_LOG = logging.getLogger(__name__)


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
    variances_ : ndarray of shape (n_features_in_,)
        Training variance per column (NaN for all-NaN columns).
    support_ : ndarray of bool, shape (n_features_in_,)
        Mask of the kept columns.
    k_ : int
        Number of columns kept.
    constant_mask_ : ndarray of bool, shape (n_features_in_,)
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


_IMPUTE_STRATEGIES = ("median", "mean")


def make_rnaseq_preprocessor(
    k: int | None = 4000,
    log: bool | None = None,
    scale: bool = True,
    impute: str | None = None,
    drop_constant: bool = True,
    transform: str = "auto",
    clip: float | None = 5.0,
    verbose: bool = False,
) -> Pipeline:
    """RNA-seq preprocessing: transform -> top-``k`` variance genes -> [impute] -> [z-score -> clip].

    By default the transform is chosen from the training data (:class:`ExpressionTransform`
    with ``transform="auto"``: log2 for counts/TPM, arcsinh for heavy-tailed normalised
    values such as z-scores, nothing for log-scale data), the genes are ranked by
    variance on that stabilised scale, and the standardised values are clipped to
    ``+-clip``. Every step is fitted on the training data only.

    Parameters
    ----------
    k : int or None, default 4000
        Genes kept by variance (``None`` keeps all).
    log : bool or None, default None
        The earlier spelling: ``True`` adds a ``"log2"`` step (:class:`Log2Transform`)
        instead of the ``"transform"`` step, ``False`` adds no transform step (as
        ``transform="none"``). Give ``log`` or ``transform``, not both.
    scale : bool, default True
        Standardise each kept gene (mean 0, variance 1 on the training data).
    impute : {None, "median", "mean"}, default None
        Fill missing values (NaN) of the kept genes with their training median or
        mean (scikit-learn's :class:`~sklearn.impute.SimpleImputer`, saved with the
        model). ``None`` leaves NaN in place, and the models then refuse them.
    drop_constant : bool, default True
        Drop genes that are constant (or entirely missing) on the training data,
        noted in the ``top_variance`` step's ``note_``.
    transform : {"auto", "log2", "arcsinh", "none"}, default "auto"
        See :class:`ExpressionTransform`; ``"none"`` adds no step.
    clip : float or None, default 5.0
        After standardisation, clip the values to ``[-clip, clip]`` (a ``"clip"``
        step, :class:`Clip`); ``None`` does not clip. Ignored when ``scale=False``.
    verbose : bool, default False
        Print the transform chosen when fitting.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps named ``"transform"`` (or ``"log2"``), ``"top_variance"``,
        ``"impute"``, ``"scale"`` and ``"clip"`` (those enabled).

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=2)
    >>> [name for name, _ in pre.steps]
    ['transform', 'top_variance', 'scale', 'clip']
    >>> counts = np.array([[0.0, 1.0, 300.0], [3.0, 1.0, 700.0], [5.0, 2.0, 90.0]])
    >>> pre.fit(counts).named_steps["transform"].transform_
    'log2'
    >>> [name for name, _ in make_rnaseq_preprocessor(k=2, log=True, clip=None).steps]
    ['log2', 'top_variance', 'scale']
    >>> pre = make_rnaseq_preprocessor(k=None, scale=False, impute="median", transform="none")
    >>> pre.fit_transform(np.array([[1.0, 2.0], [np.nan, 4.0], [3.0, 9.0]])).tolist()
    [[1.0, 2.0], [2.0, 4.0], [3.0, 9.0]]
    """
    if impute is not None and impute not in _IMPUTE_STRATEGIES:
        raise ValueError(f"impute must be None, 'median' or 'mean', got {impute!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"transform must be one of {list(TRANSFORMS)}, got {transform!r}")
    if log is not None and transform != "auto":
        raise ValueError(
            f"log={log!r} and transform={transform!r} both choose the transform; "
            "give transform only (log=True is transform='log2', log=False is 'none')"
        )
    if clip is not None and (
        not isinstance(clip, numbers.Real) or isinstance(clip, bool) or not clip > 0
    ):
        raise ValueError(f"clip must be a number > 0 or None (no clipping), got {clip!r}")
    steps: list[tuple[str, Any]] = []
    if log:
        steps.append(("log2", Log2Transform()))
    elif log is None and transform != "none":
        steps.append(("transform", ExpressionTransform(method=transform, verbose=verbose)))
    steps.append(("top_variance", TopVarianceGenes(k=k, drop_constant=drop_constant)))
    if impute is not None:
        # after the selection (variances ignore NaN), so only the kept genes are imputed;
        # keep_empty_features keeps the column count fixed if a gene is empty in a fold
        steps.append(("impute", SimpleImputer(strategy=impute, keep_empty_features=True)))
    if scale:
        steps.append(("scale", StandardScaler()))
        if clip is not None:
            steps.append(("clip", Clip(limit=float(clip))))
    return Pipeline(steps)


def chosen_transform(pipeline: Pipeline) -> str | None:
    """The note of the fitted pipeline's transform step (``None`` when it has none).

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=None).fit(np.array([[1.0, -40.0], [0.5, 900.0]]))
    >>> chosen_transform(pre).split(":")[0]
    'transform arcsinh'
    """
    for _, step in pipeline.steps:
        if isinstance(step, ExpressionTransform):
            check_is_fitted(step, "transform_")
            return step.note_
        if isinstance(step, Log2Transform):
            return "transform log2: chosen explicitly"
    return None


def _step_to_state(step: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if step is None or (isinstance(step, str) and step == "passthrough"):
        return {}, {"class": "passthrough"}
    if isinstance(
        step, Log2Transform | TopVarianceGenes | StandardScaler | ExpressionTransform | Clip
    ):
        return step.to_state()
    if type(step) is _SkStandardScaler:
        return _scaler_to_state(step)
    if type(step) is SimpleImputer:
        return _imputer_to_state(step)
    raise TypeError(
        f"cannot save a {type(step).__name__} step without pickle; supported steps are "
        "ExpressionTransform, Log2Transform, TopVarianceGenes, StandardScaler (coxmt or "
        "scikit-learn), Clip, "
        "SimpleImputer (numeric) and 'passthrough'"
    )


_SKLEARN_IMPUTER = "sklearn.impute.SimpleImputer"


def _imputer_to_state(est: SimpleImputer) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    check_is_fitted(est, "statistics_")
    params = est.get_params(deep=False)
    problems = []
    if params["add_indicator"]:
        problems.append("add_indicator=True")
    if not (isinstance(params["missing_values"], float) and np.isnan(params["missing_values"])):
        problems.append(f"missing_values={params['missing_values']!r} (only NaN)")
    if not isinstance(params["strategy"], str):
        problems.append("a callable strategy")
    if params["fill_value"] is not None and not isinstance(params["fill_value"], numbers.Real):
        problems.append(f"fill_value={params['fill_value']!r} (only numbers)")
    stats = np.asarray(est.statistics_)
    if stats.dtype.kind not in "biuf":
        problems.append("non-numeric data")
    if problems:
        raise TypeError(
            f"cannot save this SimpleImputer without pickle: {', '.join(problems)} is not "
            "supported; use a numeric SimpleImputer(strategy='median' or 'mean')"
        )
    config = _base_config(est)
    config["class"] = _SKLEARN_IMPUTER
    config["params"]["missing_values"] = None  # NaN, which JSON cannot hold
    config["fit_dtype"] = str(np.dtype(est._fit_dtype))
    config["fill_dtype"] = str(np.dtype(est._fill_dtype))
    return {"statistics": stats.astype(np.float64)}, config


def _imputer_from_state(
    arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]
) -> SimpleImputer:
    params = dict(config["params"])
    params["missing_values"] = np.nan
    est = _rebuild(SimpleImputer, config, params, check_class=False)
    est.statistics_ = np.asarray(arrays["statistics"], dtype=np.float64).copy()
    est._fit_dtype = np.dtype(config["fit_dtype"])
    est._fill_dtype = np.dtype(config["fill_dtype"])
    est.indicator_ = None
    if est.statistics_.shape != (est.n_features_in_,):
        raise ValueError(
            f"inconsistent SimpleImputer state: statistics must have shape "
            f"({est.n_features_in_},), got {est.statistics_.shape}"
        )
    return est


_STEP_CLASSES: dict[str, Any] = {
    "ExpressionTransform": ExpressionTransform,
    "Clip": Clip,
    "Log2Transform": Log2Transform,
    "TopVarianceGenes": TopVarianceGenes,
    "StandardScaler": StandardScaler,
}


def pipeline_to_state(pipeline: Pipeline) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fitted Pipeline of coxmt transformers as ``(arrays, config)`` for safetensors + JSON.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted; steps must be :class:`ExpressionTransform`, :class:`Log2Transform`,
        :class:`TopVarianceGenes`, :class:`Clip`,
        :class:`StandardScaler` (coxmt's or scikit-learn's), a numeric scikit-learn
        :class:`~sklearn.impute.SimpleImputer` or ``"passthrough"``.

    Returns
    -------
    arrays : dict of str to numpy.ndarray
        Keys ``"<step index>.<step name>.<array>"``.
    config : dict
        JSON-serialisable description of the steps.

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=2).fit(np.arange(12.0).reshape(4, 3) ** 2)
    >>> arrays, config = pipeline_to_state(pre)
    >>> sorted(arrays)[:2]
    ['1.top_variance.constant', '1.top_variance.support']
    >>> restored = pipeline_from_state(arrays, config)
    >>> bool(np.allclose(restored.transform(np.ones((1, 3))), pre.transform(np.ones((1, 3)))))
    True
    """
    if not isinstance(pipeline, Pipeline):
        raise TypeError(f"pipeline must be a sklearn Pipeline, got {type(pipeline).__name__}")
    arrays: dict[str, np.ndarray] = {}
    steps = []
    for i, (name, step) in enumerate(pipeline.steps):
        if "." in name:
            raise ValueError(f"step name {name!r} contains '.'; rename the step")
        step_arrays, step_config = _step_to_state(step)
        for key, value in step_arrays.items():
            arrays[f"{i}.{name}.{key}"] = value
        steps.append({"name": name, **step_config})
    return arrays, {"format": _STATE_FORMAT, "steps": steps}


def pipeline_from_state(arrays: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> Pipeline:
    """Rebuild a fitted Pipeline from :func:`pipeline_to_state` output.

    Examples
    --------
    >>> import numpy as np
    >>> pre = make_rnaseq_preprocessor(k=1).fit(np.array([[1.0, 2.0], [3.0, 2.0]]))
    >>> pipeline_from_state(*pipeline_to_state(pre)).transform(np.array([[2.0, 0.0]]))
    array([[0.]])
    """
    if config.get("format") != _STATE_FORMAT:
        raise ValueError(
            f"unknown preprocessing state format {config.get('format')!r}; expected "
            f"{_STATE_FORMAT!r} (saved by coxmt.preprocessing.pipeline_to_state)"
        )
    steps: list[tuple[str, Any]] = []
    for i, step_config in enumerate(config["steps"]):
        name = step_config["name"]
        cls_name = step_config["class"]
        if cls_name == "passthrough":
            steps.append((name, "passthrough"))
            continue
        if cls_name not in _STEP_CLASSES and cls_name not in (_SKLEARN_SCALER, _SKLEARN_IMPUTER):
            raise ValueError(
                f"unknown preprocessing step class {cls_name!r} in step {name!r}; "
                f"known: {sorted([*_STEP_CLASSES, _SKLEARN_SCALER, _SKLEARN_IMPUTER])}"
            )
        prefix = f"{i}.{name}."
        step_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        if cls_name == _SKLEARN_IMPUTER:
            steps.append((name, _imputer_from_state(step_arrays, step_config)))
        elif cls_name == _SKLEARN_SCALER:
            steps.append((name, _scaler_from_state(_SkStandardScaler, step_arrays, step_config)))
        else:
            steps.append((name, _STEP_CLASSES[cls_name].from_state(step_arrays, step_config)))
    return Pipeline(steps)
