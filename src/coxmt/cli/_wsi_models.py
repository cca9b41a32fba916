"""Slide-only and multimodal survival models: ``coxmt wsi fit | predict | evaluate``.

A cohort is a table (one row per patient: ID, outcome, optionally RNA-seq
columns and a column listing the patient's slides) plus a folder of patch
feature files (CLAM/TRIDENT ``.h5``, CLAM ``.pt``), one per slide. Patients are
matched to feature files by :func:`coxmt.wsi.matching.match_table_slides` (slide
column, else patient-ID prefix of the file names). Patients without a feature
file are kept (the models give them a learned "missing slide" token) and counted
in a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from coxmt.cli._common import (
    CLIP_HELP,
    EPOCHS_OPTION,
    EVENT_COL_OPTION,
    EVENT_MEANS_OPTION,
    IMPUTE_OPTION,
    PARAM_OPTION,
    SEED_OPTION,
    THREADS_OPTION,
    TIME_COL_OPTION,
    TRANSFORM_HELP,
    build_preprocessing,
    check_missing_values,
    cli_errors,
    configure_estimator,
    console,
    limit_threads,
    load_labeled,
    parse_params,
    parse_times,
    print_scores,
    print_step_notes,
    show_progress,
    warn_skipped_columns,
    warn_unlabeled,
)
from coxmt.wsi.matching import SlideMatch, find_feature_files, match_table_slides, slide_column

__all__ = ["MODELS", "evaluate", "fit", "predict", "register"]

#: ``--model`` names -> estimator classes of :mod:`coxmt`.
MODELS = {
    "wsi-coxmt": "WSICoxMT",
    "wsi-coxnnet": "WSICoxNnet",
    "multimodal-coxmt": "MultimodalCoxMT",
    "multimodal-coxnnet": "MultimodalCoxNnet",
}

_TABLE_HELP = (
    "Clinical table, one row per patient (CSV/TSV/Parquet/h5ad, optionally gzipped); --data "
    "is the same option, as in `coxmt fit`."
)
_FEATURES_DIR_HELP = (
    "Folder of patch-feature files, one per slide: <slide>.h5 (from 'coxmt wsi extract', CLAM, "
    "TRIDENT) or CLAM <slide>.pt; CLAM's h5_files/ and pt_files/ subfolders are searched too."
)
_SLIDE_COL_HELP = (
    "Column listing each patient's slide file names, ';'-separated (default: 'slide_ids' when "
    "the table has it). Without it, feature files are matched to patients by file-name prefix "
    "(the --id-col value, e.g. a 12-character TCGA patient barcode)."
)
_ID_HELP = "Patient ID column (kept in outputs; matched to feature-file names without --slide-col)."
_MODEL_HELP = (
    "wsi-coxmt (attention-MIL Cox-MT on slides), wsi-coxnnet (its supervised twin), "
    "multimodal-coxmt (RNA-seq columns of the table + slides, cross-attention, Mean Teacher) "
    "or multimodal-coxnnet (its supervised twin)."
)


# ------------------------------------------------------------------ slides <-> patients


def _match(
    frame: Any,
    ids: Any,
    features_dir: Path,
    slide_col: str | None,
    id_col: str | None,
    what: str,
    *,
    require: bool = True,
) -> SlideMatch:
    """Match a table's patients to the feature files of ``features_dir``, with notes."""
    match = match_table_slides(
        frame, features_dir, ids=None if id_col is None else list(ids), slide_col=slide_col
    )
    col = slide_column(frame, slide_col)
    n = len(match.bags)
    if require and match.n_with_slides == 0:
        example = ", ".join(sorted(find_feature_files(features_dir))[:3])
        shown = ", ".join(str(i) for i in list(ids)[:3])
        raise ValueError(
            f"no patient of {what} matched a feature file in {str(features_dir)!r} (by "
            f"{match.how}; files look like {example}, patients like {shown}); check "
            "--features-dir, --id-col and --slide-col"
        )
    missing = n - match.n_with_slides
    console.print(
        f"{what}: {match.n_with_slides} of {n} patients matched to {match.n_slides} feature "
        f"file(s) by {match.how}",
        highlight=False,
    )
    if missing:
        console.print(
            f"note: {missing} patient(s) have no feature file; they are kept, with the "
            "model's learned 'missing slide' token",
            highlight=False,
        )
    if match.unlisted:
        shown = ", ".join(match.unlisted[:5]) + (" ..." if len(match.unlisted) > 5 else "")
        console.print(
            f"note: {len(match.unlisted)} slide(s) listed in {col!r} have no feature file in "
            f"{features_dir}: {shown}",
            highlight=False,
        )
    return match


