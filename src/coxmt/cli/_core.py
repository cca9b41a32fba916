"""Core commands: demo, fit, predict, evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from coxmt.cli._common import (
    CLIP_HELP,
    EPOCHS_OPTION,
    EVENT_COL_OPTION,
    EVENT_MEANS_OPTION,
    IMPUTE_OPTION,
    MODELS_HELP,
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
    print_model_choice,
    print_scores,
    print_step_notes,
    print_transform,
    show_progress,
    warn_skipped_columns,
    warn_unlabeled,
)

__all__ = ["register"]

_MODEL_HELP = f"Model: {MODELS_HELP}."


def _build_estimator(
    model: str, param: list[str], epochs: int | None, seed: int | None, option: str = "--param"
) -> Any:
    """The estimator named ``model`` with ``--param`` values (checked) and ``--epochs``."""
    from coxmt.experiments import get_model

    return configure_estimator(get_model(model), model, param, epochs, seed, option)


@cli_errors
def demo(
    folds: int = typer.Option(5, help="Number of cross-validation folds."),
    repeats: int = typer.Option(1, help="Number of repeats of the K-fold split."),
    seed: int = typer.Option(0, help="Random seed (splits and models)."),
    jobs: int = typer.Option(1, help="Parallel worker processes."),
    out: Path | None = typer.Option(None, help="Folder for the results (tables, predictions)."),
    threads: int = THREADS_OPTION,
    progress: bool = typer.Option(
        True, help="Show a progress bar (only when stderr is a terminal)."
    ),
) -> None:
    """Cross-validate Cox-MT vs Cox-nnet vs a ridge-penalised linear Cox model on the built-in dataset.

    Prints the c-index (mean ± sd over folds) and the integrated Brier score.
    """
    from coxmt.cli._experiments import cross_validate_table, print_cv_summary
    from coxmt.data import load_demo

    limit_threads(threads)
    table = load_demo()
    console.print(
        f"[bold]{table.source}[/bold]: {len(table)} patients, {int(table.event.sum())} deaths, "
        f"{table.X.shape[1]} features"
    )
    pre = build_preprocessing(None, False, True, None)
    print_transform(pre, table.X)
    models = _demo_models(seed)
    results = cross_validate_table(
        models, table, pre, folds, repeats, seed, jobs, out, progress, ids=table.ids
    )
    print_cv_summary(results, reference="Cox-MT")


def _features_used(n_input: int, estimator: Any) -> str:
    """``"1555 features"``, or ``"500 of 1555 features"`` when preprocessing kept fewer."""
    n_model = getattr(estimator, "n_features_in_", n_input)
    return f"{n_input} features" if n_model == n_input else f"{n_model} of {n_input} features"


@cli_errors
def fit(
    data: Path = typer.Option(
        ..., help="Training table (CSV/TSV/Parquet/h5ad, optionally gzipped)."
    ),
    time_col: str = TIME_COL_OPTION,
    event_col: str = EVENT_COL_OPTION,
    event_means: str = EVENT_MEANS_OPTION,
    features: str | None = typer.Option(
        None, help="Regex selecting feature columns, e.g. '_rnaseq$' (default: all numeric)."
    ),
    id_col: str | None = typer.Option(None, help="Patient ID column."),
    unlabeled: Path | None = typer.Option(
        None,
        help="Table of unlabeled patients (features only); used by the semi-supervised models (coxmt, coxmt-cv, coxmt-cv-ridge), refused for the others.",
    ),
    model: str = typer.Option("coxmt", help=_MODEL_HELP),
    top_genes: int | None = typer.Option(
        None, help="Keep the K most variable features (fitted on the training table)."
    ),
    log2: bool = typer.Option(False, help="Same as --transform log2 (raw counts/TPM only)."),
    transform: str = typer.Option("auto", help=TRANSFORM_HELP),
    clip: float = typer.Option(5.0, help=CLIP_HELP),
    impute: str | None = IMPUTE_OPTION,
    param: list[str] = PARAM_OPTION,
    epochs: int | None = EPOCHS_OPTION,
    seed: int = SEED_OPTION,
    threads: int = THREADS_OPTION,
    out: Path = typer.Option(..., help="Folder to save the fitted model in."),
    verbose: bool = typer.Option(
        True, help="Show a progress bar (only when stderr is a terminal)."
    ),
) -> None:
    """Fit a model (with its preprocessing) on a table and save it to a folder."""
    from coxmt._validation import check_survival_target
    from coxmt.io import save_model
    from coxmt.pipeline import SurvivalPipeline

    limit_threads(threads)
    estimator = _build_estimator(model, param, epochs, seed)
    # every built-in model saves; a --model package.module:Class may not: refused before the fit
    if not hasattr(estimator, "_export_state"):
        raise ValueError(
            f"{model} cannot be saved as a model folder, so `coxmt fit` does not train it; "
            f"compare it with `coxmt cv --models coxmt,{model}` or choose a built-in "
            f"--model: {MODELS_HELP}"
        )
    pre = build_preprocessing(top_genes, log2, True, impute, transform, clip)
    table = load_labeled(data, time_col, event_col, event_means, features, id_col, impute)
    warn_skipped_columns(table, features, [time_col, event_col, id_col])
    check_survival_target(table.y, min_samples=2)
    check_missing_values(table.X, impute, f"{data.name}")
    names = estimator.get_params(deep=False)
    if "verbose" in names and "verbose" not in parse_params(param):
        estimator.set_params(verbose=show_progress(verbose))
    pipe = SurvivalPipeline([*pre.steps, ("model", estimator)])
    X_unl = None
    if unlabeled is not None:
        from coxmt.data import read_feature_table

        X_unl = read_feature_table(unlabeled, feature_names=list(table.X.columns), id_col=id_col)
        warn_unlabeled(
            X_unl, table.ids if id_col is not None else None, {model: estimator}, refuse=True
        )
        check_missing_values(X_unl, impute, f"{unlabeled.name}")
    pipe.fit(table.X, table.y, X_unlabeled=X_unl)
    print_step_notes(pipe.steps[:-1])
    print_model_choice(estimator)
    if "verbose" in names:
        estimator.set_params(verbose=False)
    save_model(pipe, out)
    n_unl = 0 if X_unl is None else len(X_unl)
    console.print(
        f"fitted {model} on {len(table)} patients ({int(table.event.sum())} deaths"
        f"{f', {n_unl} unlabeled' if n_unl else ''}), {_features_used(table.X.shape[1], estimator)}; "
        f"training C-index {pipe.score(table.X, table.y):.3f}; saved to {out}",
        highlight=False,
    )


@cli_errors
def predict(
    model: Path = typer.Option(..., help="Folder of a model saved by `coxmt fit`."),
    data: Path = typer.Option(..., help="Table of patients to score."),
    out: Path = typer.Option(
        ..., help="Output CSV: the --id-col column, risk (+ survival_t<time> at --times)."
    ),
    id_col: str | None = typer.Option(
        None, help="Patient ID column (copied to the output under the same name)."
    ),
    times: str | None = typer.Option(
        None, help="Comma-separated times at which to add survival probabilities, e.g. 12,36,60."
    ),
    fill_missing: float | None = typer.Option(
        None, help="Fill features missing from the table with this value instead of failing."
    ),
    chunk_rows: int | None = typer.Option(
        None, help="Rows read and scored at a time (default: about 4 million values per chunk)."
    ),
    threads: int = THREADS_OPTION,
) -> None:
    """Score patients with a saved model: risk (higher = higher risk) per patient.

    Features are aligned to the model's by name: extra columns are ignored,
    missing ones are an error (or filled with --fill-missing). The table is read
    in chunks, so memory stays bounded however many patients it holds.
    """
    # every built-in model class registers itself for loading when its module is imported;
    # a fresh process has not imported them all (rsf models failed to load without it)
    import coxmt.estimators  # noqa: F401
    from coxmt.predict import predict_table

    limit_threads(threads)
    n = predict_table(
        model,
        data,
        out,
        id_col=id_col,
        times=parse_times(times),
        fill_missing=fill_missing,
        chunk_rows=chunk_rows,
        log=console.print,
    )
    console.print(f"wrote {n} predictions to {out}")


@cli_errors
def evaluate(
    model: Path = typer.Option(..., help="Folder of a model saved by `coxmt fit`."),
    data: Path = typer.Option(..., help="Labeled table to evaluate on."),
    time_col: str = TIME_COL_OPTION,
    event_col: str = EVENT_COL_OPTION,
    event_means: str = EVENT_MEANS_OPTION,
    id_col: str | None = typer.Option(None, help="Patient ID column."),
    fill_missing: float | None = typer.Option(None, help="Fill missing features with this value."),
    threads: int = THREADS_OPTION,
) -> None:
    """Evaluate a saved model on a labeled table: Harrell's C, Uno's C and the integrated Brier score.

    The IPCW metrics (Uno's C, IBS) use the evaluation table's own censoring
    distribution, since the model does not store its training patients.
    """
    from coxmt.estimators._base import align_features
    from coxmt.io import load_model

    limit_threads(threads)
    est = load_model(model)
    table = load_labeled(data, time_col, event_col, event_means, None, id_col)
    if not any(type(s).__name__ == "SimpleImputer" for _, s in getattr(est, "steps", [])):
        names = getattr(est, "feature_names_in_", None)
        cols = table.X if names is None else table.X.loc[:, [c for c in names if c in table.X]]
        check_missing_values(
            cols,
            None,
            f"{data.name}",
            fix="the model has no imputation step: fill them, drop those patients, or re-fit "
            "it with `coxmt fit --impute median`",
        )
    names = getattr(est, "feature_names_in_", None)
    X = align_features(table.X, None if names is None else list(names), fill_missing=fill_missing)
    risk = est.predict(X)
    survival = est.predict_survival_function
    print_scores(table, risk, lambda grid: survival(X, grid), f"{len(table)} patients")


def _demo_models(seed: int) -> dict[str, Any]:
    from coxmt.experiments import get_model

    return {
        "Cox-MT": get_model("coxmt", random_state=seed),
        "Cox-nnet": get_model("coxnnet", random_state=seed),
        "CoxPH (ridge)": get_model("coxph", random_state=seed),
    }


def register(app: typer.Typer) -> None:
    """Add the core commands to ``app``."""
    for command in (demo, fit, predict, evaluate):
        app.command()(command)
