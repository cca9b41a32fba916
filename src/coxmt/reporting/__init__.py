"""Reports of cross-validation runs: figures and a self-contained HTML/Markdown page.

- :func:`build_report`: ``report.html`` (figures embedded, no JavaScript),
  ``report.md`` and ``figures/*.png`` from a results folder written by
  :func:`coxmt.experiments.cross_validate` / ``coxmt cv``.
- :mod:`coxmt.reporting.plots`: Kaplan-Meier curves of predicted risk groups,
  metric box plots per model, scaling/ablation curves (matplotlib, headless).
"""

from __future__ import annotations

from coxmt.reporting import plots
from coxmt.reporting._build import build_report
from coxmt.reporting._style import PALETTE
from coxmt.reporting.plots import (
    logrank_risk_groups,
    median_risk_groups,
    plot_cindex_boxplot,
    plot_km_risk_groups,
    plot_scaling_curves,
)

__all__ = [
    "PALETTE",
    "build_report",
    "logrank_risk_groups",
    "median_risk_groups",
    "plot_cindex_boxplot",
    "plot_km_risk_groups",
    "plot_scaling_curves",
    "plots",
]
