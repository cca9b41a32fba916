"""One conformance suite over every coxmt estimator (in the spirit of scikit-survival's).

Every estimator in ``coxmt.estimators.__all__`` and the meta-estimators of
``coxmt.model_selection`` have a case below (a test fails when an estimator is added
without a case). Each check runs on tiny data with few epochs:

- ``__init__`` only stores its parameters; ``clone`` and ``set_params`` round-trip;
- ``predict`` before ``fit`` raises ``NotFittedError``; ``fit`` returns ``self`` and
  the public attributes it sets end in ``_``;
- ``predict`` gives one finite risk per patient; ``score`` is Harrell's C of
  ``coxmt.metrics.concordance_index`` on the same predictions;
- ``predict_survival_function`` lies in [0, 1] and does not increase with time;
- pickling and ``coxmt.io`` save/load give identical predictions;
- the same ``random_state`` gives identical predictions;
- a DataFrame ``y`` in another row order than the patients of ``X`` is realigned
  by patient ID or refused (bag estimators: the patients are identified by the
  index of ``bags`` given as a Series, or of the ``X_rna`` DataFrame).

Estimators whose extras are not installed are skipped; a known failure is marked
``xfail(strict=True)`` with the file and line that cause it.
"""

from __future__ import annotations

import importlib.util
import inspect
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError

import coxmt.estimators as E
import coxmt.model_selection as MS
from coxmt._validation import make_target
from coxmt.io import load_model, save_model
from coxmt.metrics import concordance_index
from coxmt.model_selection import (
    CalibratedRisk,
    CoxMTCV,
    InnerCVSearch,
    LabelFraction,
    SeedEnsemble,
)

N, P, D = 48, 6, 4  # patients, features (genes), patch-feature dimension

TINY_NET = {"hidden_layer_sizes": (8,), "max_epochs": 4}
TINY_WSI = {"model_dim": 8, "attention_dim": 4, "hidden_dim": 4, "max_tokens": 8}
TINY_MM = {"n_rna_tokens": 2, "model_dim": 8, "n_heads": 2, "hidden_dim": 4, "max_tokens": 8}
TINY_BAGS = {"max_epochs": 3, "batch_size": 16}

SAVE_INNER = (
    "coxmt.io.save_model needs _export_state, which LabelFraction lacks (a label-scarcity "
    "experiment wrapper); save its fitted estimator_ instead"
)


@dataclass(frozen=True)
class Case:
    """An estimator class, tiny parameters, its input kind and its known failures."""

    cls: type
    params: dict[str, Any]
    kind: str = "tabular"  # "tabular" (X), "bags" (bags) or "multimodal" (X_rna, bags)
    needs: str | None = None  # module of the optional extra
    xfail: dict[str, str] = field(default_factory=dict)  # check name -> reason


