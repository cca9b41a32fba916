"""How one seed becomes the random streams of a training run (the same for every backend).

A model trained with seed ``s`` draws from independent streams:

- **initialisation**: a CPU generator seeded with ``s`` (:func:`init_generator`);
  weights are drawn on CPU, so they are identical on every device and backend
  (:func:`init_mlp`, :meth:`~coxmt.training.stacked.StackedMLP.init`); networks
  that draw their weights from the global generator (the slide and multimodal
  networks) are built on CPU inside :func:`init_stream`, which seeds it the same way;
- **training**: input noise and dropout, from a generator seeded with
  :func:`stream_seed` ``(s)`` on the training device (:func:`stream_generator`;
  the general loop's modules draw from the global generator, which
  :func:`training_stream` forks and seeds for the duration of the fit, so the
  caller's global random state is left untouched);
- **mini-batch order**: ``numpy.random.default_rng(s)`` (:func:`batch_rng`);
- **streamed unlabeled mini-batches**: ``numpy.random.default_rng([s, 2])``
  (:func:`unlabeled_rng`).

Changing only ``batch_size`` or the backend therefore keeps the initial weights and
the validation split, and changes only the draws the backend itself makes
differently (e.g. the stacked engine samples input noise after the first layer).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from coxmt.nn.mlp import CoxMLP
from coxmt.training.stacked import StackedMLP

__all__ = [
    "batch_rng",
    "init_generator",
    "init_mlp",
    "init_stream",
    "stream_generator",
    "stream_seed",
    "training_stream",
    "unlabeled_rng",
]


def init_generator(seed: int) -> torch.Generator:
    """CPU generator of the initial weights."""
    return torch.Generator().manual_seed(int(seed))


def stream_seed(seed: int) -> int:
    """Seed of the training-time stream (noise, dropout), independent of the initialisation.

    Examples
    --------
    >>> stream_seed(0) == stream_seed(0) != stream_seed(1)
    True
    """
    return int(np.random.SeedSequence([int(seed), 1]).generate_state(1, dtype=np.uint64)[0] >> 1)


def stream_generator(seed: int, device: torch.device) -> torch.Generator:
    """Generator of the training-time draws on ``device``."""
    return torch.Generator(device=device).manual_seed(stream_seed(seed))


def batch_rng(seed: int) -> np.random.Generator:
    """Generator of the mini-batch order (labeled rows, in-memory unlabeled rows)."""
    return np.random.default_rng(int(seed))


def unlabeled_rng(seed: int) -> np.random.Generator:
    """Generator of the streamed unlabeled mini-batches (independent of the labeled batches)."""
    return np.random.default_rng([int(seed), 2])


def init_mlp(
    n_features: int,
    hidden: Sequence[int],
    activation: str,
    dropout: float,
    seed: int,
    device: torch.device,
) -> CoxMLP:
    """A :class:`~coxmt.nn.CoxMLP` in training mode with the initial weights of ``seed``.

    The weights are those :func:`coxmt.training.engine.train_stacked` starts from
    (``nn.Linear``'s default distribution, drawn on CPU from
    :func:`init_generator`), so both backends start from the same network.

    Examples
    --------
    >>> a = init_mlp(5, (3,), "tanh", 0.0, seed=0, device=torch.device("cpu"))
    >>> b = init_mlp(5, (3,), "tanh", 0.0, seed=0, device=torch.device("cpu"))
    >>> bool(torch.equal(a.out.weight, b.out.weight)), a.training
    (True, True)
    """
    params = StackedMLP.init(n_features, hidden, [init_generator(seed)], torch.device("cpu"))
    return params.to_module(0, activation, dropout).to(device).train()


@contextmanager
def init_stream(seed: int) -> Iterator[None]:
    """Fork the global CPU generator and seed it as :func:`init_generator`.

    Modules built inside the block (on CPU) draw their initial weights from the
    initialisation stream of ``seed``; on exit the caller's global random state is
    restored.

    Examples
    --------
    >>> with init_stream(0):
    ...     a = torch.nn.Linear(3, 2)
    >>> with init_stream(0):
    ...     b = torch.nn.Linear(3, 2)
    >>> bool(torch.equal(a.weight, b.weight))
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(int(seed))
        yield


@contextmanager
def training_stream(seed: int, device: torch.device) -> Iterator[None]:
    """Fork the global generators (CPU and ``device``) and seed them with :func:`stream_seed`.

    Inside the block, draws from the global generator (``nn.Dropout``, noise drawn
    without an explicit generator) form the model's training stream; on exit the
    caller's global random state is restored.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    s = stream_seed(seed)
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(s)
        if devices:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(s)
        yield
