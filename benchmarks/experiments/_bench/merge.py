"""Merge the runs of a :class:`~_bench.kinds.View` into one results folder + report.

The merged folder follows the cross-validation results schema (``config.json``,
``results.csv``, ``predictions.csv``) with the extra columns ``cohort``,
``experiment`` and ``setting`` where they apply, so that
:func:`coxmt.reporting.build_report` summarises it per group. ``timing.json``
holds the wall time of every run that fed it.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from _bench.kinds import View
from coxmt.io import atomic_write_text

__all__ = ["merge_view", "run_wall_seconds"]

EXTRA_COLUMNS = ("cohort", "experiment", "setting")


def run_wall_seconds(run_dir: Path) -> float:
    """Total wall time of all invocations that computed in ``run_dir``."""
    f = run_dir / "timing.json"
    if not f.is_file():
        return float("nan")
    return float(sum(e.get("wall_seconds", 0.0) for e in json.loads(f.read_text())))


def cpu_name() -> str:
    """CPU model from /proc/cpuinfo (or the platform string)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _take(
    frame: pd.DataFrame,
    mapping: dict[str, tuple[str, dict[str, Any]]],
    fold_columns: dict[str, dict[tuple[int, int], dict[str, Any]]] | None = None,
) -> pd.DataFrame:
    parts = []
    for src, (label, cols) in mapping.items():
        sub = frame[frame["model"] == src].copy()
        if sub.empty:
            continue
        per_fold = (fold_columns or {}).get(src)
        if per_fold:
            keys = list(zip(sub["repeat"].astype(int), sub["fold"].astype(int), strict=True))
            for c in next(iter(per_fold.values())):
                sub[c] = [per_fold[k][c] for k in keys]
        sub["model"] = label
        for c, v in cols.items():
            sub[c] = v
        parts.append(sub)
    return pd.concat(parts, ignore_index=True) if parts else frame.iloc[:0]


def _order(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    extra = [c for c in EXTRA_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in extra and c not in first]
    return frame[[*extra, *[c for c in first if c in frame.columns], *rest]]


def merge_view(view: View, experiment: dict[str, Any], *, report: bool = True) -> Path:
    """Write ``results.csv``, ``predictions.csv``, ``config.json``, ``timing.json`` and the report."""
    results, predictions, configs, walls = [], [], {}, {}
    model_order: list[str] = []
    models_desc: dict[str, Any] = {}
    for entry in view.entries:
        res = pd.read_csv(entry.run_dir / "results.csv", float_precision="round_trip")
        pred_file = entry.run_dir / "predictions.csv"
        results.append(_take(res, entry.models, entry.fold_columns))
        if pred_file.is_file():
            predictions.append(
                _take(pd.read_csv(pred_file, float_precision="round_trip"), entry.models)
            )
        cfg = json.loads((entry.run_dir / "config.json").read_text())
        configs[str(entry.run_dir.name)] = cfg
        walls[str(entry.run_dir.name)] = run_wall_seconds(entry.run_dir)
        for src, (label, _) in entry.models.items():
            if label not in model_order:
                model_order.append(label)
            if src in cfg.get("models", {}) and label not in models_desc:
                models_desc[label] = cfg["models"][src]
    res = _order(pd.concat(results, ignore_index=True), ["model", "repeat", "fold"])
    for text in ("notes", "chosen"):  # "chosen": absent from runs written before it existed
        if text in res.columns:
            res[text] = res[text].fillna("").astype(str)
    pred = (
        _order(pd.concat(predictions, ignore_index=True), ["model", "repeat", "fold"])
        if predictions
        else None
    )
    first = next(iter(configs.values()))
    cohorts = [str(c) for c in pd.unique(res["cohort"])] if "cohort" in res.columns else []
    paths = sorted({str(c.get("data", {}).get("path", "")) for c in configs.values()})
    config = {
        "format": "coxmt-cv",
        "format_version": 1,
        "experiment": experiment["name"],
        "part": view.out_dir.name,
        "title": view.title,
        "description": experiment.get("description", ""),
        "model_order": model_order,
        "models": models_desc,
        "reference": view.reference,
        "setting_name": view.setting_name,
        "n_splits": int(res["fold"].nunique()),
        "n_repeats": int(res["repeat"].nunique()),
        "random_state": first.get("random_state"),
        "preprocessing": first.get("preprocessing"),
        "evaluation": first.get("evaluation"),
        "data": {
            "path": "; ".join(p for p in paths if p),
            "cohorts": cohorts,
            "time_col": first.get("data", {}).get("time_col"),
        },
        "info": view.info,
        "runs": {
            name: {
                "config_hash": c.get("config_hash"),
                "splits_source": c.get("splits_source"),
                "n_unlabeled": c.get("data", {}).get("n_unlabeled"),
                "wall_seconds": walls[name],
            }
            for name, c in configs.items()
        },
        "quick": bool(experiment.get("quick")),
        "regenerate": f"python benchmarks/experiments/run.py {experiment.get('config_path', '')}",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_name(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_count": first.get("machine", {}).get("cpu_count"),
        },
        "coxmt_version": first.get("coxmt_version"),
    }
    km = [m for m in (view.reference, *view.km_models) if m in model_order]
    config["km_models"] = list(dict.fromkeys(km))
    out = view.out_dir
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.csv", res.to_csv(index=False))
    atomic_write_text(out / "config.json", json.dumps(config, indent=2, default=str) + "\n")
    atomic_write_text(
        out / "timing.json",
        json.dumps(
            {
                "wall_seconds_total": round(sum(v for v in walls.values() if v == v), 1),
                "runs": walls,
            },
            indent=1,
        )
        + "\n",
    )
    if report and pred is not None:
        # Kaplan-Meier plots of a few models only (keeps the report small): the report
        # is built from their predictions, then the full table replaces them.
        atomic_write_text(
            out / "predictions.csv",
            pred[pred["model"].isin(config["km_models"])].to_csv(index=False),
        )
    if report:
        from coxmt.reporting import build_report

        build_report(out, title=view.title, reference=view.reference)
    if pred is not None:
        atomic_write_text(out / "predictions.csv", pred.to_csv(index=False))
    return out
