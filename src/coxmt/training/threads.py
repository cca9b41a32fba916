"""How many CPU threads training uses: the one home of the thread rule.

The rule
--------
**A choice made by the user is kept.** The thread count counts as fixed when

- the estimator was given ``n_threads`` (applied with :func:`fixed_threads`), or a
  cross-validation worker set its share of the CPUs (:func:`fix_threads`);
- ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set in the environment; or
- ``torch.set_num_threads`` changed torch's count after ``coxmt`` was imported (the
  CLI's ``--threads``, default 1, does this). A count set equal to torch's default
  cannot be told from it and is treated as the default.

**Otherwise the engine picks** (:func:`auto_threads`, used by
:func:`coxmt.training.engine.train_stacked`)::

    threads = clamp(epoch_flops // MIN_FLOPS_PER_THREAD, 1, min(torch's count, usable CPUs))

where ``epoch_flops = 4 * rows * features * first_hidden * models`` is the work of the
two first-layer products of one full-batch epoch (:func:`epoch_flops`). Every other
step of an epoch (activations, dropout, the Cox loss, Adam, random draws) is small and
partly serial, so a thread pays off only when it gets enough matmul work to hide the
cost of waking and synchronising the threads (a few microseconds per parallel
operation, ~50 of them per epoch). ``MIN_FLOPS_PER_THREAD = 1e7`` (about 0.1 ms of
one core's float32 matmul) was measured on a 2-core Xeon (its background job paused): at 200 rows x 200
genes x 128 hidden (2e7 FLOPs) two threads were 6% faster than one, and more so at
every larger size up to 4,000 x 4,000; smaller problems run on fewer threads. The rule never raises the count above torch's, so it cannot
oversubscribe more than torch itself would.

**Several processes** (:func:`split_cores`, :func:`worker_split`): ``n`` worker
processes on ``c`` usable CPUs get ``max(1, c // n)`` threads each, so that workers x
threads <= CPUs, and no more than the parent's count when the user fixed it
(:func:`coxmt.experiments.cross_validate` with ``n_jobs > 1``; the CLI's ``cv --jobs``
with its default ``--threads 1`` keeps one thread per worker). :func:`coxmt.fit_many`
trains its stack in one process: the rule above applies with the stack's total work.

A machine whose cores are busy with other jobs is slower, not faster, with more
threads than free cores (each parallel operation waits for its slowest thread):
measured 7x slower on two threads than on one while another job held a core. Fix the
count (``n_threads=1``, ``--threads 1``) on shared machines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = [
    "MIN_FLOPS_PER_THREAD",
    "auto_threads",
    "epoch_flops",
    "fix_threads",
    "fixed_threads",
    "split_cores",
    "threads_fixed",
    "threads_for",
    "usable_cpus",
    "worker_split",
]

MIN_FLOPS_PER_THREAD = 1e7
"""First-layer FLOPs per epoch that one more thread needs to pay off."""

_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
_TORCH_DEFAULT = torch.get_num_threads()  # torch's count when coxmt was imported
_fixed_depth = 0  # > 0 while a fixed_threads block with a count is active
_fixed_for_process = False  # set by fix_threads


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS tells it, else all).

    Examples
    --------
    >>> usable_cpus() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def epoch_flops(n_rows: int, n_features: int, n_hidden: int, n_models: int = 1) -> float:
    """FLOPs of the two first-layer products (``X W^T`` and ``G^T X``) of one full-batch epoch.

    Examples
    --------
    >>> epoch_flops(956, 1000, 128)
    489472000.0
    """
    return 4.0 * int(n_rows) * int(n_features) * int(n_hidden) * int(n_models)


def threads_for(flops: float, available: int) -> int:
    """Threads for an epoch of ``flops`` first-layer FLOPs with ``available`` threads at most.

    Examples
    --------
    >>> threads_for(epoch_flops(956, 1000, 128), 2)  # BRCA, 1,000 genes: both cores
    2
    >>> threads_for(epoch_flops(100, 50, 32), 8)  # a toy problem: one thread
    1
    >>> threads_for(epoch_flops(200, 200, 128), 8)  # 2e7 FLOPs: two threads
    2
    """
    return int(max(1, min(int(available), int(flops // MIN_FLOPS_PER_THREAD))))


def threads_fixed() -> bool:
    """Whether the user fixed the thread count (see the module docstring for when).

    Examples
    --------
    >>> with fixed_threads(1):
    ...     threads_fixed()
    True
    """
    if _fixed_depth > 0 or _fixed_for_process or any(os.environ.get(v) for v in _ENV_VARS):
        return True
    return torch.get_num_threads() != _TORCH_DEFAULT


def fix_threads(n_threads: int) -> None:
    """Use ``n_threads`` torch threads for the rest of the process, as the user's choice.

    For worker processes given their share of the CPUs, and scripts that set the
    count once; :func:`auto_threads` keeps it from then on.
    """
    global _fixed_for_process
    if int(n_threads) < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    torch.set_num_threads(int(n_threads))
    _fixed_for_process = True


@contextmanager
def fixed_threads(n_threads: int | None) -> Iterator[None]:
    """Use ``n_threads`` torch threads inside the block (None: leave them), then restore.

    The count is marked as the user's choice: :func:`auto_threads` keeps it.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> with fixed_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    global _fixed_depth
    if n_threads is None:
        yield
        return
    if int(n_threads) < 1:
        raise ValueError(f"n_threads must be None or >= 1, got {n_threads}")
    old = torch.get_num_threads()
    torch.set_num_threads(int(n_threads))
    _fixed_depth += 1
    try:
        yield
    finally:
        _fixed_depth -= 1
        torch.set_num_threads(old)


@contextmanager
def auto_threads(flops: float, device: torch.device | None = None) -> Iterator[int]:
    """Run the block on :func:`threads_for` ``(flops, ...)`` threads unless the count is fixed.

    Yields the thread count in use. Does nothing on a non-CPU device or when
    :func:`threads_fixed`; otherwise sets torch's count for the block and restores it.

    Examples
    --------
    >>> with auto_threads(epoch_flops(100, 50, 32)) as n:
    ...     n == torch.get_num_threads()
    True
    """
    old = torch.get_num_threads()
    if (device is not None and device.type != "cpu") or threads_fixed():
        yield old
        return
    n = threads_for(flops, min(old, usable_cpus()))
    if n == old:
        yield old
        return
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(old)


def split_cores(n_workers: int, cpus: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` for ``n_workers`` processes on ``cpus`` CPUs.

    Workers x threads never exceeds the CPUs (at least one thread per worker; more
    workers than CPUs are kept, one thread each, as asked).

    Examples
    --------
    >>> split_cores(2, cpus=8)
    (2, 4)
    >>> split_cores(3, cpus=8)
    (3, 2)
    >>> split_cores(4, cpus=2)
    (4, 1)
    """
    c = usable_cpus() if cpus is None else max(1, int(cpus))
    w = max(1, int(n_workers))
    return w, max(1, c // w)


def worker_split(n_workers: int) -> tuple[int, int]:
    """``(workers, threads per worker)`` for worker processes started from this process.

    :func:`split_cores` on the usable CPUs; when the user fixed this process's thread
    count (:func:`threads_fixed`), no worker gets more threads than that count.

    Examples
    --------
    >>> with fixed_threads(1):
    ...     worker_split(2)[1]
    1
    """
    workers, threads = split_cores(n_workers)
    if threads_fixed():
        threads = min(threads, torch.get_num_threads())
    return workers, threads
