"""Tissue segmentation on a slide overview.

The classic recipe (as in CLAM): HSV saturation channel, median blur, Otsu
threshold (with a floor so a blank slide stays blank), then hole filling and
removal of small objects. Only numpy and scipy.ndimage are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from coxmt._atomic import atomic_path
from coxmt.wsi._deps import _require
from coxmt.wsi.slide import Slide

__all__ = ["TissueMask", "otsu_threshold", "segment_slide", "segment_tissue"]


@dataclass(frozen=True)
class TissueMask:
    """A boolean tissue mask over a slide overview.

    Attributes
    ----------
    mask : ndarray of shape (H, W), bool
        True where there is tissue.
    scale : (sx, sy)
        Level-0 pixels per mask pixel along x and y.
    threshold : float
        Saturation threshold used (0-255).
    """

    mask: np.ndarray
    scale: tuple[float, float]
    threshold: float

    @property
    def tissue_fraction(self) -> float:
        """Fraction of the overview covered by tissue."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    def box_fractions(self, coords: np.ndarray, size_level0: float) -> np.ndarray:
        """Fraction of tissue inside square boxes given in level-0 pixels.

        Parameters
        ----------
        coords : ndarray of shape (N, 2)
            Top-left corners (x, y) in level-0 pixels.
        size_level0 : float
            Box side in level-0 pixels.

        Returns
        -------
        ndarray of shape (N,), float64 in [0, 1]
        """
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
        h, w = self.mask.shape
        sat = np.zeros((h + 1, w + 1), np.int64)
        sat[1:, 1:] = self.mask.astype(np.int64).cumsum(0).cumsum(1)
        sx, sy = self.scale
        x0 = np.clip(np.floor(coords[:, 0] / sx + 0.5), 0, w).astype(np.int64)
        y0 = np.clip(np.floor(coords[:, 1] / sy + 0.5), 0, h).astype(np.int64)
        x1 = np.clip(np.floor((coords[:, 0] + size_level0) / sx + 0.5), 0, w).astype(np.int64)
        y1 = np.clip(np.floor((coords[:, 1] + size_level0) / sy + 0.5), 0, h).astype(np.int64)
        # A box smaller than one mask pixel still covers the pixel it falls in.
        x1 = np.maximum(x1, np.minimum(x0 + 1, w))
        y1 = np.maximum(y1, np.minimum(y0 + 1, h))
        area = (x1 - x0) * (y1 - y0)
        inside = sat[y1, x1] - sat[y0, x1] - sat[y1, x0] + sat[y0, x0]
        out = np.zeros(len(coords))
        ok = area > 0
        out[ok] = inside[ok] / area[ok]
        return out

    def save_png(self, path: str | Path) -> Path:
        """Write the mask as a black/white PNG (atomically) and return its path."""
        Image = _require("PIL.Image", purpose="writing tissue masks")
        path = Path(path)
        with atomic_path(path) as tmp:
            Image.fromarray(self.mask.astype(np.uint8) * 255).save(tmp, format="PNG")
        return path


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of ``uint8``-range values (256-bin histogram).

    Examples
    --------
    >>> import numpy as np
    >>> otsu_threshold(np.array([10] * 50 + [200] * 50))
    10.0
    """
    values = np.asarray(values).ravel()
    if values.size == 0:
        return 0.0
    hist = np.bincount(np.clip(values, 0, 255).astype(np.int64), minlength=256).astype(np.float64)
    centers = np.arange(256, dtype=np.float64)
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers)
    mean0 = np.divide(m0, w0, out=np.zeros(256), where=w0 > 0)
    mean1 = np.divide(m0[-1] - m0, w1, out=np.zeros(256), where=w1 > 0)
    between = w0 * w1 * (mean0 - mean1) ** 2
    if not np.any(between > 0):
        return float(values.min())
    return float(np.argmax(between))


def _saturation(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.int16)
    mx = rgb.max(axis=2)
    mn = rgb.min(axis=2)
    sat = np.zeros(mx.shape, np.float32)
    np.divide((mx - mn).astype(np.float32) * 255.0, mx, out=sat, where=mx > 0)
    return np.round(sat).astype(np.uint8)


def segment_tissue(
    image: np.ndarray,
    *,
    median_size: int = 7,
    threshold: float | None = None,
    min_threshold: float = 15.0,
    min_object_pixels: int = 16,
    max_hole_pixels: int = 16,
) -> tuple[np.ndarray, float]:
    """Segment tissue in an RGB overview.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8
        RGB overview (white background).
    median_size : int, default 7
        Side of the median filter applied to the saturation channel.
    threshold : float, optional
        Saturation threshold (0-255); Otsu's threshold when None.
    min_threshold : float, default 15
        Floor on Otsu's threshold, so a blank or nearly blank overview gives no tissue.
    min_object_pixels : int, default 16
        Tissue pieces smaller than this (in overview pixels) are removed.
    max_hole_pixels : int, default 16
        Holes in tissue up to this size (in overview pixels) are filled.

    Returns
    -------
    mask : ndarray of shape (H, W), bool
    threshold : float
        The threshold used.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((64, 64, 3), 240, np.uint8)
    >>> img[16:48, 16:48] = (200, 110, 180)
    >>> mask, thr = segment_tissue(img)
    >>> bool(mask[32, 32]), bool(mask[2, 2])
    (True, False)
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] < 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    sat = _saturation(image[:, :, :3])
    if median_size > 1:
        sat = ndimage.median_filter(sat, size=int(median_size), mode="nearest")
    if threshold is None:
        threshold = max(otsu_threshold(sat), float(min_threshold))
    mask = sat > threshold
    if not mask.any():
        return mask, float(threshold)
    # fill small holes
    holes = ndimage.binary_fill_holes(mask) & ~mask
    if holes.any() and max_hole_pixels > 0:
        labels, n = ndimage.label(holes)
        sizes = np.bincount(labels.ravel(), minlength=n + 1)
        small = sizes <= max_hole_pixels
        small[0] = False
        mask = mask | small[labels]
    # remove small objects
    labels, n = ndimage.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    keep = sizes >= max(int(min_object_pixels), 1)
    keep[0] = False
    return keep[labels], float(threshold)


