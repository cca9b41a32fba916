"""Bag objectives (to be replaced by the shared Mean Teacher objectives)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn

from coxmt.losses import consistency_loss, neg_partial_log_likelihood
from coxmt.training.mean_teacher import ema_update, sigmoid_rampup
from coxmt.training.objectives import Batch

_Forward = Callable[[nn.Module, torch.Tensor], torch.Tensor]


class _IndexedRisk(nn.Module):
    """Wraps a network so that it maps patient indices to risks (for Trainer.validate)."""

    def __init__(self, net: nn.Module, forward: _Forward) -> None:
        super().__init__()
        self.net = net
        self._forward = forward

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self._forward(self.net, rows)


def _cox(risk: torch.Tensor, event: torch.Tensor, time: torch.Tensor, ties: str) -> torch.Tensor:
    return neg_partial_log_likelihood(risk, event, time, ties=ties, validate=False)  # type: ignore[arg-type]


class _BagCoxObjective:
    """Supervised Cox partial likelihood on bags (random token subsets, dropout)."""

    def __init__(self, net: nn.Module, train_fwd: _Forward, eval_fwd: _Forward, ties: str) -> None:
        self.net = net
        self.train_fwd = train_fwd
        self.ties = ties
        self._eval = {"model": _IndexedRisk(net, eval_fwd)}

    def trainable(self) -> nn.Module:
        return self.net

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        risk = self.train_fwd(self.net, batch.x)
        loss = _cox(risk, batch.event, batch.time, self.ties)
        return loss, {"loss": float(loss.detach())}

    def after_step(self, step: int) -> None:
        return None

    def eval_modules(self) -> dict[str, nn.Module]:
        return self._eval  # type: ignore[return-value]


class _BagMeanTeacher:
    """Mean Teacher on bags: student and EMA teacher see independent token subsets and noise."""

    def __init__(
        self,
        student: nn.Module,
        train_fwd: _Forward,
        eval_fwd: _Forward,
        *,
        ema_decay: float,
        consistency_weight: float,
        rampup_epochs: int,
        consistency_on: str,
        ties: str,
        predict_with: str,
    ) -> None:
        self.student = student
        self.teacher = copy.deepcopy(student)
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.train_fwd = train_fwd
        self.ema_decay = float(ema_decay)
        self.consistency_weight = float(consistency_weight)
        self.rampup_epochs = rampup_epochs
        self.consistency_on = consistency_on
        self.ties = ties
        mods = {
            "teacher": _IndexedRisk(self.teacher, eval_fwd),
            "student": _IndexedRisk(student, eval_fwd),
        }
        order = ("teacher", "student") if predict_with == "teacher" else ("student", "teacher")
        self._eval = {k: mods[k] for k in order}

    def trainable(self) -> nn.Module:
        return self.student

    def _mask(self, event: torch.Tensor, n_unlabeled: int) -> torch.Tensor:
        if self.consistency_on == "all":
            lab = torch.ones_like(event, dtype=torch.bool)
        elif self.consistency_on == "censored+unlabeled":
            lab = ~event
        else:
            lab = torch.zeros_like(event, dtype=torch.bool)
        return torch.cat([lab, torch.ones(n_unlabeled, dtype=torch.bool, device=event.device)])

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, float]]:
        n_lab = batch.x.shape[0]
        xu = batch.x_unlabeled
        n_unl = 0 if xu is None else int(xu.shape[0])
        rows = batch.x if xu is None or n_unl == 0 else torch.cat([batch.x, xu])
        student_risk = self.train_fwd(self.student, rows)
        sup = _cox(student_risk[:n_lab], batch.event, batch.time, self.ties)
        w = self.consistency_weight * sigmoid_rampup(epoch, self.rampup_epochs)
        mask = self._mask(batch.event, n_unl)
        if w == 0.0 or not bool(mask.any()):
            cons = student_risk.sum() * 0.0
        else:
            with torch.no_grad():
                teacher_risk = self.train_fwd(self.teacher, rows[mask])
            cons = consistency_loss(student_risk[mask], teacher_risk)
        loss = sup + w * cons
        return loss, {
            "loss": float(loss.detach()),
            "loss_supervised": float(sup.detach()),
            "loss_consistency": float(cons.detach()),
            "consistency_weight": w,
        }

    def after_step(self, step: int) -> None:
        ema_update(self.teacher, self.student, self.ema_decay, step)

    def eval_modules(self) -> dict[str, nn.Module]:
        return self._eval  # type: ignore[return-value]