# ----------------------------------------------------------------------------- tables


def _read_frame(path: Path, id_col: str | None, what: str) -> tuple[Any, Any]:
    """A table as read from disk, and its patient IDs (``id_col``, else row numbers)."""
    import pandas as pd

    from coxmt.data._readers import read_table

    frame, _, resolved = read_table(path)
    if len(frame) == 0:
        raise ValueError(f"{str(resolved)!r} has a header but no rows")
    if id_col is None:
        return frame, pd.RangeIndex(len(frame), name="id")
    if id_col not in frame.columns:
        cols = [str(c) for c in frame.columns[:20]]
        raise ValueError(f"--id-col {id_col!r} is not a column of {what} (columns {cols})")
    ids = frame[id_col]
    dup = ids[ids.duplicated()].astype(str).unique().tolist()
    if dup or ids.isna().any():
        problem = f"duplicate IDs {dup[:10]}" if dup else "empty IDs"
        raise ValueError(f"{what} has {problem} in {id_col!r}; each patient must appear once")
    return frame, pd.Index(ids.astype(str).to_numpy(), name=id_col)


def _rna(frame: Any, names: list[str], ids: Any, what: str) -> Any:
    """RNA-seq columns ``names`` of ``frame`` as floats, indexed by ``ids``."""
    import pandas as pd

    missing = [n for n in names if n not in set(map(str, frame.columns))]
    if missing:
        shown = ", ".join(missing[:10]) + (
            f" ... ({len(missing)} in all)" if len(missing) > 10 else ""
        )
        raise ValueError(
            f"{what} lacks {len(missing)} RNA-seq column(s) the model was fitted on: {shown}; "
            "use a table with the same gene columns"
        )
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    X = frame.loc[:, names].apply(pd.to_numeric, errors="coerce")
    bad = [c for c in names if X[c].isna().sum() > frame[c].isna().sum()]
    if bad:
        raise ValueError(
            f"{what} has non-numeric values in RNA-seq column(s) {bad[:10]}; fix those values"
        )
    X.index = ids
    return X.astype(float)


_NO_IMPUTER_FIX = (
    "the model has no imputation step: fill them, drop those patients, or re-fit it with "
    "`coxmt wsi fit --impute median`"
)


def _check_rna(X: Any, impute: str | None, what: str, *, fitted: bool = False) -> int:
    """Refuse partially missing RNA rows (without --impute); return the rows without RNA-seq."""
    empty = X.isna().all(axis=1).to_numpy()
    if fitted:
        check_missing_values(X.loc[~empty], impute, what, fix=_NO_IMPUTER_FIX)
    else:
        check_missing_values(X.loc[~empty], impute, what)
    return int(empty.sum())


def _preprocess_rna(pre: Any, X: Any, y: Any = None, *, fit: bool = False) -> Any:
    """Apply (or fit and apply) the RNA-seq preprocessing to the patients that have RNA-seq.

    Rows without any value stay all-NaN, so that the model treats the modality as
    missing (even with ``--impute``, which fills single missing values only).
    """
    import numpy as np
    import pandas as pd

    has = ~X.isna().all(axis=1).to_numpy()
    if fit:
        pre.fit(X.loc[has], None if y is None else y[has])
    part = pre.transform(X.loc[has]) if has.any() else None
    columns = getattr(part, "columns", None)
    if columns is None:
        names = getattr(pre, "get_feature_names_out", None)
        columns = list(names()) if names is not None else None
    width = len(columns) if columns is not None else np.asarray(part).shape[1]
    out = np.full((len(X), width), np.nan)
    if part is not None:
        out[has] = np.asarray(part, dtype=np.float64)
    return pd.DataFrame(out, index=X.index, columns=columns)


