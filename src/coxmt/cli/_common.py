"""Shared CLI helpers: one-line errors and warnings, interruption, the console."""

from __future__ import annotations

import functools
import os
import re
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

__all__ = [
    "EVENT_HELP",
    "IMPUTE_HELP",
    "check_missing_values",
    "cli_errors",
    "console",
    "err_console",
    "note_constant_features",
    "sigterm_as_interrupt",
]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

EVENT_HELP = (
    "Meaning of the event column: 'event' = 1 where death was observed, 0 where censored "
    "(default); 'censored' = 1 where censored (CLAM/PORPOISE 'censorship' columns)."
)
IMPUTE_HELP = (
    "Fill missing feature values with the training 'median' or 'mean' (saved with the model). "
    "Without it, missing values are an error."
)

TRACEBACK_ENV = "COXMT_TRACEBACK"

# library parameter names -> the command-line options that set them
_OPTION_NAMES = {
    "time_col": "--time-col",
    "event_col": "--event-col",
    "id_col": "--id-col",
    "feature_cols": "--features",
    "event_means": "--event-means",
    "n_splits": "--folds",
}
_OPTION_RE = re.compile(r"\b(" + "|".join(_OPTION_NAMES) + r")=(?!=)(\s?)")

F = TypeVar("F", bound=Callable[..., Any])

# exceptions typer handles itself (exit codes, usage errors); typer >= 0.2x vendors click
_TYPER_EXCEPTIONS: tuple[type[BaseException], ...] = tuple(
    exc
    for exc in (
        typer.Exit,
        typer.Abort,
        getattr(__import__("typer.exceptions").exceptions, "TyperException", None),
    )
    if isinstance(exc, type)
)
try:  # typer versions built on click raise click's exceptions
    import click as _click

    _TYPER_EXCEPTIONS += (_click.exceptions.Exit, _click.exceptions.Abort, _click.ClickException)
except ImportError:  # pragma: no cover - typer without click
    pass


def _as_options(message: str) -> str:
    """Spell library parameters as options: ``Pass time_col='x'`` -> ``Pass --time-col 'x'``."""
    return _OPTION_RE.sub(lambda m: f"{_OPTION_NAMES[m.group(1)]} ", message).replace("  ", " ")


def _print_error(message: str) -> None:
    err_console.print(
        f"[bold red]error:[/bold red] {escape(_as_options(message))}",
        highlight=False,
        soft_wrap=True,
    )


def _raise_interrupt(signum: int, frame: Any) -> None:
    # a second SIGTERM during the clean-up ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the block runs (main thread only).

    Finished work (saved parts, completed files) is kept and temporary files are
    removed, exactly as for Ctrl-C. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Print library warnings (e.g. an implausible event rate) as yellow lines, not tracebacks.

    Only ``UserWarning`` and ``RuntimeWarning`` are printed; others are re-issued
    for Python's warning filters.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            shown: set[str] = set()
            other = []
            for w in caught:
                if issubclass(w.category, UserWarning | RuntimeWarning):
                    text = str(w.message)
                    if text not in shown:
                        shown.add(text)
                        err_console.print(
                            f"[yellow]warning:[/yellow] {escape(_as_options(text))}",
                            highlight=False,
                            soft_wrap=True,
                        )
                else:
                    other.append(w)
    for w in other:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def cli_errors(func: F) -> F:
    """Run a command with clear one-line errors and warnings, and clean interruption.

    - ``ValueError``, ``OSError`` (missing files, permissions, full disk), ``ImportError``
      (a missing extra), ``KeyError`` and ``FloatingPointError``: ``error: <message>`` on
      stderr, exit code 2, no traceback.
    - Ctrl-C or SIGTERM: finished work is kept, temporary files are removed, exit code 130.
    - Any other exception: a one-line description and exit code 1; set the environment
      variable ``COXMT_TRACEBACK=1`` to see the full traceback.
    - ``UserWarning``/``RuntimeWarning``: ``warning: <message>`` lines on stderr.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with sigterm_as_interrupt(), _warnings_as_lines():
                return func(*args, **kwargs)
        except _TYPER_EXCEPTIONS:
            raise
        except (ValueError, OSError, ImportError, KeyError, FloatingPointError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, OSError) and not isinstance(
                exc, FileNotFoundError | PermissionError
            ):
                msg = f"{type(exc).__name__}: {msg}"
            _print_error(str(msg))
            raise typer.Exit(code=2) from None
        except MemoryError:
            _print_error(
                "out of memory; score large tables in smaller chunks (--chunk-rows) or use a "
                "machine with more memory"
            )
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted[/yellow]: finished work was kept; run the same command "
                "again to resume"
            )
            raise typer.Exit(code=130) from None
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV):
                raise
            _print_error(
                f"unexpected {type(exc).__name__}: {exc}. This is a bug in coxmt or an input it "
                f"does not handle; set {TRACEBACK_ENV}=1 to see the traceback and report it"
            )
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


_IMPUTE_FIX = (
    "pass --impute median (or mean) to fill them with training-set statistics, or drop those "
    "patients or columns"
)


def check_missing_values(X: Any, impute: str | None, what: str, fix: str = _IMPUTE_FIX) -> None:
    """Refuse NaN features unless ``--impute`` is given, naming columns and patients."""
    import numpy as np

    if impute is not None or X is None:
        return
    na = X.isna().to_numpy()
    if not na.any():
        return
    cols = [str(c) for c in X.columns[na.any(axis=0)]]
    rows = np.flatnonzero(na.any(axis=1))
    ids = [str(i) for i in X.index[rows[:10]]]
    raise ValueError(
        f"{what} has missing values in {len(cols)} feature column(s) {cols[:10]}"
        f"{' ...' if len(cols) > 10 else ''} for {rows.size} patient(s) (IDs/rows {ids}"
        f"{' ...' if rows.size > 10 else ''}); {fix}"
    )


def note_constant_features(X: Any) -> None:
    """Print a note naming the features that are constant in the whole table."""
    if X is None or X.shape[0] < 2:
        return
    constant = [str(c) for c in X.columns[(X.nunique(dropna=True) <= 1).to_numpy()]]
    if constant:
        console.print(
            f"note: {len(constant)} constant feature(s) carry no information and are dropped: "
            f"{', '.join(constant[:10])}{' ...' if len(constant) > 10 else ''}",
            highlight=False,
        )
