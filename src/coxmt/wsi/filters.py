"""Pluggable patch filters (e.g. tumour-region selection) applied to patch features.

A filter is anything with a ``name`` and ``select(features, coords) -> bool
mask`` (:class:`PatchFilter`). Filtering is off unless a filter is given.

* :class:`LogisticProbeFilter`: a logistic-regression probe on patch features,
  trained from annotated patch coordinates; saved as JSON + safetensors.
* :class:`CallableFilter`: wraps a user function or torch module that scores patches.
* :func:`load_patch_filter`: loads either, from a path or ``"module:attribute"``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from coxmt._atomic import atomic_path
from coxmt._validation import check_features, format_rows
from coxmt.data._features import feature_file_info, read_features

__all__ = [
    "CallableFilter",
    "LogisticProbeFilter",
    "PatchFilter",
    "apply_patch_filter",
    "load_patch_filter",
]

_TUMOR = {"tumor", "tumour", "1", "true", "yes", "positive", "cancer"}
_NON_TUMOR = {
    "non-tumor", "non_tumor", "nontumor", "non-tumour", "non_tumour", "nontumour",
    "normal", "0", "false", "no", "negative", "other", "benign", "stroma",
}  # fmt: skip


@runtime_checkable
class PatchFilter(Protocol):
    """Chooses which patches of a slide to keep from their features.

    Examples
    --------
    >>> import numpy as np
    >>> class KeepAll:
    ...     name = "keep-all"
    ...     def select(self, features, coords):
    ...         return np.ones(len(features), dtype=bool)
    >>> isinstance(KeepAll(), PatchFilter)
    True
    """

    name: str

    def select(self, features: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """Boolean mask of shape (N,): True for patches to keep."""
        ...


def apply_patch_filter(
    patch_filter: PatchFilter, features: np.ndarray, coords: np.ndarray
) -> np.ndarray:
    """Run a filter and check its answer; returns the boolean keep mask (N,).

    Examples
    --------
    >>> import numpy as np
    >>> f = CallableFilter(lambda x: x[:, 0], threshold=0.5)
    >>> apply_patch_filter(f, np.array([[0.9], [0.1]]), np.zeros((2, 2))).tolist()
    [True, False]
    """
    keep = np.asarray(patch_filter.select(features, coords))
    if keep.shape != (len(features),):
        raise ValueError(
            f"patch filter {getattr(patch_filter, 'name', patch_filter)!r} returned shape "
            f"{keep.shape}; it must return one boolean per patch, shape ({len(features)},)"
        )
    return keep.astype(bool)


class CallableFilter:
    """Wrap a scoring function or torch module as a :class:`PatchFilter`.

    Parameters
    ----------
    fn : callable
        Maps features (N, D) (a numpy array, or a float32 tensor for a
        ``torch.nn.Module``) to scores (N,) or a boolean mask (N,).
    threshold : float, default 0.5
        Patches with score >= threshold are kept (ignored for boolean output).
    name : str, optional
        Recorded in feature files.

    Examples
    --------
    >>> import numpy as np
    >>> f = CallableFilter(lambda x: x.mean(axis=1), threshold=0.0, name="mean>0")
    >>> f.select(np.array([[1.0, 1.0], [-1.0, -2.0]]), np.zeros((2, 2))).tolist()
    [True, False]
    """

    def __init__(
        self, fn: Callable[[Any], Any], *, threshold: float = 0.5, name: str | None = None
    ) -> None:
        self.fn = fn
        self.threshold = float(threshold)
        self.name = name or getattr(fn, "__name__", type(fn).__name__)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Raw output of the wrapped function, as a numpy array."""
        import torch

        if isinstance(self.fn, torch.nn.Module):
            param = next(self.fn.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
            with torch.inference_mode():
                out = self.fn(torch.as_tensor(features, dtype=torch.float32, device=device))
            return np.asarray(out.detach().float().cpu().numpy()).reshape(len(features), -1)[:, 0]
        out = self.fn(features)
        if isinstance(out, torch.Tensor):
            out = out.detach().cpu().numpy()
        return np.asarray(out)

    def select(self, features: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """Keep mask: boolean output as is, otherwise ``score >= threshold``."""
        out = self.scores(features)
        return out.astype(bool) if out.dtype == bool else out.reshape(-1) >= self.threshold


class LogisticProbeFilter:
    """Logistic-regression tumour probe on patch features.

    Parameters
    ----------
    threshold : float, default 0.5
        Patches with tumour probability >= threshold are kept.
    C : float, default 1.0
        Inverse L2 regularisation strength.
    class_weight : {"balanced", None}, default "balanced"
    max_iter : int, default 1000

    Attributes
    ----------
    coef_ : ndarray of shape (D,)
    intercept_ : float
    mean_, scale_ : ndarray of shape (D,)
        Feature standardisation fitted on the training patches.
    encoder_ : str or None
        Encoder of the features it was trained on.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(1, 1, (50, 4)), rng.normal(-1, 1, (50, 4))])
    >>> y = np.r_[np.ones(50), np.zeros(50)]
    >>> probe = LogisticProbeFilter().fit(X, y)
    >>> bool(probe.predict_proba(X[:1])[0] > 0.5)
    True
    """

    name = "logistic-probe"

    def __init__(
        self,
        threshold: float = 0.5,
        C: float = 1.0,
        class_weight: str | None = "balanced",
        max_iter: int = 1000,
    ) -> None:
        self.threshold = threshold
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(
        self, features: np.ndarray, labels: np.ndarray, *, encoder: str | None = None
    ) -> LogisticProbeFilter:
        """Fit on features (N, D) and labels (N,) with 1/True = tumour."""
        from sklearn.linear_model import LogisticRegression

        X = check_features(features, name="features")
        y = np.asarray(labels).astype(int).reshape(-1)
        if len(y) != len(X):
            raise ValueError(f"features have {len(X)} rows but labels have {len(y)}")
        if set(np.unique(y)) != {0, 1}:
            raise ValueError(
                "the probe needs both tumour (1) and non-tumour (0) patches; found labels "
                f"{sorted(set(np.unique(y).tolist()))}"
            )
        self.mean_ = X.mean(axis=0)
        scale = X.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter)
        lr.fit((X - self.mean_) / self.scale_, y)
        self.coef_ = lr.coef_.ravel().astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])
        self.encoder_ = encoder
        self.n_train_ = len(y)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ValueError("this LogisticProbeFilter is not fitted; call fit() or load() first")

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Tumour probability of each patch, shape (N,)."""
        self._check_fitted()
        X = np.asarray(features, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.coef_):
            raise ValueError(
                f"features have shape {X.shape} but the probe was trained on {len(self.coef_)}-"
                f"dimensional features (encoder {self.encoder_!r}); use features from that encoder"
            )
        z = ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_
        return 1.0 / (1.0 + np.exp(-z))

    def select(self, features: np.ndarray, coords: np.ndarray | None = None) -> np.ndarray:
        """Keep mask: tumour probability >= :attr:`threshold`."""
        return self.predict_proba(features) >= self.threshold

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``<path>.json`` (settings) and ``<path>.safetensors`` (weights); returns the JSON path.

        Examples
        --------
        >>> probe.save("tumor_probe.json")  # doctest: +SKIP
        """
        from safetensors.numpy import save_file

        self._check_fitted()
        json_path = Path(path).with_suffix(".json")
        weights_path = json_path.with_suffix(".safetensors")
        tensors = {
            "coef": self.coef_.astype(np.float64),
            "intercept": np.array([self.intercept_], dtype=np.float64),
            "mean": self.mean_.astype(np.float64),
            "scale": self.scale_.astype(np.float64),
        }
        with atomic_path(weights_path) as tmp:
            save_file(tensors, str(tmp))
        meta = {
            "type": "LogisticProbeFilter",
            "format_version": 1,
            "threshold": self.threshold,
            "C": self.C,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
            "feature_dim": len(self.coef_),
            "encoder": self.encoder_,
            "n_train": self.n_train_,
            "weights": weights_path.name,
        }
        with atomic_path(json_path) as tmp:
            tmp.write_text(json.dumps(meta, indent=2) + "\n")
        return json_path

    @classmethod
    def load(cls, path: str | Path) -> LogisticProbeFilter:
        """Read a probe written by :meth:`save` (no pickle involved).

        Examples
        --------
        >>> probe = LogisticProbeFilter.load("tumor_probe.json")  # doctest: +SKIP
        """
        from safetensors.numpy import load_file

        json_path = Path(path).with_suffix(".json")
        try:
            meta = json.loads(json_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"could not read probe settings {str(json_path)!r}: {exc}") from exc
        if meta.get("type") != "LogisticProbeFilter":
            raise ValueError(f"{str(json_path)!r} is not a saved LogisticProbeFilter")
        weights = load_file(str(json_path.parent / meta["weights"]))
        probe = cls(
            threshold=meta["threshold"],
            C=meta["C"],
            class_weight=meta["class_weight"],
            max_iter=meta["max_iter"],
        )
        probe.coef_ = weights["coef"]
        probe.intercept_ = float(weights["intercept"][0])
        probe.mean_ = weights["mean"]
        probe.scale_ = weights["scale"]
        probe.encoder_ = meta.get("encoder")
        probe.n_train_ = int(meta.get("n_train", 0))
        return probe

    @classmethod
    def from_annotations(
        cls, annotations: str | Path | pd.DataFrame, features_dir: str | Path, **params: Any
    ) -> LogisticProbeFilter:
        """Train from annotated patch positions and the slides' feature files.

        Parameters
        ----------
        annotations : path or DataFrame
            Columns ``slide_id``, ``x``, ``y`` (level-0 pixels; any point inside
            the patch, e.g. its top-left corner) and ``label`` (``tumor`` /
            ``non-tumor``, also 1/0).
        features_dir : path
            Folder with ``<slide_id>.h5`` feature files (or CLAM ``h5_files/``).
        **params
            Passed to the constructor (threshold, C, ...).

        Examples
        --------
        >>> probe = LogisticProbeFilter.from_annotations(  # doctest: +SKIP
        ...     "tumor_patches.csv", "features/")
        """
        X, y, encoder = _annotated_features(annotations, Path(features_dir))
        return cls(**params).fit(X, y, encoder=encoder)


