"""Survival tables: one row per patient, follow-up time, event indicator, features."""

from __future__ import annotations

import difflib
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from coxmt._validation import format_rows, make_target
from coxmt.data._readers import read_table

__all__ = ["SurvivalTable", "load_survival_table", "load_tcga"]

# Name tokens that mark a numeric column as clinical / bookkeeping rather than a
# molecular feature when ``feature_cols=None``. Matching is on whole tokens of the
# lower-cased name split at '_', '.', '-', ' ' (so 'ERBB2_rnaseq' is not 'er').
_CLINICAL_TOKENS = frozenset(
    {
        # demographics and clinical covariates
        "age", "sex", "gender", "female", "male", "race", "ethnicity", "bmi", "weight",
        "height", "stage", "grade", "size", "er", "pr", "her2", "tnm", "smoking", "year",
        "oncotree", "histology", "subtype", "site", "treatment", "therapy", "chemo",
        # survival bookkeeping
        "time", "event", "status", "censor", "censored", "censorship", "surv", "survival",
        "os", "dfs", "pfs", "dss", "rfs", "dmfs", "tdm", "vital", "dead", "death", "months",
        "days", "years", "followup", "follow",
        # identifiers and splits
        "id", "ids", "index", "patient", "sample", "case", "barcode", "fold", "split",
        "train", "test", "batch", "cohort", "slide", "slides", "unnamed",
    }
)  # fmt: skip
_TOKEN_SPLIT = re.compile(r"[_.\-\s:]+")
_REGEX_META = re.compile(r"[\\^$.|?*+()\[\]{}]")


@dataclass(eq=False, repr=False)
class SurvivalTable:
    """A loaded survival data set: features, survival target, IDs and clinical columns.

    Attributes
    ----------
    X : pandas.DataFrame of shape (n_patients, n_features)
        Feature matrix (float64) with the original column names; its index holds
        the patient IDs.
    y : numpy.ndarray
        Structured array ``[("event", bool), ("time", float64)]`` as made by
        :func:`coxmt.make_target`; usable by coxmt and scikit-survival.
    ids : pandas.Index
        Patient IDs (the ``id_col`` values, else the row positions).
    clinical : pandas.DataFrame
        All other columns (clinical covariates, text), indexed like ``X``.
    feature_names : list of str
        Names of the columns of ``X``.
    source : str
        Where the table came from (a path or a data set name).
    time_unit : str
        Unit of ``time`` when known (``"days"``, ``"months"``), else ``""``.
    """

    X: pd.DataFrame
    y: np.ndarray
    ids: pd.Index
    clinical: pd.DataFrame
    feature_names: list[str] = field(default_factory=list)
    source: str = ""
    time_unit: str = ""

    @property
    def event(self) -> np.ndarray:
        """Event indicator (True = death/event observed), shape (n_patients,)."""
        return np.asarray(self.y["event"])

    @property
    def time(self) -> np.ndarray:
        """Follow-up time, shape (n_patients,)."""
        return np.asarray(self.y["time"])

    @property
    def n_events(self) -> int:
        """Number of observed events."""
        return int(self.event.sum())

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return (
            f"SurvivalTable(n_patients={len(self)}, n_events={self.n_events}, "
            f"n_features={self.X.shape[1]}, n_clinical={self.clinical.shape[1]}{src})"
        )


def _is_clinical_name(name: Any) -> bool:
    tokens = [t for t in _TOKEN_SPLIT.split(str(name).lower()) if t]
    return any(t in _CLINICAL_TOKENS for t in tokens)


def missing_features_error(what: str, missing: Sequence[str], fix: str) -> ValueError:
    """The error for ``what`` lacking features a model was fitted on (the first 20 named).

    Examples
    --------
    >>> missing_features_error("X", ["TP53", "MYC"], "Provide these columns.")
    ValueError('X is missing 2 feature(s) the model was fitted on: TP53, MYC. Provide these columns.')
    """
    shown = ", ".join(missing[:20])
    more = f" ... ({len(missing)} in all)" if len(missing) > 20 else ""
    return ValueError(
        f"{what} is missing {len(missing)} feature(s) the model was fitted on: {shown}{more}. {fix}"
    )


