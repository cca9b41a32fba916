"""The one place where survival targets and feature matrices are checked.

Every public entry point (estimators, metrics, losses, the CLI) calls into this
module so that a bad input always produces the same, specific message: what is
wrong, at which rows, and how to fix it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Unlabeled",
    "check_aligned_ids",
    "check_features",
    "check_layer_sizes",
    "check_survival_target",
    "check_tensor_target",
    "format_columns",
    "format_rows",
    "make_target",
    "unwrap_unlabeled",
]

_EVENT_NAMES = ("event", "status", "dead", "death", "observed", "e")
_TIME_NAMES = ("time", "time_months", "duration", "survival_time", "os_time", "t")


def format_rows(idx: Sequence[int] | np.ndarray, limit: int = 10) -> str:
    """Format offending row positions as ``[3, 17, ...]`` (at most ``limit`` shown)."""
    idx = [int(i) for i in np.asarray(idx).ravel()]
    shown = ", ".join(str(i) for i in idx[:limit])
    more = f", ... ({len(idx)} rows in all)" if len(idx) > limit else ""
    return f"[{shown}{more}]"


def format_columns(X: Any, cols: Sequence[int] | np.ndarray, limit: int = 10) -> str:
    """Format offending column positions of ``X`` as ``3 column(s) ['TP53', ...]``.

    DataFrame columns are named; array columns are ``x0``, ``x1``, ...

    Examples
    --------
    >>> import pandas as pd
    >>> format_columns(pd.DataFrame(columns=["TP53", "MYC"]), [1])
    "1 column(s) ['MYC']"
    >>> format_columns(None, range(12))
    "12 column(s) ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8', 'x9'] ..."
    """
    idx = [int(j) for j in np.asarray(cols).ravel()]
    names = (
        [str(X.columns[j]) for j in idx[:limit]]
        if isinstance(X, pd.DataFrame)
        else [f"x{j}" for j in idx[:limit]]
    )
    return f"{len(idx)} column(s) {names}{' ...' if len(idx) > limit else ''}"


def make_target(event: Any, time: Any) -> np.ndarray:
    """Build a scikit-survival style structured array ``[("event", bool), ("time", float)]``.

    Parameters
    ----------
    event : array-like of shape (n_samples,)
        1/True where death (the event) was observed, 0/False where censored.
    time : array-like of shape (n_samples,)
        Follow-up time.

    Returns
    -------
    numpy.ndarray
        Structured array usable by coxmt and scikit-survival.

    Examples
    --------
    >>> y = make_target([1, 0], [5.0, 3.0])
    >>> y["event"].tolist(), y["time"].tolist()
    ([True, False], [5.0, 3.0])
    """
    ev, t = check_survival_target((event, time), require_events=False)
    y = np.empty(len(t), dtype=[("event", bool), ("time", np.float64)])
    y["event"] = ev
    y["time"] = t
    return y


def _pick_column(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    lower = {str(n).lower(): n for n in names}
    for c in candidates:
        if c in lower:
            return str(lower[c])
    return None


def _split_target(y: Any) -> tuple[Any, Any]:
    """Return raw (event, time) from any accepted container."""
    if isinstance(y, np.ndarray) and y.dtype.names is not None:
        names = list(y.dtype.names)
        if len(names) != 2:
            raise ValueError(
                f"structured survival target must have exactly 2 fields (event, time), got {names}"
            )
        ev_name = _pick_column(names, _EVENT_NAMES)
        t_name = _pick_column(names, _TIME_NAMES)
        if ev_name is None or t_name is None:
            # scikit-survival convention: first field is the event indicator
            ev_name, t_name = names[0], names[1]
        return y[ev_name], y[t_name]
    if isinstance(y, pd.DataFrame):
        cols = list(y.columns)
        ev_name = _pick_column(cols, _EVENT_NAMES)
        t_name = _pick_column(cols, _TIME_NAMES)
        if ev_name is None or t_name is None:
            if len(cols) == 2:
                ev_name, t_name = cols[0], cols[1]
            else:
                raise ValueError(
                    "could not find the event and time columns in the survival DataFrame; "
                    f"columns are {cols}. Pass a DataFrame with columns 'event' and 'time' "
                    "(event: 1 = death observed, 0 = censored)."
                )
        if "censor" in str(ev_name).lower():
            raise ValueError(
                f"column {ev_name!r} looks like a censoring indicator (1 = censored); "
                "coxmt expects an event indicator (1 = death observed). Pass 1 - censorship."
            )
        return y[ev_name].to_numpy(), y[t_name].to_numpy()
    if isinstance(y, tuple | list) and len(y) == 2:
        return y[0], y[1]
    arr = np.asarray(y) if not isinstance(y, str) else None
    if arr is not None and arr.ndim == 2 and arr.shape[1] == 2 and arr.shape[0] != 2:
        return arr[:, 0], arr[:, 1]
    raise ValueError(
        "unrecognised survival target: pass a scikit-survival structured array "
        "(fields event, time), a DataFrame with 'event' and 'time' columns, "
        f"or a pair (event, time) of arrays; got {type(y).__name__}"
    )


def _to_numeric(
    values: Any, what: str, fix: str = "convert them to numbers or drop those rows"
) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        arr = arr.reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind in "biuf":
        return arr
    converted = pd.to_numeric(pd.Series(arr, dtype=object), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(converted) & ~pd.isna(pd.Series(arr, dtype=object)).to_numpy())
    if bad.size:
        example = arr[bad[0]]
        raise ValueError(
            f"{what} contains non-numeric values at rows {format_rows(bad)} "
            f"(e.g. {example!r}); {fix}"
        )
    return converted


def check_survival_target(
    y: Any,
    *,
    n_samples: int | None = None,
    require_events: bool = True,
    min_samples: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a survival target and return ``(event, time)`` arrays.

    Accepted forms: a scikit-survival structured array, a DataFrame with
    event/time columns, or a pair ``(event, time)``.

    Parameters
    ----------
    y : structured array, DataFrame or (event, time)
        Event indicator (1/True = death observed, 0/False = censored) and time.
    n_samples : int, optional
        Expected number of samples (the number of rows of ``X``).
    require_events : bool, default True
        Raise when no event is observed (a Cox model cannot be fitted then).
    min_samples : int, default 1
        Minimum number of samples.

    Returns
    -------
    event : numpy.ndarray of bool
    time : numpy.ndarray of float64

    Raises
    ------
    ValueError
        With a message naming the problem, the rows and the fix.

    Examples
    --------
    >>> ev, t = check_survival_target(([1, 0, 1], [2.0, 3.5, 1.0]))
    >>> ev.tolist(), t.tolist()
    ([True, False, True], [2.0, 3.5, 1.0])
    """
    raw_event, raw_time = _split_target(y)
    time = _to_numeric(raw_time, "time").astype(np.float64)
    event_num = _to_numeric(
        raw_event, "event", fix="encode the event as 1 = death observed, 0 = censored"
    )
    if event_num.dtype.kind == "b":
        event = event_num.astype(bool)
    else:
        ev_f = event_num.astype(np.float64)
        bad = np.flatnonzero(~np.isin(ev_f, (0.0, 1.0)))
        if bad.size:
            vals = sorted({repr(v) for v in np.asarray(raw_event)[bad[:5]].tolist()})
            raise ValueError(
                f"event contains values other than 0/1/True/False at rows {format_rows(bad)} "
                f"(values {', '.join(vals)}); encode 1 = death observed, 0 = censored"
            )
        event = ev_f.astype(bool)
    if len(event) != len(time):
        raise ValueError(
            f"event and time have different lengths ({len(event)} vs {len(time)}); "
            "pass one event and one time per sample"
        )
    nan = np.flatnonzero(np.isnan(time))
    if nan.size:
        raise ValueError(
            f"time contains NaN values at rows {format_rows(nan)}; "
            "drop those samples or fill in their follow-up time"
        )
    inf = np.flatnonzero(np.isinf(time))
    if inf.size:
        raise ValueError(
            f"time contains infinite values at rows {format_rows(inf)}; "
            "replace them with the last follow-up time"
        )
    neg = np.flatnonzero(time < 0)
    if neg.size:
        raise ValueError(
            f"time contains negative values at rows {format_rows(neg)}; "
            "survival times must be >= 0 (check the units and the time origin)"
        )
    if n_samples is not None and len(time) != n_samples:
        raise ValueError(
            f"X has {n_samples} rows but the survival target has {len(time)} samples; "
            "pass one (event, time) per row of X"
        )
    if len(time) < min_samples:
        raise ValueError(
            f"need at least {min_samples} samples, got {len(time)}; provide more patients"
        )
    if require_events and not event.any():
        raise ValueError(
            "all samples are censored (no event observed); a Cox model needs at least one "
            "death. Check the event column's convention (1 = death observed, 0 = censored)"
        )
    return event, time