CASES = [
    Case(E.CoxNnet, {**TINY_NET, "random_state": 0}),
    Case(E.CoxMT, {**TINY_NET, "random_state": 0}),
    Case(E.PenalizedCox, {"alpha": 0.1, "random_state": 0}),
    Case(E.CoxnetSksurv, {"alpha": 0.1}, needs="sksurv"),
    Case(
        E.RandomSurvivalForest,
        {"n_estimators": 5, "min_samples_leaf": 5, "random_state": 0},
        needs="sksurv",
    ),
    Case(
        E.DeepSurv,
        {
            "hidden_layer_sizes": (8,),
            "learning_rate": 0.01,
            "max_epochs": 10,
            "batch_size": 16,
            "early_stopping": False,
            "random_state": 0,
        },
        needs="pycox",
    ),
    Case(
        E.WSICoxNnet,
        {**TINY_WSI, **TINY_BAGS, "random_state": 0},
        kind="bags",
    ),
    Case(
        E.WSICoxMT,
        {**TINY_WSI, **TINY_BAGS, "random_state": 0},
        kind="bags",
    ),
    Case(
        E.MultimodalCoxNnet,
        {**TINY_MM, **TINY_BAGS, "random_state": 0},
        kind="multimodal",
    ),
    Case(
        E.MultimodalCoxMT,
        {**TINY_MM, **TINY_BAGS, "random_state": 0},
        kind="multimodal",
    ),
    Case(
        LabelFraction,
        {"estimator": E.CoxMT(**TINY_NET, random_state=0), "fraction": 0.6, "random_state": 0},
        xfail={"save_load": SAVE_INNER},
    ),
    Case(
        InnerCVSearch,
        {
            "estimator": E.CoxNnet(**TINY_NET, random_state=0),
            "param_grid": {"weight_decay": [1e-4, 1e-2]},
            "cv": 2,
            "random_state": 0,
        },
    ),
    Case(
        SeedEnsemble, {"estimator": E.CoxNnet(**TINY_NET), "n_members": 2, "random_state": [0, 1]}
    ),
    Case(
        CoxMTCV,
        {
            "estimator": E.CoxMT(**TINY_NET),
            "param_grid": {"learning_rate": [1e-3, 1e-2]},
            "cv": 2,
            "n_members": 2,
            "random_state": 0,
        },
    ),
    Case(
        CalibratedRisk,
        {"estimator": E.CoxMT(**TINY_NET, random_state=0), "cv": 2, "random_state": 0},
    ),
]


def _params(check: str) -> list[Any]:
    out = []
    for case in CASES:
        marks: list[Any] = []
        if case.needs and importlib.util.find_spec(case.needs) is None:
            marks.append(pytest.mark.skip(reason=f"{case.needs} (an optional extra) is missing"))
        if check in case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail[check]))
        out.append(pytest.param(case, id=case.cls.__name__, marks=marks))
    return out


# ----------------------------------------------------------------------------- data
@dataclass
class Data:
    X: pd.DataFrame  # features, index = patient IDs
    bags: pd.Series  # one (n_patches, D) array per patient, same index
    y: pd.DataFrame  # (event, time), same index
    event: np.ndarray
    time: np.ndarray
    X_unlabeled: pd.DataFrame
    bags_unlabeled: list[np.ndarray]


@pytest.fixture(scope="module")
def data() -> Data:
    rng = np.random.default_rng(0)
    n_all = N + 12
    risk = rng.normal(size=n_all)
    X = rng.normal(size=(n_all, P))
    X[:, 0] += risk
    bags = []
    for r in risk:
        b = rng.normal(size=(int(rng.integers(3, 9)), D))
        b[:, 0] += r
        bags.append(b.astype(np.float32))
    t_event = rng.exponential(np.exp(-risk))
    t_cens = rng.exponential(2.0, size=n_all)
    event, time = t_event <= t_cens, np.minimum(t_event, t_cens)
    ids = pd.Index([f"TCGA-S{i % 4}-{i:04d}" for i in range(n_all)], name="case_id")
    frame = pd.DataFrame(X, index=ids, columns=[f"G{j}_rnaseq" for j in range(P)])
    y = pd.DataFrame(make_target(event, time), index=ids)
    return Data(
        frame.iloc[:N],
        pd.Series(bags[:N], index=ids[:N]),
        y.iloc[:N],
        event[:N],
        time[:N],
        frame.iloc[N:],
        bags[N:],
    )


def _inputs(case: Case, d: Data) -> tuple[Any, ...]:
    """Positional inputs of predict/score (and of fit, before y)."""
    if case.kind == "bags":
        return (list(d.bags),)
    if case.kind == "multimodal":
        return (d.X, list(d.bags))
    return (d.X,)


def _fit(
    est: Any, case: Case, d: Data, y: Any = None, inputs: tuple[Any, ...] | None = None
) -> Any:
    y = d.y if y is None else y
    inputs = _inputs(case, d) if inputs is None else inputs
    if case.kind == "bags":
        return est.fit(*inputs, y, bags_unlabeled=d.bags_unlabeled)
    if case.kind == "multimodal":
        return est.fit(*inputs, y, X_rna_unlabeled=d.X_unlabeled, bags_unlabeled=d.bags_unlabeled)
    return est.fit(*inputs, y, X_unlabeled=d.X_unlabeled)


