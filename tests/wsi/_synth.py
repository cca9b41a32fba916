"""Synthetic whole-slide images for the tests: textured tissue blobs on white."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BLOBS", "MPP", "SIZE", "Blob", "ground_truth", "write_slide"]


@dataclass(frozen=True)
class Blob:
    """An elliptic piece of tissue in level-0 pixels."""

    cx: float
    cy: float
    rx: float
    ry: float
    color: tuple[int, int, int]

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ((x - self.cx) / self.rx) ** 2 + ((y - self.cy) / self.ry) ** 2 < 1


#: tumour-like purple, stroma-like pink, mixed; the bottom-right quadrant is background.
BLOBS = (
    Blob(600, 600, 380, 300, (125, 60, 165)),
    Blob(1450, 500, 300, 260, (235, 150, 195)),
    Blob(560, 1500, 260, 210, (235, 150, 195)),
)
SIZE = 2048
MPP = 0.5


def ground_truth(x: np.ndarray, y: np.ndarray, blobs: tuple[Blob, ...] = BLOBS) -> np.ndarray:
    """Index of the blob at level-0 positions (x, y), -1 for background."""
    out = np.full(np.broadcast(x, y).shape, -1)
    for i, b in enumerate(blobs):
        out[b.contains(x, y)] = i
    return out


def write_slide(
    path: Path,
    *,
    size: int = SIZE,
    mpp: float | None = MPP,
    levels: int = 3,
    blobs: tuple[Blob, ...] = BLOBS,
    seed: int = 0,
) -> Path:
    """A tiled pyramidal RGB TIFF with textured tissue blobs on white, mpp in resolution tags."""
    import tifffile

    rng = np.random.default_rng(seed)
    scale = size / SIZE
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / scale
    img = np.full((size, size, 3), 243, np.int16)
    img += rng.integers(-3, 4, (size, size, 1), dtype=np.int16)
    for b in blobs:
        inside = b.contains(xx, yy)
        n = int(inside.sum())
        img[inside] = np.asarray(b.color, np.int16) + rng.integers(-25, 26, (n, 3), dtype=np.int16)
        # nuclei-like dark speckles
        dots = inside & (rng.random((size, size)) < 0.02)
        img[dots] = (70, 30, 110)
    img8 = img.clip(0, 255).astype(np.uint8)
    kwargs = {}
    with tifffile.TiffWriter(path) as tw:
        for lvl in range(levels):
            d = 2**lvl
            if mpp is not None:
                res = 1e4 / (mpp * d)
                kwargs = {"resolution": (res, res), "resolutionunit": "CENTIMETER"}
            tw.write(
                img8[::d, ::d],
                tile=(256, 256),
                photometric="rgb",
                compression="zlib",
                subfiletype=0 if lvl == 0 else 1,
                **kwargs,
            )
    return path
