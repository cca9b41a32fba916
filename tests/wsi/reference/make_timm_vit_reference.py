"""Reference outputs of timm's DINOv2 ViT for tests/wsi/test_vit.py.

Package: timm 1.0.31 (``timm.models.vision_transformer.VisionTransformer`` and its
``checkpoint_filter_fn``), torch 2.13.0 (CPU).

Builds small timm ViTs with the DINOv2 layout (LayerScale, patch 14, optional
4 register tokens), fills every parameter deterministically (sorted names,
``torch.randn`` from a seeded generator), stores the position grid at 56 px
(4x4 tokens) and runs a 42 px (3x3 tokens) input through a timm model whose
position embedding was resampled by ``checkpoint_filter_fn`` -- the same path
as loading a 518 px DINOv2 checkpoint for 224 px input. It also prints the
parameter layout (names and shapes, hashed) of two full DINOv2 models. The printed numbers
are pasted into the test, which builds coxmt's ViT from the same recipe.

timm imports torchvision at module level. Where no torchvision matching the
installed torch exists (as on the machine these numbers were made on: only a
CPU torch is installed and PyPI's torchvision needs CUDA torch libraries),
run with ``--stub-torchvision``: it puts an empty torchvision in sys.modules;
the ViT code path used here does not touch torchvision.

Run:  python tests/wsi/reference/make_timm_vit_reference.py --stub-torchvision
"""

from __future__ import annotations

import hashlib
import sys
import types


def _stub_torchvision() -> None:
    import torch

    class _Dummy(torch.nn.Module):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__()

    class InterpolationMode:
        NEAREST = "nearest"
        NEAREST_EXACT = "nearest-exact"
        BILINEAR = "bilinear"
        BICUBIC = "bicubic"
        BOX = "box"
        HAMMING = "hamming"
        LANCZOS = "lanczos"

    def getattr_(name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Dummy

    for name in (
        "torchvision", "torchvision.ops", "torchvision.ops.misc", "torchvision.transforms",
        "torchvision.transforms.functional", "torchvision.transforms.v2", "torchvision.models",
        "torchvision.models.feature_extraction", "torchvision.utils", "torchvision.io",
        "torchvision.datasets",
    ):  # fmt: skip
        mod = types.ModuleType(name)
        mod.__path__ = []  # type: ignore[attr-defined]
        mod.__getattr__ = getattr_  # type: ignore[method-assign]
        mod.InterpolationMode = InterpolationMode  # type: ignore[attr-defined]
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, mod)


def fill_state(shapes: dict[str, tuple[int, ...]]) -> dict:
    """The deterministic parameter recipe shared with the test."""
    import torch

    g = torch.Generator().manual_seed(0)
    out = {}
    for key in sorted(shapes):
        v = torch.randn(shapes[key], generator=g) * 0.1
        if "norm" in key and key.endswith(".weight"):
            v = v + 1.0
        if key.endswith(".gamma"):
            v = v + 0.5
        out[key] = v
    return out


def layout_hash(shapes: dict[str, tuple[int, ...]]) -> str:
    text = "\n".join(f"{k}:{tuple(shapes[k])}" for k in sorted(shapes))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> None:
    if "--stub-torchvision" in sys.argv:
        _stub_torchvision()
    import timm
    import torch
    from timm.models.vision_transformer import checkpoint_filter_fn

    print(f"timm {timm.__version__}, torch {torch.__version__}")
    common = dict(
        patch_size=14, embed_dim=64, depth=2, num_heads=2, init_values=1e-5, num_classes=0
    )
    for label, extra in (("plain", {}), ("reg4", dict(reg_tokens=4, no_embed_class=True))):
        stored = timm.models.VisionTransformer(img_size=56, **common, **extra)
        shapes = {k: tuple(v.shape) for k, v in stored.state_dict().items()}
        state = fill_state(shapes)
        model = timm.models.VisionTransformer(img_size=42, **common, **extra).eval()
        model.load_state_dict(checkpoint_filter_fn(state, model), strict=True)
        x = torch.randn(2, 3, 42, 42, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            out = model(x)
        print(label, "layout", layout_hash(shapes))
        print(label, "out[:, :6]", [[round(float(v), 6) for v in row[:6]] for row in out])
    for name in ("vit_small_patch14_dinov2", "vit_base_patch14_reg4_dinov2"):
        full = timm.create_model(name, pretrained=False, num_classes=0)
        shapes = {k: tuple(v.shape) for k, v in full.state_dict().items()}
        print(name, "layout", layout_hash(shapes), "n_params", len(shapes))


if __name__ == "__main__":
    main()
