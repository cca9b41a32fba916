"""Data for the experiments: TCGA cohorts, toy cohorts, other data sets.

Every loader returns a :class:`Cohort`: features (DataFrame indexed by patient ID),
the survival target, and the name of the preprocessing it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from coxmt._validation import make_target

__all__ = [
    "Cohort",
    "generality_dataset",
    "is_table_path",
    "load_cohort",
    "load_table_cohort",
    "toy_cohort",
]

REPO = Path(__file__).resolve().parents[3]
DEFAULT_TCGA_DIR = REPO.parent / "shared" / "data" / "tcga"


@dataclass
class Cohort:
    """One data set: ``X`` (DataFrame, index = patient IDs), ``y`` (event, time)."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    source: str
    time_unit: str = ""

    @property
    def event(self) -> np.ndarray:
        return np.asarray(self.y["event"], dtype=bool)

    @property
    def time(self) -> np.ndarray:
        return np.asarray(self.y["time"], dtype=np.float64)

    def subset(self, rows: np.ndarray) -> Cohort:
        """The patients at positions ``rows`` (same order)."""
        return Cohort(self.name, self.X.iloc[rows], self.y[rows], self.source, self.time_unit)


def tcga_dir() -> Path:
    """The TCGA folder: ``$COXMT_TCGA_DIR`` or ``../shared/data/tcga`` beside the repository."""
    env = os.environ.get("COXMT_TCGA_DIR")
    return Path(env).expanduser() if env else DEFAULT_TCGA_DIR


def toy_cohort(name: str = "toy", n: int = 120, p: int = 40, seed: int = 0) -> Cohort:
    """Synthetic stand-in for a TCGA cohort (``<GENE>_rnaseq`` columns, TCGA-like IDs).

    Risk depends on the first three genes; ~45% events; 6 tissue-source sites.

    Examples
    --------
    >>> c = toy_cohort(n=30, p=5)
    >>> c.X.shape, c.X.index[0][:7], int(c.event.sum()) > 0
    ((30, 5), 'TCGA-S0', True)
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    lin = X[:, : min(3, p)] @ np.array([0.8, -0.6, 0.4][: min(3, p)])
    t_event = rng.exponential(20.0 * np.exp(-lin))
    t_cens = rng.uniform(5.0, 60.0, size=n)
    event = t_event <= t_cens
    time = np.round(np.minimum(t_event, t_cens), 1) + 0.1
    tag = "".join(c for c in name.upper() if c.isalnum())[:4] or "X"
    ids = [f"TCGA-S{i % 6}-{tag}{i:04d}" for i in range(n)]
    cols = [f"G{j}_rnaseq" for j in range(p)]
    frame = pd.DataFrame(X, columns=cols, index=pd.Index(ids, name="case_id"))
    return Cohort(name, frame, make_target(event, time), f"toy:{name}", "months")


def load_cohort(name: str, *, toy: bool = False, data_dir: str | None = None) -> Cohort:
    """A TCGA cohort (``"brca"``, ``"luad"``, ``"lusc"``, ``"ucec"``) with its RNA-seq features.

    ``toy=True`` returns :func:`toy_cohort` instead (for smoke tests).
    """
    if toy:
        seed = sum(ord(c) for c in name)
        return toy_cohort(name, seed=seed)
    from coxmt.data import load_tcga

    folder = Path(data_dir) if data_dir else tcga_dir()
    table = load_tcga(name, folder)
    return Cohort(name, table.X, table.y, str(folder / f"tcga_{name}.csv.gz"), "months")


def generality_dataset(name: str) -> Cohort:
    """Non-medical survival data sets shipped with lifelines (no download).

    - ``"rossi"``: recidivism of 432 released prisoners (Rossi et al. 1980); time =
      weeks to re-arrest, event = arrest; 7 covariates.
    - ``"dd"``: duration of 1,808 political regimes (democracy/dictatorship data,
      Cheibub et al. 2010); time = years in power, event = the leader's spell ended;
      covariates: regime type, democracy, continent (one-hot) and start year.
    """
    from lifelines import datasets

    if name == "rossi":
        df = datasets.load_rossi()
        y = make_target(df["arrest"].to_numpy() == 1, df["week"].to_numpy(dtype=np.float64))
        X = df.drop(columns=["week", "arrest"]).astype(np.float64)
        unit = "weeks"
    elif name == "dd":
        df = datasets.load_dd()
        y = make_target(df["observed"].to_numpy() == 1, df["duration"].to_numpy(dtype=np.float64))
        cats = pd.get_dummies(
            df[["regime", "democracy", "un_continent_name"]], drop_first=True, dtype=np.float64
        )
        X = pd.concat([cats, df[["start_year"]].astype(np.float64)], axis=1)
        unit = "years"
    else:
        raise ValueError(f"unknown generality data set {name!r}; choose 'rossi' or 'dd'")
    X.index = pd.Index([f"{name}-{i}" for i in range(len(X))], name="id")
    X.columns = [str(c).replace(" ", "_") for c in X.columns]
    return Cohort(name, X, y, f"lifelines.datasets.load_{name}", unit)


def load_table_cohort(
    path: str,
    *,
    time_col: str = "time_months",
    event_col: str = "event",
    features: str = r"_rnaseq$",
    id_col: str | None = "case_id",
    event_means: str = "event",
) -> Cohort:
    """Any survival table (CSV/TSV/Parquet/h5ad) as a :class:`Cohort` (for ``--train/--test``)."""
    from coxmt.data import load_survival_table

    t = load_survival_table(
        path,
        time_col,
        event_col,
        event_means=event_means,  # type: ignore[arg-type]
        feature_cols=features,
        id_col=id_col,
    )
    name = Path(path).name.split(".")[0].removeprefix("tcga_")
    return Cohort(name, t.X, t.y, str(path), t.time_unit or "")


def is_table_path(name: str) -> bool:
    """Whether a cohort argument is a file path rather than a TCGA cohort name."""
    return (
        "/" in name
        or "\\" in name
        or name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".parquet", ".h5ad"))
    )
