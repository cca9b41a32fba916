"""Torch modules used by coxmt's estimators."""

from coxmt.nn.mlp import ACTIVATIONS, CoxMLP

__all__ = ["ACTIVATIONS", "CoxMLP"]
