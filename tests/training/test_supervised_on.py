"""``supervised_on``: which labeled patients enter the supervised Cox loss (both backends).

The rule (:mod:`coxmt.training.supervision`) is tested through what it must mean:

- ``"events"`` trains exactly the model that ``"all"`` trains on the uncensored
  patients alone (Cox-nnet), and, for Cox-MT, the model that ``"all"`` trains on the
  uncensored patients with the censored ones given as unlabeled rows (so they enter
  the consistency loss ``L_u``);
- the stacked engine and the general loop agree for both values (no noise, no
  dropout; tolerance 1e-5 as in test_backend_equivalence.py);
- the default is today's behaviour: predictions on a fixed seed equal those of the
  code before the parameter existed. Reference values: the script in
  ``_REFERENCE_SCRIPT`` below, run on commit ecda9c3 (coxmt before ``supervised_on``),
  CPU, torch float32, rounded to 8 decimals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from coxmt import CoxMT, CoxNnet, fit_many
from tests.conftest import make_survival_data

TOL = {"atol": 1e-5, "rtol": 1e-5}
NO_RANDOMNESS = {"dropout": 0.0, "learning_rate": 1e-2, "max_epochs": 25, "random_state": 0}
MT = {"noise_std": 0.0, "rampup_epochs": 5, "consistency_weight": 2.0}

_REFERENCE_SCRIPT = """
X, event, time, _ = make_survival_data(n=60, p=6, seed=3)
Xu = np.random.default_rng(4).normal(size=(15, 6))
m = cls(max_epochs=15, random_state=0, backend=backend).fit(X, (event, time), X_unlabeled=Xu)
np.round(m.predict(X[:4]), 8)
"""
REFERENCE = {
    ("CoxNnet", "stacked"): [-0.20822746, -0.06705093, 0.23986438, -0.39503616],
    ("CoxNnet", "loop"): [-0.20162682, -0.0755671, 0.24569035, -0.40320551],
    ("CoxMT", "stacked"): [0.14524476, 0.09202147, 0.05392994, 0.03210776],
    ("CoxMT", "loop"): [0.14917271, 0.09757869, 0.05872246, 0.03729074],
}


@pytest.fixture(scope="module")
def cohort() -> dict[str, Any]:
    X, event, time, _ = make_survival_data(n=80, p=8, seed=5, censor_rate=0.7)
    assert 15 < int((~event).sum()) < 65
    Xu = np.random.default_rng(6).normal(size=(20, 8))
    return {"X": X, "event": event, "time": time, "Xu": Xu}


def _losses(model: Any, column: str = "loss") -> np.ndarray:
    return model.history_[column].to_numpy()


@pytest.mark.parametrize("backend", [pytest.param("stacked"), pytest.param("loop")])
def test_cox_nnet_events_is_the_fit_on_uncensored_patients(backend: str, cohort: dict) -> None:
    X, ev, t = cohort["X"], cohort["event"], cohort["time"]
    literal = CoxNnet(supervised_on="events", backend=backend, **NO_RANDOMNESS).fit(X, (ev, t))
    alone = CoxNnet(backend=backend, **NO_RANDOMNESS).fit(X[ev], (ev[ev], t[ev]))
    standard = CoxNnet(backend=backend, **NO_RANDOMNESS).fit(X, (ev, t))
    np.testing.assert_allclose(_losses(literal), _losses(alone), **TOL)
    np.testing.assert_allclose(literal.predict(X), alone.predict(X), **TOL)
    # the rule changes the loss, and the Breslow baseline still uses every patient
    assert not np.allclose(_losses(literal), _losses(standard), atol=1e-3)
    np.testing.assert_array_equal(literal.unique_times_, standard.unique_times_)


@pytest.mark.parametrize("backend", [pytest.param("stacked"), pytest.param("loop")])
@pytest.mark.parametrize(
    "consistency_on",
    [pytest.param("censored+unlabeled"), pytest.param("unlabeled"), pytest.param("all")],
)
def test_cox_mt_events_moves_censored_patients_to_the_unlabeled_rows(
    backend: str, consistency_on: str, cohort: dict
) -> None:
    X, ev, t, Xu = cohort["X"], cohort["event"], cohort["time"], cohort["Xu"]
    kw = {**NO_RANDOMNESS, **MT, "consistency_on": consistency_on, "backend": backend}
    literal = CoxMT(supervised_on="events", **kw).fit(X, (ev, t), X_unlabeled=Xu)
    as_unlabeled = CoxMT(**kw).fit(X[ev], (ev[ev], t[ev]), X_unlabeled=np.vstack([X[~ev], Xu]))
    for column in ("loss", "loss_supervised", "loss_consistency"):
        np.testing.assert_allclose(_losses(literal, column), _losses(as_unlabeled, column), **TOL)
    np.testing.assert_allclose(literal.predict(X), as_unlabeled.predict(X), **TOL)


@pytest.mark.parametrize("backend", [pytest.param("stacked"), pytest.param("loop")])
def test_cox_mt_events_uses_censored_rows_in_the_consistency_loss(
    backend: str, cohort: dict
) -> None:
    X, ev, t = cohort["X"], cohort["event"], cohort["time"]
    kw = {**NO_RANDOMNESS, **MT, "consistency_on": "unlabeled", "backend": backend}
    literal = CoxMT(supervised_on="events", **kw).fit(X, (ev, t))  # no X_unlabeled
    standard = CoxMT(**kw).fit(X, (ev, t))
    assert _losses(literal, "loss_consistency")[1:].min() > 0.0  # censored rows in L_u
    assert _losses(standard, "loss_consistency").max() == 0.0  # nothing unlabeled


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        pytest.param(CoxNnet, {}, id="cox-nnet"),
        pytest.param(CoxMT, MT, id="cox-mt"),
        pytest.param(CoxMT, {**MT, "early_stopping": True, "n_iter_no_change": 4}, id="cox-mt-es"),
    ],
)
@pytest.mark.parametrize("supervised_on", [pytest.param("all"), pytest.param("events")])
def test_backends_agree(cls: type, kw: dict, supervised_on: str, cohort: dict) -> None:
    X, y, Xu = cohort["X"], (cohort["event"], cohort["time"]), cohort["Xu"]
    fits = [
        cls(backend=b, supervised_on=supervised_on, **NO_RANDOMNESS, **kw).fit(X, y, X_unlabeled=Xu)
        for b in ("stacked", "loop")
    ]
    assert [m.backend_ for m in fits] == ["stacked", "loop"]
    for column in fits[0].history_.columns:
        np.testing.assert_allclose(_losses(fits[0], column), _losses(fits[1], column), **TOL)
    np.testing.assert_allclose(fits[0].predict(X), fits[1].predict(X), **TOL)


@pytest.mark.parametrize("cls", [pytest.param(CoxNnet), pytest.param(CoxMT)])
def test_fit_many_applies_the_rule(cls: type, cohort: dict) -> None:
    X, y, Xu = cohort["X"], (cohort["event"], cohort["time"]), cohort["Xu"]
    rows = [np.arange(0, 60), np.arange(20, 80)]
    ests = [cls(supervised_on=s, **NO_RANDOMNESS) for s in ("events", "all")]
    many = fit_many(ests, X, y, rows, X_unlabeled=Xu)
    for est, r in zip(many, rows, strict=True):
        alone = cls(supervised_on=est.supervised_on, **NO_RANDOMNESS)
        alone.fit(X[r], (y[0][r], y[1][r]), X_unlabeled=Xu)
        np.testing.assert_allclose(est.predict(X), alone.predict(X), **TOL)


@pytest.mark.parametrize("cls", [pytest.param(CoxNnet), pytest.param(CoxMT)])
@pytest.mark.parametrize("backend", [pytest.param("stacked"), pytest.param("loop")])
def test_default_is_unchanged(cls: type, backend: str) -> None:
    X, event, time, _ = make_survival_data(n=60, p=6, seed=3)
    Xu = np.random.default_rng(4).normal(size=(15, 6))
    m = cls(max_epochs=15, random_state=0, backend=backend).fit(X, (event, time), X_unlabeled=Xu)
    assert m.get_params()["supervised_on"] == "all"
    expected = REFERENCE[(cls.__name__, backend)]
    np.testing.assert_allclose(m.predict(X[:4]), expected, atol=1e-6)


@pytest.mark.parametrize("cls", [pytest.param(CoxNnet), pytest.param(CoxMT)])
def test_saved_and_loaded(cls: type, cohort: dict, tmp_path: Any) -> None:
    X, y = cohort["X"], (cohort["event"], cohort["time"])
    model = cls(supervised_on="events", max_epochs=5, random_state=0).fit(X, y)
    path = model.save(tmp_path / "model")
    loaded = cls.load(path)
    assert loaded.get_params()["supervised_on"] == "events"
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), atol=1e-6)


@pytest.mark.parametrize(
    ("cls", "kw", "match"),
    [
        pytest.param(CoxNnet, {"supervised_on": "uncensored"}, "supervised_on must be", id="value"),
        pytest.param(CoxMT, {"supervised_on": None}, "supervised_on must be", id="none"),
        pytest.param(
            CoxMT,
            {"supervised_on": "events", "unlabeled_batch_size": 8},
            "unlabeled_batch_size=None",
            id="streamed",
        ),
    ],
)
def test_invalid_settings(cls: type, kw: dict, match: str, cohort: dict) -> None:
    with pytest.raises(ValueError, match=match):
        cls(max_epochs=2, **kw).fit(cohort["X"], (cohort["event"], cohort["time"]))
