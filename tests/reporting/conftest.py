"""Fixtures: synthetic cross-validation results folders and their reports (built once)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from coxmt.reporting import build_report
from tests.reporting._synthetic import make_results_dir


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 models x 2 repeats x 3 folds, predictions and config.json."""
    return make_results_dir(tmp_path_factory.mktemp("cv") / "run")


@pytest.fixture(scope="session")
def report(results_dir: Path) -> Path:
    """report.html built next to the results."""
    return build_report(results_dir)


@pytest.fixture(scope="session")
def setting_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scaling run: a ``setting`` column (3 values) and two cohorts."""
    return make_results_dir(
        tmp_path_factory.mktemp("cv") / "scaling",
        settings=[10, 100, 1000],
        cohorts=["BRCA", "LUAD"],
        seed=1,
    )


@pytest.fixture(scope="session")
def setting_report(setting_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Report of ``setting_dir`` written to a separate output folder."""
    return build_report(setting_dir, tmp_path_factory.mktemp("out"), title="Scaling study")


@pytest.fixture
def bare_dir(tmp_path: Path) -> Path:
    """results.csv, config.json and splits.csv only (fast to report: no Kaplan-Meier plots)."""
    return make_results_dir(tmp_path / "bare", predictions=False)


@pytest.fixture(scope="session")
def predictions(results_dir: Path) -> pd.DataFrame:
    return pd.read_csv(results_dir / "predictions.csv")


@pytest.fixture(scope="session")
def results(results_dir: Path) -> pd.DataFrame:
    return pd.read_csv(results_dir / "results.csv")
