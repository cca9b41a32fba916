"""Choosing the torch device of a model."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device that ``device`` names.

    ``"auto"`` (or None) picks CUDA when it is available, else the CPU. An
    explicit CUDA device without CUDA is an error rather than a silent fallback.

    Parameters
    ----------
    device : str, torch.device or None, default "auto"
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... or a ``torch.device``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        When a CUDA device is asked for and none is available.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    """
    if isinstance(device, torch.device):
        dev = device
    elif device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(dev)!r} was requested but no CUDA device is available; "
            "use device='cpu' (or 'auto' to pick CUDA only when present)"
        )
    return dev