def _parse_labels(labels: pd.Series) -> np.ndarray:
    text = labels.astype(str).str.strip().str.lower()
    tumor, non = text.isin(_TUMOR), text.isin(_NON_TUMOR)
    bad = np.flatnonzero(~(tumor | non).to_numpy())
    if len(bad):
        raise ValueError(
            f"label values {sorted(set(text.iloc[bad]))} at rows {format_rows(bad)} are not "
            "understood; use 'tumor' or 'non-tumor' (or 1 / 0)"
        )
    return tumor.to_numpy().astype(int)


def _feature_path(features_dir: Path, slide_id: str) -> Path | None:
    for candidate in (
        features_dir / f"{slide_id}.h5",
        features_dir / "h5_files" / f"{slide_id}.h5",
        features_dir / f"{slide_id}.pt",
        features_dir / "pt_files" / f"{slide_id}.pt",
    ):
        if candidate.is_file():
            return candidate
    return None


def _annotated_features(
    annotations: str | Path | pd.DataFrame, features_dir: Path
) -> tuple[np.ndarray, np.ndarray, str | None]:
    table = annotations if isinstance(annotations, pd.DataFrame) else pd.read_csv(annotations)
    table = table.reset_index(drop=True)
    missing = [c for c in ("slide_id", "x", "y", "label") if c not in table.columns]
    if missing:
        raise ValueError(
            f"annotations lack the columns {missing} (found {list(table.columns)}); "
            "give slide_id, x, y (level-0 pixels) and label (tumor / non-tumor)"
        )
    labels = _parse_labels(table["label"])
    rows: list[np.ndarray] = []
    order: list[np.ndarray] = []
    encoders: set[str] = set()
    unmatched: list[int] = []
    for slide_id, group in table.groupby(table["slide_id"].astype(str), sort=False):
        path = _feature_path(features_dir, str(slide_id))
        if path is None:
            raise ValueError(
                f"no feature file for slide {slide_id!r} (annotation rows "
                f"{format_rows(group.index.to_numpy())}) in {str(features_dir)!r}; run "
                "'coxmt wsi extract' on that slide first"
            )
        feats, coords = read_features(path)
        if coords is None:
            raise ValueError(f"{str(path)!r} has no coords; annotations cannot be matched")
        info = feature_file_info(path) or {}
        size0 = float(info.get("patch_size_level0", 1))
        if info.get("encoder"):
            encoders.add(str(info["encoder"]))
        pts = group[["x", "y"]].to_numpy(dtype=np.float64)
        match = np.full(len(pts), -1, dtype=np.int64)
        for start in range(0, len(pts), 256):  # bounded memory: 256 points x N patches
            p = pts[start : start + 256]
            inside = (
                (p[:, None, 0] >= coords[None, :, 0])
                & (p[:, None, 0] < coords[None, :, 0] + size0)
                & (p[:, None, 1] >= coords[None, :, 1])
                & (p[:, None, 1] < coords[None, :, 1] + size0)
            )
            match[start : start + 256] = np.where(inside.any(axis=1), inside.argmax(axis=1), -1)
        hit = match >= 0
        unmatched.extend(group.index.to_numpy()[~hit].tolist())
        rows.append(feats[match[hit]])
        order.append(group.index.to_numpy()[hit])
    if unmatched:
        raise ValueError(
            f"annotation rows {format_rows(sorted(unmatched))} fall in no extracted patch "
            "(background, or outside the slide); check x, y are level-0 pixels, or drop them"
        )
    if len(encoders) > 1:
        raise ValueError(f"feature files come from different encoders {sorted(encoders)}")
    idx = np.concatenate(order)
    return np.concatenate(rows), labels[idx], (encoders.pop() if encoders else None)


