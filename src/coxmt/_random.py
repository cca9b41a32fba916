"""Seeds: the integer seed of a ``random_state`` and seeds derived from one.

The one home of these helpers; :mod:`coxmt.training.seeding` turns a model's seed
into the random streams of its training run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["derive_seed", "draw_seed"]


def draw_seed(random_state: Any) -> int:
    """An integer seed in ``[0, 2**31 - 1)`` from a ``random_state`` (scikit-learn's conventions).

    None draws a fresh seed (a different result on every call), a
    ``numpy.random.RandomState`` or ``Generator`` gives its next draw (so repeated
    calls advance it), an integer is used as it is.

    Examples
    --------
    >>> draw_seed(7)
    7
    >>> import numpy as np
    >>> draw_seed(np.random.RandomState(0)) == draw_seed(np.random.RandomState(0))
    True
    >>> 0 <= draw_seed(None) < 2**31 - 1
    True
    """
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    return int(random_state)


def derive_seed(random_state: int, *keys: int) -> int:
    """A seed in ``[0, 2**31 - 1)`` derived deterministically from ``random_state`` and ``keys``.

    Uses :class:`numpy.random.SeedSequence`, so nearby inputs give unrelated seeds.

    Examples
    --------
    >>> derive_seed(0, 1) == derive_seed(0, 1) != derive_seed(0, 2)
    True
    """
    entropy = [int(random_state), *(int(k) for k in keys)]
    if any(v < 0 for v in entropy):
        raise ValueError(f"random_state and seed keys must be >= 0, got {entropy}")
    state = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0]
    return int(state) % (2**31 - 1)
