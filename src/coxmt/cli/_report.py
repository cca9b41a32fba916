"""The ``coxmt report`` command: an HTML/Markdown report of a cross-validation results folder."""

from __future__ import annotations

from pathlib import Path

import typer

from coxmt.cli._common import cli_errors, console

__all__ = ["register", "report"]


@cli_errors
def report(
    results_dir: Path = typer.Argument(
        ..., help="Results folder written by `coxmt cv --out` (holds results.csv)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for report.html, report.md and figures/ (default: RESULTS_DIR)."
    ),
    title: str | None = typer.Option(None, "--title", help="Report title."),
    reference: str = typer.Option(
        "Cox-MT", "--reference", help="Model the others are compared with in the paired tests."
    ),
) -> None:
    """Write report.html (self-contained), report.md and figures/ for a cross-validation run.

    The report holds the run configuration, mean ± sd and 95% CI of Harrell's C, Uno's C
    and the integrated Brier score per model, paired tests against --reference, box plots,
    Kaplan-Meier curves of predicted risk groups and, when results.csv has a `setting`
    column, scaling curves. Prints the path of report.html.
    """
    from coxmt.reporting import build_report

    path = build_report(results_dir, out, title=title, reference=reference)
    console.print(str(path), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to ``app``."""
    app.command("report")(report)
