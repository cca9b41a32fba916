"""Figures of a cross-validation run: Kaplan-Meier by risk group, metric box plots, curves.

Every function takes the tidy tables of a results directory (``results.csv``,
``predictions.csv``; see :func:`coxmt.experiments.cross_validate`), returns a
:class:`matplotlib.figure.Figure` and, given ``path``, also saves it as PNG
(atomically). Figures are drawn on matplotlib's headless Agg canvas without
:mod:`matplotlib.pyplot`, with the colour-blind safe Okabe-Ito palette.
"""

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from coxmt.reporting._common import format_p, p_equals
from coxmt.reporting._common import require_columns as _require
from coxmt.reporting._km import logrank_risk_groups, median_risk_groups, plot_km_risk_groups
from coxmt.reporting._style import METRIC_LABELS, colors_for, new_figure, save_png, style

__all__ = [
    "format_p",
    "logrank_risk_groups",
    "median_risk_groups",
    "p_equals",
    "plot_cindex_boxplot",
    "plot_km_risk_groups",
    "plot_scaling_curves",
]


def _order(values: pd.Series, order: Sequence[Any] | None) -> list[Any]:
    present = list(pd.unique(values))
    if order is None:
        return present
    return [v for v in order if v in set(present)] + [v for v in present if v not in set(order)]


