"""Mean Teacher for Cox networks (Tarvainen & Valpola, 2017; Cox-MT): the one home of its rules.

Composition, not inheritance: a student network trained by gradient descent on
noisy inputs, a teacher network whose weights are an exponential moving average
(EMA) of the student's, and a consistency loss between their risk predictions on
censored and unlabeled patients.

The rules live here and every training backend uses them: the general
:class:`~coxmt.training.Trainer` (through :class:`MeanTeacherObjective`), the
stacked engine (:mod:`coxmt.training.engine`) and the slide and multimodal
estimators (through :class:`MeanTeacherObjective` with their own forward):

- which rows enter the consistency loss: :func:`consistency_rows` (labeled rows that
  ``supervised_on="events"`` moves out of the Cox loss count as unlabeled rows, see
  :mod:`coxmt.training.supervision`);
- the EMA coefficient: :func:`ema_alpha` (applied by :func:`ema_update`);
- the ramp-up of the consistency weight: :func:`consistency_weight_at`
  (:func:`sigmoid_rampup`);
- the input noise: :func:`add_input_noise`;
- the checks of the settings: :func:`check_mean_teacher_params`.
"""

from __future__ import annotations

import copy
import math
from numbers import Real
from typing import Any, TypeVar, overload

import numpy as np
import torch
from torch import nn

from coxmt.losses import consistency_loss
from coxmt.training.objectives import Batch, Forward, cox_loss, eval_module

__all__ = [
    "CONSISTENCY_SETS",
    "MEAN_TEACHER_PARAMS",
    "PREDICTORS",
    "MeanTeacherObjective",
    "add_input_noise",
    "check_mean_teacher_params",
    "consistency_rows",
    "consistency_weight_at",
    "ema_alpha",
    "ema_update",
    "mean_teacher_params",
    "sigmoid_rampup",
]

CONSISTENCY_SETS = ("censored+unlabeled", "unlabeled", "all")
"""Values of ``consistency_on``: which samples enter the consistency loss ``L_u``."""

PREDICTORS = ("teacher", "student")
"""Values of ``predict_with``: which network predicts after training."""

MEAN_TEACHER_PARAMS = (
    "noise_std",
    "ema_decay",
    "consistency_weight",
    "rampup_epochs",
    "consistency_on",
    "predict_with",
)
"""The Mean Teacher settings, as named by the estimators, the objective and the engine."""

_Mask = TypeVar("_Mask", np.ndarray, torch.Tensor)


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


def consistency_weight_at(epoch: float, consistency_weight: float, rampup_epochs: float) -> float:
    """Weight ``w(t) = consistency_weight * sigmoid_rampup(epoch, rampup_epochs)`` of ``L_u``.

    Examples
    --------
    >>> consistency_weight_at(30, 2.0, 30), consistency_weight_at(5, 2.0, 0)
    (2.0, 2.0)
    """
    return float(consistency_weight) * sigmoid_rampup(epoch, rampup_epochs)


def ema_alpha(step: int, decay: float) -> float:
    """EMA coefficient ``a = min(1 - 1 / (step + 1), decay)`` of the teacher after ``step``.

    Early on the teacher follows the student closely (warm-up), then averages over
    about ``1 / (1 - decay)`` steps.

    Examples
    --------
    >>> ema_alpha(0, 0.99), ema_alpha(1, 0.99), ema_alpha(1000, 0.99)
    (0.0, 0.5, 0.99)
    """
    return min(1.0 - 1.0 / (step + 1), float(decay))


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float, step: int) -> float:
    """Update ``teacher <- a * teacher + (1 - a) * student`` in place, ``a = ema_alpha(step, decay)``.

    Buffers are copied. Returns the ``a`` used.

    Examples
    --------
    >>> t, s = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    >>> ema_update(t, s, 0.99, 0)
    0.0
    >>> bool(torch.equal(t.weight, s.weight))
    True
    """
    alpha = ema_alpha(step, decay)
    t_params: list[torch.Tensor] = list(teacher.parameters())
    s_params: list[torch.Tensor] = list(student.parameters())
    if t_params:
        torch._foreach_lerp_(t_params, s_params, 1.0 - alpha)
    for tb, sb in zip(teacher.buffers(), student.buffers(), strict=True):
        tb.copy_(sb)
    return alpha


