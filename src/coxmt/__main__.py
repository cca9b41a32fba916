"""``python -m coxmt``: the command-line tool, the same as the ``coxmt`` console script."""

from __future__ import annotations

from coxmt.cli import app

__all__: list[str] = []

if __name__ == "__main__":
    app(prog_name="coxmt")
