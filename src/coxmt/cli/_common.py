"""Shared CLI helpers: one-line errors and warnings, interruption, the console."""

from __future__ import annotations

import functools
import os
import re
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape

__all__ = [
    "EPOCHS_OPTION",
    "EVENT_COL_OPTION",
    "EVENT_HELP",
    "EVENT_MEANS_OPTION",
    "IMPUTE_HELP",
    "IMPUTE_OPTION",
    "MODELS_HELP",
    "PARAM_HELP",
    "PARAM_OPTION",
    "SEED_OPTION",
    "THREADS_HELP",
    "THREADS_OPTION",
    "TIME_COL_OPTION",
    "FlagCommand",
    "FlagGroup",
    "check_missing_values",
    "check_param_names",
    "cli_errors",
    "configure_estimator",
    "console",
    "err_console",
    "eval_grid_bounds",
    "limit_threads",
    "note_constant_features",
    "parse_params",
    "parse_times",
    "print_model_choice",
    "print_step_notes",
    "show_progress",
    "sigterm_as_interrupt",
    "survival_scores",
    "warn_skipped_columns",
    "warn_unlabeled",
]

# width used when the output is not a terminal (a log file, a pipe, CI): wide enough that
# tables never wrap a cell or cut a name; readers of logs scroll sideways instead
_PLAIN_WIDTH = 10_000


class _Console(Console):
    """A rich console that, when not writing to a terminal, never wraps or truncates."""

    @property
    def size(self) -> ConsoleDimensions:
        if not self.is_terminal:  # COLUMNS of the parent terminal does not apply to a file
            return ConsoleDimensions(_PLAIN_WIDTH, super().size.height)
        return super().size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _Console(soft_wrap=True)
err_console = _Console(stderr=True, soft_wrap=True)

MODELS_HELP = (
    "coxmt-cv (recommended: Cox-MT tuned by inner CV, calibrated), coxmt-cv-ridge (the same "
    "with ridge Cox as a candidate), coxnnet-cv (the recipe around Cox-nnet), coxmt (Cox-MT), "
    "coxnnet (Cox-nnet), coxph (penalised linear Cox), coxnet (elastic-net Cox), rsf (random "
    "survival forest), deepsurv (DeepSurv; needs the baselines extra), or package.module:Class"
)

EVENT_HELP = (
    "Meaning of the event column: 'event' = 1 where death was observed, 0 where censored "
    "(default); 'censored' = 1 where censored (CLAM/PORPOISE 'censorship' columns)."
)
IMPUTE_HELP = (
    "Fill missing feature values with the training 'median' or 'mean' (saved with the model). "
    "Without it, missing values are an error."
)

TRACEBACK_ENV = "COXMT_TRACEBACK"

# library parameter names -> the command-line options that set them
_OPTION_NAMES = {
    "time_col": "--time-col",
    "event_col": "--event-col",
    "id_col": "--id-col",
    "feature_cols": "--features",
    "event_means": "--event-means",
    "n_splits": "--folds",
    "chunk_rows": "--chunk-rows",
    "fill_missing": "--fill-missing",
    "features_dir": "--features-dir",
    "slide_col": "--slide-col",
}
_OPTION_RE = re.compile(r"\b(" + "|".join(_OPTION_NAMES) + r")=(?!=)(\s?)")
# library spellings in fix-it hints -> the command-line options that do the same
_PHRASES = {
    "coxmt.preprocessing.make_rnaseq_preprocessor(impute='median')": "--impute median",
    "make_rnaseq_preprocessor(log=False)": "--no-log2",
    "impute=)": "--impute)",
    "fill_missing=0 from Python": "--fill-missing 0",
}
_WORD_RE = re.compile(r"\b(" + "|".join(_OPTION_NAMES) + r")\b(?!=)")

F = TypeVar("F", bound=Callable[..., Any])

