"""Shared fixtures: small survival data, the shared TCGA folder, thread settings."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

# keep tests predictable on a 2-core machine
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]
TCGA_DIR = Path(os.environ.get("COXMT_TCGA_DIR", REPO.parent / "shared" / "data" / "tcga"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_cuda = not torch.cuda.is_available()
    for item in items:
        if no_cuda and "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU; none is available"))


@pytest.fixture(scope="session")
def tcga_dir() -> Path:
    """Folder of the shared TCGA cohorts; skips the test when it is absent."""
    if not TCGA_DIR.is_dir():
        pytest.skip(
            f"TCGA cohorts not found at {TCGA_DIR} (they live in ../shared/data/tcga beside the "
            "repository; set COXMT_TCGA_DIR to point elsewhere)"
        )
    return TCGA_DIR


def make_survival_data(
    n: int = 120, p: int = 8, seed: int = 0, censor_rate: float = 0.4, ties: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Data from a Cox model with risk = X @ beta; returns X, event, time, beta."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    beta = np.zeros(p)
    beta[: min(3, p)] = [1.0, -0.8, 0.6][: min(3, p)]
    t_event = rng.exponential(np.exp(-(X @ beta)))
    t_cens = rng.exponential(np.quantile(t_event, 0.8), size=n)
    event = (t_event <= t_cens) | (rng.random(n) > censor_rate)
    time = np.where(event, t_event, np.minimum(t_cens, t_event))
    if ties:
        time = np.ceil(time * 4) / 4
    return X, event, time, beta


@pytest.fixture
def survival_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return make_survival_data()
