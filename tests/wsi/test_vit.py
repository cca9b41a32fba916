"""The built-in DINOv2 ViT: timm parity, checkpoint formats, encoder building."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from coxmt.wsi import (
    BUILTIN_ARCHITECTURES,
    VisionTransformer,
    ViTConfig,
    build_encoder,
    load_state_dict_file,
)

_REF = Path(__file__).parent / "reference" / "make_timm_vit_reference.py"


def _reference_module():
    spec = importlib.util.spec_from_file_location("make_timm_vit_reference", _REF)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_timm_vit_reference", module)
    spec.loader.exec_module(module)
    return module


REF = _reference_module()

# Output of tests/wsi/reference/make_timm_vit_reference.py (timm 1.0.31, torch 2.13.0+cpu).
TIMM_OUTPUT = {
    "plain": [
        [-0.224222, -0.905497, -1.005113, 0.462854, -0.600778, -0.86161],
        [0.109165, -0.173199, -0.914188, 0.275514, -0.420756, -0.830196],
    ],
    "reg4": [
        [-0.451211, -1.020385, -0.76758, 0.707184, -0.592376, -0.746846],
        [-0.511107, -0.457191, -1.050934, 0.327664, -0.630691, -0.721931],
    ],
}
TIMM_LAYOUT = {
    "plain": "1bf187eaa3004993",
    "reg4": "ff805c70d384b110",
    "vit_small_patch14_dinov2": "df2c22f24866efab",
    "vit_base_patch14_reg4_dinov2": "0df681eb4d462606",
}
TINY = {"patch_size": 14, "embed_dim": 64, "depth": 2, "num_heads": 2, "img_size": 56}
VARIANTS = {"plain": {}, "reg4": {"reg_tokens": 4, "no_embed_class": True}}


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("variant", [pytest.param(v, id=v) for v in VARIANTS])
def test_matches_timm_outputs(variant: str) -> None:
    model = VisionTransformer(ViTConfig(**TINY, **VARIANTS[variant]))  # type: ignore[arg-type]
    shapes = _shapes(model)
    assert REF.layout_hash(shapes) == TIMM_LAYOUT[variant]
    model.load_checkpoint_state(REF.fill_state(shapes))
    x = torch.randn(2, 3, 42, 42, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model.eval()(x)
    np.testing.assert_allclose(out[:, :6].numpy(), TIMM_OUTPUT[variant], atol=2e-5)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, id=n) for n in ("vit_small_patch14_dinov2", "vit_base_patch14_reg4_dinov2")],
)
def test_full_size_layout_matches_timm(name: str) -> None:
    with torch.device("meta"):  # shapes only, no memory or initialisation cost
        model = VisionTransformer(BUILTIN_ARCHITECTURES[name])
    assert REF.layout_hash(_shapes(model)) == TIMM_LAYOUT[name]


def test_meta_dinov2_checkpoint_layout_loads_the_same() -> None:
    cfg = ViTConfig(**TINY, reg_tokens=4, no_embed_class=True)  # type: ignore[arg-type]
    timm_state = REF.fill_state(_shapes(VisionTransformer(cfg)))
    # Meta's release: pos_embed includes the class position, registers separate, a mask token
    cls_pos = torch.randn(1, 1, 64) * 0.1
    meta = {k: v for k, v in timm_state.items() if k not in ("reg_token", "cls_token", "pos_embed")}
    meta["register_tokens"] = timm_state["reg_token"]
    meta["cls_token"] = timm_state["cls_token"] - cls_pos
    meta["pos_embed"] = torch.cat([cls_pos, timm_state["pos_embed"]], dim=1)
    meta["mask_token"] = torch.zeros(1, 64)
    a, b = VisionTransformer(cfg).eval(), VisionTransformer(cfg).eval()
    a.load_checkpoint_state(timm_state)
    b.load_checkpoint_state({"teacher": {f"backbone.{k}": v for k, v in meta.items()}})
    x = torch.rand(1, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-5)


def test_position_grid_follows_input_size() -> None:
    model = VisionTransformer(ViTConfig(**TINY)).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        for side in (28, 56, 224):
            assert model(torch.rand(1, 3, side, side)).shape == (1, 64)
    # a checkpoint with another stored grid is adopted
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["pos_embed"] = torch.zeros(1, 1 + 16 * 16, 64)
    model.load_checkpoint_state(state)
    assert model.pos_embed.shape == (1, 257, 64)


def test_wrong_architecture_is_a_clear_error() -> None:
    small = VisionTransformer(ViTConfig(**TINY))  # type: ignore[arg-type]
    other = VisionTransformer(ViTConfig(**{**TINY, "depth": 3}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not fit the architecture"):
        small.load_checkpoint_state(other.state_dict())


def test_config_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="divisible by num_heads"):
        ViTConfig(embed_dim=65, num_heads=2)
    with pytest.raises(ValueError, match=r"unknown ViT configuration keys \['depht'\]"):
        ViTConfig.from_dict({"depht": 2})
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        ViTConfig.from_json(bad)


@pytest.mark.parametrize(
    "suffix", [pytest.param(".safetensors", id="safetensors"), pytest.param(".pth", id="pth")]
)
def test_build_encoder_from_local_file(tmp_path: Path, suffix: str) -> None:
    from safetensors.torch import save_file

    cfg = ViTConfig(**{**TINY, "img_size": 224}, name="tiny")  # type: ignore[arg-type]
    cfg_path = cfg.to_json(tmp_path / "tiny.json")
    model = VisionTransformer(cfg)
    weights = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    else:
        torch.save(
            {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, weights
        )
    enc = build_encoder(cfg_path, weights, device="cpu")
    assert (enc.name, enc.embed_dim, enc.backend) == ("tiny", 64, "builtin")
    feats = enc.encode(np.random.default_rng(0).integers(0, 255, (3, 256, 256, 3), dtype=np.uint8))
    assert feats.shape == (3, 64)
    assert feats.dtype == np.float32
    with torch.no_grad():
        x = enc.preprocess(torch.zeros(1, 256, 256, 3, dtype=torch.uint8))
        np.testing.assert_allclose(
            enc.encode(np.zeros((1, 256, 256, 3), np.uint8)), model.eval()(x).numpy(), atol=1e-5
        )


def test_build_encoder_needs_local_weights(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="never downloaded"):
        build_encoder("vit_small_patch14_dinov2")
    with pytest.raises(ValueError, match="does not exist"):
        build_encoder("vit_small_patch14_dinov2", tmp_path / "missing.safetensors")
    pickled = tmp_path / "obj.pth"
    torch.save({"model": object()}, pickled)
    with pytest.raises(ValueError, match=r"weights_only=True"):
        load_state_dict_file(pickled)


def test_unknown_name_without_timm(monkeypatch: pytest.MonkeyPatch) -> None:
    import coxmt.wsi.encoders as encoders

    monkeypatch.setattr(encoders, "_import_timm", lambda: None)
    with pytest.raises(ValueError, match="built-in architectures are"):
        build_encoder("resnet50", random_weights=True, device="cpu")
    with pytest.raises(ValueError, match="timm does not import here"):
        build_encoder("vit_small_patch14_dinov2", random_weights=True, backend="timm", device="cpu")


def test_preprocess_resizes_and_normalises(tiny_encoder) -> None:  # type: ignore[no-untyped-def]
    white = torch.full((2, 300, 300, 3), 255, dtype=torch.uint8)
    x = tiny_encoder.preprocess(white, patch_size=256)
    assert x.shape == (2, 3, 224, 224)
    expected = (1 - torch.tensor(tiny_encoder.mean)) / torch.tensor(tiny_encoder.std)
    torch.testing.assert_close(x[0, :, 100, 100], expected)


def test_model_kwargs_override_builtin(tmp_path: Path) -> None:
    enc = build_encoder(
        "vit_small_patch14_dinov2",
        random_weights=True,
        device="cpu",
        backend="builtin",
        model_kwargs={"depth": 1, "global_pool": "avg", "name": "vits-1block"},
    )
    assert enc.name == "vits-1block"
    assert len(enc.model.blocks) == 1  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown ViT configuration keys \['dpth'\]"):
        build_encoder(
            "vit_small_patch14_dinov2",
            random_weights=True,
            model_kwargs={"dpth": 1},
            backend="builtin",
        )
