"""Optional dependencies of :mod:`coxmt.wsi`, imported on first use with a clear message."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__: list[str] = []

_INSTALL_HINT = "install the whole-slide-image extra with: pip install 'coxmt[wsi]'"


def _require(module: str, *, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says what it is needed for."""
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as exc:  # OSError: a Python binding whose C library is missing
        raise ImportError(
            f"{purpose} needs the package {module.split('.')[0]!r}, which is not installed or "
            f"does not load ({exc}); {_INSTALL_HINT}"
        ) from exc


def _import_timm() -> Any | None:
    """Return the ``timm`` module when it imports cleanly, else None.

    timm imports torchvision at module level; a torchvision build that does not
    match the installed torch raises RuntimeError ("operator torchvision::nms
    does not exist") rather than ImportError, so every exception counts as
    "not available" here.
    """
    try:
        return importlib.import_module("timm")
    except Exception:
        return None
