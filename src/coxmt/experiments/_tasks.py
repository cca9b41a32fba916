"""One cross-validation task (model x repeat x fold) and the backends that run many.

A task is self-contained and deterministic: it carries an unfitted clone of the
estimator (its ``random_state`` already set from ``(random_state, repeat, fold)``),
an unfitted clone of the preprocessing, and the row positions of its training,
test and unlabeled patients. The data itself travels once per worker.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time as _time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coxmt._ray import gather_ray, import_ray, init_ray
from coxmt._validation import make_target
from coxmt.experiments._evaluate import evaluate_fold
from coxmt.model_selection import chosen_setting
from coxmt.training.threads import fix_threads, worker_split

__all__ = [
    "CVData",
    "Task",
    "init_ray",
    "ray_task_options",
    "run_local",
    "run_ray",
    "run_task",
    "set_random_state",
    "uses_cuda",
]

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass
class CVData:
    """The data shared by all tasks (rows are addressed by position)."""

    X: Any
    event: np.ndarray
    time: np.ndarray
    X_unlabeled: Any = None


@dataclass
class Task:
    """One (model, repeat, fold) fit-and-evaluate job."""

    model: str
    repeat: int
    fold: int
    estimator: Any
    preprocessing: Any
    train: np.ndarray
    test: np.ndarray
    unlabeled: np.ndarray | None
    error_score: Any = "raise"

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.model, self.repeat, self.fold)


def set_random_state(estimator: Any, seed: int) -> Any:
    """Set every ``random_state`` / ``*__random_state`` parameter of ``estimator`` to ``seed``."""
    if not hasattr(estimator, "get_params"):
        return estimator
    keys = [
        k
        for k in estimator.get_params(deep=True)
        if k == "random_state" or k.endswith("__random_state")
    ]
    if keys:
        estimator.set_params(**dict.fromkeys(keys, seed))
    return estimator


def _take(X: Any, rows: np.ndarray) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[rows]
    return X[rows]


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")


def run_task(task: Task, data: CVData) -> dict[str, Any]:
    """Fit ``task.estimator`` on the training rows and evaluate it on the test rows.

    Preprocessing is cloned per task and fitted on the labeled training rows only;
    test and unlabeled rows are only transformed. Returns the finished part
    (metrics, sizes, notes, test rows and their risks).
    """
    tr, te = task.train, task.test
    ev_tr, t_tr = data.event[tr], data.time[tr]
    ev_te, t_te = data.event[te], data.time[te]
    part: dict[str, Any] = {
        "model": task.model,
        "repeat": task.repeat,
        "fold": task.fold,
        "c_index": np.nan,
        "uno_c": np.nan,
        "ibs": np.nan,
        "fit_seconds": np.nan,
        "n_train": len(tr),
        "n_test": len(te),
        "n_events_train": int(ev_tr.sum()),
        "n_events_test": int(ev_te.sum()),
        "n_unlabeled": 0 if task.unlabeled is None else len(task.unlabeled),
        "notes": "",
        "chosen": "",
        "rows": [],
        "risk": [],
    }
    est = task.estimator
    try:
        X_tr, X_te = _take(data.X, tr), _take(data.X, te)
        X_u = None if task.unlabeled is None else _take(data.X_unlabeled, task.unlabeled)
        y_tr = make_target(ev_tr, t_tr)
        if task.preprocessing is not None:
            pre = task.preprocessing
            X_tr = pre.fit_transform(X_tr, y_tr)
            X_te = pre.transform(X_te)
            if X_u is not None:
                X_u = pre.transform(X_u)
        start = _time.perf_counter()
        if X_u is not None:
            est.fit(X_tr, y_tr, X_unlabeled=X_u)
        else:
            est.fit(X_tr, y_tr)
        part["fit_seconds"] = _time.perf_counter() - start
        risk = np.asarray(est.predict(X_te), dtype=np.float64).reshape(-1)
        if risk.shape[0] != len(te):
            raise ValueError(
                f"{type(est).__name__}.predict returned {risk.shape[0]} values for {len(te)} "
                "test patients"
            )
    except Exception as exc:
        if isinstance(task.error_score, str):
            where = f"model {task.model!r}, repeat {task.repeat}, fold {task.fold}"
            if isinstance(exc, ValueError):
                raise ValueError(f"{where}: {exc}") from exc
            raise
        for m in ("c_index", "uno_c", "ibs"):
            part[m] = float(task.error_score)
        part["notes"] = f"fit failed: {_short(exc)}"
        return part
    metrics, notes = evaluate_fold(est, X_te, risk, ev_tr, t_tr, ev_te, t_te)
    part.update(metrics)
    part["notes"] = "; ".join(notes)
    setting = chosen_setting(est)
    if setting is not None:  # what an inner CV chose on this training fold
        part["chosen"] = json.dumps(setting, sort_keys=True, default=str)
    part["rows"] = [int(i) for i in te]
    part["risk"] = [float(r) for r in risk]
    return part


# ----------------------------------------------------------------------------- local backend
_WORKER_DATA: CVData | None = None


def _limit_threads(n_threads: int = 1) -> None:
    for var in _THREAD_VARS:
        os.environ[var] = str(n_threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n_threads)
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        pass
    fix_threads(n_threads)


def _init_worker(data: CVData, n_threads: int = 1) -> None:
    global _WORKER_DATA
    _limit_threads(n_threads)
    _WORKER_DATA = data


def _worker_task(task: Task) -> dict[str, Any]:
    assert _WORKER_DATA is not None, "worker not initialised"
    return run_task(task, _WORKER_DATA)


def run_local(
    tasks: Sequence[Task], data: CVData, n_jobs: int, on_done: Callable[[dict[str, Any]], None]
) -> None:
    """Run ``tasks`` in this process (``n_jobs == 1``) or in a pool of ``n_jobs`` processes.

    Pool workers are started with ``spawn`` (safe with torch and CUDA) and share the
    usable CPUs without oversubscribing them (:func:`coxmt.training.threads.worker_split`:
    ``CPUs // workers`` threads each, at least one, at most this process's count when
    the user fixed it); results are handed to
    ``on_done`` in the main process as they finish.
    """
    if not tasks:
        return
    if n_jobs == 1:
        for task in tasks:
            on_done(run_task(task, data))
        return
    ctx = multiprocessing.get_context("spawn")
    workers, threads = worker_split(min(n_jobs, len(tasks)))
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(data, threads),
    )
    try:
        futures = [pool.submit(_worker_task, t) for t in tasks]
        for fut in as_completed(futures):
            on_done(fut.result())
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# ----------------------------------------------------------------------------- ray backend
def _ray_task(task: Task, data: CVData, n_threads: int = 1) -> dict[str, Any]:
    _limit_threads()
    if n_threads > 1:  # the task reserved several CPUs: let torch and BLAS use them
        _limit_threads(n_threads)
    return run_task(task, data)


def uses_cuda(estimator: Any) -> bool:
    """Whether any ``device`` / ``*__device`` parameter of ``estimator`` names a CUDA device."""
    if not hasattr(estimator, "get_params"):
        return False
    try:
        params = estimator.get_params(deep=True)
    except TypeError:
        return False
    return any(
        (k == "device" or k.endswith("__device")) and str(v).startswith("cuda")
        for k, v in params.items()
    )


def ray_task_options(task: Task, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ray options of one task beyond ``num_cpus=1``: ``num_gpus=1`` for CUDA estimators,
    then the user's ``options`` (``num_cpus``, ``num_gpus``, ``max_retries``, ``memory``, ...)."""
    out: dict[str, Any] = {}
    if uses_cuda(task.estimator):
        out["num_gpus"] = 1
    out.update(options or {})
    return out


def run_ray(
    tasks: Sequence[Task],
    data: CVData,
    on_done: Callable[[dict[str, Any]], None],
    *,
    address: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> None:
    """Run each task as a Ray task on the cluster at ``address`` (see :func:`init_ray`).

    Tasks ask for one CPU each, and one GPU when the estimator's ``device`` is
    CUDA; ``options`` override or add Ray task options (e.g. ``{"num_gpus": 0.25,
    "max_retries": 5}``). The data are put in the object store once. A task whose
    worker process dies is retried (``max_retries``, Ray's default 3); finished
    tasks are handed to ``on_done`` as they complete, so an interrupted run loses
    only the tasks in flight.
    """
    if not tasks:
        return
    ray = import_ray()
    init_ray(address)
    data_ref = ray.put(data)
    remote = ray.remote(num_cpus=1)(_ray_task)
    pending = []
    for t in tasks:
        opts = ray_task_options(t, options)
        fn = remote.options(**opts) if opts else remote
        n_threads = max(1, int(opts.get("num_cpus", 1)))
        pending.append(fn.remote(t, data_ref, n_threads))
    gather_ray(pending, lambda _ref, part: on_done(part))
