"""The teacher EMA of the stacked engine: fused when models share ema_decay, per model otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from coxmt import CoxMT, fit_many


@pytest.fixture(scope="module")
def data() -> dict:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 40))
    event = rng.random(90) < 0.4
    time = rng.exponential(10.0, 90) + 0.1
    return {"X": X, "y": (event, time), "rows": [np.arange(0, 60), np.arange(30, 90)]}


@pytest.mark.parametrize(
    "decays",
    [pytest.param((0.9, 0.9), id="shared-decay"), pytest.param((0.5, 0.95), id="per-model-decay")],
)
def test_stacked_teachers_equal_teachers_trained_alone(data: dict, decays: tuple) -> None:
    X, (event, time), rows = data["X"], data["y"], data["rows"]

    def make(k: int) -> CoxMT:
        return CoxMT(hidden_layer_sizes=(8,), max_epochs=25, ema_decay=decays[k],
                     rampup_epochs=5, random_state=k, device="cpu")  # fmt: skip

    stacked = fit_many([make(0), make(1)], X, (event, time), rows)
    preds = []
    for k, est in enumerate(stacked):
        alone = make(k).fit(X[rows[k]], (event[rows[k]], time[rows[k]]))
        np.testing.assert_allclose(est.predict(X), alone.predict(X), rtol=1e-4, atol=1e-5)
        preds.append(alone.predict(X))
    if decays[0] != decays[1]:  # the decays matter: the two teachers differ from a shared one
        shared = (
            make(1).set_params(ema_decay=decays[0]).fit(X[rows[1]], (event[rows[1]], time[rows[1]]))
        )
        assert np.abs(shared.predict(X) - preds[1]).max() > 1e-3