def plot_cindex_boxplot(
    results: pd.DataFrame,
    metric: str = "c_index",
    *,
    group: str | None = None,
    order: Sequence[str] | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Box plot of a metric per model over the cross-validation folds, points overlaid.

    Parameters
    ----------
    results : pandas.DataFrame
        ``results.csv`` of a results folder (one row per model x repeat x fold).
    metric : str, default "c_index"
        Column to plot (``c_index``, ``uno_c``, ``ibs`` or any numeric column).
    group : str, optional
        Column (e.g. ``cohort`` or ``experiment``) whose values form groups of boxes,
        one box per model within each group.
    order : list of str, optional
        Model order (defaults to order of appearance).
    title : str, optional
        Defaults to the metric's name.
    path : path, optional
        Also save the figure as PNG there.

    Returns
    -------
    matplotlib.figure.Figure
        One box of fold values per model (per group), the fold values drawn over it.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({"model": ["Cox-MT"] * 3 + ["Cox-nnet"] * 3, "repeat": 0,
    ...                     "fold": [0, 1, 2] * 2,
    ...                     "c_index": [0.71, 0.69, 0.74, 0.66, 0.68, 0.65]})
    >>> fig = plot_cindex_boxplot(res)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['Cox-MT', 'Cox-nnet']
    """
    _require(results, ["model", metric] + ([group] if group else []), "results")
    values = pd.to_numeric(results[metric], errors="coerce")
    data = results.assign(_value=values)[np.isfinite(values.to_numpy(dtype=np.float64))]
    models = _order(results["model"], order)
    colors = colors_for(models)
    groups = _order(results[group], None) if group else [None]
    n_m = len(models)
    width = 0.8 / n_m if group else 0.6
    rng = np.random.default_rng(0)
    label = METRIC_LABELS.get(metric, metric)
    with style():
        n_boxes = n_m * len(groups)
        fig = new_figure(min(11.0, max(4.8, 0.9 * n_boxes + 2.0)), 4.4)
        ax = fig.add_subplot()
        for gi, g in enumerate(groups):
            for mi, m in enumerate(models):
                sel = data["model"] == m
                if group:
                    sel &= data[group] == g
                v = data.loc[sel, "_value"].to_numpy(dtype=np.float64)
                x = gi + (mi - (n_m - 1) / 2) * width if group else float(mi)
                if v.size == 0:
                    continue
                bp = ax.boxplot(
                    [v],
                    positions=[x],
                    widths=width * 0.8,
                    patch_artist=True,
                    showfliers=False,
                    whis=1.5,
                )
                for box in bp["boxes"]:
                    box.set(facecolor=colors[m], alpha=0.35, edgecolor=colors[m], linewidth=1.2)
                for part in ("whiskers", "caps"):
                    for line in bp[part]:
                        line.set(color=colors[m], linewidth=1.2)
                for line in bp["medians"]:
                    line.set(color="#222222", linewidth=1.6)
                jitter = rng.uniform(-width * 0.22, width * 0.22, size=v.size)
                ax.scatter(
                    x + jitter,
                    v,
                    s=16,
                    color=colors[m],
                    edgecolor="white",
                    linewidth=0.5,
                    zorder=3,
                    alpha=0.9,
                )
        if group:
            ax.set_xticks(range(len(groups)), [str(g) for g in groups])
            ax.set_xlabel(group)
            handles = [
                Patch(facecolor=colors[m], edgecolor=colors[m], alpha=0.6, label=str(m))
                for m in models
            ]
            fig.legend(handles=handles, loc="outside upper right", ncols=min(4, n_m))
        else:
            ax.set_xticks(range(n_m), [str(m) for m in models])
            if max((len(str(m)) for m in models), default=0) * n_m > 60:
                ax.tick_params(axis="x", labelrotation=30)
                for t in ax.get_xticklabels():
                    t.set_horizontalalignment("right")
        if metric in ("c_index", "uno_c"):
            ax.axhline(0.5, color="#888888", linestyle=":", linewidth=1.0, zorder=1)
            ax.text(
                1.0,
                0.5,
                " random",
                transform=ax.get_yaxis_transform(),
                color="#888888",
                fontsize=8,
                va="center",
                ha="left",
            )
        ax.set_ylabel(label + (" (lower is better)" if metric == "ibs" else ""))
        ax.grid(axis="x", visible=False)
        ax.set_title(title or label, loc="left")
    if path is not None:
        save_png(fig, path)
    return fig


def _hue_labels(
    frame: pd.DataFrame, hue: str | Sequence[str] | None, exclude: Sequence[str]
) -> pd.Series:
    if hue is None:
        cols = ["model"] + [
            c
            for c in ("experiment", "cohort")
            if c in frame.columns and c not in exclude and frame[c].nunique(dropna=True) > 1
        ]
    else:
        cols = [hue] if isinstance(hue, str) else list(hue)
    _require(frame, cols, "results")
    labels = frame[cols[0]].astype(str)
    for c in cols[1:]:
        labels = labels + " · " + frame[c].astype(str)
    return labels


def _x_positions(
    results: pd.DataFrame, x: str, logx: bool | None
) -> tuple[pd.Series, list[float], list[str], bool]:
    """x values as floats, their sorted positions, tick labels and the final logx."""
    numeric = pd.to_numeric(results[x], errors="coerce")
    if bool(numeric.notna().all()):
        xs = numeric.astype(np.float64)
        positions = sorted(float(v) for v in pd.unique(xs))
        labels = [f"{v:g}" for v in positions]
        if logx is None:
            logx = positions[0] > 0 and positions[-1] / positions[0] >= 100
        if logx and positions[0] <= 0:
            raise ValueError(
                f"logx=True needs positive values in column {x!r}; got {positions[:10]}"
            )
        return xs, positions, labels, bool(logx)
    if logx:
        raise ValueError(
            f"logx=True needs numeric values in column {x!r}; got "
            f"{list(pd.unique(results[x]))[:10]}"
        )
    cats = list(pd.unique(results[x].astype(str)))
    xs = results[x].astype(str).map({c: float(i) for i, c in enumerate(cats)})
    return xs, [float(i) for i in range(len(cats))], cats, False


def plot_scaling_curves(
    results: pd.DataFrame,
    x: str = "setting",
    metric: str | Sequence[str] = "c_index",
    *,
    hue: str | Sequence[str] | None = None,
    facet: str | None = None,
    logx: bool | None = None,
    xlabel: str | None = None,
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Metric mean ± sd over folds against a setting (scaling / ablation curves).

    One line per model (and experiment), one panel per metric, and one row of
    panels per value of ``facet`` (e.g. ``cohort``). The band is mean ± sd over
    the folds x repeats at each setting.

    Parameters
    ----------
    results : pandas.DataFrame
        ``results.csv`` with a column ``x`` (e.g. ``setting``: number of labeled
        patients, consistency weight, ...).
    x : str, default "setting"
        Column on the x axis. Numeric values are placed on a numeric axis; other
        values are placed in order of appearance.
    metric : str or list of str, default "c_index"
        One panel per metric.
    hue : str or list of str, optional
        Column(s) that define the lines. Default: ``model``, combined with
        ``experiment`` / ``cohort`` when those hold several values (and are not
        the facet).
    facet : str, optional
        Column whose values get one row of panels each.
    logx : bool, optional
        Logarithmic x axis. Default: when all x values are positive and span at
        least two orders of magnitude.
    xlabel, title : str, optional
    path : path, optional
        Also save the figure as PNG there.

    Returns
    -------
    matplotlib.figure.Figure
        Mean ± sd over folds against the setting, one line (and band) per hue value.

    Examples
    --------
    >>> import pandas as pd
    >>> res = pd.DataFrame({"model": ["Cox-MT"] * 4, "repeat": 0, "fold": [0, 1] * 2,
    ...                     "setting": [10, 10, 1000, 1000], "c_index": [0.6, 0.62, 0.7, 0.71]})
    >>> fig = plot_scaling_curves(res)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    _require(results, [x, *metrics, *([facet] if facet else [])], "results")
    labels = _hue_labels(results, hue, [x, *([facet] if facet else [])])
    xs, positions, ticklabels, logx = _x_positions(results, x, logx)
    facets = list(pd.unique(results[facet])) if facet else [None]
    hues = list(pd.unique(labels))
    colors = colors_for(hues)
    markers = "osD^vP*X"
    with style():
        fig = new_figure(min(13.5, max(5.4, 4.3 * len(metrics))), 3.3 * len(facets) + 0.7)
        grid = fig.subplots(len(facets), len(metrics), squeeze=False, sharex=True)
        for row, fv in zip(grid, facets, strict=True):
            in_facet = (
                np.ones(len(results), dtype=bool)
                if facet is None
                else ((results[facet] == fv).to_numpy())
            )
            for ax, m in zip(row, metrics, strict=True):
                vals = pd.to_numeric(results[m], errors="coerce")
                frame = pd.DataFrame({"x": xs, "hue": labels, "v": vals})[in_facet]
                frame = frame.dropna(subset=["v"])
                for i, h in enumerate(hues):
                    st = frame[frame["hue"] == h].groupby("x")["v"].agg(["mean", "std"])
                    if st.empty:
                        continue
                    px = st.index.to_numpy(dtype=np.float64)
                    mu = st["mean"].to_numpy(dtype=np.float64)
                    sd = np.nan_to_num(st["std"].to_numpy(dtype=np.float64))
                    ax.plot(
                        px,
                        mu,
                        color=colors[h],
                        marker=markers[i % len(markers)],
                        markersize=5,
                        label=str(h),
                    )
                    ax.fill_between(px, mu - sd, mu + sd, color=colors[h], alpha=0.12, linewidth=0)
                if logx:
                    ax.set_xscale("log")
                    ax.minorticks_off()
                if len(positions) <= 12:
                    ax.set_xticks(positions, ticklabels)
                ax.set_ylabel(
                    METRIC_LABELS.get(m, m) + (" (lower is better)" if m == "ibs" else "")
                )
                if m in ("c_index", "uno_c"):
                    ax.axhline(0.5, color="#888888", linestyle=":", linewidth=1.0, zorder=1)
            if facet is not None:
                row[0].set_title(f"{fv}", loc="left")
        for ax in grid[-1]:
            ax.set_xlabel(xlabel or x)
        if title:
            fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
        seen: dict[str, Any] = {}
        for ax in grid.ravel():
            for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
                seen.setdefault(name, handle)
        if len(seen) > 1 or hue is not None:
            fig.legend(
                list(seen.values()), list(seen), loc="outside upper right", ncols=min(4, len(seen))
            )
    if path is not None:
        save_png(fig, path)
    return fig