@pytest.fixture(scope="module")
def fitted_cache() -> dict[str, Any]:
    return {}


@pytest.fixture
def fitted(case: Case, data: Data, fitted_cache: dict[str, Any]) -> Any:
    """One fitted model per estimator, shared by the checks that only read it."""
    key = case.cls.__name__
    if key not in fitted_cache:
        fitted_cache[key] = _fit(case.cls(**case.params), case, data)
    return fitted_cache[key]


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "get_params") and not isinstance(a, type):  # a nested estimator
        pa, pb = a.get_params(deep=False), b.get_params(deep=False)
        return (
            type(a) is type(b) and pa.keys() == pb.keys() and all(_same(pa[k], pb[k]) for k in pa)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return bool(a == b) and type(a) is type(b)


# ----------------------------------------------------------------------------- checks
def test_every_estimator_has_a_case() -> None:
    meta = [
        n
        for n in MS.__all__
        if isinstance(getattr(MS, n), type) and issubclass(getattr(MS, n), BaseEstimator)
    ]
    want = sorted([*E.__all__, *meta])
    assert want == sorted(c.cls.__name__ for c in CASES)


@pytest.mark.parametrize("case", _params("init"))
def test_init_only_stores_params(case: Case) -> None:
    est = case.cls(**case.params)
    params = est.get_params(deep=False)
    for name, value in case.params.items():
        assert params[name] is value, name
    sig = inspect.signature(case.cls.__init__).parameters
    for name, value in params.items():
        if name not in case.params:
            assert _same(value, sig[name].default), name
    assert set(vars(est)) == set(params)


@pytest.mark.parametrize("case", _params("clone"))
def test_clone_and_set_params_round_trip(case: Case) -> None:
    est = case.cls(**case.params)
    params = est.get_params(deep=False)
    twin = clone(est)
    assert twin is not est
    assert all(_same(v, params[k]) for k, v in twin.get_params(deep=False).items())
    assert est.set_params(**params) is est
    assert all(_same(v, params[k]) for k, v in est.get_params(deep=False).items())
    name = next(iter(params))
    est.set_params(**{name: "sentinel"})
    assert est.get_params()[name] == "sentinel"


@pytest.mark.parametrize("case", _params("not_fitted"))
def test_predict_before_fit_raises_not_fitted(case: Case, data: Data) -> None:
    with pytest.raises(NotFittedError):
        case.cls(**case.params).predict(*_inputs(case, data))


@pytest.mark.parametrize("case", _params("fit"))
def test_fit_returns_self_and_sets_trailing_underscore_attributes(case: Case, data: Data) -> None:
    est = case.cls(**case.params)
    before = set(vars(est))
    assert _fit(est, case, data) is est
    new = [a for a in set(vars(est)) - before if not a.startswith("_")]
    assert new, "fit set no fitted attribute"
    assert [a for a in new if not a.endswith("_")] == []
    assert (
        est.get_params(deep=False).keys() == case.cls(**case.params).get_params(deep=False).keys()
    )


@pytest.mark.parametrize("case", _params("predict"))
def test_predict_and_score(case: Case, fitted: Any, data: Data) -> None:
    risk = np.asarray(fitted.predict(*_inputs(case, data)))
    assert risk.shape == (N,) and np.isfinite(risk).all()
    want = concordance_index(data.event, data.time, risk)
    assert fitted.score(*_inputs(case, data), data.y) == pytest.approx(want, abs=1e-12)
    assert want > 0.5  # learnt something: risk is carried by feature 0 / patch dim 0


@pytest.mark.parametrize("case", _params("survival_function"))
def test_survival_function_is_a_probability_non_increasing_in_time(
    case: Case, fitted: Any, data: Data
) -> None:
    times = np.linspace(0.0, float(np.max(data.time)), 7)
    surv = np.asarray(fitted.predict_survival_function(*_inputs(case, data), times=times))
    assert surv.shape == (N, times.size)
    assert np.isfinite(surv).all() and (surv >= 0).all() and (surv <= 1).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all()


@pytest.mark.parametrize("case", _params("pickle"))
def test_pickle_round_trip_gives_identical_predictions(case: Case, fitted: Any, data: Data) -> None:
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        back.predict(*_inputs(case, data)), fitted.predict(*_inputs(case, data))
    )