def _missing_column_error(what: str, name: Any, columns: Sequence[Any], arg: str) -> ValueError:
    cols = [str(c) for c in columns]
    lower = {c.lower(): c for c in cols}
    key = str(name).lower()
    # columns containing the requested name first ('months' -> 'time_months'), then
    # spelling neighbours ('evnt' -> 'event')
    sub = [c for c in cols if key in c.lower() or c.lower() in key]
    close = [lower[c] for c in difflib.get_close_matches(key, list(lower), n=3, cutoff=0.6)]
    suggestions = list(dict.fromkeys(sub + close))
    if arg != "feature_cols" and any(_is_clinical_name(c) for c in suggestions):
        # a time/event/id column: skip look-alike gene names when a clinical name matches
        suggestions = [c for c in suggestions if _is_clinical_name(c)]
    suggestions = suggestions[:3]
    hint = (
        f" Did you mean {' or '.join(repr(s) for s in suggestions)}? Pass {arg}={suggestions[0]!r}."
        if suggestions
        else f" Pass {arg}= with one of the existing columns."
    )
    # show clinical/survival-looking columns first: they are the likely candidates
    shown = sorted(cols, key=lambda c: not _is_clinical_name(c))[:20]
    more = f" ... ({len(cols)} columns in all)" if len(cols) > len(shown) else ""
    return ValueError(
        f"{what} column {name!r} not found; the table has columns {shown}{more}.{hint}"
    )


