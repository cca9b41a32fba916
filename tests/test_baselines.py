"""Classic baselines: PenalizedCox (core) and the scikit-survival / pycox wrappers."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from coxmt._validation import make_target
from coxmt.estimators.baselines import CoxnetSksurv, DeepSurv, RandomSurvivalForest
from coxmt.estimators.linear import PenalizedCox, _CoxProblem, _kkt_violation
from coxmt.io import load_model, save_model
from coxmt.losses import neg_partial_log_likelihood

from .conftest import make_survival_data

REF_DIR = Path(__file__).parent / "reference"
REFS = json.loads((REF_DIR / "penalized_cox_references.json").read_text())

HAS_SKSURV = importlib.util.find_spec("sksurv") is not None
HAS_PYCOX = (
    importlib.util.find_spec("pycox") is not None
    and importlib.util.find_spec("torchtuples") is not None
)
needs_sksurv = pytest.mark.skipif(not HAS_SKSURV, reason="scikit-survival is not installed")
needs_pycox = pytest.mark.skipif(not HAS_PYCOX, reason="pycox/torchtuples are not installed")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The networks here are tiny: one thread avoids contention on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, event, time, _ = make_survival_data(n=150, p=6, seed=1)
    return X, make_target(event, time)


@pytest.fixture(scope="module")
def ref_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = REFS["data"]
    return np.array(d["X"]), np.array(d["event"]), np.array(d["time"])


def _fast_models() -> list:
    return [
        pytest.param(lambda: PenalizedCox(alpha=0.05), id="PenalizedCox-ridge"),
        pytest.param(lambda: PenalizedCox(alpha=0.05, l1_ratio=0.5), id="PenalizedCox-enet"),
        pytest.param(
            lambda: RandomSurvivalForest(n_estimators=20, random_state=0),
            id="RandomSurvivalForest",
            marks=needs_sksurv,
        ),
        pytest.param(lambda: CoxnetSksurv(alpha=0.01), id="CoxnetSksurv", marks=needs_sksurv),
        pytest.param(
            lambda: DeepSurv(max_epochs=15, learning_rate=1e-2, random_state=0, device="cpu"),
            id="DeepSurv",
            marks=needs_pycox,
        ),
    ]


# -- the optimisation problem ---------------------------------------------------------------
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_fast_loss_and_gradient_match_coxmt_losses(ties: str) -> None:
    X, event, time, _ = make_survival_data(n=90, p=5, seed=2, ties=True)
    b = np.random.default_rng(0).normal(scale=0.5, size=5)
    value, grad = _CoxProblem(X, event, time, ties).loss_grad(b)
    bt = torch.tensor(b, requires_grad=True)
    loss = neg_partial_log_likelihood(
        torch.as_tensor(X) @ bt, torch.as_tensor(event), torch.as_tensor(time), ties=ties
    )
    loss.backward()
    assert value == pytest.approx(float(loss.detach()), abs=1e-12)
    np.testing.assert_allclose(grad, bt.grad.numpy(), atol=1e-12)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_ridge_matches_sksurv_coxph(ties: str, ref_data: tuple) -> None:
    X, event, time = ref_data
    model = PenalizedCox(alpha=REFS["alpha"], ties=ties, tol=1e-11).fit(X, (event, time))
    np.testing.assert_allclose(model.coef_, REFS["ridge"][ties], atol=1e-10)


@pytest.mark.parametrize("l1_ratio", [0.3, 1.0])
def test_elastic_net_matches_sksurv_coxnet(l1_ratio: float, ref_data: tuple) -> None:
    X, event, time = ref_data
    model = PenalizedCox(alpha=REFS["alpha"], l1_ratio=l1_ratio, ties="breslow", tol=1e-9)
    model.fit(X, (event, time))
    expected = np.array(REFS["coxnet_breslow"][str(l1_ratio)])
    np.testing.assert_allclose(model.coef_, expected, atol=1e-5)
    np.testing.assert_array_equal(model.coef_ == 0, expected == 0)


@needs_sksurv
def test_references_still_agree_with_sksurv(ref_data: tuple) -> None:
    sys.path.insert(0, str(REF_DIR))
    try:
        import make_penalized_cox_references as ref
    finally:
        sys.path.remove(str(REF_DIR))
    d = REFS["data"]
    np.testing.assert_allclose(ref.fit_ridge(d, "efron"), REFS["ridge"]["efron"], atol=1e-8)
    np.testing.assert_allclose(ref.fit_coxnet(d, 1.0), REFS["coxnet_breslow"]["1.0"], atol=1e-8)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_solution_satisfies_kkt_with_more_features_than_samples(l1_ratio: float) -> None:
    X, event, time, _ = make_survival_data(n=60, p=150, seed=4)
    alpha = 0.08
    model = PenalizedCox(alpha=alpha, l1_ratio=l1_ratio, tol=1e-8).fit(X, (event, time))
    _, grad = _CoxProblem(X, event, time, "efron").loss_grad(model.coef_)
    grad += alpha * (1 - l1_ratio) * model.coef_
    assert _kkt_violation(grad, model.coef_, alpha * l1_ratio) < 1e-7
    if l1_ratio == 1.0:  # the lasso keeps at most n features
        assert 0 < np.count_nonzero(model.coef_) <= 60
    elif l1_ratio > 0:
        assert 0 < np.count_nonzero(model.coef_) < 150


def test_ridge_in_row_space_basis_matches_direct_fit() -> None:
    X, event, time, _ = make_survival_data(n=50, p=120, seed=7)
    direct = PenalizedCox(alpha=0.2, tol=1e-10).fit(X, (event, time))
    via_cv = PenalizedCox(alpha=[0.2], cv=3, tol=1e-10, random_state=0).fit(X, (event, time))
    np.testing.assert_allclose(via_cv.coef_, direct.coef_, atol=1e-8)


def test_huge_alpha_gives_zero_lasso_and_tiny_ridge(data: tuple) -> None:
    X, y = data
    assert not PenalizedCox(alpha=50.0, l1_ratio=1.0).fit(X, y).coef_.any()
    assert np.abs(PenalizedCox(alpha=1e6).fit(X, y).coef_).max() < 1e-5


# -- alpha="auto" -----------------------------------------------------------------------------
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
def test_auto_alpha_is_deterministic_and_learns(l1_ratio: float) -> None:
    X, event, time, _ = make_survival_data(n=200, p=30, seed=5)
    y = make_target(event, time)
    a = PenalizedCox(l1_ratio=l1_ratio, n_alphas=15, random_state=0).fit(X[:150], y[:150])
    b = PenalizedCox(l1_ratio=l1_ratio, n_alphas=15, random_state=0).fit(X[:150], y[:150])
    assert a.alpha_ == b.alpha_ and a.alpha_ in a.alphas_
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert a.cv_loss_.shape == (15, 5)
    assert np.isfinite(a.cv_loss_[list(a.alphas_).index(a.alpha_)]).all()
    pytest.importorskip("coxmt.metrics")
    assert a.score(X[150:], y[150:]) > 0.7


def test_alpha_sequence_is_chosen_from(data: tuple) -> None:
    X, y = data
    model = PenalizedCox(alpha=[0.01, 1.0, 0.1], cv=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(model.alphas_, [1.0, 0.1, 0.01])
    assert model.alpha_ in (1.0, 0.1, 0.01)
    fixed = PenalizedCox(alpha=0.1).fit(X, y)
    assert not hasattr(fixed, "alphas_")


# -- shared estimator behaviour ---------------------------------------------------------------
@pytest.mark.parametrize("make", _fast_models())
def test_survival_functions_and_risk(make, data: tuple) -> None:
    X, y = data
    model = make().fit(X[:110], y[:110], X_unlabeled=X[110:])
    risk = model.predict(X[110:])
    assert risk.shape == (40,) and np.isfinite(risk).all()
    times = np.array([-1.0, 0.0, 0.1, 0.5, 1.0, 3.0, 100.0])
    surv = model.predict_survival_function(X[110:], times=times)
    assert surv.shape == (40, len(times))
    assert ((surv >= 0) & (surv <= 1)).all()
    assert (np.diff(surv, axis=1) <= 1e-12).all()
    np.testing.assert_allclose(surv[:, 0], 1.0)
    default = model.predict_survival_function(X[:3])
    assert default.shape == (3, len(model.unique_times_))
    assert np.all(np.diff(model.predict_cumulative_hazard(X[:3]), axis=1) >= -1e-12)
    if not isinstance(model, RandomSurvivalForest):  # Cox-type: survival = exp(-H)
        np.testing.assert_allclose(
            np.exp(-model.predict_cumulative_hazard(X[:3], times)),
            model.predict_survival_function(X[:3], times),
        )
    pytest.importorskip("coxmt.metrics")
    assert model.score(X[110:], y[110:]) > 0.6


@pytest.mark.parametrize("make", _fast_models())
def test_clone_and_params(make) -> None:
    model = make()
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert type(copy) is type(model)


def test_pickle_round_trip(data: tuple) -> None:
    X, y = data
    model = PenalizedCox(alpha=0.1, l1_ratio=0.5).fit(X, y)
    back = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def test_x_unlabeled_is_ignored(data: tuple) -> None:
    X, y = data
    a = PenalizedCox(alpha=0.1).fit(X, y)
    b = PenalizedCox(alpha=0.1).fit(X, y, X_unlabeled=np.zeros((5, X.shape[1])))
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_grid_search_penalized_cox(data: tuple) -> None:
    pytest.importorskip("coxmt.metrics")
    X, y = data
    pipe = make_pipeline(StandardScaler(), PenalizedCox())
    grid = GridSearchCV(
        pipe,
        {"penalizedcox__alpha": [0.01, 1.0], "penalizedcox__l1_ratio": [0.0, 0.5]},
        cv=KFold(3, shuffle=True, random_state=0),
    )
    grid.fit(X, y)
    assert set(grid.best_params_) == {"penalizedcox__alpha", "penalizedcox__l1_ratio"}
    assert grid.score(X, y) > 0.6


@needs_sksurv
def test_grid_search_sksurv_wrappers(data: tuple) -> None:
    pytest.importorskip("coxmt.metrics")
    X, y = data
    for est, grid in [
        (RandomSurvivalForest(n_estimators=10, random_state=0), {"min_samples_leaf": [3, 10]}),
        (CoxnetSksurv(), {"alpha": [0.01, 0.1]}),
    ]:
        search = GridSearchCV(est, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
        assert search.best_score_ > 0.6


@needs_sksurv
def test_coxnet_wrapper_matches_penalized_cox(ref_data: tuple) -> None:
    X, event, time = ref_data
    n, d = len(time), event.sum()
    wrapped = CoxnetSksurv(alpha=REFS["alpha"] * d / n, l1_ratio=0.3, tol=1e-12)
    wrapped.fit(X, (event, time))
    ours = PenalizedCox(alpha=REFS["alpha"], l1_ratio=0.3, ties="breslow", tol=1e-9)
    ours.fit(X, (event, time))
    np.testing.assert_allclose(wrapped.coef_, ours.coef_, atol=1e-5)
    s1 = wrapped.predict_survival_function(X[:5], [5.0, 10.0, 20.0])
    s2 = ours.predict_survival_function(X[:5], [5.0, 10.0, 20.0])
    np.testing.assert_allclose(s1, s2, atol=1e-4)


@needs_pycox
def test_deepsurv_is_reproducible_and_early_stops(data: tuple) -> None:
    X, y = data
    kw = {"max_epochs": 60, "learning_rate": 1e-2, "random_state": 3, "device": "cpu"}
    a = DeepSurv(n_iter_no_change=3, **kw).fit(X, y)
    b = DeepSurv(n_iter_no_change=3, **kw).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert {"train_loss", "val_loss"} <= set(a.history_.columns)
    assert a.n_epochs_ < 60
    full = DeepSurv(early_stopping=False, batch_size=None, dropout=0.0, max_epochs=3, device="cpu")
    assert full.fit(X, y).n_epochs_ == 3


def test_deepsurv_batch_size_avoids_single_sample_batches() -> None:
    assert DeepSurv._batch_size(257, 256) == 255
    assert DeepSurv._batch_size(100, 256) == 100
    assert DeepSurv._batch_size(100, None) == 100


# -- features by name -------------------------------------------------------------------------
def test_dataframe_columns_are_aligned_by_name(data: tuple) -> None:
    X, y = data
    df = pd.DataFrame(X, columns=[f"g{i}" for i in range(X.shape[1])])
    model = PenalizedCox(alpha=0.1).fit(df, y)
    np.testing.assert_array_equal(model.feature_names_in_, df.columns)
    shuffled = df[df.columns[::-1]]
    np.testing.assert_allclose(model.predict(shuffled), model.predict(df))
    with pytest.raises(ValueError, match=r"missing 1 feature.*g2"):
        model.predict(df.drop(columns="g2"))
    with pytest.raises(ValueError, match="has 5 features but the model was fitted with 6"):
        model.predict(X[:, :5])


# -- saving -----------------------------------------------------------------------------------
def test_state_round_trip(data: tuple) -> None:
    X, y = data
    df = pd.DataFrame(X, columns=[f"g{i}" for i in range(X.shape[1])])
    model = PenalizedCox(alpha=[0.05, 0.5], cv=3, random_state=1).fit(df, y)
    arrays, config = model._export_state()
    json.dumps(config)
    back = PenalizedCox._from_state(arrays, config)
    assert back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.predict(df), model.predict(df))
    np.testing.assert_array_equal(
        back.predict_survival_function(df, [1.0, 2.0]),
        model.predict_survival_function(df, [1.0, 2.0]),
    )
    np.testing.assert_array_equal(back.cv_loss_, model.cv_loss_)


def test_save_and_load_model(tmp_path: Path, data: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    from coxmt import estimators
    from coxmt.io import load_model, save_model

    if "PenalizedCox" not in estimators.__all__:  # loading looks classes up there
        monkeypatch.setattr(estimators, "__all__", [*estimators.__all__, "PenalizedCox"])
        monkeypatch.setattr(estimators, "PenalizedCox", PenalizedCox, raising=False)
    X, y = data
    df = pd.DataFrame(X, columns=[f"g{i}" for i in range(X.shape[1])])
    model = PenalizedCox(alpha=0.1, l1_ratio=0.5).fit(df, y)
    path = save_model(model, tmp_path / "model")
    back = load_model(path)
    assert isinstance(back, PenalizedCox)
    assert back.get_params() == model.get_params()
    np.testing.assert_array_equal(back.predict(df), model.predict(df))
    np.testing.assert_array_equal(back.feature_names_in_, model.feature_names_in_)
    again = PenalizedCox.load(model.save(tmp_path / "again"))
    np.testing.assert_array_equal(again.coef_, model.coef_)


def test_pipeline_save_and_load(
    tmp_path: Path, data: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coxmt import estimators
    from coxmt.io import load_model, save_model

    pytest.importorskip("coxmt.pipeline")
    from coxmt.pipeline import make_survival_pipeline

    if "PenalizedCox" not in estimators.__all__:
        monkeypatch.setattr(estimators, "__all__", [*estimators.__all__, "PenalizedCox"])
        monkeypatch.setattr(estimators, "PenalizedCox", PenalizedCox, raising=False)
    X, y = data
    df = pd.DataFrame(X * 10 + 5, columns=[f"g{i}" for i in range(X.shape[1])])
    pipe = make_survival_pipeline(StandardScaler(), PenalizedCox(alpha=0.1))
    pipe.fit(df, y, X_unlabeled=df[:20])
    back = load_model(save_model(pipe, tmp_path / "pipe"))
    np.testing.assert_allclose(back.predict(df), pipe.predict(df), rtol=1e-12)


# -- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "match"),
    [
        pytest.param({"l1_ratio": 1.5}, r"l1_ratio must be in \[0, 1\]", id="l1_ratio"),
        pytest.param({"alpha": -1.0}, "alpha must be finite and >= 0", id="negative-alpha"),
        pytest.param({"alpha": "best"}, "alpha must be a number", id="string-alpha"),
        pytest.param({"ties": "exact"}, "ties must be 'efron' or 'breslow'", id="ties"),
        pytest.param({"cv": 1}, "cv must be >= 2", id="cv"),
        pytest.param({"alpha_min_ratio": 2.0}, "alpha_min_ratio must be in", id="min-ratio"),
        pytest.param({"tol": 0.0}, "tol must be > 0", id="tol"),
    ],
)
def test_bad_parameters(params: dict, match: str, data: tuple) -> None:
    X, y = data
    with pytest.raises(ValueError, match=match):
        PenalizedCox(**params).fit(X, y)


def test_bad_data_messages(data: tuple) -> None:
    X, y = data
    bad = X.copy()
    bad[[3, 7], 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN values at rows \[3, 7\]"):
        PenalizedCox(alpha=0.1).fit(bad, y)
    with pytest.raises(ValueError, match="all samples are censored"):
        PenalizedCox(alpha=0.1).fit(X, (np.zeros(len(X)), y["time"]))
    event = np.zeros(len(X), dtype=bool)
    event[:3] = True
    with pytest.raises(ValueError, match=r"needs at least 5 events; got 3.*fixed alpha"):
        PenalizedCox().fit(X, (event, y["time"]))
    with pytest.raises(ValueError, match="X has 150 rows but the survival target has 10"):
        PenalizedCox(alpha=0.1).fit(X, y[:10])


def test_missing_optional_package_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, data: tuple
) -> None:
    real = importlib.import_module

    def fake(name: str, *args, **kwargs):
        if name.startswith(("sksurv", "pycox", "torchtuples")):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    X, y = data
    for model in (RandomSurvivalForest(), CoxnetSksurv(), DeepSurv()):
        with pytest.raises(ImportError, match=r"pip install coxmt\[baselines\]"):
            model.fit(X, y)


@needs_pycox
def test_deepsurv_bad_parameters(data: tuple) -> None:
    X, y = data
    with pytest.raises(ValueError, match="dropout must be in"):
        DeepSurv(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="batch_size must be None"):
        DeepSurv(batch_size=1).fit(X, y)


def test_extreme_risks_fall_back_to_the_log_space_loss() -> None:
    X, event, time, _ = make_survival_data(n=40, p=2, seed=6)
    prob = _CoxProblem(X, event, time, "efron")
    b = np.array([400.0, -300.0])  # risks spread over > 1000: exp underflows
    value, grad = prob.loss_grad(b)
    bt = torch.tensor(b, requires_grad=True)
    loss = neg_partial_log_likelihood(
        torch.as_tensor(X) @ bt, torch.as_tensor(event), torch.as_tensor(time)
    )
    loss.backward()
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(float(loss.detach()), rel=1e-10)
    np.testing.assert_allclose(grad, bt.grad.numpy(), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: CoxnetSksurv(alpha=0.05), marks=needs_sksurv, id="CoxnetSksurv"),
        pytest.param(
            lambda: DeepSurv(
                hidden_layer_sizes=(8,), max_epochs=3, batch_size=32, random_state=0, device="cpu"
            ),
            marks=needs_pycox,
            id="DeepSurv",
        ),
    ],
)
def test_wrapped_baselines_save_without_pickle(make, data: tuple, tmp_path: Path) -> None:
    X, y = data
    model = make().fit(X, y)
    path = save_model(model, tmp_path / "model")
    for f in path.iterdir():
        assert b"\x80\x04\x95" not in f.read_bytes()[:64]  # no pickle protocol header
    back = load_model(path)
    assert type(back) is type(model)
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    times = np.quantile(y["time"], [0.25, 0.5])
    np.testing.assert_array_equal(
        back.predict_survival_function(X, times), model.predict_survival_function(X, times)
    )
    back_again = pickle.loads(pickle.dumps(model))  # a fitted model also pickles
    np.testing.assert_array_equal(back_again.predict(X), model.predict(X))
