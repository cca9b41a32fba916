"""The ``coxmt`` command-line tool (typer). Thin: parses options, calls the library, prints."""

from __future__ import annotations

import importlib

import typer
from typer.models import DefaultPlaceholder

from coxmt.cli._common import FlagCommand, FlagGroup

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


def _version(value: bool) -> None:
    if value:
        from coxmt import __version__

        typer.echo(f"coxmt {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Deep semi-supervised survival analysis (see the commands below)."""


for _module in ("_core", "_experiments", "_report", "_wsi"):
    # each command module imports its heavy dependencies lazily, inside the commands
    importlib.import_module(f"coxmt.cli.{_module}").register(app)


def _use_flag_command(typer_app: typer.Typer) -> None:
    """No ``<bool>`` placeholder after on/off flags in the help of every command."""
    if isinstance(typer_app.info.cls, DefaultPlaceholder) or typer_app.info.cls in (
        None,
        typer.core.TyperGroup,
    ):
        typer_app.info.cls = FlagGroup
    for info in typer_app.registered_commands:
        if info.cls is None or info.cls is typer.core.TyperCommand:
            info.cls = FlagCommand
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            _use_flag_command(group.typer_instance)


_use_flag_command(app)


def main() -> None:
    """Entry point of the ``coxmt`` console script."""
    app()
