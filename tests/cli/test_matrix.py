"""End-to-end command-line matrix: each command x each model on the built-in cohort.

The cohort (GSE7390, 198 patients, 51 deaths, 76 genes; ``coxmt.data.load_demo``)
is written to a CSV, then every command runs through typer's CliRunner (one run
goes through a real ``python -m coxmt`` subprocess). Outputs are checked, not
only exit codes: survival in [0, 1] and non-increasing in time, IDs kept in
order under the ``--id-col`` name, C-index in [0, 1], saved models reload and
give the same risks. The slide and multimodal commands (``coxmt wsi fit | predict |
evaluate``, each of the four models) run through the same tool in
``tests/wsi/test_cli_models.py`` on generated feature files.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from coxmt.cli import app
from coxmt.data import load_demo
from coxmt.io import load_model

# few epochs / trees so the whole matrix stays fast on one core
FAST = {
    "coxmt": ["--param", "max_epochs=5", "--param", "hidden_layer_sizes=16"],
    "coxnnet": ["--param", "max_epochs=5", "--param", "hidden_layer_sizes=16"],
    "coxph": ["--param", "n_alphas=10"],
    "rsf": ["--param", "n_estimators=10"],
    "deepsurv": ["--param", "max_epochs=3", "--param", "hidden_layer_sizes=8"],
    "coxmt-cv": [
        "--param",
        "estimator__max_epochs=5",
        "--param",
        "estimator__hidden_layer_sizes=16",
    ],
    "coxmt-cv-ridge": [
        "--param",
        "estimator__max_epochs=5",
        "--param",
        "estimator__hidden_layer_sizes=16",
        "--param",
        "fallback__n_alphas=10",
    ],
}
# the hyperparameter each model's sweep varies
GRID = {
    "coxmt": "weight_decay=0,0.001",
    "coxnnet": "weight_decay=0,0.001",
    "coxph": "l1_ratio=0,0.5",
    "rsf": "min_samples_leaf=3,6",
    "deepsurv": "dropout=0,0.1",
    "coxmt-cv": "n_members=1,2",
    "coxmt-cv-ridge": "n_members=1,2",
}
HAS_PYCOX = importlib.util.find_spec("pycox") is not None and (
    importlib.util.find_spec("torchtuples") is not None
)
SAVABLE = ["coxmt", "coxnnet", "coxph", "rsf", "coxmt-cv", "coxmt-cv-ridge"]
ALL = [
    *SAVABLE,
    pytest.param(
        "deepsurv", marks=pytest.mark.skipif(not HAS_PYCOX, reason="needs the baselines extra")
    ),
]
TIMES = [365.0, 1000.0, 3000.0]


def _invoke(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def demo_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = load_demo()
    frame = table.X.copy()
    frame.insert(0, "time", table.time)
    frame.insert(1, "event", table.event.astype(int))
    path = tmp_path_factory.mktemp("matrix") / "demo.csv"
    frame.rename_axis("patient_id").reset_index().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fitted(demo_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`coxmt fit` once per savable model (module scope: the other tests reuse them)."""
    out = {}
    for model in SAVABLE:
        folder = tmp_path_factory.mktemp(f"model_{model}") / "model"
        code, text = _invoke(
            "fit", "--data", demo_csv, "--id-col", "patient_id", "--model", model,
            *FAST[model], "--out", folder,
        )  # fmt: skip
        assert code == 0, text
        assert re.search(r"training C-index 0\.\d+; saved to", text), text
        if model.startswith("coxmt-cv"):  # which candidate the inner CV chose, and why
            assert re.search(r"note: inner CV chose \w+ .*mean inner C-index 0\.\d+", text)
        out[model] = folder
    return out


