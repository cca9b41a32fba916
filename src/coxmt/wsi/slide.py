"""Reading whole-slide images: OpenSlide first, tiffslide for plain tiled TIFFs.

A :class:`Slide` gives the pyramid geometry, the microns per pixel (mpp) of
level 0, RGB regions as ``uint8`` arrays and downsampled overviews.
:func:`select_level` turns a target magnification (20x = 0.5 mpp, 40x = 0.25
mpp) into the pyramid level to read and the region size to read there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np

from coxmt.wsi._deps import _require

__all__ = [
    "SLIDE_EXTENSIONS",
    "LevelChoice",
    "Slide",
    "magnification_to_mpp",
    "open_slide",
    "select_level",
]

#: File name endings treated as slides when a folder is given.
SLIDE_EXTENSIONS = (
    ".svs", ".tif", ".tiff", ".ndpi", ".mrxs", ".scn", ".vms", ".vmu",
    ".bif", ".svslide", ".czi", ".dcm",
)  # fmt: skip

#: A target level counts as an exact pyramid level within this relative tolerance.
_LEVEL_TOLERANCE = 0.05
_CHUNK = 4096


def magnification_to_mpp(magnification: float) -> float:
    """Microns per pixel of an objective magnification (10 / magnification).

    Examples
    --------
    >>> magnification_to_mpp(20), magnification_to_mpp(40)
    (0.5, 0.25)
    """
    if not magnification > 0:
        raise ValueError(f"magnification must be positive, got {magnification!r}")
    return 10.0 / float(magnification)


@dataclass(frozen=True)
class LevelChoice:
    """Where and how to read patches of ``patch_size`` pixels at a target magnification.

    Attributes
    ----------
    level : int
        Pyramid level to read from.
    level_downsample : float
        Downsample of that level relative to level 0.
    read_size : int
        Side in pixels of the region read at ``level``; it is resized to
        ``patch_size`` when the two differ.
    patch_size : int
        Side of the patch delivered to the encoder, in pixels at the target magnification.
    patch_size_level0 : int
        Side of one patch in level-0 pixels (the coordinate system of ``coords``).
    magnification : float
        Target magnification.
    mpp : float
        Effective microns per pixel of the delivered patches.
    slide_mpp : float
        Microns per pixel of level 0.
    """

    level: int
    level_downsample: float
    read_size: int
    patch_size: int
    patch_size_level0: int
    magnification: float
    mpp: float
    slide_mpp: float


class Slide:
    """An open whole-slide image; use it as a context manager so the file is closed.

    Build it with :func:`open_slide`.

    Attributes
    ----------
    path : Path
        The slide file.
    backend : {"openslide", "tiffslide"}
        The library that reads it.
    level_dimensions : tuple of (width, height)
        Size of each pyramid level.
    level_downsamples : tuple of float
        Downsample of each level relative to level 0.
    mpp : float or None
        Microns per pixel of level 0 (None when the file does not say and none was given).
    """

    def __init__(
        self,
        handle: Any,
        path: Path,
        backend: Literal["openslide", "tiffslide"],
        mpp: float | None,
    ) -> None:
        self._handle = handle
        self.path = path
        self.backend = backend
        self.level_dimensions: tuple[tuple[int, int], ...] = tuple(
            (int(w), int(h)) for w, h in handle.level_dimensions
        )
        self.level_downsamples: tuple[float, ...] = tuple(
            float(d) for d in handle.level_downsamples
        )
        self.mpp = mpp

    @property
    def dimensions(self) -> tuple[int, int]:
        """Width and height of level 0 in pixels."""
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        """Number of pyramid levels."""
        return len(self.level_dimensions)

    @property
    def slide_id(self) -> str:
        """The file name without its extension."""
        return _slide_id(self.path)

    def require_mpp(self) -> float:
        """Return :attr:`mpp` or raise a ValueError that says how to provide it."""
        if self.mpp is None:
            raise ValueError(
                f"slide {str(self.path)!r} does not record its resolution (microns per pixel), "
                "so the magnification cannot be chosen; pass the scan resolution yourself "
                "(mpp=0.25 for a 40x scan, 0.5 for 20x; CLI option --mpp)"
            )
        return self.mpp

    def read_region(
        self, location: tuple[int, int], level: int, size: tuple[int, int]
    ) -> np.ndarray:
        """Read an RGB region.

        Parameters
        ----------
        location : (x, y)
            Top-left corner in level-0 pixels.
        level : int
            Pyramid level to read from.
        size : (width, height)
            Region size in pixels at ``level``.

        Returns
        -------
        ndarray of shape (height, width, 3), uint8
            Transparent pixels (outside the scanned area) are white.

        Examples
        --------
        >>> with open_slide("slide.svs") as slide:  # doctest: +SKIP
        ...     region = slide.read_region((0, 0), 0, (256, 256))
        """
        x, y = (int(v) for v in location)
        w, h = (int(v) for v in size)
        if self.backend == "tiffslide":
            arr = np.asarray(self._handle.read_region((x, y), level, (w, h), as_array=True))
        else:
            arr = np.asarray(self._handle.read_region((x, y), level, (w, h)))
        return _to_rgb(arr)

    def read_overview(self, downsample: float) -> tuple[np.ndarray, tuple[float, float]]:
        """Read the whole slide at roughly ``downsample`` times below level 0.

        The best pyramid level is read in chunks and shrunk, so memory stays
        bounded even for slides without a pyramid.

        Returns
        -------
        image : ndarray of shape (H, W, 3), uint8
        scale : (sx, sy)
            Level-0 pixels per overview pixel along x and y.
        """
        Image = _require("PIL.Image", purpose="reading slide overviews")
        downsample = max(float(downsample), 1.0)
        level = self._best_level(downsample)
        lw, lh = self.level_dimensions[level]
        factor = downsample / self.level_downsamples[level]
        out_w, out_h = max(1, round(lw / factor)), max(1, round(lh / factor))
        out = np.empty((out_h, out_w, 3), np.uint8)
        ds = self.level_downsamples[level]
        for y0 in range(0, lh, _CHUNK):
            for x0 in range(0, lw, _CHUNK):
                cw, ch = min(_CHUNK, lw - x0), min(_CHUNK, lh - y0)
                ox0, oy0 = round(x0 * out_w / lw), round(y0 * out_h / lh)
                ox1, oy1 = round((x0 + cw) * out_w / lw), round((y0 + ch) * out_h / lh)
                if ox1 <= ox0 or oy1 <= oy0:
                    continue
                chunk = self.read_region((round(x0 * ds), round(y0 * ds)), level, (cw, ch))
                if (ox1 - ox0, oy1 - oy0) != (cw, ch):
                    chunk = np.asarray(
                        Image.fromarray(chunk).resize((ox1 - ox0, oy1 - oy0), Image.Resampling.BOX)
                    )
                out[oy0:oy1, ox0:ox1] = chunk
        w0, h0 = self.dimensions
        return out, (w0 / out_w, h0 / out_h)

    def _best_level(self, downsample: float) -> int:
        ok = [i for i, d in enumerate(self.level_downsamples) if d <= downsample * (1 + 1e-6)]
        return max(ok, key=lambda i: self.level_downsamples[i]) if ok else 0

    def close(self) -> None:
        """Close the underlying file."""
        self._handle.close()

    def __enter__(self) -> Slide:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Slide({self.path.name!r}, backend={self.backend!r}, dimensions={self.dimensions}, "
            f"levels={self.level_count}, mpp={self.mpp})"
        )


def _slide_id(path: Path) -> str:
    name = path.name
    for suffix in (".ome.tiff", ".ome.tif"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _to_rgb(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        return np.ascontiguousarray(np.round(rgb).astype(np.uint8))
    return np.ascontiguousarray(arr[:, :, :3].astype(np.uint8, copy=False))


def _openslide_mpp(props: Any) -> float | None:
    for key in ("openslide.mpp-x", "tiffslide.mpp-x", "aperio.MPP"):
        value = props.get(key)
        if value not in (None, ""):
            try:
                mpp = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(mpp) and mpp > 0:
                return mpp
    return None


def open_slide(
    path: str | Path,
    *,
    backend: Literal["auto", "openslide", "tiffslide"] = "auto",
    mpp: float | None = None,
) -> Slide:
    """Open a whole-slide image.

    Parameters
    ----------
    path : str or Path
        Slide file (``.svs``, ``.ndpi``, ``.mrxs``, tiled ``.tif`` ...).
    backend : {"auto", "openslide", "tiffslide"}
        ``"auto"`` tries OpenSlide and falls back to tiffslide for tiled TIFFs
        OpenSlide does not read (or when OpenSlide is not installed).
    mpp : float, optional
        Microns per pixel of level 0; overrides the value stored in the file
        (needed when the file does not record it).

    Returns
    -------
    Slide

    Raises
    ------
    ValueError
        When the file does not exist or no backend can read it as a slide.

    Examples
    --------
    >>> with open_slide("slide.svs") as slide:  # doctest: +SKIP
    ...     print(slide.dimensions, slide.mpp)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"slide file {str(path)!r} does not exist")
    if mpp is not None and not (math.isfinite(mpp) and mpp > 0):
        raise ValueError(f"mpp must be a positive number of microns per pixel, got {mpp!r}")
    if backend not in ("auto", "openslide", "tiffslide"):
        raise ValueError(f"backend must be 'auto', 'openslide' or 'tiffslide', got {backend!r}")
    names: tuple[Literal["openslide", "tiffslide"], ...] = (
        ("openslide", "tiffslide") if backend == "auto" else (backend,)
    )
    tried: list[str] = []
    missing: list[ImportError] = []
    for name in names:
        try:
            module = _require(name, purpose=f"reading slides with {name}")
        except ImportError as exc:
            if backend != "auto":
                raise
            missing.append(exc)
            continue
        try:
            handle = (
                module.OpenSlide(str(path)) if name == "openslide" else module.TiffSlide(str(path))
            )
        except Exception as exc:
            tried.append(f"{name}: {exc}")
            continue
        found = _openslide_mpp(handle.properties)
        return Slide(handle, path, name, mpp if mpp is not None else found)
    if not tried:  # neither library could be imported
        raise ImportError(
            "reading slides needs openslide-python (with openslide-bin) or tiffslide, and "
            f"neither loads ({'; '.join(str(e) for e in missing)})"
        )
    raise ValueError(
        f"{str(path)!r} is not a readable whole-slide image ({'; '.join(tried)}); "
        "give a slide file that OpenSlide or tiffslide can open (.svs, .ndpi, .mrxs, tiled .tif)"
    )


