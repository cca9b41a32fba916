"""SeedEnsemble: members differ only by seed, batched training, mean risk, Breslow baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from coxmt import CoxMT, CoxNnet, load_model, save_model
from coxmt.baseline import BreslowBaseline
from coxmt.metrics import concordance_index
from coxmt.model_selection import SeedEnsemble, Unlabeled, derive_seed

from .conftest import tcga_like

TINY = {"hidden_layer_sizes": (8,), "max_epochs": 6}
NETS = [
    pytest.param(CoxNnet, id="CoxNnet"),
    pytest.param(CoxMT, id="CoxMT"),
]


@pytest.fixture
def cohort() -> tuple[Any, np.ndarray, np.ndarray]:
    X, y = tcga_like(n=60, p=4)
    U = np.random.default_rng(9).normal(size=(15, 4))
    return X, y, U


@pytest.mark.parametrize("net", NETS)
def test_identical_seeds_equal_the_single_model(net: type, cohort: Any) -> None:
    X, y, U = cohort
    ens = SeedEnsemble(net(**TINY), n_members=3, random_state=[7, 7, 7]).fit(X, y, X_unlabeled=U)
    single = net(**TINY, random_state=7).fit(X, y, X_unlabeled=U)
    np.testing.assert_allclose(ens.predict(X), single.predict(X), rtol=1e-5, atol=1e-6)
    times = np.quantile(y["time"], [0.2, 0.5, 0.8])
    np.testing.assert_allclose(
        ens.predict_survival_function(X, times),
        single.predict_survival_function(X, times),
        rtol=1e-4,
        atol=1e-6,
    )


@pytest.mark.parametrize("net", NETS)
def test_batched_members_equal_members_fitted_one_by_one(net: type, cohort: Any) -> None:
    X, y, U = cohort
    ens = SeedEnsemble(net(**TINY), n_members=3, random_state=0).fit(X, y, X_unlabeled=U)
    assert ens.random_states_ == [derive_seed(0, k) for k in range(3)]
    assert [m.backend_ for m in ens.estimators_] == ["stacked"] * 3
    for member, seed in zip(ens.estimators_, ens.random_states_, strict=True):
        alone = net(**TINY, random_state=seed).fit(X, y, X_unlabeled=U)
        np.testing.assert_allclose(member.predict(X), alone.predict(X), rtol=1e-5, atol=1e-6)


def test_predict_is_the_mean_of_members_and_survival_uses_its_baseline(cohort: Any) -> None:
    X, y, _ = cohort
    ens = SeedEnsemble(CoxNnet(**TINY), n_members=4, random_state=1).fit(X, y)
    risks = np.stack([m.predict(X) for m in ens.estimators_])
    assert not np.allclose(risks[0], risks[1])  # the seeds differ
    np.testing.assert_array_equal(ens.predict(X), risks.mean(axis=0))
    base = BreslowBaseline().fit(risks.mean(axis=0), y["event"], y["time"])
    times = np.quantile(y["time"], [0.1, 0.5, 0.9])
    np.testing.assert_allclose(
        ens.predict_survival_function(X, times), base.survival(ens.predict(X), times)
    )
    np.testing.assert_array_equal(ens.unique_times_, base.unique_times_)
    assert ens.score(X, y) == pytest.approx(
        concordance_index(y["event"], y["time"], ens.predict(X))
    )


def test_unlabeled_rows_reach_every_member_whole(recorder: Any, data: Any) -> None:
    X, y = data
    ens = SeedEnsemble(recorder(), n_members=3, random_state=0)
    ens.fit(X, y, X_unlabeled=Unlabeled(np.zeros((17, 4))))
    assert recorder.calls == [(60, 17)] * 3
    assert [m.random_state for m in ens.estimators_] == ens.random_states_


def test_save_load_round_trip(cohort: Any, tmp_path: Path) -> None:
    X, y, U = cohort
    ens = SeedEnsemble(CoxMT(**TINY), n_members=2, random_state=3).fit(X, y, X_unlabeled=U)
    back = load_model(save_model(ens, tmp_path / "ens"))
    assert type(back) is SeedEnsemble and back.random_states_ == ens.random_states_
    np.testing.assert_array_equal(back.predict(X), ens.predict(X))
    np.testing.assert_array_equal(
        back.predict_survival_function(X), ens.predict_survival_function(X)
    )
    assert clone(back).get_params()["n_members"] == 2


@pytest.mark.parametrize(
    ("params", "match"),
    [
        pytest.param({"n_members": 0}, "n_members must be >= 1", id="no-members"),
        pytest.param(
            {"n_members": 2, "random_state": [1, 2, 3]}, "3 seeds for 2 members", id="seeds"
        ),
    ],
)
def test_bad_parameters_are_refused(params: dict[str, Any], match: str, data: Any) -> None:
    X, y = data
    with pytest.raises(ValueError, match=match):
        SeedEnsemble(CoxNnet(**TINY), **params).fit(X, y)
