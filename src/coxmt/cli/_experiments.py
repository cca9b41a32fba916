"""Experiment commands: ``coxmt cv`` (cross-validated comparison) and ``coxmt sweep``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from coxmt.cli._common import (
    CLIP_HELP,
    EVENT_COL_OPTION,
    EVENT_MEANS_OPTION,
    IMPUTE_OPTION,
    MODELS_HELP,
    PARAM_HELP,
    THREADS_HELP,
    TIME_COL_OPTION,
    TRANSFORM_HELP,
    build_preprocessing,
    check_missing_values,
    check_param_names,
    cli_errors,
    console,
    epochs_param,
    limit_threads,
    load_labeled,
    note_constant_features,
    parse_params,
    print_transform,
    show_progress,
    warn_skipped_columns,
    warn_unlabeled,
)

__all__ = ["command_line", "cross_validate_table", "print_cv_summary", "register"]

F = TypeVar("F", bound=Callable[..., Any])

_MODELS_HELP = f"Comma-separated models: {MODELS_HELP}."


def _fmt(mean: float, sd: float) -> str:
    if mean != mean:  # NaN
        return "n/a"
    return f"{mean:.3f} ± {sd:.3f}" if sd == sd else f"{mean:.3f}"


def _fmt_p(p: float) -> str:
    if p != p:
        return "n/a"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def print_cv_summary(
    results: Any, reference: str | None = "Cox-MT", *, title: str | None = None, sort: bool = False
) -> None:
    """Print mean ± sd of Harrell's C, Uno's C and the IBS per model, with paired p-values.

    p-values compare each model with ``reference`` on the same folds (Wilcoxon
    signed-rank and Nadeau-Bengio corrected resampled t-test on the c-index); they
    are omitted when ``reference`` is None or not among the models.
    """
    import numpy as np
    from rich.table import Table

    from coxmt.experiments import paired_comparison, summarize

    summary = summarize(results, ["c_index", "uno_c", "ibs"])
    models = list(dict.fromkeys(results["model"]))
    if reference not in models:
        reference = None
    paired = None
    if reference is not None and len(models) > 1:
        paired = paired_comparison(results, reference=reference, metric="c_index").set_index(
            "model"
        )
    cell = {(r.model, r.metric): (r.mean, r.sd) for r in summary.itertuples()}
    if sort:  # best mean c-index first, NaN last
        models.sort(key=lambda m: float(np.nan_to_num(-cell[(m, "c_index")][0], nan=np.inf)))
    n_rep = results["repeat"].nunique()
    n_fold = results["fold"].nunique()
    table = Table(title=title or f"{n_fold}-fold cross-validation x {n_rep} repeats (mean ± sd)")
    table.add_column("model")
    table.add_column("C-index", justify="right")
    table.add_column("Uno C", justify="right")
    table.add_column("IBS", justify="right")
    if paired is not None:
        table.add_column(f"p Wilcoxon vs {reference}", justify="right")
        table.add_column(f"p corrected t vs {reference}", justify="right")
    for m in models:
        row = [str(m), *(_fmt(*cell[(m, k)]) for k in ("c_index", "uno_c", "ibs"))]
        if paired is not None:
            if m == reference:
                row += ["ref", "ref"]
            else:
                row += [_fmt_p(paired.loc[m, "wilcoxon_p"]), _fmt_p(paired.loc[m, "corrected_p"])]
        table.add_row(*row)
    console.print(table)
    notes = results["notes"].astype(str) if "notes" in results.columns else None
    if notes is not None and (notes.str.len() > 0).any():
        console.print(
            f"[yellow]{int((notes.str.len() > 0).sum())} fold(s) have notes (metrics that could "
            "not be computed are n/a): see the notes column of results.csv[/yellow]"
        )
    if paired is not None:
        console.print(
            "C-index: Harrell; Uno C: IPCW, tau = 0.9 quantile of training follow-up; IBS: lower "
            "is better. p: paired on folds vs the reference (the corrected t-test accounts for "
            "overlapping training sets; Wilcoxon does not)."
        )


def command_line(ctx: Any) -> str | None:
    """The running command with every option spelled out (defaults included), or None.

    Stored in ``config.json`` as ``data.command``: running it again (in another
    ``--out`` folder, with the same coxmt version) reproduces the results.
    """
    import shlex

    if ctx is None or getattr(ctx, "command", None) is None:
        return None
    words = ["coxmt", ctx.info_name or "cv"]
    for param in ctx.command.params:
        if getattr(param, "param_type_name", "") != "option" or param.name is None:
            continue
        value = ctx.params.get(param.name)
        if value is None or param.name == "help":
            continue
        if param.is_flag and param.secondary_opts:
            words.append(param.opts[0] if value else param.secondary_opts[0])
        elif param.is_flag:
            if value:
                words.append(param.opts[0])
        elif param.multiple:
            for v in value:
                words += [param.opts[0], str(v)]
        else:
            text = str(value.resolve()) if isinstance(value, Path) else str(value)
            words += [param.opts[0], text]
    return shlex.join(words)


def _models(names: str, epochs: int | None, param: list[str] | None = None) -> dict[str, Any]:
    """The --models estimators; each --param is set on every model that has that name."""
    from coxmt.experiments import display_name, get_model

    user = parse_params(param or [])
    out: dict[str, Any] = {}
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        est = get_model(name)
        names_of = est.get_params(deep=True)
        if epochs is not None:
            key = epochs_param(names_of)
            if key is not None:
                est.set_params(**{key: epochs})
        own = {k: v for k, v in user.items() if k in names_of}
        try:
            est.set_params(**own)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad --param for {name}: {exc}") from None
        label = display_name(name)
        if label in out:
            raise ValueError(f"--models lists {name!r} twice; list each model once")
        out[label] = est
    if not out:
        raise ValueError("--models is empty; pass e.g. --models coxmt,coxnnet")
    known = {k for est in out.values() for k in est.get_params(deep=True)}
    unknown = [k for k in user if k not in known]
    if unknown:
        valid = sorted(known)
        raise ValueError(
            f"--param names unknown hyperparameter(s) {unknown} of {', '.join(out)}; valid "
            f"names: {', '.join(valid)}"
        )
    return out


def _reference(reference: str | None, names: list[str]) -> str:
    from coxmt.experiments import display_name

    if reference is None:
        return "Cox-MT" if "Cox-MT" in names else names[0]
    if reference in names:
        return reference
    try:
        label = display_name(reference)
    except ValueError:
        label = reference
    if label not in names:
        raise ValueError(f"--reference {reference!r} is not among the models run: {names}")
    return label


def _ray_options(backend: str, address: str | None, gpus: float | None) -> dict[str, Any] | None:
    if backend not in ("local", "ray"):
        raise ValueError(f"--backend must be 'local' or 'ray', got {backend!r}")
    if backend == "local" and (address is not None or gpus is not None):
        used = "--address" if address is not None else "--gpus-per-task"
        raise ValueError(f"{used} only applies to --backend ray; add --backend ray")
    if gpus is None:
        return None
    if gpus < 0:
        raise ValueError(f"--gpus-per-task must be >= 0, got {gpus}")
    return {"num_gpus": gpus}


def _run(
    models: dict[str, Any],
    *,
    data: Path,
    time_col: str,
    event_col: str,
    event_means: str,
    features: str | None,
    id_col: str | None,
    folds: int,
    repeats: int,
    seed: int,
    top_genes: int | None,
    log2: bool,
    scale: bool,
    impute: str | None,
    unlabeled: Path | None,
    jobs: int,
    out: Path | None,
    overwrite: bool,
    splits: Path | None,
    progress: bool,
    threads: int = 1,
    backend: str = "local",
    address: str | None = None,
    gpus_per_task: float | None = None,
    ctx: Any = None,
    transform: str = "auto",
    clip: float = 5.0,
) -> Any:
    from coxmt.experiments._runner import check_fold_count

    if event_means not in ("event", "censored"):
        raise ValueError(f"--event-means must be 'event' or 'censored', got {event_means!r}")
    if splits is None and folds < 2:
        raise ValueError(f"--folds must be >= 2, got {folds}")
    if splits is None and repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {repeats}")
    ray_options = _ray_options(backend, address, gpus_per_task)
    limit_threads(threads)
    preprocessing = build_preprocessing(top_genes, log2, scale, impute, transform, clip)
    table = load_labeled(data, time_col, event_col, event_means, features, id_col, impute)
    X_unl = None
    if unlabeled is not None:
        from coxmt.data import read_feature_table

        X_unl = read_feature_table(unlabeled, feature_names=list(table.X.columns), id_col=id_col)
        warn_unlabeled(X_unl, table.ids if id_col is not None else None, models, refuse=False)
    warn_skipped_columns(table, features, [time_col, event_col, id_col])
    if splits is None and table.event.any():  # refused before anything is printed
        check_fold_count(table.event, folds)
    check_missing_values(table.X, impute, data.name)
    check_missing_values(X_unl, impute, "" if unlabeled is None else unlabeled.name)
    console.print(
        f"[bold]{data.name}[/bold]: {len(table)} patients, {table.n_events} deaths, "
        f"{table.X.shape[1]} features" + (f", {len(X_unl)} unlabeled" if X_unl is not None else "")
    )
    note_constant_features(table.X)
    print_transform(preprocessing, table.X)
    metadata = {
        "path": str(data),
        "time_col": time_col,
        "event_col": event_col,
        "event_means": event_means,
        "features": features,
        "id_col": id_col,
        "unlabeled_path": None if unlabeled is None else str(unlabeled),
        "top_genes": top_genes,
        "log2": log2,
        "transform": transform,
        "clip": clip,
        "scale": scale,
        "impute": impute,
        "command": command_line(ctx),
    }
    return cross_validate_table(
        models, table, preprocessing, folds, repeats, seed, jobs, out, progress,
        X_unlabeled=X_unl,
        backend=backend,
        ray_address=address,
        ray_options=ray_options,
        ids=None,  # table.X is indexed by the patient IDs (row numbers without --id-col)
        splits=splits,
        overwrite=overwrite,
        metadata=metadata,
    )  # fmt: skip


def cross_validate_table(
    models: dict[str, Any],
    table: Any,
    preprocessing: Any,
    folds: int,
    repeats: int,
    seed: int,
    jobs: int,
    out: Path | None,
    progress: bool,
    **more: Any,
) -> Any:
    """:func:`coxmt.experiments.cross_validate` of ``models`` on a survival table, from CLI options."""
    from coxmt.experiments import cross_validate

    return cross_validate(
        models, table.X, table.y,
        n_splits=folds, n_repeats=repeats, random_state=seed, preprocessing=preprocessing,
        n_jobs=jobs, results_dir=out, verbose=show_progress(progress), **more,
    )  # fmt: skip


_DATA = typer.Option(..., help="Labeled table (CSV/TSV/Parquet/h5ad, optionally gzipped).")
_TIME = TIME_COL_OPTION
_EVENT = EVENT_COL_OPTION
_MEANS = EVENT_MEANS_OPTION
_FEATURES = typer.Option(
    None, help="Feature columns: a regex such as '_rnaseq$' or a suffix (default: all numeric)."
)
_ID = typer.Option(None, help="Patient ID column (needed for --splits files and --unlabeled).")
_FOLDS = typer.Option(5, help="Folds per repeat (stratified on the event).")
_REPEATS = typer.Option(5, help="Repeats of K-fold with different shuffles.")
_SEED = typer.Option(0, help="Seed from which all split and model seeds are derived.")
_TOP = typer.Option(
    None, help="Keep the K most variable features, selected inside each training fold."
)
_LOG2 = typer.Option(False, help="Same as --transform log2 (raw counts/TPM only).")
_TRANSFORM = typer.Option("auto", help=TRANSFORM_HELP)
_CLIP = typer.Option(5.0, help=CLIP_HELP)
_SCALE = typer.Option(True, help="Standardise features (fitted on each training fold).")
_IMPUTE = IMPUTE_OPTION
_UNL = typer.Option(
    None, help="Table of unlabeled patients (features only) for semi-supervised models."
)
_JOBS = typer.Option(1, help="Worker processes (one thread each); -1 = all CPUs.")
_BACKEND = typer.Option(
    "local",
    help="Where the fits run: local (this machine, see --jobs) or ray (one Ray task per "
    "model x repeat x fold on a Ray cluster; needs the ray extra of coxmt).",
)
_ADDRESS = typer.Option(
    None,
    help="Ray cluster address for --backend ray (auto, HOST:6379, ray://HOST:10001); "
    "default: $RAY_ADDRESS, else Ray on this machine.",
)
_GPUS = typer.Option(
    None,
    help="GPUs each Ray task reserves (e.g. 0.25: four fits share a GPU and models with "
    "device auto use it); default 0.",
)
_OUT = typer.Option(
    None, help="Results folder (config, splits, results, predictions); re-running resumes."
)
_OVERWRITE = typer.Option(False, help="Discard results in --out made with another configuration.")
_SPLITS = typer.Option(
    None,
    help="Predefined splits: a coxmt splits.csv / results folder or MCAT splits_<k>.csv folder.",
)
_EPOCHS = typer.Option(
    None, help="Training epochs of the neural models (model default if omitted)."
)
_PROGRESS = typer.Option(True, help="Show a progress bar (only when stderr is a terminal).")
_THREADS = typer.Option(1, help=THREADS_HELP + " Worker processes (--jobs) use one thread each.")
_PARAM = typer.Option([], "--param", help=PARAM_HELP + " Set on every model that has the name.")


def _run_options(
    data: Path = _DATA,
    time_col: str = _TIME,
    event_col: str = _EVENT,
    event_means: str = _MEANS,
    features: str | None = _FEATURES,
    id_col: str | None = _ID,
    folds: int = _FOLDS,
    repeats: int = _REPEATS,
    seed: int = _SEED,
    top_genes: int | None = _TOP,
    log2: bool = _LOG2,
    transform: str = _TRANSFORM,
    clip: float = _CLIP,
    scale: bool = _SCALE,
    impute: str | None = _IMPUTE,
    unlabeled: Path | None = _UNL,
    jobs: int = _JOBS,
    backend: str = _BACKEND,
    address: str | None = _ADDRESS,
    gpus_per_task: float | None = _GPUS,
    out: Path | None = _OUT,
    overwrite: bool = _OVERWRITE,
    splits: Path | None = _SPLITS,
    epochs: int | None = _EPOCHS,
    param: list[str] = _PARAM,
    threads: int = _THREADS,
    progress: bool = _PROGRESS,
) -> None:
    """The options that ``cv`` and ``sweep`` share, written once (see :func:`_with_run_options`)."""


def _with_run_options(command: F) -> F:
    """Give ``command`` the options of :func:`_run_options`, passed to it as ``**options``.

    Typer reads a command's options from its signature: the shared ones are
    spliced in after the command's own (keyword-only, so the order stays valid).
    """
    own = inspect.signature(command, eval_str=True).parameters.values()
    shared = inspect.signature(_run_options, eval_str=True).parameters.values()
    params = [p for p in own if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in shared]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command


def _finish(results: Any, out: Path | None, **summary: Any) -> None:
    print_cv_summary(results, **summary)
    if out is not None:
        console.print(f"results written to {out}")


@_with_run_options
@cli_errors
def cv(
    ctx: typer.Context,
    models: str = typer.Option(
        "coxmt,coxnnet,coxph", help=f"{_MODELS_HELP} Default: Cox-MT, Cox-nnet and ridge Cox."
    ),
    reference: str | None = typer.Option(
        None, help="Model the others are compared with (default: coxmt if run, else the first)."
    ),
    **options: Any,
) -> None:
    """Cross-validate several models on identical repeated stratified splits and compare them.

    Preprocessing (top-variance genes, scaling) is fitted inside each training fold.
    Prints mean ± sd of Harrell's C, Uno's C and the integrated Brier score per model
    and paired p-values against the reference model.
    """
    estimators = _models(models, options.pop("epochs"), options.pop("param"))
    ref = _reference(reference, list(estimators))
    _finish(_run(estimators, ctx=ctx, **options), options["out"], reference=ref)


@_with_run_options
@cli_errors
def sweep(
    ctx: typer.Context,
    model: str = typer.Option("coxmt", help="Model whose hyperparameters are swept."),
    grid: list[str] = typer.Option(
        ...,
        help="NAME=V1,V2,... (repeatable), e.g. --grid consistency_weight=0.1,1,3; the same "
        "names as --param (layer sizes as 64x32).",
    ),
    **options: Any,
) -> None:
    """Cross-validate every combination of a hyperparameter grid on identical splits.

    Prints the combinations sorted by mean c-index. Choosing hyperparameters on the
    same folds that report performance is optimistic: confirm the winner with
    `coxmt cv` on fresh splits (another --seed) or an external cohort.
    """
    from coxmt.experiments import get_model, grid_models, parse_param_grid

    fixed = parse_params(options.pop("param"))
    epochs = options.pop("epochs")
    if epochs is not None:
        fixed["max_epochs"] = epochs
    parsed = parse_param_grid(grid)
    base = get_model(model)
    check_param_names(base, parsed, "--grid")
    check_param_names(base, fixed, "--param")
    both = sorted(set(parsed) & set(fixed))
    if both:
        raise ValueError(f"{both} are given both in --grid and --param/--epochs; give them once")
    results = _run(grid_models(model, parsed, **fixed), ctx=ctx, **options)
    _finish(results, options["out"], reference=None, title=f"sweep of {model}", sort=True)


def register(app: typer.Typer) -> None:
    """Add the ``cv`` and ``sweep`` commands to ``app``."""
    app.command("cv")(cv)
    app.command("sweep")(sweep)
