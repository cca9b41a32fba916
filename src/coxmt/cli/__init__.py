"""The ``coxmt`` command-line tool (typer). Thin: parses options, calls the library, prints."""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="coxmt",
    help=(
        "Deep semi-supervised survival analysis: Cox-MT (Mean Teacher Cox networks), Cox-nnet "
        "and baselines, cross-validated comparisons, reports and whole-slide-image features.\n\n"
        "Event convention: the event column holds 1 where death (the event) was observed and 0 "
        "where the patient was censored. Tables that store a censorship flag (1 = censored, as "
        "CLAM/PORPOISE do) are read with --event-means censored."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in ("_core", "_experiments", "_report", "_wsi"):
    # each command module imports its heavy dependencies lazily, inside the commands
    importlib.import_module(f"coxmt.cli.{_module}").register(app)


def main() -> None:
    """Entry point of the ``coxmt`` console script."""
    app()
