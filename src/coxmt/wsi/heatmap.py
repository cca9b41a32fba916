"""Attention heatmaps: per-patch scores drawn over the slide overview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from coxmt._atomic import atomic_path
from coxmt.wsi._deps import _require
from coxmt.wsi.slide import open_slide

__all__ = ["read_attention_h5", "render_heatmap"]


def read_attention_h5(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read ``coords`` (N, 2), ``attention`` (N,) and the file attributes of an attention file.

    The layout is the one written by :func:`coxmt.nn.write_attention_h5`.
    """
    h5py = _require("h5py", purpose="reading attention files")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no attention file at {path}")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("coords", "attention") if k not in f]
            if missing:
                raise ValueError(
                    f"{path} has no {' or '.join(missing)} dataset; it is not an attention file "
                    "(write one with coxmt.nn.write_attention_h5 from model.attention(...))"
                )
            coords = np.asarray(f["coords"][:], dtype=np.int64)
            scores = np.asarray(f["attention"][:], dtype=np.float64)
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except OSError as exc:
        raise ValueError(f"{path} is not a readable HDF5 file ({exc})") from None
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) != len(scores):
        raise ValueError(
            f"{path}: coords must be (N, 2) and attention (N,), got {coords.shape} and {scores.shape}"
        )
    return coords, scores, attrs


def _patch_extent(coords: np.ndarray) -> int:
    """Level-0 patch size inferred from the grid spacing of the coordinates."""
    steps = []
    for axis in (0, 1):
        u = np.unique(coords[:, axis])
        if len(u) > 1:
            steps.append(int(np.diff(u).min()))
    if not steps:
        raise ValueError("cannot infer the patch size from a single patch; pass patch_size")
    return min(steps)


def render_heatmap(
    slide_path: str | Path,
    attention_path: str | Path,
    out: str | Path,
    *,
    patch_size: int | None = None,
    overview_mpp: float = 8.0,
    mpp: float | None = None,
    alpha: float = 0.5,
    cmap: str = "inferno",
    percentile: bool = True,
) -> Path:
    """Draw attention scores over the slide overview and save a PNG (atomically).

    Parameters
    ----------
    slide_path : path
        The whole-slide image the patches came from.
    attention_path : path
        Attention file (``coords``, ``attention``) from :func:`coxmt.nn.write_attention_h5`.
    out : path
        Output PNG.
    patch_size : int, optional
        Patch side in level-0 pixels; inferred from the coordinate grid when None.
    overview_mpp : float, default 8.0
        Resolution of the drawn overview (microns per pixel).
    mpp : float, optional
        Microns per pixel of level 0 when the slide does not record it.
    alpha : float, default 0.5
        Opacity of the heat colours.
    cmap : str, default "inferno"
        Matplotlib colour map.
    percentile : bool, default True
        Colour by the rank of each score (as CLAM does) rather than its raw value,
        so a few extreme patches do not wash out the map.

    Returns
    -------
    Path
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    coords, scores, attrs = read_attention_h5(attention_path)
    if len(scores) == 0:
        raise ValueError(f"{attention_path} holds no patches; nothing to draw")
    if not np.isfinite(scores).all():
        raise ValueError(f"{attention_path} holds non-finite attention scores")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    size = int(patch_size) if patch_size is not None else _patch_extent(coords)
    with open_slide(slide_path, mpp=mpp) as slide:
        image, (sx, sy) = slide.read_overview(overview_mpp / slide.require_mpp())
        name = slide.slide_id
    values = scores
    if percentile:
        order = np.argsort(np.argsort(scores, kind="mergesort"), kind="mergesort")
        values = order / max(len(scores) - 1, 1)
    h, w = image.shape[:2]
    heat = np.zeros((h, w), dtype=np.float64)
    count = np.zeros((h, w), dtype=np.float64)
    for (x, y), v in zip(coords, values, strict=True):
        x0, y0 = int(x / sx), int(y / sy)
        x1, y1 = int(np.ceil((x + size) / sx)), int(np.ceil((y + size) / sy))
        heat[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] += v
        count[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] += 1
    covered = count > 0
    heat[covered] /= count[covered]
    norm = Normalize(vmin=0.0, vmax=1.0) if percentile else Normalize(scores.min(), scores.max())
    colours = colormaps[cmap](norm(heat))[..., :3]
    base = image.astype(np.float64) / 255.0
    blended = base.copy()
    blended[covered] = (1 - alpha) * base[covered] + alpha * colours[covered]

    fig = Figure(figsize=(12, 6 * h / max(w, 1) + 1), dpi=120)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.imshow(image)
    ax1.set_title(f"{name}")
    im = ax2.imshow(blended)
    ax2.set_title(f"attention ({attrs.get('model', 'model') or 'model'})")
    for ax in (ax1, ax2):
        ax.set_axis_off()
    im.set_cmap(cmap)
    im.set_norm(norm)
    from matplotlib.cm import ScalarMappable

    cbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax2, fraction=0.03)
    cbar.set_label("attention percentile" if percentile else "attention")
    fig.tight_layout()
    out = Path(out)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
