"""Cross-validation splits: repeated stratified K-fold, saving/loading, MCAT/PORPOISE files.

A split is one ``(repeat, fold)`` pair with the row positions (0-based, into the
data passed to :func:`~coxmt.experiments.cross_validate`) of its training and test
patients. Splits are stored in long format (``splits.csv``)::

    repeat,fold,row,id,set
    0,0,3,TCGA-A1-A0SB,train
    0,0,7,TCGA-A1-A0SD,test
    ...

MCAT/PORPOISE ship 5-fold splits as one ``splits_<k>.csv`` per fold with columns
``train`` and ``val`` holding case IDs (ragged columns padded with empty cells);
:func:`load_splits` reads those too, mapping IDs to rows through ``ids``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from coxmt._atomic import atomic_write_text
from coxmt._random import derive_seed

__all__ = [
    "Split",
    "check_training_events",
    "derive_seed",
    "load_splits",
    "make_splits",
    "save_splits",
    "splits_to_frame",
]

_MCAT_NAME = re.compile(r"(\d+)(?=\.csv(\.gz)?$)", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class Split:
    """One cross-validation split.

    Attributes
    ----------
    repeat, fold : int
        0-based repeat and fold numbers.
    train, test : numpy.ndarray of int64
        Sorted row positions of the training and test patients (disjoint).
    """

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Split):
            return NotImplemented
        return (
            self.repeat == other.repeat
            and self.fold == other.fold
            and np.array_equal(self.train, other.train)
            and np.array_equal(self.test, other.test)
        )

    def __repr__(self) -> str:
        return (
            f"Split(repeat={self.repeat}, fold={self.fold}, n_train={len(self.train)}, "
            f"n_test={len(self.test)})"
        )


def make_splits(
    event: Any, *, n_splits: int = 5, n_repeats: int = 5, random_state: int = 0
) -> list[Split]:
    """Repeated K-fold splits stratified on the event indicator.

    Repeat ``r`` shuffles with the seed ``derive_seed(random_state, r)``, so adding
    repeats never changes the earlier ones.

    Parameters
    ----------
    event : array-like of bool, shape (n_samples,)
        Event indicator (1/True = death observed).
    n_splits : int, default 5
    n_repeats : int, default 5
    random_state : int, default 0

    Returns
    -------
    list of Split
        ``n_repeats * n_splits`` splits ordered by repeat, then fold.

    Examples
    --------
    >>> import numpy as np
    >>> splits = make_splits(np.arange(20) % 3 == 0, n_splits=4, n_repeats=2)
    >>> len(splits), splits[0].repeat, splits[-1].fold, len(splits[0].test)
    (8, 0, 3, 5)
    """
    event = np.asarray(event).astype(bool).ravel()
    n = event.shape[0]
    n_splits, n_repeats = int(n_splits), int(n_repeats)
    if n_splits < 2:
        raise ValueError(f"n_splits must be >= 2 (K-fold needs two folds), got {n_splits}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    if n < n_splits:
        raise ValueError(f"cannot make {n_splits} folds from {n} samples; use n_splits <= {n}")
    n_events = int(event.sum())
    if n_splits > max(n_events, n - n_events):
        raise ValueError(
            f"cannot make {n_splits} folds stratified on the event: there are only {n_events} "
            f"deaths and {n - n_events} censored patients, and stratified K-fold needs at least "
            f"n_splits patients in one of the two groups; use at most "
            f"{max(2, max(n_events, n - n_events))} folds"
        )
    splits = []
    for r in range(n_repeats):
        cv = StratifiedKFold(n_splits, shuffle=True, random_state=derive_seed(random_state, r))
        with warnings.catch_warnings():
            # "The least populated class has only k members": folds without events are
            # reported per fold by the runner (training folds) or in `notes` (test folds).
            warnings.simplefilter("ignore", UserWarning)
            folds = list(cv.split(np.zeros((n, 1)), event))
        for k, (tr, te) in enumerate(folds):
            splits.append(Split(r, k, np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64)))
    return splits


def check_training_events(splits: Sequence[Split], event: np.ndarray) -> None:
    """Raise a ValueError naming every split whose training set has no event."""
    event = np.asarray(event, dtype=bool)
    bad = [(s.repeat, s.fold) for s in splits if not event[s.train].any()]
    if bad:
        shown = ", ".join(f"repeat {r} fold {k}" for r, k in bad[:10])
        n_folds = len({s.fold for s in splits})
        if int(event.sum()) < 2:
            raise ValueError(
                f"the training set of {shown}{' ...' if len(bad) > 10 else ''} has no event: "
                f"there are only {int(event.sum())} deaths among {event.size} patients, which "
                "fewer folds cannot fix: cross-validation needs at least 2 deaths (one in each "
                "training set) to fit a Cox model. Add patients with observed events, or check "
                "the event column's convention (1 = death observed)"
            )
        raise ValueError(
            f"the training set of {shown}{' ...' if len(bad) > 10 else ''} has no event "
            f"(only {int(event.sum())} deaths among {event.size} patients), so a Cox model "
            f"cannot be fitted there; use fewer folds (n_splits < {n_folds}, e.g. --folds "
            f"{max(2, min(n_folds - 1, int(event.sum())))}) or more patients with events"
        )


def _check_ids(ids: Any, n_samples: int) -> pd.Index:
    if ids is None:
        return pd.Index(np.arange(n_samples), name="id")
    index = pd.Index(ids)
    if len(index) != n_samples:
        raise ValueError(f"ids has {len(index)} entries but the data has {n_samples} rows")
    if index.has_duplicates:
        dups = [str(v) for v in index[index.duplicated()].unique()[:10]]
        raise ValueError(f"ids must be unique; duplicated: {dups}")
    return index


def splits_to_frame(splits: Sequence[Split], ids: Any = None) -> pd.DataFrame:
    """Long-format table of ``splits``: columns repeat, fold, row, id, set.

    ``id`` holds ``ids[row]`` when ``ids`` is given, else the row number.

    Examples
    --------
    >>> import numpy as np
    >>> df = splits_to_frame([Split(0, 0, np.array([0, 2]), np.array([1]))], ids=["a", "b", "c"])
    >>> df.to_dict("list")["id"], df.to_dict("list")["set"]
    (['a', 'c', 'b'], ['train', 'train', 'test'])
    """
    n = 1 + max(
        (int(max(s.train.max(initial=-1), s.test.max(initial=-1))) for s in splits), default=-1
    )
    index = _check_ids(ids, len(ids) if ids is not None else n)
    parts = []
    for s in splits:
        for name, rows in (("train", s.train), ("test", s.test)):
            parts.append(
                pd.DataFrame(
                    {
                        "repeat": s.repeat,
                        "fold": s.fold,
                        "row": rows.astype(np.int64),
                        "id": np.asarray(index[rows], dtype=object),
                        "set": name,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["repeat", "fold", "row", "id", "set"])
    return pd.concat(parts, ignore_index=True)


def save_splits(splits: Sequence[Split], path: str | os.PathLike[str], ids: Any = None) -> Path:
    """Write ``splits`` to ``path`` (``splits.csv`` layout) atomically; returns the path.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "splits.csv"
    >>> s = make_splits(np.arange(10) % 2 == 0, n_splits=2, n_repeats=1)
    >>> load_splits(save_splits(s, p)) == s
    True
    """
    return atomic_write_text(Path(path), splits_to_frame(splits, ids).to_csv(index=False))


def _check_long_ids(frame: pd.DataFrame, ids: Any, source: str) -> None:
    """Refuse a splits.csv whose ``id`` column does not match the data's IDs at its rows."""
    if ids is None or "id" not in frame.columns:
        return
    index = pd.Index(ids)
    rows = frame["row"].to_numpy(dtype=np.int64)
    out = rows[(rows < 0) | (rows >= len(index))]
    if out.size:
        raise ValueError(
            f"{source} refers to rows up to {int(rows.max())} but the data has {len(index)} rows; "
            "it was made for other data"
        )
    saved = frame["id"].astype(str).to_numpy(dtype=object)
    if (saved == rows.astype(str).astype(object)).all():
        return  # saved without patient IDs (the id column holds the row numbers)
    expected = np.asarray([str(v) for v in index[rows]], dtype=object)
    bad = np.flatnonzero(saved != expected)
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{source} was made for other data or another row order: row {int(rows[i])} has ID "
            f"{frame['id'].iloc[i]!r} there but {expected[i]!r} in the data "
            f"({bad.size} mismatches); pass the same table in the same order"
        )


