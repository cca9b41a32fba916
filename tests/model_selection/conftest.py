"""Small survival data with TCGA-like patient IDs and a recording estimator."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

from coxmt._validation import make_target


def tcga_like(n: int = 60, p: int = 4, seed: int = 3, n_sites: int = 6) -> tuple[Any, np.ndarray]:
    """``n`` patients from ``n_sites`` TCGA sites; risk from the first feature; ~50% events."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t_event = rng.exponential(np.exp(-X[:, 0]))
    t_cens = rng.exponential(1.0, size=n)
    event = t_event <= t_cens
    ids = [f"TCGA-S{i % n_sites}-{i:04d}" for i in range(n)]
    frame = pd.DataFrame(X, columns=[f"G{j}_rnaseq" for j in range(p)], index=ids)
    return frame, make_target(event, np.minimum(t_event, t_cens))


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = tcga_like()
    return X.to_numpy(), y


class Recorder(BaseEstimator):
    """Risk = first feature times ``consistency_weight``; records what ``fit`` received."""

    calls: ClassVar[list[tuple[int, int | None]]] = []

    def __init__(self, consistency_weight: float = 1.0, random_state: Any = None) -> None:
        self.consistency_weight = consistency_weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_unlabeled: Any = None) -> Recorder:
        Recorder.calls.append((len(X), None if X_unlabeled is None else len(X_unlabeled)))
        self.fitted_ = True
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=float)[:, 0] * self.consistency_weight


@pytest.fixture
def recorder() -> type[Recorder]:
    Recorder.calls = []
    return Recorder
