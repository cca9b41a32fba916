"""Cross-validation experiments: identical repeated stratified splits, resumable runs, statistics.

- :func:`cross_validate`: every model on the same repeated stratified K-fold splits,
  per-fold preprocessing, Harrell's C / Uno's C / IBS, a resumable results folder,
  local process pools or Ray.
- :func:`make_splits`, :func:`load_splits`, :func:`save_splits`: splits, including
  MCAT/PORPOISE ``splits_<k>.csv`` files.
- :func:`summarize`, :func:`paired_comparison`, :func:`corrected_resampled_ttest`:
  mean +/- sd with t-intervals, Wilcoxon and Nadeau-Bengio corrected t-tests.
- :func:`get_model`: short model names (``"coxmt"``, ``"coxnnet"``, ...) -> estimators.
"""

from __future__ import annotations

from coxmt.experiments._evaluate import ibs_times
from coxmt.experiments._models import (
    MODEL_NAMES,
    display_name,
    get_model,
    grid_models,
    parse_param_grid,
)
from coxmt.experiments._runner import cross_validate
from coxmt.experiments._splits import (
    Split,
    derive_seed,
    load_splits,
    make_splits,
    save_splits,
    splits_to_frame,
)
from coxmt.experiments._stats import corrected_resampled_ttest, paired_comparison, summarize
from coxmt.experiments._store import load_results

__all__ = [
    "MODEL_NAMES",
    "Split",
    "corrected_resampled_ttest",
    "cross_validate",
    "derive_seed",
    "display_name",
    "get_model",
    "grid_models",
    "ibs_times",
    "load_results",
    "load_splits",
    "make_splits",
    "paired_comparison",
    "parse_param_grid",
    "save_splits",
    "splits_to_frame",
    "summarize",
]
