"""The ``coxmt report`` command (registered on a bare typer app, as the main CLI does)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from coxmt.cli._report import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test application."""

    register(app)
    return app


def test_report_prints_the_path(app: typer.Typer, bare_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        app, ["report", str(bare_dir), "--out", str(out), "--title", "BRCA run"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "report.html")
    assert "<h1>BRCA run</h1>" in (out / "report.html").read_text(encoding="utf-8")


def test_missing_results_is_one_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert "error:" in message and "Traceback" not in message
    assert "is not a cross-validation results folder (results.csv is missing)" in message
    assert "coxmt cv --data TABLE --out FOLDER" in message


def test_help_lists_options(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["report", "--help"])
    assert result.exit_code == 0
    for option in ("--out", "--title", "--reference", "RESULTS_DIR"):
        assert option in result.output
