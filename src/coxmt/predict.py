"""Scoring large tables with a saved model in bounded memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["iter_table_chunks", "predict_table"]


def _model_feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def iter_table_chunks(path: str | Path, chunk_rows: int, sep: str | None = None) -> Iterator[pd.DataFrame]:
    """Yield a table in chunks of at most ``chunk_rows`` rows (CSV/TSV/Parquet, compressed too)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ImportError(
                "reading Parquet needs pyarrow: pip install 'coxmt[parquet]'"
            ) from None
        pf = pq.ParquetFile(path)
        for batch in pf.iter_batches(batch_size=chunk_rows):
            yield batch.to_pandas()
        return
    if ".h5ad" in suffixes:
        raise ValueError(
            f"streaming prediction reads CSV/TSV/Parquet; convert {path.name} to one of them "
            "(e.g. adata.to_df().to_csv(...)) or score it from Python with model.predict"
        )
    if sep is None:
        sep = "\t" if ".tsv" in suffixes or ".txt" in suffixes else ","
    try:
        reader = pd.read_csv(path, sep=sep, chunksize=chunk_rows)
        yield from reader
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty; pass a table with a header row") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"could not read {path} ({exc}); check the file and its compression") from None


def predict_table(
    model_dir: str | Path,
    data: str | Path,
    out: str | Path,
    *,
    id_col: str | None = None,
    times: Sequence[float] | None = None,
    fill_missing: float | None = None,
    chunk_rows: int = 100_000,
    log: Callable[[str], Any] | None = None,
) -> int:
    """Score a table with a saved model, chunk by chunk, and write a CSV atomically.

    Parameters
    ----------
    model_dir : path
        A model saved with :func:`coxmt.io.save_model` (or ``coxmt fit``).
    data : path
        CSV/TSV/Parquet table of patients; features aligned by name.
    out : path
        Output CSV with columns ``id`` (when ``id_col`` is given), ``risk`` and
        ``survival_t<time>`` for each of ``times``.
    id_col : str, optional
    times : sequence of float, optional
    fill_missing : float, optional
        Value for features the model needs but the table lacks (error when None).
    chunk_rows : int, default 100000
        Rows held in memory at once.
    log : callable, optional
        Receives notes (e.g. extra columns ignored).

    Returns
    -------
    int
        Number of patients scored.
    """
    from coxmt.estimators._base import align_features
    from coxmt.io import load_model

    model = load_model(model_dir)
    names = _model_feature_names(model)
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    n_total = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            for i, chunk in enumerate(iter_table_chunks(data, chunk_rows)):
                if id_col is not None and id_col not in chunk.columns:
                    raise ValueError(
                        f"id column {id_col!r} not found; columns are {list(chunk.columns)[:20]}"
                    )
                if i == 0 and names is not None and log is not None:
                    extra = [c for c in chunk.columns if str(c) not in set(names) and c != id_col]
                    if extra:
                        log(f"note: {len(extra)} column(s) not used by the model were ignored")
                X = align_features(chunk, names, name="data", fill_missing=fill_missing)
                risk = model.predict(X)
                res = pd.DataFrame({"risk": risk})
                if id_col is not None:
                    res.insert(0, "id", chunk[id_col].to_numpy())
                if times:
                    surv = est.baseline_.survival(risk, np.asarray(times, dtype=float))
                    for j, t in enumerate(times):
                        res[f"survival_t{t:g}"] = surv[:, j]
                res.to_csv(fh, header=(i == 0), index=False)
                n_total += len(res)
            fh.flush()
            os.fsync(fh.fileno())
        if n_total == 0:
            raise ValueError(f"{data} has no rows to score")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n_total
