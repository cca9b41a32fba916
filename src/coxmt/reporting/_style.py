"""Shared figure style: colour-blind friendly palette, fonts, PNG export.

Figures are built with matplotlib's object-oriented API on the Agg canvas
(:class:`matplotlib.figure.Figure`, never :mod:`matplotlib.pyplot`), so they
render without a display and leave the user's pyplot backend and open figures
alone.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from coxmt._atomic import atomic_write_bytes

__all__ = [
    "HIGH_RISK",
    "LOW_RISK",
    "METRIC_LABELS",
    "PALETTE",
    "colors_for",
    "new_figure",
    "png_bytes",
    "save_png",
    "style",
]

#: Okabe & Ito (2008) colour-blind safe palette, yellow last (weak on white).
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow
)
LOW_RISK = "#0072B2"
HIGH_RISK = "#D55E00"

METRIC_LABELS = {
    "c_index": "Harrell's C-index",
    "uno_c": "Uno's C-index",
    "ibs": "Integrated Brier score",
}

_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#444444",
    "axes.linewidth": 0.8,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#E3E3E3",
    "grid.linewidth": 0.6,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.8,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
}


@contextlib.contextmanager
def style() -> Iterator[None]:
    """Apply the report style to the figures created inside the block."""
    with mpl.rc_context(cast(Any, _RC)):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A Figure attached to an Agg canvas (headless), in inches."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def colors_for(names: Sequence[Any]) -> dict[Any, str]:
    """One palette colour per name, in order, cycling after eight names."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def png_bytes(fig: Figure, *, dpi: int = 150) -> bytes:
    """Render ``fig`` to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def save_png(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150) -> Path:
    """Save ``fig`` as PNG through a temporary file and an atomic rename."""
    return atomic_write_bytes(path, png_bytes(fig, dpi=dpi))