def _from_long_frame(frame: pd.DataFrame, source: str) -> list[Split]:
    needed = {"repeat", "fold", "row", "set"}
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ValueError(
            f"{source} is not a coxmt splits file: columns {missing} are missing "
            f"(found {list(frame.columns)}); expected repeat, fold, row, id, set"
        )
    bad_set = sorted(set(frame["set"].astype(str)) - {"train", "test"})
    if bad_set:
        raise ValueError(f"{source}: column 'set' holds {bad_set}; only 'train'/'test' are allowed")
    splits = []
    for (r, k), g in frame.groupby(["repeat", "fold"], sort=True):
        rows = g["row"].to_numpy(dtype=np.int64)
        is_test = (g["set"].astype(str) == "test").to_numpy()
        tr, te = np.sort(rows[~is_test]), np.sort(rows[is_test])
        overlap = np.intersect1d(tr, te)
        if overlap.size:
            raise ValueError(
                f"{source}: repeat {r} fold {k} lists rows {overlap[:10].tolist()} in both "
                "train and test"
            )
        splits.append(Split(int(r), int(k), tr, te))
    return splits


def _mcat_files(paths: Sequence[Path]) -> list[tuple[int, Path]]:
    """Order MCAT split files by the fold number in their name (else as given)."""
    numbered = [(_MCAT_NAME.search(p.name), p) for p in paths]
    if all(m is not None for m, _ in numbered):
        out = sorted((int(m.group(1)), p) for m, p in numbered if m is not None)
        if len({k for k, _ in out}) == len(out):
            return [(i, p) for i, (_, p) in enumerate(out)]
    return list(enumerate(paths))