def _model_kind(model: Any) -> tuple[Any, Any, bool]:
    """(preprocessing or None, estimator, multimodal) of a loaded model; refuses tabular ones."""
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    pre = model[:-1] if hasattr(model, "steps") and len(model.steps) > 1 else None
    name = type(est).__name__
    if name not in MODELS.values():
        raise ValueError(
            f"the model is a {name}, not a slide or multimodal model; score it with "
            "`coxmt predict` / `coxmt evaluate`, or fit one with `coxmt wsi fit`"
        )
    return pre, est, name.startswith("Multimodal")


@dataclass
class _Cohort:
    ids: Any
    bags: list[list[Path] | None]
    rna: Any  # preprocessed RNA-seq (DataFrame) or None


def _scoring_cohort(
    model: Any,
    model_dir: Path,
    table: Path,
    frame: Any,
    ids: Any,
    features_dir: Path,
    id_col: str | None,
    slide_col: str | None,
) -> _Cohort:
    """Bags (and preprocessed RNA-seq) of the patients of ``frame`` for a loaded model."""
    pre, est, multimodal = _model_kind(model)
    match = _match(frame, ids, features_dir, slide_col, id_col, table.name, require=False)
    rna = None
    if multimodal:
        fitted_names = getattr(pre if pre is not None else est, "feature_names_in_", None)
        if fitted_names is None:
            raise ValueError(
                f"the multimodal model in {model_dir} was fitted on RNA-seq without column "
                "names, so the table's columns cannot be matched to it; re-fit it with "
                "`coxmt wsi fit` (or from Python on a DataFrame)"
            )
        names = [str(n) for n in fitted_names]
        X = _rna(frame, names, ids, table.name)
        allow_nan = pre is not None and any(n == "impute" for n, _ in pre.steps)
        n_empty = _check_rna(X, "model" if allow_nan else None, table.name, fitted=True)
        if n_empty:
            console.print(f"note: {n_empty} patient(s) have no RNA-seq values", highlight=False)
        rna = _preprocess_rna(pre, X) if pre is not None else X
    elif match.n_with_slides == 0:
        raise ValueError(
            f"no patient of {table.name} matched a feature file in {str(features_dir)!r}; a "
            "slide-only model has nothing to score (check --features-dir, --id-col, --slide-col)"
        )
    return _Cohort(ids, match.bags, rna)


def _risk(est: Any, cohort: _Cohort) -> Any:
    if cohort.rna is not None:
        return est.predict(cohort.rna, cohort.bags)
    return est.predict(cohort.bags)


# ------------------------------------------------------------------------- parameters


def _estimator(model: str, param: list[str], seed: int, epochs: int | None) -> Any:
    """The slide or multimodal estimator named ``model``, with ``--param``/``--epochs``/``--seed``."""
    import coxmt

    key = model.strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown --model {model!r}; choose from {', '.join(MODELS)}")
    return configure_estimator(getattr(coxmt, MODELS[key])(), model, param, epochs, seed)


# --------------------------------------------------------------------------- commands