def _select_features(
    frame: pd.DataFrame,
    feature_cols: str | Sequence[str] | None,
    reserved: set[Any],
    matrix_cols: list[str] | None,
) -> list[Any]:
    """Resolve ``feature_cols`` into a list of column names of ``frame``."""
    candidates = [c for c in frame.columns if c not in reserved]
    if feature_cols is None:
        pool = matrix_cols if matrix_cols is not None else candidates
        chosen = [
            c
            for c in pool
            if c not in reserved
            and pd.api.types.is_numeric_dtype(frame[c])
            and (matrix_cols is not None or not _is_clinical_name(c))
        ]
        if not chosen:
            raise ValueError(
                "no numeric feature columns found (columns named like clinical or survival "
                f"fields are skipped); the table has columns {[str(c) for c in candidates[:20]]}. "
                "Pass feature_cols= with a list of names, a regex such as r'_rnaseq$' or a suffix."
            )
        return chosen
    if isinstance(feature_cols, str):
        pool = matrix_cols if matrix_cols is not None else candidates
        if _REGEX_META.search(feature_cols):
            try:
                pattern = re.compile(feature_cols)
            except re.error as err:
                raise ValueError(
                    f"feature_cols={feature_cols!r} is not a valid regular expression ({err}); "
                    "escape special characters or pass a suffix such as '_rnaseq'"
                ) from None
            chosen = [c for c in pool if pattern.search(str(c))]
            kind = "regular expression"
        else:
            chosen = [c for c in pool if str(c).endswith(feature_cols)]
            kind = "suffix"
        if not chosen:
            raise ValueError(
                f"feature_cols={feature_cols!r} ({kind}) matches no column; the table has "
                f"columns {[str(c) for c in pool[:20]]}{' ...' if len(pool) > 20 else ''}. "
                "Pass a suffix (e.g. '_rnaseq'), a regex (e.g. r'^ENSG') or a list of names."
            )
    else:
        chosen = list(feature_cols)
        if not chosen:  # outcomes only, e.g. for slide-only models
            return []
        missing = [c for c in chosen if c not in frame.columns]
        if missing:
            raise _missing_column_error("feature", missing[0], frame.columns, "feature_cols")
        in_reserved = [c for c in chosen if c in reserved]
        if in_reserved:
            raise ValueError(
                f"feature_cols includes the time/event/id columns {in_reserved}; "
                "remove them from feature_cols"
            )
        dup = sorted({str(c) for c in chosen if chosen.count(c) > 1})
        if dup:
            raise ValueError(f"feature_cols lists columns more than once: {dup}; list each once")
    non_num = [c for c in chosen if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_num:
        col = frame[non_num[0]]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        text = col.notna() & pd.to_numeric(col, errors="coerce").isna()
        bad = np.flatnonzero(text.to_numpy())
        example = col.iloc[bad[:3]].tolist() if bad.size else col.dropna().iloc[:1].tolist()
        raise ValueError(
            f"feature columns {[str(c) for c in non_num[:10]]} are not numeric "
            f"(e.g. {example!r} in {str(non_num[0])!r} at rows {format_rows(bad)}); fix those "
            "values, drop the columns from feature_cols or encode them as numbers"
        )
    return chosen


def _row_labels(idx: np.ndarray, ids: pd.Index | None) -> str:
    rows = format_rows(idx)
    if ids is None:
        return f"rows {rows}"
    shown = [str(ids[i]) for i in idx[:10]]
    return f"rows {rows} (IDs {shown}{' ...' if len(idx) > 10 else ''})"


def _parse_event(values: pd.Series, name: str, ids: pd.Index | None) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    num = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero(~num.isin([0, 1]).to_numpy())
    if bad.size:
        examples = sorted({repr(v) for v in values.iloc[bad[:10]].tolist()})
        raise ValueError(
            f"event column {name!r} must hold 0/1 (or True/False); found {', '.join(examples)} "
            f"at {_row_labels(bad, ids)}. Recode it, e.g. 1 = death observed, 0 = censored."
        )
    return num.to_numpy(dtype=np.float64) == 1.0


def _check_event_rate(event: np.ndarray, event_col: Any, event_means: str) -> None:
    n = event.size
    if n < 20:
        return
    rate = float(event.mean())
    if rate > 0.9:
        if event_means == "event":
            fix = (
                f"if {event_col!r} marks censoring (1 = censored, as in CLAM/PORPOISE "
                "'censorship'), pass event_means='censored'"
            )
        else:
            fix = (
                f"with event_means='censored', {event_col!r} = 0 was read as a death; if the "
                "column is an event indicator (1 = death), pass event_means='event'"
            )
        warnings.warn(
            f"{rate:.0%} of the {n} patients have an observed event, which is implausible for "
            f"most cancer cohorts (usually 10-60%): {fix}.",
            UserWarning,
            stacklevel=3,
        )


def _check_feature_values(X: pd.DataFrame, ids: pd.Index | None) -> None:
    """Refuse feature columns without any value and infinite feature values."""
    empty = [str(c) for c in X.columns[X.isna().all(axis=0).to_numpy()]]
    if empty:
        raise ValueError(
            f"{len(empty)} feature column(s) have no value at all (missing for every "
            f"patient): {empty[:20]}{' ...' if len(empty) > 20 else ''}. Drop them "
            "(df.dropna(axis=1, how='all')) or leave them out of feature_cols"
        )
    values = X.to_numpy()
    inf = np.isinf(values)
    if inf.any():
        cols = [str(X.columns[j]) for j in np.flatnonzero(inf.any(axis=0))]
        raise ValueError(
            f"feature column(s) {cols[:10]}{' ...' if len(cols) > 10 else ''} hold infinite "
            f"values at {_row_labels(np.flatnonzero(inf.any(axis=1)), ids)}; replace them "
            "(e.g. with NaN, then impute) or drop those rows"
        )


def load_survival_table(
    path: str | os.PathLike[str],
    time_col: str = "time",
    event_col: str = "event",
    *,
    event_means: Literal["event", "censored"] = "event",
    feature_cols: str | Sequence[str] | None = None,
    id_col: str | None = None,
    sep: str | None = None,
    drop_empty: bool = False,
) -> SurvivalTable:
    """Load a survival table (one row per patient) from CSV, TSV, Parquet or h5ad.

    Parameters
    ----------
    path : str or path-like
        ``.csv``/``.tsv``/``.txt`` (optionally ``.gz``, ``.bz2``, ``.xz``, ``.zip``
        compressed), ``.parquet`` (needs ``pip install coxmt[parquet]``) or ``.h5ad``
        (needs ``pip install coxmt[h5ad]``; ``obs`` holds time/event/clinical columns,
        ``X`` the features, ``obs_names`` the IDs).
    time_col : str, default "time"
        Follow-up time column (time to death, or to last contact when censored).
    event_col : str, default "event"
        Event column, coded 0/1 or False/True.
    event_means : {"event", "censored"}, default "event"
        What a 1 in ``event_col`` means: ``"event"`` (death observed) or
        ``"censored"`` (e.g. CLAM/PORPOISE ``censorship``; it is flipped).
    feature_cols : None, str or list of str, default None
        ``None``: every numeric column except the time/event/id columns and columns
        named like clinical or bookkeeping fields (age, sex, stage, grade, ``*_id``,
        fold, ...; those go to ``clinical``). A list: exactly these columns (an empty
        list loads the outcomes without features, e.g. for slide-only models). A string
        with regex characters (e.g. ``r"_rnaseq$"``): columns it matches
        (``re.search``). Any other string: a suffix (``"_rnaseq"``).
    id_col : str, optional
        Patient ID column (must be unique); it becomes the index of ``X``.
    sep : str, optional
        Delimiter of text files; ``None`` detects it (tab for ``.tsv``).
    drop_empty : bool, default False
        Drop feature columns without any value (with a warning naming them) instead
        of refusing them, e.g. before imputation, which has nothing to fill them from.

    Returns
    -------
    SurvivalTable

    Raises
    ------
    ValueError
        Empty or corrupt file, wrong delimiter, missing columns, duplicate IDs,
        non-numeric time, events other than 0/1, rows with missing time/event,
        feature columns without any value, infinite feature values.
    FileNotFoundError
        When ``path`` does not exist.
    ImportError
        When the optional reader (pyarrow, anndata) is not installed.

    Warns
    -----
    UserWarning
        When more than 90% of (at least 20) patients have an event: the event
        convention is probably reversed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "cohort.csv").write_text(
    ...     "case_id,time,censorship,age,TP53_rnaseq,EGFR_rnaseq\\n"
    ...     "a,10.5,0,61,1.2,0.3\\nb,3.0,1,55,0.4,2.2\\nc,7.25,0,70,0.9,1.1\\n"
    ... )
    >>> t = load_survival_table(d / "cohort.csv", event_col="censorship",
    ...                         event_means="censored", id_col="case_id")
    >>> len(t), t.n_events, t.feature_names
    (3, 2, ['TP53_rnaseq', 'EGFR_rnaseq'])
    >>> t.event.tolist(), t.time.tolist(), list(t.clinical.columns)
    ([True, False, True], [10.5, 3.0, 7.25], ['age'])
    """
    if event_means not in ("event", "censored"):
        raise ValueError(
            f"event_means must be 'event' (1 = death observed) or 'censored' "
            f"(1 = censored), got {event_means!r}"
        )
    if event_means == "event" and "censor" in str(event_col).lower():
        raise ValueError(
            f"event column {event_col!r} looks like a censoring indicator (1 = censored), but "
            "event_means='event' reads 1 as a death. Pass event_means='censored' to flip it "
            "(or point event_col at an event column)."
        )
    frame, matrix_cols, resolved = read_table(path, sep=sep)
    if frame.shape[0] == 0:
        raise ValueError(
            f"{str(resolved)!r} has a header but no rows (columns {list(frame.columns)[:10]}); "
            "check the export"
        )
    if id_col is not None and id_col not in frame.columns and frame.index.name == id_col:
        frame = frame.reset_index()  # e.g. a Parquet file saved with the IDs as its index
    ids: pd.Index | None = None
    if matrix_cols is not None and id_col is None:
        ids = pd.Index(frame.index.astype(str), name="id")
    for what, name, arg in (("time", time_col, "time_col"), ("event", event_col, "event_col")):
        if name not in frame.columns:
            if frame.shape[1] == 1:
                raise ValueError(
                    f"{str(resolved)!r} was read as a single column named "
                    f"{str(frame.columns[0])[:80]!r}: its delimiter was not recognised (coxmt "
                    "detects comma, tab, semicolon, pipe and whitespace). Save the table as CSV "
                    "or TSV, or pass sep= with its delimiter"
                )
            raise _missing_column_error(what, name, frame.columns, arg)
    if id_col is not None:
        if id_col not in frame.columns:
            raise _missing_column_error("id", id_col, frame.columns, "id_col")
        id_values = frame[id_col]
        na = np.flatnonzero(id_values.isna().to_numpy())
        if na.size:
            raise ValueError(
                f"id column {id_col!r} is empty at rows {format_rows(na)}; fill in the IDs "
                "or drop those rows"
            )
        dup_mask = id_values.duplicated(keep=False).to_numpy()
        if dup_mask.any():
            dups = pd.unique(id_values[dup_mask])
            shown = [str(v) for v in dups[:10]]
            raise ValueError(
                f"id column {id_col!r} has {len(dups)} duplicated IDs {shown}"
                f"{' ...' if len(dups) > 10 else ''} at rows {format_rows(np.flatnonzero(dup_mask))}; "
                "survival tables need one row per patient: drop or merge the duplicates"
            )
        ids = pd.Index(id_values.to_numpy(), name=id_col)
    missing = np.flatnonzero((frame[time_col].isna() | frame[event_col].isna()).to_numpy())
    if missing.size:
        raise ValueError(
            f"{missing.size} rows have no {time_col!r} or {event_col!r} value: "
            f"{_row_labels(missing, ids)}. Drop them (df.dropna(subset=[{time_col!r}, "
            f"{event_col!r}])) or fill in their follow-up."
        )
    raw_time = frame[time_col]
    if isinstance(raw_time.dtype, pd.CategoricalDtype):
        raw_time = raw_time.astype(object)
    time = pd.to_numeric(raw_time, errors="coerce")
    bad = np.flatnonzero(time.isna().to_numpy())
    if bad.size:
        examples = sorted({repr(v) for v in frame[time_col].iloc[bad[:10]].tolist()})
        raise ValueError(
            f"time column {time_col!r} is not numeric: {', '.join(examples)} at "
            f"{_row_labels(bad, ids)}. Convert it to numbers (e.g. months or days) first."
        )
    event = _parse_event(frame[event_col], str(event_col), ids)
    if event_means == "censored":
        event = ~event
    _check_event_rate(event, event_col, event_means)
    y = make_target(event, time.to_numpy(dtype=np.float64))

    reserved: set[Any] = {time_col, event_col} | ({id_col} if id_col is not None else set())
    features = _select_features(frame, feature_cols, reserved, matrix_cols)
    index = ids if ids is not None else pd.RangeIndex(frame.shape[0])
    X = frame[features].astype(np.float64)
    X.index = index
    if drop_empty and X.isna().all(axis=0).any() and not X.isna().all(axis=None):
        empty = [str(c) for c in X.columns[X.isna().all(axis=0).to_numpy()]]
        warnings.warn(
            f"{len(empty)} feature column(s) without any value were dropped: {empty}",
            UserWarning,
            stacklevel=2,
        )
        X = X.drop(columns=empty)
        features = [c for c in features if str(c) not in set(empty)]
    _check_feature_values(X, ids)
    feat_set = set(features)
    clinical = frame[[c for c in frame.columns if c not in reserved and c not in feat_set]]
    if matrix_cols is not None:
        clinical = clinical[[c for c in clinical.columns if c not in set(matrix_cols)]]
    clinical = clinical.copy()
    clinical.index = index
    return SurvivalTable(
        X=X,
        y=y,
        ids=pd.Index(index),
        clinical=clinical,
        feature_names=[str(c) for c in features],
        source=str(resolved),
    )


_TCGA_MODALITIES = ("rnaseq", "cnv", "mut")


def _default_tcga_dir() -> Path:
    env = os.environ.get("COXMT_TCGA_DIR")
    if env:
        return Path(env).expanduser()
    return (Path.cwd() / ".." / "shared" / "data" / "tcga").resolve()


def load_tcga(
    cohort: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    modalities: Sequence[str] = ("rnaseq",),
) -> SurvivalTable:
    """Load a TCGA cohort table in the PORPOISE/SurvPath CSV layout.

    The file ``tcga_<cohort>.csv.gz`` holds ``case_id``, ``time_months``, ``event``
    (1 = death), clinical columns and ``<GENE>_rnaseq`` / ``_cnv`` / ``_mut`` features.

    Parameters
    ----------
    cohort : str
        Cohort name, e.g. ``"brca"``, ``"LUAD"`` or ``"tcga_ucec"``.
    data_dir : str or path-like, optional
        Folder holding the files. Default: the ``COXMT_TCGA_DIR`` environment
        variable, else ``../shared/data/tcga`` relative to the current folder.
    modalities : sequence of {"rnaseq", "cnv", "mut"}, default ("rnaseq",)
        Which feature families to keep (in this order of columns).

    Returns
    -------
    SurvivalTable
        Time in months; index = ``case_id``.

    Raises
    ------
    FileNotFoundError
        When the folder or the cohort file is absent.

    Examples
    --------
    >>> t = load_tcga("ucec")  # doctest: +SKIP
    >>> t.X.shape  # doctest: +SKIP
    (147, 1577)
    """
    bad = [m for m in modalities if m not in _TCGA_MODALITIES]
    if bad or not modalities:
        raise ValueError(
            f"modalities must be a non-empty subset of {list(_TCGA_MODALITIES)}, got "
            f"{list(modalities)}"
        )
    folder = Path(data_dir).expanduser() if data_dir is not None else _default_tcga_dir()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"TCGA data folder {str(folder)!r} does not exist; pass data_dir= or set the "
            "COXMT_TCGA_DIR environment variable to the folder holding tcga_<cohort>.csv.gz"
        )
    name = cohort.lower().strip()
    name = name[len("tcga_") :] if name.startswith("tcga_") else name
    path = folder / f"tcga_{name}.csv.gz"
    if not path.is_file():
        found = sorted(
            p.name.removeprefix("tcga_").split(".")[0] for p in folder.glob("tcga_*.csv*")
        )
        raise FileNotFoundError(
            f"no file for cohort {cohort!r} in {str(folder)!r} (looked for {path.name}); "
            f"cohorts there: {found or 'none'}"
        )
    pattern = r"_(" + "|".join(re.escape(m) for m in dict.fromkeys(modalities)) + r")$"
    table = load_survival_table(
        path, "time_months", "event", feature_cols=pattern, id_col="case_id", sep=","
    )
    order = {m: i for i, m in enumerate(dict.fromkeys(modalities))}
    cols = sorted(
        table.feature_names, key=lambda c: order[c.rsplit("_", 1)[1]]
    )  # stable: keeps file order within a modality
    if cols != table.feature_names:
        table.X = table.X[cols]
        table.feature_names = cols
    table.source = f"tcga_{name}"
    table.time_unit = "months"
    return table


