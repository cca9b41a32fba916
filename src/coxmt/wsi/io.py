"""Patch-coordinate and feature files, compatible with CLAM and TRIDENT.

A feature file is one HDF5 file per slide with the datasets ``features``
(N, D) float32 and ``coords`` (N, 2) integer level-0 pixel positions (top-left
corners), plus attributes (encoder, patch size, magnification, mpp). Files are
written to a temporary name in the same folder and renamed, so a file that
exists is complete. Reading feature files lives one layer down, in
:mod:`coxmt.data._features` (the slide models read them too); it is
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coxmt._atomic import atomic_path
from coxmt.data._features import feature_file_info, open_h5, read_attrs, read_features
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


def _attr_value(value: Any) -> Any:
    if value is None:
        return "none"
    if isinstance(value, Path):
        return str(value)
    return value


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
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        fd = f.create_dataset("features", data=feats)
        cd = f.create_dataset("coords", data=xy.astype(np.int64))
        for obj in (f, fd, cd):
            for key, value in meta.items():
                obj.attrs[key] = value
    return path


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
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
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
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"patch file {str(path)!r} does not exist")
    with open_h5(path, purpose="reading patch files") as f:
        if "coords" not in f:
            raise ValueError(
                f"{str(path)!r} has no 'coords' dataset (found: {sorted(f.keys())}); "
                "give a patch file written by 'coxmt wsi patch' or CLAM's create_patches"
            )
        coords = np.asarray(f["coords"][()]).astype(np.int64).reshape(-1, 2)
        attrs = read_attrs(f)
        attrs.update(read_attrs(f["coords"]))
    return coords, attrs