@cli_errors
def fit(
    table: Path = typer.Option(..., "--table", "--data", help=_TABLE_HELP),
    features_dir: Path = typer.Option(..., help=_FEATURES_DIR_HELP),
    out: Path = typer.Option(..., help="Folder to save the fitted model in."),
    model: str = typer.Option("wsi-coxmt", help=_MODEL_HELP),
    time_col: str = TIME_COL_OPTION,
    event_col: str = EVENT_COL_OPTION,
    event_means: str = EVENT_MEANS_OPTION,
    id_col: str | None = typer.Option(None, help=_ID_HELP),
    slide_col: str | None = typer.Option(None, help=_SLIDE_COL_HELP),
    features: str | None = typer.Option(
        None,
        help="Multimodal models: regex selecting the RNA-seq columns, e.g. '_rnaseq$' "
        "(default: all numeric non-clinical columns). Slide-only models use no table columns.",
    ),
    unlabeled: Path | None = typer.Option(
        None,
        help="Table of patients without outcome (ID/slide columns, and the RNA-seq columns for "
        "multimodal models), for the Cox-MT models' consistency loss.",
    ),
    top_genes: int | None = typer.Option(
        None, help="Multimodal: keep the K most variable RNA-seq columns (fitted on the table)."
    ),
    log2: bool = typer.Option(False, help="Multimodal: log2(x + 1) the RNA-seq first."),
    transform: str = typer.Option("auto", help="Multimodal: " + TRANSFORM_HELP),
    clip: float = typer.Option(5.0, help="Multimodal: " + CLIP_HELP),
    impute: str | None = IMPUTE_OPTION,
    param: list[str] = PARAM_OPTION,
    epochs: int | None = EPOCHS_OPTION,
    seed: int = SEED_OPTION,
    device: str = typer.Option("auto", help="auto (CUDA when available), cpu, cuda, cuda:1 ..."),
    threads: int = THREADS_OPTION,
    verbose: bool = typer.Option(
        True, help="Show a progress bar (only when stderr is a terminal)."
    ),
) -> None:
    """Fit a slide-only or multimodal model on a table + a folder of feature files; save it."""
    from coxmt._validation import check_survival_target
    from coxmt.io import save_model
    from coxmt.pipeline import SurvivalPipeline

    limit_threads(threads)
    estimator = _estimator(model, param, seed, epochs)
    estimator.set_params(device=device)
    if "verbose" not in parse_params(param):
        estimator.set_params(verbose=show_progress(verbose))
    multimodal = type(estimator).__name__.startswith("Multimodal")
    rna_options = transform != "auto" or clip != 5.0
    if not multimodal and (features is not None or top_genes is not None or log2 or rna_options):
        raise ValueError(
            f"--features, --top-genes, --log2, --transform and --clip select and prepare RNA-seq "
            f"for multimodal models; {model} "
            "uses slides only (choose --model multimodal-coxmt to add RNA-seq)"
        )
    if unlabeled is not None:  # refused before any table is read
        warn_unlabeled(
            [],
            None,
            {model: estimator},
            refuse=True,
            semi_supervised=model.replace("coxnnet", "coxmt"),
        )
    pre = (
        build_preprocessing(top_genes, log2, True, impute, transform, clip) if multimodal else None
    )
    labeled = load_labeled(
        table, time_col, event_col, event_means, features if multimodal else [], id_col
    )
    check_survival_target(labeled.y, min_samples=2)
    ids = labeled.ids.astype(str) if id_col is not None else labeled.ids
    match = _match(labeled.clinical, ids, features_dir, slide_col, id_col, table.name)

    X = X_unl = None
    bags_unl: list[Any] | None = None
    n_no_rna = 0
    if multimodal:
        X = labeled.X
        warn_skipped_columns(labeled, features, [time_col, event_col, id_col, slide_col])
        n_no_rna = _check_rna(X, impute, table.name)
        if n_no_rna == len(X):
            raise ValueError(
                f"no patient of {table.name} has RNA-seq values in the --features columns; "
                "check --features, or train a slide-only model (--model wsi-coxmt)"
            )
    if unlabeled is not None:
        frame_u, ids_u = _read_frame(unlabeled, id_col, unlabeled.name)
        bags_unl = _match(
            frame_u, ids_u, features_dir, slide_col, id_col, unlabeled.name, require=not multimodal
        ).bags
        if multimodal:
            X_unl = _rna(frame_u, [str(c) for c in labeled.X.columns], ids_u, unlabeled.name)
            n_no_rna += _check_rna(X_unl, impute, unlabeled.name)
        warn_unlabeled(ids_u, ids if id_col is not None else None, {model: estimator}, refuse=True)
    if n_no_rna:
        console.print(
            f"note: {n_no_rna} patient(s) have no RNA-seq values; they are kept, with the "
            "model's learned 'missing RNA-seq' token",
            highlight=False,
        )

    if multimodal:
        assert pre is not None and X is not None
        Xt = _preprocess_rna(pre, X, labeled.y, fit=True)
        print_step_notes(pre.steps)
        Xut = None if X_unl is None else _preprocess_rna(pre, X_unl)
        estimator.fit(Xt, match.bags, labeled.y, X_rna_unlabeled=Xut, bags_unlabeled=bags_unl)
        train_c = estimator.score(Xt, match.bags, labeled.y)
        saved: Any = SurvivalPipeline([*pre.steps, ("model", estimator)])
    else:
        estimator.fit(match.bags, labeled.y, bags_unlabeled=bags_unl)
        train_c = estimator.score(match.bags, labeled.y)
        saved = estimator
    estimator.set_params(verbose=False)
    save_model(saved, out)
    n_unl = 0 if bags_unl is None else len(bags_unl)
    what = "slides"
    if X is not None:
        kept = int(estimator.n_features_in_)
        what = f"{X.shape[1]} RNA-seq columns{f' ({kept} kept)' if kept != X.shape[1] else ''} + slides"
    console.print(
        f"fitted {model} on {len(labeled)} patients ({labeled.n_events} deaths"
        f"{f', {n_unl} unlabeled' if n_unl else ''}), {what}; training C-index {train_c:.3f}; "
        f"saved to {out}",
        highlight=False,
    )