def check_features(
    X: Any,
    *,
    name: str = "X",
    allow_nan: bool = False,
    dtype: type = np.float64,
    n_features: int | None = None,
) -> np.ndarray:
    """Validate a feature matrix and return it as a 2-D float array.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    name : str, default "X"
        Name used in error messages.
    allow_nan : bool, default False
        Accept NaN entries (infinite values are always refused).
    dtype : numpy dtype, default float64
    n_features : int, optional
        Expected number of columns.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> check_features([[1, 2], [3, 4]]).shape
    (2, 2)
    """
    if isinstance(X, pd.DataFrame):
        non_num = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if non_num:
            shown = ", ".join(repr(c) for c in non_num[:10])
            raise ValueError(
                f"{name} has non-numeric columns: {shown}"
                f"{' ...' if len(non_num) > 10 else ''}; drop them or encode them as numbers"
            )
        arr = X.to_numpy(dtype=dtype)
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            try:
                arr = arr.astype(dtype)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name} contains non-numeric values; convert strings to numbers "
                    "or drop those columns"
                ) from None
        arr = arr.astype(dtype, copy=False)
    if arr.ndim == 1:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got a 1-D array of length "
            f"{arr.shape[0]}; use X.reshape(-1, 1) for a single feature"
        )
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has zero rows (no samples); pass at least one sample")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} has zero columns (no features); pass at least one feature")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features but the model was fitted with {n_features}; "
            "pass the same columns as at fit time"
        )
    finite = np.isfinite(arr)
    if not finite.all():
        isnan = np.isnan(arr)
        inf_rows = np.flatnonzero((~finite & ~isnan).any(axis=1))
        if inf_rows.size:
            raise ValueError(
                f"{name} contains infinite values at rows {format_rows(inf_rows)}; "
                "replace or drop them"
            )
        if not allow_nan:
            nan_rows = np.flatnonzero(isnan.any(axis=1))
            nan_cols = np.flatnonzero(isnan.any(axis=0))
            raise ValueError(
                f"{name} contains NaN values at rows {format_rows(nan_rows)} in "
                f"{format_columns(X, nan_cols)}; "
                "impute them (coxmt.preprocessing.make_rnaseq_preprocessor(impute='median'), "
                "`--impute median` on the command line, or sklearn.impute.SimpleImputer in a "
                "Pipeline) or drop those rows"
            )
    return arr


