"""Bags of patch features: one bag per patient, token subsets, padding, attention files.

A *bag* holds the patch-feature vectors of all of a patient's slides, concatenated
in the order the slides are given. Each entry of a ``bags`` list describes one
patient and is one of

- a 2-D array ``(n_patches, n_features)`` (NumPy or torch);
- a path to a CLAM/TRIDENT feature file (``.h5`` with datasets ``features``
  (N, D) and ``coords`` (N, 2), or ``.pt``), read with
  :func:`coxmt.wsi.read_features` on first use and cached;
- a list/tuple of arrays and/or paths (several slides of one patient);
- ``None`` (or a bag with zero patches): the patient has no slide.

Models look at no more than ``max_tokens`` patches of a patient at a time. In
training a random subset is redrawn at every step (from a seeded generator); at
evaluation the subset is deterministic: ``max_tokens`` evenly spaced patches in
bag order (all patches when the bag is small enough). Bags are padded to a
common length with a *key-padding mask* that is ``True`` at padded positions
(PyTorch's ``key_padding_mask`` convention); a patient without patches gets an
all-``True`` row, which the models replace by a learned "missing" token.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coxmt._atomic import atomic_path
from coxmt._optional import require
from coxmt._validation import format_rows
from coxmt.data._features import feature_file_shape, read_features

__all__ = [
    "ATTENTION_FILE_VERSION",
    "DEFAULT_CACHE_BYTES",
    "BagStore",
    "collate_bags",
    "select_tokens",
    "write_attention_h5",
]

#: Default upper bound on the memory used to cache bags read from feature files.
DEFAULT_CACHE_BYTES = 2 * 1024**3
#: Version stamp of the attention files written by :func:`write_attention_h5`.
ATTENTION_FILE_VERSION = 1


def select_tokens(
    n_patches: int, max_tokens: int | None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Indices of the patches a model looks at (sorted, at most ``max_tokens``).

    Parameters
    ----------
    n_patches : int
        Number of patches in the bag.
    max_tokens : int or None
        Largest subset; None keeps every patch.
    rng : numpy.random.Generator, optional
        Training: draw a uniform random subset without replacement. None
        (evaluation): ``max_tokens`` evenly spaced patches, ``floor(j * n / k)``
        for ``j = 0..k-1``, which is deterministic.

    Returns
    -------
    numpy.ndarray of int64

    Examples
    --------
    >>> select_tokens(10, 4).tolist()
    [0, 2, 5, 7]
    >>> select_tokens(3, 4).tolist()
    [0, 1, 2]
    """
    n = int(n_patches)
    if max_tokens is None or n <= max_tokens:
        return np.arange(n, dtype=np.int64)
    k = int(max_tokens)
    if rng is None:
        return (np.arange(k, dtype=np.int64) * n) // k
    return np.sort(rng.choice(n, size=k, replace=False)).astype(np.int64)


