"""Command-line mistakes: one line and exit 2, or a warning where the result is still valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coxmt import CoxMT
from coxmt.cli import app
from coxmt.io import load_model

FAST = ["--param", "max_epochs=3", "--param", "hidden_layer_sizes=8"]


def _invoke(*args: object) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


@pytest.fixture
def cohort() -> pd.DataFrame:
    """60 patients, IDs P00.., 6 genes, ~half deaths."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 6))
    frame = pd.DataFrame(X, columns=[f"g{j}_rnaseq" for j in range(6)])
    frame.insert(0, "case_id", [f"P{i:02d}" for i in range(60)])
    frame.insert(1, "time", rng.exponential(30, size=60).round(2) + 0.5)
    frame.insert(2, "event", (rng.random(60) < 0.5).astype(int))
    return frame


@pytest.fixture
def csv(tmp_path: Path, cohort: pd.DataFrame) -> Path:
    path = tmp_path / "cohort.csv"
    cohort.to_csv(path, index=False)
    return path


def _fit(csv: Path, out: Path, *extra: object) -> tuple[int, str]:
    return _invoke("fit", "--data", csv, "--id-col", "case_id", *FAST, "--out", out, *extra)


def test_more_folds_than_deaths_is_one_line(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["event"] = 0
    cohort.loc[:2, "event"] = 1  # 3 deaths
    cohort.to_csv(tmp_path / "three.csv", index=False)
    code, text = _invoke("cv", "--data", tmp_path / "three.csv", "--folds", "5", "--models",
                         "coxph", "--repeats", "1")  # fmt: skip
    assert code == 2
    assert text.count("\n") == 1 and text.startswith("error: cannot make 5 folds from 3 deaths")
    assert "use --folds 3 or fewer" in text
    assert "n_splits" not in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--param", "hidden_units=64"], "valid names: activation", id="param-name"),
        pytest.param(["--param", "max_epochs"], "write NAME=VALUE", id="param-syntax"),
        pytest.param(["--epochs", "4", "--param", "max_epochs=5"], "disagree", id="epochs-twice"),
    ],
)
def test_bad_param_is_one_line(csv: Path, tmp_path: Path, args: list[str], expected: str) -> None:
    code, text = _invoke("fit", "--data", csv, "--out", tmp_path / "m", *args)
    assert code == 2 and text.count("\n") == 1 and expected in text, text


def test_sweep_grid_names_are_checked(csv: Path) -> None:
    code, text = _invoke("sweep", "--data", csv, "--grid", "hidden_units=64")
    assert code == 2 and "--grid names unknown hyperparameter(s) ['hidden_units']" in text
    assert "hidden_layer_sizes" in text  # the valid names are listed


def test_param_sets_layer_sizes(csv: Path, tmp_path: Path) -> None:
    code, text = _invoke("fit", "--data", csv, "--id-col", "case_id", "--param", "max_epochs=2",
                         "--param", "hidden_layer_sizes=7,5", "--out", tmp_path / "m")  # fmt: skip
    assert code == 0, text
    assert load_model(tmp_path / "m")[-1].hidden_layer_sizes == (7, 5)


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param("64", id="string"),
        pytest.param((64, 0), id="zero"),
        pytest.param(2.5, id="float"),
    ],
)
def test_layer_sizes_are_validated(cohort: pd.DataFrame, sizes: object) -> None:
    X = cohort.filter(like="_rnaseq")
    y = (cohort["event"].to_numpy() == 1, cohort["time"].to_numpy())
    with pytest.raises(ValueError, match="hidden_layer_sizes must"):
        CoxMT(hidden_layer_sizes=sizes, max_epochs=2).fit(X, y)


def test_layer_sizes_accept_an_int(cohort: pd.DataFrame) -> None:
    X = cohort.filter(like="_rnaseq")
    y = (cohort["event"].to_numpy() == 1, cohort["time"].to_numpy())
    model = CoxMT(hidden_layer_sizes=5, max_epochs=2, random_state=0).fit(X, y)
    assert model.module_.hidden[0].out_features == 5


def test_times_negative_refused_late_warned(csv: Path, tmp_path: Path) -> None:
    assert _fit(csv, tmp_path / "m")[0] == 0
    code, text = _invoke("predict", "--model", tmp_path / "m", "--data", csv, "--times", "6,-12",
                         "--out", tmp_path / "p.csv")  # fmt: skip
    assert code == 2 and text.count("\n") == 1 and "--times must be >= 0" in text
    code, text = _invoke("predict", "--model", tmp_path / "m", "--data", csv, "--id-col",
                         "case_id", "--times", "6,10000", "--out", tmp_path / "p.csv")  # fmt: skip
    assert code == 0, text
    assert "warning: time(s) 10000 past the last death in the training data" in text
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred.columns) == ["case_id", "risk", "survival_t6", "survival_t10000"]


