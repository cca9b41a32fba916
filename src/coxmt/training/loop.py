"""The training loop: named steps, callbacks, full-batch or event-balanced mini-batches."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from coxmt.training.callbacks import Callback
from coxmt.training.monitor import check_finite_loss, validation_scores
from coxmt.training.objectives import Batch, Objective

__all__ = ["Trainer", "TrainingData", "event_balanced_batches"]


@dataclass
class TrainingData:
    """Tensors for training, already on the device in the compute dtype.

    ``unlabeled_stream``, when given, is an endless iterator of unlabeled
    mini-batches (e.g. streamed from disk by :mod:`coxmt.data.streaming`): every
    optimisation step takes the next one instead of rows of ``x_unlabeled``.
    """

    x: torch.Tensor
    event: torch.Tensor
    time: torch.Tensor
    x_unlabeled: torch.Tensor | None = None
    x_val: torch.Tensor | None = None
    event_val: np.ndarray | None = None
    time_val: np.ndarray | None = None
    unlabeled_stream: Iterator[torch.Tensor] | None = None


def event_balanced_batches(
    event: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Shuffle rows into mini-batches so that every batch holds at least one event.

    Events and censored rows are shuffled separately and dealt round-robin, so each
    batch has close to the overall event rate (a Cox loss on a batch without
    events is zero and teaches nothing).
    """
    n = len(event)
    n_batches = max(1, int(np.ceil(n / batch_size)))
    n_batches = min(n_batches, max(1, int(event.sum())))
    ev_idx = rng.permutation(np.flatnonzero(event))
    ce_idx = rng.permutation(np.flatnonzero(~event))
    batches: list[list[int]] = [[] for _ in range(n_batches)]
    for i, j in enumerate(ev_idx):
        batches[i % n_batches].append(int(j))
    for i, j in enumerate(ce_idx):
        batches[i % n_batches].append(int(j))
    return [np.sort(np.asarray(b, dtype=np.int64)) for b in batches]


class Trainer:
    """Runs an :class:`~coxmt.training.objectives.Objective` with an optimiser.

    The loop is split into named steps: :meth:`batches` yields the epoch's data,
    :meth:`train_step` does one optimiser step, :meth:`validate` scores the
    evaluation modules; callbacks observe every epoch.
    """

    def __init__(
        self,
        objective: Objective,
        optimizer: torch.optim.Optimizer,
        *,
        max_epochs: int,
        batch_size: int | None = None,
        callbacks: Sequence[Callback] = (),
        rng: np.random.Generator | None = None,
    ) -> None:
        self.objective = objective
        self.optimizer = optimizer
        self.max_epochs = int(max_epochs)
        self.batch_size = batch_size
        self.callbacks = list(callbacks)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.history: list[dict[str, float]] = []
        self.stop_training = False
        self.step = 0
        self.best_epoch: int | None = None

    # -- state (for early stopping's best-weights restore) -------------------------
    def state_dict(self) -> dict[str, Any]:
        return {name: m.state_dict() for name, m in self.objective.eval_modules().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, m in self.objective.eval_modules().items():
            m.load_state_dict(state[name])

    # -- named steps -----------------------------------------------------------------
    def batches(self, data: TrainingData) -> Iterator[Batch]:
        """The epoch's batches: the whole training set, or event-balanced mini-batches.

        Unlabeled rows: all of ``x_unlabeled`` split across the epoch's batches, or
        the next mini-batch of ``unlabeled_stream`` at every step.
        """
        n = data.x.shape[0]
        stream = data.unlabeled_stream
        if self.batch_size is None or self.batch_size >= n:
            xu_all = data.x_unlabeled if stream is None else next(stream)
            yield Batch(data.x, data.event, data.time, xu_all)
            return
        ev = data.event.cpu().numpy()
        idx_list = event_balanced_batches(ev, self.batch_size, self.rng)
        xu = data.x_unlabeled
        unl_chunks: list[torch.Tensor | None] = [None] * len(idx_list)
        if stream is None and xu is not None and xu.shape[0] > 0:
            perm = torch.as_tensor(self.rng.permutation(xu.shape[0]), device=xu.device)
            unl_chunks = list(torch.tensor_split(xu[perm], len(idx_list)))
        for idx_np, xu_b in zip(idx_list, unl_chunks, strict=True):
            idx = torch.as_tensor(idx_np, device=data.x.device)
            if stream is not None:
                xu_b = next(stream)
            yield Batch(data.x[idx], data.event[idx], data.time[idx], xu_b)

    def train_step(self, batch: Batch, epoch: int) -> dict[str, Any]:
        """One optimiser step on ``batch``; returns the step's logs.

        Log values may be 0-d tensors (converted to floats once per epoch, so that
        a GPU is not synchronised at every step).
        """
        self.optimizer.zero_grad(set_to_none=True)
        loss, logs = self.objective.compute_loss(batch, epoch)
        loss.backward()
        self.optimizer.step()
        self.objective.after_step(self.step)
        self.step += 1
        return {"loss": loss.detach(), **logs}

    @staticmethod
    def _epoch_logs(sums: dict[str, Any], n_steps: int, epoch: int) -> dict[str, float]:
        """Mean logs of the epoch as floats (one device synchronisation per epoch)."""
        keys = list(sums)
        tensors = [k for k in keys if isinstance(sums[k], torch.Tensor)]
        values = dict.fromkeys(keys, 0.0)
        if tensors:
            stacked = (
                torch.stack([sums[k].detach().float().reshape(()) for k in tensors]).cpu().tolist()
            )
            values.update(zip(tensors, stacked, strict=True))
        values.update({k: float(v) for k, v in sums.items() if k not in tensors})
        logs = {k: values[k] / n_steps for k in keys}
        check_finite_loss(logs.get("loss", 0.0), epoch)
        return logs

    @torch.no_grad()
    def validate(self, data: TrainingData) -> dict[str, float]:
        """Harrell's C of each evaluation module on the validation split."""
        if data.x_val is None or data.event_val is None or data.time_val is None:
            return {}
        risks = {}
        for name, module in self.objective.eval_modules().items():
            module.eval()
            risks[name] = module(data.x_val).double().cpu().numpy()
        return validation_scores(data.event_val, data.time_val, risks)

    def fit(self, data: TrainingData) -> Trainer:
        """Train for ``max_epochs`` or until a callback stops training."""
        for cb in self.callbacks:
            cb.on_train_begin(self)
        for epoch in range(self.max_epochs):
            self.objective.trainable().train()
            for m in self.objective.eval_modules().values():
                m.train()
            sums: dict[str, Any] = {}
            n_steps = 0
            for batch in self.batches(data):
                for k, v in self.train_step(batch, epoch).items():
                    sums[k] = sums[k] + v if k in sums else v
                n_steps += 1
            logs = self._epoch_logs(sums, max(n_steps, 1), epoch)
            logs.update(self.validate(data))
            logs["epoch"] = float(epoch)
            self.history.append(logs)
            for cb in self.callbacks:
                cb.on_epoch_end(self, epoch, logs)
            if self.stop_training:
                break
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self