def check_tensor_target(risk: Any, event: Any, time: Any) -> tuple[Any, Any, Any]:
    """Validate ``(risk, event, time)`` tensors for a loss, keeping their device.

    Returns flattened ``risk`` (floating), ``event`` (bool) and ``time`` (same dtype
    as risk), all on ``risk``'s device.
    """
    import torch

    if not isinstance(risk, torch.Tensor):
        raise TypeError(f"risk must be a torch.Tensor, got {type(risk).__name__}")
    if not torch.is_floating_point(risk):
        raise ValueError(f"risk must be a floating-point tensor, got dtype {risk.dtype}")
    risk = risk.reshape(-1)
    device = risk.device
    event = torch.as_tensor(event, device=device).reshape(-1)
    time = torch.as_tensor(time, device=device).reshape(-1)
    n = risk.shape[0]
    if event.shape[0] != n or time.shape[0] != n:
        raise ValueError(
            f"risk, event and time must have the same length, got {n}, "
            f"{event.shape[0]} and {time.shape[0]}"
        )
    if event.dtype != torch.bool:
        if torch.is_floating_point(event) or event.dtype in (
            torch.int8,
            torch.int16,
            torch.int32,
            torch.int64,
            torch.uint8,
        ):
            bad = torch.nonzero((event != 0) & (event != 1)).reshape(-1)
            if bad.numel():
                raise ValueError(
                    f"event contains values other than 0/1/True/False at rows "
                    f"{format_rows(bad.cpu().numpy())}; encode 1 = death observed, 0 = censored"
                )
            event = event != 0
        else:
            raise ValueError(f"event must be boolean or 0/1, got dtype {event.dtype}")
    if not torch.is_floating_point(time):
        time = time.to(risk.dtype)
    bad_t = torch.nonzero(~torch.isfinite(time) | (time < 0)).reshape(-1)
    if bad_t.numel():
        raise ValueError(
            f"time contains negative, NaN or infinite values at rows "
            f"{format_rows(bad_t.cpu().numpy())}; survival times must be finite and >= 0"
        )
    return risk, event, time


def _target_index(y: Any) -> pd.Index | None:
    """The patient IDs carried by a survival target, when it has any."""
    if isinstance(y, pd.DataFrame | pd.Series):
        return pd.Index(y.index)
    if isinstance(y, tuple | list) and len(y) == 2:
        indexes = [pd.Index(v.index) for v in y if isinstance(v, pd.Series)]
        if len(indexes) == 2 and not indexes[0].equals(indexes[1]):
            raise ValueError(
                "the event and time Series of y have different indexes; align them "
                "(e.g. time = time.loc[event.index]) before fitting"
            )
        return indexes[0] if indexes else None
    return None


