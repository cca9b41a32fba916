"""Reading patch-feature files (CLAM/TRIDENT/coxmt ``.h5`` and ``.pt``).

The one place feature files are read: by the slide models' bags
(:mod:`coxmt.nn.bags`), the estimators and the slide pipeline (:mod:`coxmt.wsi`,
which re-exports :func:`read_features` and :func:`feature_file_info`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from coxmt._optional import require

__all__ = ["H5_SUFFIXES", "feature_file_info", "feature_file_shape", "open_h5", "read_features"]

#: File name endings read as HDF5.
H5_SUFFIXES = (".h5", ".hdf5", ".he5")

_NO_FEATURES = (
    "give a CLAM/TRIDENT feature file (a coordinates-only patch file from "
    "'coxmt wsi patch' has no features: run 'coxmt wsi extract' first)"
)


def open_h5(path: Path, *, purpose: str = "reading feature files") -> Any:
    """Open an HDF5 file for reading; an unreadable file is a ValueError naming it."""
    h5py = require("h5py", purpose=purpose, extra="wsi")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file ({exc})") from exc


def read_attrs(obj: Any) -> dict[str, Any]:
    """HDF5 attributes of a file or dataset as plain Python values."""
    out: dict[str, Any] = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[str(key)] = value
    return out


def _features_dataset(f: Any, path: Path) -> Any:
    if "features" not in f:
        raise ValueError(
            f"{str(path)!r} has no 'features' dataset (found: {sorted(f.keys())}); {_NO_FEATURES}"
        )
    return f["features"]


def _squeeze(arr: np.ndarray) -> np.ndarray:
    # TRIDENT/CLAM batch outputs are sometimes saved as (1, N, D) or (1, N, 2).
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


def feature_file_shape(path: str | Path) -> tuple[int, int] | None:
    """``(n_patches, n_features)`` of an HDF5 feature file, read without loading the features.

    Returns None for a ``.pt`` file (those are read whole on first use).

    Raises
    ------
    ValueError
        A missing or unreadable file, no ``features`` dataset, or one that is not 2-D.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"feature file {str(path)!r} does not exist")
    if path.suffix.lower() not in H5_SUFFIXES:
        return None
    with open_h5(path) as f:
        shape = tuple(int(s) for s in _features_dataset(f, path).shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2:
        raise ValueError(
            f"'features' in {str(path)!r} has shape {shape}; expected (n_patches, n_features)"
        )
    return shape[0], shape[1]


def feature_file_info(path: str | Path) -> dict[str, Any] | None:
    """Attributes and shape of a complete feature file, or None when it is missing or unreadable.

    Examples
    --------
    >>> feature_file_info("missing.h5") is None
    True
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open_h5(path) as f:
            if "features" not in f or "coords" not in f:
                return None
            n, d = f["features"].shape
            if f["coords"].shape != (n, 2):
                return None
            info = read_attrs(f)
            info.update(n_patches=int(n), feature_dim=int(d))
            return info
    except (OSError, ValueError):
        return None


def _check_pairs(features: np.ndarray, coords: np.ndarray | None, path: Path) -> None:
    if features.ndim != 2:
        raise ValueError(
            f"{str(path)!r}: 'features' must be a 2-D array (patches x dimensions), got shape "
            f"{features.shape}"
        )
    if coords is not None and (coords.shape != (len(features), 2)):
        raise ValueError(
            f"{str(path)!r}: 'coords' has shape {coords.shape} but 'features' has "
            f"{len(features)} rows; coords must be (N, 2) level-0 positions, one per feature row"
        )


def _read_h5(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    with open_h5(path) as f:
        feats = _squeeze(np.asarray(_features_dataset(f, path)[()]))
        coords = _squeeze(np.asarray(f["coords"][()])) if "coords" in f else None
    return feats, coords


def _read_pt(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import torch  # only .pt files need torch; reading .h5 files does not load it

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"{str(path)!r} could not be read as a tensor file with torch.load(weights_only=True) "
            f"({exc})"
        ) from exc
    coords: Any = None
    if isinstance(obj, dict):
        if "features" not in obj:
            raise ValueError(
                f"{str(path)!r} holds a dict without a 'features' entry (keys: {sorted(obj)}); "
                "give a tensor of shape (N, D) or a dict with 'features' (and 'coords')"
            )
        feats, coords = obj["features"], obj.get("coords")
    else:
        feats = obj
    if not isinstance(feats, torch.Tensor):
        raise ValueError(
            f"{str(path)!r}: expected a tensor of features, got {type(feats).__name__}"
        )
    features = _squeeze(feats.detach().float().cpu().numpy())
    xy = None
    if coords is not None:
        xy = _squeeze(np.asarray(coords.cpu().numpy() if hasattr(coords, "cpu") else coords))
    elif path.parent.name == "pt_files":
        # CLAM layout: FEATURES/pt_files/<slide>.pt next to FEATURES/h5_files/<slide>.h5
        sibling = path.parent.parent / "h5_files" / f"{path.stem}.h5"
        if sibling.is_file():
            with contextlib.suppress(ValueError):
                _, xy = _read_h5(sibling)
            if xy is not None and len(xy) != len(features):
                xy = None
    return features, xy


def read_features(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read patch features from a CLAM/TRIDENT/coxmt ``.h5`` or ``.pt`` file.

    Parameters
    ----------
    path : str or Path
        ``.h5``/``.hdf5`` with a ``features`` dataset (and usually ``coords``), or
        ``.pt`` with a tensor (CLAM) or a dict with ``features``/``coords``. For a
        CLAM ``pt_files/<slide>.pt``, coordinates are taken from the sibling
        ``h5_files/<slide>.h5`` when it exists.

    Returns
    -------
    features : ndarray of shape (N, D), float32
    coords : ndarray of shape (N, 2), int64, or None when the file has none

    Examples
    --------
    >>> features, coords = read_features("features/slide_1.h5")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"feature file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        feats, coords = _read_pt(path)
    elif suffix in H5_SUFFIXES:
        feats, coords = _read_h5(path)
    else:
        raise ValueError(
            f"{str(path)!r}: unknown feature file type {suffix!r}; give a .h5 or .pt file"
        )
    feats = np.asarray(feats, dtype=np.float32)
    if coords is not None:
        coords = np.asarray(coords).astype(np.int64)
        if coords.size == 0:
            coords = coords.reshape(0, 2)
    _check_pairs(feats, coords, path)
    return feats, coords
