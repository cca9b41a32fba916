"""Unlabeled rows read in chunks: the source classes behind :mod:`coxmt.data.streaming`.

:class:`ChunkedSource` (a table read in row chunks, with optional column
selection, a transform and prefetching) and :class:`ArraySource` (an in-memory
array or ``np.memmap``); the file formats (:mod:`coxmt.data._stream_formats`)
derive from them. :mod:`coxmt.data.streaming` is the public home of these names.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from coxmt._validation import format_rows
from coxmt.data._prefetch import Prefetcher

__all__ = ["ArraySource", "ChunkedSource", "UnlabeledSource", "default_chunk_rows"]

_CHUNK_BYTES = 16 * 2**20
Transform = Callable[[Any], Any]


def default_chunk_rows(n_features: int) -> int:
    """Rows per chunk: about 16 MB of float32, a multiple of 256 between 256 and 65,536.

    Examples
    --------
    >>> default_chunk_rows(1000), default_chunk_rows(20000)
    (4096, 256)
    """
    rows = _CHUNK_BYTES // max(1, 4 * int(n_features))
    return int(min(65536, max(256, rows // 256 * 256)))


@runtime_checkable
class UnlabeledSource(Protocol):
    """What a semi-supervised estimator needs from an unlabeled cohort.

    Attributes ``n_rows``, ``n_features`` and ``feature_names`` (None when the
    columns have no names) describe the rows it yields; :meth:`iter_batches`
    yields float32 arrays of shape (rows, n_features).
    """

    @property
    def n_rows(self) -> int: ...

    @property
    def n_features(self) -> int: ...

    @property
    def feature_names(self) -> list[str] | None: ...

    def iter_batches(
        self, batch_rows: int, rng: np.random.Generator, transform: Transform | None = None
    ) -> Iterator[np.ndarray]: ...


class ChunkedSource:
    """Rows addressed by position, read in chunks; the base of every built-in source.

    Subclasses implement :meth:`_read` (rows ``start:stop`` of the selected
    columns, as a 2-D array in the stored dtype). Sources are cheap to copy:
    :meth:`select` and :meth:`with_transform` return new sources sharing the
    storage. File-backed sources reopen their file after pickling.

    Parameters
    ----------
    n_rows : int
        Rows in the source.
    source_names : sequence of str or None
        Names of all stored columns (None when the storage has none).
    n_columns : int
        Number of stored columns.
    chunk_rows : int, optional
        Rows per chunk (default :func:`default_chunk_rows` of the selected columns).
    description : str
        Used in error messages (e.g. the file name).
    """

    def __init__(
        self,
        n_rows: int,
        source_names: Sequence[str] | None,
        n_columns: int,
        *,
        chunk_rows: int | None = None,
        description: str = "X_unlabeled",
    ) -> None:
        self._n_rows = int(n_rows)
        self._source_names = None if source_names is None else [str(c) for c in source_names]
        self._n_columns = int(n_columns)
        self._columns: np.ndarray | None = None  # selected stored columns (None = all)
        self._names: list[str] | None = self._source_names
        self._transforms: list[Transform] = []
        self._out_names: list[str] | None = self._names
        self._out_features: int | None = None
        if chunk_rows is not None and int(chunk_rows) < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.chunk_rows = None if chunk_rows is None else int(chunk_rows)
        self.description = description

    # -- storage ------------------------------------------------------------------------
    def _read(self, start: int, stop: int, columns: np.ndarray | None) -> np.ndarray:
        """Rows ``start:stop`` of the stored ``columns`` (all when None), stored dtype."""
        raise NotImplementedError

    # -- description -------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return self._n_rows

    @property
    def n_columns_read(self) -> int:
        """Columns read from storage per row (after selection, before any transform)."""
        return self._n_columns if self._columns is None else len(self._columns)

    @property
    def n_features(self) -> int:
        """Columns of the yielded batches (after selection and transforms)."""
        if not self._transforms:
            return self.n_columns_read
        if self._out_features is None:
            self._probe()
        assert self._out_features is not None
        return self._out_features

    @property
    def feature_names(self) -> list[str] | None:
        """Names of the yielded columns, or None when unknown."""
        if self._transforms and self._out_features is None:
            self._probe()
        return None if self._out_names is None else list(self._out_names)

    def _probe(self) -> None:
        """Run the transforms on one row to learn the output width and names."""
        if self._n_rows == 0:
            raise ValueError(f"{self.description} has no rows")
        _, names, width = self._transformed(self._read(0, 1, self._columns), 0)
        self._out_names, self._out_features = names, width

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.description}, n_rows={self.n_rows}, "
            f"n_features={self.n_columns_read})"
        )

    def _chunk_rows(self) -> int:
        return self.chunk_rows or default_chunk_rows(self.n_columns_read)

    # -- derived sources ---------------------------------------------------------------
    def select(self, feature_names: Sequence[str]) -> ChunkedSource:
        """A source yielding the named columns in this order (gene alignment by name).

        Raises a ValueError listing the names the source lacks. For sources
        without stored names, ``feature_names`` names the columns in their stored
        order (their number must match).
        """
        names = [str(c) for c in feature_names]
        if self._transforms:
            raise ValueError("select columns before adding transforms (with_transform)")
        out = copy.copy(self)
        if self._source_names is None:
            if len(names) != self.n_columns_read:
                raise ValueError(
                    f"{self.description} has {self.n_columns_read} unnamed columns but "
                    f"{len(names)} feature names were given; store the gene names with the "
                    "data (or pass as many names as columns)"
                )
            out._source_names = out._names = out._out_names = names
            return out
        position: dict[str, int] = {}
        dupes: set[str] = set()
        for j, c in enumerate(self._source_names):
            if c in position:
                dupes.add(c)
            position[c] = j
        missing = [c for c in names if c not in position]
        if missing:
            shown = ", ".join(missing[:20])
            more = f" ... ({len(missing)} in all)" if len(missing) > 20 else ""
            raise ValueError(
                f"{self.description} is missing {len(missing)} feature(s) the model needs: "
                f"{shown}{more}; add these genes to the unlabeled data (matched by name)"
            )
        clash = sorted(dupes.intersection(names))
        if clash:
            raise ValueError(
                f"{self.description} has duplicated feature names {clash[:10]}; make the "
                "column names unique"
            )
        out._columns = np.asarray([position[c] for c in names], dtype=np.int64)
        out._names = out._out_names = names
        return out

    def with_transform(self, transform: Transform) -> ChunkedSource:
        """A source applying ``transform`` to every chunk (e.g. fitted preprocessing).

        ``transform`` receives a DataFrame with the feature names as columns when
        they are known (as scikit-learn transformers fitted on DataFrames expect),
        else a 2-D array, and returns an array or DataFrame with the same rows.
        """
        out = copy.copy(self)
        out._transforms = [*self._transforms, transform]
        out._out_names, out._out_features = None, None
        return out

    # -- reading -----------------------------------------------------------------------
    def _transformed(
        self, arr: np.ndarray, start: int, extra: Transform | None = None
    ) -> tuple[np.ndarray, list[str] | None, int]:
        names = self._names
        steps = [*self._transforms, *([extra] if extra is not None else [])]
        data: Any = arr
        for fn in steps:
            if names is not None and not isinstance(data, pd.DataFrame):
                data = pd.DataFrame(
                    data, columns=names, index=pd.RangeIndex(start, start + len(data))
                )
            data = fn(data)
            if isinstance(data, pd.DataFrame):
                names = [str(c) for c in data.columns]
                data = data.to_numpy()
            else:
                names = None
                data = np.asarray(data)
        if data.ndim != 2 or data.shape[0] != arr.shape[0]:
            raise ValueError(
                f"the transform of {self.description} returned shape {np.shape(data)} for "
                f"{arr.shape[0]} rows; it must keep one row per input row"
            )
        return data, names, int(data.shape[1])

    def _finish(self, arr: np.ndarray, start: int, extra: Transform | None) -> np.ndarray:
        if arr.dtype.kind not in "fc" or arr.dtype == np.float16:
            arr = arr.astype(np.float64)
        if self._transforms or extra is not None:
            arr = self._transformed(arr, start, extra)[0]
        out = np.ascontiguousarray(arr, dtype=np.float32)
        finite = np.isfinite(out)
        if not finite.all():
            bad = np.flatnonzero(~finite.all(axis=1)) + start
            raise ValueError(
                f"{self.description} has missing or infinite values in rows {format_rows(bad)}; "
                "impute them (e.g. with the training medians) before training"
            )
        return out

    def read_rows(self, start: int, stop: int, transform: Transform | None = None) -> np.ndarray:
        """Rows ``start:stop`` as float32 (selected columns, transforms applied)."""
        start, stop = max(0, int(start)), min(self._n_rows, int(stop))
        if stop <= start:
            return np.zeros((0, self.n_features if transform is None else 0), np.float32)
        return self._finish(self._read(start, stop, self._columns), start, transform)

    def to_numpy(self, transform: Transform | None = None) -> np.ndarray:
        """All rows in storage order as one float32 array (loads the source into memory)."""
        step = self._chunk_rows()
        parts = [self.read_rows(s, s + step, transform) for s in range(0, self._n_rows, step)]
        if not parts:
            return np.zeros((0, self.n_features), np.float32)
        return np.concatenate(parts)

    def iter_batches(
        self,
        batch_rows: int,
        rng: np.random.Generator,
        transform: Transform | None = None,
        *,
        buffer_chunks: int = 4,
        prefetch: int = 2,
        passes: int | None = 1,
    ) -> Iterator[np.ndarray]:
        """Yield shuffled float32 mini-batches of ``batch_rows`` rows.

        Parameters
        ----------
        batch_rows : int
            Rows per batch; the last batch of a pass may be smaller.
        rng : numpy.random.Generator
            Source of every random draw (chunk order, row shuffles); the same
            generator state gives the same batches.
        transform : callable, optional
            Applied to each chunk after the source's own transforms.
        buffer_chunks : int, default 4
            Chunks whose rows are shuffled together.
        prefetch : int, default 2
            Chunks read ahead by a background thread (0 reads in this thread).
        passes : int or None, default 1
            Passes over the rows; None streams forever (each pass reshuffles).

        Yields
        ------
        numpy.ndarray of shape (rows, n_features), float32

        Examples
        --------
        >>> import numpy as np
        >>> from coxmt.data.streaming import open_unlabeled
        >>> src = open_unlabeled(np.arange(20.0).reshape(10, 2), chunk_rows=4)
        >>> batches = list(src.iter_batches(3, np.random.default_rng(0)))
        >>> [len(b) for b in batches], sorted(np.concatenate(batches)[:, 0].tolist())[:3]
        ([3, 3, 3, 1], [0.0, 2.0, 4.0])
        """
        batch_rows = int(batch_rows)
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
        if int(buffer_chunks) < 1:
            raise ValueError(f"buffer_chunks must be >= 1, got {buffer_chunks}")
        if passes is not None and int(passes) < 0:
            raise ValueError(f"passes must be None or >= 0, got {passes}")
        if self._n_rows == 0:
            return
        step = self._chunk_rows()
        n_chunks = math.ceil(self._n_rows / step)
        cols = self._columns

        def load(i: int) -> np.ndarray:
            start = i * step
            return self._finish(
                self._read(start, min(self._n_rows, start + step), cols), start, transform
            )

        done = 0
        while passes is None or done < int(passes):
            order = rng.permutation(n_chunks)
            reader = Prefetcher(load, order.tolist(), int(prefetch))
            leftover: np.ndarray | None = None
            try:
                for g in range(0, n_chunks, int(buffer_chunks)):
                    group = order[g : g + int(buffer_chunks)]
                    buf = self._fill(reader, group, step, leftover)
                    leftover = None
                    perm = rng.permutation(len(buf))
                    n_full = len(buf) // batch_rows
                    for b in range(n_full):
                        yield buf[perm[b * batch_rows : (b + 1) * batch_rows]]
                    leftover = buf[perm[n_full * batch_rows :]]
                    del buf  # hold at most one buffer of rows
            finally:
                reader.close()
            if leftover is not None and len(leftover):
                yield leftover
            done += 1

    def _fill(
        self, reader: Prefetcher, group: np.ndarray, step: int, leftover: np.ndarray | None
    ) -> np.ndarray:
        """The leftover rows followed by the chunks of ``group``, in one new array."""
        sizes = [min(self._n_rows, (int(i) + 1) * step) - int(i) * step for i in group]
        n_left = 0 if leftover is None else len(leftover)
        first = reader.next()
        buf = np.empty((n_left + sum(sizes), first.shape[1]), dtype=np.float32)
        if leftover is not None and n_left:
            buf[:n_left] = leftover
        pos = n_left
        buf[pos : pos + len(first)] = first
        pos += len(first)
        del first
        for _ in range(len(group) - 1):
            chunk = reader.next()
            buf[pos : pos + len(chunk)] = chunk
            pos += len(chunk)
            del chunk
        return buf

    def close(self) -> None:
        """Release open file handles (they are reopened when needed)."""

    def __enter__(self) -> ChunkedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ArraySource(ChunkedSource):
    """An in-memory pool (numpy array, ``np.memmap`` or DataFrame) as a chunked source.

    ``np.memmap`` and ``np.load(..., mmap_mode="r")`` arrays are read chunk by chunk,
    so only the pages in use are loaded (the operating system may keep read pages
    cached and count them in the process's resident memory).

    Examples
    --------
    >>> import numpy as np
    >>> src = ArraySource(np.ones((5, 3)), feature_names=["a", "b", "c"])
    >>> src.select(["c", "a"]).read_rows(0, 2).shape
    (2, 2)
    """

    def __init__(
        self,
        data: Any,
        feature_names: Sequence[str] | None = None,
        *,
        chunk_rows: int | None = None,
        description: str = "X_unlabeled",
    ) -> None:
        names = feature_names
        if isinstance(data, pd.DataFrame):
            names = [str(c) for c in data.columns] if names is None else names
            data = data.to_numpy()
        arr = data if isinstance(data, np.ndarray) else np.asarray(data)
        if arr.ndim != 2:
            raise ValueError(f"{description} must be 2-D (rows x features), got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise ValueError(
                f"{description} must hold numbers, got dtype {arr.dtype}; select the feature "
                "columns (drop IDs and text)"
            )
        if names is not None and len(names) != arr.shape[1]:
            raise ValueError(
                f"{description} has {arr.shape[1]} columns but {len(names)} feature names"
            )
        super().__init__(
            arr.shape[0], names, arr.shape[1], chunk_rows=chunk_rows, description=description
        )
        self._array = arr

    def _read(self, start: int, stop: int, columns: np.ndarray | None) -> np.ndarray:
        block = self._array[start:stop]
        return np.array(block if columns is None else block[:, columns])
