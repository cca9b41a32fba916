"""The named training backends and the rule that picks one.

``"stacked"``
    :func:`coxmt.training.engine.train_stacked`: full-batch training of one or
    many Cox MLPs as stacked tensors (the fast path; also behind
    :func:`coxmt.fit_many`). Needs every training row, labeled and unlabeled, in
    memory at every step.
``"loop"``
    :class:`coxmt.training.Trainer`: the general loop over an objective
    (:class:`~coxmt.training.CoxObjective`,
    :class:`~coxmt.training.MeanTeacherObjective`); event-balanced mini-batches and
    unlabeled rows streamed from disk.
``"auto"``
    ``"stacked"`` when training is full-batch (``batch_size`` None or at least the
    number of training rows) and the unlabeled rows are not streamed
    (``unlabeled_batch_size`` None); ``"loop"`` otherwise.

Both backends implement the same method with the same rules
(:mod:`coxmt.training.mean_teacher`), seeding (:mod:`coxmt.training.seeding`) and
monitoring (:mod:`coxmt.training.monitor`).
"""

from __future__ import annotations

__all__ = ["BACKENDS", "resolve_backend"]

BACKENDS = ("auto", "stacked", "loop")


def resolve_backend(
    backend: str,
    *,
    batch_size: int | None,
    n_train: int,
    unlabeled_batch_size: int | None = None,
) -> str:
    """The backend (``"stacked"`` or ``"loop"``) that trains a model.

    Parameters
    ----------
    backend : {"auto", "stacked", "loop"}
        The requested backend.
    batch_size : int or None
        Labeled rows per step (None = all).
    n_train : int
        Labeled training rows (after the early-stopping validation split).
    unlabeled_batch_size : int or None
        Unlabeled rows streamed per step (None = all unlabeled rows at every step).

    Examples
    --------
    >>> resolve_backend("auto", batch_size=None, n_train=100)
    'stacked'
    >>> resolve_backend("auto", batch_size=32, n_train=100)
    'loop'
    >>> resolve_backend("stacked", batch_size=32, n_train=100)
    Traceback (most recent call last):
    ...
    ValueError: backend='stacked' trains full-batch, but batch_size=32 splits the 100 training rows into mini-batches; set batch_size=None or backend='loop' (or 'auto')
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    mini_batches = batch_size is not None and int(batch_size) < int(n_train)
    streamed = unlabeled_batch_size is not None
    if backend == "stacked":
        if mini_batches:
            raise ValueError(
                f"backend='stacked' trains full-batch, but batch_size={batch_size} splits the "
                f"{n_train} training rows into mini-batches; set batch_size=None or "
                "backend='loop' (or 'auto')"
            )
        if streamed:
            raise ValueError(
                "backend='stacked' keeps every unlabeled row in memory at every step, but "
                f"unlabeled_batch_size={unlabeled_batch_size} streams them in mini-batches; set "
                "unlabeled_batch_size=None or backend='loop' (or 'auto')"
            )
        return "stacked"
    if backend == "loop":
        return "loop"
    return "loop" if mini_batches or streamed else "stacked"
