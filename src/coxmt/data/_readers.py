"""Reading survival tables from disk: CSV/TSV (compressed or not), Parquet and h5ad.

Every failure is turned into an exception that names the file, what is wrong
with it and how to fix it.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from coxmt._optional import require

__all__: list[str] = []

_COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_TSV_SUFFIXES = {".tsv", ".tab"}
_PARQUET_SUFFIXES = {".parquet", ".pq"}
_H5AD_SUFFIXES = {".h5ad"}
_CANDIDATE_SEPS = ("\t", ",", ";", "|")
_SEP_NAMES = {"\t": "'\\t'", ",": "','", ";": "';'", "|": "'|'", r"\s+": "r'\\s+'"}
_SNIFF_BYTES = 1 << 18  # 256 KiB: a few rows of even very wide expression tables
_SNIFF_LINES = 20

# errors raised by pandas / the decompressors / the parsers for unreadable files
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    pd.errors.ParserError,
    csv.Error,
)
_READ_OR_VALUE_ERRORS: tuple[type[BaseException], ...] = (*_READ_ERRORS, ValueError)
_H5AD_ERRORS: tuple[type[BaseException], ...] = (*_READ_ERRORS, ValueError, KeyError)


def _split_suffixes(path: Path) -> tuple[str, str | None]:
    """Return ``(format suffix, compression)`` of a path, e.g. ``(".csv", "gzip")``."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = None
    if suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        compression = _COMPRESSION_SUFFIXES[suffixes[-1]]
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), compression


def _corrupt_error(path: Path, compression: str | None, err: BaseException) -> ValueError:
    how = f"{compression}-compressed " if compression else ""
    return ValueError(
        f"could not read {str(path)!r}: the file looks corrupt, truncated or not a valid "
        f"{how}table ({type(err).__name__}: {err}). Check that the download finished and that "
        "the file extension matches its content (e.g. '.gz' only for gzip files)."
    )


def _open_text_head(path: Path, compression: str | None) -> str:
    """Return the first lines of a (possibly compressed) text file."""
    raw: bytes
    if compression == "gzip":
        with gzip.open(path, "rb") as fh:
            raw = fh.read(_SNIFF_BYTES)
    elif compression == "bz2":
        with bz2.open(path, "rb") as fh:
            raw = fh.read(_SNIFF_BYTES)
    elif compression == "xz":
        with lzma.open(path, "rb") as fh:
            raw = fh.read(_SNIFF_BYTES)
    elif compression == "zip":
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise ValueError(
                    f"zip archive {str(path)!r} holds {len(members)} files {members[:5]}; "
                    "coxmt reads a zip holding exactly one table. Extract the table you want."
                )
            with zf.open(members[0]) as fh:
                raw = fh.read(_SNIFF_BYTES)
    else:
        with open(path, "rb") as fh:
            raw = fh.read(_SNIFF_BYTES)
    text = raw.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if len(raw) == _SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut in the middle
    return "\n".join(lines[:_SNIFF_LINES])


def _sniff_sep(head: str) -> str:
    """Guess the delimiter from the first lines of a text table.

    Each candidate (tab, comma, semicolon, pipe) splits the lines with the csv
    module (so quoted fields are respected); the candidate giving the same
    number (> 1) of fields on every line wins, the most fields first. When no
    candidate splits the header at all but runs of whitespace split every line into
    the same number (> 1) of fields, the table is whitespace-separated (``r"\\s+"``).
    Otherwise the candidate splitting the header into the most fields is used; a
    file with a single column reads as comma-separated.
    """
    lines = [ln for ln in head.splitlines() if ln.strip()]
    if not lines:
        return ","
    best: tuple[int, str] | None = None
    fallback: tuple[int, str] = (1, ",")
    for sep in _CANDIDATE_SEPS:
        try:
            counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=sep)]
        except csv.Error:
            continue
        if not counts:
            continue
        if counts[0] > fallback[0]:
            fallback = (counts[0], sep)
        if (
            counts[0] > 1
            and all(c == counts[0] for c in counts)
            and (best is None or counts[0] > best[0])
        ):
            best = (counts[0], sep)
    if best is None and fallback[0] == 1:
        widths = [len(ln.split()) for ln in lines]
        if widths[0] > 1 and all(w == widths[0] for w in widths):
            return r"\s+"
    return (best or fallback)[1]


