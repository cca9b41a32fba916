"""Training callbacks: early stopping, progress bar."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from coxmt.training.monitor import Patience

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

    The rule is :class:`~coxmt.training.monitor.Patience`, as in the stacked engine.

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
        self._patience = Patience(self.patience, self.min_delta)
        self.best_state: dict[str, Any] | None = None

    @property
    def best(self) -> float:
        """Best value of ``monitor`` so far."""
        return self._patience.best

    @property
    def best_epoch(self) -> int:
        """Epoch of :attr:`best` (-1 before any improvement)."""
        e = self._patience.best_epoch
        return -1 if e is None else e

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        verdict = self._patience.update(logs.get(self.monitor), epoch)
        if verdict == "improved":
            self.best_state = copy.deepcopy(trainer.state_dict())
        elif verdict == "stop":
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