# exceptions typer handles itself (exit codes, usage errors); typer >= 0.2x vendors click
_TYPER_EXCEPTIONS: tuple[type[BaseException], ...] = tuple(
    exc
    for exc in (
        typer.Exit,
        typer.Abort,
        getattr(__import__("typer.exceptions").exceptions, "TyperException", None),
    )
    if isinstance(exc, type)
)
try:  # typer versions built on click raise click's exceptions
    import click as _click

    _TYPER_EXCEPTIONS += (_click.exceptions.Exit, _click.exceptions.Abort, _click.ClickException)
except ImportError:  # pragma: no cover - typer without click
    pass


def _as_options(message: str) -> str:
    """Spell library parameters as options: ``Pass time_col='x'`` -> ``Pass --time-col 'x'``."""
    for phrase, option in _PHRASES.items():
        message = message.replace(phrase, option)
    message = _OPTION_RE.sub(lambda m: f"{_OPTION_NAMES[m.group(1)]} ", message)
    message = _WORD_RE.sub(lambda m: _OPTION_NAMES[m.group(1)], message)
    return message.replace("  ", " ")


def _print_error(message: str) -> None:
    err_console.print(
        f"[bold red]error:[/bold red] {escape(_as_options(message))}",
        highlight=False,
        soft_wrap=True,
    )


def _raise_interrupt(signum: int, frame: Any) -> None:
    # a second SIGTERM during the clean-up ends the process at once
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while the block runs (main thread only).

    Finished work (saved parts, completed files) is kept and temporary files are
    removed, exactly as for Ctrl-C. Outside the main thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Print library warnings (e.g. an implausible event rate) as yellow lines, not tracebacks.

    Only ``UserWarning`` and ``RuntimeWarning`` are printed; others are re-issued
    for Python's warning filters.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            shown: set[str] = set()
            other = []
            for w in caught:
                if issubclass(w.category, UserWarning | RuntimeWarning):
                    text = str(w.message)
                    if text not in shown:
                        shown.add(text)
                        err_console.print(
                            f"[yellow]warning:[/yellow] {escape(_as_options(text))}",
                            highlight=False,
                            soft_wrap=True,
                        )
                else:
                    other.append(w)
    for w in other:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def cli_errors(func: F) -> F:
    """Run a command with clear one-line errors and warnings, and clean interruption.

    - ``ValueError``, ``OSError`` (missing files, permissions, full disk), ``ImportError``
      (a missing extra), ``KeyError`` and ``FloatingPointError``: ``error: <message>`` on
      stderr, exit code 2, no traceback.
    - Ctrl-C or SIGTERM: finished work is kept, temporary files are removed, exit code 130.
    - Any other exception: a one-line description and exit code 1; set the environment
      variable ``COXMT_TRACEBACK=1`` to see the full traceback.
    - ``UserWarning``/``RuntimeWarning``: ``warning: <message>`` lines on stderr.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with sigterm_as_interrupt(), _warnings_as_lines():
                return func(*args, **kwargs)
        except _TYPER_EXCEPTIONS:
            raise
        except (ValueError, OSError, ImportError, KeyError, FloatingPointError) as exc:
            msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, OSError) and not isinstance(
                exc, FileNotFoundError | PermissionError
            ):
                msg = f"{type(exc).__name__}: {msg}"
            _print_error(str(msg))
            raise typer.Exit(code=2) from None
        except MemoryError:
            _print_error(
                "out of memory; score large tables in smaller chunks (--chunk-rows) or use a "
                "machine with more memory"
            )
            raise typer.Exit(code=2) from None
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted[/yellow]: finished work was kept; run the same command "
                "again to resume"
            )
            raise typer.Exit(code=130) from None
        except Exception as exc:
            if os.environ.get(TRACEBACK_ENV):
                raise
            _print_error(
                f"unexpected {type(exc).__name__}: {exc}. This is a bug in coxmt or an input it "
                f"does not handle; set {TRACEBACK_ENV}=1 to see the traceback and report it"
            )
            raise typer.Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


_IMPUTE_FIX = (
    "pass --impute median (or mean) to fill them with training-set statistics, or drop those "
    "patients or columns"
)


def check_missing_values(X: Any, impute: str | None, what: str, fix: str = _IMPUTE_FIX) -> None:
    """Refuse NaN features unless ``--impute`` is given, naming columns and patients."""
    import numpy as np

    if impute is not None or X is None:
        return
    na = X.isna().to_numpy()
    if not na.any():
        return
    cols = [str(c) for c in X.columns[na.any(axis=0)]]
    rows = np.flatnonzero(na.any(axis=1))
    ids = [str(i) for i in X.index[rows[:10]]]
    raise ValueError(
        f"{what} has missing values in {len(cols)} feature column(s) {cols[:10]}"
        f"{' ...' if len(cols) > 10 else ''} for {rows.size} patient(s) (IDs/rows {ids}"
        f"{' ...' if rows.size > 10 else ''}); {fix}"
    )


def note_constant_features(X: Any) -> None:
    """Print a note naming the features that are constant in the whole table."""
    if X is None or X.shape[0] < 2:
        return
    constant = [str(c) for c in X.columns[(X.nunique(dropna=True) <= 1).to_numpy()]]
    if constant:
        console.print(
            f"note: {len(constant)} constant feature(s) carry no information and are dropped: "
            f"{', '.join(constant[:10])}{' ...' if len(constant) > 10 else ''}",
            highlight=False,
        )


def _no_flag_metavar(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    return params


class FlagCommand(typer.core.TyperCommand):
    """A command whose on/off flags show no ``<bool>`` value placeholder in ``--help``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_metavar(super().get_params(ctx))


