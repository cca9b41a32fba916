"""Fully connected Cox networks (Cox-nnet and the Cox-MT student/teacher)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "CoxMLP", "check_architecture"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
}


def check_architecture(
    hidden_layer_sizes: Sequence[int], activation: str, dropout: float
) -> tuple[int, ...]:
    """Validate an MLP's hyperparameters; returns the hidden widths as ints.

    Examples
    --------
    >>> check_architecture((8, 4), "tanh", 0.2)
    (8, 4)
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    sizes = tuple(int(h) for h in hidden_layer_sizes)
    if any(h < 1 for h in sizes):
        raise ValueError(f"hidden_layer_sizes must be positive integers, got {sizes}")
    return sizes


class CoxMLP(nn.Module):
    """Multi-layer perceptron ending in a bias-free linear Cox output.

    The output is the log-hazard ratio (risk); it has no bias because the Cox
    partial likelihood is invariant to a constant shift.

    Parameters
    ----------
    n_features : int
        Input dimension.
    hidden_layer_sizes : sequence of int
        Width of each hidden layer; empty gives a linear Cox model.
    activation : str, default "tanh"
        One of :data:`ACTIVATIONS`.
    dropout : float, default 0.0
        Dropout probability after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> net = CoxMLP(10, (4,))
    >>> net(torch.zeros(3, 10)).shape
    torch.Size([3])
    """

    def __init__(
        self,
        n_features: int,
        hidden_layer_sizes: Sequence[int] = (),
        activation: str = "tanh",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        sizes = check_architecture(hidden_layer_sizes, activation, dropout)
        layers: list[nn.Module] = []
        d = int(n_features)
        for h in sizes:
            layers.append(nn.Linear(d, h))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(d, 1, bias=False)

    @property
    def first_linear(self) -> nn.Linear:
        """The first linear layer (the output layer for a linear model)."""
        for m in self.hidden:
            if isinstance(m, nn.Linear):
                return m
        return self.out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Risk scores of shape (n,)."""
        return self.out(self.hidden(x)).squeeze(-1)
