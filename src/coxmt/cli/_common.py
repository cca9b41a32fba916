"""Shared CLI helpers: one-line errors, the console, model names."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

__all__ = ["EVENT_HELP", "cli_errors", "console", "err_console"]

console = Console()
err_console = Console(stderr=True)

EVENT_HELP = (
    "Meaning of the event column: 'event' = 1 where death was observed, 0 where censored "
    "(default); 'censored' = 1 where censored (CLAM/PORPOISE 'censorship' columns)."
)

F = TypeVar("F", bound=Callable[..., Any])


def cli_errors(func: F) -> F:
    """Turn library errors into one clear line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, FileNotFoundError, ImportError, KeyError, FloatingPointError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            err_console.print(f"[bold red]error:[/bold red] {escape(str(msg))}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/yellow]: finished work was kept")
            raise typer.Exit(code=130) from None

    return wrapper  # type: ignore[return-value]