@overload
def consistency_rows(event: np.ndarray, n_unlabeled: int, consistency_on: str) -> np.ndarray: ...
@overload
def consistency_rows(
    event: torch.Tensor, n_unlabeled: int, consistency_on: str
) -> torch.Tensor: ...
def consistency_rows(event: _Mask, n_unlabeled: int, consistency_on: str) -> _Mask:
    """Which rows of ``cat([labeled, unlabeled])`` enter the consistency loss ``L_u``.

    Parameters
    ----------
    event : torch.Tensor or numpy.ndarray of bool, shape (n_labeled,)
        Event indicators of the labeled rows.
    n_unlabeled : int
        Number of unlabeled rows that follow the labeled ones.
    consistency_on : {"censored+unlabeled", "unlabeled", "all"}
        ``"censored+unlabeled"``: censored labeled rows and every unlabeled row;
        ``"unlabeled"``: unlabeled rows only; ``"all"``: every row.

    Returns
    -------
    mask : bool, shape (n_labeled + n_unlabeled,)
        A torch tensor on ``event``'s device when ``event`` is a tensor, else a
        numpy array.

    Examples
    --------
    >>> consistency_rows(np.array([True, False]), 1, "censored+unlabeled").tolist()
    [False, True, True]
    >>> consistency_rows(torch.tensor([True, False]), 1, "unlabeled").tolist()
    [False, False, True]
    """
    if consistency_on not in CONSISTENCY_SETS:
        raise ValueError(
            f"consistency_on must be one of {CONSISTENCY_SETS}, got {consistency_on!r}"
        )
    if isinstance(event, torch.Tensor):
        ev = event.to(torch.bool)
        unl = torch.ones(int(n_unlabeled), dtype=torch.bool, device=ev.device)
        return torch.cat([_labeled_rows(ev, consistency_on), unl])
    ev_np = np.asarray(event, dtype=bool)
    return np.concatenate([_labeled_rows(ev_np, consistency_on), np.ones(int(n_unlabeled), bool)])


def _labeled_rows(event: _Mask, consistency_on: str) -> _Mask:
    """The labeled rows of :func:`consistency_rows` (bool tensor or array in, same out)."""
    if consistency_on == "all":
        return event | ~event
    if consistency_on == "censored+unlabeled":
        return ~event
    return event & ~event


