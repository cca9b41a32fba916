"""Mean Teacher for Cox networks (Tarvainen & Valpola, 2017; Cox-MT).

Composition, not inheritance: a student network trained by gradient descent on
noisy inputs, a teacher network whose weights are an exponential moving average
(EMA) of the student's, and a consistency loss between their risk predictions on
censored and unlabeled patients.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from coxmt.losses import consistency_loss, neg_partial_log_likelihood
from coxmt.training.objectives import Batch

__all__ = ["CONSISTENCY_SETS", "MeanTeacherObjective", "ema_update", "sigmoid_rampup"]

CONSISTENCY_SETS = ("censored+unlabeled", "unlabeled", "all")


def sigmoid_rampup(epoch: float, rampup_epochs: float) -> float:
    """Ramp-up factor ``exp(-5 (1 - t)^2)`` with ``t = clip(epoch / rampup_epochs, 0, 1)``.

    Examples
    --------
    >>> sigmoid_rampup(0, 10) < 0.01, sigmoid_rampup(10, 10), sigmoid_rampup(3, 0)
    (True, 1.0, 1.0)
    """
    if rampup_epochs <= 0:
        return 1.0
    t = min(max(epoch / rampup_epochs, 0.0), 1.0)
    return float(math.exp(-5.0 * (1.0 - t) ** 2))


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float, step: int) -> float:
    """Update ``teacher <- a * teacher + (1 - a) * student`` in place.

    ``a = min(1 - 1 / (step + 1), decay)`` so that early on the teacher follows the
    student closely (warm-up), then averages over ~``1 / (1 - decay)`` steps.
    Buffers are copied. Returns the ``a`` used.
    """
    alpha = min(1.0 - 1.0 / (step + 1), decay)
    t_params: list[torch.Tensor] = list(teacher.parameters())
    s_params: list[torch.Tensor] = list(student.parameters())
    if t_params:
        torch._foreach_lerp_(t_params, s_params, 1.0 - alpha)
    for tb, sb in zip(teacher.buffers(), student.buffers(), strict=True):
        tb.copy_(sb)
    return alpha


def _noisy(x: torch.Tensor, std: float) -> torch.Tensor:
    if std <= 0:
        return x
    return x + std * torch.randn_like(x)


class MeanTeacherObjective:
    """Cox-MT loss ``L = L_s + w(t) * L_u``.

    Parameters
    ----------
    student : nn.Module
        The network trained by gradient descent.
    noise_std : float
        Standard deviation of the Gaussian input noise (drawn independently for
        the student and the teacher).
    ema_decay : float
        Upper bound of the EMA coefficient alpha.
    consistency_weight : float
        Final weight ``w`` of the consistency loss.
    rampup_epochs : int
        Epochs of sigmoid ramp-up of ``w``.
    consistency_on : {"censored+unlabeled", "unlabeled", "all"}
        Which samples enter ``L_u``.
    ties : str
        Tie handling of the Cox loss.
    predict_with : {"teacher", "student"}
        Which network predicts after training.
    """

    def __init__(
        self,
        student: nn.Module,
        *,
        noise_std: float = 0.1,
        ema_decay: float = 0.99,
        consistency_weight: float = 1.0,
        rampup_epochs: int = 30,
        consistency_on: str = "censored+unlabeled",
        ties: str = "efron",
        predict_with: str = "teacher",
    ) -> None:
        if consistency_on not in CONSISTENCY_SETS:
            raise ValueError(
                f"consistency_on must be one of {CONSISTENCY_SETS}, got {consistency_on!r}"
            )
        self.student = student
        self.teacher = copy.deepcopy(student)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.noise_std = float(noise_std)
        self.ema_decay = float(ema_decay)
        self.consistency_weight = float(consistency_weight)
        self.rampup_epochs = rampup_epochs
        self.consistency_on = consistency_on
        self.ties = ties
        self.predict_with = predict_with

    def trainable(self) -> nn.Module:
        return self.student

    def consistency_mask(self, event: torch.Tensor, n_unlabeled: int) -> torch.Tensor:
        """Rows of ``cat([labeled, unlabeled])`` that enter the consistency loss."""
        unl = torch.ones(n_unlabeled, dtype=torch.bool, device=event.device)
        if self.consistency_on == "all":
            lab = torch.ones_like(event, dtype=torch.bool)
        elif self.consistency_on == "censored+unlabeled":
            lab = ~event
        else:
            lab = torch.zeros_like(event, dtype=torch.bool)
        return torch.cat([lab, unl])

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        n_lab = batch.x.shape[0]
        xu = batch.x_unlabeled
        n_unl = 0 if xu is None else xu.shape[0]
        x_all = batch.x if n_unl == 0 else torch.cat([batch.x, xu], 0)  # type: ignore[list-item]
        # one student pass over labeled + unlabeled rows, noise drawn per row
        student_risk = self.student(_noisy(x_all, self.noise_std))
        sup = neg_partial_log_likelihood(
            student_risk[:n_lab],
            batch.event,
            batch.time,
            ties=self.ties,  # type: ignore[arg-type]
            validate=False,
        )
        w = self.consistency_weight * sigmoid_rampup(epoch, self.rampup_epochs)
        mask = self.consistency_mask(batch.event, n_unl)
        if w == 0.0 or not bool(mask.any()):
            cons = student_risk.sum() * 0.0
        else:
            with torch.no_grad():
                teacher_risk = self.teacher(_noisy(x_all[mask], self.noise_std))
            cons = consistency_loss(student_risk[mask], teacher_risk)
        loss = sup + w * cons
        return loss, {
            "loss": loss.detach(),
            "loss_supervised": sup.detach(),
            "loss_consistency": cons.detach(),
            "consistency_weight": w,
        }

    def after_step(self, step: int) -> None:
        ema_update(self.teacher, self.student, self.ema_decay, step)

    def eval_modules(self) -> dict[str, nn.Module]:
        if self.predict_with == "student":
            return {"student": self.student, "teacher": self.teacher}
        return {"teacher": self.teacher, "student": self.student}
