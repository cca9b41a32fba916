"""Smoke tests of the TCGA experiment suite (benchmarks/experiments).

Every configuration must parse, build its models and run end to end at toy size
(synthetic cohorts standing in for TCGA, 2 folds, 2 epochs) in a few seconds.
The suite's model-selection tools live in the library (tests/model_selection).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
EXP_DIR = REPO / "benchmarks" / "experiments"
sys.path.insert(0, str(EXP_DIR))

from _bench.config import build_model, load_config  # noqa: E402
from _bench.data import toy_cohort  # noqa: E402
from _bench.kinds import _label_counts, site_splits  # noqa: E402
from run import main, run_experiment  # noqa: E402

from coxmt import CoxMT  # noqa: E402
from coxmt.model_selection import LabelFraction, site_codes  # noqa: E402

CONFIGS = sorted(EXP_DIR.glob("*.json"))


def test_there_are_configs() -> None:
    names = {p.stem for p in CONFIGS}
    for prefix in "abcdefg":
        assert any(n.startswith(prefix + "_") for n in names), f"no config for experiment {prefix}"


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CONFIGS])
def test_config_parses_and_builds_models(path: Path) -> None:
    cfg = load_config(path)
    assert cfg["name"] == path.stem
    assert cfg["parts"]
    for part in cfg["parts"]:
        for spec in part.get("models", []):
            est = build_model(spec)
            assert hasattr(est, "fit") and hasattr(est, "predict")


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CONFIGS])
def test_config_runs_at_toy_size(path: Path, tmp_path: Path) -> None:
    folders = run_experiment(path, quick=True, out=tmp_path, verbose=False, report=False)
    assert folders
    for folder in folders:
        res = pd.read_csv(folder / "results.csv")
        cfg = json.loads((folder / "config.json").read_text())
        assert {"model", "repeat", "fold", "c_index", "ibs"} <= set(res.columns)
        assert set(res["model"]) == set(cfg["model_order"])
        assert res["c_index"].between(0, 1).all()
        pred = pd.read_csv(folder / "predictions.csv")
        assert len(pred) == int(res["n_test"].sum())


@pytest.mark.slow
def test_quick_run_writes_report(tmp_path: Path) -> None:
    folders = run_experiment(
        EXP_DIR / "a_baselines.json", quick=True, out=tmp_path, verbose=False, parts=["main"]
    )
    assert (folders[0] / "report.html").is_file()
    assert (folders[0] / "report.md").read_text().count("Cox-MT") > 2


def test_cli_train_test_pair(tmp_path: Path) -> None:
    rc = main(
        [
            str(EXP_DIR / "e_external.json"),
            "--quick",
            "--out",
            str(tmp_path),
            "--train",
            "lusc",
            "--test",
            "luad",
            "--quiet",
            "--no-report",
        ]
    )
    assert rc == 0
    res = pd.read_csv(tmp_path / "cross_cohort" / "results.csv")
    assert set(res["cohort"]) == {"LUSC→LUAD"}
    unl = res[res["model"] == "Cox-MT + external unlabeled"]
    # the other half of the external cohort, never the test half
    assert (unl["n_unlabeled"] + unl["n_test"] == 120).all()


# ----------------------------------------------------------------------------- glue to the library
def test_label_counts_match_label_fraction() -> None:
    c = toy_cohort(n=100, p=4, seed=3)
    semi = LabelFraction(CoxMT(max_epochs=2), 0.25, random_state=5).fit(c.X, c.y)
    counts = _label_counts(c.event, 0.25, True, 5)
    assert counts["n_labeled"] == semi.n_labeled_
    assert counts["n_unlabeled"] == semi.n_unlabeled_ == 100 - semi.n_labeled_
    assert _label_counts(c.event, 0.25, False, 5)["n_unlabeled"] == 0


def test_site_splits_never_share_sites() -> None:
    c = toy_cohort(n=90, p=3)
    splits = site_splits(c.X.index, c.event, 3, 2, random_state=0)
    sites = site_codes(c.X.index)
    assert [(s.repeat, s.fold) for s in splits] == [(r, k) for r in range(2) for k in range(3)]
    for s in splits:
        assert not set(sites[s.train]) & set(sites[s.test])
        assert len(s.train) + len(s.test) == 90
    assert not np.array_equal(splits[0].test, splits[3].test)  # repeats differ
