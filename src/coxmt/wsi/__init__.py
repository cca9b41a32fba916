"""Whole-slide-image pipeline: read slides, segment tissue, lay patches, extract features.

Needs the optional extra: ``pip install 'coxmt[wsi]'``.

Steps, each usable on its own:

1. :func:`open_slide` (OpenSlide, tiffslide fallback) and :func:`select_level`
   (pyramid level for a target magnification; 20x = 0.5 microns per pixel).
2. :func:`segment_slide`: tissue mask on an overview (saturation, median blur, Otsu).
3. :func:`grid_patches`: patch grid over tissue, background patches rejected.
4. :func:`build_encoder` + :func:`extract_features`: DINOv2 ViT features per patch,
   one CLAM/TRIDENT-compatible ``.h5`` per slide; :func:`read_features` reads
   CLAM/TRIDENT ``.h5``/``.pt`` files back.
5. Optional tumour-region selection with a :class:`PatchFilter`
   (:class:`LogisticProbeFilter`, :class:`CallableFilter`).

Examples
--------
>>> from coxmt.wsi import build_encoder, extract_slides  # doctest: +SKIP
>>> enc = build_encoder("vit_small_patch14_dinov2", "weights/vits14.safetensors")  # doctest: +SKIP
>>> extract_slides(["slides/"], "features/", enc, magnification=20)  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # static checkers see the real objects; at run time they load lazily
    from coxmt.wsi._vit import VisionTransformer, ViTConfig
    from coxmt.wsi.encoders import (
        BUILTIN_ARCHITECTURES,
        PatchEncoder,
        build_encoder,
        load_state_dict_file,
    )
    from coxmt.wsi.features import (
        ExtractionResult,
        NoTissueWarning,
        extract_features,
        extract_slides,
        find_slides,
        patch_slide,
    )
    from coxmt.wsi.filters import (
        CallableFilter,
        LogisticProbeFilter,
        PatchFilter,
        apply_patch_filter,
        load_patch_filter,
    )
    from coxmt.wsi.io import (
        feature_file_info,
        read_features,
        read_patch_coords,
        write_features,
        write_patch_coords,
    )
    from coxmt.wsi.matching import SlideMatch, find_feature_files, match_slides, match_table_slides
    from coxmt.wsi.patching import PatchGrid, grid_patches, load_patch_grid
    from coxmt.wsi.slide import (
        SLIDE_EXTENSIONS,
        LevelChoice,
        Slide,
        magnification_to_mpp,
        open_slide,
        select_level,
    )
    from coxmt.wsi.tissue import TissueMask, otsu_threshold, segment_slide, segment_tissue

_LAZY = {
    "SLIDE_EXTENSIONS": "coxmt.wsi.slide",
    "LevelChoice": "coxmt.wsi.slide",
    "Slide": "coxmt.wsi.slide",
    "magnification_to_mpp": "coxmt.wsi.slide",
    "open_slide": "coxmt.wsi.slide",
    "select_level": "coxmt.wsi.slide",
    "TissueMask": "coxmt.wsi.tissue",
    "otsu_threshold": "coxmt.wsi.tissue",
    "segment_slide": "coxmt.wsi.tissue",
    "segment_tissue": "coxmt.wsi.tissue",
    "PatchGrid": "coxmt.wsi.patching",
    "grid_patches": "coxmt.wsi.patching",
    "load_patch_grid": "coxmt.wsi.patching",
    "BUILTIN_ARCHITECTURES": "coxmt.wsi.encoders",
    "PatchEncoder": "coxmt.wsi.encoders",
    "build_encoder": "coxmt.wsi.encoders",
    "load_state_dict_file": "coxmt.wsi.encoders",
    "ViTConfig": "coxmt.wsi._vit",
    "VisionTransformer": "coxmt.wsi._vit",
    "ExtractionResult": "coxmt.wsi.features",
    "NoTissueWarning": "coxmt.wsi.features",
    "extract_features": "coxmt.wsi.features",
    "extract_slides": "coxmt.wsi.features",
    "find_slides": "coxmt.wsi.features",
    "patch_slide": "coxmt.wsi.features",
    "feature_file_info": "coxmt.wsi.io",
    "read_features": "coxmt.wsi.io",
    "read_patch_coords": "coxmt.wsi.io",
    "write_features": "coxmt.wsi.io",
    "write_patch_coords": "coxmt.wsi.io",
    "CallableFilter": "coxmt.wsi.filters",
    "LogisticProbeFilter": "coxmt.wsi.filters",
    "PatchFilter": "coxmt.wsi.filters",
    "apply_patch_filter": "coxmt.wsi.filters",
    "load_patch_filter": "coxmt.wsi.filters",
    "SlideMatch": "coxmt.wsi.matching",
    "find_feature_files": "coxmt.wsi.matching",
    "match_slides": "coxmt.wsi.matching",
    "match_table_slides": "coxmt.wsi.matching",
}

__all__ = [
    "BUILTIN_ARCHITECTURES",
    "SLIDE_EXTENSIONS",
    "CallableFilter",
    "ExtractionResult",
    "LevelChoice",
    "LogisticProbeFilter",
    "NoTissueWarning",
    "PatchEncoder",
    "PatchFilter",
    "PatchGrid",
    "Slide",
    "SlideMatch",
    "TissueMask",
    "ViTConfig",
    "VisionTransformer",
    "apply_patch_filter",
    "build_encoder",
    "extract_features",
    "extract_slides",
    "feature_file_info",
    "find_feature_files",
    "find_slides",
    "grid_patches",
    "load_patch_filter",
    "load_patch_grid",
    "load_state_dict_file",
    "magnification_to_mpp",
    "match_slides",
    "match_table_slides",
    "open_slide",
    "otsu_threshold",
    "patch_slide",
    "read_features",
    "read_patch_coords",
    "segment_slide",
    "segment_tissue",
    "select_level",
    "write_features",
    "write_patch_coords",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coxmt.wsi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