def read_feature_table(
    path: Any,
    *,
    feature_names: Sequence[str] | None = None,
    feature_cols: Any = None,
    id_col: str | None = None,
    sep: str | None = None,
) -> pd.DataFrame:
    """Read the features of patients without outcome (e.g. an unlabeled cohort).

    Parameters
    ----------
    path : str or Path
        CSV/TSV/Parquet/h5ad table (compressed or not).
    feature_names : sequence of str, optional
        Columns to return, in this order (e.g. the labeled table's features);
        missing ones raise a ValueError listing them; others are ignored.
    feature_cols : list, regex or suffix, optional
        Selection used when ``feature_names`` is None (as in :func:`load_survival_table`).
    id_col : str, optional
        Column used as the index; duplicate IDs are refused.
    sep : str, optional
        Delimiter (sniffed when None).

    Returns
    -------
    pandas.DataFrame
        Numeric features, one row per patient.

    Examples
    --------
    >>> import pandas as pd, tempfile, os
    >>> d = tempfile.mkdtemp(); p = os.path.join(d, "u.csv")
    >>> pd.DataFrame({"id": ["a", "b"], "g1": [1.0, 2.0], "g2": [0.5, 0.1]}).to_csv(p, index=False)
    >>> read_feature_table(p, feature_names=["g2", "g1"], id_col="id").columns.tolist()
    ['g2', 'g1']
    """
    frame, matrix_cols, path = read_table(path, sep=sep)
    if len(frame) == 0:
        raise ValueError(f"{str(path)!r} has a header but no rows")
    if id_col is not None:
        if id_col not in frame.columns:
            raise _missing_column_error("id", id_col, list(frame.columns), "id_col")
        dup = frame[id_col][frame[id_col].duplicated()].astype(str).unique().tolist()
        if dup:
            raise ValueError(
                f"{str(path)!r} has duplicate IDs in {id_col!r}: {', '.join(dup[:10])}; "
                "each patient must appear once"
            )
        frame = frame.set_index(id_col)
    frame.columns = [str(c) for c in frame.columns]
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        missing = [n for n in names if n not in set(frame.columns)]
        if missing:
            raise ValueError(
                f"{str(path)!r} lacks {len(missing)} feature column(s) of the labeled data: "
                f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}; "
                "use the same gene names in both tables"
            )
        return frame.loc[:, names]
    return frame.loc[:, _select_features(frame, feature_cols, set(), matrix_cols)]
