"""Scoring large tables with a saved model in bounded memory.

:func:`predict_table` reads a CSV/TSV/Parquet table in chunks of rows, aligns its
columns to the model's features by name, scores each chunk and appends it to the
output, so memory does not grow with the number of patients. The output appears
only when complete (temporary file + atomic rename).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coxmt._atomic import atomic_path
from coxmt._validation import format_rows
from coxmt.data._readers import iter_table_chunks, read_columns
from coxmt.data._tables import _missing_column_error, missing_features_error
from coxmt.io import load_model

__all__ = ["auto_chunk_rows", "check_times", "iter_table_chunks", "predict_table"]

_CELLS_PER_CHUNK = 4_000_000  # ~32 MB per float64 copy of a chunk


def auto_chunk_rows(n_columns: int) -> int:
    """Rows per chunk so that a chunk holds about four million values.

    Examples
    --------
    >>> auto_chunk_rows(1000), auto_chunk_rows(10)
    (4000, 100000)
    """
    return int(min(100_000, max(256, _CELLS_PER_CHUNK // max(1, int(n_columns)))))


def _has_imputer(model: Any) -> bool:
    steps = getattr(model, "steps", [])[:-1]
    return any(type(step).__name__ == "SimpleImputer" for _, step in steps)


def _check_values(X: pd.DataFrame, offset: int, ids: Any, allow_nan: bool, path: Path) -> None:
    """Refuse NaN (unless imputed) and infinite values, naming data rows and columns."""
    values = X.to_numpy(dtype=np.float64, copy=False) if len(X.columns) else np.zeros((len(X), 0))
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    inf = np.isinf(values)
    if not inf.any() and allow_nan:
        return
    kind, mask = ("infinite", inf) if inf.any() else ("missing (NaN)", bad)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = [str(X.columns[j]) for j in np.flatnonzero(mask.any(axis=0))]
    where = f"data rows {format_rows(rows + offset)}"
    if ids is not None:
        where += f" (IDs {[str(ids[i]) for i in rows[:10]]})"
    fix = (
        "replace them with NaN (the model imputes NaN) or drop those rows"
        if kind == "infinite"
        else "this model has no imputation step: fill them, drop those rows, or re-fit the "
        "model with imputation (`coxmt fit --impute median`)"
    )
    raise ValueError(
        f"{str(path)!r} has {kind} values in {len(cols)} feature column(s) "
        f"{cols[:10]}{' ...' if len(cols) > 10 else ''} at {where}; {fix}"
    )


def check_times(times: Sequence[float], est: Any) -> None:
    """Refuse negative or non-finite times; warn about times past the last training death.

    Parameters
    ----------
    times : sequence of float
        Times at which survival probabilities are asked for.
    est : estimator
        The fitted model (its ``unique_times_`` are the training event times).

    Raises
    ------
    ValueError
        If a time is negative or not finite, or the model gives no survival function.

    Warns
    -----
    UserWarning
        For times past the last training death (survival is held flat there).

    Examples
    --------
    >>> from coxmt import CoxNnet
    >>> check_times([12.0, 36.0], CoxNnet())  # unfitted: nothing to compare with
    """
    t = np.asarray(list(times), dtype=np.float64).reshape(-1)
    if not np.isfinite(t).all() or (t < 0).any():
        bad = [f"{v:g}" for v in t if not (np.isfinite(v) and v >= 0)]
        raise ValueError(
            f"times must be finite and >= 0 (follow-up time since baseline); got {', '.join(bad)}"
        )
    if not hasattr(est, "predict_survival_function"):
        raise ValueError(f"{type(est).__name__} gives no survival function; omit times")
    last = getattr(est, "unique_times_", None)
    if last is None or not np.size(last):
        return
    t_last = float(np.max(last))
    late = [f"{v:g}" for v in t if v > t_last]
    if late:
        warnings.warn(
            f"time(s) {', '.join(late)} past the last death in the training data "
            f"(time {t_last:g}): the model has no information there and their survival is "
            f"held at its value at {t_last:g}; report times within the training follow-up",
            UserWarning,
            stacklevel=3,
        )


def predict_table(
    model_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    id_col: str | None = None,
    times: Sequence[float] | None = None,
    fill_missing: float | None = None,
    chunk_rows: int | None = None,
    sep: str | None = None,
    log: Callable[[str], Any] | None = None,
) -> int:
    """Score a table with a saved model, chunk by chunk, and write a CSV atomically.

    Parameters
    ----------
    model_dir : path
        A model saved with :func:`coxmt.io.save_model` (or ``coxmt fit``).
    data : path
        CSV/TSV (optionally compressed) or Parquet table of patients. Features are
        aligned to the model's by name: their order does not matter, extra columns
        are ignored (with a note) and are not even read.
    out : path
        Output CSV with columns ``id_col`` (when given, under its own name), ``risk``
        and ``survival_t<time>`` for each of ``times``; it appears only when complete.
    id_col : str, optional
        Column copied to the output (first, under the same name).
    times : sequence of float, optional
        Times (>= 0) at which to add survival probabilities; times past the last
        death of the training data are warned about (survival is flat there).
    fill_missing : float, optional
        Value for features the model needs but the table lacks (error when None).
    chunk_rows : int, optional
        Rows held in memory at once; default :func:`auto_chunk_rows` of the number
        of model features (about four million values per chunk).
    sep : str, optional
        Delimiter of text tables (detected when None).
    log : callable, optional
        Receives notes (e.g. extra columns ignored, features filled).

    Returns
    -------
    int
        Number of patients scored.

    Raises
    ------
    ValueError
        Negative times, missing features (listed), NaN values when the model has no imputation step,
        infinite values, an unreadable or empty table, a damaged model directory.

    Examples
    --------
    >>> import tempfile, os, numpy as np, pandas as pd
    >>> from coxmt import CoxNnet
    >>> from coxmt.io import save_model
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    >>> d = tempfile.mkdtemp()
    >>> m = CoxNnet(max_epochs=3, random_state=0).fit(X, (rng.random(40) < .6, rng.random(40)))
    >>> _ = save_model(m, os.path.join(d, "model"))
    >>> X[["c", "a", "b"]].to_csv(os.path.join(d, "new.csv"), index=False)
    >>> predict_table(os.path.join(d, "model"), os.path.join(d, "new.csv"),
    ...               os.path.join(d, "risk.csv"), chunk_rows=16)
    40
    """
    model = load_model(model_dir)
    data = Path(data)
    raw_names = getattr(model, "feature_names_in_", None)
    names = None if raw_names is None else [str(n) for n in raw_names]
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    if times is not None:
        check_times(times, est)
    allow_nan = _has_imputer(model)

    columns, _ = read_columns(data, sep)
    if id_col is not None and id_col not in columns:
        raise _missing_column_error("id", id_col, columns, "id_col")
    read: list[str] | None = None
    missing: list[str] = []
    if names is not None:
        present = set(columns)
        missing = [c for c in names if c not in present]
        if missing and len(columns) == 1:
            raise ValueError(
                f"{str(data)!r} was read as a single column named {columns[0][:80]!r}: its "
                "delimiter was not recognised (coxmt detects comma, tab, semicolon, pipe and "
                "whitespace). Save the table as CSV or TSV"
            )
        if missing and fill_missing is None:
            raise missing_features_error(
                repr(str(data)),
                missing,
                "Provide these columns, or fill them with a constant "
                "(`coxmt predict --fill-missing 0`; fill_missing=0 from Python)",
            )
        extra = [c for c in columns if c not in set(names) and c != id_col]
        if extra and log is not None:
            shown = ", ".join(extra[:10]) + (" ..." if len(extra) > 10 else "")
            log(f"note: {len(extra)} column(s) not used by the model were ignored: {shown}")
        if missing and log is not None:
            log(
                f"note: {len(missing)} feature(s) missing from the table were filled with "
                f"{fill_missing:g}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}"
            )
        read = [c for c in columns if c in set(names) or c == id_col]
    n_cols = len(names) if names is not None else len(columns)
    rows_per_chunk = auto_chunk_rows(n_cols) if chunk_rows is None else int(chunk_rows)
    t_grid = None if not times else np.asarray(times, dtype=np.float64)
    id_name = "id" if id_col is None else str(id_col)

    n_total = 0
    with atomic_path(out) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for i, chunk in enumerate(iter_table_chunks(data, rows_per_chunk, sep, read)):
                chunk.columns = [str(c) for c in chunk.columns]
                ids = None if id_col is None else chunk[id_col].to_numpy()
                if names is not None:
                    for c in missing:
                        chunk[c] = fill_missing
                    X = chunk.loc[:, names]
                else:
                    X = chunk.drop(columns=[id_col]) if id_col is not None else chunk
                _check_values(X, n_total, ids, allow_nan, data)
                risk = np.asarray(model.predict(X), dtype=np.float64).reshape(-1)
                res = pd.DataFrame({"risk": risk})
                if ids is not None:
                    res.insert(0, id_name, ids)
                if t_grid is not None:
                    surv = np.asarray(model.predict_survival_function(X, t_grid))
                    for j, t in enumerate(t_grid):
                        res[f"survival_t{t:g}"] = surv[:, j]
                res.to_csv(fh, header=(i == 0), index=False)
                n_total += len(res)
                del chunk, X, res
        if n_total == 0:
            raise ValueError(f"{str(data)!r} has a header but no rows to score")
    return n_total