class FlagGroup(typer.core.TyperGroup):
    """A command group whose on/off flags show no ``<bool>`` placeholder in ``--help``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_flag_metavar(super().get_params(ctx))


THREADS_HELP = (
    "CPU threads for training and scoring (torch and BLAS); 0 = all CPUs. Default 1: the "
    "small networks here gain little from more threads, and several threads per process "
    "oversubscribe a shared machine (slower, not faster)."
)
PARAM_HELP = (
    "Model hyperparameter NAME=VALUE (repeatable), e.g. --param max_epochs=50; the names are "
    "the model's get_params() names (a wrong name is refused with the valid ones listed); "
    "sizes as 64,32."
)


# options with the same name, default and help in every command that has them
TIME_COL_OPTION: Any = typer.Option("time", help="Follow-up time column.")
EVENT_COL_OPTION: Any = typer.Option("event", help="Event column (see --event-means).")
EVENT_MEANS_OPTION: Any = typer.Option("event", help=EVENT_HELP)
IMPUTE_OPTION: Any = typer.Option(None, help=IMPUTE_HELP)
PARAM_OPTION: Any = typer.Option([], "--param", help=PARAM_HELP)
EPOCHS_OPTION: Any = typer.Option(None, help="Training epochs (model default when omitted).")
SEED_OPTION: Any = typer.Option(0, help="Random seed.")
THREADS_OPTION: Any = typer.Option(1, help=THREADS_HELP)


def limit_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch and BLAS for the rest of the process (0 = all)."""
    if threads < 0:
        raise ValueError(f"--threads must be >= 0 (0 = all CPUs), got {threads}")
    n = threads or (os.cpu_count() or 1)
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    from coxmt.training.threads import fix_threads

    fix_threads(n)  # the user's choice: the engine's automatic rule keeps it


def show_progress(requested: bool) -> bool:
    """Progress bars only when asked for and stderr is a terminal (no carriage returns in logs)."""
    import sys

    return bool(requested) and sys.stderr.isatty()


def check_param_names(estimator: Any, names: Iterable[str], option: str) -> None:
    """Refuse hyperparameter names the estimator does not have, listing the valid ones."""
    valid = sorted(estimator.get_params(deep=True))
    bad = [n for n in names if n not in valid]
    if bad:
        raise ValueError(
            f"{option} names unknown hyperparameter(s) {bad} of {type(estimator).__name__}; "
            f"valid names: {', '.join(valid)}"
        )


