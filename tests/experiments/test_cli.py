"""`coxmt cv` and `coxmt sweep` through typer's CliRunner on a temporary CSV."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from coxmt.cli._experiments import register

from .test_splits import _write_mcat


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def table(tmp_path, cohort):
    X, y = cohort
    frame = X.reset_index().rename(columns={"id": "case_id"})
    frame.insert(1, "time_months", y["time"])
    frame.insert(2, "censorship", (~y["event"]).astype(int))
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


def _args(table, *extra):
    return ["cv", "--data", str(table), "--time-col", "time_months", "--event-col", "censorship",
            "--event-means", "censored", "--id-col", "case_id", "--features", "^g",
            "--epochs", "5", "--no-progress", *extra]  # fmt: skip


def test_cv_prints_table_and_writes_results(app, table, tmp_path):
    out = tmp_path / "results"
    res = CliRunner().invoke(
        app, _args(table, "--models", "coxmt,coxnnet", "--folds", "3", "--repeats", "1",
                   "--out", str(out), "--top-genes", "8"),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "Cox-MT" in res.output and "Cox-nnet" in res.output
    assert "±" in res.output and "Wilcoxon" in res.output
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 6
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["path"].endswith("cohort.csv") and config["data"]["top_genes"] == 8
    assert config["data"]["n_features"] == 10
    assert pd.read_csv(out / "splits.csv")["id"].str.startswith("P").all()
    # same command again: everything is resumed from parts/, same table
    again = CliRunner().invoke(
        app, _args(table, "--models", "coxmt,coxnnet", "--folds", "3", "--repeats", "1",
                   "--out", str(out), "--top-genes", "8"),
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    cols = ["model", "repeat", "fold", "c_index", "uno_c", "ibs"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv")[cols], results[cols])


def test_cv_with_mcat_splits_and_unlabeled(app, table, tmp_path, cohort):
    X, _ = cohort
    _write_mcat(tmp_path / "mcat", list(X.index))
    unl = X.iloc[:20].reset_index().rename(columns={"id": "case_id"})
    unl.to_csv(tmp_path / "unl.csv", index=False)
    res = CliRunner().invoke(
        app, _args(table, "--models", "coxmt", "--splits", str(tmp_path / "mcat"),
                   "--unlabeled", str(tmp_path / "unl.csv"), "--out", str(tmp_path / "o")),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    results = pd.read_csv(tmp_path / "o" / "results.csv")
    assert results["fold"].tolist() == [0, 1, 2]
    # patients of each test fold are removed from the unlabeled set
    assert results["n_unlabeled"].tolist() == [20 - len(range(k, 20, 3)) for k in range(3)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["--models", "svm"], "unknown model 'svm'", id="model"),
        pytest.param(["--folds", "1"], "--folds must be >= 2", id="folds"),
        pytest.param(
            ["--folds", "200"], "cannot make 200 folds from 66 deaths", id="too-many-folds"
        ),
        pytest.param(["--top-genes", "0"], "--top-genes must be >= 1", id="top-genes"),
        pytest.param(["--event-means", "dead"], "--event-means must be", id="event-means"),
        pytest.param(["--reference", "rsf"], "--reference 'rsf' is not among", id="reference"),
    ],
)
def test_cv_errors_are_one_line(app, table, extra, message):
    res = CliRunner().invoke(app, _args(table, "--models", "coxnnet", *extra))
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_cv_missing_column_and_changed_config(app, table, tmp_path):
    res = CliRunner().invoke(app, ["cv", "--data", str(table), "--time-col", "os_time"])
    assert res.exit_code == 2 and "'os_time' not found" in res.output
    out = str(tmp_path / "o")
    ok = CliRunner().invoke(app, _args(table, "--models", "coxnnet", "--folds", "2",
                                       "--repeats", "1", "--out", out))  # fmt: skip
    assert ok.exit_code == 0, ok.output
    changed = _args(table, "--models", "coxnnet", "--folds", "3", "--repeats", "1", "--out", out)
    res = CliRunner().invoke(app, changed)
    assert res.exit_code == 2 and "--overwrite" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, [*changed, "--overwrite"])
    assert res.exit_code == 0, res.output


def test_cv_reference_option(app, table):
    args = _args(table, "--models", "coxnnet,coxmt", "--folds", "2", "--repeats", "1")
    res = CliRunner().invoke(app, [*args, "--reference", "coxnnet"])
    assert res.exit_code == 0, res.output
    assert "vs Cox-nnet" in res.output


def test_sweep(app, table):
    args = _args(table, "--folds", "2", "--repeats", "1")
    args[0] = "sweep"
    res = CliRunner().invoke(app, [*args, "--model", "coxnnet", "--grid", "dropout=0,0.3"])
    assert res.exit_code == 0, res.output
    assert "Cox-nnet(dropout=0)" in res.output and "Cox-nnet(dropout=0.3)" in res.output
