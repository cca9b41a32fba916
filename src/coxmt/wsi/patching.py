"""A patch grid over tissue, with background patches rejected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from coxmt.wsi.io import read_patch_coords, write_patch_coords
from coxmt.wsi.slide import LevelChoice, Slide, select_level
from coxmt.wsi.tissue import TissueMask

__all__ = ["PatchGrid", "grid_patches", "load_patch_grid"]


@dataclass(frozen=True)
class PatchGrid:
    """Patch positions on one slide and how to read them.

    Attributes
    ----------
    coords : ndarray of shape (N, 2), int64
        Top-left corners (x, y) in level-0 pixels.
    level : LevelChoice
        Pyramid level, read size and sizes in level-0 pixels.
    tissue_fractions : ndarray of shape (N,)
        Fraction of tissue inside each patch.
    tissue_threshold : float
        Minimum fraction a patch needed to be kept.
    slide_id : str
        Slide name (file name without extension).
    """

    coords: np.ndarray
    level: LevelChoice
    tissue_fractions: np.ndarray
    tissue_threshold: float
    slide_id: str

    def __len__(self) -> int:
        return len(self.coords)

    def attrs(self) -> dict[str, Any]:
        """Attributes stored with the coordinates (CLAM's and TRIDENT's names included)."""
        lv = self.level
        return {
            "patch_size": lv.patch_size,
            "patch_level": lv.level,
            "read_size": lv.read_size,
            "downsample": lv.level_downsample,
            "patch_size_level0": lv.patch_size_level0,
            "magnification": lv.magnification,
            "target_magnification": lv.magnification,
            "mpp": lv.mpp,
            "slide_mpp": lv.slide_mpp,
            "tissue_threshold": self.tissue_threshold,
            "slide_id": self.slide_id,
        }

    def save(self, path: str | Path) -> Path:
        """Write the coordinates as a CLAM-style patch ``.h5`` file (atomically).

        Examples
        --------
        >>> grid.save("patches/slide_1.h5")  # doctest: +SKIP
        """
        return write_patch_coords(path, self.coords, self.attrs())


def grid_patches(
    slide: Slide,
    tissue: TissueMask,
    *,
    magnification: float = 20.0,
    patch_size: int = 256,
    stride: int | None = None,
    tissue_threshold: float = 0.5,
) -> PatchGrid:
    """Lay a regular grid of patches over a slide and keep those on tissue.

    Parameters
    ----------
    slide : Slide
        An open slide with known mpp.
    tissue : TissueMask
        From :func:`coxmt.wsi.segment_slide`.
    magnification : float, default 20
        Target magnification of the patches.
    patch_size : int, default 256
        Patch side in pixels at that magnification.
    stride : int, optional
        Step between patches in pixels at that magnification (default: ``patch_size``,
        no overlap).
    tissue_threshold : float, default 0.5
        A patch is kept when at least this fraction of it is tissue in the mask.

    Returns
    -------
    PatchGrid
        Patches lie wholly inside the slide; the grid starts at (0, 0).

    Examples
    --------
    >>> from coxmt.wsi import open_slide, segment_slide
    >>> with open_slide("slide.svs") as slide:  # doctest: +SKIP
    ...     grid = grid_patches(slide, segment_slide(slide), magnification=20)
    """
    if not 0.0 <= tissue_threshold <= 1.0:
        raise ValueError(f"tissue_threshold must be in [0, 1], got {tissue_threshold!r}")
    choice = select_level(slide, magnification=magnification, patch_size=patch_size)
    step = (
        choice.patch_size_level0
        if stride is None
        else round(int(stride) * choice.patch_size_level0 / choice.patch_size)
    )
    if step < 1:
        raise ValueError(f"stride must be a positive number of pixels, got {stride!r}")
    width, height = slide.dimensions
    size0 = choice.patch_size_level0
    xs = np.arange(0, width - size0 + 1, step, dtype=np.int64)
    ys = np.arange(0, height - size0 + 1, step, dtype=np.int64)
    gx, gy = np.meshgrid(xs, ys)
    coords = np.stack([gx.ravel(), gy.ravel()], axis=1).reshape(-1, 2)
    fractions = tissue.box_fractions(coords, size0) if len(coords) else np.zeros(0)
    keep = fractions >= tissue_threshold if tissue_threshold > 0 else fractions > 0
    return PatchGrid(
        coords=coords[keep],
        level=choice,
        tissue_fractions=fractions[keep],
        tissue_threshold=float(tissue_threshold),
        slide_id=slide.slide_id,
    )


def load_patch_grid(path: str | Path, slide: Slide) -> PatchGrid:
    """Read patch coordinates (coxmt or CLAM ``patches/*.h5``) and pair them with a slide.

    The read level and size are taken from the file's attributes when present,
    otherwise from CLAM's ``patch_level``/``patch_size``.

    Examples
    --------
    >>> grid = load_patch_grid("patches/slide_1.h5", slide)  # doctest: +SKIP
    """
    coords, attrs = read_patch_coords(path)
    if "patch_size" not in attrs:
        raise ValueError(
            f"{str(path)!r} lacks the attribute 'patch_size' on its 'coords' dataset; "
            "write patch files with 'coxmt wsi patch', CLAM or TRIDENT"
        )
    patch_size = int(attrs["patch_size"])
    if "patch_level" in attrs:
        level = int(attrs["patch_level"])
    elif "patch_size_level0" in attrs:
        # TRIDENT stores the level-0 extent only: read from the best level for it.
        level = slide._best_level(float(attrs["patch_size_level0"]) / patch_size)
    else:
        raise ValueError(
            f"{str(path)!r} has neither 'patch_level' nor 'patch_size_level0' attributes; "
            "cannot tell at which resolution its patches were laid"
        )
    if not 0 <= level < slide.level_count:
        raise ValueError(
            f"{str(path)!r} reads from level {level} but slide {slide.path.name!r} has "
            f"{slide.level_count} levels; was it made for another slide?"
        )
    level_ds = slide.level_downsamples[level]
    if "read_size" in attrs:
        read_size = int(attrs["read_size"])
    elif "patch_size_level0" in attrs:
        read_size = round(float(attrs["patch_size_level0"]) / level_ds)
    else:
        read_size = patch_size
    mpp = slide.mpp if slide.mpp is not None else float("nan")
    choice = LevelChoice(
        level=level,
        level_downsample=level_ds,
        read_size=read_size,
        patch_size=patch_size,
        patch_size_level0=int(attrs.get("patch_size_level0", round(read_size * level_ds))),
        magnification=float(attrs.get("magnification", float("nan"))),
        mpp=float(attrs.get("mpp", mpp * level_ds * read_size / patch_size)),
        slide_mpp=float(attrs.get("slide_mpp", mpp)),
    )
    return PatchGrid(
        coords=coords,
        level=choice,
        tissue_fractions=np.full(len(coords), np.nan),
        tissue_threshold=float(attrs.get("tissue_threshold", float("nan"))),
        slide_id=slide.slide_id,
    )