def select_level(
    slide: Slide,
    *,
    magnification: float = 20.0,
    patch_size: int = 256,
) -> LevelChoice:
    """Choose the pyramid level and read size for patches at a target magnification.

    The lowest-resolution level that is still at least as fine as the target is
    read; when no level matches the target (within 5%), a larger region is read
    there and resized to ``patch_size``.

    Parameters
    ----------
    slide : Slide
        An open slide with a known :attr:`Slide.mpp`.
    magnification : float, default 20
        Target objective magnification (20x = 0.5 mpp, 40x = 0.25 mpp).
    patch_size : int, default 256
        Patch side in pixels at the target magnification.

    Returns
    -------
    LevelChoice

    Raises
    ------
    ValueError
        When the slide's mpp is unknown, or the target is finer than the scan.

    Examples
    --------
    >>> with open_slide("slide.svs") as slide:  # doctest: +SKIP
    ...     choice = select_level(slide, magnification=20)
    ...     choice.level, choice.read_size, choice.patch_size_level0
    """
    if int(patch_size) < 1:
        raise ValueError(f"patch_size must be a positive number of pixels, got {patch_size!r}")
    base_mpp = slide.require_mpp()
    target_mpp = magnification_to_mpp(magnification)
    target_ds = target_mpp / base_mpp
    if target_ds < 1 - _LEVEL_TOLERANCE:
        raise ValueError(
            f"slide {slide.path.name!r} is scanned at {base_mpp:.3g} microns per pixel "
            f"(about {10 / base_mpp:.3g}x); {magnification:g}x ({target_mpp:.3g} mpp) would need "
            f"upsampling; choose a magnification of at most {10 / base_mpp:.3g}x, or pass the "
            "correct mpp if the file's value is wrong"
        )
    target_ds = max(target_ds, 1.0)
    level = slide._best_level(target_ds * (1 + _LEVEL_TOLERANCE))
    level_ds = slide.level_downsamples[level]
    ratio = target_ds / level_ds
    read_size = int(patch_size) if abs(ratio - 1) <= _LEVEL_TOLERANCE else round(patch_size * ratio)
    effective_ds = level_ds * read_size / int(patch_size)
    return LevelChoice(
        level=level,
        level_downsample=level_ds,
        read_size=int(read_size),
        patch_size=int(patch_size),
        patch_size_level0=round(read_size * level_ds),
        magnification=float(magnification),
        mpp=base_mpp * effective_ds,
        slide_mpp=base_mpp,
    )