@cli_errors
def predict(
    model: Path = typer.Option(..., help="Folder of a model saved by `coxmt wsi fit`."),
    table: Path = typer.Option(
        ..., "--table", "--data", help="Table of the patients to score (ID/slide columns, RNA)."
    ),
    features_dir: Path = typer.Option(..., help=_FEATURES_DIR_HELP),
    out: Path = typer.Option(..., help="Output CSV: ID, risk (+ survival at --times)."),
    id_col: str | None = typer.Option(None, help=_ID_HELP),
    slide_col: str | None = typer.Option(None, help=_SLIDE_COL_HELP),
    times: str | None = typer.Option(
        None, help="Comma-separated times at which to add survival probabilities, e.g. 12,36,60."
    ),
    attention_dir: Path | None = typer.Option(
        None,
        help="Folder for per-slide attention files <slide>_attention.h5 (every patch), for "
        "`coxmt wsi heatmap SLIDE FILE`.",
    ),
    threads: int = THREADS_OPTION,
) -> None:
    """Score patients with a saved slide or multimodal model: risk (higher = higher risk)."""
    import numpy as np
    import pandas as pd

    from coxmt._atomic import atomic_path
    from coxmt.io import load_model
    from coxmt.predict import check_times

    limit_threads(threads)
    grid = parse_times(times)
    if attention_dir is not None and attention_dir.resolve() == features_dir.resolve():
        raise ValueError(
            "--attention-dir is the feature folder; choose another folder for attention files"
        )
    loaded = load_model(model)
    _, est, _ = _model_kind(loaded)
    frame, ids = _read_frame(table, id_col, table.name)
    cohort = _scoring_cohort(loaded, model, table, frame, ids, features_dir, id_col, slide_col)
    risk = np.asarray(_risk(est, cohort), dtype=np.float64)
    res = pd.DataFrame({cohort.ids.name or "id": np.asarray(cohort.ids), "risk": risk})
    if grid:
        check_times(grid, est)
        surv = est.baseline_.survival(risk, np.asarray(grid, dtype=np.float64))
        for j, t in enumerate(grid):
            res[f"survival_t{t:g}"] = surv[:, j]
    with atomic_path(out) as tmp:
        res.to_csv(tmp, index=False)
    console.print(f"wrote {len(res)} predictions to {out}", highlight=False)
    if attention_dir is not None:
        n, skipped = _write_attention(est, cohort, attention_dir)
        console.print(
            f"wrote {n} attention file(s) to {attention_dir}"
            f"{f' ({skipped} slide(s) without patch coordinates skipped)' if skipped else ''}",
            highlight=False,
        )


