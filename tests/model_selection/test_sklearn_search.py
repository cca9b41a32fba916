"""Unlabeled patients in scikit-learn's own searches.

scikit-learn cuts a fit parameter by the training fold when it has as many rows
as X and passes it whole otherwise. coxmt refuses plain unlabeled data there
(both sizes, same error) and gives every fold all of it when wrapped in
``Unlabeled``; these tests run real ``GridSearchCV`` / ``cross_validate``.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from coxmt import CoxMT, CoxNnet, PenalizedCox, WSICoxNnet
from coxmt.model_selection import LabelFraction, Unlabeled
from coxmt.pipeline import make_survival_pipeline

GRID = {"consistency_weight": [0.1, 3.0]}
CV = KFold(3)


def _model() -> CoxMT:
    return CoxMT(hidden_layer_sizes=(8,), max_epochs=4, random_state=0)


@pytest.fixture(
    params=[pytest.param(60, id="len(U)==len(X)"), pytest.param(23, id="len(U)!=len(X)")]
)
def U(request: pytest.FixtureRequest) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(request.param, 4))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: GridSearchCV(_model(), GRID, cv=CV, error_score="raise"), id="grid"),
        pytest.param(lambda: GridSearchCV(_model(), GRID, cv=CV), id="grid-default-error-score"),
    ],
)
def test_plain_unlabeled_is_refused_whatever_its_size(data: Any, U: np.ndarray, make: Any) -> None:
    X, y = data
    with pytest.raises(ValueError, match=r"Unlabeled\(U\)") as info:
        make().fit(X, y, X_unlabeled=U)
    assert "InnerCVSearch" in str(info.value)


def test_wrapped_unlabeled_reaches_every_fold_whole(data: Any, U: np.ndarray) -> None:
    X, y = data
    search = GridSearchCV(_model(), GRID, cv=CV).fit(X, y, X_unlabeled=Unlabeled(U))
    for i, params in enumerate(search.cv_results_["params"]):
        for k, (tr, te) in enumerate(CV.split(X)):
            whole = _model().set_params(**params).fit(X[tr], y[tr], X_unlabeled=U)
            got = search.cv_results_[f"split{k}_test_score"][i]
            assert got == pytest.approx(whole.score(X[te], y[te]), abs=1e-12)
    refit = _model().set_params(**search.best_params_).fit(X, y, X_unlabeled=U)
    np.testing.assert_allclose(search.predict(X), refit.predict(X), rtol=1e-6)


def test_folds_see_all_unlabeled_rows_not_their_slice(data: Any) -> None:
    """The check above can fail: a fold given U[train] predicts differently."""
    X, y = data
    U = np.random.default_rng(1).normal(size=(60, 4)) * 3
    res = cross_validate(
        _model(), X, y, cv=CV, params={"X_unlabeled": Unlabeled(U)}, return_estimator=True
    )
    tr, te = next(CV.split(X))
    whole = _model().fit(X[tr], y[tr], X_unlabeled=U).predict(X[te])
    sliced = _model().fit(X[tr], y[tr], X_unlabeled=U[tr]).predict(X[te])
    got = res["estimator"][0].predict(X[te])
    np.testing.assert_allclose(got, whole, rtol=1e-6)
    assert not np.allclose(got, sliced, rtol=1e-3)


@pytest.mark.parametrize(
    "est",
    [
        pytest.param(CoxNnet(max_epochs=2), id="CoxNnet"),
        pytest.param(PenalizedCox(alpha=0.1), id="PenalizedCox"),
        pytest.param(LabelFraction(CoxMT(max_epochs=2), 0.5), id="LabelFraction"),
        pytest.param(make_survival_pipeline(StandardScaler(), _model()), id="SurvivalPipeline"),
    ],
)
def test_every_estimator_taking_unlabeled_refuses_it_plain(data: Any, est: Any) -> None:
    X, y = data
    U = np.zeros((60, 4))
    with pytest.raises(ValueError, match="through scikit-learn's cross-validation"):
        cross_validate(est, X, y, cv=CV, params={"X_unlabeled": U}, error_score="raise")
    res = cross_validate(est, X, y, cv=CV, params={"X_unlabeled": Unlabeled(U)})
    assert np.all((res["test_score"] >= 0) & (res["test_score"] <= 1))


def test_sklearn_pipeline_step_parameter(data: Any) -> None:
    X, y = data
    pipe = make_pipeline(StandardScaler(), _model())
    with pytest.raises(ValueError, match=r"CoxMT\.fit through scikit-learn"):
        cross_validate(pipe, X, y, cv=CV, params={"coxmt__X_unlabeled": X}, error_score="raise")


def test_outside_cross_validation_plain_and_wrapped_are_the_same(data: Any) -> None:
    X, y = data
    U = np.random.default_rng(2).normal(size=(60, 4))
    plain = _model().fit(X, y, X_unlabeled=U).predict(X)
    wrapped = _model().fit(X, y, X_unlabeled=Unlabeled(U)).predict(X)
    np.testing.assert_array_equal(plain, wrapped)


def test_wrapper_pickles_and_refuses_none() -> None:
    u = pickle.loads(pickle.dumps(Unlabeled(np.arange(6.0).reshape(3, 2))))
    np.testing.assert_array_equal(u.data, np.arange(6.0).reshape(3, 2))
    assert Unlabeled(u).data is u.data
    assert not hasattr(u, "__len__") and not hasattr(u, "shape")
    with pytest.raises(ValueError, match="pass None unwrapped"):
        Unlabeled(None)


def test_slide_model_bags_unlabeled(data: Any) -> None:
    X, y = data
    rng = np.random.default_rng(3)
    bags = [rng.normal(size=(4, 3)).astype(np.float32) + x[0] for x in X]
    extra = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(60)]
    est = WSICoxNnet(model_dim=8, attention_dim=4, hidden_dim=4, max_epochs=2, random_state=0)
    with pytest.raises(ValueError, match=r"bags_unlabeled=coxmt\.model_selection\.Unlabeled"):
        cross_validate(est, bags, y, cv=CV, params={"bags_unlabeled": extra}, error_score="raise")
    res = cross_validate(est, bags, y, cv=CV, params={"bags_unlabeled": Unlabeled(extra)})
    assert res["test_score"].shape == (3,)
