"""Kaplan-Meier curves of predicted risk groups (median split within each test fold)."""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from coxmt.reporting._common import p_equals
from coxmt.reporting._common import require_columns as _require
from coxmt.reporting._style import HIGH_RISK, LOW_RISK, new_figure, save_png, style

__all__ = ["logrank_risk_groups", "median_risk_groups", "plot_km_risk_groups"]

Repeat = int | Literal["all"] | None
_GROUP_COLUMNS = ("cohort", "experiment", "setting")


def _select_repeat(pred: pd.DataFrame, repeat: Repeat) -> pd.DataFrame:
    if isinstance(repeat, str):
        if repeat != "all":
            raise ValueError(f"repeat must be an int, 'all' or None, got {repeat!r}")
        return pred
    if repeat is None:
        if pred.empty:
            return pred
        repeat = int(pred["repeat"].min())
    out = pred[pred["repeat"] == repeat]
    if out.empty:
        raise ValueError(
            f"predictions hold no rows for repeat {repeat} (repeats: "
            f"{sorted(pd.unique(pred['repeat']).tolist())}); pass one of them"
        )
    return out


def median_risk_groups(predictions: pd.DataFrame, *, repeat: Repeat = None) -> pd.DataFrame:
    """Split test patients into high- and low-risk halves at the median risk of their fold.

    The split is made within each test fold (and model, and cohort/experiment/setting
    when those columns exist), so that every risk group is built from out-of-fold
    predictions of a model that never saw those patients. Patients above the fold
    median are "high" risk; those at or below it are "low" risk.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``predictions.csv`` of a results folder: ``model, repeat, fold, time, event, risk``.
    repeat : int, "all" or None, default None
        Repeat to use. None takes the first repeat, in which every patient is in a test
        fold exactly once; "all" pools the repeats (patients then appear several times,
        which makes a log-rank p-value too small).

    Returns
    -------
    pandas.DataFrame
        The selected rows with an added ``risk_group`` column ("low" / "high").

    Examples
    --------
    >>> import pandas as pd
    >>> pred = pd.DataFrame({"model": "A", "repeat": 0, "fold": [0, 0, 0, 0],
    ...                      "time": [1.0, 2, 3, 4], "event": [1, 1, 0, 1],
    ...                      "risk": [0.9, 0.1, 0.5, 0.2]})
    >>> median_risk_groups(pred)["risk_group"].tolist()
    ['high', 'low', 'high', 'low']
    """
    _require(predictions, ["repeat", "fold", "time", "event", "risk"], "predictions")
    pred = _select_repeat(predictions, repeat).copy()
    keys = [c for c in ("model", *_GROUP_COLUMNS, "repeat", "fold") if c in pred.columns]
    risk = pd.to_numeric(pred["risk"], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(risk.to_numpy(dtype=np.float64)))
    if bad.size:
        raise ValueError(
            f"predictions hold {bad.size} missing or non-finite risk value(s) at rows "
            f"{bad[:10].tolist()}; remove those rows or re-run the cross-validation"
        )
    median = risk.groupby([pred[k] for k in keys], sort=False, dropna=False).transform("median")
    pred["risk_group"] = np.where(risk > median, "high", "low")
    return pred


def logrank_risk_groups(predictions: pd.DataFrame, *, repeat: Repeat = None) -> float:
    """Log-rank p-value between the median-split risk groups of one model.

    Uses :func:`lifelines.statistics.logrank_test` on the groups of
    :func:`median_risk_groups`, pooled over test folds. NaN when a group is empty.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> risk = rng.normal(size=200)
    >>> pred = pd.DataFrame({"model": "A", "repeat": 0, "fold": np.arange(200) % 4,
    ...                      "time": rng.exponential(np.exp(-risk)), "event": 1, "risk": risk})
    >>> logrank_risk_groups(pred) < 0.001
    True
    """
    from lifelines.statistics import logrank_test

    _check_one_model(predictions)
    grouped = median_risk_groups(predictions, repeat=repeat)
    hi = grouped[grouped["risk_group"] == "high"]
    lo = grouped[grouped["risk_group"] == "low"]
    if hi.empty or lo.empty:
        return float("nan")
    res = logrank_test(
        hi["time"].to_numpy(dtype=np.float64),
        lo["time"].to_numpy(dtype=np.float64),
        event_observed_A=hi["event"].to_numpy(dtype=np.float64),
        event_observed_B=lo["event"].to_numpy(dtype=np.float64),
    )
    return float(res.p_value)


def _check_one_model(pred: pd.DataFrame) -> None:
    if "model" in pred.columns and pred["model"].nunique() > 1:
        raise ValueError(
            f"predictions hold several models {list(pd.unique(pred['model']))}; select one "
            "with the model= argument"
        )


def _at_risk(times: np.ndarray, ticks: np.ndarray) -> list[int]:
    return [int(np.sum(times >= t)) for t in ticks]


