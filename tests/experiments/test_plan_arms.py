"""The pre-registered plan's run files (benchmarks/experiments/plan/run_*.json) and the
runner pieces of arms (c) and (d): toy-size runs, the pan-cancer pool."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
EXP_DIR = REPO / "benchmarks" / "experiments"
sys.path.insert(0, str(EXP_DIR))

from _bench.config import build_model, load_config  # noqa: E402
from _bench.data import Cohort, toy_cohort  # noqa: E402
from _bench.permute import PermutedUnlabeled  # noqa: E402
from _bench.pool import WithUnlabeledPool, build_pool  # noqa: E402
from run import run_experiment  # noqa: E402

from coxmt import CoxMT  # noqa: E402

PLAN_RUNS = sorted((EXP_DIR / "plan").glob("run_*.json"))


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in PLAN_RUNS])
def test_plan_run_files_parse_and_build(path: Path) -> None:
    cfg = load_config(path)
    for part in cfg["parts"]:
        for spec in part["models"]:
            assert hasattr(build_model(spec), "fit")


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        pytest.param(
            "run_a_full",
            # --quick keeps the first four models: the tuned networks and the recommended Cox-MT
            dict.fromkeys(
                [
                    "Cox-MT (tuned)",
                    "Cox-nnet (tuned)",
                    "DeepSurv (tuned)",
                    "Cox-MT CV (x5, calibrated)",
                ],
                0,
            ),
            id="a",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "run_c_literal",
            {
                "Cox-MT (tuned, L_s on events)": 0,
                "Cox-MT (tuned, L_s on all)": 0,
                "Cox-nnet (tuned, L_s on events)": 0,
                "Cox-nnet (tuned, L_s on all)": 0,
            },
            id="c",
        ),
        pytest.param(
            "run_a2_recommended_ridge",
            {"Cox-MT CV + ridge (x5, calibrated)": 0},
            id="a2",
        ),
        pytest.param(
            "run_f_permuted",
            {"Cox-MT (tuned)": 44, "Cox-MT (tuned), permuted unlabeled rows": 44},
            id="f",
        ),
        pytest.param(
            "run_d_pool",
            {
                "Cox-MT (tuned)": 0,
                "Cox-nnet (tuned)": 0,
                "Cox-MT (tuned) + pan-cancer pool": 240,  # two toy cohorts of 120
            },
            id="d",
        ),
    ],
)
def test_arm_runs_at_toy_size(stem: str, expected: dict[str, int], tmp_path: Path) -> None:
    path = EXP_DIR / "plan" / f"{stem}.json"
    (folder,) = run_experiment(path, quick=True, out=tmp_path, verbose=False, report=False)
    res = pd.read_csv(folder / "results.csv")
    assert set(res["model"]) == set(expected)
    assert res["c_index"].between(0, 1).all()
    assert res.groupby("model")["n_unlabeled"].max().to_dict() == expected


def test_c_models_carry_supervised_on() -> None:
    cfg = load_config(EXP_DIR / "plan" / "run_c_literal.json")
    values = {s["label"]: build_model(s).estimator.supervised_on for s in cfg["parts"][0]["models"]}
    assert sorted(values.values()) == ["all", "all", "events", "events"]


class _Spy(CoxMT):
    """CoxMT that records the unlabeled rows it was given."""

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> _Spy:
        self.seen_ = X_unlabeled
        return super().fit(X, y, X_unlabeled=X_unlabeled)


def test_pool_rows_take_the_fold_genes_in_order() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 2)), columns=["B", "A"])
    y = (rng.random(30) < 0.6, rng.exponential(1.0, 30))
    pool = np.arange(12.0).reshape(4, 3)  # genes A, B, C
    m = WithUnlabeledPool(_Spy(max_epochs=2, random_state=0), pool, ("A", "B", "C")).fit(X, y)
    seen = m.estimator_.seen_
    assert list(seen.columns) == ["B", "A"]
    np.testing.assert_array_equal(seen.to_numpy(), pool[:, [1, 0]])
    assert m.n_unlabeled_ == 4 and m.predict(X).shape == (30,)


def test_permuted_unlabeled_rows_keep_each_gene_and_lose_the_rest() -> None:
    """Arm (f)'s control: every column permuted on its own, names kept, the model refitted."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(30, 3)), columns=["A", "B", "C"])
    y = (rng.random(30) < 0.6, rng.exponential(1.0, 30))
    base = rng.normal(size=(200, 1))
    U = pd.DataFrame(np.hstack([base, base, -base]), columns=["A", "B", "C"])  # correlated
    m = PermutedUnlabeled(_Spy(max_epochs=2, random_state=0), random_state=1).fit(
        X, y, X_unlabeled=U
    )
    seen = m.estimator_.seen_
    assert list(seen.columns) == ["A", "B", "C"]
    for col in "ABC":  # the same values per gene
        np.testing.assert_array_equal(np.sort(seen[col]), np.sort(U[col]))
    assert abs(np.corrcoef(seen["A"], seen["B"])[0, 1]) < 0.3  # the structure is gone
    with pytest.raises(ValueError, match="needs unlabeled rows"):
        PermutedUnlabeled(_Spy(max_epochs=2)).fit(X, y)


def test_pool_missing_gene_is_an_error() -> None:
    X = pd.DataFrame(np.zeros((4, 1)), columns=["Z"])
    with pytest.raises(ValueError, match="lacks the genes"):
        WithUnlabeledPool(CoxMT(), np.zeros((2, 1)), ("A",)).fit(X, ([1, 0, 1, 1], [1, 2, 3, 4]))


def _renamed(c: Cohort, keep: list[int], scale: float) -> Cohort:
    X = c.X.iloc[:, keep] * scale
    return Cohort(c.name, X, c.y, c.source, c.time_unit)


def test_build_pool_aligns_genes_and_scales_each_pool_cohort_on_itself() -> None:
    a = toy_cohort("a", n=40, p=6, seed=1)
    b = _renamed(toy_cohort("b", n=30, p=6, seed=2), [5, 1, 2, 3], 1000.0)  # heavy scale
    c = _renamed(toy_cohort("c", n=20, p=6, seed=3), [2, 1, 3, 0], 1.0)
    pool = build_pool(a, [b, c])
    assert pool.genes == ("G1", "G2", "G3")  # common to all three, in a's order
    assert list(pool.X.columns) == list(pool.genes) and pool.X.shape == (40, 3)
    assert pool.pool.shape == (50, 3)
    # each pool cohort standardised on itself: b's 1000x scale is gone
    np.testing.assert_allclose(pool.pool[:30].mean(0), 0.0, atol=0.2)
    np.testing.assert_allclose(pool.pool[30:].std(0), 1.0, atol=0.2)
    assert pool.info["pool_rows"] == {"b": 30, "c": 20}


def test_build_pool_refuses_the_cohort_itself() -> None:
    a = toy_cohort("a", n=20, p=3)
    with pytest.raises(ValueError, match="own unlabeled pool"):
        build_pool(a, [a])
