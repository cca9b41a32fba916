"""scikit-learn compatible survival estimators."""

from coxmt.estimators.cox_mt import CoxMT
from coxmt.estimators.cox_nnet import CoxNnet

__all__ = ["CoxMT", "CoxNnet"]
