"""CoxNnet and CoxMT: scikit-learn contract, learning, reproducibility, saving."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from coxmt import CoxMT, CoxNnet
from coxmt._validation import make_target
from coxmt.io import load_model, save_model
from coxmt.pipeline import make_survival_pipeline

from .conftest import make_survival_data

FAST = {"max_epochs": 30, "random_state": 0, "learning_rate": 1e-2}
MODELS = [
    pytest.param(CoxNnet, id="CoxNnet"),
    pytest.param(CoxMT, id="CoxMT"),
]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, event, time, _ = make_survival_data(n=150, p=6, seed=1)
    return X, make_target(event, time)


@pytest.mark.parametrize("cls", MODELS)
def test_learns_signal(cls: type, data: tuple) -> None:
    X, y = data
    model = cls(**FAST).fit(X[:100], y[:100])
    assert model.score(X[100:], y[100:]) > 0.65
    assert model.predict(X).shape == (150,)
    assert list(model.history_.columns)[:1] == ["loss"]
    assert len(model.history_) == FAST["max_epochs"]


@pytest.mark.parametrize("cls", MODELS)
def test_sklearn_contract(cls: type, data: tuple) -> None:
    X, y = data
    est = cls(hidden_layer_sizes=(4,), max_epochs=3)
    assert clone(est).get_params() == est.get_params()
    est.set_params(dropout=0.3)
    assert est.dropout == 0.3
    assert not hasattr(est, "module_")  # __init__ stores only hyperparameters
    fitted = est.fit(X, y)
    assert fitted is est
    # pickling a fitted estimator round-trips the predictions
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))


@pytest.mark.parametrize("cls", MODELS)
def test_grid_search_and_pipeline(cls: type, data: tuple) -> None:
    X, y = data
    pipe = make_pipeline(StandardScaler(), cls(max_epochs=5, random_state=0))
    grid = GridSearchCV(pipe, {f"{cls.__name__.lower()}__dropout": [0.0, 0.2]}, cv=KFold(2))
    grid.fit(X, y)
    assert 0.0 <= grid.best_score_ <= 1.0


@pytest.mark.parametrize("cls", MODELS)
def test_same_seed_same_predictions_bit_for_bit(cls: type, data: tuple) -> None:
    X, y = data
    a = cls(**FAST).fit(X, y, X_unlabeled=X[:20]).predict(X)
    b = cls(**FAST).fit(X, y, X_unlabeled=X[:20]).predict(X)
    np.testing.assert_array_equal(a, b)
    c = cls(**{**FAST, "random_state": 1}).fit(X, y).predict(X)
    assert not np.array_equal(a, c)


def test_fit_does_not_touch_global_rng(data: tuple) -> None:
    X, y = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    CoxMT(max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(torch.rand(3), expected)


@pytest.mark.parametrize("cls", MODELS)
def test_survival_functions(cls: type, data: tuple) -> None:
    X, y = data
    model = cls(**FAST).fit(X, y)
    surv = model.predict_survival_function(X[:10])
    assert surv.shape == (10, len(model.unique_times_))
    assert np.all((surv >= 0) & (surv <= 1))
    assert np.all(np.diff(surv, axis=1) <= 1e-12)
    times = np.array([0.0, 0.5, 1.0, 100.0])
    chf = model.predict_cumulative_hazard(X[:10], times)
    np.testing.assert_allclose(np.exp(-chf), model.predict_survival_function(X[:10], times))
    assert np.all(chf[:, 0] == 0.0)
    # higher risk -> lower survival at every time
    order = np.argsort(model.predict(X[:10]))
    assert np.all(np.diff(surv[order][:, -1]) <= 1e-12)


@pytest.mark.parametrize("cls", MODELS)
def test_save_load_round_trip(cls: type, data: tuple, tmp_path) -> None:
    X, y = data
    cols = [f"g{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=cols)
    model = cls(**FAST).fit(df, y)
    path = model.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "weights.safetensors"]
    loaded = cls.load(path)
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))
    np.testing.assert_array_equal(
        loaded.predict_survival_function(df[:5]), model.predict_survival_function(df[:5])
    )
    assert loaded.get_params() == model.get_params()
    # columns are aligned by name: reordered and extra columns are fine
    shuffled = df[cols[::-1]].assign(extra=1.0)
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(df))
    other = CoxMT if cls is CoxNnet else CoxNnet
    with pytest.raises(ValueError, match=f"holds a {cls.__name__}, not a {other.__name__}"):
        other.load(path)


def test_pipeline_save_load_carries_preprocessing(data: tuple, tmp_path) -> None:
    X, y = data
    df = pd.DataFrame(X * 10 + 5, columns=[f"g{i}" for i in range(X.shape[1])])
    pipe = make_survival_pipeline(StandardScaler(), CoxMT(**FAST))
    pipe.fit(df, y, X_unlabeled=df[:30])
    save_model(pipe, tmp_path / "pipe")
    loaded = load_model(tmp_path / "pipe")
    np.testing.assert_allclose(loaded.predict(df), pipe.predict(df), rtol=1e-6, atol=1e-6)


def test_missing_columns_are_listed(data: tuple) -> None:
    X, y = data
    df = pd.DataFrame(X, columns=[f"g{i}" for i in range(X.shape[1])])
    model = CoxNnet(max_epochs=2).fit(df, y)
    with pytest.raises(ValueError, match=r"missing 2 feature\(s\).*g0, g3"):
        model.predict(df.drop(columns=["g0", "g3"]))


def test_unlabeled_data_changes_cox_mt_but_not_cox_nnet(data: tuple) -> None:
    X, y = data
    rng = np.random.default_rng(0)
    Xu = rng.normal(size=(50, X.shape[1]))
    a = CoxMT(**FAST).fit(X, y).predict(X)
    b = CoxMT(**FAST).fit(X, y, X_unlabeled=Xu).predict(X)
    assert not np.allclose(a, b)
    c = CoxNnet(**FAST).fit(X, y).predict(X)
    d = CoxNnet(**FAST).fit(X, y, X_unlabeled=Xu).predict(X)
    np.testing.assert_array_equal(c, d)


def test_cox_mt_without_consistency_and_noise_is_ema_of_supervised(data: tuple) -> None:
    """With w = 0 the student is trained exactly like Cox-nnet (same seed, same network)."""
    X, y = data
    kw = {"hidden_layer_sizes": (5,), "dropout": 0.0, **FAST}
    student = CoxMT(consistency_weight=0.0, noise_std=0.0, predict_with="student", **kw).fit(X, y)
    supervised = CoxNnet(**kw).fit(X, y)
    np.testing.assert_allclose(student.predict(X), supervised.predict(X), rtol=1e-5, atol=1e-6)
    teacher = CoxMT(consistency_weight=0.0, noise_std=0.0, predict_with="teacher", **kw).fit(X, y)
    assert not np.allclose(teacher.predict(X), supervised.predict(X))


@pytest.mark.parametrize("consistency_on", ["censored+unlabeled", "unlabeled", "all"])
def test_consistency_sets_train(consistency_on: str, data: tuple) -> None:
    X, y = data
    model = CoxMT(consistency_on=consistency_on, **FAST).fit(X, y, X_unlabeled=X[:10])
    assert np.isfinite(model.predict(X)).all()
    assert (model.history_["loss_consistency"] >= 0).all()


def test_early_stopping_restores_best(data: tuple) -> None:
    X, y = data
    model = CoxMT(
        early_stopping=True,
        n_iter_no_change=5,
        max_epochs=200,
        **{k: v for k, v in FAST.items() if k != "max_epochs"},
    ).fit(X, y)
    assert model.n_epochs_ < 200
    assert model.best_epoch_ is not None
    hist = model.history_
    assert hist["val_c_index"].max() == pytest.approx(hist["val_c_index"].iloc[model.best_epoch_])


@pytest.mark.parametrize("cls", MODELS)
def test_mini_batches(cls: type, data: tuple) -> None:
    X, y = data
    model = cls(batch_size=32, **FAST).fit(X, y, X_unlabeled=X[:40])
    assert model.score(X, y) > 0.6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"learning_rate": 0}, "learning_rate must be > 0", id="lr"),
        pytest.param({"max_epochs": 0}, "max_epochs must be >= 1", id="epochs"),
        pytest.param({"batch_size": 1}, "batch_size must be None", id="batch"),
        pytest.param({"ties": "exact"}, "ties must be 'efron' or 'breslow'", id="ties"),
        pytest.param({"activation": "swish"}, "unknown activation 'swish'", id="activation"),
        pytest.param({"noise_std": -1}, "noise_std must be >= 0", id="noise"),
        pytest.param({"ema_decay": 1.0}, r"ema_decay must be in \[0, 1\)", id="ema"),
        pytest.param(
            {"consistency_on": "censored"}, "consistency_on must be one of", id="cons-set"
        ),
        pytest.param({"predict_with": "both"}, "predict_with must be", id="predict-with"),
        pytest.param(
            {"device": "cuda:7"} if not torch.cuda.is_available() else {"ties": "x"},
            "no CUDA device|ties must be",
            id="no-cuda",
        ),
    ],
)
def test_bad_hyperparameters(params: dict, message: str, data: tuple) -> None:
    X, y = data
    with pytest.raises(ValueError, match=message):
        CoxMT(**{"max_epochs": 2, **params}).fit(X, y)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(lambda X, e, t: (X, e * 0, t), "all samples are censored", id="all-censored"),
        pytest.param(
            lambda X, e, t: (X[:-1], e, t),
            "X has 149 rows but the survival target has 150",
            id="length",
        ),
        pytest.param(
            lambda X, e, t: (np.where(np.arange(150)[:, None] == 7, np.nan, X), e, t),
            r"X contains NaN values at rows \[7\]",
            id="nan-X",
        ),
        pytest.param(
            lambda X, e, t: (X, e, np.where(np.arange(150) == 3, -1.0, t)),
            r"time contains negative values at rows \[3\]",
            id="neg-time",
        ),
        pytest.param(
            lambda X, e, t: (X[:1], e[:1], t[:1]), "need at least 2 samples", id="one-sample"
        ),
        pytest.param(lambda X, e, t: (X[:, :0], e, t), "X has zero columns", id="no-columns"),
    ],
)
def test_bad_inputs(mutate, message: str, data: tuple) -> None:
    X, y = data
    Xb, e, t = mutate(X, y["event"].astype(int), y["time"])
    with pytest.raises(ValueError, match=message):
        CoxNnet(max_epochs=2).fit(Xb, (e, t))


def test_unlabeled_with_wrong_width(data: tuple) -> None:
    X, y = data
    with pytest.raises(
        ValueError, match="X_unlabeled has 3 features but the model was fitted with 6"
    ):
        CoxMT(max_epochs=2).fit(X, y, X_unlabeled=X[:, :3])


def test_default_architectures(data: tuple) -> None:
    X, y = data
    nnet = CoxNnet(max_epochs=1).fit(X, y)
    assert nnet.module_.hidden[0].out_features == 3  # ceil(sqrt(6))
    mt = CoxMT(max_epochs=1).fit(X, y)
    linear = [m for m in mt.module_.hidden if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [6, 3]
    assert mt.module_.out.bias is None
