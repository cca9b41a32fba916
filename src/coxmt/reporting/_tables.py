"""Reading a results folder and computing the report's summary tables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coxmt.experiments import paired_comparison, summarize

__all__ = [
    "GROUP_COLUMNS",
    "METRICS",
    "RunData",
    "group_columns",
    "load_run",
    "paired_table",
    "summary_table",
]

METRICS = ("c_index", "uno_c", "ibs")
GROUP_COLUMNS = ("cohort", "experiment", "setting")
_REQUIRED = ("model", "repeat", "fold")


@dataclass
class RunData:
    """The tables of one results folder."""

    path: Path
    results: pd.DataFrame
    predictions: pd.DataFrame | None
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        """Model names, in the run's order."""
        present = [str(m) for m in pd.unique(self.results["model"])]
        order = [str(m) for m in self.config.get("model_order", []) if str(m) in present]
        return order + [m for m in present if m not in order]

    @property
    def metrics(self) -> list[str]:
        """The standard metric columns present in results.csv."""
        return [m for m in METRICS if m in self.results.columns]


def _not_a_results_dir(path: Path, reason: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{str(path)!r} is not a cross-validation results folder ({reason}); create one with "
        "`coxmt cv --data TABLE --out FOLDER` (or coxmt.experiments.cross_validate("
        "..., results_dir=FOLDER))"
    )


def load_run(results_dir: str | os.PathLike[str]) -> RunData:
    """Read results.csv (required), predictions.csv and config.json (optional)."""
    path = Path(results_dir)
    if not path.is_dir():
        raise _not_a_results_dir(path, "no such folder" if not path.exists() else "not a folder")
    res_file = path / "results.csv"
    if not res_file.is_file():
        raise _not_a_results_dir(path, "results.csv is missing")
    results = pd.read_csv(res_file, float_precision="round_trip")
    missing = [c for c in _REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(
            f"{str(res_file)!r} lacks the columns {missing} (it has {list(results.columns)}); "
            "it was not written by `coxmt cv`: re-create the folder with `coxmt cv --out`"
        )
    if not any(m in results.columns for m in METRICS):
        raise ValueError(
            f"{str(res_file)!r} has none of the metric columns {list(METRICS)}; re-create it "
            "with `coxmt cv --out`"
        )
    if results.empty:
        raise ValueError(f"{str(res_file)!r} has no rows; the run produced no results")
    results["model"] = results["model"].astype(str)
    for text in ("notes", "chosen"):  # empty text reads back as NaN
        if text in results.columns:
            results[text] = results[text].fillna("").astype(str)
    notes: list[str] = []
    predictions = None
    pred_file = path / "predictions.csv"
    if pred_file.is_file():
        predictions = pd.read_csv(pred_file, float_precision="round_trip")
        need = ["model", "repeat", "fold", "time", "event", "risk"]
        lacking = [c for c in need if c not in predictions.columns]
        if lacking:
            notes.append(
                f"predictions.csv lacks the columns {lacking}: Kaplan-Meier plots omitted."
            )
            predictions = None
        else:
            predictions["model"] = predictions["model"].astype(str)
    else:
        notes.append("predictions.csv not found: Kaplan-Meier plots omitted.")
    config: dict[str, Any] = {}
    cfg_file = path / "config.json"
    if cfg_file.is_file():
        try:
            loaded = json.loads(cfg_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            notes.append(f"config.json could not be read ({exc}); configuration omitted.")
        else:
            if isinstance(loaded, dict):
                config = loaded
            else:
                notes.append("config.json does not hold a JSON object; configuration omitted.")
    else:
        notes.append("config.json not found: the configuration is inferred from results.csv.")
    return RunData(path, results, predictions, config, notes)


def group_columns(frame: pd.DataFrame) -> list[str]:
    """The optional grouping columns (cohort, experiment, setting) holding values."""
    return [c for c in GROUP_COLUMNS if c in frame.columns and frame[c].notna().any()]


def _groups(frame: pd.DataFrame, cols: list[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    if not cols:
        return [((), frame)]
    out = []
    for key, sub in frame.groupby(cols, sort=False, dropna=False):
        out.append((key if isinstance(key, tuple) else (key,), sub))
    if "setting" in cols:
        i = cols.index("setting")
        num = pd.to_numeric(pd.Series([k[i] for k, _ in out]), errors="coerce")
        if num.notna().all():
            order = np.argsort(num.to_numpy(), kind="stable")
            out = [out[j] for j in order]
    return out


def summary_table(run: RunData) -> pd.DataFrame:
    """Per (group, model): n folds and mean, sd, 95% CI of each metric.

    Returns the long table (``[group columns], model, metric, n, mean, sd, ci_low,
    ci_high``), computed by :func:`coxmt.experiments.summarize`.
    """
    cols = group_columns(run.results)
    order = {m: i for i, m in enumerate(run.models)}
    parts = []
    for key, sub in _groups(run.results, cols):
        table = summarize(sub, run.metrics, confidence=0.95)
        table = table.sort_values("model", key=lambda s: s.map(order), kind="stable")
        for i, c in enumerate(cols):
            table.insert(i, c, key[i])
        parts.append(table)
    return pd.concat(parts, ignore_index=True)


def paired_table(run: RunData, reference: str | None) -> tuple[pd.DataFrame | None, str | None]:
    """Paired comparisons of every model with ``reference`` on the same folds.

    Returns the table (or None) and, when no table is made, the reason.
    """
    if reference is None:
        return None, "no reference model was given"
    if reference not in run.models:
        return None, f"the reference model {reference!r} is not among the models"
    if len(run.models) < 2:
        return None, "only one model was evaluated"
    missing = [c for c in ("n_train", "n_test") if c not in run.results.columns]
    if missing:
        return None, f"results.csv lacks the columns {missing}"
    cols = group_columns(run.results)
    parts = []
    for key, sub in _groups(run.results, cols):
        if reference not in set(sub["model"]) or sub["model"].nunique() < 2:
            continue
        for m in run.metrics:
            table = paired_comparison(sub, reference=reference, metric=m)
            for i, c in enumerate(cols):
                table.insert(i, c, key[i])
            parts.append(table)
    if not parts:
        return None, f"no group holds {reference!r} together with another model"
    return pd.concat(parts, ignore_index=True), None
