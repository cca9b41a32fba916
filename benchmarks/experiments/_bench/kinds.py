"""The experiment kinds. Each runs ``coxmt.experiments.cross_validate`` one or more
times (one results folder per run under ``<experiment>/runs/``, resumable) and
returns the :class:`View` objects that :mod:`_bench.merge` turns into results
folders with reports.

Kinds
-----
cv              repeated stratified K-fold per cohort (models may use fewer repeats).
sweep           one-at-a-time hyperparameter sweep of a base model (+ reference models).
unlabeled_pool  a disjoint pool of patients with labels removed; the first n of it
                are given to semi-supervised models as unlabeled data.
label_fraction  keep a fraction of each training fold's labels (the rest become
                unlabeled data for semi-supervised models).
external        train on cohort A, test on cohort B (genes aligned by symbol).
site_cv         grouped K-fold: test patients come from tissue-source sites never
                seen in training.
pan_cancer_pool repeated stratified K-fold per cohort on the genes it shares with
                its pool; the models named in ``pool_models`` are also run with
                the other cohorts' rows as unlabeled data (:mod:`_bench.pool`).
"""

from __future__ import annotations

import hashlib
import json
import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from _bench.config import build_model
from _bench.data import (
    Cohort,
    generality_dataset,
    is_table_path,
    load_cohort,
    load_table_cohort,
)
from _bench.pool import WithUnlabeledPool, build_pool
from coxmt.experiments import Split, cross_validate, derive_seed, make_splits
from coxmt.io import atomic_write_text
from coxmt.model_selection import (
    LabelFraction,
    SiteHeldOutKFold,
    align_genes,
    is_semi_supervised,
    site_codes,
)
from coxmt.preprocessing import StandardScaler, make_rnaseq_preprocessor

__all__ = ["KIND_FUNCTIONS", "Context", "Entry", "View"]


@dataclass
class Context:
    """Settings shared by all parts of one experiment."""

    out_dir: Path
    random_state: int
    n_jobs: int
    quick: bool
    verbose: bool = True
    data_dir: str | None = None
    overwrite: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class Entry:
    """Models of one run to take into a view: source label -> (label, extra columns)."""

    run_dir: Path
    models: dict[str, tuple[str, dict[str, Any]]]
    fold_columns: dict[str, dict[tuple[int, int], dict[str, Any]]] = field(default_factory=dict)


@dataclass
class View:
    """One results folder made of several runs."""

    out_dir: Path
    title: str
    reference: str | None
    entries: list[Entry]
    setting_name: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    km_models: tuple[str, ...] = ("Cox-nnet",)


# ----------------------------------------------------------------------------- helpers
def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in str(text)).strip("_")


def _preprocessor(part: dict[str, Any], ctx: Context) -> Any:
    spec = part.get("preprocessing", {"top_genes": 1000})
    if spec.get("kind") == "standard":
        return StandardScaler()
    k = spec.get("top_genes", 1000)
    if ctx.quick and k is not None:
        k = min(int(k), 10)
    if "transform" in spec:  # {"transform": "auto", "clip": 5.0}: chosen from the data
        return make_rnaseq_preprocessor(
            k=k, transform=spec["transform"], clip=spec.get("clip", 5.0),
            scale=bool(spec.get("scale", True)),
        )  # fmt: skip
    return make_rnaseq_preprocessor(  # configurations written before "transform": unchanged
        k=k, log=bool(spec.get("log", False)), scale=bool(spec.get("scale", True)),
        clip=spec.get("clip"),
    )  # fmt: skip


def _cohort(name: str, part: dict[str, Any], ctx: Context) -> Cohort:
    if is_table_path(name):
        return load_table_cohort(name, **part.get("table", {}))
    if part.get("data", "tcga") == "lifelines":
        c = generality_dataset(name)
        if ctx.quick:
            rng = np.random.default_rng(0)
            c = c.subset(np.sort(rng.choice(len(c.y), size=min(150, len(c.y)), replace=False)))
        return c
    return load_cohort(name, toy=ctx.quick, data_dir=ctx.data_dir)