def plot_km_risk_groups(
    predictions: pd.DataFrame,
    model: str | None = None,
    *,
    repeat: Repeat = None,
    at_risk: bool = True,
    confidence_bands: bool = True,
    xlabel: str = "Time",
    title: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Kaplan-Meier curves of the predicted high- and low-risk groups, with log-rank p.

    Risk groups come from :func:`median_risk_groups` (median split within each test
    fold, pooled over the folds). Curves are Kaplan-Meier estimates
    (:class:`lifelines.KaplanMeierFitter`) with 95% pointwise bands and censoring
    ticks; the table below gives the numbers at risk.

    Parameters
    ----------
    predictions : pandas.DataFrame
        ``predictions.csv`` of a results folder.
    model : str, optional
        Model to plot; required when ``predictions`` hold several models.
    repeat : int, "all" or None, default None
        See :func:`median_risk_groups`.
    at_risk : bool, default True
        Draw the numbers-at-risk table.
    confidence_bands : bool, default True
    xlabel : str, default "Time"
    title : str, optional
        Defaults to the model name.
    path : path, optional
        Also save the figure as PNG there.

    Returns
    -------
    matplotlib.figure.Figure
        Kaplan-Meier curves of the high- and low-risk groups (and the numbers-at-risk table
        when ``at_risk``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> n = 120
    >>> risk = rng.normal(size=n)
    >>> time, event = rng.exponential(np.exp(-risk)), rng.random(n) < 0.7
    >>> pred = pd.DataFrame(dict(model="Cox-MT", repeat=0, fold=np.arange(n) % 3, time=time,
    ...                          event=event, risk=risk))
    >>> fig = plot_km_risk_groups(pred, "Cox-MT")
    >>> len(fig.axes)
    2
    """
    from lifelines import KaplanMeierFitter

    _require(predictions, ["repeat", "fold", "time", "event", "risk"], "predictions")
    pred = predictions
    if model is not None:
        if "model" not in pred.columns or not (pred["model"] == model).any():
            known = list(pd.unique(pred["model"])) if "model" in pred.columns else []
            raise ValueError(f"model {model!r} is not in the predictions (models: {known})")
        pred = pred[pred["model"] == model]
    _check_one_model(pred)
    grouped = median_risk_groups(pred, repeat=repeat)
    p_value = logrank_risk_groups(pred, repeat=repeat)
    if title is None:
        title = str(model) if model is not None else "Kaplan-Meier by predicted risk"
    times_all = grouped["time"].to_numpy(dtype=np.float64)
    t_max = float(times_all.max()) if times_all.size else 1.0
    ticks = np.asarray(MaxNLocator(nbins=6, min_n_ticks=3).tick_values(0.0, t_max))
    ticks = ticks[(ticks >= 0) & (ticks <= t_max * 1.0001)]

    with style():
        fig = new_figure(6.4, 5.0 if at_risk else 4.2)
        if at_risk:
            gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 1.0])
            ax = fig.add_subplot(gs[0])
            ax_tab: Axes | None = fig.add_subplot(gs[1], sharex=ax)
        else:
            ax, ax_tab = fig.add_subplot(), None
        rows: list[tuple[str, str, np.ndarray]] = []
        for key, label, color in (("low", "Low risk", LOW_RISK), ("high", "High risk", HIGH_RISK)):
            sub = grouped[grouped["risk_group"] == key]
            if sub.empty:
                continue
            t = sub["time"].to_numpy(dtype=np.float64)
            e = sub["event"].to_numpy(dtype=np.float64).astype(bool)
            kmf = KaplanMeierFitter().fit(t, e, label=label)
            sf = kmf.survival_function_.iloc[:, 0]
            legend = f"{label} (n = {t.size}, {int(e.sum())} events)"
            ax.step(sf.index.to_numpy(), sf.to_numpy(), where="post", color=color, label=legend)
            if confidence_bands:
                ci = kmf.confidence_interval_survival_function_
                ax.fill_between(
                    ci.index.to_numpy(),
                    ci.iloc[:, 0].to_numpy(),
                    ci.iloc[:, 1].to_numpy(),
                    step="post",
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                )
            cens = np.sort(t[~e])
            if cens.size:
                s_cens = kmf.survival_function_at_times(cens).to_numpy()
                ax.plot(
                    cens,
                    s_cens,
                    linestyle="none",
                    marker="|",
                    markersize=6,
                    markeredgewidth=1.0,
                    color=color,
                )
            rows.append((label, color, t))
        ax.set_xlim(0.0, t_max * 1.02)
        ax.set_ylim(0.0, 1.03)
        ax.set_xticks(ticks)
        ax.set_ylabel("Survival probability")
        ax.set_xlabel(xlabel)
        ax.set_title(title, loc="left")
        ax.legend(loc="upper right")
        ax.text(
            0.02,
            0.04,
            f"log-rank {p_equals(p_value)}",
            transform=ax.transAxes,
            fontsize=10,
            ha="left",
            va="bottom",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#BBBBBB"},
        )
        if ax_tab is not None:
            _draw_at_risk(ax_tab, rows, ticks)
            ax.tick_params(labelbottom=True)
    if path is not None:
        save_png(fig, path)
    return fig


def _draw_at_risk(ax: Axes, rows: list[tuple[str, str, np.ndarray]], ticks: np.ndarray) -> None:
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.invert_yaxis()
    ax.grid(False)
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="x", bottom=False, labelbottom=False)
    ax.tick_params(axis="y", left=False, pad=16)
    ax.set_yticks(range(len(rows)), [label for label, _, _ in rows])
    for tick_label, (_, color, _) in zip(ax.get_yticklabels(), rows, strict=True):
        tick_label.set_color(color)
    for i, (_, color, t) in enumerate(rows):
        for x, n in zip(ticks, _at_risk(t, ticks), strict=True):
            ax.text(x, i, str(n), ha="center", va="center", color=color, fontsize=9)
    ax.set_title("Number at risk", loc="left", fontsize=9, fontweight="normal")
