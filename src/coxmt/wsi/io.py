"""Patch-coordinate and feature files, compatible with CLAM and TRIDENT.

A feature file is one HDF5 file per slide with the datasets ``features``
(N, D) float32 and ``coords`` (N, 2) integer level-0 pixel positions (top-left
corners), plus attributes (encoder, patch size, magnification, mpp). Files are
written to a temporary name in the same folder and renamed, so a file that
exists is complete.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coxmt._atomic import atomic_path
from coxmt.wsi._deps import _require

__all__ = [
    "FEATURE_FILE_VERSION",
    "feature_file_info",
    "read_features",
    "read_patch_coords",
    "write_features",
    "write_patch_coords",
]

#: Version stamp written in the attributes of the files made here.
FEATURE_FILE_VERSION = 1


def _atomic_path(path: Path) -> contextlib.AbstractContextManager[Path]:
    """Temporary path beside ``path``, renamed to ``path`` when the block succeeds."""
    return atomic_path(path)


def _attr_value(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, Path):
        return str(value)
    return value


def _read_attrs(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[str(key)] = value
    return out


def write_features(
    path: str | Path,
    features: np.ndarray,
    coords: np.ndarray,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Write one slide's patch features (atomically).

    Parameters
    ----------
    path : str or Path
        Output ``.h5`` file.
    features : ndarray of shape (N, D)
        Stored as float32.
    coords : ndarray of shape (N, 2)
        Level-0 (x, y) of each patch's top-left corner, stored as int64.
    attrs : mapping, optional
        Attributes stored on the file and on both datasets (encoder, patch_size, ...).

    Returns
    -------
    Path

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "slide.h5")
    >>> _ = write_features(p, np.zeros((2, 4)), np.array([[0, 0], [256, 0]]), {"encoder": "x"})
    >>> read_features(p)[0].shape
    (2, 4)
    """
    h5py = _require("h5py", purpose="writing feature files")
    path = Path(path)
    feats = np.asarray(features, dtype=np.float32)
    xy = np.asarray(coords)
    if feats.ndim != 2:
        raise ValueError(f"features must have shape (N, D), got {feats.shape}")
    if xy.size == 0:
        xy = xy.reshape(0, 2)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(feats):
        raise ValueError(
            f"coords must have shape (N, 2) with N = {len(feats)} (the number of feature rows), "
            f"got {xy.shape}"
        )
    meta = {k: _attr_value(v) for k, v in dict(attrs or {}).items()}
    meta.setdefault("coxmt_version", FEATURE_FILE_VERSION)
    with _atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        fd = f.create_dataset("features", data=feats)
        cd = f.create_dataset("coords", data=xy.astype(np.int64))
        for obj in (f, fd, cd):
            for key, value in meta.items():
                obj.attrs[key] = value
    return path


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
        h5py = _require("h5py", purpose="reading feature files")
        with h5py.File(path, "r") as f:
            if "features" not in f or "coords" not in f:
                return None
            n, d = f["features"].shape
            if f["coords"].shape != (n, 2):
                return None
            info = _read_attrs(f)
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


def _squeeze(arr: np.ndarray) -> np.ndarray:
    # TRIDENT/CLAM batch outputs are sometimes saved as (1, N, D) or (1, N, 2).
    return arr[0] if arr.ndim == 3 and arr.shape[0] == 1 else arr


def _read_h5(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    h5py = _require("h5py", purpose="reading feature files")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file ({exc})") from exc
    with f:
        if "features" not in f:
            raise ValueError(
                f"{str(path)!r} has no 'features' dataset (found: {sorted(f.keys())}); "
                "give a CLAM/TRIDENT feature file (a coordinates-only patch file from "
                "'coxmt wsi patch' has no features: run 'coxmt wsi extract' first)"
            )
        feats = _squeeze(np.asarray(f["features"][()]))
        coords = _squeeze(np.asarray(f["coords"][()])) if "coords" in f else None
    return feats, coords


def _read_pt(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import torch

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
    elif suffix in (".h5", ".hdf5", ".he5"):
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


def write_patch_coords(path: str | Path, coords: np.ndarray, attrs: Mapping[str, Any]) -> Path:
    """Write patch coordinates as a CLAM-style ``patches/<slide>.h5`` (atomically).

    The ``coords`` dataset carries ``patch_size``, ``patch_level`` and the other
    attributes, as CLAM's patching step writes them.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "slide.h5")
    >>> _ = write_patch_coords(p, np.array([[0, 0]]), {"patch_size": 256, "patch_level": 0})
    >>> read_patch_coords(p)[0].tolist()
    [[0, 0]]
    """
    h5py = _require("h5py", purpose="writing patch files")
    path = Path(path)
    xy = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    meta = {k: _attr_value(v) for k, v in attrs.items()}
    meta.setdefault("coxmt_version", FEATURE_FILE_VERSION)
    with _atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("coords", data=xy)
        for obj in (f, ds):
            for key, value in meta.items():
                obj.attrs[key] = value
    return path


def read_patch_coords(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a patch-coordinate file (CLAM ``patches/*.h5`` or a coxmt patch/feature file).

    Returns
    -------
    coords : ndarray of shape (N, 2), int64
    attrs : dict
        Attributes of the ``coords`` dataset merged over the file's attributes.

    Examples
    --------
    >>> coords, attrs = read_patch_coords("patches/slide_1.h5")  # doctest: +SKIP
    """
    h5py = _require("h5py", purpose="reading patch files")
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"patch file {str(path)!r} does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError(f"{str(path)!r} is not a readable HDF5 file ({exc})") from exc
    with f:
        if "coords" not in f:
            raise ValueError(
                f"{str(path)!r} has no 'coords' dataset (found: {sorted(f.keys())}); "
                "give a patch file written by 'coxmt wsi patch' or CLAM's create_patches"
            )
        coords = np.asarray(f["coords"][()]).astype(np.int64).reshape(-1, 2)
        attrs = _read_attrs(f)
        attrs.update(_read_attrs(f["coords"]))
    return coords, attrs
