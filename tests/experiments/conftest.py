"""Shared fixtures: a small synthetic cohort and fast estimators."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator
from sklearn.preprocessing import StandardScaler

from coxmt import CoxMT, CoxNnet
from coxmt._validation import check_survival_target

N, P = 120, 10


@pytest.fixture(scope="session")
def cohort() -> tuple[pd.DataFrame, np.ndarray]:
    """120 patients x 10 features with string IDs; ~60% events; risk from features 0 and 1."""
    rng = np.random.default_rng(42)
    X = rng.normal(size=(N, P))
    hazard = np.exp(0.8 * X[:, 0] - 0.5 * X[:, 1])
    t_event = rng.exponential(1.0 / hazard)
    t_cens = rng.exponential(1.5, size=N)
    event = t_event <= t_cens
    time = np.minimum(t_event, t_cens)
    ids = [f"P{i:03d}" for i in range(N)]
    frame = pd.DataFrame(X, columns=[f"g{j}" for j in range(P)], index=pd.Index(ids, name="id"))
    y = np.empty(N, dtype=[("event", bool), ("time", np.float64)])
    y["event"], y["time"] = event, time
    return frame, y


@pytest.fixture
def models() -> dict[str, Any]:
    return {
        "Cox-MT": CoxMT(max_epochs=20, random_state=123),
        "Cox-nnet": CoxNnet(max_epochs=20),
    }


class RecordingScaler(StandardScaler):
    """StandardScaler that records the row IDs it was fitted on and transformed."""

    fitted_on: ClassVar[list[list[str]]] = []
    transformed: ClassVar[list[list[str]]] = []

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> RecordingScaler:
        RecordingScaler.fitted_on.append([str(i) for i in X.index])
        return super().fit(X, y, sample_weight)

    def transform(self, X: Any, copy: Any = None) -> Any:
        RecordingScaler.transformed.append([str(i) for i in X.index])
        return super().transform(X, copy=copy)


class RecordingModel(BaseEstimator):
    """Linear risk on the first feature; records what fit received (no survival function)."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, random_state: int | None = None, semi: bool = True) -> None:
        self.random_state = random_state
        self.semi = semi

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> RecordingModel:
        check_survival_target(y)
        RecordingModel.calls.append(
            {
                "n": len(X),
                "unlabeled": None if X_unlabeled is None else [str(i) for i in X_unlabeled.index],
                "random_state": self.random_state,
            }
        )
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X)[:, 0].astype(float)


class SupervisedModel(RecordingModel):
    """Like RecordingModel, but ``fit`` has no X_unlabeled parameter."""

    def fit(self, X: Any, y: Any) -> SupervisedModel:  # type: ignore[override]
        return super().fit(X, y)  # type: ignore[return-value]


@pytest.fixture
def recorders() -> Any:
    RecordingScaler.fitted_on.clear()
    RecordingScaler.transformed.clear()
    RecordingModel.calls.clear()
    yield
    RecordingScaler.fitted_on.clear()
    RecordingScaler.transformed.clear()
    RecordingModel.calls.clear()
