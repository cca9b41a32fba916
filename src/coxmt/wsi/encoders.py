"""Patch encoders: DINOv2 ViTs (built in, or from timm when it imports) with local weights only.

Weights are never downloaded: the model is built with random weights and the
state dict is loaded from a local ``.safetensors`` or ``.pth``/``.bin`` file
(``torch.load(weights_only=True)``, which runs no code).
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from coxmt._device import resolve_device
from coxmt.wsi._deps import _import_timm
from coxmt.wsi._vit import VisionTransformer, ViTConfig

__all__ = [
    "BUILTIN_ARCHITECTURES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PatchEncoder",
    "build_encoder",
    "load_state_dict_file",
    "resolve_device",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_DINO = {"patch_size": 14, "init_values": 1e-5, "img_size": 518}
_REG = {"reg_tokens": 4, "no_embed_class": True}

#: Architectures available without timm (names and parameter layouts as in timm).
BUILTIN_ARCHITECTURES: dict[str, ViTConfig] = {
    name: ViTConfig(name=name, **_DINO, **extra, embed_dim=dim, depth=depth, num_heads=heads)  # type: ignore[arg-type]
    for name, dim, depth, heads, extra in (
        ("vit_small_patch14_dinov2", 384, 12, 6, {}),
        ("vit_base_patch14_dinov2", 768, 12, 12, {}),
        ("vit_large_patch14_dinov2", 1024, 24, 16, {}),
        ("vit_small_patch14_reg4_dinov2", 384, 12, 6, _REG),
        ("vit_base_patch14_reg4_dinov2", 768, 12, 12, _REG),
        ("vit_large_patch14_reg4_dinov2", 1024, 24, 16, _REG),
    )
}


def load_state_dict_file(path: str | Path) -> dict[str, Any]:
    """Read a local weight file without running code.

    ``.safetensors`` through safetensors; anything else through
    ``torch.load(weights_only=True)``.

    Examples
    --------
    >>> state = load_state_dict_file("weights/dinov2_vits14.safetensors")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(
            f"checkpoint {str(path)!r} does not exist; weights are only read from local files "
            "(download them once, e.g. a timm 'model.safetensors', and pass its path)"
        )
    if path.suffix == ".safetensors":
        return dict(load_file(str(path), device="cpu"))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"could not read checkpoint {str(path)!r} with torch.load(weights_only=True): {exc}; "
            "give a .safetensors file or a plain PyTorch state dict"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {str(path)!r} holds a {type(obj).__name__}, not a state dict")
    return obj


@dataclass
class PatchEncoder:
    """A feature extractor for RGB patches.

    Attributes
    ----------
    model : torch.nn.Module
        Maps a normalised (B, 3, S, S) batch to (B, D) features.
    name : str
        Architecture name, recorded in feature files.
    embed_dim : int
        D.
    input_size : int
        S: patches are resized to S x S before the model.
    mean, std : tuple of float
        Normalisation (ImageNet's by default).
    backend : {"builtin", "timm"}
        Which implementation built the model.
    checkpoint : str or None
        Path of the loaded weights (None for random weights).
    """

    model: nn.Module
    name: str
    embed_dim: int
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    backend: str = "builtin"
    checkpoint: str | None = None

    def to(self, device: str | torch.device) -> PatchEncoder:
        """Move the model to ``device`` (in place) and return self."""
        self.model.to(resolve_device(device))
        return self

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return next(self.model.parameters()).device

    def preprocess(self, images: torch.Tensor, patch_size: int | None = None) -> torch.Tensor:
        """Turn a uint8 (B, H, W, 3) batch into a normalised float (B, 3, S, S) batch.

        When ``patch_size`` differs from H, patches are first resized to it (the
        resolution the coordinates describe), then to :attr:`input_size`.
        """
        x = images.permute(0, 3, 1, 2).float().div_(255.0)
        for size in (patch_size, self.input_size):
            if size is not None and x.shape[-1] != size:
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.inference_mode()
    def encode(
        self, images: np.ndarray | torch.Tensor, *, patch_size: int | None = None, amp: bool = True
    ) -> np.ndarray:
        """Features of a uint8 (B, H, W, 3) batch as a float32 (B, D) array.

        Uses float16 autocast on CUDA when ``amp`` is True.

        Examples
        --------
        >>> import numpy as np
        >>> enc = build_encoder(  # doctest: +SKIP
        ...     "vit_small_patch14_dinov2", "weights/vits14.safetensors")
        >>> enc.encode(np.zeros((4, 256, 256, 3), np.uint8)).shape  # doctest: +SKIP
        (4, 384)
        """
        self.model.eval()
        device = self.device
        batch = torch.as_tensor(np.asarray(images) if not torch.is_tensor(images) else images)
        x = self.preprocess(batch.to(device, non_blocking=True), patch_size)
        ctx = (
            torch.autocast("cuda", dtype=torch.float16)
            if amp and device.type == "cuda"
            else nullcontext()
        )
        with ctx:
            out = self.model(x)
        return out.float().cpu().numpy()