def _shown(values: Sequence[Any], limit: int = 10) -> str:
    items = [str(v) for v in values]
    more = f" ... ({len(items)} in all)" if len(items) > limit else ""
    return f"{items[:limit]}{more}"


def check_aligned_ids(X: Any, y: Any, *, name: str = "X") -> Any:
    """Check that ``X`` and ``y`` describe the same patients, and put ``y`` in ``X``'s order.

    When both ``X`` and ``y`` carry patient IDs (a DataFrame ``X`` and a
    DataFrame/Series ``y``, or a pair of Series, neither with a default
    ``RangeIndex``), their ID sets must be equal: patients present in only one of
    them are listed in the error. A ``y`` holding the same IDs in another order is
    reordered to ``X``'s order, so rows can never be silently mismatched. Other
    inputs (arrays, structured arrays, default integer indexes) are returned
    unchanged; their lengths are checked by :func:`check_survival_target`.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
    y : structured array, DataFrame (event, time), Series pair or (event, time)
    name : str, default "X"
        What the caller calls ``X`` (e.g. ``"bags"``), for the messages.

    Returns
    -------
    y
        ``y`` itself, or reordered like ``X.index`` (same type).

    Raises
    ------
    ValueError
        When the ID sets differ or contain duplicates.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"g": [1.0, 2.0]}, index=["a", "b"])
    >>> y = pd.DataFrame({"event": [0, 1], "time": [3.0, 5.0]}, index=["b", "a"])
    >>> check_aligned_ids(X, y)["time"].tolist()
    [5.0, 3.0]
    >>> check_aligned_ids(X, y.rename(index={"b": "c"}))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: X and y hold different patients: IDs only in X: ['b']; IDs only in y: ['c']. ...
    """
    if not isinstance(X, pd.DataFrame):
        return y
    y_index = _target_index(y)
    x_index = pd.Index(X.index)
    if y_index is None or isinstance(x_index, pd.RangeIndex) or isinstance(y_index, pd.RangeIndex):
        return y
    for what, index in ((name, x_index), ("y", y_index)):
        if index.has_duplicates:
            dups = index[index.duplicated()].unique()
            raise ValueError(
                f"{what} has duplicated patient IDs {_shown(dups)}; keep one row per patient"
            )
    if x_index.equals(y_index):
        return y
    x_str, y_str = x_index.astype(str), y_index.astype(str)
    only_x = x_index[~x_str.isin(y_str)]
    only_y = y_index[~y_str.isin(x_str)]
    if len(only_x) or len(only_y):
        parts = []
        if len(only_x):
            parts.append(f"IDs only in {name}: {_shown(only_x)}")
        if len(only_y):
            parts.append(f"IDs only in y: {_shown(only_y)}")
        example = (
            f"y = y.loc[{name}.index] (or {name} = {name}.loc[y.index])"
            if name.isidentifier()
            else f"y = y.loc[ids] with ids the patient IDs of {name}"
        )
        raise ValueError(
            f"{name} and y hold different patients: {'; '.join(parts)}. Select the same "
            f"patients in both, e.g. {example}"
        )
    position = pd.Index(y_str).get_indexer(x_str)
    if isinstance(y, pd.DataFrame | pd.Series):
        return y.iloc[position]
    return type(y)(v.iloc[position] if isinstance(v, pd.Series) else v for v in y)


def check_layer_sizes(value: Any, name: str = "hidden_layer_sizes") -> tuple[int, ...]:
    """Validate hidden layer sizes: an int or a sequence of positive ints (not a string).

    Examples
    --------
    >>> check_layer_sizes(64), check_layer_sizes([64, 32])
    ((64,), (64, 32))
    >>> check_layer_sizes("64")
    Traceback (most recent call last):
    ...
    ValueError: hidden_layer_sizes must be an int or a sequence of ints such as (64, 32), not the string '64' (a string would be read digit by digit)
    """
    if isinstance(value, str | bytes):
        raise ValueError(
            f"{name} must be an int or a sequence of ints such as (64, 32), not the string "
            f"{value!r} (a string would be read digit by digit)"
        )
    items = [value] if isinstance(value, int | np.integer) else value
    try:
        sizes = list(items)
    except TypeError:
        raise ValueError(
            f"{name} must be an int or a sequence of ints such as (64, 32), got {value!r}"
        ) from None
    bad = [
        h for h in sizes if isinstance(h, bool) or not isinstance(h, int | np.integer) or int(h) < 1
    ]
    if bad:
        raise ValueError(
            f"{name} must hold positive whole numbers (units per layer), got {value!r}"
        )
    return tuple(int(h) for h in sizes)