def _check_single_column(frame: pd.DataFrame, path: Path, sep: str) -> None:
    """Detect a table read with the wrong delimiter (one column whose name holds separators)."""
    if frame.shape[1] != 1:
        return
    name = str(frame.columns[0])
    found = [s for s in ("\t", ";", ",", "|") if s in name and s != sep]
    if found:
        guess = found[0]
        raise ValueError(
            f"{str(path)!r} was read as a single column named {name[:80]!r}: the delimiter "
            f"looks like {_SEP_NAMES[guess]}, not {_SEP_NAMES.get(sep, repr(sep))}. "
            f"Pass sep={_SEP_NAMES[guess]} (or sep=None to detect it)."
        )


def _detect_sep(path: Path, compression: str | None, suffix: str) -> str:
    """The delimiter of a text table: tab for a .tsv whose header holds tabs, else sniffed."""
    head = _open_text_head(path, compression)
    # a .tsv holds tabs; one that does not (exported with another delimiter) is sniffed
    if suffix in _TSV_SUFFIXES and "\t" in head.split("\n", 1)[0]:
        return "\t"
    return _sniff_sep(head)


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+(?:[eE][-+]?\d+)?\s*$")


def _warn_decimal_commas(frame: pd.DataFrame, path: Path) -> None:
    """Warn when text columns hold numbers written with a decimal comma (``1,5``)."""
    found = []
    for c in frame.columns:
        col = frame[c]
        if col.dtype != object:
            continue
        sample = col.dropna().astype(str).head(50)
        if len(sample) and sample.map(lambda v: bool(_DECIMAL_COMMA.match(v))).mean() > 0.5:
            found.append(str(c))
    if found:
        warnings.warn(
            f"{str(path)!r}: {len(found)} column(s) look like numbers written with a decimal "
            f"comma (e.g. '1,5') and are read as text: {', '.join(found[:10])}"
            f"{' ...' if len(found) > 10 else ''}. Export the table with a decimal point "
            "(or read it with pandas.read_csv(..., decimal=',') and save it again)",
            UserWarning,
            stacklevel=3,
        )


def _read_csv(
    path: Path, compression: str | None, suffix: str, sep: str | None, **kwargs: Any
) -> tuple[pd.DataFrame, str]:
    """``pandas.read_csv`` with the delimiter detected when not given; returns ``(frame, sep)``.

    An empty or damaged file, or a delimiter that leaves one column, is a clear error.
    """
    try:
        if sep is None:
            sep = _detect_sep(path, compression, suffix)
        frame = pd.read_csv(path, sep=sep, compression=compression, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(
            f"{str(path)!r} is empty (no header and no rows); check the export or download"
        ) from None
    except _READ_ERRORS as err:
        raise _corrupt_error(path, compression, err) from err
    _check_single_column(frame, path, sep)
    return frame, sep


def _read_text(path: Path, compression: str | None, suffix: str, sep: str | None) -> pd.DataFrame:
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes); check the export or download")
    frame, sep = _read_csv(path, compression, suffix, sep, low_memory=False)
    _warn_decimal_commas(frame, path)
    return frame


