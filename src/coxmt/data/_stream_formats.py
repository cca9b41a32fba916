"""File-backed :class:`~coxmt.data.streaming.ChunkedSource` implementations.

HDF5 (h5py), zarr, Parquet (pyarrow, by row groups), AnnData in backed mode and
memory-mapped ``.npy`` files. Every source reopens its file lazily, so it can be
pickled (sent to a worker process) and used from the prefetching thread.
"""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import numpy as np

from coxmt._optional import require
from coxmt.data._sources import ArraySource, ChunkedSource

__all__ = [
    "AnnDataSource",
    "HDF5Source",
    "ParquetSource",
    "ZarrSource",
    "open_object",
    "open_path",
]

_NAME_KEYS = ("feature_names", "var_names", "gene_names", "genes", "columns")
_DATA_KEYS = ("X", "features", "data", "expression")


def _as_names(values: Any) -> list[str]:
    out = []
    for v in np.asarray(values).ravel():
        out.append(v.decode("utf-8") if isinstance(v, bytes) else str(v))
    return out


def _select_columns(block: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
    return block if columns is None else block[:, columns]


# ----------------------------------------------------------------------------- HDF5
class HDF5Source(ChunkedSource):
    """A 2-D dataset of an HDF5 file (h5py), read by row ranges.

    Feature names come from a ``feature_names`` (or ``var_names``, ``genes``, ...)
    attribute of the dataset or a 1-D dataset of that name beside it.
    """

    def __init__(
        self,
        path: str | Path,
        key: str | None = None,
        *,
        chunk_rows: int | None = None,
        file: Any = None,
    ) -> None:
        h5py = require("h5py", purpose="reading HDF5 files", extra="wsi")
        self.path = Path(path)
        fh = h5py.File(self.path, "r") if file is None else file
        try:
            key = key or _pick_dataset(fh, self.path)
            if key not in fh or not isinstance(fh[key], h5py.Dataset):
                raise ValueError(f"{str(self.path)!r} has no dataset {key!r}; pass key=")
            ds = fh[key]
            if ds.ndim != 2:
                raise ValueError(
                    f"dataset {key!r} of {str(self.path)!r} has shape {ds.shape}; expected "
                    "(rows, features)"
                )
            names = _h5_names(fh, ds)
            shape = ds.shape
        finally:
            if file is None:
                fh.close()
        self.key = key
        super().__init__(shape[0], names, shape[1], chunk_rows=chunk_rows,
                         description=f"{self.path.name}[{key}]")  # fmt: skip
        self._handle: Any = file  # a file opened by the caller is used, never closed
        self._owned = file is None

    def _dataset(self) -> Any:
        if self._handle is None:
            h5py = require("h5py", purpose="reading HDF5 files", extra="wsi")

            self._handle = h5py.File(self.path, "r")
            self._owned = True
        return self._handle[self.key]

    def _read(self, start: int, stop: int, columns: np.ndarray | None) -> np.ndarray:
        return _select_columns(self._dataset()[start:stop], columns)

    def close(self) -> None:
        if self._handle is not None and self._owned:
            self._handle.close()
        if self._owned:
            self._handle = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None, "_owned": True}


def _pick_dataset(fh: Any, path: Path) -> str:
    h5py = require("h5py", purpose="reading HDF5 files", extra="wsi")

    for k in _DATA_KEYS:
        if k in fh and isinstance(fh[k], h5py.Dataset) and fh[k].ndim == 2:
            return k
    found: list[str] = []
    fh.visititems(
        lambda name, obj: (
            found.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim == 2 else None
        )
    )
    if len(found) != 1:
        raise ValueError(
            f"{str(path)!r} holds {len(found)} 2-D datasets ({found[:10]}); pass key= to "
            "choose the one with the unlabeled rows"
        )
    return found[0]


def _h5_names(fh: Any, ds: Any) -> list[str] | None:
    for k in _NAME_KEYS:
        if k in ds.attrs:
            return _as_names(ds.attrs[k])
    parent = ds.parent
    for k in _NAME_KEYS:
        if k in parent and getattr(parent[k], "ndim", 0) == 1:
            return _as_names(parent[k][()])
    return None


