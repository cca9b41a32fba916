"""CoxMTCV: the search, the ensemble, the calibration and what it refuses."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from coxmt import CoxMT, CoxNnet
from coxmt._validation import make_target
from coxmt.estimators.linear import PenalizedCox
from coxmt.io import load_model, save_model
from coxmt.metrics import concordance_index
from coxmt.model_selection import DEFAULT_GRID, CoxMTCV, InnerCVSearch, fit_risk_scale
from coxmt.model_selection._meta import inner_folds

NET = {"hidden_layer_sizes": (8,), "max_epochs": 15}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 6))
    U = rng.normal(size=(60, 6))
    time = rng.exponential(np.exp(-1.5 * X[:, 0]))
    event = rng.random(150) < 0.7
    return X, U, event, time


def test_default_grid_has_the_fallback_w0(data) -> None:
    X, U, event, time = data
    model = CoxMTCV(CoxMT(**NET), random_state=0).fit(X, (event, time), X_unlabeled=U)
    grid = [r["params"] for r in model.cv_results_.to_dict(orient="records")]
    assert len(grid) == 4 and {g["consistency_weight"] for g in grid} == {0.0, 1.0}
    assert set(DEFAULT_GRID) == set(model.best_params_)
    assert model.best_score_ == pytest.approx(model.cv_results_["mean_c_index"].max())
    assert model.ensemble_.estimators_[0].max_epochs == NET["max_epochs"]
    # the planted signal is found
    assert concordance_index(event, time, model.predict(X)) > 0.6


def test_search_matches_inner_cv_search(data) -> None:
    """Same folds and seeds: the same inner scores as InnerCVSearch fitting one by one."""
    X, U, event, time = data
    grid = {"learning_rate": [1e-3, 1e-2], "dropout": [0.0, 0.3]}
    model = CoxMTCV(CoxNnet(**NET), grid, calibrate=False, random_state=4)
    model.fit(X, (event, time), X_unlabeled=U)
    seed = model.ensemble_.random_states_[0]
    folds = inner_folds(3, 4, event, X)
    search = InnerCVSearch(CoxNnet(**NET, random_state=seed), grid, cv=FoldsSplitter(folds))
    search.fit(X, (event, time), X_unlabeled=U)
    np.testing.assert_allclose(
        model.cv_results_["mean_c_index"], search.cv_results_["mean_c_index"], atol=1e-6
    )
    assert model.best_params_ == search.best_params_
    assert model.scale_ == 1.0
    np.testing.assert_allclose(model.predict(X), search.predict(X), atol=1e-5)


class FoldsSplitter:
    """Replays given folds."""

    def __init__(self, folds):
        self.folds = folds

    def split(self, X, y=None):
        yield from self.folds


@pytest.mark.parametrize("n_members", [pytest.param(1, id="single"), pytest.param(3, id="x3")])
def test_calibration_uses_out_of_fold_risks_of_the_chosen_setting(data, n_members) -> None:
    """Each OOF risk comes from networks that never saw the patient; scale fitted on them."""
    X, U, event, time = data
    model = CoxMTCV(CoxMT(**NET), n_members=n_members, random_state=1)
    model.fit(X, (event, time), X_unlabeled=U)
    chosen = clone(model.ensemble_.estimators_[0])
    expected = np.full(len(event), np.nan)
    for tr, va in inner_folds(3, 1, event, X):
        risks = []
        for seed in model.ensemble_.random_states_:
            net = clone(chosen).set_params(random_state=seed)
            net.fit(X[tr], make_target(event[tr], time[tr]), X_unlabeled=U)
            risks.append(net.predict(X[va]))
        expected[va] = np.mean(risks, axis=0)
    np.testing.assert_allclose(model.oof_risk_, expected, atol=1e-5)
    assert model.scale_ == pytest.approx(fit_risk_scale(event, time, expected), rel=1e-4)
    members = np.stack([m.predict(X) for m in model.ensemble_.estimators_])
    np.testing.assert_allclose(model.predict(X), model.scale_ * members.mean(axis=0), rtol=1e-6)
    assert len(model.ensemble_.estimators_) == n_members


def test_calibration_changes_survival_not_ranking(data) -> None:
    X, U, event, time = data
    kw = {"estimator": CoxMT(**NET, learning_rate=0.05), "random_state": 2}
    on = CoxMTCV(**kw).fit(X, (event, time), X_unlabeled=U)
    off = CoxMTCV(**kw, calibrate=False).fit(X, (event, time), X_unlabeled=U)
    assert on.scale_ != 1.0
    assert np.array_equal(np.argsort(on.predict(X)), np.argsort(off.predict(X)))
    times = np.quantile(time, [0.25, 0.5])
    assert not np.allclose(
        on.predict_survival_function(X, times), off.predict_survival_function(X, times)
    )


def test_save_load_round_trip(data, tmp_path) -> None:
    X, U, event, time = data
    model = CoxMTCV(CoxMT(**NET), n_members=2, random_state=0).fit(X, (event, time), X_unlabeled=U)
    save_model(model, tmp_path / "m")
    back = load_model(tmp_path / "m")
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-6)
    assert back.best_params_ == model.best_params_
    assert back.scale_ == model.scale_
    np.testing.assert_allclose(
        back.predict_survival_function(X[:5], [1.0]), model.predict_survival_function(X[:5], [1.0])
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"n_members": 0}, "n_members must be >= 1", id="no-members"),
        pytest.param({"param_grid": []}, "param_grid is empty", id="empty-grid"),
        pytest.param(
            {"estimator": __import__("sklearn.linear_model").linear_model.LinearRegression()},
            "no random_state parameter",
            id="no-seed",
        ),
        pytest.param(
            {"fallback": __import__("sklearn.linear_model").linear_model.LinearRegression()},
            "fallback LinearRegression has no random_state",
            id="fallback-no-seed",
        ),
    ],
)
def test_refuses(data, kwargs, match) -> None:
    X, _, event, time = data
    with pytest.raises(ValueError, match=match):
        CoxMTCV(**kwargs).fit(X, (event, time))


def test_fallback_wins_when_the_networks_cannot_learn(data) -> None:
    """Networks that barely train lose to ridge Cox on the same inner folds; ridge is refitted."""
    X, U, event, time = data
    weak = CoxMT(hidden_layer_sizes=(8,), max_epochs=1, learning_rate=1e-6)
    model = CoxMTCV(weak, n_members=3, fallback=PenalizedCox(), random_state=5)
    model.fit(X, (event, time), X_unlabeled=U)
    assert model.chose_fallback_ and model.best_params_ == {}
    res = model.cv_results_
    assert list(res["estimator"]) == ["CoxMT"] * 4 + ["PenalizedCox"]
    # ridge Cox refitted by hand on the same inner folds, seeded like the first member
    seed = model.ensemble_.random_states_[0]
    oof, scores = np.full(len(event), np.nan), []
    for tr, va in inner_folds(3, model.random_state, event, X):
        ridge_k = PenalizedCox(random_state=seed).fit(X[tr], make_target(event[tr], time[tr]))
        oof[va] = ridge_k.predict(X[va])
        scores.append(concordance_index(event[va], time[va], oof[va]))
    assert res["mean_c_index"].iloc[-1] == pytest.approx(np.mean(scores), abs=1e-9)
    assert model.best_score_ == pytest.approx(np.mean(scores), abs=1e-9)
    # one member (a ridge fit is deterministic): the refit on all patients, calibrated on its OOF
    (member,) = model.ensemble_.estimators_
    assert isinstance(member, PenalizedCox)
    ridge = PenalizedCox(random_state=seed).fit(X, make_target(event, time))
    np.testing.assert_allclose(model.predict(X), model.scale_ * ridge.predict(X), rtol=1e-6)
    np.testing.assert_allclose(model.oof_risk_, oof, rtol=1e-6)
    assert model.scale_ == pytest.approx(fit_risk_scale(event, time, oof), rel=1e-4)


def test_fallback_that_loses_changes_nothing(data, tmp_path) -> None:
    """A fallback that ranks no better than chance is scored and left out; same model as without."""
    X, U, event, time = data
    kw = {"estimator": CoxMT(**NET, learning_rate=1e-2), "n_members": 2, "random_state": 6}
    flat = PenalizedCox(alpha=1e9)  # coefficients ~0: chance-level ranking
    with_fb = CoxMTCV(**kw, fallback=flat).fit(X, (event, time), X_unlabeled=U)
    without = CoxMTCV(**kw).fit(X, (event, time), X_unlabeled=U)
    assert not with_fb.chose_fallback_
    assert with_fb.best_params_ == without.best_params_
    assert len(with_fb.cv_results_) == len(without.cv_results_) + 1
    np.testing.assert_allclose(with_fb.predict(X), without.predict(X), rtol=1e-6)
    save_model(with_fb, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert not back.chose_fallback_ and back.fallback.get_params() == flat.get_params()
    np.testing.assert_allclose(back.predict(X), with_fb.predict(X), rtol=1e-9)


def test_fallback_saves_and_loads(data, tmp_path) -> None:
    X, _, event, time = data
    weak = CoxMT(hidden_layer_sizes=(8,), max_epochs=1, learning_rate=1e-6)
    model = CoxMTCV(weak, fallback=PenalizedCox(), random_state=5).fit(X, (event, time))
    save_model(model, tmp_path / "m")
    back = load_model(tmp_path / "m")
    assert back.chose_fallback_ and isinstance(back.fallback, PenalizedCox)
    assert back.estimator.get_params() == weak.get_params()
    np.testing.assert_allclose(back.predict(X), model.predict(X), rtol=1e-9)
    np.testing.assert_allclose(
        back.predict_survival_function(X[:5], [1.0]), model.predict_survival_function(X[:5], [1.0])
    )


def test_pipeline_with_rnaseq_preprocessing_saves_and_loads(tmp_path) -> None:
    """The recipe the docstring gives: preprocessing spliced into one savable pipeline."""
    import pandas as pd

    from coxmt.pipeline import make_survival_pipeline
    from coxmt.preprocessing import make_rnaseq_preprocessor

    rng = np.random.default_rng(0)
    counts = pd.DataFrame(rng.poisson(50, size=(80, 30)), columns=[f"G{i}" for i in range(30)])
    y = (rng.random(80) < 0.6, rng.exponential(1.0, 80))
    model = make_survival_pipeline(
        make_rnaseq_preprocessor(k=10), CoxMTCV(CoxMT(**NET), cv=2, random_state=0)
    )
    model.fit(counts, y, X_unlabeled=counts.iloc[:20])
    save_model(model, tmp_path / "m")
    back = load_model(tmp_path / "m")
    np.testing.assert_allclose(back.predict(counts), model.predict(counts), rtol=1e-6)