def collate_bags(
    bags: Sequence[np.ndarray | None], n_features: int, pad_to: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pad bags to one array with a key-padding mask (``True`` = padding).

    Parameters
    ----------
    bags : sequence of (n_i, n_features) arrays or None
        None or a zero-row array marks a patient without patches; its mask row
        is all ``True``.
    n_features : int
        Feature dimension (used for empty batches and missing bags).
    pad_to : int, optional
        Length to pad to (at least the longest bag). Default: the longest bag,
        and at least 1 so that every row has a position.

    Returns
    -------
    tokens : ndarray of float32, shape (n_bags, length, n_features)
        Zeros at padded positions.
    mask : ndarray of bool, shape (n_bags, length)

    Examples
    --------
    >>> import numpy as np
    >>> tokens, mask = collate_bags([np.ones((2, 3)), None], 3)
    >>> tokens.shape, mask.tolist()
    ((2, 2, 3), [[False, False], [True, True]])
    """
    lengths = [0 if b is None else int(b.shape[0]) for b in bags]
    length = max([1, *lengths])
    if pad_to is not None:
        if pad_to < length:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest bag ({length} patches)")
        length = int(pad_to)
    tokens = np.zeros((len(bags), length, int(n_features)), dtype=np.float32)
    mask = np.ones((len(bags), length), dtype=bool)
    for i, (b, n) in enumerate(zip(bags, lengths, strict=True)):
        if n:
            tokens[i, :n] = b
            mask[i, :n] = False
    return tokens, mask


@dataclass
class _Part:
    """One slide of a patient: in-memory features or a feature file."""

    array: np.ndarray | None
    path: Path | None
    n_patches: int
    n_features: int | None


def _is_path(obj: Any) -> bool:
    return isinstance(obj, str | os.PathLike)


def _as_array(obj: Any, where: str) -> np.ndarray:
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    try:
        arr = np.asarray(obj, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{where} is not numeric ({exc}); give an (n_patches, n_features) array, a feature "
            "file path, a list of those (several slides) or None (no slide)"
        ) from None
    if arr.ndim != 2:
        raise ValueError(
            f"{where} has shape {arr.shape}; a bag must be a 2-D (n_patches, n_features) array"
        )
    if arr.size and not np.isfinite(arr).all():
        rows = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        raise ValueError(
            f"{where} contains NaN or infinite features in patches {format_rows(rows)}; "
            "drop or re-extract those patches"
        )
    return arr


def _file_shape(path: Path, where: str) -> tuple[int, int] | None:
    """(n_patches, n_features) of a feature file without reading the features (h5)."""
    try:
        return feature_file_shape(path)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


class BagStore:
    """Validated, lazily loaded bags of patch features for a list of patients.

    Parameters
    ----------
    bags : sequence
        One entry per patient (see the module documentation): an array, a
        feature-file path, a list of those, or None. A 3-D array
        ``(n_patients, n_patches, n_features)`` is also accepted.
    n_features : int, optional
        Required feature dimension (a fitted model's). Default: taken from the
        first bag; all bags must agree.
    name : str, default "bags"
        Name used in error messages (``bags[7]: ...``).
    cache_bytes : int, default 2 GiB
        Bags read from files are kept in memory (least recently used first out)
        up to this size; larger cohorts are re-read from disk when needed.

    Examples
    --------
    >>> import numpy as np
    >>> store = BagStore([np.zeros((5, 4)), None, [np.ones((2, 4)), np.ones((1, 4))]])
    >>> store.n_patches.tolist(), store.missing.tolist(), store.n_features
    ([5, 0, 3], [False, True, False], 4)
    """

    def __init__(
        self,
        bags: Any,
        *,
        n_features: int | None = None,
        name: str = "bags",
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        if hasattr(bags, "detach") and hasattr(bags, "cpu"):  # torch tensor
            bags = bags.detach().cpu().numpy()
        if isinstance(bags, np.ndarray) and bags.dtype != object and bags.ndim != 3:
            raise ValueError(
                f"{name} is a single {bags.ndim}-D array of shape {bags.shape}; give a list with "
                "one (n_patches, n_features) array per patient (e.g. [bag] for one patient), or "
                "a 3-D (n_patients, n_patches, n_features) array"
            )
        if isinstance(bags, np.ndarray) and bags.dtype != object and bags.ndim == 3:
            bags = list(bags)
        elif hasattr(bags, "tolist") and not isinstance(bags, np.ndarray):  # pandas Series
            bags = bags.tolist()
        if _is_path(bags) or not isinstance(bags, Sequence | np.ndarray):
            raise ValueError(
                f"{name} must be a list with one entry per patient (an array, a feature-file "
                f"path, a list of those, or None), got {type(bags).__name__}"
            )
        self.name = name
        self.cache_bytes = int(cache_bytes)
        self._expected = None if n_features is None else int(n_features)
        self._parts: list[list[_Part]] = [self._parse(entry, i) for i, entry in enumerate(bags)]
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray | None]] = (
            OrderedDict()
        )
        self._cached_bytes = 0
        dims = {p.n_features for parts in self._parts for p in parts if p.n_features is not None}
        self.n_features: int | None = self._expected
        if self.n_features is None and dims:
            self.n_features = next(iter(dims))
        for i, parts in enumerate(self._parts):
            for p in parts:
                self._check_dim(p.n_features, i, p.path)
        self.n_patches = np.array(
            [sum(p.n_patches for p in parts) for parts in self._parts], dtype=np.int64
        )

    # -- parsing and checks -------------------------------------------------------
    def _where(self, i: int, path: Path | None = None) -> str:
        return f"{self.name}[{i}]" + ("" if path is None else f" ({str(path)!r})")

    def _check_dim(self, d: int | None, i: int, path: Path | None) -> None:
        if d is None or self.n_features is None or d == self.n_features:
            return
        if self._expected is not None:
            raise ValueError(
                f"{self._where(i, path)} has {d}-dimensional patch features but the model was "
                f"fitted on {self._expected}-dimensional features; extract the features with the "
                "same encoder as the training slides"
            )
        raise ValueError(
            f"{self._where(i, path)} has {d}-dimensional patch features but earlier bags have "
            f"{self.n_features}; all bags must come from the same feature encoder"
        )

    def _parse_part(self, obj: Any, i: int) -> _Part | None:
        if obj is None:
            return None
        if _is_path(obj):
            path = Path(obj)
            shape = _file_shape(path, self._where(i))
            if shape is None:
                return _Part(None, path, *self._load_file(path, i)[0].shape)
            return _Part(None, path, shape[0], shape[1])
        arr = _as_array(obj, self._where(i))
        return _Part(arr, None, arr.shape[0], arr.shape[1])

    def _parse(self, entry: Any, i: int) -> list[_Part]:
        if isinstance(entry, list | tuple):
            parts = [self._parse_part(obj, i) for obj in entry]
        else:
            parts = [self._parse_part(entry, i)]
        return [p for p in parts if p is not None and p.n_patches > 0]

    def _load_file(self, path: Path, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        try:
            feats, coords = read_features(path)
        except ValueError as exc:
            raise ValueError(f"{self._where(i)}: {exc}") from None
        if feats.size and not np.isfinite(feats).all():
            rows = np.flatnonzero(~np.isfinite(feats).all(axis=1))
            raise ValueError(
                f"{self._where(i, path)} contains NaN or infinite features in patches "
                f"{format_rows(rows)}; re-extract the features"
            )
        return feats, coords

    # -- access ---------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._parts)

    @property
    def missing(self) -> np.ndarray:
        """Boolean mask of patients without any patch."""
        return self.n_patches == 0

    def _part_data(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray | None]:
        part = self._parts[i][j]
        if part.array is not None:
            return part.array, None
        key = (i, j)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        assert part.path is not None
        feats, coords = self._load_file(part.path, i)
        if feats.shape != (part.n_patches, part.n_features or feats.shape[1]):
            raise ValueError(
                f"{self._where(i, part.path)} changed on disk: 'features' now has shape "
                f"{feats.shape}, expected ({part.n_patches}, {part.n_features})"
            )
        size = feats.nbytes + (0 if coords is None else coords.nbytes)
        if size <= self.cache_bytes:
            while self._cache and self._cached_bytes + size > self.cache_bytes:
                _, (f_old, c_old) = self._cache.popitem(last=False)
                self._cached_bytes -= f_old.nbytes + (0 if c_old is None else c_old.nbytes)
            self._cache[key] = (feats, coords)
            self._cached_bytes += size
        return feats, coords

    def features(self, i: int, index: np.ndarray | None = None) -> np.ndarray:
        """Patch features of patient ``i`` (all slides concatenated), float32.

        ``index`` selects patches (positions in the concatenated bag).
        """
        parts = self._parts[i]
        d = int(self.n_features or 0)
        if not parts:
            return np.zeros((0, d), dtype=np.float32)
        if len(parts) == 1:
            feats = self._part_data(i, 0)[0]
            return feats if index is None else feats[index]
        if index is None:
            return np.concatenate([self._part_data(i, j)[0] for j in range(len(parts))], axis=0)
        # take the selected rows slide by slide (index is into the concatenated bag)
        index = np.asarray(index, dtype=np.int64)
        starts = np.cumsum([0] + [p.n_patches for p in parts])
        which = np.searchsorted(starts, index, side="right") - 1
        out = np.empty((len(index), d), dtype=np.float32)
        for j in np.unique(which):
            sel = which == j
            out[sel] = self._part_data(i, int(j))[0][index[sel] - starts[j]]
        return out

    def coords(self, i: int) -> np.ndarray | None:
        """Level-0 patch coordinates (n_patches, 2) of patient ``i``, or None when unknown.

        Coordinates are known for bags read from feature files with a ``coords``
        dataset; with several slides, use :meth:`slide_index` to tell them apart.
        """
        parts = self._parts[i]
        if not parts:
            return np.zeros((0, 2), dtype=np.int64)
        out = []
        for j in range(len(parts)):
            c = self._part_data(i, j)[1]
            if c is None:
                return None
            out.append(c)
        return np.concatenate(out, axis=0).astype(np.int64)

    def slide_index(self, i: int) -> np.ndarray:
        """For each patch of patient ``i``, the position of its slide in the patient's entry."""
        sizes = [p.n_patches for p in self._parts[i]]
        return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)

    def slide_paths(self, i: int) -> list[str | None]:
        """The feature file of each slide of patient ``i`` (None for in-memory arrays)."""
        return [None if p.path is None else str(p.path) for p in self._parts[i]]

    def gather(
        self,
        rows: Sequence[int] | np.ndarray,
        max_tokens: int | None,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """Token subsets of several patients, padded.

        Returns ``tokens`` (len(rows), L, n_features) float32, the key-padding
        ``mask`` (True = padding) and, per patient, the chosen patch indices.
        """
        picked = [select_tokens(int(self.n_patches[r]), max_tokens, rng) for r in rows]
        bags = [
            self.features(int(r), idx) if len(idx) else None
            for r, idx in zip(rows, picked, strict=True)
        ]
        tokens, mask = collate_bags(bags, int(self.n_features or 0))
        return tokens, mask, picked

    def subset(self, rows: Sequence[int] | np.ndarray) -> BagStore:
        """A store over the patients ``rows`` (in-memory arrays are shared, not copied)."""
        out = object.__new__(BagStore)
        out.name = self.name
        out.cache_bytes = self.cache_bytes
        out._expected = self._expected
        out._parts = [self._parts[int(r)] for r in rows]
        out._cache = OrderedDict()
        out._cached_bytes = 0
        out.n_features = self.n_features
        out.n_patches = self.n_patches[np.asarray(rows, dtype=np.int64)]
        return out

    @classmethod
    def concatenate(cls, stores: Sequence[BagStore]) -> BagStore:
        """One store holding the patients of ``stores`` in order (same feature dimension)."""
        dims = {s.n_features for s in stores if s.n_features is not None}
        if len(dims) > 1:
            raise ValueError(
                f"{' and '.join(s.name for s in stores)} have different patch-feature "
                f"dimensions {sorted(dims)}; use the same feature encoder for all slides"
            )
        out = object.__new__(BagStore)
        out.name = stores[0].name
        out.cache_bytes = max(s.cache_bytes for s in stores)
        out._expected = stores[0]._expected
        out._parts = [p for s in stores for p in s._parts]
        out._cache = OrderedDict()
        out._cached_bytes = 0
        out.n_features = next(iter(dims)) if dims else None
        out.n_patches = np.concatenate([s.n_patches for s in stores])
        return out


def write_attention_h5(
    path: str | os.PathLike[str],
    coords: Any,
    scores: Any,
    *,
    model: str = "",
    attrs: dict[str, Any] | None = None,
) -> Path:
    """Write per-patch attention scores with their coordinates to an HDF5 file (atomically).

    Layout: dataset ``coords`` (N, 2) int64 level-0 (x, y) of each patch's
    top-left corner (as in the feature file), dataset ``attention`` (N,) float32
    and file attributes ``model`` (the model class), ``coxmt_attention_version``
    and any ``attrs`` (e.g. ``slide``, ``patient``, ``kind``).

    Parameters
    ----------
    path : str or Path
        Output ``.h5`` file; written to a temporary file beside it, then renamed.
    coords : array-like of shape (N, 2)
    scores : array-like of shape (N,)
        Finite attention scores (e.g. ``patch_scores`` of ``attention()``).
    model : str, optional
        Name of the model that produced the scores.
    attrs : dict, optional
        Extra scalar or string attributes.

    Returns
    -------
    Path
        The attention file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> p = write_attention_h5(folder / "a.h5", [[0, 0], [256, 0]], [0.7, 0.3], model="WSICoxMT")
    >>> import h5py
    >>> with h5py.File(p) as f:
    ...     f["attention"][()].tolist(), f.attrs["model"]
    ([0.699999988079071, 0.30000001192092896], 'WSICoxMT')
    """
    h5py = require("h5py", purpose="writing attention files", extra="wsi")
    xy = np.asarray(coords)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if xy.size == 0:
        xy = xy.reshape(0, 2)
    if xy.ndim != 2 or xy.shape[1] != 2 or xy.shape[0] != s.shape[0]:
        raise ValueError(
            f"coords must have shape (N, 2) with N = {s.shape[0]} (one row per score), got "
            f"{xy.shape}"
        )
    if not np.isfinite(s).all():
        raise ValueError(
            "scores contain NaN or infinite values at positions "
            f"{np.flatnonzero(~np.isfinite(s))[:10].tolist()}"
        )
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("coords", data=np.rint(xy).astype(np.int64))
        f.create_dataset("attention", data=s.astype(np.float32))
        f.attrs["model"] = str(model)
        f.attrs["coxmt_attention_version"] = ATTENTION_FILE_VERSION
        for key, value in (attrs or {}).items():
            f.attrs[str(key)] = "none" if value is None else value
    return path
