"""Tissue segmentation and the patch grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from coxmt.wsi import (
    grid_patches,
    load_patch_grid,
    open_slide,
    otsu_threshold,
    segment_slide,
    segment_tissue,
)

from ._synth import ground_truth


def test_otsu_matches_scikit_image() -> None:
    filters = pytest.importorskip("skimage.filters")
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(30, 8, 3000), rng.normal(140, 20, 1000)])
    values = np.clip(np.round(values), 0, 255).astype(np.uint8)
    # skimage returns the upper edge of the last background bin (same split of the data)
    ours = otsu_threshold(values)
    theirs = filters.threshold_otsu(values)
    assert np.array_equal(values > ours, values > theirs)


def test_segment_tissue_fills_holes_and_drops_specks() -> None:
    img = np.full((100, 100, 3), 240, np.uint8)
    img[20:80, 20:80] = (180, 90, 160)
    img[48:52, 48:52] = 240  # small hole, filled
    img[30:60, 30:36] = 240  # large hole, kept
    img[5:7, 90:92] = (180, 90, 160)  # speck, removed
    mask, thr = segment_tissue(img, median_size=1, min_object_pixels=20, max_hole_pixels=30)
    assert thr >= 15
    assert mask[50, 50]
    assert not mask[45, 33]
    assert not mask[5:7, 90:92].any()


def test_white_image_has_no_tissue() -> None:
    rng = np.random.default_rng(0)
    img = (245 + rng.integers(-4, 5, (64, 64, 3))).astype(np.uint8)
    mask, _ = segment_tissue(img)
    assert not mask.any()


def test_segment_tissue_rejects_bad_shape() -> None:
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        segment_tissue(np.zeros((10, 10)))


def test_slide_mask_matches_ground_truth(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        tissue = segment_slide(slide)
    h, w = tissue.mask.shape
    ys, xs = np.mgrid[0:h, 0:w]
    truth = ground_truth((xs + 0.5) * tissue.scale[0], (ys + 0.5) * tissue.scale[1]) >= 0
    iou = (tissue.mask & truth).sum() / (tissue.mask | truth).sum()
    assert iou > 0.9


def test_patches_lie_on_tissue_and_skip_background(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        grid = grid_patches(slide, segment_slide(slide), tissue_threshold=0.5)
    assert len(grid) >= 8
    assert grid.coords.dtype == np.int64
    assert np.all(grid.coords % 256 == 0)
    assert np.all(grid.tissue_fractions >= 0.5)
    # every patch: a good part of its true area is tissue
    for x, y in grid.coords:
        ys, xs = np.mgrid[y : y + 256 : 16, x : x + 256 : 16]
        assert (ground_truth(xs, ys) >= 0).mean() > 0.3
    # the background quadrant has no patches
    assert not np.any((grid.coords[:, 0] >= 1100) & (grid.coords[:, 1] >= 1100))


def test_threshold_controls_background_rejection(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        tissue = segment_slide(slide)
        loose = grid_patches(slide, tissue, tissue_threshold=0.0)
        strict = grid_patches(slide, tissue, tissue_threshold=0.95)
        with pytest.raises(ValueError, match=r"tissue_threshold must be in \[0, 1\]"):
            grid_patches(slide, tissue, tissue_threshold=2)
    assert len(strict) < len(loose)
    assert set(map(tuple, strict.coords)) <= set(map(tuple, loose.coords))


def test_magnification_and_stride_change_the_grid(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        tissue = segment_slide(slide)
        base = grid_patches(slide, tissue)
        g10 = grid_patches(slide, tissue, magnification=10)
        overlap = grid_patches(slide, tissue, stride=128)
    assert g10.level.level == 1
    assert g10.level.patch_size_level0 == 512
    assert np.all(g10.coords % 512 == 0)
    assert len(g10) < len(base)
    assert len(overlap) > 3 * len(base)


def test_patch_file_roundtrip(tmp_path: Path, slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        grid = grid_patches(slide, segment_slide(slide), magnification=10)
        path = grid.save(tmp_path / "tissue_slide.h5")
        again = load_patch_grid(path, slide)
    assert np.array_equal(again.coords, grid.coords)
    assert again.level == grid.level


def test_clam_style_patch_file(tmp_path: Path, slide_path: Path) -> None:
    from coxmt.wsi import write_patch_coords

    path = write_patch_coords(
        tmp_path / "clam.h5",
        np.array([[512, 512], [1024, 256]]),
        {"patch_size": 256, "patch_level": 1},
    )
    with open_slide(slide_path) as slide:
        grid = load_patch_grid(path, slide)
    assert (grid.level.level, grid.level.read_size, grid.level.patch_size_level0) == (1, 256, 512)


def test_mask_png(tmp_path: Path, slide_path: Path) -> None:
    from PIL import Image

    with open_slide(slide_path) as slide:
        tissue = segment_slide(slide)
    png = tissue.save_png(tmp_path / "mask.png")
    back = np.asarray(Image.open(png)) > 0
    assert np.array_equal(back, tissue.mask)
    assert not list(tmp_path.glob("*.tmp"))
