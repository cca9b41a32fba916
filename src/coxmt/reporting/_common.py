"""Small shared helpers of the reporting package: column checks, p-value formatting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

__all__ = ["format_p", "p_equals", "require_columns"]


def require_columns(frame: Any, columns: Sequence[str], what: str) -> pd.DataFrame:
    """Return ``frame`` when it is a DataFrame holding ``columns``; raise otherwise."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} lacks the columns {missing} (it has {list(frame.columns)}); pass the "
            f"table from a cross-validation results folder ({what}.csv)"
        )
    return frame


def format_p(p: float) -> str:
    """A p-value for display: two significant digits, ``< 0.0001`` below that.

    Examples
    --------
    >>> format_p(0.04321), format_p(3e-7), format_p(float("nan"))
    ('0.043', '< 0.0001', 'n/a')
    """
    if p != p:
        return "n/a"
    if p < 1e-4:
        return "< 0.0001"
    return f"{p:.2g}" if p < 0.1 else f"{p:.2f}"


def p_equals(p: float) -> str:
    """``"p = 0.013"``, or ``"p < 0.0001"`` for tiny p-values.

    Examples
    --------
    >>> p_equals(0.0131), p_equals(1e-9)
    ('p = 0.013', 'p < 0.0001')
    """
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
