"""Slide reading and pyramid-level choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coxmt.wsi import Slide, magnification_to_mpp, open_slide, select_level

from .conftest import HAS_OPENSLIDE, HAS_TIFFSLIDE

BACKENDS = [
    pytest.param(
        "openslide",
        id="openslide",
        marks=pytest.mark.skipif(not HAS_OPENSLIDE, reason="openslide is not installed"),
    ),
    pytest.param(
        "tiffslide",
        id="tiffslide",
        marks=pytest.mark.skipif(not HAS_TIFFSLIDE, reason="tiffslide is not installed"),
    ),
]


class _FakeHandle:
    """Pyramid geometry only, for level-choice tests without a file."""

    def __init__(self, downsamples: tuple[float, ...], size: int = 40000) -> None:
        self.level_downsamples = downsamples
        self.level_dimensions = tuple((round(size / d), round(size / d)) for d in downsamples)

    def close(self) -> None:
        pass


def _fake(mpp: float | None, downsamples: tuple[float, ...]) -> Slide:
    return Slide(_FakeHandle(downsamples), Path("fake.svs"), "openslide", mpp)


@pytest.mark.parametrize("backend", BACKENDS)
def test_open_reads_geometry_and_mpp(slide_path: Path, backend: str) -> None:
    with open_slide(slide_path, backend=backend) as slide:  # type: ignore[arg-type]
        assert slide.backend == backend
        assert slide.dimensions == (2048, 2048)
        assert slide.level_downsamples == pytest.approx((1.0, 2.0, 4.0))
        assert slide.mpp == pytest.approx(0.5)
        region = slide.read_region((600, 600), 1, (32, 16))
        assert region.shape == (16, 32, 3)
        assert region.dtype == np.uint8
        # the centre of the purple blob is tissue: saturated, not white
        assert region.mean() < 200


@pytest.mark.parametrize(
    ("mpp", "downsamples", "magnification", "level", "read_size", "size0"),
    [
        pytest.param(0.25, (1, 4, 16), 20, 0, 512, 512, id="40x-scan-20x-no-level"),
        pytest.param(0.25, (1, 2, 4), 20, 1, 256, 512, id="40x-scan-20x-exact-level"),
        pytest.param(0.25, (1, 4, 16), 40, 0, 256, 256, id="40x-scan-40x"),
        pytest.param(0.5, (1, 4, 16), 20, 0, 256, 256, id="20x-scan-20x"),
        pytest.param(0.5, (1, 4, 16), 10, 0, 512, 512, id="20x-scan-10x"),
        pytest.param(0.2527, (1, 4.0003, 16.001), 20, 0, 507, 507, id="aperio-40x-no-level"),
        pytest.param(0.2527, (1, 2.0001, 8.0), 20, 1, 256, 512, id="aperio-level-within-5pct"),
        pytest.param(0.25, (1, 4, 16), 5, 1, 512, 2048, id="40x-scan-5x"),
    ],
)
def test_select_level(
    mpp: float,
    downsamples: tuple[float, ...],
    magnification: float,
    level: int,
    read_size: int,
    size0: int,
) -> None:
    choice = select_level(_fake(mpp, downsamples), magnification=magnification)
    assert (choice.level, choice.read_size, choice.patch_size_level0) == (level, read_size, size0)
    assert choice.patch_size == 256
    assert choice.mpp == pytest.approx(magnification_to_mpp(magnification), rel=0.06)


def test_select_level_refuses_upsampling() -> None:
    with pytest.raises(ValueError, match=r"would need upsampling.*at most 20x"):
        select_level(_fake(0.5, (1, 4)), magnification=40)


def test_missing_mpp_says_how_to_pass_it(nompp_slide_path: Path) -> None:
    with open_slide(nompp_slide_path) as slide:
        assert slide.mpp is None
        with pytest.raises(ValueError, match=r"does not record its resolution.*--mpp"):
            select_level(slide)
    with open_slide(nompp_slide_path, mpp=0.25) as slide:
        assert select_level(slide, magnification=20).read_size == 512


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"slide_id,x\n1,2\n", id="text"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"0" * 64, id="png-header"),
    ],
)
def test_not_a_slide_is_a_clear_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "not_a_slide.svs"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="is not a readable whole-slide image"):
        open_slide(bad)


def test_missing_file_and_bad_options(tmp_path: Path, slide_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        open_slide(tmp_path / "nope.svs")
    with pytest.raises(ValueError, match="mpp must be a positive"):
        open_slide(slide_path, mpp=-1)
    with pytest.raises(ValueError, match="magnification must be positive"):
        magnification_to_mpp(0)


def test_overview_is_downsampled_whole_slide(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        image, scale = slide.read_overview(16)
    assert image.shape == (128, 128, 3)
    assert scale == pytest.approx((16.0, 16.0))
    # bottom-right quadrant is background (white)
    assert image[80:, 80:].min() > 200


def test_slide_repr_and_id(slide_path: Path) -> None:
    with open_slide(slide_path) as slide:
        text: Any = repr(slide)
        assert "tissue_slide.tif" in text
        assert slide.slide_id == "tissue_slide"


def test_public_api_resolves() -> None:
    import coxmt.wsi as wsi

    assert sorted(wsi.__all__) == sorted(wsi._LAZY)
    for name in wsi.__all__:
        assert getattr(wsi, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = wsi.nope


@pytest.mark.skipif(not HAS_TIFFSLIDE, reason="tiffslide is not installed")
def test_auto_falls_back_to_tiffslide(slide_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import coxmt.wsi.slide as slide_module

    real = slide_module._require

    def no_openslide(module: str, *, purpose: str) -> Any:
        if module == "openslide":
            raise ImportError("openslide does not load")
        return real(module, purpose=purpose)

    monkeypatch.setattr(slide_module, "_require", no_openslide)
    with open_slide(slide_path) as slide:
        assert slide.backend == "tiffslide"
        assert slide.mpp == pytest.approx(0.5)
    with pytest.raises(ImportError, match="openslide does not load"):
        open_slide(slide_path, backend="openslide")


@pytest.mark.parametrize(
    ("unavailable", "error", "message"),
    [
        pytest.param(
            ("tiffslide",), ValueError, "not a readable whole-slide image", id="no-tiffslide"
        ),
        pytest.param(("openslide", "tiffslide"), ImportError, "neither loads", id="neither"),
    ],
)
def test_non_slide_with_libraries_missing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    unavailable: tuple[str, ...],
    error: type[Exception],
    message: str,
) -> None:
    import coxmt.wsi.slide as slide_module

    real = slide_module._require

    def fake(module: str, *, purpose: str) -> Any:
        if module in unavailable:
            raise ImportError(f"{module} is missing")
        return real(module, purpose=purpose)

    monkeypatch.setattr(slide_module, "_require", fake)
    bad = tmp_path / "x.svs"
    bad.write_text("not a slide")
    if "openslide" not in unavailable and not HAS_OPENSLIDE:
        pytest.skip("openslide is not installed")
    with pytest.raises(error, match=message):
        open_slide(bad)
