"""Preparing a stack of models for the engine: their settings, rows, and packed tensors.

Everything here is computed once before the first epoch: each model's rows of the
shared feature matrix packed as ``(K, rows, features)``, the Cox risk sets, the
consistency rows (:func:`~coxmt.training.mean_teacher.consistency_rows`), the
noise and dropout settings as tensors, and the validation rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from coxmt.losses import stack_risk_sets
from coxmt.training.mean_teacher import (
    check_mean_teacher_params,
    consistency_rows,
    mean_teacher_params,
)
from coxmt.training.noise import noise_space
from coxmt.training.supervision import check_supervised_on, split_supervised

__all__ = [
    "ModelData",
    "ModelSpec",
    "PreparedStack",
    "index_table",
    "pack_rows",
    "supervised_data",
    "take_rows",
]


@dataclass
class ModelSpec:
    """Training settings of one model (see :class:`~coxmt.CoxMT` for their meaning).

    The Mean Teacher settings are checked by
    :func:`~coxmt.training.mean_teacher.check_mean_teacher_params`, as for the loop;
    ``supervised_on`` by :func:`~coxmt.training.supervision.check_supervised_on`.
    """

    seed: int
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.0
    max_epochs: int = 200
    patience: int | None = None  # early stopping on the validation rows when set
    mean_teacher: bool = False
    noise_std: float = 0.0
    ema_decay: float = 0.99
    consistency_weight: float = 1.0
    rampup_epochs: int = 30
    consistency_on: str = "censored+unlabeled"
    predict_with: str = "teacher"
    supervised_on: str = "all"

    def __post_init__(self) -> None:
        check_supervised_on(self.supervised_on)
        if self.mean_teacher:
            check_mean_teacher_params(**mean_teacher_params(self))


@dataclass
class ModelData:
    """Rows of one model in the shared feature matrix, with their outcomes."""

    labeled: np.ndarray
    event: np.ndarray
    time: np.ndarray
    unlabeled: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    event_val: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    time_val: np.ndarray = field(default_factory=lambda: np.zeros(0))


def supervised_data(d: ModelData, supervised_on: str, mean_teacher: bool) -> ModelData:
    """``d`` with the labeled rows that leave ``L_s`` moved out (:func:`split_supervised`).

    With ``supervised_on="events"`` the censored labeled rows become unlabeled rows
    (before the others) of a Mean Teacher model and are dropped from a supervised
    one; validation rows are unchanged. ``d`` itself for ``"all"``.

    Examples
    --------
    >>> d = ModelData(np.array([5, 6, 7]), np.array([True, False, True]), np.ones(3),
    ...               unlabeled=np.array([9]))
    >>> e = supervised_data(d, "events", mean_teacher=True)
    >>> e.labeled.tolist(), e.unlabeled.tolist()
    ([5, 7], [6, 9])
    >>> supervised_data(d, "events", mean_teacher=False).unlabeled.tolist()
    [9]
    """
    kept, moved = split_supervised(d.event, supervised_on)
    if not len(moved):
        return d
    unlabeled = np.concatenate([d.labeled[moved], d.unlabeled]) if mean_teacher else d.unlabeled
    return ModelData(
        labeled=d.labeled[kept],
        event=d.event[kept],
        time=d.time[kept],
        unlabeled=unlabeled.astype(np.int64),
        val=d.val,
        event_val=d.event_val,
        time_val=d.time_val,
    )


def pack_rows(
    x: torch.Tensor, rows: Sequence[np.ndarray], dtype: torch.dtype, extra_rows: int = 0
) -> torch.Tensor:
    """(K, max rows + extra_rows, d) copy of ``x[rows[k]]`` (zero padding); a view
    when possible (one model using every row, no extra rows)."""
    n = x.shape[0]
    if (
        len(rows) == 1
        and len(rows[0]) == n
        and np.array_equal(rows[0], np.arange(n))
        and not extra_rows
    ):
        return x.to(dtype).unsqueeze(0)
    width = max(1, max(len(r) for r in rows))
    out = torch.zeros(len(rows), width + extra_rows, x.shape[1], dtype=dtype, device=x.device)
    for k, r in enumerate(rows):
        if len(r):
            out[k, : len(r)] = x.index_select(0, torch.as_tensor(r, device=x.device)).to(dtype)
    return out


def index_table(
    pos: Sequence[np.ndarray], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, max len) int64 positions (padding 0) and validity mask."""
    width = max(1, max(len(p) for p in pos))
    idx = torch.zeros(len(pos), width, dtype=torch.int64)
    valid = torch.zeros(len(pos), width, dtype=torch.bool)
    for k, p in enumerate(pos):
        idx[k, : len(p)] = torch.as_tensor(p, dtype=torch.int64)
        valid[k, : len(p)] = True
    return idx.to(device), valid.to(device)


