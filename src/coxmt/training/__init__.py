"""Training: the backends (general loop, stacked engine), objectives, Mean Teacher rules, callbacks.

``fit_many`` lives in :mod:`coxmt.model_selection` (also ``coxmt.fit_many``).
"""

from coxmt.training.callbacks import Callback, EarlyStopping, ProgressBar
from coxmt.training.loop import Trainer, TrainingData
from coxmt.training.mean_teacher import MeanTeacherObjective, ema_update, sigmoid_rampup
from coxmt.training.objectives import CoxObjective, Objective

__all__ = [
    "Callback",
    "CoxObjective",
    "EarlyStopping",
    "MeanTeacherObjective",
    "Objective",
    "ProgressBar",
    "Trainer",
    "TrainingData",
    "ema_update",
    "sigmoid_rampup",
]
