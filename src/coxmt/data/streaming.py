"""Unlabeled cohorts larger than memory: chunked sources streamed as shuffled mini-batches.

Cox-MT uses unlabeled patients only through the consistency loss, which is a
mean over rows, so it can be estimated on a different mini-batch of unlabeled
rows at every optimisation step while the Cox loss stays exact on the labeled
patients. :func:`open_unlabeled` wraps an unlabeled cohort stored in memory or on
disk — a numpy array or ``np.memmap``, a DataFrame, an HDF5 dataset, a zarr
array, a Parquet file or folder, an AnnData ``.h5ad`` file opened in backed
mode — as an :class:`UnlabeledSource`, and :meth:`ChunkedSource.iter_batches`
streams it:

- the rows are cut into chunks of ``chunk_rows`` consecutive rows; each pass
  visits the chunks in a random order;
- a background thread reads the next chunks (``prefetch``) while the model trains,
  applies the fitted preprocessing to each chunk and checks the values;
- ``buffer_chunks`` chunks at a time are pooled, their rows shuffled and dealt
  into mini-batches (rows left over join the next buffer);
- every random draw is made from the caller's ``numpy.random.Generator`` in the
  calling thread, so the batches depend only on the rows, ``chunk_rows`` and the
  generator: an in-memory array and a file holding the same rows give identical
  batches (and identical fitted models).

Memory stays bounded by about ``(buffer_chunks + prefetch + 3) * chunk_rows`` rows.

Columns are matched by name (gene alignment): sources that store feature names
(Parquet columns, AnnData ``var_names``, a ``feature_names`` dataset or attribute
in HDF5/zarr, DataFrame columns) are reordered to the requested names, and a
missing name is an error that lists it.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coxmt.data import _stream_formats as fmt
from coxmt.data._sources import (
    ArraySource,
    ChunkedSource,
    UnlabeledSource,
    default_chunk_rows,
)

__all__ = [
    "ArraySource",
    "ChunkedSource",
    "UnlabeledSource",
    "default_chunk_rows",
    "is_unlabeled_source",
    "open_unlabeled",
    "stream_batches",
]


def stream_batches(
    source: UnlabeledSource, batch_rows: int, rng: np.random.Generator
) -> Generator[np.ndarray, None, None]:
    """Endless shuffled mini-batches of ``source`` (a new shuffle every pass).

    Close the returned generator (``.close()``) to stop its prefetching thread early.

    Examples
    --------
    >>> import numpy as np
    >>> stream = stream_batches(open_unlabeled(np.zeros((10, 2))), 4, np.random.default_rng(0))
    >>> [len(next(stream)) for _ in range(4)]
    [4, 4, 2, 4]
    """
    if int(source.n_rows) == 0:
        return
    if isinstance(source, ChunkedSource):
        yield from source.iter_batches(batch_rows, rng, passes=None)
        return
    while True:
        yield from source.iter_batches(batch_rows, rng)


def is_unlabeled_source(obj: Any) -> bool:
    """Whether ``obj`` is streamed by :func:`open_unlabeled` rather than read as a table.

    True for :class:`UnlabeledSource` objects, ``np.memmap`` arrays, paths and
    the file-backed objects :func:`open_unlabeled` accepts (h5py datasets, zarr
    arrays, AnnData objects, pyarrow datasets).
    """
    if isinstance(obj, UnlabeledSource | np.memmap | str | os.PathLike):
        return True
    mod = type(obj).__module__.split(".")[0]
    return mod in ("h5py", "zarr", "anndata", "pyarrow")


def open_unlabeled(
    source: Any,
    feature_names: Sequence[str] | None = None,
    *,
    chunk_rows: int | None = None,
    key: str | None = None,
) -> ChunkedSource:
    """Open an unlabeled cohort for chunked, shuffled streaming.

    Parameters
    ----------
    source : array, DataFrame, path or file-backed array
        * a numpy array, ``np.memmap`` or DataFrame (an in-memory pool);
        * a path: ``.npy`` (memory-mapped), ``.h5``/``.hdf5`` (an HDF5 dataset,
          see ``key``), ``.h5ad`` (AnnData in backed ``'r'`` mode), ``.zarr``
          (zarr array or group), ``.parquet``/``.pq`` or a folder of Parquet files
          (a pyarrow dataset read by row groups);
        * an open ``h5py.Dataset``, ``zarr.Array``, ``anndata.AnnData`` or
          ``pyarrow.dataset.Dataset``;
        * a :class:`ChunkedSource` (returned as is, or with ``feature_names`` selected).
    feature_names : sequence of str, optional
        Features to read, by name and in this order (gene alignment). Sources that
        store names (Parquet columns, AnnData ``var_names``, a ``feature_names`` /
        ``var_names`` dataset or attribute in HDF5 and zarr, DataFrame columns) are
        reordered; names they lack raise a ValueError listing them. For sources
        without names, these name the stored columns (their number must match).
    chunk_rows : int, optional
        Rows per chunk (unit of reading, shuffling and prefetching); default about
        16 MB of float32 rows (:func:`default_chunk_rows`).
    key : str, optional
        Dataset inside an HDF5 file or zarr group (default ``"X"``, ``"features"``
        or the only 2-D dataset).

    Returns
    -------
    ChunkedSource

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame(np.arange(12.0).reshape(4, 3), columns=["TP53", "BRCA1", "MYC"])
    >>> src = open_unlabeled(frame, feature_names=["MYC", "TP53"], chunk_rows=2)
    >>> src.n_rows, src.feature_names, src.read_rows(0, 1).tolist()
    (4, ['MYC', 'TP53'], [[2.0, 0.0]])
    """
    if isinstance(source, ChunkedSource):
        out = source
        if chunk_rows is not None:
            out = copy.copy(out)
            out.chunk_rows = int(chunk_rows)
    elif isinstance(source, np.ndarray | pd.DataFrame):
        desc = "X_unlabeled (memory map)" if isinstance(source, np.memmap) else "X_unlabeled"
        out = ArraySource(source, chunk_rows=chunk_rows, description=desc)
    elif isinstance(source, str | os.PathLike):
        out = fmt.open_path(Path(source), chunk_rows=chunk_rows, key=key)
    else:
        opened = fmt.open_object(source, chunk_rows=chunk_rows, key=key)
        if opened is None:
            raise TypeError(
                f"cannot stream unlabeled rows from a {type(source).__name__}; pass an array, "
                "DataFrame, np.memmap, a .h5/.h5ad/.zarr/.parquet/.npy path, an h5py dataset, "
                "a zarr array, an AnnData object or a pyarrow dataset"
            )
        out = opened
    if feature_names is not None:
        names = [str(c) for c in feature_names]
        if out.feature_names != names:
            out = out.select(names)
    return out