def take_rows(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t[k, idx[k]]`` for t of shape (K, n, ...) and idx (K, m)."""
    if t.shape[0] == 1:
        return t[0].index_select(0, idx[0]).unsqueeze(0)
    return torch.gather(
        t, 1, idx.view(*idx.shape, *([1] * (t.dim() - 2))).expand(-1, -1, *t.shape[2:])
    )


class PreparedStack:
    """Everything that stays fixed during training, prepared once."""

    def __init__(
        self,
        x: torch.Tensor,
        specs: Sequence[ModelSpec],
        data: Sequence[ModelData],
        hidden: Sequence[int],
        mm_dtype: torch.dtype,
    ) -> None:
        dev = x.device
        self.K = len(specs)
        self.mt = specs[0].mean_teacher
        data = [
            supervised_data(d, s.supervised_on, self.mt) for d, s in zip(data, specs, strict=True)
        ]
        rows = [np.concatenate([d.labeled, d.unlabeled]) if self.mt else d.labeled for d in data]
        self.counts = [len(r) for r in rows]
        self.h1 = int(hidden[0]) if hidden else 1
        any_noise = self.mt and any(s.noise_std > 0 for s in specs)
        self.mode = noise_space(self.h1, x.shape[1]) if any_noise else "none"
        self.buffer: torch.Tensor | None = None
        if self.mode == "hidden" and mm_dtype == torch.float32:
            self.buffer = pack_rows(x, rows, mm_dtype, extra_rows=2 * self.h1)
            self.x = self.buffer[:, : self.buffer.shape[1] - 2 * self.h1]
        else:
            self.x = pack_rows(x, rows, mm_dtype)
        P = self.x.shape[1]
        self.risk_sets = stack_risk_sets(
            [torch.as_tensor(d.event, device=dev) for d in data],
            [torch.as_tensor(d.time, dtype=torch.float64, device=dev) for d in data],
            stride=P,
            validate=False,
        )
        self.hidden = list(hidden)
        self.std = torch.tensor([s.noise_std for s in specs], dtype=torch.float32, device=dev)
        self.noise_on = [s.noise_std > 0 for s in specs]
        self.keep = torch.tensor([1.0 - s.dropout for s in specs], dtype=torch.float32, device=dev)
        self.drop_on = [s.dropout > 0 for s in specs]
        # teacher rows: positions inside each model's packed rows
        self.t_counts = [0] * self.K
        if self.mt:
            pos = [
                np.flatnonzero(consistency_rows(d.event, len(d.unlabeled), s.consistency_on))
                for d, s in zip(data, specs, strict=True)
            ]
            self.t_counts = [len(p) for p in pos]
            self.t_idx, self.t_valid = index_table(pos, dev)
            self.t_identity = self.K == 1 and self.t_counts[0] == P
            if self.mode == "input":
                self.x_teacher = self.x if self.t_identity else take_rows(self.x, self.t_idx)
        # validation rows
        self.val = any(len(d.val) for d in data)
        if self.val:
            self.x_val = pack_rows(x, [d.val for d in data], mm_dtype)
            self.v_counts = [len(d.val) for d in data]