def _read_mcat(path: Path, fold: int, index: pd.Index) -> Split:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=True)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"could not read the splits file {str(path)!r}: {exc}") from None
    test_col = "val" if "val" in frame.columns else ("test" if "test" in frame.columns else None)
    if "train" not in frame.columns or test_col is None:
        raise ValueError(
            f"{str(path)!r} is not an MCAT/PORPOISE splits file: it needs columns 'train' and "
            f"'val' holding case IDs, found {list(frame.columns)}"
        )
    lookup = pd.Series(np.arange(len(index)), index=index.astype(str))
    rows: dict[str, np.ndarray] = {}
    for name, col in (("train", "train"), ("test", test_col)):
        values = frame[col].dropna().astype(str).str.strip()
        values = values[values != ""]
        known = values[values.isin(lookup.index)]
        rows[name] = np.sort(lookup.loc[known].to_numpy(dtype=np.int64))
    if len(rows["train"]) == 0 or len(rows["test"]) == 0:
        example = frame["train"].dropna().astype(str).head(3).tolist()
        raise ValueError(
            f"{str(path)!r}: no case ID of its {'train' if len(rows['train']) == 0 else test_col!r} "
            f"column matches the data's IDs (file IDs look like {example}, data IDs like "
            f"{[str(v) for v in index[:3]]}); pass the patient-ID column (ids= / --id-col)"
        )
    both = np.intersect1d(rows["train"], rows["test"])
    if both.size:
        raise ValueError(
            f"{str(path)!r}: IDs {[str(index[i]) for i in both[:10]]} are in both 'train' and "
            f"{test_col!r}"
        )
    return Split(0, fold, rows["train"], rows["test"])


def load_splits(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], ids: Any = None
) -> list[Split]:
    """Load splits saved by coxmt or shipped by MCAT/PORPOISE.

    Parameters
    ----------
    path : path or list of paths
        - a ``splits.csv`` written by coxmt (or a results folder holding one);
        - a folder of MCAT/PORPOISE ``splits_<k>.csv`` files, or a list of such files:
          columns ``train`` and ``val`` hold case IDs, one file per fold. They become
          repeat 0, folds ordered by the number in the file name. IDs that are not in
          ``ids`` (patients missing from the data) are skipped; patients of the data
          that a file does not list take part in neither set of that fold.
    ids : array-like, optional
        Patient IDs of the data rows, needed for MCAT files (row ``i`` has ID ``ids[i]``).
        With a coxmt ``splits.csv`` they are checked against its ``id`` column, so
        splits made for other data (or another row order) are refused.

    Returns
    -------
    list of Split

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "splits_0.csv").write_text(",train,val\\n0,a,c\\n1,b,\\n")
    >>> load_splits(d, ids=["a", "b", "c"])
    [Split(repeat=0, fold=0, n_train=2, n_test=1)]
    """
    if isinstance(path, str | os.PathLike):
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"splits not found: {str(p)!r}")
        if p.is_dir():
            if (p / "splits.csv").is_file():
                p = p / "splits.csv"
            else:
                files = sorted(
                    f for f in p.iterdir() if f.is_file() and re.search(r"\.csv(\.gz)?$", f.name)
                )
                files = [f for f in files if f.name.lower().startswith("splits")] or files
                if not files:
                    raise ValueError(
                        f"{str(p)!r} holds neither a coxmt splits.csv nor MCAT splits_<k>.csv files"
                    )
                return load_splits(files, ids=ids)
        frame = pd.read_csv(p, nrows=0)
        if {"repeat", "fold", "row", "set"} <= set(frame.columns):
            frame = pd.read_csv(p, dtype={"id": str})
            _check_long_ids(frame, ids, str(p))
            return _from_long_frame(frame, str(p))
        paths: list[Path] = [p]
    else:
        paths = [Path(q) for q in path]
        if not paths:
            raise ValueError("load_splits got an empty list of files")
        for q in paths:
            if not q.is_file():
                raise FileNotFoundError(f"splits file not found: {str(q)!r}")
    if ids is None:
        raise ValueError(
            "MCAT/PORPOISE splits files list case IDs; pass the data's patient IDs "
            "(ids= in Python, --id-col on the command line) to map them to rows"
        )
    index = pd.Index(ids)
    if index.has_duplicates:
        raise ValueError("ids must be unique to map splits files to rows")
    return [_read_mcat(q, k, index) for k, q in _mcat_files(paths)]
