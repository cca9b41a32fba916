"""Repeated, stratified K-fold cross-validation of survival models."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import clone

from coxmt import __version__
from coxmt._validation import (
    check_aligned_ids,
    check_features,
    check_survival_target,
    format_rows,
)
from coxmt.experiments._evaluate import IBS_QUANTILES, N_IBS_TIMES, UNO_TAU_QUANTILE
from coxmt.experiments._splits import (
    Split,
    check_training_events,
    derive_seed,
    load_splits,
    make_splits,
    splits_to_frame,
)
from coxmt.experiments._store import (
    ADDED_RESULT_COLUMNS,
    PREDICTION_COLUMNS,
    RESULT_COLUMNS,
    ResultsStore,
    describe,
    fingerprint,
    strip_no_effect,
    text_columns_as_str,
)
from coxmt.experiments._tasks import (
    CVData,
    Task,
    run_local,
    run_ray,
    set_random_state,
)
from coxmt.model_selection import accepts_unlabeled

__all__ = ["check_fold_count", "cross_validate"]


def _check_estimators(estimators: Any) -> dict[str, Any]:
    if not isinstance(estimators, Mapping) or not estimators:
        raise TypeError(
            "estimators must be a non-empty dict mapping a model name to an unfitted estimator, "
            f"e.g. {{'Cox-MT': CoxMT(), 'Cox-nnet': CoxNnet()}}; got {type(estimators).__name__}"
        )
    out: dict[str, Any] = {}
    for name, est in estimators.items():
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"model names must be non-empty strings, got {name!r}")
        missing = [m for m in ("fit", "predict") if not callable(getattr(est, m, None))]
        if missing:
            raise TypeError(
                f"estimator {name!r} ({type(est).__name__}) has no {' / '.join(missing)} method; "
                "pass scikit-learn style survival estimators"
            )
        out[name] = est
    return out


def _resolve_ids(ids: Any, X: Any, n: int) -> tuple[pd.Index, bool]:
    """Patient IDs and whether they are real IDs (not just row positions)."""
    if ids is not None:
        index = pd.Index(ids)
        if len(index) != n:
            raise ValueError(
                f"ids has {len(index)} entries but X has {n} rows; pass one ID per row"
            )
        real = True
    elif isinstance(X, pd.DataFrame) and not isinstance(X.index, pd.RangeIndex):
        index, real = pd.Index(X.index), True
    else:
        index, real = pd.Index(np.arange(n)), False
    if index.has_duplicates:
        dups = [str(v) for v in index[index.duplicated()].unique()[:10]]
        raise ValueError(f"patient IDs must be unique; duplicated: {dups}")
    return index, real


def _check_unlabeled(X_unlabeled: Any, X: Any, allow_nan: bool) -> Any:
    if X_unlabeled is None:
        return None
    if isinstance(X, pd.DataFrame) and isinstance(X_unlabeled, pd.DataFrame):
        cols = [c for c in X.columns if c not in set(X_unlabeled.columns)]
        if cols:
            raise ValueError(
                f"X_unlabeled lacks {len(cols)} feature column(s) of X: "
                f"{[str(c) for c in cols[:10]]}{' ...' if len(cols) > 10 else ''}; "
                "give the unlabeled patients the same features"
            )
        X_unlabeled = X_unlabeled.loc[:, list(X.columns)]
    arr = check_features(
        X_unlabeled, name="X_unlabeled", allow_nan=allow_nan, n_features=np.shape(X)[1]
    )
    return X_unlabeled if isinstance(X_unlabeled, pd.DataFrame) else arr


def check_fold_count(event: Any, n_splits: int) -> None:
    """Refuse more folds than deaths, naming the largest number of folds that works.

    Stratified K-fold puts a death in every test fold only when ``n_splits`` is at
    most the number of deaths; with more folds some test folds hold none, their
    C-index and Brier score are undefined and the means over folds are meaningless.

    Examples
    --------
    >>> check_fold_count(np.array([1, 0, 1, 0, 1, 0, 0]), 3)
    >>> check_fold_count(np.array([1, 0, 1, 0, 1, 0, 0]), 5)
    Traceback (most recent call last):
    ...
    ValueError: cannot make 5 folds from 3 deaths: some test folds would hold no death, so their C-index is undefined; use n_splits=3 or fewer
    """
    n_events = int(np.asarray(event).astype(bool).sum())
    if int(n_splits) <= n_events or n_events < 2:  # < 2 deaths: no number of folds works,
        return  # which the training-set check reports (check_training_events)
    raise ValueError(
        f"cannot make {int(n_splits)} folds from {n_events} deaths: some test folds would hold "
        f"no death, so their C-index is undefined; use n_splits={n_events} or fewer"
    )


def _resolve_splits(
    splits: Any,
    event: np.ndarray,
    n_splits: int,
    n_repeats: int,
    random_state: int,
    ids: pd.Index | None,
) -> tuple[list[Split], str]:
    n = event.shape[0]
    if splits is None:
        return make_splits(
            event, n_splits=n_splits, n_repeats=n_repeats, random_state=random_state
        ), "generated"
    if isinstance(splits, str | os.PathLike) or (
        isinstance(splits, Sequence)
        and splits
        and all(isinstance(s, str | os.PathLike) for s in splits)
    ):
        out = load_splits(splits, ids=ids)
        source = (
            str(splits) if isinstance(splits, str | os.PathLike) else str([str(s) for s in splits])
        )
    else:
        out = []
        for k, s in enumerate(splits):
            if isinstance(s, Split):
                out.append(s)
            else:
                try:
                    tr, te = s
                except (TypeError, ValueError):
                    raise TypeError(
                        "splits must be a path, a list of paths, a list of Split objects or a "
                        f"list of (train_rows, test_rows) pairs; item {k} is {type(s).__name__}"
                    ) from None
                out.append(
                    Split(
                        0,
                        k,
                        np.sort(np.asarray(tr, dtype=np.int64)),
                        np.sort(np.asarray(te, dtype=np.int64)),
                    )
                )
        source = "given"
    if not out:
        raise ValueError("splits is empty; pass at least one (train, test) split")
    seen: set[tuple[int, int]] = set()
    for s in out:
        where = f"split repeat {s.repeat} fold {s.fold}"
        if (s.repeat, s.fold) in seen:
            raise ValueError(f"{where} appears twice; each (repeat, fold) must be unique")
        seen.add((s.repeat, s.fold))
        if len(s.train) < 2 or len(s.test) < 1:
            raise ValueError(f"{where} has {len(s.train)} training and {len(s.test)} test rows")
        for name, rows in (("train", s.train), ("test", s.test)):
            bad = rows[(rows < 0) | (rows >= n)]
            if bad.size:
                raise ValueError(f"{where}: {name} rows {format_rows(bad)} are outside 0..{n - 1}")
        both = np.intersect1d(s.train, s.test)
        if both.size:
            raise ValueError(f"{where}: rows {format_rows(both)} are in both train and test")
    return out, source


def _check_backend(backend: str, n_jobs: int) -> int:
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    if backend == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ValueError("backend 'ray' needs the ray extra: pip install coxmt[ray]") from None
    n_jobs = int(n_jobs)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1 or -1 (all CPUs), got {n_jobs}")
    return n_jobs


def _results_frame(parts: list[dict[str, Any]]) -> pd.DataFrame:
    rows = ({**ADDED_RESULT_COLUMNS, **p} for p in parts)  # resumed runs: older parts
    frame = pd.DataFrame([{c: r[c] for c in RESULT_COLUMNS} for r in rows], columns=RESULT_COLUMNS)
    for c in (
        "repeat",
        "fold",
        "n_train",
        "n_test",
        "n_events_train",
        "n_events_test",
        "n_unlabeled",
    ):
        frame[c] = frame[c].astype(np.int64)
    for c in ("c_index", "uno_c", "ibs", "fit_seconds"):
        frame[c] = frame[c].astype(np.float64)
    return text_columns_as_str(frame)


def _predictions_frame(
    parts: list[dict[str, Any]], ids: pd.Index, event: np.ndarray, time: np.ndarray
) -> pd.DataFrame:
    frames = []
    for p in parts:
        rows = np.asarray(p["rows"], dtype=np.int64)
        frames.append(
            pd.DataFrame(
                {
                    "model": p["model"],
                    "repeat": np.int64(p["repeat"]),
                    "fold": np.int64(p["fold"]),
                    "row": rows,
                    "id": np.asarray(ids[rows], dtype=object),
                    "time": time[rows],
                    "event": event[rows].astype(np.int64),
                    "risk": np.asarray(p["risk"], dtype=np.float64),
                }
            )
        )
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=PREDICTION_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def cross_validate(
    estimators: Mapping[str, Any],
    X: Any,
    y: Any,
    *,
    n_splits: int = 5,
    n_repeats: int = 5,
    random_state: int = 0,
    X_unlabeled: Any = None,
    preprocessing: Any = None,
    backend: Literal["local", "ray"] = "local",
    n_jobs: int = 1,
    ray_address: str | None = None,
    ray_options: Mapping[str, Any] | None = None,
    results_dir: str | os.PathLike[str] | None = None,
    ids: Any = None,
    splits: Any = None,
    verbose: bool = True,
    overwrite: bool = False,
    error_score: Literal["raise"] | float = "raise",
    return_predictions: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Repeated stratified K-fold cross-validation of survival models on identical splits.

    Every model is fitted on the same splits: ``n_repeats`` repetitions of K-fold
    stratified on the event indicator, repeat ``r`` shuffled with a seed derived from
    ``(random_state, r)``. Each estimator is cloned per fold and every
    ``random_state`` parameter it has (also nested, ``*__random_state``) is set to a
    seed derived from ``(random_state, repeat, fold)``, so the results do not depend
    on the execution order, ``n_jobs`` or interruptions.

    Parameters
    ----------
    estimators : dict of str -> estimator
        Model name -> unfitted scikit-learn style survival estimator: ``fit(X, y)`` or
        ``fit(X, y, X_unlabeled=...)``, ``predict(X)`` -> risk (higher = shorter
        survival), optionally ``predict_survival_function(X, times)`` -> array of
        shape (n_samples, n_times) (needed for the IBS).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Features of the labeled patients.
    y : structured array, DataFrame (event, time) or pair (event, time)
        Outcomes (event: 1 = death observed, 0 = censored).
    n_splits : int, default 5
        Folds per repeat (ignored when ``splits`` is given).
    n_repeats : int, default 5
        Repetitions of K-fold with different shuffles (ignored when ``splits`` is given).
    random_state : int, default 0
        Seed from which all split and model seeds are derived.
    X_unlabeled : array-like or DataFrame of shape (n_unlabeled, n_features), optional
        Patients without outcome, passed as ``fit(..., X_unlabeled=...)`` to estimators
        whose ``fit`` has that parameter (semi-supervised models) and never to others.
        Patients of the test fold are never given as unlabeled data: when
        ``X_unlabeled`` is a DataFrame indexed by patient IDs (and ``ids`` or the
        index of ``X`` holds IDs), its rows whose ID is in the test fold are removed
        for that fold. Arrays without IDs are taken to be other patients.
    preprocessing : transformer or Pipeline, optional
        Unfitted scikit-learn transformer (e.g.
        ``coxmt.preprocessing.make_rnaseq_preprocessor(k=1000)``). Cloned per fold,
        fitted on the labeled training rows only, then used to transform the test
        rows and ``X_unlabeled``.
    backend : {"local", "ray"}, default "local"
        ``"local"``: this machine (see ``n_jobs``). ``"ray"``: one Ray task per
        model x repeat x fold on a Ray cluster (needs ``pip install coxmt[ray]``;
        ``n_jobs`` is ignored). Each task asks for one CPU, and one GPU when the
        estimator's ``device`` is ``"cuda"``; a task whose worker dies is retried
        (Ray's ``max_retries``, default 3). Results equal those of the local backend.
    n_jobs : int, default 1
        1 runs in this process; N > 1 uses N worker processes (``spawn``) that share
        the CPUs, ``max(1, CPUs // N)`` torch/BLAS threads each, at most this process's
        count when it was fixed (:func:`coxmt.training.threads.worker_split`); -1 uses
        all CPUs, one thread each. Results equal those of ``n_jobs=1`` bit for bit when
        this process runs torch/BLAS on as many threads as a worker (e.g.
        ``OMP_NUM_THREADS=1``).
        Scripts using ``n_jobs > 1`` need the ``if __name__ == "__main__":`` guard.
    ray_address : str, optional
        Ray cluster to use with ``backend="ray"`` (``"auto"``, ``"10.0.0.1:6379"``,
        ``"ray://head:10001"``) when this process is not connected yet; None uses
        ``RAY_ADDRESS`` if set, else starts Ray on this machine.
    ray_options : dict, optional
        Ray task options overriding the defaults, e.g. ``{"num_gpus": 0.25}`` (four
        fits share a GPU; models with ``device="auto"`` then run on it),
        ``{"num_cpus": 4}`` (torch uses 4 threads) or ``{"max_retries": 5}``.
    results_dir : path, optional
        Folder for ``config.json``, ``splits.csv``, ``results.csv``,
        ``predictions.csv`` and ``parts/`` (one file per finished model x repeat x
        fold). Re-running with the same configuration resumes: finished parts are
        loaded, not recomputed. A different configuration raises a ValueError.
    ids : array-like of shape (n_samples,), optional
        Patient IDs (default: the index of a DataFrame ``X``, else row numbers); used
        in ``splits.csv``/``predictions.csv`` and to map MCAT splits files to rows.
    splits : path, list of paths, list of Split or list of (train, test), optional
        Predefined splits instead of generated ones: a coxmt ``splits.csv`` (or a
        results folder), a folder / list of MCAT/PORPOISE ``splits_<k>.csv`` files
        (columns ``train`` and ``val`` with case IDs, mapped through ``ids``), Split
        objects, or ``(train_rows, test_rows)`` pairs (repeat 0, fold = position).
    verbose : bool, default True
        Show a progress bar over the tasks.
    overwrite : bool, default False
        Discard the results in ``results_dir`` when its configuration differs.
    error_score : "raise" or float, default "raise"
        What to do when a model fails to fit: raise (with the model, repeat and fold
        in the message), or record this value (e.g. ``np.nan``) for its metrics with
        the error in ``notes``.
    return_predictions : bool, default False
        Also return the test-set predictions (the ``predictions.csv`` table).
    metadata : dict, optional
        Extra JSON-able information stored in ``config.json`` (e.g. the data path);
        it does not enter the configuration hash.

    Returns
    -------
    results : pandas.DataFrame
        One row per model x repeat x fold: ``model, repeat, fold, c_index, uno_c,
        ibs, fit_seconds, n_train, n_test, n_events_train, n_events_test,
        n_unlabeled, notes, chosen``. ``c_index`` is Harrell's C; ``uno_c`` Uno's IPCW C with
        censoring weights from the training fold and ``tau`` = the 0.9 quantile of the
        training follow-up times; ``ibs`` the integrated Brier score over 50 equally
        spaced times from the 10th percentile of the test follow-up to the smaller of
        the 90th percentiles of the test and training follow-up. A metric that cannot
        be computed on a fold is NaN with the reason in ``notes``. ``chosen``: for a
        model tuned by an inner CV (:class:`~coxmt.model_selection.InnerCVSearch`,
        :class:`~coxmt.model_selection.CoxMTCV`, a scikit-learn search, also inside a
        pipeline), the setting that fold's inner CV chose, as JSON
        (:func:`~coxmt.model_selection.chosen_setting`); empty otherwise.
    predictions : pandas.DataFrame
        Only with ``return_predictions=True``: ``model, repeat, fold, row, id, time,
        event, risk`` per test patient.

    Raises
    ------
    ValueError
        Invalid inputs, a training fold without events (naming the repeat and fold),
        a changed configuration in ``results_dir``, ``backend="ray"`` without Ray.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from coxmt import CoxMT, CoxNnet
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(90, 4))
    >>> y = (rng.random(90) < 0.6, rng.exponential(np.exp(-X[:, 0])))
    >>> models = {"Cox-MT": CoxMT(max_epochs=10), "Cox-nnet": CoxNnet(max_epochs=10)}
    >>> res = cross_validate(models, X, y, n_splits=3, n_repeats=2,
    ...                      preprocessing=StandardScaler(), verbose=False)
    >>> res.shape[0], sorted(res["model"].unique())
    (12, ['Cox-MT', 'Cox-nnet'])
    """
    models = _check_estimators(estimators)
    if (
        isinstance(random_state, bool)
        or not isinstance(random_state, int | np.integer)
        or random_state < 0
    ):
        raise ValueError(
            f"random_state must be a non-negative integer (runs must be reproducible), "
            f"got {random_state!r}"
        )
    random_state = int(random_state)
    if not (isinstance(error_score, str) and error_score == "raise") and not isinstance(
        error_score, int | float
    ):
        raise ValueError(f"error_score must be 'raise' or a number, got {error_score!r}")
    n_jobs = _check_backend(backend, n_jobs)
    allow_nan = preprocessing is not None
    X_checked = check_features(X, allow_nan=allow_nan)
    n = X_checked.shape[0]
    data_X = X if isinstance(X, pd.DataFrame) else X_checked
    y = check_aligned_ids(X, y)
    event, time = check_survival_target(y, n_samples=n, min_samples=2)
    index, real_ids = _resolve_ids(ids, X, n)
    Xu = _check_unlabeled(X_unlabeled, data_X, allow_nan)
    if splits is None:
        check_fold_count(event, n_splits)
    split_list, split_source = _resolve_splits(
        splits, event, n_splits, n_repeats, random_state, index if real_ids else None
    )
    check_training_events(split_list, event)

    # unlabeled rows allowed per split (patients of the test fold are removed by ID)
    unl_ids = None
    if Xu is not None and real_ids and isinstance(Xu, pd.DataFrame):
        if not isinstance(Xu.index, pd.RangeIndex):
            unl_ids = pd.Index(Xu.index).astype(str)
    n_unl = 0 if Xu is None else int(np.shape(Xu)[0])

    def unlabeled_rows(s: Split) -> np.ndarray | None:
        if Xu is None:
            return None
        if unl_ids is None:
            return np.arange(n_unl)
        in_test = unl_ids.isin(pd.Index(index[s.test]).astype(str))
        return np.flatnonzero(~np.asarray(in_test))

    hashed: dict[str, Any] = {
        "models": {name: strip_no_effect(describe(est)) for name, est in models.items()},
        "preprocessing": strip_no_effect(describe(preprocessing)),
        "random_state": random_state,
        "n_splits": len({s.fold for s in split_list}),
        "n_repeats": len({s.repeat for s in split_list}),
        "splits_sha256": fingerprint(splits_to_frame(split_list)[["repeat", "fold", "row", "set"]]),
        "data_sha256": fingerprint(X_checked, event, time, index if real_ids else None),
        "unlabeled_sha256": None if Xu is None else fingerprint(Xu),
        "evaluation": {
            "ibs_quantiles": list(IBS_QUANTILES),
            "n_ibs_times": N_IBS_TIMES,
            "uno_tau_quantile": UNO_TAU_QUANTILE,
        },
        "error_score": str(error_score),
    }
    config = {
        **hashed,
        "models": {name: describe(est) for name, est in models.items()},
        "preprocessing": describe(preprocessing),
        "model_order": list(models),
        "splits_source": split_source,
        "data": {
            "n_samples": n,
            "n_features": int(X_checked.shape[1]),
            "n_events": int(event.sum()),
            "n_unlabeled": n_unl,
            **dict(metadata or {}),
        },
        "backend": backend,
        "n_jobs": n_jobs,
        "coxmt_version": __version__,
    }

    tasks: list[Task] = []
    for s in split_list:
        seed = derive_seed(random_state, s.repeat, s.fold)
        rows_u = unlabeled_rows(s)
        for name, est in models.items():
            model = set_random_state(clone(est), seed)
            pre = None if preprocessing is None else set_random_state(clone(preprocessing), seed)
            use_u = rows_u is not None and accepts_unlabeled(model)
            tasks.append(
                Task(
                    name,
                    s.repeat,
                    s.fold,
                    model,
                    pre,
                    s.train,
                    s.test,
                    rows_u if use_u else None,
                    error_score,
                )
            )

    store = None if results_dir is None else ResultsStore(results_dir)
    digest = ""
    done: dict[tuple[str, int, int], dict[str, Any]] = {}
    if store is not None:
        digest = store.open(config, hashed, overwrite=overwrite)
        store.write_table("splits.csv", splits_to_frame(split_list, index))
        for t in tasks:
            part = store.load_part(*t.key, digest)
            if part is not None:
                done[t.key] = part
    todo = [t for t in tasks if t.key not in done]

    from tqdm import tqdm

    bar = tqdm(
        total=len(tasks),
        initial=len(done),
        desc="cross-validation",
        unit="fit",
        disable=not verbose,
        dynamic_ncols=True,
    )

    def on_done(part: dict[str, Any]) -> None:
        key = (part["model"], part["repeat"], part["fold"])
        if store is not None:
            store.save_part(part, digest)
        done[key] = part
        bar.update(1)

    data = CVData(data_X, event, time, Xu)
    try:
        if backend == "ray":
            run_ray(todo, data, on_done, address=ray_address, options=ray_options)
        else:
            run_local(todo, data, n_jobs, on_done)
    finally:
        bar.close()

    order = {name: i for i, name in enumerate(models)}
    parts = sorted(
        (done[t.key] for t in tasks), key=lambda p: (order[p["model"]], p["repeat"], p["fold"])
    )
    results = _results_frame(parts)
    predictions = _predictions_frame(parts, index, event, time)
    if store is not None:
        store.write_table("predictions.csv", predictions)
        store.write_table("results.csv", results)
    if return_predictions:
        return results, predictions
    return results
