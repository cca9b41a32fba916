"""Which labeled patients the supervised Cox loss ``L_s`` uses: the one home of the rule.

``supervised_on="all"`` (the default): every labeled patient is in the Cox
partial likelihood, the censored ones through the risk sets.
``supervised_on="events"`` (the paper-literal reading of Cox-MT's text, "only
uncensored samples contribute to L_s"): the partial likelihood over the
uncensored patients only; the censored patients leave the risk sets. A
supervised network then does not see them at all; a Mean Teacher network treats
them like unlabeled rows (they follow the unlabeled rows and enter the
consistency loss ``L_u`` wherever unlabeled rows do).

Both training backends apply the rule through :func:`split_supervised`: the
stacked engine (:class:`~coxmt.training.packing.PreparedStack`, hence also
:func:`coxmt.fit_many`) and the general :class:`~coxmt.training.Trainer` (the
estimators' ``"loop"`` backend). The Breslow baseline fitted after training
still uses every labeled patient.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SUPERVISED_SETS", "check_supervised_on", "split_supervised"]

SUPERVISED_SETS = ("all", "events")
"""Values of ``supervised_on``: which labeled patients enter the supervised Cox loss."""


def check_supervised_on(supervised_on: object) -> None:
    """Raise ValueError unless ``supervised_on`` is one of :data:`SUPERVISED_SETS`.

    Examples
    --------
    >>> check_supervised_on("events")
    >>> check_supervised_on("uncensored")
    Traceback (most recent call last):
    ...
    ValueError: supervised_on must be 'all' (every labeled patient in the Cox loss) or 'events' (uncensored patients only), got 'uncensored'
    """
    if supervised_on not in SUPERVISED_SETS:
        raise ValueError(
            "supervised_on must be 'all' (every labeled patient in the Cox loss) or "
            f"'events' (uncensored patients only), got {supervised_on!r}"
        )


def split_supervised(event: np.ndarray, supervised_on: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the labeled rows kept in ``L_s`` and of those moved out of it.

    Parameters
    ----------
    event : numpy.ndarray of bool, shape (n_labeled,)
        Event indicators of the labeled rows.
    supervised_on : {"all", "events"}
        ``"all"``: every row is kept; ``"events"``: the uncensored rows are kept and
        the censored ones moved out (a Mean Teacher treats them as unlabeled rows,
        placed before the unlabeled ones; a supervised network drops them).

    Returns
    -------
    kept, moved : numpy.ndarray of int64
        Increasing positions into ``event``; together they hold every position once.

    Examples
    --------
    >>> ev = np.array([True, False, True, False])
    >>> [a.tolist() for a in split_supervised(ev, "all")]
    [[0, 1, 2, 3], []]
    >>> [a.tolist() for a in split_supervised(ev, "events")]
    [[0, 2], [1, 3]]
    """
    check_supervised_on(supervised_on)
    ev = np.asarray(event, dtype=bool)
    if supervised_on == "all":
        return np.arange(ev.shape[0], dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.flatnonzero(ev).astype(np.int64), np.flatnonzero(~ev).astype(np.int64)
