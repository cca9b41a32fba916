"""CalibratedRisk: out-of-fold risks, a one-parameter Cox scale, refit, Breslow on a * risk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.base import clone

from coxmt import CoxMT, CoxNnet, load_model, save_model
from coxmt._validation import make_target
from coxmt.baseline import BreslowBaseline
from coxmt.model_selection import CalibratedRisk, SeedEnsemble, Unlabeled, fit_risk_scale
from coxmt.model_selection._meta import inner_folds

from .conftest import tcga_like

TINY = {"hidden_layer_sizes": (8,), "max_epochs": 30, "learning_rate": 0.05}


def lifelines_coefficient(event: np.ndarray, time: np.ndarray, risk: np.ndarray) -> float:
    """The coefficient of ``risk`` in lifelines' CoxPHFitter (Efron ties, no penalty)."""
    frame = pd.DataFrame({"risk": risk, "time": time, "event": event.astype(int)})
    fitter = CoxPHFitter(penalizer=0.0).fit(frame, duration_col="time", event_col="event")
    return float(fitter.params_["risk"])


@pytest.fixture
def cohort() -> tuple[Any, np.ndarray, np.ndarray]:
    X, y = tcga_like(n=90, p=4, seed=5)
    U = np.random.default_rng(9).normal(size=(15, 4))
    return X, y, U


@pytest.fixture
def calibrated(cohort: Any) -> CalibratedRisk:
    X, y, U = cohort
    return CalibratedRisk(CoxMT(**TINY, random_state=0), cv=3, random_state=0).fit(
        X, y, X_unlabeled=U
    )


@pytest.mark.parametrize(
    ("scale", "ties"),
    [
        pytest.param(4.0, False, id="over-confident"),
        pytest.param(0.5, False, id="under-confident"),
        pytest.param(2.0, True, id="tied-times"),
    ],
)
def test_scale_matches_lifelines(scale: float, ties: bool) -> None:
    rng = np.random.default_rng(1)
    r = rng.normal(size=300)
    t = rng.exponential(np.exp(-0.7 * r))
    c = rng.exponential(2.0, size=300)
    event, time = t <= c, np.minimum(t, c)
    if ties:
        time = np.ceil(time * 4) / 4
    ours = fit_risk_scale(event, time, scale * r)
    assert ours == pytest.approx(lifelines_coefficient(event, time, scale * r), rel=1e-4)
    assert ours * scale == pytest.approx(0.7, abs=0.15)  # recovers the true coefficient


def test_scale_is_the_lifelines_coefficient_of_the_oof_risks(
    calibrated: CalibratedRisk, cohort: Any
) -> None:
    _, y, _ = cohort
    want = lifelines_coefficient(y["event"], y["time"], calibrated.oof_risk_)
    assert want > 0
    assert calibrated.scale_ == pytest.approx(want, rel=1e-4)


def test_oof_risks_come_from_models_fitted_without_their_fold(
    calibrated: CalibratedRisk, cohort: Any
) -> None:
    X, y, U = cohort
    folds = inner_folds(3, 0, y["event"], X)
    assert calibrated.n_splits_ == 3
    for tr, va in folds:
        inner = CoxMT(**TINY, random_state=0).fit(X.iloc[tr], y[tr], X_unlabeled=U)
        np.testing.assert_allclose(
            calibrated.oof_risk_[va], inner.predict(X.iloc[va]), rtol=1e-5, atol=1e-6
        )
    refit = CoxMT(**TINY, random_state=0).fit(X, y, X_unlabeled=U)
    np.testing.assert_allclose(
        calibrated.estimator_.predict(X), refit.predict(X), rtol=1e-5, atol=1e-6
    )


def test_c_index_unchanged_and_baseline_on_scaled_risk(
    calibrated: CalibratedRisk, cohort: Any
) -> None:
    X, y, _ = cohort
    Xt, yt = tcga_like(n=40, p=4, seed=11)
    raw = calibrated.estimator_.predict(Xt)
    np.testing.assert_allclose(calibrated.predict(Xt), calibrated.scale_ * raw)
    assert calibrated.score(Xt, yt) == calibrated.estimator_.score(Xt, yt)
    base = BreslowBaseline().fit(
        calibrated.scale_ * calibrated.estimator_.predict(X), y["event"], y["time"]
    )
    times = np.quantile(y["time"], [0.2, 0.5, 0.8])
    np.testing.assert_allclose(
        calibrated.predict_survival_function(Xt, times),
        base.survival(calibrated.predict(Xt), times),
    )
    assert not np.allclose(
        calibrated.predict_survival_function(Xt, times),
        calibrated.estimator_.predict_survival_function(Xt, times),
    )


def test_unlabeled_rows_reach_every_inner_fit_whole(recorder: Any, data: Any) -> None:
    X, y = data
    cal = CalibratedRisk(recorder(), cv=4, random_state=0)
    cal.fit(X, y, X_unlabeled=Unlabeled(np.zeros((17, 4))))
    assert recorder.calls == [(45, 17)] * 4 + [(60, 17)]
    np.testing.assert_allclose(cal.oof_risk_, X[:, 0])  # the recorder's risk is X0
    assert cal.scale_ == pytest.approx(
        lifelines_coefficient(y["event"], y["time"], X[:, 0]), rel=1e-4
    )


def test_calibrated_ensemble_saves_and_loads(cohort: Any, tmp_path: Path) -> None:
    X, y, _ = cohort
    ens = SeedEnsemble(CoxNnet(hidden_layer_sizes=(8,), max_epochs=5), n_members=2, random_state=0)
    cal = CalibratedRisk(ens, cv=2, random_state=1).fit(X, y)
    assert isinstance(cal.estimator_, SeedEnsemble) and len(cal.estimator_.estimators_) == 2
    back = load_model(save_model(cal, tmp_path / "cal"))
    assert type(back) is CalibratedRisk and back.scale_ == cal.scale_
    np.testing.assert_array_equal(back.predict(X), cal.predict(X))
    np.testing.assert_array_equal(
        back.predict_survival_function(X), cal.predict_survival_function(X)
    )
    np.testing.assert_array_equal(back.oof_risk_, cal.oof_risk_)
    assert clone(back).get_params()["cv"] == 2


def test_non_finite_risk_is_refused() -> None:
    y = make_target([1, 0, 1], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_risk_scale(y["event"], y["time"], [0.0, np.nan, 1.0])


def test_calibrated_ensemble_trains_all_members_in_one_run(cohort: Any) -> None:
    X, y, U = cohort
    ens = SeedEnsemble(CoxMT(hidden_layer_sizes=(8,), max_epochs=5), n_members=2, random_state=0)
    cal = CalibratedRisk(ens, cv=2, random_state=1).fit(X, y, X_unlabeled=U)
    members = cal.estimator_.estimators_
    assert [m.backend_ for m in members] == ["stacked"] * 2
    alone = clone(ens).fit(X, y, X_unlabeled=U)  # the refit, trained on its own
    assert cal.estimator_.random_states_ == alone.random_states_
    np.testing.assert_allclose(cal.estimator_.predict(X), alone.predict(X), rtol=1e-5, atol=1e-6)
    for tr, va in inner_folds(2, 1, y["event"], X):
        inner = clone(ens).fit(X.iloc[tr], y[tr], X_unlabeled=U)
        np.testing.assert_allclose(
            cal.oof_risk_[va], inner.predict(X.iloc[va]), rtol=1e-5, atol=1e-6
        )