# ----------------------------------------------------------------------------- zarr
class ZarrSource(ChunkedSource):
    """A 2-D zarr array (or the ``key`` array of a zarr group), read by row ranges."""

    def __init__(
        self, store: Any, key: str | None = None, *, chunk_rows: int | None = None
    ) -> None:
        zarr = require("zarr", purpose="reading zarr stores", extra="zarr")
        self.store = store
        node = zarr.open(store, mode="r") if isinstance(store, str | Path) else store
        names = None
        if isinstance(node, zarr.Group):
            group = node
            if key is None:
                key = next(
                    (k for k in _DATA_KEYS if k in group and isinstance(group[k], zarr.Array)), None
                )
            if key is None or key not in group or not isinstance(group[key], zarr.Array):
                raise ValueError(
                    f"zarr group {str(store)!r} has no array {key or 'X'!r}; pass key= (a sparse "
                    "AnnData X is not supported: write it dense or use a backed .h5ad)"
                )
            arr = group[key]
            names = _zarr_names(group, arr)
        else:
            arr, group = node, None
            names = _zarr_names(None, arr)
        if arr.ndim != 2:
            raise ValueError(
                f"zarr array {str(store)!r} has shape {arr.shape}; expected (rows, features)"
            )
        self.key = key
        desc = Path(str(store)).name if isinstance(store, str | Path) else "zarr array"
        super().__init__(arr.shape[0], names, arr.shape[1], chunk_rows=chunk_rows,
                         description=desc + (f"[{key}]" if key else ""))  # fmt: skip
        self._array: Any = arr

    def _read(self, start: int, stop: int, columns: np.ndarray | None) -> np.ndarray:
        if self._array is None:
            zarr = require("zarr", purpose="reading zarr stores", extra="zarr")

            node: Any = zarr.open(self.store, mode="r")
            self._array = node[self.key] if self.key else node
        return _select_columns(np.asarray(self._array[start:stop]), columns)

    def __getstate__(self) -> dict[str, Any]:
        if not isinstance(self.store, str | Path):
            return self.__dict__
        return {**self.__dict__, "_array": None}


def _zarr_names(group: Any, arr: Any) -> list[str] | None:
    for k in _NAME_KEYS:
        if k in arr.attrs:
            return _as_names(arr.attrs[k])
    if group is None:
        return None
    for k in _NAME_KEYS:
        if k in group.attrs:
            return _as_names(group.attrs[k])
        if k in group and getattr(group[k], "ndim", 0) == 1:
            return _as_names(group[k][:])
    if "var" in group and "_index" in group["var"]:  # AnnData zarr layout
        return _as_names(group["var"]["_index"][:])
    return None


# ----------------------------------------------------------------------------- Parquet
class ParquetSource(ChunkedSource):
    """A Parquet file or folder of files (pyarrow dataset), read by row groups.

    The numeric columns are the features (ID or text columns and pandas index
    columns are left out); only the selected columns are decoded. pyarrow keeps
    each file's footer in memory, about 1 KB per row group and column (230 MB for
    1,000,000 x 1,000 in row groups of 4,096 rows): write wide tables with large
    row groups (e.g. 65,536 rows), or use HDF5 or zarr.
    """

    def __init__(self, data: Any, *, chunk_rows: int | None = None) -> None:
        pads = require("pyarrow.dataset", purpose="reading Parquet files", extra="parquet")

        self.data = data
        dataset = (
            pads.dataset(str(data), format="parquet") if isinstance(data, str | Path) else data
        )
        schema = dataset.schema
        index_cols = set()
        meta = schema.pandas_metadata or {}
        for c in meta.get("index_columns", []):
            if isinstance(c, str):
                index_cols.add(c)
        names = [f.name for f in schema if f.name not in index_cols and _numeric(f.type)]
        if not names:
            raise ValueError(f"Parquet data {str(data)!r} has no numeric feature columns")
        self._groups: list[tuple[str, int]] = []
        starts = [0]
        for frag in dataset.get_fragments():
            md = frag.metadata
            for i in range(md.num_row_groups):
                self._groups.append((frag.path, i))
                starts.append(starts[-1] + md.row_group(i).num_rows)
        self._starts = starts
        self._filesystem = dataset.filesystem
        desc = Path(str(data)).name if isinstance(data, str | Path) else "Parquet dataset"
        super().__init__(starts[-1], names, len(names), chunk_rows=chunk_rows, description=desc)
        self._files: dict[str, Any] = {}
        self._cache: tuple[int, tuple[str, ...], np.ndarray] | None = None

    def _row_group(self, g: int, cols: list[str]) -> np.ndarray:
        if self._cache is not None and self._cache[0] == g and self._cache[1] == tuple(cols):
            return self._cache[2]
        pq = require("pyarrow.parquet", purpose="reading Parquet files", extra="parquet")

        path, i = self._groups[g]
        fh = self._files.get(path)
        if fh is None:
            fh = self._files[path] = pq.ParquetFile(self._filesystem.open_input_file(path))
        table = fh.read_row_group(i, columns=cols, use_threads=True)
        arrays = [c.to_numpy() for c in table.columns]
        dtype = np.result_type(*[a.dtype for a in arrays]) if arrays else np.dtype(np.float64)
        if dtype.kind not in "f":
            dtype = np.dtype(np.float64)
        out = np.empty((table.num_rows, len(arrays)), dtype=dtype, order="F")  # column writes
        for j, a in enumerate(arrays):
            out[:, j] = a
        self._cache = (g, tuple(cols), out)
        return out

    def _read(self, start: int, stop: int, columns: np.ndarray | None) -> np.ndarray:
        assert self._source_names is not None
        cols = self._source_names if columns is None else [self._source_names[j] for j in columns]
        g = bisect.bisect_right(self._starts, start) - 1
        parts = []
        while start < stop:
            g0 = self._starts[g]
            block = self._row_group(g, cols)
            take = block[start - g0 : min(stop, self._starts[g + 1]) - g0]
            parts.append(take)
            start += len(take)
            g += 1
        return parts[0].copy(order="C") if len(parts) == 1 else np.concatenate(parts)

    def close(self) -> None:
        self._files.clear()
        self._cache = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_files": {}, "_cache": None}


