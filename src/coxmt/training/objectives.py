"""Training objectives: what one optimisation step computes."""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import nn

from coxmt.losses import neg_partial_log_likelihood

__all__ = ["Batch", "CoxObjective", "Objective"]


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
    """Supervised Cox partial likelihood (Cox-nnet, DeepSurv-style training)."""

    def __init__(self, model: nn.Module, *, ties: str = "efron") -> None:
        self.model = model
        self.ties = ties

    def trainable(self) -> nn.Module:
        return self.model

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        risk = self.model(batch.x)
        loss = neg_partial_log_likelihood(
            risk,
            batch.event,
            batch.time,
            ties=self.ties,  # type: ignore[arg-type]
            validate=False,
        )
        return loss, {"loss": loss.detach()}

    def after_step(self, step: int) -> None:
        return None

    def eval_modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}
