"""coxmt: deep semi-supervised survival analysis for cancer prognosis.

Cox-MT trains a Cox proportional-hazards network with the Mean Teacher method so
that censored and unlabeled patients shape the model, next to the supervised
Cox-nnet baseline, survival metrics, cross-validation experiments, and
whole-slide-image / multimodal models.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CoxNnet": "coxmt.estimators",
    "CoxMT": "coxmt.estimators",
    "PenalizedCox": "coxmt.estimators",
    "WSICoxMT": "coxmt.estimators",
    "MultimodalCoxMT": "coxmt.estimators",
    "MultimodalCoxNnet": "coxmt.estimators",
    "WSICoxNnet": "coxmt.estimators",
    "fit_many": "coxmt.model_selection",
    "SeedEnsemble": "coxmt.model_selection",
    "CalibratedRisk": "coxmt.model_selection",
    "load_model": "coxmt.io",
    "save_model": "coxmt.io",
    "make_target": "coxmt._validation",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'coxmt' has no attribute {name!r}")
