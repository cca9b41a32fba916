"""The thread rule (coxmt.training.threads): sizes, fixed choices kept, workers x threads <= CPUs."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future

import numpy as np
import pytest
import torch

from coxmt import CoxNnet
from coxmt.experiments import _tasks
from coxmt.training import engine, threads
from coxmt.training.threads import (
    auto_threads,
    epoch_flops,
    fixed_threads,
    split_cores,
    threads_fixed,
    threads_for,
)


@pytest.fixture
def unfixed(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A process where nobody fixed the count: torch at 4 threads, its 'default'; 8 CPUs."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    old = torch.get_num_threads()
    torch.set_num_threads(4)
    monkeypatch.setattr(threads, "_TORCH_DEFAULT", 4)
    monkeypatch.setattr(threads, "_fixed_for_process", False)
    monkeypatch.setattr(threads, "usable_cpus", lambda: 8)
    yield 4
    torch.set_num_threads(old)


@pytest.mark.parametrize(
    ("flops", "available", "expected"),
    [
        pytest.param(epoch_flops(100, 50, 32), 8, 1, id="toy-one-thread"),
        pytest.param(epoch_flops(200, 200, 128), 8, 2, id="2e7-two-threads"),
        pytest.param(epoch_flops(956, 1000, 128), 2, 2, id="brca-all-available"),
        pytest.param(epoch_flops(956, 1000, 128), 1, 1, id="never-above-available"),
        pytest.param(0.0, 4, 1, id="no-work-one-thread"),
    ],
)
def test_threads_for(flops: float, available: int, expected: int) -> None:
    assert threads_for(flops, available) == expected


def test_auto_threads_picks_by_size_and_restores(unfixed: int) -> None:
    assert not threads_fixed()
    with auto_threads(epoch_flops(100, 50, 32)) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == unfixed
    with auto_threads(epoch_flops(5000, 5000, 128)) as n:  # capped by torch's count, not the CPUs
        assert n == unfixed == torch.get_num_threads()


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("n_threads", id="fixed_threads-block"),
        pytest.param("set_num_threads", id="torch.set_num_threads-after-import"),
        pytest.param("env", id="OMP_NUM_THREADS"),
        pytest.param("fix_threads", id="fix_threads-for-the-process"),
    ],
)
def test_a_fixed_count_is_kept(unfixed: int, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    toy = epoch_flops(100, 50, 32)  # the rule alone would pick 1
    if how == "n_threads":
        with fixed_threads(3), auto_threads(toy) as n:
            assert n == 3 == torch.get_num_threads()
        return
    if how == "set_num_threads":
        torch.set_num_threads(3)
    elif how == "env":
        monkeypatch.setenv("OMP_NUM_THREADS", "4")
    else:
        threads.fix_threads(3)
    want = torch.get_num_threads()
    assert threads_fixed()
    with auto_threads(toy) as n:
        assert n == want == torch.get_num_threads()


def test_auto_threads_leaves_other_devices(unfixed: int) -> None:
    with auto_threads(0.0, torch.device("meta")) as n:
        assert n == unfixed == torch.get_num_threads()


@pytest.mark.parametrize(
    ("workers", "cpus", "expected"),
    [
        pytest.param(1, 8, (1, 8), id="one-worker-all-cpus"),
        pytest.param(3, 8, (3, 2), id="floor-division"),
        pytest.param(2, 2, (2, 1), id="as-many-as-cpus"),
        pytest.param(5, 2, (5, 1), id="more-workers-than-cpus"),
    ],
)
def test_split_cores(workers: int, cpus: int, expected: tuple[int, int]) -> None:
    w, t = split_cores(workers, cpus)
    assert (w, t) == expected
    assert w * t <= max(cpus, w)


def test_fixed_threads_rejects_zero() -> None:
    with pytest.raises(ValueError, match="n_threads must be None or >= 1, got 0"):
        with fixed_threads(0):
            pass


def test_fit_runs_a_toy_problem_on_one_thread(
    unfixed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine applies the rule inside fit and restores torch's count afterwards."""
    seen: list[int] = []
    orig = engine._train

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(torch.get_num_threads())
        return orig(*args, **kwargs)

    monkeypatch.setattr(engine, "_train", spy)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = (rng.random(40) < 0.5, rng.exponential(10, 40) + 0.1)
    CoxNnet(hidden_layer_sizes=(4,), max_epochs=2, device="cpu").fit(X, y)
    CoxNnet(hidden_layer_sizes=(4,), max_epochs=2, device="cpu", n_threads=2).fit(X, y)
    assert seen == [1, 2]
    assert torch.get_num_threads() == unfixed


@pytest.mark.parametrize(
    ("fixed", "expected"),
    [
        pytest.param(None, {"workers": 3, "threads": 2}, id="cpus-split"),
        pytest.param(1, {"workers": 3, "threads": 1}, id="capped-by-a-fixed-count"),
    ],
)
def test_cross_validation_workers_share_the_cpus(
    unfixed: int, monkeypatch: pytest.MonkeyPatch, fixed: int | None, expected: dict
) -> None:
    """run_local starts workers x threads <= CPUs (8 CPUs, 3 workers -> 2 threads each)."""
    seen: dict[str, object] = {}

    class FakePool:
        def __init__(
            self, max_workers: int, mp_context: object, initializer: object, initargs: tuple
        ) -> None:
            seen["workers"], seen["threads"] = max_workers, initargs[1]

        def submit(self, fn: object, task: object) -> Future:
            fut: Future = Future()
            fut.set_result({"task": task})
            return fut

        def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
            pass

    monkeypatch.setattr(_tasks, "ProcessPoolExecutor", FakePool)
    done: list[dict] = []
    with fixed_threads(fixed):
        _tasks.run_local(["a", "b", "c", "d"], None, 3, done.append)  # type: ignore[arg-type]
    assert seen == expected
    assert sorted(d["task"] for d in done) == ["a", "b", "c", "d"]