def _write_attention(est: Any, cohort: _Cohort, folder: Path) -> tuple[int, int]:
    """One ``<slide>_attention.h5`` per slide (every patch); returns (written, skipped)."""
    import numpy as np

    from coxmt.nn import write_attention_h5

    rows = [i for i, b in enumerate(cohort.bags) if b is not None]
    bags = [cohort.bags[i] for i in rows]
    if cohort.rna is not None:
        records = est.attention(cohort.rna.iloc[rows], bags, all_patches=True)
    else:
        records = est.attention(bags, all_patches=True)
    written = skipped = 0
    for i, rec in zip(rows, records, strict=True):
        slides = cohort.bags[i] or []
        for j, path in enumerate(slides):
            sel = np.asarray(rec["slide_index"]) == j
            if rec["coords"] is None or not sel.any():
                skipped += 1
                continue
            write_attention_h5(
                folder / f"{path.stem}_attention.h5",
                np.asarray(rec["coords"])[sel],
                np.asarray(rec["patch_scores"])[sel],
                model=type(est).__name__,
                attrs={"patient": str(cohort.ids[i]), "slide": path.stem, "kind": "patch_scores"},
            )
            written += 1
    return written, skipped


@cli_errors
def evaluate(
    model: Path = typer.Option(..., help="Folder of a model saved by `coxmt wsi fit`."),
    table: Path = typer.Option(..., "--table", "--data", help="Labeled table to evaluate on."),
    features_dir: Path = typer.Option(..., help=_FEATURES_DIR_HELP),
    time_col: str = TIME_COL_OPTION,
    event_col: str = EVENT_COL_OPTION,
    event_means: str = EVENT_MEANS_OPTION,
    id_col: str | None = typer.Option(None, help=_ID_HELP),
    slide_col: str | None = typer.Option(None, help=_SLIDE_COL_HELP),
    threads: int = THREADS_OPTION,
) -> None:
    """Evaluate a saved slide or multimodal model: Harrell's C, Uno's C and the integrated Brier score.

    Uno's C and the IBS are weighted as in `coxmt evaluate`, by this table's censoring.
    """
    import numpy as np

    from coxmt.io import load_model

    limit_threads(threads)
    loaded = load_model(model)
    _, est, _ = _model_kind(loaded)
    labeled = load_labeled(table, time_col, event_col, event_means, [], id_col)
    ids = labeled.ids.astype(str) if id_col is not None else labeled.ids
    # every column but time/event/ID is in ``clinical``: slide lists and RNA-seq alike
    cohort = _scoring_cohort(
        loaded, model, table, labeled.clinical, ids, features_dir, id_col, slide_col
    )
    risk = np.asarray(_risk(est, cohort), dtype=np.float64)
    n_slides = sum(b is not None for b in cohort.bags)
    print_scores(
        labeled,
        risk,
        lambda grid: est.baseline_.survival(risk, grid),
        f"{len(labeled)} patients ({n_slides} with slides)",
    )


def register(app: typer.Typer) -> None:
    """Add ``fit``, ``predict`` and ``evaluate`` to the ``wsi`` command group ``app``."""
    present = {c.name or c.callback.__name__ for c in app.registered_commands if c.callback}
    for name, func in (("fit", fit), ("predict", predict), ("evaluate", evaluate)):
        if name not in present:
            app.command(name)(func)