@pytest.mark.parametrize("case", _params("save_load"))
def test_save_load_round_trip_gives_identical_predictions(
    case: Case, fitted: Any, data: Data, tmp_path: Path
) -> None:
    back = load_model(save_model(fitted, tmp_path / "model"))
    assert type(back) is type(fitted)
    assert getattr(back, "backend_", None) == getattr(fitted, "backend_", None)
    np.testing.assert_array_equal(
        back.predict(*_inputs(case, data)), fitted.predict(*_inputs(case, data))
    )


@pytest.mark.parametrize("case", _params("random_state"))
def test_same_random_state_gives_identical_predictions(case: Case, fitted: Any, data: Data) -> None:
    again = _fit(case.cls(**case.params), case, data)
    np.testing.assert_array_equal(
        again.predict(*_inputs(case, data)), fitted.predict(*_inputs(case, data))
    )


@pytest.mark.parametrize("case", _params("y_order"))
def test_y_in_another_row_order_is_realigned_or_refused(
    case: Case, fitted: Any, data: Data
) -> None:
    order = np.random.default_rng(5).permutation(N)
    shuffled = data.y.iloc[order]
    inputs = (data.bags,) if case.kind == "bags" else None  # bags indexed by patient ID
    try:
        est = _fit(case.cls(**case.params), case, data, y=shuffled, inputs=inputs)
    except ValueError:
        return  # refused
    np.testing.assert_array_equal(
        est.predict(*_inputs(case, data)), fitted.predict(*_inputs(case, data))
    )


# ----------------------------------------------------------------------------- bag patient IDs
TINY_WSI_CASE = next(c for c in CASES if c.cls is E.WSICoxNnet)
TINY_MM_CASE = next(c for c in CASES if c.cls is E.MultimodalCoxNnet)


def test_bags_series_index_realigns_y(data: Data) -> None:
    """The index of a Series of bags identifies the patients: a shuffled y is put in order."""
    case = TINY_WSI_CASE
    order = np.random.default_rng(1).permutation(N)
    aligned = _fit(case.cls(**case.params), case, data, inputs=(data.bags,))
    shuffled = _fit(case.cls(**case.params), case, data, y=data.y.iloc[order], inputs=(data.bags,))
    by_position = _fit(
        case.cls(**case.params), case, data, y=data.y.iloc[order], inputs=(list(data.bags),)
    )
    bags = list(data.bags)
    np.testing.assert_array_equal(shuffled.predict(bags), aligned.predict(bags))
    assert not np.array_equal(
        by_position.predict(bags), aligned.predict(bags)
    )  # lists: by position


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param(
            lambda d: (d.bags.rename(lambda i: i + "x"),),
            "^bags and y hold different",
            id="other-ids",
        ),
        pytest.param(
            lambda d: (d.X, d.bags.iloc[::-1]), "different orders", id="x-rna-and-bags-disagree"
        ),
    ],
)
def test_bag_patient_ids_that_do_not_match_are_refused(
    data: Data, inputs: Any, message: str
) -> None:
    case = TINY_WSI_CASE if len(inputs(data)) == 1 else TINY_MM_CASE
    with pytest.raises(ValueError, match=message):
        _fit(case.cls(**case.params), case, data, inputs=inputs(data))
