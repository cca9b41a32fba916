"""Seeds from scikit-learn style ``random_state`` values."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["draw_seed"]


def draw_seed(random_state: Any) -> int:
    """An integer seed in ``[0, 2**31 - 1)`` from a ``random_state`` hyperparameter.

    None draws a fresh seed, a ``numpy.random.RandomState`` gives its next draw
    (so repeated calls advance it), an integer is used as it is.

    Examples
    --------
    >>> draw_seed(7)
    7
    >>> import numpy as np
    >>> draw_seed(np.random.RandomState(0)) == draw_seed(np.random.RandomState(0))
    True
    """
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return int(random_state)
