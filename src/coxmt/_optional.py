"""Optional dependencies, imported on first use with a message that says how to install them."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require", "try_import"]


def require(
    module: str, *, purpose: str, extra: str | None = None, package: str | None = None
) -> ModuleType:
    """Import ``module`` or raise an ImportError that names what needs it and how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"h5py"`` or ``"pyarrow.parquet"``.
    purpose : str
        What needs the module, as the start of a sentence ("reading feature files").
    extra : str, optional
        The coxmt extra that installs it (``pip install coxmt[extra]``); without
        one the message suggests installing the package itself.
    package : str, optional
        The name to install when it differs from the module's (``"scikit-survival"``
        for ``sksurv``); default the module's top-level name.

    Returns
    -------
    module

    Raises
    ------
    ImportError
        When the module is missing or does not load (a binding whose C library is
        missing raises OSError on import; it is reported the same way).

    Examples
    --------
    >>> require("json", purpose="reading settings").__name__
    'json'
    >>> require("no_such_module", purpose="reading settings", extra="wsi")
    Traceback (most recent call last):
    ...
    ImportError: reading settings needs the package 'no_such_module', which is not installed or does not load (No module named 'no_such_module'); install it with: pip install coxmt[wsi]
    """
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as exc:
        package = package or module.split(".")[0]
        how = f"pip install coxmt[{extra}]" if extra else f"pip install {package}"
        raise ImportError(
            f"{purpose} needs the package {package!r}, which is not installed or does not load "
            f"({exc}); install it with: {how}"
        ) from exc


def try_import(module: str) -> ModuleType | None:
    """Return ``module`` when it imports cleanly, else None.

    Every exception counts as "not available": some packages fail on import with
    other errors (timm raises RuntimeError when its torchvision does not match
    the installed torch).

    Examples
    --------
    >>> try_import("no_such_module") is None
    True
    """
    try:
        return importlib.import_module(module)
    except Exception:
        return None
