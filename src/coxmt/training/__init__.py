"""Training: the loop, its objectives (supervised Cox, Mean Teacher) and callbacks."""

from coxmt.training.batched import fit_many
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
    "fit_many",
    "sigmoid_rampup",
]
