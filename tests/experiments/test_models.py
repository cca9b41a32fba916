"""The model registry: short names, nested hyperparameters, fresh defaults."""

from __future__ import annotations

import pytest

from coxmt import CoxMT, CoxNnet
from coxmt.experiments import MODEL_NAMES, get_model
from coxmt.model_selection import DEFAULT_GRID, CoxMTCV


@pytest.mark.parametrize(
    ("name", "inner"),
    [
        pytest.param("coxmt-cv", CoxMT, id="coxmt-cv"),
        pytest.param("recommended", CoxMT, id="alias"),
        pytest.param("coxnnet-cv", CoxNnet, id="coxnnet-cv"),
        pytest.param("coxmt-cv-ridge", CoxMT, id="coxmt-cv-ridge"),
    ],
)
def test_recommended_models_wrap_a_fresh_network(name: str, inner: type) -> None:
    a, b = get_model(name), get_model(name)
    assert isinstance(a, CoxMTCV) and isinstance(a.estimator, inner)
    assert a.estimator is not b.estimator  # no estimator shared between models
    if a.fallback is not None:
        assert type(a.fallback).__name__ == "PenalizedCox" and a.fallback is not b.fallback
    if a.param_grid is not None:
        a.param_grid["dropout"].append(0.9)
        assert 0.9 not in b.param_grid["dropout"]  # nor a grid


def test_nested_hyperparameters_reach_the_wrapped_network() -> None:
    model = get_model("coxmt-cv", n_members=2, estimator__max_epochs=7)
    assert model.n_members == 2 and model.estimator.max_epochs == 7
    with pytest.raises(ValueError, match="bad hyperparameters for model 'Cox-MT CV'"):
        get_model("coxmt-cv", estimator__no_such_thing=1)


def test_coxmt_cv_grid_lets_the_model_fall_back_to_w0() -> None:
    assert 0.0 in DEFAULT_GRID["consistency_weight"]
    assert {"coxmt-cv", "coxnnet-cv"} <= set(MODEL_NAMES)
