"""Training: the backends (general loop, stacked engine), objectives, Mean Teacher rules, callbacks.

``fit_many`` lives in :mod:`coxmt.model_selection` (also ``coxmt.fit_many``).
"""

from typing import Any

from coxmt.training.backends import BACKENDS
from coxmt.training.callbacks import Callback, EarlyStopping, ProgressBar
from coxmt.training.loop import Trainer, TrainingData
from coxmt.training.mean_teacher import (
    CONSISTENCY_SETS,
    MeanTeacherObjective,
    add_input_noise,
    check_mean_teacher_params,
    consistency_rows,
    ema_alpha,
    ema_update,
    sigmoid_rampup,
)
from coxmt.training.objectives import CoxObjective, Objective
from coxmt.training.supervision import SUPERVISED_SETS, check_supervised_on, split_supervised

__all__ = [
    "BACKENDS",
    "CONSISTENCY_SETS",
    "SUPERVISED_SETS",
    "Callback",
    "CoxObjective",
    "EarlyStopping",
    "MeanTeacherObjective",
    "Objective",
    "ProgressBar",
    "Trainer",
    "TrainingData",
    "add_input_noise",
    "check_mean_teacher_params",
    "check_supervised_on",
    "consistency_rows",
    "ema_alpha",
    "ema_update",
    "sigmoid_rampup",
    "split_supervised",
]


def __getattr__(name: str) -> Any:
    """Say where ``fit_many`` went (it builds estimators, so it lives above this layer).

    Examples
    --------
    >>> import coxmt.training
    >>> coxmt.training.fit_many
    Traceback (most recent call last):
    ...
    AttributeError: coxmt.training.fit_many has moved: use coxmt.fit_many (or coxmt.model_selection.fit_many)
    """
    if name == "fit_many":
        raise AttributeError(
            "coxmt.training.fit_many has moved: use coxmt.fit_many "
            "(or coxmt.model_selection.fit_many)"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
