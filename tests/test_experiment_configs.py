"""Smoke tests of the TCGA experiment suite (benchmarks/experiments).

Every configuration must parse, build its models and run end to end at toy size
(synthetic cohorts standing in for TCGA, 2 folds, 2 epochs) in a few seconds;
the meta-estimators used by the suite must keep unlabeled and test patients apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

REPO = Path(__file__).resolve().parents[1]
EXP_DIR = REPO / "benchmarks" / "experiments"
sys.path.insert(0, str(EXP_DIR))

from _bench.config import build_model, load_config  # noqa: E402
from _bench.data import align_genes, site_codes, toy_cohort  # noqa: E402
from _bench.kinds import _label_counts, site_splits  # noqa: E402
from _bench.meta import InnerCVSearch, LabelFraction, is_semi_supervised  # noqa: E402
from run import main, run_experiment  # noqa: E402

from coxmt import CoxMT, CoxNnet  # noqa: E402
from coxmt.experiments import derive_seed  # noqa: E402

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


# ----------------------------------------------------------------------------- meta-estimators
class _Recorder(BaseEstimator):
    """Risk = first feature; records the shapes fit received."""

    calls: ClassVar[list[tuple[int, int | None]]] = []

    def __init__(self, consistency_weight: float = 1.0, random_state: Any = None) -> None:
        self.consistency_weight = consistency_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> _Recorder:
        _Recorder.calls.append((len(X), None if X_unlabeled is None else len(X_unlabeled)))
        self.fitted_ = True
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0] * self.consistency_weight


def _data(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    c = toy_cohort(n=n, p=4, seed=3)
    return c.X.to_numpy(), c.y


def test_inner_cv_search_gives_unlabeled_rows_whole() -> None:
    X, y = _data()
    Xu = np.zeros((17, 4))
    _Recorder.calls = []
    s = InnerCVSearch(_Recorder(), {"consistency_weight": [1.0, -1.0]}, cv=3, random_state=0)
    s.fit(X, y, X_unlabeled=Xu)
    assert len(_Recorder.calls) == 2 * 3 + 1
    assert all(u == 17 for _, u in _Recorder.calls)
    assert sorted(n for n, _ in _Recorder.calls[:3]) == [40, 40, 40]
    assert _Recorder.calls[-1][0] == 60
    assert s.best_params_ == {"consistency_weight": 1.0}  # risk = X0 is the true direction
    assert s.cv_results_.shape[0] == 2


def test_label_fraction_semi_vs_supervised() -> None:
    X, y = _data(100)
    semi = LabelFraction(CoxMT(max_epochs=2), 0.25, random_state=5).fit(X, y)
    sup = LabelFraction(CoxNnet(max_epochs=2), 0.25, random_state=5).fit(X, y)
    assert semi.n_labeled_ == sup.n_labeled_
    assert semi.n_unlabeled_ == 100 - semi.n_labeled_
    assert sup.n_unlabeled_ == 0
    counts = _label_counts(np.asarray(y["event"]), 0.25, True, 5)
    assert counts["n_labeled"] == semi.n_labeled_
    assert counts["n_unlabeled"] == semi.n_unlabeled_
    assert is_semi_supervised(CoxMT()) and not is_semi_supervised(CoxNnet())


def test_label_fraction_keeps_events() -> None:
    event = np.zeros(50, dtype=bool)
    event[:3] = True
    kept = LabelFraction.kept_rows(event, 0.1, derive_seed(0, 1))
    assert event[kept].sum() >= 2
    assert np.array_equal(kept, LabelFraction.kept_rows(event, 0.1, derive_seed(0, 1)))


# ----------------------------------------------------------------------------- data helpers
def test_site_splits_never_share_sites() -> None:
    c = toy_cohort(n=90, p=3)
    splits = site_splits(c.X.index, c.event, 3, 2, random_state=0)
    sites = site_codes(c.X.index)
    assert len(splits) == 6
    for s in splits:
        assert not set(sites[s.train]) & set(sites[s.test])
        assert len(s.train) + len(s.test) == 90


def test_site_codes_rejects_non_tcga_ids() -> None:
    with pytest.raises(ValueError, match="not a TCGA barcode"):
        site_codes(["patient-1"])


def test_align_genes_by_symbol() -> None:
    a = pd.DataFrame(np.ones((2, 3)), columns=["A_rnaseq", "B_rnaseq", "C_rnaseq"])
    b = pd.DataFrame(np.ones((2, 2)), columns=["C_rnaseq", "A_rnaseq"])
    xa, xb, n = align_genes(a, b)
    assert n == 2 and list(xa.columns) == ["A", "C"] == list(xb.columns)
    with pytest.raises(ValueError, match="share no gene"):
        align_genes(a, pd.DataFrame(np.ones((1, 1)), columns=["Z_rnaseq"]))
