"""Named backends: the rule of backend="auto", backend_, clear errors, one seeding scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sklearn.base import clone

from coxmt import CoxMT, CoxNnet, load_model
from coxmt.training.backends import resolve_backend
from coxmt.training.seeding import (
    init_generator,
    init_mlp,
    init_stream,
    stream_seed,
    training_stream,
)
from tests.conftest import make_survival_data


@pytest.mark.parametrize(
    ("backend", "kw", "expected"),
    [
        pytest.param("auto", {"batch_size": None}, "stacked", id="auto-full-batch"),
        pytest.param("auto", {"batch_size": 100}, "stacked", id="auto-batch-covers-all"),
        pytest.param("auto", {"batch_size": 32}, "loop", id="auto-mini-batches"),
        pytest.param(
            "auto", {"batch_size": None, "unlabeled_batch_size": 8}, "loop", id="auto-streamed"
        ),
        pytest.param("loop", {"batch_size": None}, "loop", id="loop"),
        pytest.param("stacked", {"batch_size": None}, "stacked", id="stacked"),
    ],
)
def test_resolve_backend(backend: str, kw: dict[str, Any], expected: str) -> None:
    assert resolve_backend(backend, n_train=100, **kw) == expected


@pytest.mark.parametrize(
    ("backend", "kw", "message"),
    [
        pytest.param("stacked", {"batch_size": 32}, "set batch_size=None", id="mini-batches"),
        pytest.param(
            "stacked",
            {"batch_size": None, "unlabeled_batch_size": 8},
            "set unlabeled_batch_size=None",
            id="streamed",
        ),
        pytest.param("engine", {"batch_size": None}, "backend must be one of", id="unknown"),
    ],
)
def test_resolve_backend_errors(backend: str, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_backend(backend, n_train=100, **kw)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    X, event, time, _ = make_survival_data(n=60, p=6, seed=0)
    return X, (event, time), np.random.default_rng(1).normal(size=(20, 6))


FAST = {"max_epochs": 5, "random_state": 0}


@pytest.mark.parametrize(
    ("cls", "kw", "expected"),
    [
        pytest.param(CoxNnet, {}, "stacked", id="nnet-default"),
        pytest.param(CoxNnet, {"batch_size": 16}, "loop", id="nnet-mini-batches"),
        pytest.param(CoxMT, {}, "stacked", id="mt-default"),
        pytest.param(CoxMT, {"unlabeled_batch_size": 8}, "loop", id="mt-streamed"),
        pytest.param(CoxMT, {"backend": "loop"}, "loop", id="mt-loop"),
    ],
)
def test_fitted_estimator_records_backend(
    cls: type, kw: dict[str, Any], expected: str, data: tuple
) -> None:
    X, y, Xu = data
    model = cls(**FAST, **kw).fit(X, y, X_unlabeled=Xu)
    assert model.backend_ == expected
    assert model.predict(X).shape == (len(X),)


def test_stacked_where_it_cannot_run_is_an_error(data: tuple) -> None:
    X, y, _ = data
    with pytest.raises(ValueError, match="backend='stacked' trains full-batch"):
        CoxNnet(backend="stacked", batch_size=16, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="backend must be one of"):
        CoxMT(backend="fast", **FAST).fit(X, y)


@pytest.mark.parametrize("backend", [pytest.param("stacked"), pytest.param("loop")])
def test_fit_leaves_global_rng_alone(backend: str, data: tuple) -> None:
    """No global seeding: the caller's random state is untouched and does not matter."""
    X, y, Xu = data
    preds = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        model = CoxMT(backend=backend, dropout=0.3, noise_std=0.2, **FAST)
        preds.append(model.fit(X, y, X_unlabeled=Xu).predict(X))
        assert torch.equal(torch.get_rng_state(), before)
    np.testing.assert_array_equal(preds[0], preds[1])


def test_batch_size_covering_the_data_changes_nothing(data: tuple) -> None:
    X, y, Xu = data
    a = CoxMT(dropout=0.2, **FAST).fit(X, y, X_unlabeled=Xu)
    b = CoxMT(dropout=0.2, batch_size=len(X), **FAST).fit(X, y, X_unlabeled=Xu)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def test_init_mlp_is_seeded_and_on_cpu_stream() -> None:
    a = init_mlp(4, (3,), "tanh", 0.0, seed=5, device=torch.device("cpu"))
    b = init_mlp(4, (3,), "tanh", 0.0, seed=6, device=torch.device("cpu"))
    assert not torch.equal(a.out.weight, b.out.weight)
    with training_stream(5, torch.device("cpu")):
        inside = torch.rand(3)
    expected = torch.rand(3, generator=torch.Generator().manual_seed(stream_seed(5)))
    assert torch.equal(inside, expected)


def test_backend_is_a_hyperparameter_that_saves(data: tuple, tmp_path: Path) -> None:
    X, y, Xu = data
    model = CoxMT(backend="loop", **FAST).fit(X, y, X_unlabeled=Xu)
    assert clone(model).get_params()["backend"] == "loop"
    loaded = load_model(model.save(tmp_path / "m"))
    assert loaded.get_params()["backend"] == "loop"
    np.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)


def test_init_stream_gives_the_init_generators_weights_and_restores_the_global_state() -> None:
    before = torch.random.get_rng_state()
    with init_stream(3):
        a = torch.nn.Linear(4, 2)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = torch.nn.Linear(4, 2)  # the caller's stream, untouched
    want = torch.empty(2, 4)
    torch.nn.init.kaiming_uniform_(want, a=5**0.5, generator=init_generator(3))
    assert torch.equal(a.weight, want)
    assert not torch.equal(a.weight, b.weight)


def test_fit_many_is_not_in_the_training_layer() -> None:
    import coxmt.training

    with pytest.raises(AttributeError, match=r"use coxmt\.fit_many .*model_selection\.fit_many"):
        coxmt.training.fit_many  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        coxmt.training.no_such_name  # noqa: B018
    assert not hasattr(coxmt.training, "fit_many")
