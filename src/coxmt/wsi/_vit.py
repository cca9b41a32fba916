"""A plain-PyTorch DINOv2 Vision Transformer whose parameters match timm's.

The module tree reproduces timm's ``VisionTransformer`` as built by
``vit_*_patch14_dinov2`` (and the ``reg4`` variants): the same parameter names
(``cls_token``, ``reg_token``, ``pos_embed``, ``patch_embed.proj``,
``blocks.N.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}``,
``norm``), so a state dict saved from timm (or Meta's original DINOv2 release,
converted the way timm converts it) loads unchanged. It needs no torchvision.
Position embeddings are resampled (bicubic, antialiased, as timm's
``resample_abs_pos_embed``) to the input's token grid at every forward pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from coxmt._atomic import atomic_path

__all__ = ["ViTConfig", "VisionTransformer", "convert_checkpoint", "resample_pos_embed"]


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of a :class:`VisionTransformer` (timm's argument names).

    Attributes
    ----------
    patch_size : int
        Side of a token's pixel patch (14 for DINOv2).
    embed_dim, depth, num_heads : int
        Width, number of blocks and attention heads.
    mlp_ratio : float
        Hidden width of the MLP relative to ``embed_dim``.
    qkv_bias : bool
        Bias in the query/key/value projection.
    init_values : float or None
        LayerScale initial value (None disables LayerScale).
    reg_tokens : int
        Number of register tokens.
    no_embed_class : bool
        Position embeddings cover the patch tokens only (timm's register models).
    img_size : int
        Image side the stored position-embedding grid corresponds to (518 for DINOv2).
    global_pool : {"token", "avg"}
        Output: the class token, or the mean of the patch tokens.
    norm_eps : float
        LayerNorm epsilon.
    name : str
        Name recorded in feature files.
    """

    patch_size: int = 14
    embed_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    init_values: float | None = 1e-5
    reg_tokens: int = 0
    no_embed_class: bool = False
    img_size: int = 518
    global_pool: str = "token"
    norm_eps: float = 1e-6
    name: str = "vit_dinov2"

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.global_pool not in ("token", "avg"):
            raise ValueError(f"global_pool must be 'token' or 'avg', got {self.global_pool!r}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ViTConfig:
        """Build from a mapping; unknown keys raise a ValueError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown ViT configuration keys {unknown}; allowed keys are {sorted(known)}"
            )
        return cls(**dict(data))

    @classmethod
    def from_json(cls, path: str | Path) -> ViTConfig:
        """Read a configuration written by :meth:`to_json`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(
                f"could not read a ViT configuration from {str(path)!r}: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise ValueError(f"{str(path)!r} must hold a JSON object of ViT settings")
        data.setdefault("name", path.stem)
        return cls.from_dict(data)

    def to_json(self, path: str | Path) -> Path:
        """Write the configuration as JSON."""

        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def resample_pos_embed(
    pos_embed: torch.Tensor, new_size: tuple[int, int], num_prefix_tokens: int
) -> torch.Tensor:
    """Resample a (1, prefix + h*w, D) position embedding to a new square-or-not grid.

    Bicubic with antialiasing, as timm's ``resample_abs_pos_embed``.
    """
    n_grid = pos_embed.shape[1] - num_prefix_tokens
    side = math.isqrt(n_grid)
    if side * side != n_grid:
        raise ValueError(f"position embedding has {n_grid} grid tokens, not a square grid")
    if (side, side) == tuple(new_size):
        return pos_embed
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[:, num_prefix_tokens:]
    dim = grid.shape[-1]
    dtype = grid.dtype
    grid = grid.float().reshape(1, side, side, dim).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=new_size, mode="bicubic", antialias=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(dtype)
    return torch.cat([prefix, grid], dim=1)


class _PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)  # (B, D, H', W')


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class _LayerScale(nn.Module):
    def __init__(self, dim: int, init_values: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), float(init_values)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        dim = cfg.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.attn = _Attention(dim, cfg.num_heads, cfg.qkv_bias)
        self.ls1: nn.Module = (
            _LayerScale(dim, cfg.init_values) if cfg.init_values else nn.Identity()
        )
        self.norm2 = nn.LayerNorm(dim, eps=cfg.norm_eps)
        self.mlp = _Mlp(dim, int(dim * cfg.mlp_ratio))
        self.ls2: nn.Module = (
            _LayerScale(dim, cfg.init_values) if cfg.init_values else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class VisionTransformer(nn.Module):
    """DINOv2-style ViT with timm-compatible parameter names; ``forward`` returns (B, D) features.

    Parameters
    ----------
    config : ViTConfig

    Examples
    --------
    >>> import torch
    >>> vit = VisionTransformer(ViTConfig(embed_dim=64, depth=2, num_heads=2))
    >>> vit(torch.zeros(2, 3, 224, 224)).shape
    torch.Size([2, 64])
    """

    def __init__(self, config: ViTConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.num_prefix_tokens = 1 + config.reg_tokens
        self.patch_embed = _PatchEmbed(config.patch_size, dim)
        grid = config.img_size // config.patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.reg_token = (
            nn.Parameter(torch.zeros(1, config.reg_tokens, dim)) if config.reg_tokens else None
        )
        n_pos = grid * grid + (0 if config.no_embed_class else self.num_prefix_tokens)
        self.pos_embed = nn.Parameter(torch.zeros(1, n_pos, dim))
        self.blocks = nn.Sequential(*[_Block(config) for _ in range(config.depth)])
        self.norm = nn.LayerNorm(dim, eps=config.norm_eps)
        self._init_weights()

    @property
    def embed_dim(self) -> int:
        """Width of the output features."""
        return self.config.embed_dim

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.reg_token is not None:
            nn.init.normal_(self.reg_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)
        prefix = [self.cls_token.expand(b, -1, -1)]
        if self.reg_token is not None:
            prefix.append(self.reg_token.expand(b, -1, -1))
        n_prefix_pos = 0 if self.config.no_embed_class else self.num_prefix_tokens
        pos = resample_pos_embed(self.pos_embed, (h, w), n_prefix_pos).to(x.dtype)
        if self.config.no_embed_class:
            return torch.cat([*prefix, x + pos], dim=1)
        return torch.cat([*prefix, x], dim=1) + pos

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """All tokens after the final norm: ``(B, prefix + H' * W', D)``."""
        x = self._pos_embed(self.patch_embed(x))
        return self.norm(self.blocks(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.forward_features(x)
        if self.config.global_pool == "avg":
            return tokens[:, self.num_prefix_tokens :].mean(dim=1)
        return tokens[:, 0]

    def load_checkpoint_state(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a timm or original-DINOv2 state dict (strict), adopting its position grid."""
        state = convert_checkpoint(state_dict)
        pos = state.get("pos_embed")
        if pos is not None and pos.shape != self.pos_embed.shape and pos.ndim == 3:
            self.pos_embed = nn.Parameter(torch.zeros_like(pos, dtype=self.pos_embed.dtype))
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"the checkpoint does not fit the architecture {self.config.name!r} "
                f"(embed_dim={self.config.embed_dim}, depth={self.config.depth}, "
                f"reg_tokens={self.config.reg_tokens}): {exc}; choose the matching encoder name"
            ) from exc


_PREFIXES = ("module.", "teacher.backbone.", "backbone.", "model.", "encoder.")


def convert_checkpoint(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Bring a ViT state dict to timm's names, as timm's ``checkpoint_filter_fn`` does for DINOv2.

    Unwraps ``{"state_dict": ...}``/``{"model": ...}``/``{"teacher": ...}``, strips a
    common ``module.``/``backbone.`` prefix, drops ``mask_token`` and converts
    Meta's ``register_tokens`` layout to timm's ``reg_token`` layout.
    """
    state: Mapping[str, Any] = state_dict
    for key in ("state_dict", "model", "teacher"):
        inner = state.get(key)
        if isinstance(inner, Mapping):
            state = inner
    out = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    for prefix in _PREFIXES:
        if out and all(k.startswith(prefix) for k in out):
            out = {k[len(prefix) :]: v for k, v in out.items()}
    out = {k: v for k, v in out.items() if not k.startswith("head.")}
    out.pop("mask_token", None)
    if "register_tokens" in out:
        out["reg_token"] = out.pop("register_tokens")
        out["cls_token"] = out.pop("cls_token") + out["pos_embed"][:, 0]
        out["pos_embed"] = out["pos_embed"][:, 1:]
    return out