def read_columns(path: Any, sep: str | None = None) -> tuple[list[str], str | None]:
    """Column names of a CSV/TSV/Parquet table, reading only its header.

    Returns ``(names, sep)``: the delimiter detected (or given) for text tables,
    None for Parquet. h5ad files are refused (they cannot be read in chunks).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"table {str(path)!r} does not exist")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; pass the path of a table file inside it")
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes); check the export or download")
    suffix, compression = _split_suffixes(path)
    if suffix in _PARQUET_SUFFIXES:
        pq = _reader(path, "pyarrow.parquet", "Parquet", "parquet")
        try:
            names = list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow raises ArrowInvalid / OSError for damaged files
            raise _corrupt_error(path, None, exc) from None
        return [n for n in names if not n.startswith("__index_level_")], None
    if suffix in _H5AD_SUFFIXES:
        raise ValueError(
            f"reading in chunks needs CSV/TSV/Parquet; convert {path.name} to one of them "
            "(e.g. adata.to_df().to_csv(...)) or score it from Python with model.predict"
        )
    header, sep = _read_csv(path, compression, suffix, sep, nrows=0)
    return [str(c) for c in header.columns], sep


def is_parquet(path: Any) -> bool:
    """Whether ``path`` names a Parquet file (by its suffix)."""
    return _split_suffixes(Path(path))[0] in _PARQUET_SUFFIXES


def iter_table_chunks(
    path: str | Path,
    chunk_rows: int,
    sep: str | None = None,
    columns: Sequence[str] | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield a table in chunks of at most ``chunk_rows`` rows.

    Parameters
    ----------
    path : str or Path
        CSV/TSV (optionally compressed; the delimiter is detected) or Parquet.
    chunk_rows : int
        Rows per chunk.
    sep : str, optional
        Delimiter of text tables (detected when None).
    columns : sequence of str, optional
        Read only these columns (all when None); they must exist.

    Notes
    -----
    Memory is bounded by ``chunk_rows`` for text tables and by one row group
    (plus one chunk) for Parquet files: write large Parquet files with row groups
    of moderate size (pyarrow's default, one million rows, is fine for a few
    hundred columns; use ``row_group_size=50_000`` for tens of thousands of genes).

    Yields
    ------
    pandas.DataFrame

    Examples
    --------
    >>> import tempfile, os, pandas as pd
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> pd.DataFrame({"g": range(5)}).to_csv(p, index=False)
    >>> [len(c) for c in iter_table_chunks(p, 2)]
    [2, 2, 1]
    """
    path = Path(path)
    if int(chunk_rows) < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    names, sep = read_columns(path, sep)
    if columns is not None:
        absent = [c for c in columns if c not in set(names)]
        if absent:
            raise ValueError(f"{str(path)!r} has no column(s) {absent[:20]}; it has {names[:20]}")
    if is_parquet(path):
        import pyarrow.parquet as pq

        try:
            # pre_buffer=True (pyarrow's default) keeps every row group read so far in
            # memory while iterating: memory would grow with the file. Without it, memory
            # is bounded by one row group.
            pf = pq.ParquetFile(path, pre_buffer=False)
            for batch in pf.iter_batches(
                batch_size=int(chunk_rows), columns=None if columns is None else list(columns)
            ):
                yield batch.to_pandas()
        except (OSError, ValueError) as exc:  # ArrowInvalid is a ValueError
            raise _corrupt_error(path, None, exc) from None
        return
    _, compression = _split_suffixes(path)
    wanted = None if columns is None else set(columns)
    try:
        reader = pd.read_csv(
            path,
            sep=sep,
            compression=compression,
            chunksize=int(chunk_rows),
            usecols=None if wanted is None else (lambda c: str(c) in wanted),
        )
        with reader:
            yield from reader
    except _READ_ERRORS as err:
        raise _corrupt_error(path, compression, err) from None


def _reader(path: Path, module: str, kind: str, extra: str) -> Any:
    """The optional package that reads ``kind`` files, once ``path`` is known not to be empty."""
    reader = require(module, purpose=f"reading the {kind} file {str(path)!r}", extra=extra)
    if path.stat().st_size == 0:
        raise ValueError(f"{str(path)!r} is empty (0 bytes); check the export or download")
    return reader


def _read_parquet(path: Path) -> pd.DataFrame:
    _reader(path, "pyarrow", "Parquet", "parquet")
    try:
        return pd.read_parquet(path)
    except _READ_OR_VALUE_ERRORS as err:
        raise _corrupt_error(path, None, err) from err


def _read_h5ad(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read an AnnData file: ``obs`` columns followed by the ``X`` matrix columns.

    Returns the joined frame (index = ``obs_names``) and the names of the ``X``
    columns (``var_names``).
    """
    anndata = _reader(path, "anndata", "h5ad", "h5ad")
    try:
        adata = anndata.read_h5ad(path)
    except _H5AD_ERRORS as err:
        raise _corrupt_error(path, None, err) from err
    expr = adata.to_df()
    obs = adata.obs.copy()
    clash = sorted(set(map(str, obs.columns)) & set(map(str, expr.columns)))
    if clash:
        raise ValueError(
            f"{str(path)!r}: obs columns {clash[:10]} have the same names as genes in var_names; "
            "rename them in obs before loading"
        )
    frame = pd.concat([obs, expr], axis=1)
    return frame, [str(c) for c in expr.columns]


def read_table(path: Any, sep: str | None = None) -> tuple[pd.DataFrame, list[str] | None, Path]:
    """Read a table from disk.

    Returns ``(frame, matrix_columns, path)``; ``matrix_columns`` is the list of
    expression columns for h5ad files (``None`` for flat tables).
    """
    path = Path(path).expanduser()
    if not path.exists():
        hint = ""
        parent = path.parent if str(path.parent) else Path(".")
        if parent.is_dir():
            import difflib

            close = difflib.get_close_matches(path.name, [p.name for p in parent.iterdir()], n=3)
            if close:
                hint = f" Did you mean {', '.join(repr(str(parent / c)) for c in close)}?"
        raise FileNotFoundError(f"survival table {str(path)!r} does not exist.{hint}")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; pass the path of a table file inside it")
    suffix, compression = _split_suffixes(path)
    if suffix in _PARQUET_SUFFIXES:
        return _read_parquet(path), None, path
    if suffix in _H5AD_SUFFIXES:
        frame, matrix = _read_h5ad(path)
        return frame, matrix, path
    frame = _read_text(path, compression, suffix, sep)
    return frame, None, path