def segment_slide(
    slide: Slide,
    *,
    overview_mpp: float = 8.0,
    median_size: int = 7,
    threshold: float | None = None,
    min_threshold: float = 15.0,
    min_tissue_area: float = 0.01,
    max_hole_area: float = 0.01,
) -> TissueMask:
    """Segment tissue on an overview of a slide.

    Parameters
    ----------
    slide : Slide
        An open slide with known mpp.
    overview_mpp : float, default 8
        Resolution of the overview in microns per pixel (8 is about 1.25x).
    median_size, threshold, min_threshold
        See :func:`segment_tissue`.
    min_tissue_area : float, default 0.01
        Tissue pieces smaller than this many square millimetres are removed.
    max_hole_area : float, default 0.01
        Holes up to this many square millimetres are filled.

    Returns
    -------
    TissueMask

    Examples
    --------
    >>> from coxmt.wsi import open_slide
    >>> with open_slide("slide.svs") as slide:  # doctest: +SKIP
    ...     tissue = segment_slide(slide)
    ...     print(tissue.tissue_fraction)
    """
    mpp = slide.require_mpp()
    if not overview_mpp > 0:
        raise ValueError(f"overview_mpp must be positive, got {overview_mpp!r}")
    image, scale = slide.read_overview(overview_mpp / mpp)
    pixel_mm2 = (scale[0] * mpp / 1000.0) * (scale[1] * mpp / 1000.0)
    mask, thr = segment_tissue(
        image,
        median_size=median_size,
        threshold=threshold,
        min_threshold=min_threshold,
        min_object_pixels=round(min_tissue_area / pixel_mm2),
        max_hole_pixels=round(max_hole_area / pixel_mm2),
    )
    return TissueMask(mask=mask, scale=scale, threshold=thr)