def parse_params(specs: Sequence[str]) -> dict[str, Any]:
    """Parse repeated ``--param NAME=VALUE`` into a dict.

    Values are read like ``sweep --grid`` values (int, float, true/false, none,
    text); a comma list (``64,32``) or ``64x32`` becomes a tuple.

    Examples
    --------
    >>> parse_params(["max_epochs=5", "hidden_layer_sizes=64,32", "verbose=false"])
    {'max_epochs': 5, 'hidden_layer_sizes': (64, 32), 'verbose': False}
    """
    from coxmt.experiments import parse_param_grid

    out: dict[str, Any] = {}
    for spec in specs:
        name = str(spec).partition("=")[0].strip()
        if name in out:
            raise ValueError(f"--param {name} is given twice; give each hyperparameter once")
        try:
            values = parse_param_grid([spec])[name]
        except ValueError:
            raise ValueError(
                f"bad --param {spec!r}; write NAME=VALUE, e.g. --param max_epochs=50"
            ) from None
        out[name] = values[0] if len(values) == 1 else tuple(values)
    return out


def warn_skipped_columns(table: Any, features: str | None, reserved: Iterable[Any]) -> None:
    """Warn about non-numeric columns that automatic feature selection (no --features) skipped.

    Columns named like clinical or survival fields are skipped on purpose and not listed.
    """
    from coxmt.data._tables import _is_clinical_name

    if features is not None:
        return
    skip = {str(c) for c in reserved if c is not None}
    clin = getattr(table, "clinical", None)
    if clin is None:
        return
    dropped = [str(c) for c in clin.columns if str(c) not in skip and not _is_clinical_name(c)]
    if not dropped:
        return
    detail = []
    import pandas as pd

    for c in dropped[:5]:
        col = clin[c]
        text = col[col.notna() & pd.to_numeric(col, errors="coerce").isna()]
        if len(text) and len(text) < col.notna().sum():
            detail.append(f"{c} holds text such as {str(text.iloc[0])!r}")
    warnings.warn(
        f"{len(dropped)} non-numeric column(s) were left out of the features: "
        f"{', '.join(dropped[:20])}{' ...' if len(dropped) > 20 else ''}"
        + (f" ({'; '.join(detail)})" if detail else "")
        + "; fix their values or choose the feature columns with --features",
        UserWarning,
        stacklevel=2,
    )


def warn_unlabeled(
    X_unlabeled: Any,
    ids: Any,
    models: dict[str, Any],
    *,
    refuse: bool,
    semi_supervised: str = "coxmt",
) -> dict[str, Any]:
    """Check ``--unlabeled`` against the labeled table and the models.

    Warns when unlabeled rows carry IDs of labeled patients (``X_unlabeled`` is a
    table indexed by patient ID, or the IDs themselves). Models that do not use
    unlabeled patients are refused (``refuse=True``, one model) or named in a
    warning; ``semi_supervised`` names the model to choose instead. Returns the
    models that use them.
    """
    if X_unlabeled is None:
        return {}
    users = {k: m for k, m in models.items() if getattr(m, "_semi_supervised", False)}
    ignoring = [k for k in models if k not in users]
    if ignoring and (refuse or not users):
        raise ValueError(
            f"--unlabeled is used only by semi-supervised models ({semi_supervised}); "
            f"{', '.join(ignoring)} would ignore it: drop --unlabeled or choose --model "
            f"{semi_supervised}"
        )
    if ignoring:
        verb = "does" if len(ignoring) == 1 else "do"
        warnings.warn(
            f"{', '.join(ignoring)} {verb} not use --unlabeled; only {', '.join(users)} "
            "trained on the unlabeled patients",
            UserWarning,
            stacklevel=2,
        )
    # a table (DataFrame) is indexed by patient ID; otherwise the IDs themselves
    unlabeled_ids = X_unlabeled.index if hasattr(X_unlabeled, "iloc") else X_unlabeled
    labeled_ids = set() if ids is None else {str(i) for i in ids}
    both = [str(i) for i in unlabeled_ids if str(i) in labeled_ids]
    if both:
        warnings.warn(
            f"{len(both)} unlabeled row(s) have IDs of labeled patients in the training table "
            f"({', '.join(both[:5])}{' ...' if len(both) > 5 else ''}); a patient should be "
            "either labeled or unlabeled: remove them from the --unlabeled table",
            UserWarning,
            stacklevel=2,
        )
    return users


