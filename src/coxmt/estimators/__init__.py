"""scikit-learn compatible survival estimators."""

from coxmt.estimators.baselines import CoxnetSksurv, DeepSurv, RandomSurvivalForest
from coxmt.estimators.cox_mt import CoxMT
from coxmt.estimators.cox_nnet import CoxNnet
from coxmt.estimators.linear import PenalizedCox
from coxmt.estimators.multimodal import MultimodalCoxMT, MultimodalCoxNnet
from coxmt.estimators.wsi import WSICoxMT, WSICoxNnet

__all__ = [
    "CoxMT",
    "CoxNnet",
    "CoxnetSksurv",
    "DeepSurv",
    "MultimodalCoxMT",
    "MultimodalCoxNnet",
    "PenalizedCox",
    "RandomSurvivalForest",
    "WSICoxMT",
    "WSICoxNnet",
]
