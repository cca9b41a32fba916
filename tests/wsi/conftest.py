"""Fixtures for the whole-slide-image tests: small synthetic pyramidal TIFF slides.

The whole folder is skipped when the ``wsi`` extra is not installed (h5py,
tifffile, pillow, and OpenSlide or tiffslide to read slides).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from ._synth import write_slide

_HERE = Path(__file__).parent


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


HAS_OPENSLIDE = _importable("openslide")
HAS_TIFFSLIDE = _importable("tiffslide")
MISSING = [m for m in ("h5py", "tifffile", "PIL") if not _importable(m)]
if not (HAS_OPENSLIDE or HAS_TIFFSLIDE):
    MISSING.append("openslide-python or tiffslide")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MISSING:
        return
    skip = pytest.mark.skip(
        reason=f"the wsi extra is not installed (missing {MISSING}): pip install 'coxmt[wsi]'"
    )
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def slide_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slides")


@pytest.fixture(scope="session")
def slide_path(slide_dir: Path) -> Path:
    """2048 x 2048 px at 0.5 mpp (20x), 3 pyramid levels, three tissue blobs."""
    return write_slide(slide_dir / "tissue_slide.tif")


@pytest.fixture(scope="session")
def white_slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An all-white (slightly noisy) slide without tissue."""
    return write_slide(
        tmp_path_factory.mktemp("white") / "white_slide.tif", size=1024, blobs=(), levels=2
    )


@pytest.fixture(scope="session")
def nompp_slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A slide whose file records no resolution."""
    return write_slide(
        tmp_path_factory.mktemp("nompp") / "nompp.tif", size=1024, mpp=None, levels=1
    )


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(config .json, weights .safetensors) of a random 2-block, 64-d DINOv2-style ViT."""
    import torch
    from safetensors.torch import save_file

    from coxmt.wsi import VisionTransformer, ViTConfig

    folder = tmp_path_factory.mktemp("tiny_vit")
    config = ViTConfig(embed_dim=64, depth=2, num_heads=2, img_size=224, name="tiny-dinov2")
    torch.manual_seed(0)
    model = VisionTransformer(config)
    cfg_path = config.to_json(folder / "tiny-dinov2.json")
    weights = folder / "tiny-dinov2.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    return cfg_path, weights


@pytest.fixture(scope="session")
def tiny_encoder(tiny_vit: tuple[Path, Path]) -> Any:
    from coxmt.wsi import build_encoder

    cfg, weights = tiny_vit
    return build_encoder(cfg, weights, device="cpu")


@pytest.fixture(scope="session")
def features_dir(
    tmp_path_factory: pytest.TempPathFactory, slide_path: Path, tiny_encoder: Any
) -> Path:
    """Features of the tissue slide with the tiny ViT (computed once)."""
    from coxmt.wsi import extract_slides

    out = tmp_path_factory.mktemp("features")
    extract_slides([slide_path], out, tiny_encoder, progress=False)
    return out