def parse_times(times: str | None) -> list[float] | None:
    """Parse ``--times 12,36,60``; negative times are refused, a decimal comma gets a hint.

    Examples
    --------
    >>> parse_times("12, 36,60")
    [12.0, 36.0, 60.0]
    >>> parse_times(None) is None
    True
    """
    if times is None:
        return None
    try:
        values = [float(t) for t in times.split(",") if t.strip()]
    except ValueError:
        hint = ""
        if re.search(r"\d,\d", times) and ";" not in times:
            hint = " (use a point as the decimal mark: 1.5, not 1,5)"
        raise ValueError(f"--times must be comma-separated numbers, got {times!r}{hint}") from None
    negative = [f"{t:g}" for t in values if t < 0]
    if negative:
        raise ValueError(
            f"--times must be >= 0 (time since the start of follow-up); got {', '.join(negative)}"
        )
    return values


def epochs_param(params: Iterable[str]) -> str | None:
    """The name under which ``--epochs`` is set: ``max_epochs``, or that of the network a
    wrapper holds (``estimator__max_epochs``, e.g. coxmt-cv); None when there is none."""
    keys = set(params)
    return next((k for k in ("max_epochs", "estimator__max_epochs") if k in keys), None)


def configure_estimator(
    estimator: Any,
    label: str,
    param: Sequence[str],
    epochs: int | None,
    seed: int | None,
    option: str = "--param",
) -> Any:
    """``estimator`` with the ``--param`` values (names checked), ``--epochs`` and ``--seed`` set."""
    user = parse_params(param)
    check_param_names(estimator, user, option)
    defaults: dict[str, Any] = {}
    names = estimator.get_params(deep=True)
    if seed is not None and "random_state" in names:
        defaults["random_state"] = seed
    if epochs is not None:
        key = epochs_param(names)
        if key is None:
            raise ValueError(f"--epochs does not apply to {label} (it has no training epochs)")
        if key in user and user[key] != epochs:
            raise ValueError(f"--epochs and --param {key} disagree; give one of them")
        defaults[key] = epochs
    try:
        return estimator.set_params(**{**defaults, **user})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"bad --param for {label}: {exc}") from None


def eval_grid_bounds(time: Any, event: Any) -> tuple[float, float]:
    """Time range of the IBS grid: the 10th to the 90th percentile of the event times."""
    import numpy as np

    t_ev = np.asarray(time)[np.asarray(event, dtype=bool)]
    lo = float(np.quantile(t_ev, 0.1))
    hi = float(min(np.quantile(t_ev, 0.9), np.asarray(time).max() * 0.999))
    if not hi > lo:
        raise ValueError("too few distinct event times to evaluate the integrated Brier score")
    return lo, hi


def survival_scores(
    table: Any, risk: Any, survival: Callable[[Any], Any]
) -> tuple[float, float, float]:
    """Harrell's C, Uno's C and the IBS of ``risk`` on a labeled table.

    ``survival(grid)`` gives the survival matrix (patients x grid). The IPCW
    metrics use the table's own censoring distribution; Uno's C is truncated at
    the 90th percentile of the event times (censoring weights vanish later).
    """
    import numpy as np

    from coxmt.metrics import concordance_index, concordance_index_ipcw, integrated_brier_score

    c = concordance_index(table.event, table.time, risk)
    lo, hi = eval_grid_bounds(table.time, table.event)
    uno = concordance_index_ipcw(table.y, table.y, risk, tau=hi)
    grid = np.linspace(lo, hi, 50)
    ibs = integrated_brier_score(table.y, table.y, survival(grid), grid)
    return float(c), float(uno), float(ibs)


def load_labeled(
    data: Path,
    time_col: str,
    event_col: str,
    event_means: str,
    features: str | list[str] | None,
    id_col: str | None,
    impute: str | None = None,
) -> Any:
    """Read the labeled table ``data`` with the CLI's column options."""
    from coxmt.data import load_survival_table

    return load_survival_table(
        data,
        time_col=time_col,
        event_col=event_col,
        event_means=event_means,  # type: ignore[arg-type]
        feature_cols=features,
        id_col=id_col,
        drop_empty=impute is not None,  # --impute has nothing to fill them from
    )


