"""InnerCVSearch: inner folds on labeled rows only, unlabeled rows whole, refit on all."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import KFold, cross_validate

from coxmt import CoxMT
from coxmt.metrics import concordance_index
from coxmt.model_selection import InnerCVSearch, SiteHeldOutKFold, Unlabeled

from .conftest import tcga_like


def test_gives_unlabeled_rows_whole_and_refits(data: Any, recorder: Any) -> None:
    X, y = data
    Xu = np.zeros((17, 4))
    s = InnerCVSearch(recorder(), {"consistency_weight": [1.0, -1.0]}, cv=3, random_state=0)
    s.fit(X, y, X_unlabeled=Xu)
    assert len(recorder.calls) == 2 * 3 + 1
    assert all(u == 17 for _, u in recorder.calls)
    assert sorted(n for n, _ in recorder.calls[:3]) == [40, 40, 40]
    assert recorder.calls[-1][0] == 60
    assert s.best_params_ == {"consistency_weight": 1.0}  # risk = X0 is the true direction
    assert s.best_score_ > 0.5 > s.cv_results_["mean_c_index"][1]
    assert s.cv_results_.shape == (2, 3) and s.n_splits_ == 3
    np.testing.assert_array_equal(s.predict(X), X[:, 0])
    assert s.score(X, y) == pytest.approx(concordance_index(y["event"], y["time"], X[:, 0]))


def test_scores_are_the_inner_folds_c_index(data: Any, recorder: Any) -> None:
    X, y = data
    s = InnerCVSearch(recorder(), {"consistency_weight": [1.0]}, cv=KFold(3)).fit(X, y)
    want = [
        concordance_index(y["event"][va], y["time"][va], X[va, 0]) for _, va in KFold(3).split(X)
    ]
    assert s.best_score_ == pytest.approx(np.mean(want))
    assert s.cv_results_["sd_c_index"][0] == pytest.approx(np.std(want, ddof=1))


def test_same_seed_same_folds(data: Any, recorder: Any) -> None:
    X, y = data
    a = InnerCVSearch(recorder(), {"consistency_weight": [1.0, 2.0]}, random_state=4).fit(X, y)
    b = InnerCVSearch(recorder(), {"consistency_weight": [1.0, 2.0]}, random_state=4).fit(X, y)
    pd.testing.assert_frame_equal(a.cv_results_, b.cv_results_)


def test_site_held_out_inner_folds(recorder: Any) -> None:
    X, y = tcga_like(n=60)
    s = InnerCVSearch(
        recorder(), {"consistency_weight": [1.0]}, cv=SiteHeldOutKFold(3, random_state=0)
    )
    s.fit(X, y)
    assert s.n_splits_ == 3
    assert sum(n for n, _ in recorder.calls[:3]) == 2 * 60  # each patient trains in 2 of 3 folds


def test_y_in_another_order_is_realigned(recorder: Any) -> None:
    X, y = tcga_like(n=60)
    y_frame = pd.DataFrame(y, index=X.index)
    s1 = InnerCVSearch(recorder(), {"consistency_weight": [1.0]}, cv=KFold(3)).fit(X, y_frame)
    s2 = InnerCVSearch(recorder(), {"consistency_weight": [1.0]}, cv=KFold(3)).fit(
        X, y_frame.iloc[::-1]
    )
    assert s1.best_score_ == s2.best_score_ > 0.5


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"cv": 1}, "cv must be >= 2", id="cv"),
        pytest.param({"param_grid": []}, "param_grid is empty", id="grid"),
    ],
)
def test_bad_settings_are_named(data: Any, recorder: Any, kwargs: Any, match: str) -> None:
    X, y = data
    params: dict[str, Any] = {"param_grid": {"consistency_weight": [1.0]}, **kwargs}
    with pytest.raises(ValueError, match=match):
        InnerCVSearch(recorder(), **params).fit(X, y)


def test_unfitted_predict_raises(data: Any, recorder: Any) -> None:
    with pytest.raises(NotFittedError):
        InnerCVSearch(recorder(), {"consistency_weight": [1.0]}).predict(data[0])


def test_nested_in_sklearn_cross_validation_with_real_cox_mt(data: Any) -> None:
    """Outer sklearn CV around the inner search: the wrapper passes U whole to every level."""
    X, y = data
    U = np.random.default_rng(1).normal(size=(60, 4))  # as many rows as X: the risky case
    search = InnerCVSearch(
        CoxMT(max_epochs=3, random_state=0), {"consistency_weight": [0.1, 1.0]}, cv=2
    )
    res = cross_validate(search, X, y, cv=2, params={"X_unlabeled": Unlabeled(U)})
    assert np.all((res["test_score"] >= 0) & (res["test_score"] <= 1))
    with pytest.raises(ValueError, match=r"InnerCVSearch\.fit through scikit-learn"):
        cross_validate(search, X, y, cv=2, params={"X_unlabeled": U}, error_score="raise")


def test_saved_search_loads_with_its_choice_and_predictions(data: Any, tmp_path: Any) -> None:
    """save_model / load_model round trip, in a pipeline, with a splitter as cv."""
    from sklearn.preprocessing import StandardScaler

    from coxmt import CoxNnet
    from coxmt.io import load_model, save_model
    from coxmt.model_selection import chosen_setting
    from coxmt.pipeline import make_survival_pipeline

    X, y = data
    grid = [{"learning_rate": (1e-3, np.float64(3e-2))}, {"dropout": [0.5]}]
    search = InnerCVSearch(CoxNnet(max_epochs=5, random_state=0), grid, cv=KFold(2))
    model = make_survival_pipeline(StandardScaler(), search).fit(X, y)
    loaded = load_model(save_model(model, tmp_path / "m"))
    s = loaded[-1]
    assert isinstance(s, InnerCVSearch)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    times = np.quantile(y["time"], [0.25, 0.5])
    np.testing.assert_allclose(
        loaded.predict_survival_function(X, times), model.predict_survival_function(X, times)
    )
    assert s.best_params_ == search.best_params_ and s.best_score_ == search.best_score_
    assert chosen_setting(loaded) == chosen_setting(model) == search.best_params_
    pd.testing.assert_frame_equal(s.cv_results_, search.cv_results_, check_dtype=False)
    assert s.param_grid == [{"learning_rate": [1e-3, 3e-2]}, {"dropout": [0.5]}]
    assert s.cv == 2 and s.n_splits_ == 2  # a splitter is not saved
    assert s.estimator.get_params() == search.estimator.get_params()
    s.fit(X, y)  # the loaded search can be refitted