class Unlabeled:
    """Unlabeled patients that scikit-learn's cross-validation passes whole to every fit.

    scikit-learn's searches and ``cross_validate`` cut a fit parameter by the
    training fold's rows when it has as many rows as ``X``, and pass it whole
    otherwise, so a plain ``X_unlabeled=U`` would be treated differently depending
    on the cohort size. This wrapper has no length or shape, so scikit-learn never
    cuts it: every fold's fit (and the refit) receives all of the unlabeled
    patients, which are never validation patients. Every coxmt ``fit`` accepts it
    wherever it accepts unlabeled data, inside or outside cross-validation.

    Parameters
    ----------
    data : array-like, DataFrame, list of bags or out-of-core source
        The unlabeled patients, in any form the estimator's ``fit`` accepts.

    Examples
    --------
    >>> import numpy as np
    >>> U = Unlabeled(np.zeros((5, 3)))
    >>> U
    Unlabeled(ndarray of shape (5, 3))
    >>> unwrap_unlabeled(U).shape
    (5, 3)
    """

    data: Any

    def __init__(self, data: Any) -> None:
        if isinstance(data, Unlabeled):
            data = data.data
        if data is None:
            raise ValueError("Unlabeled(None): give the unlabeled patients, or pass None unwrapped")
        self.data = data

    def __repr__(self) -> str:
        shape = getattr(self.data, "shape", None)
        what = type(self.data).__name__
        if shape is None:
            return f"Unlabeled({what})"
        return f"Unlabeled({what} of shape {tuple(shape)})"


_SKLEARN_CV = "sklearn.model_selection"


def _module(frame: Any) -> str:
    return str(frame.f_globals.get("__name__", ""))


def unwrap_unlabeled(X_unlabeled: Any, estimator: Any = None, *, name: str = "X_unlabeled") -> Any:
    """The unlabeled data given to ``fit``, refusing data scikit-learn's cross-validation may cut.

    Call it first thing in every ``fit`` that takes unlabeled patients
    (``X_unlabeled = unwrap_unlabeled(X_unlabeled, self)``). It returns the data of
    an :class:`Unlabeled` wrapper, and ``X_unlabeled`` itself in every other case
    except one: when the caller of the estimator's ``fit`` is scikit-learn code
    running inside ``sklearn.model_selection`` (``GridSearchCV``,
    ``RandomizedSearchCV``, ``cross_validate``, ``cross_val_score``, ...) and the
    data is not wrapped. scikit-learn then cuts the data by the training fold when
    it has as many rows as ``X`` and passes it whole otherwise; the result would
    depend on the cohort size, so a ValueError names the two correct ways instead.
    Callers inside coxmt (nested searches, pipelines, the experiment runner) pass
    unlabeled data they prepared themselves and are trusted.

    Parameters
    ----------
    X_unlabeled : any
        The value ``fit`` received (None, data, or :class:`Unlabeled`).
    estimator : object, optional
        The estimator whose ``fit`` calls this (its own ``fit`` frames, e.g. a
        ``super().fit`` chain, are skipped when looking for the caller).
    name : str, default "X_unlabeled"
        The parameter's name, for the message.

    Returns
    -------
    The unlabeled data (None when none was given).

    Examples
    --------
    >>> import numpy as np
    >>> U = np.zeros((4, 2))
    >>> unwrap_unlabeled(U) is U and unwrap_unlabeled(Unlabeled(U)) is U
    True
    """
    if X_unlabeled is None:
        return None
    if isinstance(X_unlabeled, Unlabeled):
        return X_unlabeled.data
    frame = sys._getframe(1)
    while frame is not None and estimator is not None and frame.f_locals.get("self") is estimator:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or not _module(frame).startswith("sklearn."):
        return X_unlabeled
    caller = frame
    while frame is not None:
        if _module(frame).startswith(_SKLEARN_CV):
            what = type(estimator).__name__ if estimator is not None else "the estimator"
            raise ValueError(
                f"{name} reached {what}.fit through scikit-learn's cross-validation "
                f"({_module(caller)}), which cuts it by the training fold when it has as many "
                "rows as X and passes it whole otherwise. Wrap it so that every fold gets all "
                f"the unlabeled patients: fit(X, y, {name}=coxmt.model_selection.Unlabeled(U)), "
                "or tune with coxmt.model_selection.InnerCVSearch, the nested search made for "
                "unlabeled data"
            )
        frame = frame.f_back  # type: ignore[assignment]
    return X_unlabeled
