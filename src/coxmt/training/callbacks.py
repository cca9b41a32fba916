"""Training callbacks: early stopping, progress bar."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coxmt.training.loop import Trainer

__all__ = ["Callback", "EarlyStopping", "ProgressBar"]


class Callback:
    """Hooks called by :class:`~coxmt.training.Trainer`; override what you need."""

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """After each epoch, with that epoch's logs (validation scores included)."""

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch (also after an early stop)."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; restore the best weights.

    Parameters
    ----------
    monitor : str
        Key of the epoch logs to maximise (e.g. ``"val_c_index"``).
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        Minimum increase that counts as an improvement.
    """

    def __init__(self, monitor: str = "val_c_index", patience: int = 20, min_delta: float = 0.0):
        self.monitor = monitor
        self.patience = patience
        self.min_delta = min_delta

    def on_train_begin(self, trainer: Trainer) -> None:
        self.best = float("-inf")
        self.best_epoch = -1
        self.best_state: dict[str, Any] | None = None
        self.wait = 0

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        value = logs.get(self.monitor)
        if value is None or value != value:  # missing or NaN
            return
        if value > self.best + self.min_delta:
            self.best = value
            self.best_epoch = epoch
            self.best_state = copy.deepcopy(trainer.state_dict())
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop_training = True

    def on_train_end(self, trainer: Trainer) -> None:
        if self.best_state is not None:
            trainer.load_state_dict(self.best_state)
            trainer.best_epoch = self.best_epoch


class ProgressBar(Callback):
    """A tqdm progress bar over epochs showing the latest logs."""

    def __init__(self, desc: str = "training", leave: bool = False) -> None:
        self.desc = desc
        self.leave = leave

    def on_train_begin(self, trainer: Trainer) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.max_epochs, desc=self.desc, leave=self.leave)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        self.bar.update(1)
        shown = {k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", "val_c_index")}
        self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, trainer: Trainer) -> None:
        self.bar.close()
