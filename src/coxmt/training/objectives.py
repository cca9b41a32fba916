"""Training objectives: what one optimisation step computes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn

from coxmt.losses import neg_partial_log_likelihood

__all__ = ["Batch", "CoxObjective", "Forward", "ForwardModule", "Objective", "plain_forward"]

Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]
"""``forward(net, x) -> risk``: how a network maps a batch's inputs to risk scores."""


def plain_forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``net(x)``: the forward of networks that take their inputs as they are.

    Examples
    --------
    >>> plain_forward(torch.nn.Identity(), torch.ones(2)).tolist()
    [1.0, 1.0]
    """
    return net(x)


class ForwardModule(nn.Module):
    """A network evaluated through a custom forward (e.g. bags of tokens given by row indices).

    ``ForwardModule(net, forward)(x) == forward(net, x)``; ``net`` is the wrapped
    network (its state dict is the wrapper's, under the prefix ``net.``).

    Examples
    --------
    >>> m = ForwardModule(torch.nn.Identity(), lambda net, x: 2 * net(x))
    >>> m(torch.ones(2)).tolist()
    [2.0, 2.0]
    """

    def __init__(self, net: nn.Module, forward: Forward) -> None:
        super().__init__()
        self.net = net
        self._forward = forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.net, x)


def eval_module(net: nn.Module, eval_forward: Forward | None) -> nn.Module:
    """``net`` itself, or ``net`` wrapped in :class:`ForwardModule` when a forward is given."""
    return net if eval_forward is None else ForwardModule(net, eval_forward)


def cox_loss(risk: torch.Tensor, batch: Batch, ties: str) -> torch.Tensor:
    """Negative Cox partial log-likelihood of ``risk`` on the labeled rows of ``batch``."""
    return neg_partial_log_likelihood(
        risk,
        batch.event,
        batch.time,
        ties=ties,  # type: ignore[arg-type]
        validate=False,
    )


class Batch:
    """One optimisation step's data, already on the training device.

    ``x``/``event``/``time`` are the labeled samples; ``x_unlabeled`` the extra
    unlabeled samples (may have zero rows).
    """

    __slots__ = ("event", "time", "x", "x_unlabeled")

    def __init__(
        self,
        x: torch.Tensor,
        event: torch.Tensor,
        time: torch.Tensor,
        x_unlabeled: torch.Tensor | None = None,
    ) -> None:
        self.x = x
        self.event = event
        self.time = time
        self.x_unlabeled = x_unlabeled


class Objective(Protocol):
    """What the :class:`~coxmt.training.Trainer` needs from a training method."""

    def trainable(self) -> nn.Module:
        """Module whose parameters the optimiser updates."""

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        """Loss for one batch and scalar logs (floats or 0-d tensors)."""

    def after_step(self, step: int) -> None:
        """Called after each optimiser step (e.g. the EMA teacher update)."""

    def eval_modules(self) -> dict[str, nn.Module]:
        """Modules to evaluate on validation data, by name; the first is the predictor."""


class CoxObjective:
    """Supervised Cox partial likelihood (Cox-nnet, DeepSurv-style training).

    Parameters
    ----------
    model : nn.Module
        The network trained by gradient descent.
    forward : callable, optional
        ``forward(net, x) -> risk`` in training mode (default ``net(x)``); bag models
        pass one that draws token subsets.
    eval_forward : callable, optional
        The forward used for validation and prediction (default ``net(x)``). When
        given, :meth:`eval_modules` returns the model wrapped in a
        :class:`ForwardModule` (its ``.net`` is the model).
    ties : {"efron", "breslow"}
        Tie handling of the Cox loss.

    Examples
    --------
    >>> net = torch.nn.Linear(3, 1, bias=False)
    >>> batch = Batch(torch.randn(4, 3), torch.tensor([True, False, True, True]),
    ...               torch.tensor([1.0, 2.0, 3.0, 4.0]))
    >>> loss, logs = CoxObjective(net, forward=lambda n, x: n(x).squeeze(-1)).compute_loss(batch, 0)
    >>> loss.ndim, sorted(logs)
    (0, ['loss'])
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        forward: Forward | None = None,
        eval_forward: Forward | None = None,
        ties: str = "efron",
    ) -> None:
        self.model = model
        self.forward: Forward = forward if forward is not None else plain_forward
        self.ties = ties
        self._eval = {"model": eval_module(model, eval_forward)}

    def trainable(self) -> nn.Module:
        return self.model

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        loss = cox_loss(self.forward(self.model, batch.x), batch, self.ties)
        return loss, {"loss": loss.detach()}

    def after_step(self, step: int) -> None:
        return None

    def eval_modules(self) -> dict[str, nn.Module]:
        return self._eval