def print_scores(table: Any, risk: Any, survival: Callable[[Any], Any], patients: str) -> None:
    """Print :func:`survival_scores` of ``risk`` after ``patients`` (who was scored)."""
    c, uno, ibs = survival_scores(table, risk, survival)
    console.print(
        f"{patients}, {table.n_events} deaths: Harrell C {c:.4f}, Uno C {uno:.4f}, IBS {ibs:.4f}",
        highlight=False,
    )


def print_step_notes(steps: Iterable[tuple[str, Any]]) -> None:
    """Print the ``note_`` of fitted preprocessing steps (e.g. columns dropped) as note lines."""
    for _, step in steps:
        if getattr(step, "note_", ""):
            console.print(f"note: {step.note_}", highlight=False)


def print_model_choice(model: Any) -> None:
    """One line on what a model tuned by inner CV chose (``CoxMTCV``): the network setting
    or the fallback, with the mean inner C-indexes, so that users see when ridge Cox won."""
    res = getattr(model, "cv_results_", None)
    if res is None or "estimator" not in getattr(res, "columns", ()):
        return
    fell_back = bool(getattr(model, "chose_fallback_", False))
    networks = res.iloc[:-1] if getattr(model, "fallback", None) is not None else res
    best_net = float(networks["mean_c_index"].max())
    if fell_back:
        name = str(res["estimator"].iloc[-1])
        console.print(
            f"note: inner CV chose {name} over the networks (mean inner C-index "
            f"{model.best_score_:.3f} vs {best_net:.3f} for the best network setting)",
            highlight=False,
        )
        return
    setting = ", ".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in model.best_params_.items()
    )
    other = ""
    if len(networks) < len(res):
        other = f"; {res['estimator'].iloc[-1]} {float(res['mean_c_index'].iloc[-1]):.3f}"
    console.print(
        f"note: inner CV chose {networks['estimator'].iloc[0]} with {setting or 'its defaults'} "
        f"(mean inner C-index {model.best_score_:.3f}{other})",
        highlight=False,
    )


TRANSFORM_HELP = (
    "Expression transform, fitted on the training data: 'auto' picks log2(x + 1) for counts/TPM, "
    "arcsinh for heavy-tailed normalised values (z-scores), nothing for log-scale data; or "
    "'log2', 'arcsinh', 'none'."
)
CLIP_HELP = "Clip the standardised features to +-CLIP (0: no clipping)."


def build_preprocessing(
    top_genes: int | None,
    log2: bool,
    scale: bool,
    impute: str | None,
    transform: str = "auto",
    clip: float = 5.0,
) -> Any:
    """The preprocessing pipeline the options describe (checked, with the option names)."""
    from coxmt.preprocessing import TRANSFORMS, make_rnaseq_preprocessor

    if top_genes is not None and top_genes < 1:
        raise ValueError(f"--top-genes must be >= 1, got {top_genes}")
    if impute is not None and impute not in ("median", "mean"):
        raise ValueError(f"--impute must be 'median' or 'mean', got {impute!r}")
    if transform not in TRANSFORMS:
        raise ValueError(f"--transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
    if log2 and transform not in ("auto", "log2"):
        raise ValueError(f"--log2 and --transform {transform} disagree; give --transform only")
    if clip < 0:
        raise ValueError(f"--clip must be > 0 (or 0: no clipping), got {clip:g}")
    return make_rnaseq_preprocessor(
        k=top_genes,
        log=True if log2 else None,  # the "log2" step of models saved before --transform
        scale=scale,
        impute=impute,
        transform="auto" if log2 else transform,
        clip=clip or None,
    )


def print_transform(pre: Any, X: Any) -> None:
    """Print the transform ``auto`` picks on this table (chosen again in every training fold)."""
    from sklearn.base import clone

    from coxmt.preprocessing import ExpressionTransform

    step = dict(pre.steps).get("transform")
    if isinstance(step, ExpressionTransform) and step.method == "auto":
        note = clone(step).set_params(verbose=False).fit(X).note_
        console.print(f"note: {note} (chosen inside each training fold)", highlight=False)
