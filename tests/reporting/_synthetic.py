"""A synthetic cross-validation results folder that follows the coxmt-cv schema exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from coxmt.metrics import concordance_index

MODELS = {
    "Cox-MT": ("coxmt.estimators.cox_mt.CoxMT", 1.0),
    "Cox-nnet": ("coxmt.estimators.cox_nnet.CoxNnet", 0.7),
    "CoxPH": ("coxmt.estimators.linear.CoxPH", 0.4),
}
N_PATIENTS = 90
N_SPLITS = 3
N_REPEATS = 2


def make_results_dir(
    path: Path,
    *,
    models: dict[str, tuple[str, float]] | None = None,
    settings: list[float] | None = None,
    cohorts: list[str] | None = None,
    predictions: bool = True,
    config: bool = True,
    seed: int = 0,
) -> Path:
    """Write config.json, splits.csv, results.csv, predictions.csv (+ parts/) to ``path``.

    Risk scores are ``strength * true_risk + noise`` per model, so the better models
    get higher c-indices; ``settings`` adds a ``setting`` column (one run per value,
    signal growing with the setting) and ``cohorts`` a ``cohort`` column.
    """
    models = MODELS if models is None else models
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    (path / "parts").mkdir(exist_ok=True)
    n = N_PATIENTS
    ids = np.array([f"TCGA-{i:04d}" for i in range(n)])
    true_risk = rng.normal(size=n)
    t_event = rng.exponential(np.exp(-true_risk)) * 30.0
    t_cens = rng.exponential(45.0, size=n)
    event = (t_event <= t_cens).astype(int)
    time = np.round(np.minimum(t_event, t_cens), 2) + 0.01
    res_rows, pred_rows, split_rows = [], [], []
    for repeat in range(N_REPEATS):
        folds = rng.permutation(n) % N_SPLITS
        for fold in range(N_SPLITS):
            test = np.flatnonzero(folds == fold)
            train = np.flatnonzero(folds != fold)
            split_rows += [(repeat, fold, r, ids[r], "train") for r in train]
            split_rows += [(repeat, fold, r, ids[r], "test") for r in test]
            for cohort in cohorts or [None]:
                for setting in settings or [None]:
                    scale = 1.0 if setting is None else float(np.log10(setting)) / 2
                    for name, (_, strength) in models.items():
                        risk = strength * scale * true_risk[test] + rng.normal(size=test.size)
                        c = concordance_index(event[test], time[test], risk)
                        row = {
                            "model": name,
                            "repeat": repeat,
                            "fold": fold,
                            "c_index": c,
                            "uno_c": c + rng.normal(0, 0.01),
                            "ibs": 0.22 - 0.05 * (c - 0.5),
                            "fit_seconds": 0.5,
                            "n_train": train.size,
                            "n_test": test.size,
                            "n_events_train": int(event[train].sum()),
                            "n_events_test": int(event[test].sum()),
                            "n_unlabeled": 0,
                            "notes": "",
                        }
                        extra = {}
                        if cohort is not None:
                            extra["cohort"] = cohort
                        if setting is not None:
                            extra["setting"] = setting
                        res_rows.append({**row, **extra})
                        for r, rk in zip(test, risk, strict=True):
                            pred_rows.append(
                                {
                                    "model": name,
                                    "repeat": repeat,
                                    "fold": fold,
                                    "row": int(r),
                                    "id": ids[r],
                                    "time": time[r],
                                    "event": int(event[r]),
                                    "risk": float(rk),
                                    **extra,
                                }
                            )
    results = pd.DataFrame(res_rows)
    results.to_csv(path / "results.csv", index=False)
    pd.DataFrame(split_rows, columns=["repeat", "fold", "row", "id", "set"]).to_csv(
        path / "splits.csv", index=False
    )
    if predictions:
        pd.DataFrame(pred_rows).to_csv(path / "predictions.csv", index=False)
    if config:
        cfg = {
            "format": "coxmt-cv",
            "format_version": 1,
            "config_hash": "0" * 64,
            "models": {
                name: {"class": cls, "params": {"max_epochs": 200, "dropout": 0.2}}
                for name, (cls, _) in models.items()
            },
            "preprocessing": None,
            "random_state": 7,
            "n_splits": N_SPLITS,
            "n_repeats": N_REPEATS,
            "evaluation": {"ibs_quantiles": [0.1, 0.9], "n_ibs_times": 50, "uno_tau_quantile": 0.9},
            "error_score": "raise",
            "model_order": list(models),
            "splits_source": "generated",
            "data": {
                "n_samples": n,
                "n_features": 1558,
                "n_events": int(event.sum()),
                "n_unlabeled": 0,
                "path": "/data/tcga_brca.csv.gz",
                "time_col": "OS_months",
            },
            "backend": "local",
            "n_jobs": 1,
            "coxmt_version": "0.1.0",
            "created": "2025-01-02T03:04:05+00:00",
            "machine": {"platform": "Linux", "python": "3.11.7", "cpu_count": 2},
        }
        (path / "config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    return path