@pytest.mark.parametrize("model", [pytest.param(m, id=m) for m in SAVABLE])
def test_predict(model: str, fitted: dict[str, Path], demo_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    code, text = _invoke(
        "predict", "--model", fitted[model], "--data", demo_csv, "--id-col", "patient_id",
        "--times", ",".join(f"{t:g}" for t in TIMES), "--out", out,
    )  # fmt: skip
    assert code == 0, text
    pred = pd.read_csv(out)
    source = pd.read_csv(demo_csv)
    assert list(pred.columns) == ["patient_id", "risk", *(f"survival_t{t:g}" for t in TIMES)]
    assert pred["patient_id"].tolist() == source["patient_id"].tolist()
    surv = pred[[f"survival_t{t:g}" for t in TIMES]].to_numpy()
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all()
    assert np.isfinite(pred["risk"]).all() and pred["risk"].std() > 0
    # the saved model reloads and gives the same risks
    model_obj = load_model(fitted[model])
    X = source.set_index("patient_id").drop(columns=["time", "event"])
    np.testing.assert_allclose(model_obj.predict(X), pred["risk"], rtol=1e-6, atol=1e-8)
    # and offers survival functions itself, equal to the written ones
    np.testing.assert_allclose(model_obj.predict_survival_function(X, TIMES), surv, rtol=1e-6)
    hazard = model_obj.predict_cumulative_hazard(X, TIMES)
    assert (hazard >= 0).all() and (np.diff(hazard, axis=1) >= -1e-12).all()
    if model != "rsf":  # Breslow: S = exp(-H); a forest estimates both separately
        np.testing.assert_allclose(np.exp(-hazard), surv, rtol=1e-6)


@pytest.mark.parametrize("model", [pytest.param(m, id=m) for m in SAVABLE])
def test_evaluate(model: str, fitted: dict[str, Path], demo_csv: Path) -> None:
    code, text = _invoke(
        "evaluate", "--model", fitted[model], "--data", demo_csv, "--id-col", "patient_id"
    )
    assert code == 0, text
    m = re.search(
        r"198 patients, 51 deaths: Harrell C ([\d.]+), Uno C ([\d.]+), IBS ([\d.]+)", text
    )
    assert m, text
    c, uno, ibs = (float(v) for v in m.groups())
    assert 0 <= c <= 1 and 0 <= uno <= 1 and 0 <= ibs <= 0.25


@pytest.mark.skipif(not HAS_PYCOX, reason="needs the baselines extra")
def test_fit_saves_deepsurv(demo_csv: Path, tmp_path: Path) -> None:
    code, text = _invoke(
        "fit", "--data", demo_csv, "--model", "deepsurv", *FAST["deepsurv"], "--out", tmp_path / "m"
    )
    assert code == 0, text
    assert type(load_model(tmp_path / "m").steps[-1][1]).__name__ == "DeepSurv"


@pytest.mark.parametrize("model", ALL)
def test_cv(model: str, demo_csv: Path, tmp_path: Path) -> None:
    code, text = _invoke(
        "cv", "--data", demo_csv, "--id-col", "patient_id", "--models", model, *FAST[model],
        "--folds", "3", "--repeats", "1", "--out", tmp_path / "res",
    )  # fmt: skip
    assert code == 0, text
    res = pd.read_csv(tmp_path / "res" / "results.csv")
    assert len(res) == 3
    assert res["c_index"].between(0, 1).all() and res["uno_c"].between(0, 1).all()
    assert res["ibs"].between(0, 0.25).all()
    assert "3-fold cross-validation x 1 repeats" in text


def test_cv_defaults_compare_with_ridge_cox(demo_csv: Path, tmp_path: Path) -> None:
    """Without --models, cv compares Cox-MT with Cox-nnet and with ridge Cox."""
    code, text = _invoke(
        "cv", "--data", demo_csv, "--epochs", "3", "--top-genes", "20", "--folds", "2",
        "--repeats", "1", "--out", tmp_path / "res",
    )  # fmt: skip
    assert code == 0, text
    res = pd.read_csv(tmp_path / "res" / "results.csv")
    assert sorted(set(res["model"])) == ["Cox-MT", "Cox-nnet", "CoxPH"]
    assert res["c_index"].between(0, 1).all()


@pytest.mark.parametrize("model", ALL)
def test_sweep(model: str, demo_csv: Path) -> None:
    name, values = GRID[model].split("=")
    code, text = _invoke(
        "sweep", "--data", demo_csv, "--model", model, "--grid", GRID[model], *FAST[model],
        "--folds", "2", "--repeats", "1",
    )  # fmt: skip
    assert code == 0, text
    rows = [ln for ln in text.splitlines() if f"{name}=" in ln]
    assert len(rows) == 2, text  # one line per combination, never wrapped
    for value in values.split(","):
        assert any(f"{name}={value})" in ln for ln in rows), text  # full name, not cut
    cells = [float(v) for ln in rows for v in re.findall(r"(\d\.\d{3}) ±", ln)]
    assert len(cells) == 6 and all(0 <= v <= 1 for v in cells)


def test_subprocess_run_is_plain_and_readable(demo_csv: Path, tmp_path: Path) -> None:
    """A real `python -m coxmt` run writing to pipes: no carriage returns, no wrapped cells."""
    env = {**os.environ, "COLUMNS": "60", "OMP_NUM_THREADS": "1"}
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    run = subprocess.run(
        [sys.executable, "-m", "coxmt", "cv", "--data", str(demo_csv), "--models",
         "coxmt,coxph", *FAST["coxmt"], "--folds", "2", "--repeats", "1"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stdout + run.stderr
    row = next(ln for ln in run.stdout.splitlines() if "Cox-MT" in ln and "±" in ln)
    assert re.search(r"Cox-MT .*\d\.\d{3} ± \d\.\d{3}.*\d\.\d{3} ± \d\.\d{3}", row), run.stdout
    version = subprocess.run(
        [sys.executable, "-m", "coxmt", "--version"], capture_output=True, text=True, env=env,
        check=False,
    )  # fmt: skip
    assert version.returncode == 0 and re.fullmatch(r"coxmt \S+\n", version.stdout)


@pytest.mark.parametrize("model", [pytest.param(m, id=m) for m in SAVABLE])
def test_subprocess_predict_loads_every_saved_model(
    model: str, fitted: dict[str, Path], demo_csv: Path, tmp_path: Path
) -> None:
    """A fresh `python -m coxmt predict` process loads each saved model (no class pre-imported)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    src = Path(__file__).resolve().parents[2] / "src"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    out = tmp_path / "pred.csv"
    run = subprocess.run(
        [sys.executable, "-m", "coxmt", "predict", "--model", str(fitted[model]), "--data",
         str(demo_csv), "--id-col", "patient_id", "--times", "1000", "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["patient_id", "risk", "survival_t1000"] and len(pred) == 198


def test_fit_reports_the_features_the_model_uses(demo_csv: Path, tmp_path: Path) -> None:
    code, text = _invoke(
        "fit", "--data", demo_csv, "--model", "coxph", *FAST["coxph"], "--top-genes", "20",
        "--out", tmp_path / "m",
    )  # fmt: skip
    assert code == 0, text
    assert "20 of 76 features" in text
    assert load_model(tmp_path / "m").steps[-1][1].n_features_in_ == 20


def test_epochs_reach_the_network_inside_coxmt_cv(demo_csv: Path, tmp_path: Path) -> None:
    code, text = _invoke(
        "fit", "--data", demo_csv, "--model", "coxmt-cv", "--epochs", "3", "--top-genes", "20",
        "--param", "estimator__hidden_layer_sizes=8", "--out", tmp_path / "m",
    )  # fmt: skip
    assert code == 0, text
    model = load_model(tmp_path / "m").steps[-1][1]
    assert type(model).__name__ == "CoxMTCV"
    assert {m.max_epochs for m in model.ensemble_.estimators_} == {3}
    assert 0 < model.scale_ and len(model.cv_results_) == 4