def load_patch_filter(spec: str | Path, *, threshold: float | None = None) -> PatchFilter:
    """Load a patch filter.

    Parameters
    ----------
    spec : str or Path
        * a ``.json`` file saved by :meth:`LogisticProbeFilter.save`;
        * a ``torch.export`` program (``.pt2``, saved with ``torch.export.save``) of a
          module mapping features (N, D) to scores (N,) or (N, 1); export it with a
          dynamic batch dimension;
        * ``"package.module:name"``: an object importable from your own code, either a
          :class:`PatchFilter` or a callable (wrapped in :class:`CallableFilter`).
          This imports and runs that code.
    threshold : float, optional
        Overrides the filter's threshold.

    Examples
    --------
    >>> f = load_patch_filter("tumor_probe.json")  # doctest: +SKIP
    """
    text = str(spec)
    path = Path(text)
    obj: Any
    if path.suffix == ".json":
        obj = LogisticProbeFilter.load(path)
    elif path.suffix == ".pt2" and path.is_file():
        import torch

        try:
            module = torch.export.load(str(path)).module()
        except Exception as exc:
            raise ValueError(f"could not load the exported model {text!r}: {exc}") from exc
        obj = CallableFilter(module, name=path.stem)
    elif ":" in text and not path.exists():
        module_name, _, attr = text.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"could not import patch filter {text!r}: {exc}") from exc
        if not isinstance(obj, PatchFilter):
            if not callable(obj):
                raise ValueError(f"{text!r} is neither a patch filter nor callable")
            obj = CallableFilter(obj, name=text)
    else:
        raise ValueError(
            f"cannot load a patch filter from {text!r}; give a probe .json, an exported .pt2 "
            "model, or 'module:attribute'"
        )
    if threshold is not None:
        obj.threshold = float(threshold)
    return obj