def add_input_noise(
    x: torch.Tensor, std: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``x + std * N(0, 1)``, noise drawn independently per entry; ``x`` itself when ``std <= 0``.

    Parameters
    ----------
    x : torch.Tensor
        Inputs (floating point).
    std : float
        Standard deviation of the Gaussian noise.
    generator : torch.Generator, optional
        Source of the draws (on ``x``'s device); default the global generator.

    Examples
    --------
    >>> x = torch.zeros(2, 3)
    >>> add_input_noise(x, 0.0) is x
    True
    >>> g = torch.Generator().manual_seed(0)
    >>> add_input_noise(x, 1.0, g).shape
    torch.Size([2, 3])
    """
    if std <= 0:
        return x
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return x + std * noise


def mean_teacher_params(obj: Any) -> dict[str, Any]:
    """The :data:`MEAN_TEACHER_PARAMS` attributes of ``obj`` (an estimator, a spec), by name.

    Examples
    --------
    >>> sorted(mean_teacher_params(MeanTeacherObjective(nn.Linear(2, 1))))[:2]
    ['consistency_on', 'consistency_weight']
    """
    return {name: getattr(obj, name) for name in MEAN_TEACHER_PARAMS}


def check_mean_teacher_params(
    *,
    noise_std: float,
    ema_decay: float,
    consistency_weight: float,
    rampup_epochs: float,
    consistency_on: str,
    predict_with: str,
) -> None:
    """Raise ValueError naming the first Mean Teacher setting out of its range.

    Examples
    --------
    >>> check_mean_teacher_params(noise_std=0.1, ema_decay=0.99, consistency_weight=1.0,
    ...                           rampup_epochs=30, consistency_on="all", predict_with="teacher")
    >>> check_mean_teacher_params(noise_std=0.1, ema_decay=1.0, consistency_weight=1.0,
    ...                           rampup_epochs=30, consistency_on="all", predict_with="teacher")
    Traceback (most recent call last):
    ...
    ValueError: ema_decay must be in [0, 1), got 1.0
    """
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}")
    if not 0.0 <= ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
    if not consistency_weight >= 0:
        raise ValueError(f"consistency_weight must be >= 0, got {consistency_weight}")
    if not isinstance(rampup_epochs, Real) or not rampup_epochs >= 0:
        raise ValueError(
            f"rampup_epochs must be a number >= 0 (0 = no ramp-up), got {rampup_epochs!r}"
        )
    if consistency_on not in CONSISTENCY_SETS:
        raise ValueError(
            f"consistency_on must be one of {CONSISTENCY_SETS}, got {consistency_on!r}"
        )
    if predict_with not in PREDICTORS:
        raise ValueError(f"predict_with must be 'teacher' or 'student', got {predict_with!r}")


class MeanTeacherObjective:
    """Cox-MT loss ``L = L_s + w(t) * L_u``.

    ``L_s`` is the Cox partial likelihood of the student on the labeled rows;
    ``L_u`` the mean squared difference between student and teacher risks on the
    rows given by :func:`consistency_rows`; ``w(t) = consistency_weight *
    sigmoid_rampup(epoch, rampup_epochs)``. The student sees all rows in one
    training-mode pass; the teacher (no gradients) its own training-mode pass over
    the consistency rows, with independent noise. After every optimiser step the
    teacher becomes the EMA of the student (:func:`ema_update`).

    Parameters
    ----------
    student : nn.Module
        The network trained by gradient descent.
    forward : callable, optional
        ``forward(net, x) -> risk`` in training mode, called for the student and for
        the teacher. Default: ``net(add_input_noise(x, noise_std))``. Bag models pass
        a forward that draws token subsets and noise itself.
    eval_forward : callable, optional
        The forward used for validation and prediction (default ``net(x)``). When
        given, :meth:`eval_modules` returns the networks wrapped in
        :class:`~coxmt.training.objectives.ForwardModule` (their ``.net`` is the network).
    noise_std : float
        Standard deviation of the Gaussian input noise of the default forward
        (drawn independently for the student and the teacher).
    ema_decay : float
        Upper bound of the EMA coefficient (:func:`ema_alpha`).
    consistency_weight : float
        Final weight ``w`` of the consistency loss.
    rampup_epochs : int
        Epochs of sigmoid ramp-up of ``w``.
    consistency_on : {"censored+unlabeled", "unlabeled", "all"}
        Which samples enter ``L_u``.
    ties : str
        Tie handling of the Cox loss.
    predict_with : {"teacher", "student"}
        Which network predicts after training (first of :meth:`eval_modules`).
    generator : torch.Generator, optional
        Source of the default forward's noise (default the global generator).

    Examples
    --------
    >>> torch.manual_seed(0) is not None
    True
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0))
    >>> obj = MeanTeacherObjective(net, noise_std=0.1, rampup_epochs=0)
    >>> batch = Batch(torch.randn(4, 3), torch.tensor([True, False, True, True]),
    ...               torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.randn(2, 3))
    >>> loss, logs = obj.compute_loss(batch, epoch=0)
    >>> sorted(logs), list(obj.eval_modules())
    (['consistency_weight', 'loss', 'loss_consistency', 'loss_supervised'], ['teacher', 'student'])
    """

    def __init__(
        self,
        student: nn.Module,
        *,
        forward: Forward | None = None,
        eval_forward: Forward | None = None,
        noise_std: float = 0.1,
        ema_decay: float = 0.99,
        consistency_weight: float = 1.0,
        rampup_epochs: int = 30,
        consistency_on: str = "censored+unlabeled",
        ties: str = "efron",
        predict_with: str = "teacher",
        generator: torch.Generator | None = None,
    ) -> None:
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
        check_mean_teacher_params(**mean_teacher_params(self))
        self.generator = generator
        self.forward: Forward = forward if forward is not None else self._noisy_forward
        mods = {
            "teacher": eval_module(self.teacher, eval_forward),
            "student": eval_module(self.student, eval_forward),
        }
        order = PREDICTORS if predict_with == "teacher" else PREDICTORS[::-1]
        self._eval = {k: mods[k] for k in order}

    def _noisy_forward(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return net(add_input_noise(x, self.noise_std, self.generator))

    def trainable(self) -> nn.Module:
        return self.student

    def consistency_mask(self, event: torch.Tensor, n_unlabeled: int) -> torch.Tensor:
        """Rows of ``cat([labeled, unlabeled])`` that enter the consistency loss."""
        return consistency_rows(event, n_unlabeled, self.consistency_on)

    def compute_loss(self, batch: Batch, epoch: int) -> tuple[torch.Tensor, dict[str, Any]]:
        xu = batch.x_unlabeled
        n_lab = batch.x.shape[0]
        n_unl = 0 if xu is None else int(xu.shape[0])
        x_all = batch.x if xu is None or n_unl == 0 else torch.cat([batch.x, xu], 0)
        # one student pass over labeled + unlabeled rows
        student_risk = self.forward(self.student, x_all)
        sup = cox_loss(student_risk[:n_lab], batch, self.ties)
        w = consistency_weight_at(epoch, self.consistency_weight, self.rampup_epochs)
        mask = self.consistency_mask(batch.event, n_unl)
        if w == 0.0 or not bool(mask.any()):
            cons = student_risk.sum() * 0.0
        else:
            with torch.no_grad():
                teacher_risk = self.forward(self.teacher, x_all[mask])
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
        return self._eval
