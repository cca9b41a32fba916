"""Optional dependencies of :mod:`coxmt.wsi` (through :mod:`coxmt._optional`)."""

from __future__ import annotations

from types import ModuleType

from coxmt._optional import require, try_import

__all__: list[str] = []


def _require(module: str, *, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming ``purpose`` and the ``wsi`` extra."""
    return require(module, purpose=purpose, extra="wsi")


def _import_timm() -> ModuleType | None:
    """The ``timm`` module when it imports cleanly, else None.

    timm imports torchvision at module level; a torchvision build that does not
    match the installed torch raises RuntimeError ("operator torchvision::nms
    does not exist") rather than ImportError, so every failure counts as
    "not available".
    """
    return try_import("timm")