def _build_timm(
    timm: Any,
    name: str,
    input_size: int,
    state: dict[str, Any] | None,
    model_kwargs: dict[str, Any],
) -> tuple[nn.Module, tuple[float, float, float], tuple[float, float, float]]:
    kwargs = {"pretrained": False, "num_classes": 0, **model_kwargs}
    try:
        model = timm.create_model(name, **{"img_size": input_size, **kwargs})
    except TypeError:  # models without an img_size argument (CNNs)
        model = timm.create_model(name, **kwargs)
    except RuntimeError as exc:
        raise ValueError(f"timm does not know the model {name!r}: {exc}") from exc
    if state is not None:
        filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
        if filter_fn is not None:
            state = filter_fn(state, model)
        state = {k: v for k, v in state.items() if not k.startswith("head.")}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"the checkpoint does not fit timm's {name!r}: {exc}") from exc
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean = tuple(cfg.get("mean", IMAGENET_MEAN))
    std = tuple(cfg.get("std", IMAGENET_STD))
    return model, mean, std


def build_encoder(
    name: str | Path = "vit_small_patch14_dinov2",
    checkpoint: str | Path | None = None,
    *,
    input_size: int = 224,
    backend: Literal["auto", "builtin", "timm"] = "auto",
    random_weights: bool = False,
    device: str | torch.device | None = "auto",
    model_kwargs: dict[str, Any] | None = None,
) -> PatchEncoder:
    """Build a patch encoder and load its weights from a local file.

    Parameters
    ----------
    name : str or Path
        A timm model name (``vit_small_patch14_dinov2``, ``vit_base_patch14_dinov2``,
        any timm model when timm is importable), or a ``.json`` file with
        :class:`ViTConfig` settings for a custom DINOv2-style ViT.
    checkpoint : str or Path, optional
        Local ``.safetensors`` or ``.pth``/``.bin`` state dict (timm layout or
        Meta's original DINOv2 layout). Required unless ``random_weights``.
    input_size : int, default 224
        Patches are resized to this side before the model.
    backend : {"auto", "builtin", "timm"}
        ``"auto"`` uses timm when it imports, else the built-in ViT (DINOv2
        names and JSON configurations only).
    random_weights : bool, default False
        Allow a randomly initialised model (tests, speed measurements).
    device : str, default "auto"
        Where to put the model (CUDA when available under ``"auto"``).
    model_kwargs : dict, optional
        Extra arguments for ``timm.create_model`` (e.g. ``{"init_values": 1e-5}`` for
        UNI's ``vit_large_patch16_224``), or :class:`ViTConfig` fields overriding a
        built-in architecture.

    Returns
    -------
    PatchEncoder

    Examples
    --------
    >>> enc = build_encoder("vit_small_patch14_dinov2", random_weights=True, device="cpu")
    >>> enc.embed_dim, enc.backend in ("builtin", "timm")
    (384, True)
    """
    if checkpoint is None and not random_weights:
        raise ValueError(
            f"no checkpoint given for encoder {str(name)!r}; weights are only loaded from a "
            "local file (pass checkpoint=PATH, CLI --checkpoint), never downloaded"
        )
    if backend not in ("auto", "builtin", "timm"):
        raise ValueError(f"backend must be 'auto', 'builtin' or 'timm', got {backend!r}")
    state = load_state_dict_file(checkpoint) if checkpoint is not None else None
    name_str = str(name)
    config: ViTConfig | None = None
    if name_str.endswith(".json"):
        config = ViTConfig.from_json(name_str)
    timm = _import_timm() if backend != "builtin" and config is None else None
    if backend == "timm" and timm is None and config is None:
        raise ValueError(
            "backend='timm' was asked for but timm does not import here (it needs a "
            "torchvision that matches the installed torch); use backend='builtin' or 'auto'"
        )
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    extra = dict(model_kwargs or {})
    if timm is not None:
        model, mean, std = _build_timm(timm, name_str, input_size, state, extra)
        used = "timm"
        dim = int(getattr(model, "num_features", 0))
    else:
        if config is None:
            if name_str not in BUILTIN_ARCHITECTURES:
                raise ValueError(
                    f"unknown encoder {name_str!r}: without timm the built-in architectures are "
                    f"{sorted(BUILTIN_ARCHITECTURES)} (or a .json ViT configuration); install a "
                    "timm that imports beside your torch for other models"
                )
            config = BUILTIN_ARCHITECTURES[name_str]
        if extra:
            config = ViTConfig.from_dict({**asdict(config), **extra})
        vit = VisionTransformer(config)
        if state is not None:
            vit.load_checkpoint_state(state)
        model, used, dim, name_str = vit, "builtin", config.embed_dim, config.name
    model.eval()
    encoder = PatchEncoder(
        model=model,
        name=name_str,
        embed_dim=dim,
        input_size=int(input_size),
        mean=mean,
        std=std,
        backend=used,
        checkpoint=None if checkpoint is None else str(checkpoint),
    )
    return encoder.to(device if device is not None else "auto")
