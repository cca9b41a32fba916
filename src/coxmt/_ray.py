"""Ray start-up and the loop that waits for many Ray tasks (used by experiments and wsi)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from coxmt._optional import require

__all__ = ["gather_ray", "import_ray", "init_ray"]


def import_ray(purpose: str = "running on a Ray cluster") -> Any:
    """The ``ray`` module, or an ImportError that says how to install it."""
    return require("ray", purpose=purpose, extra="ray")


def init_ray(address: str | None = None) -> None:
    """Connect to the Ray cluster at ``address`` unless this process already is.

    ``address=None`` uses ``RAY_ADDRESS`` when set, else starts Ray on this machine.
    """
    ray = import_ray()
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    ray.init(**kwargs)


def gather_ray(refs: Sequence[Any], on_ready: Callable[[Any, Any], None]) -> None:
    """Wait for Ray tasks and hand each result to ``on_ready(ref, value)`` as it finishes.

    A task that failed re-raises the user-level exception it failed with (a
    ValueError stays a ValueError rather than a ``RayTaskError``). On any error or
    interruption the tasks still pending are cancelled before the error propagates.
    """
    ray = import_ray()
    pending = list(refs)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    value = ray.get(ref)
                except Exception as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from None
                    raise
                on_ready(ref, value)
    except BaseException:
        for ref in pending:
            ray.cancel(ref)
        raise