def _models(specs: Sequence[dict[str, Any]], ctx: Context) -> dict[str, Any]:
    return {s["label"]: build_model(s, quick=ctx.quick) for s in specs}


def _log_time(run_dir: Path, seconds: float, n_tasks: int) -> None:
    """Append this invocation's wall time to ``run_dir/timing.json``."""
    f = run_dir / "timing.json"
    try:
        log = json.loads(f.read_text()) if f.is_file() else []
    except json.JSONDecodeError:
        log = []
    log.append(
        {
            "wall_seconds": round(seconds, 2),
            "tasks": n_tasks,
            "finished": _time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    atomic_write_text(f, json.dumps(log, indent=1) + "\n")


def _run(
    models: dict[str, Any],
    cohort: Cohort,
    run_dir: Path,
    part: dict[str, Any],
    ctx: Context,
    *,
    X: pd.DataFrame | None = None,
    y: np.ndarray | None = None,
    X_unlabeled: Any = None,
    splits: list[Split] | None = None,
    n_repeats: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """One cross_validate call into ``run_dir`` (resumes finished tasks)."""
    X = cohort.X if X is None else X
    y = cohort.y if y is None else y
    start = _time.perf_counter()
    cross_validate(
        models,
        X,
        y,
        n_splits=int(part.get("n_splits", 5)),
        n_repeats=int(n_repeats or part.get("n_repeats", 5)),
        random_state=ctx.random_state,
        X_unlabeled=X_unlabeled,
        preprocessing=_preprocessor(part, ctx),
        n_jobs=ctx.n_jobs,
        results_dir=run_dir,
        overwrite=ctx.overwrite,
        splits=splits,
        verbose=ctx.verbose,
        metadata={
            "path": cohort.source,
            "cohort": cohort.name,
            "time_col": "time_months"
            if cohort.time_unit == "months"
            else f"time ({cohort.time_unit})",
            **(metadata or {}),
        },
    )
    _log_time(run_dir, _time.perf_counter() - start, len(models))
    return run_dir


def _by_repeats(specs: Sequence[dict[str, Any]], default: int) -> dict[int, list[dict[str, Any]]]:
    groups: dict[int, list[dict[str, Any]]] = {}
    for s in specs:
        groups.setdefault(min(int(s.get("n_repeats", default)), default), []).append(s)
    return dict(sorted(groups.items(), reverse=True))


def _identity(labels: Sequence[str], **cols: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    return {lbl: (lbl, dict(cols)) for lbl in labels}


def _view(part: dict[str, Any], ctx: Context, entries: list[Entry], **kw: Any) -> View:
    default_ref = next((m["label"] for m in part.get("models", []) if m["model"] == "coxmt"), None)
    return View(
        ctx.out_dir / part["name"],
        part.get("title", part["name"]),
        part.get("reference", default_ref),
        entries,
        **kw,
    )


# ----------------------------------------------------------------------------- kinds
def run_cv(part: dict[str, Any], ctx: Context) -> list[View]:
    """Repeated stratified K-fold per cohort; a model's ``n_repeats`` may be smaller."""
    entries = []
    n_rep = int(part.get("n_repeats", 5))
    for name in part["cohorts"]:
        cohort = _cohort(name, part, ctx)
        for reps, specs in _by_repeats(part["models"], n_rep).items():
            run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}__r{reps}")
            splits = make_splits(
                cohort.event,
                n_splits=int(part.get("n_splits", 5)),
                n_repeats=reps,
                random_state=ctx.random_state,
            )
            _run(_models(specs, ctx), cohort, run_dir, part, ctx, splits=splits)
            entries.append(Entry(run_dir, _identity([s["label"] for s in specs], cohort=name)))
    return [_view(part, ctx, entries)]


def run_sweep(part: dict[str, Any], ctx: Context) -> list[View]:
    """One-at-a-time sweep of ``params`` around ``base``; one results folder per parameter."""
    base = part["base"]
    label = base["label"]
    refs = part.get("models", [])
    views: dict[str, View] = {}
    for name in part["cohorts"]:
        cohort = _cohort(name, part, ctx)
        specs: dict[str, dict[str, Any]] = {}
        mapping: dict[str, list[tuple[str, Any]]] = {}
        for param, values in part["params"].items():
            for v in values:
                params = {**base.get("params", {}), param: v}
                key = json.dumps(params, sort_keys=True)
                src = f"{label}[{key}]"
                specs.setdefault(key, {**base, "label": src, "params": params})
                mapping.setdefault(specs[key]["label"], []).append((param, v))
        run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}")
        models = _models([*specs.values(), *refs], ctx)
        _run(models, cohort, run_dir, part, ctx)
        for param, values in part["params"].items():
            view = views.setdefault(
                param,
                View(
                    ctx.out_dir / part["name"] / param,
                    f"{part.get('title', part['name'])}: {param}",
                    label,
                    [],
                    setting_name=param,
                ),
            )
            for v in values:
                src = next(s for s, pv in mapping.items() if (param, v) in pv)
                m = {src: (label, {"cohort": name, "setting": v})}
                m.update({r["label"]: (r["label"], {"cohort": name, "setting": v}) for r in refs})
                view.entries.append(Entry(run_dir, m))
    return list(views.values())


def _pool(cohort: Cohort, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random pool (positions, in random order) and the remaining positions."""
    rng = np.random.default_rng(seed)
    ev = cohort.event
    frac = size / len(ev)
    chosen = []
    for cls in (True, False):
        idx = np.flatnonzero(ev == cls)
        chosen.append(rng.permutation(idx)[: round(frac * idx.size)])
    pool = rng.permutation(np.concatenate(chosen))[:size]
    rest = np.setdiff1d(np.arange(len(ev)), pool)
    return pool, rest


def run_unlabeled_pool(part: dict[str, Any], ctx: Context) -> list[View]:
    """Hold out a pool (labels removed); give its first n patients as unlabeled data."""
    entries = []
    for name in part["cohorts"]:
        cohort = _cohort(name, part, ctx)
        size = int(part["pool_size"][name])
        pool, rest = _pool(cohort, size, derive_seed(ctx.random_state, 7, len(cohort.y)))
        data = cohort.subset(rest)
        pool_X = cohort.X.iloc[pool]
        semi = [s for s in part["models"] if is_semi_supervised(build_model(s, quick=True))]
        sup = [s for s in part["models"] if s not in semi]
        n_values = part["n_unlabeled"]
        if isinstance(n_values, dict):
            n_values = n_values[name]
        values = [int(n) for n in n_values if int(n) <= size]
        digest = hashlib.sha256("\n".join(map(str, pool_X.index)).encode()).hexdigest()[:16]
        meta = {"pool_size": size, "pool_ids_sha256": digest}
        if sup:
            run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}__supervised")
            _run(_models(sup, ctx), data, run_dir, part, ctx, metadata=meta)
            for n in values:
                entries.append(
                    Entry(run_dir, _identity([s["label"] for s in sup], cohort=name, setting=n))
                )
        for n in values:
            run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}__n{n}")
            _run(
                _models(semi, ctx),
                data,
                run_dir,
                part,
                ctx,
                X_unlabeled=pool_X.iloc[:n] if n else None,
                metadata=meta,
            )
            entries.append(
                Entry(run_dir, _identity([s["label"] for s in semi], cohort=name, setting=n))
            )
    return [_view(part, ctx, entries, setting_name="unlabeled patients added")]


def _label_counts(event: np.ndarray, fraction: float, semi: bool, seed: int) -> dict[str, int]:
    """Labeled / unlabeled counts of one training fold (as :class:`LabelFraction` draws them)."""
    kept = LabelFraction.kept_rows(event, fraction, seed)
    return {
        "n_labeled": int(kept.size),
        "n_events_labeled": int(event[kept].sum()),
        "n_unlabeled": int(event.size - kept.size) if semi else 0,
    }


def run_label_fraction(part: dict[str, Any], ctx: Context) -> list[View]:
    """Keep a fraction of the training labels; semi-supervised models get the rest unlabeled."""
    entries = []
    for name in part["cohorts"]:
        cohort = _cohort(name, part, ctx)
        splits = make_splits(
            cohort.event,
            n_splits=int(part.get("n_splits", 5)),
            n_repeats=int(part.get("n_repeats", 5)),
            random_state=ctx.random_state,
        )
        for f in part["fractions"]:
            models = {
                lbl: LabelFraction(est, float(f))
                for lbl, est in _models(part["models"], ctx).items()
            }
            run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}__f{f}")
            _run(models, cohort, run_dir, part, ctx, splits=splits)
            entry = Entry(run_dir, _identity(list(models), cohort=name, setting=float(f)))
            for lbl, est in models.items():
                semi = is_semi_supervised(est.estimator)
                entry.fold_columns[lbl] = {
                    (s.repeat, s.fold): _label_counts(
                        cohort.event[s.train],
                        float(f),
                        semi,
                        derive_seed(ctx.random_state, s.repeat, s.fold),
                    )
                    for s in splits
                }
            entries.append(entry)
    return [_view(part, ctx, entries, setting_name="fraction of training labels kept")]


def _standardize(X: pd.DataFrame) -> pd.DataFrame:
    sd = X.std(axis=0, ddof=0).replace(0.0, 1.0)
    return (X - X.mean(axis=0)) / sd


def run_external(part: dict[str, Any], ctx: Context) -> list[View]:
    """Train on A, test on B (two halves of B; the other half may serve as unlabeled data)."""
    entries = []
    overlaps = {}
    pairs = ctx.overrides.get("pairs") or part["pairs"]
    repeats = int(part.get("n_repeats", 2))
    for a_name, b_name in pairs:
        if a_name == b_name:
            raise ValueError(
                f"external validation needs two different cohorts, got {a_name!r} twice"
            )
        a, b = _cohort(a_name, part, ctx), _cohort(b_name, part, ctx)
        Xa, Xb, n_common = align_genes(a.X, b.X)
        both = Xa.index.intersection(Xb.index)
        if len(both):
            raise ValueError(f"patients {list(both[:5])} are in both {a_name} and {b_name}")
        overlaps[f"{a.name}->{b.name}"] = {
            "genes_train": a.X.shape[1],
            "genes_test": b.X.shape[1],
            "common": n_common,
        }
        na, nb = len(a.y), len(b.y)
        splits = []
        for r in range(repeats):
            halves = StratifiedKFold(2, shuffle=True, random_state=derive_seed(ctx.random_state, r))
            for k, (_, te) in enumerate(halves.split(np.zeros((nb, 1)), b.event)):
                splits.append(Split(r, k, np.arange(na), na + np.sort(te)))
        y = np.concatenate([a.y, b.y])
        semi = [s for s in part["models"] if is_semi_supervised(build_model(s, quick=True))]
        pair = f"{a.name.upper()}→{b.name.upper()}"
        for norm in part.get("normalisations", ["train_fitted"]):
            XA, XB = (Xa, Xb) if norm == "train_fitted" else (_standardize(Xa), _standardize(Xb))
            X = pd.concat([XA, XB], axis=0)
            meta = {
                "train": a.source,
                "test": b.source,
                "common_genes": n_common,
                "normalisation": norm,
            }
            tag = _slug(f"{part['name']}__{a.name}_to_{b.name}__{norm}")
            run_dir = ctx.out_dir / "runs" / tag
            _run(
                _models(part["models"], ctx),
                a,
                run_dir,
                part,
                ctx,
                X=X,
                y=y,
                splits=splits,
                metadata=meta,
            )
            cols = {"cohort": pair, "experiment": norm}
            entries.append(Entry(run_dir, _identity([s["label"] for s in part["models"]], **cols)))
            if semi and part.get("external_unlabeled", True):
                run_dir = ctx.out_dir / "runs" / (tag + "__unl")
                _run(
                    _models(semi, ctx),
                    a,
                    run_dir,
                    part,
                    ctx,
                    X=X,
                    y=y,
                    splits=splits,
                    X_unlabeled=XB,
                    metadata=meta,
                )
                entries.append(
                    Entry(
                        run_dir,
                        {s["label"]: (f"{s['label']} + external unlabeled", cols) for s in semi},
                    )
                )
    return [_view(part, ctx, entries, info={"gene_overlap": overlaps})]


def site_splits(
    ids: Any, event: np.ndarray, n_splits: int, n_repeats: int, random_state: int
) -> list[Split]:
    """Grouped K-fold by TCGA tissue-source site, stratified on the event."""
    cv = SiteHeldOutKFold(n_splits, n_repeats=n_repeats, random_state=random_state)
    pairs = cv.split(np.zeros((len(event), 1)), event, groups=site_codes(ids))
    return [Split(i // n_splits, i % n_splits, tr, te) for i, (tr, te) in enumerate(pairs)]


def run_site_cv(part: dict[str, Any], ctx: Context) -> list[View]:
    """Test patients from tissue-source sites never seen in training."""
    entries = []
    info = {}
    for name in part["cohorts"]:
        cohort = _cohort(name, part, ctx)
        splits = site_splits(
            cohort.X.index,
            cohort.event,
            int(part.get("n_splits", 5)),
            int(part.get("n_repeats", 2)),
            ctx.random_state,
        )
        info[name] = {
            "sites": len(set(site_codes(cohort.X.index))),
            "test_sites_per_fold": [len(set(site_codes(cohort.X.index[s.test]))) for s in splits],
        }
        run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}")
        _run(
            _models(part["models"], ctx),
            cohort,
            run_dir,
            part,
            ctx,
            splits=splits,
            metadata={"splits": "grouped by tissue-source site"},
        )
        entries.append(Entry(run_dir, _identity([s["label"] for s in part["models"]], cohort=name)))
    return [_view(part, ctx, entries, info={"sites": info})]


POOL_SUFFIX = " + pan-cancer pool"


def run_pan_cancer_pool(part: dict[str, Any], ctx: Context) -> list[View]:
    """Each cohort with and without the other cohorts' rows as unlabeled data (PLAN.md arm d).

    ``pools`` maps a cohort to its pool cohorts; every model of a cohort sees the
    genes common to the cohort and its pool. The models whose labels are in
    ``pool_models`` run twice: as they are, and as ``"<label> + pan-cancer pool"``
    with the pool (each pool cohort preprocessed on itself, see :func:`build_pool`).
    """
    entries = []
    info = {}
    pool_labels = set(part.get("pool_models", []))
    unknown = pool_labels - {m["label"] for m in part["models"]}
    if unknown:
        raise ValueError(f"pool_models {sorted(unknown)} are not model labels of {part['name']!r}")
    for name in part["cohorts"]:
        cohort = _cohort(name, part, ctx)
        others = [_cohort(o, part, ctx) for o in part["pools"][name]]
        pool = build_pool(cohort, others, clip=float(part.get("pool_clip", 5.0)))
        info[name] = pool.info
        data = Cohort(cohort.name, pool.X, cohort.y, cohort.source, cohort.time_unit)
        splits = make_splits(
            data.event,
            n_splits=int(part.get("n_splits", 5)),
            n_repeats=int(part.get("n_repeats", 5)),
            random_state=ctx.random_state,
        )
        models = _models(part["models"], ctx)
        for spec in part["models"]:
            if spec["label"] in pool_labels:
                est = WithUnlabeledPool(build_model(spec, quick=ctx.quick), pool.pool, pool.genes)
                models[spec["label"] + POOL_SUFFIX] = est
        run_dir = ctx.out_dir / "runs" / _slug(f"{part['name']}__{name}")
        _run(models, data, run_dir, part, ctx, splits=splits, metadata={"pool": pool.info})
        entry = Entry(run_dir, _identity(list(models), cohort=name))
        n_pool = {"n_unlabeled": int(pool.pool.shape[0])}  # cross_validate does not see the pool
        for lbl in pool_labels:
            entry.fold_columns[lbl + POOL_SUFFIX] = {(s.repeat, s.fold): n_pool for s in splits}
        entries.append(entry)
    return [_view(part, ctx, entries, info={"pan_cancer_pool": info})]


KIND_FUNCTIONS = {
    "cv": run_cv,
    "sweep": run_sweep,
    "unlabeled_pool": run_unlabeled_pool,
    "label_fraction": run_label_fraction,
    "external": run_external,
    "site_cv": run_site_cv,
    "pan_cancer_pool": run_pan_cancer_pool,
}