def _numeric(t: Any) -> bool:
    pat = require("pyarrow.types", purpose="reading Parquet files", extra="parquet")

    return bool(pat.is_floating(t) or pat.is_integer(t) or pat.is_boolean(t))


# ----------------------------------------------------------------------------- AnnData
class AnnDataSource(ChunkedSource):
    """An AnnData object or ``.h5ad`` file (opened in backed ``'r'`` mode); dense or sparse X."""

    def __init__(self, data: Any, *, chunk_rows: int | None = None) -> None:
        anndata = require("anndata", purpose="reading h5ad files", extra="h5ad")
        if isinstance(data, str | Path):
            self.path: Path | None = Path(data)
            adata = anndata.read_h5ad(self.path, backed="r")
        else:
            adata = data
            self.path = Path(adata.filename) if adata.isbacked else None
        names = [str(c) for c in adata.var_names]
        desc = self.path.name if self.path is not None else "AnnData"
        super().__init__(adata.n_obs, names, adata.n_vars, chunk_rows=chunk_rows, description=desc)
        self._adata: Any = adata

    def _read(self, start: int, stop: int, columns: np.ndarray | None) -> np.ndarray:
        if self._adata is None:
            anndata = require("anndata", purpose="reading h5ad files", extra="h5ad")

            self._adata = anndata.read_h5ad(self.path, backed="r")
        block = self._adata.X[start:stop]
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        return _select_columns(block, columns)

    def close(self) -> None:
        if self.path is not None and self._adata is not None:
            self._adata.file.close()
            self._adata = None

    def __getstate__(self) -> dict[str, Any]:
        if self.path is None:
            return self.__dict__
        return {**self.__dict__, "_adata": None}


# ----------------------------------------------------------------------------- dispatch
def open_path(path: Path, *, chunk_rows: int | None, key: str | None) -> ChunkedSource:
    """Open a file or folder by its suffix (see :func:`~coxmt.data.streaming.open_unlabeled`)."""
    path = path.expanduser()
    if not path.exists():
        raise FileNotFoundError(f"unlabeled data {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, mmap_mode="r")
        return ArraySource(arr, chunk_rows=chunk_rows, description=path.name)
    if suffix in (".h5", ".hdf5", ".hdf", ".he5"):
        return HDF5Source(path, key, chunk_rows=chunk_rows)
    if suffix == ".h5ad":
        return AnnDataSource(path, chunk_rows=chunk_rows)
    if suffix == ".zarr" or (
        path.is_dir() and any((path / m).exists() for m in (".zarray", ".zgroup", "zarr.json"))
    ):
        return ZarrSource(str(path), key, chunk_rows=chunk_rows)
    if suffix in (".parquet", ".pq") or (path.is_dir() and any(path.glob("*.parquet"))):
        return ParquetSource(path, chunk_rows=chunk_rows)
    raise ValueError(
        f"cannot stream {str(path)!r}: use .npy, .h5/.hdf5, .h5ad, .zarr or .parquet (or a "
        "folder of .parquet files); read CSV/TSV tables into memory instead"
    )


def open_object(obj: Any, *, chunk_rows: int | None, key: str | None) -> ChunkedSource | None:
    """Wrap an open h5py dataset, zarr array/group, AnnData or pyarrow dataset, else None."""
    mod = type(obj).__module__.split(".")[0]
    if mod == "h5py":
        h5py = require("h5py", purpose="reading HDF5 files", extra="wsi")

        if isinstance(obj, h5py.Dataset):
            return HDF5Source(obj.file.filename, obj.name, chunk_rows=chunk_rows, file=obj.file)
        if isinstance(obj, h5py.Group):
            name = key if key is None or obj.name == "/" else f"{obj.name}/{key}"
            return HDF5Source(obj.file.filename, name, chunk_rows=chunk_rows, file=obj.file)
    if mod == "zarr":
        return ZarrSource(obj, key, chunk_rows=chunk_rows)
    if mod == "anndata":
        return AnnDataSource(obj, chunk_rows=chunk_rows)
    if mod == "pyarrow":
        pads = require("pyarrow.dataset", purpose="reading Parquet files", extra="parquet")

        if isinstance(obj, pads.Dataset):
            return ParquetSource(obj, chunk_rows=chunk_rows)
    return None
