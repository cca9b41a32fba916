"""The Mean Teacher rules (coxmt.training.mean_teacher) and the objectives built on them."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from coxmt.losses import consistency_loss, neg_partial_log_likelihood
from coxmt.training.mean_teacher import (
    MeanTeacherObjective,
    add_input_noise,
    check_mean_teacher_params,
    consistency_rows,
    ema_alpha,
    ema_update,
    sigmoid_rampup,
)
from coxmt.training.objectives import Batch, CoxObjective, ForwardModule

EVENT = [True, False, True, False]


@pytest.mark.parametrize(
    ("consistency_on", "expected"),
    [
        pytest.param("censored+unlabeled", [0, 1, 0, 1, 1, 1], id="censored+unlabeled"),
        pytest.param("unlabeled", [0, 0, 0, 0, 1, 1], id="unlabeled"),
        pytest.param("all", [1, 1, 1, 1, 1, 1], id="all"),
    ],
)
@pytest.mark.parametrize("kind", [pytest.param("torch", id="torch"), pytest.param("np", id="np")])
def test_consistency_rows(consistency_on: str, expected: list[int], kind: str) -> None:
    event = torch.tensor(EVENT) if kind == "torch" else np.array(EVENT)
    mask = consistency_rows(event, 2, consistency_on)
    assert isinstance(mask, torch.Tensor if kind == "torch" else np.ndarray)
    assert mask.dtype in (torch.bool, np.bool_)
    assert [int(v) for v in mask.tolist()] == expected


def test_consistency_rows_rejects_unknown_set() -> None:
    with pytest.raises(ValueError, match="consistency_on must be one of"):
        consistency_rows(np.array(EVENT), 1, "censored")


@pytest.mark.parametrize(
    ("step", "decay", "expected"),
    [
        pytest.param(0, 0.99, 0.0, id="first-step-copies"),
        pytest.param(3, 0.99, 0.75, id="warm-up"),
        pytest.param(10_000, 0.99, 0.99, id="capped-by-decay"),
        pytest.param(5, 0.0, 0.0, id="decay-zero"),
    ],
)
def test_ema_alpha(step: int, decay: float, expected: float) -> None:
    assert ema_alpha(step, decay) == pytest.approx(expected)


def test_ema_update_moves_teacher_towards_student() -> None:
    teacher, student = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        teacher.weight.fill_(1.0)
        student.weight.fill_(3.0)
    a = ema_update(teacher, student, decay=0.99, step=3)
    assert a == pytest.approx(0.75)
    assert torch.allclose(teacher.weight, torch.full((1, 2), 0.75 * 1.0 + 0.25 * 3.0))


def test_sigmoid_rampup_shape() -> None:
    values = [sigmoid_rampup(e, 10) for e in range(12)]
    assert values[0] == pytest.approx(math.exp(-5.0))
    assert all(b >= a for a, b in itertools.pairwise(values))
    assert values[10] == values[11] == 1.0


def test_add_input_noise_generator_reproducible() -> None:
    x = torch.zeros(50, 4)
    a = add_input_noise(x, 0.5, torch.Generator().manual_seed(1))
    b = add_input_noise(x, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.std().item() == pytest.approx(0.5, rel=0.2)
    assert add_input_noise(x, 0.0) is x


GOOD = {
    "noise_std": 0.1,
    "ema_decay": 0.99,
    "consistency_weight": 1.0,
    "rampup_epochs": 30,
    "consistency_on": "censored+unlabeled",
    "predict_with": "teacher",
}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        pytest.param("noise_std", -0.1, "noise_std must be >= 0, got -0.1", id="noise"),
        pytest.param("ema_decay", 1.0, r"ema_decay must be in \[0, 1\), got 1.0", id="decay"),
        pytest.param("consistency_weight", -1, "consistency_weight must be >= 0", id="weight"),
        pytest.param("rampup_epochs", -2, "rampup_epochs must be a number >= 0", id="rampup"),
        pytest.param("consistency_on", "x", "consistency_on must be one of", id="set"),
        pytest.param("predict_with", "x", "predict_with must be 'teacher' or 'student'", id="pw"),
    ],
)
def test_check_mean_teacher_params(name: str, value: object, message: str) -> None:
    check_mean_teacher_params(**GOOD)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        check_mean_teacher_params(**{**GOOD, name: value})  # type: ignore[arg-type]


class _Risk(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).squeeze(-1)


@pytest.fixture
def batch() -> Batch:
    g = torch.Generator().manual_seed(0)
    return Batch(
        torch.randn(4, 3, generator=g),
        torch.tensor(EVENT),
        torch.tensor([1.0, 2.0, 3.0, 4.0]),
        torch.randn(2, 3, generator=g),
    )


def test_mean_teacher_loss_is_cox_plus_weighted_consistency(batch: Batch) -> None:
    torch.manual_seed(0)
    student = _Risk()
    obj = MeanTeacherObjective(student, noise_std=0.0, rampup_epochs=0, consistency_weight=2.0)
    with torch.no_grad():
        obj.teacher.lin.bias.add_(0.5)  # teacher differs from student
    loss, logs = obj.compute_loss(batch, epoch=0)
    x_all = torch.cat([batch.x, batch.x_unlabeled])  # type: ignore[list-item]
    with torch.no_grad():
        s = student(x_all)
        t = obj.teacher(x_all)
    rows = consistency_rows(batch.event, 2, "censored+unlabeled")
    sup = neg_partial_log_likelihood(s[:4], batch.event, batch.time, ties="efron")
    cons = consistency_loss(s[rows], t[rows])
    assert float(logs["loss_supervised"]) == pytest.approx(float(sup), rel=1e-6)
    assert float(logs["loss_consistency"]) == pytest.approx(float(cons), rel=1e-6)
    assert float(cons) == pytest.approx(0.25, rel=1e-6)
    assert float(loss.detach()) == pytest.approx(float(sup) + 2.0 * 0.25, rel=1e-6)


def test_mean_teacher_custom_forwards(batch: Batch) -> None:
    calls: list[int] = []

    def fwd(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return net(x)

    obj = MeanTeacherObjective(
        _Risk(),
        forward=fwd,
        eval_forward=lambda n, x: -n(x),
        rampup_epochs=0,
        predict_with="student",
    )
    obj.compute_loss(batch, epoch=0)
    assert calls == [6, 4]  # student on all rows, teacher on the 4 consistency rows
    mods = obj.eval_modules()
    assert list(mods) == ["student", "teacher"]
    assert isinstance(mods["student"], ForwardModule) and mods["student"].net is obj.student
    with torch.no_grad():
        assert torch.allclose(mods["student"](batch.x), -obj.student(batch.x))


def test_cox_objective_forwards(batch: Batch) -> None:
    net = _Risk()
    plain = CoxObjective(net)
    assert plain.eval_modules() == {"model": net}
    doubled = CoxObjective(net, forward=lambda n, x: 2 * n(x), eval_forward=lambda n, x: n(x))
    l1, _ = plain.compute_loss(batch, 0)
    l2, _ = doubled.compute_loss(batch, 0)
    assert float(l1.detach()) != pytest.approx(float(l2.detach()))
    assert isinstance(doubled.eval_modules()["model"], ForwardModule)