def test_unlabeled_with_a_supervised_model_is_refused(csv: Path, tmp_path: Path) -> None:
    code, text = _fit(csv, tmp_path / "m", "--model", "coxnnet", "--unlabeled", csv)
    assert code == 2 and "--unlabeled is used only by semi-supervised models" in text
    assert "unlabeled)" not in text and not (tmp_path / "m").exists()


def test_unlabeled_training_patients_are_warned(
    csv: Path, tmp_path: Path, cohort: pd.DataFrame
) -> None:
    cohort.drop(columns=["time", "event"]).head(5).to_csv(tmp_path / "u.csv", index=False)
    code, text = _fit(csv, tmp_path / "m", "--unlabeled", tmp_path / "u.csv")
    assert code == 0, text
    assert "warning: 5 unlabeled row(s) have IDs of labeled patients" in text
    assert "5 unlabeled)" in text


def test_skipped_text_column_is_listed(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["g5_rnaseq"] = cohort["g5_rnaseq"].astype(object)
    cohort.loc[4, "g5_rnaseq"] = "n/a?"
    cohort.to_csv(tmp_path / "t.csv", index=False)
    code, text = _fit(tmp_path / "t.csv", tmp_path / "m")
    assert code == 0, text
    assert "1 non-numeric column(s) were left out of the features: g5_rnaseq" in text
    assert "'n/a?'" in text and "--features" in text
    assert "5 features" in text


def test_all_nan_gene_with_impute_is_dropped(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort["g5_rnaseq"] = np.nan
    cohort.loc[3, "g1_rnaseq"] = np.nan
    cohort.to_csv(tmp_path / "t.csv", index=False)
    code, text = _fit(tmp_path / "t.csv", tmp_path / "m", "--impute", "median")
    assert code == 0, text
    assert "1 feature column(s) without any value were dropped: ['g5_rnaseq']" in text
    assert "g5_rnaseq" not in list(load_model(tmp_path / "m").feature_names_in_)


def test_log2_hint_names_the_option(csv: Path, tmp_path: Path) -> None:
    code, text = _fit(csv, tmp_path / "m", "--log2")
    assert code == 2 and "--no-log2" in text and "make_rnaseq_preprocessor" not in text


def test_decimal_comma_hint(tmp_path: Path, cohort: pd.DataFrame) -> None:
    cohort.to_csv(tmp_path / "t.csv", index=False, sep=";", decimal=",")
    code, text = _fit(tmp_path / "t.csv", tmp_path / "m")
    assert code == 2
    assert "decimal comma" in text


def test_fit_refuses_a_model_that_cannot_be_saved_before_training(
    csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model"
    code, text = _invoke("fit", "--data", csv, "--id-col", "case_id", "--model",
                         "sklearn.linear_model:LinearRegression", "--out", out)  # fmt: skip
    assert code == 2 and text.count("\n") == 1
    assert text.startswith("error: sklearn.linear_model:LinearRegression cannot be saved")
    assert "coxmt cv --models coxmt,sklearn.linear_model:LinearRegression" in text
    assert not out.exists()


@pytest.mark.parametrize("command", ["fit", "predict", "evaluate", "cv", "sweep", "demo"])
def test_help_has_no_bool_placeholder(command: str) -> None:
    code, text = _invoke(command, "--help")
    assert code == 0 and "<bool>" not in text and "--help" in text
    assert "--threads" in text


def test_version() -> None:
    from coxmt import __version__

    assert _invoke("--version") == (0, f"coxmt {__version__}\n")


def test_cv_unlabeled_names_the_models_that_ignore_it(
    csv: Path, tmp_path: Path, cohort: pd.DataFrame
) -> None:
    unl = cohort.drop(columns=["time", "event"]).assign(case_id=lambda f: "U" + f["case_id"])
    unl.to_csv(tmp_path / "u.csv", index=False)
    args = ["cv", "--data", csv, "--id-col", "case_id", "--unlabeled", tmp_path / "u.csv",
            *FAST, "--folds", "2", "--repeats", "1"]  # fmt: skip
    code, text = _invoke(*args, "--models", "coxnnet")
    assert code == 2 and text.count("\n") == 1 and "Cox-nnet would ignore it" in text
    code, text = _invoke(*args, "--models", "coxmt,coxnnet")
    assert code == 0, text
    assert "warning: Cox-nnet does not use --unlabeled; only Cox-MT trained" in text
    assert "60 unlabeled" in text and "IDs of labeled patients" not in text
