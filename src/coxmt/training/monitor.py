"""Watching a training run: validation C-index, early stopping, divergence.

One implementation serves every backend: the general loop
(:class:`~coxmt.training.Trainer` and its
:class:`~coxmt.training.EarlyStopping` callback) and the stacked engine
(:func:`~coxmt.training.engine.train_stacked`, one :class:`Patience` per model).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from coxmt.metrics import concordance_index

__all__ = ["Patience", "check_finite_loss", "divergence_error", "validation_scores"]


def divergence_error(loss: float, epoch: int, who: str = "") -> FloatingPointError:
    """The error raised when the training loss stops being finite.

    ``who`` names the model (e.g. ``"estimator 3"``) when several train together.

    Examples
    --------
    >>> str(divergence_error(float("nan"), 4))[:35]
    'training loss became nan at epoch 4'
    """
    name = f" ({who})" if who else ""
    return FloatingPointError(
        f"training loss became {loss} at epoch {epoch}{name}; lower learning_rate "
        "or check the inputs for extreme values (scale the features)"
    )


def check_finite_loss(loss: float, epoch: int, who: str = "") -> None:
    """Raise :func:`divergence_error` when ``loss`` is NaN or infinite."""
    if not math.isfinite(loss):
        raise divergence_error(loss, epoch, who)


def validation_scores(
    event: np.ndarray, time: np.ndarray, risks: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """Harrell's C of each network's risks on the validation rows.

    ``risks`` maps network names to risk scores, the predicting network first.
    Returns ``val_c_index_<name>`` for each and ``val_c_index`` (the first); NaN
    where the C-index is undefined (e.g. no comparable pair).

    Examples
    --------
    >>> ev, t = np.array([True, True, False]), np.array([1.0, 2.0, 3.0])
    >>> validation_scores(ev, t, {"teacher": np.array([3.0, 2.0, 1.0]),
    ...                           "student": np.array([1.0, 2.0, 3.0])})
    {'val_c_index_teacher': 1.0, 'val_c_index': 1.0, 'val_c_index_student': 0.0}
    """
    out: dict[str, float] = {}
    for i, (name, risk) in enumerate(risks.items()):
        try:
            c = float(concordance_index(event, time, risk))
        except ValueError:
            c = float("nan")
        out[f"val_c_index_{name}"] = c
        if i == 0:
            out["val_c_index"] = c
    return out


class Patience:
    """Early-stopping state: the best monitored value, its epoch, epochs since.

    Parameters
    ----------
    patience : int
        Epochs without improvement after which :meth:`update` says stop.
    min_delta : float
        Minimum increase that counts as an improvement.

    Examples
    --------
    >>> p = Patience(2)
    >>> [p.update(v, e) for e, v in enumerate([0.5, 0.6, 0.6, 0.55])]
    ['improved', 'improved', 'wait', 'stop']
    >>> p.best, p.best_epoch
    (0.6, 1)
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.best = float("-inf")
        self.best_epoch: int | None = None
        self.wait = 0

    def update(self, value: float | None, epoch: int) -> str:
        """``"improved"``, ``"wait"`` or ``"stop"``; missing and NaN values are ignored (``"wait"``
        without counting)."""
        if value is None or value != value:
            return "wait"
        if value > self.best + self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return "improved"
        self.wait += 1
        return "stop" if self.wait >= self.patience else "wait"
